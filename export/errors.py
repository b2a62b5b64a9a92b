"""The errors the export package raises (one place, messages that name the input)."""

from __future__ import annotations


class ExportError(RuntimeError):
    """An export cannot be made: bad options, a missing secret or library, an output folder in the way,
    or text that could not be de-identified. The message names the option, file or ad."""


class ExportRefused(ExportError):
    """The operator may not export: unknown or inactive account, or a role other than researcher or admin.

    Attributes:
        username: the account that was named with ``--as``.
        role: its role, or ``None`` when no such account exists.
    """

    def __init__(self, message: str, username: str, role: str | None) -> None:
        super().__init__(message)
        self.username = username
        self.role = role
