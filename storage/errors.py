"""The one error type storage raises."""


class StorageError(RuntimeError):
    """A database could not be opened or written; the message names the database or the record."""
