"""Engine and Session factories.

SQLite (the default) gets WAL journaling, a busy timeout and foreign keys; other backends get SQLAlchemy's
defaults. Build engines with :func:`make_engine`; nothing connects at import time.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import StorageError

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long (milliseconds) a SQLite writer waits for a lock held by another process."""


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an Engine for ``url`` and make sure the schema exists.

    Args:
        url: SQLAlchemy database URL, e.g. ``sqlite:///./adwatch.db`` or
            ``postgresql+psycopg://user@localhost/adwatch``.
        echo: log every SQL statement.

    Returns:
        A ready Engine whose tables exist.

    Raises:
        StorageError: the URL cannot be parsed, the SQLite folder does not exist, or the database
            cannot be reached.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise StorageError(f"cannot parse database URL {url!r}: {exc}") from exc
    connect_args: dict[str, object] = {}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            folder = Path(db).expanduser().resolve().parent
            if not folder.is_dir():
                raise StorageError(f"database folder {folder} does not exist (from ADWATCH_DATABASE_URL={url!r})")
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_MS / 1000
    engine = create_engine(url, echo=echo, connect_args=connect_args, future=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    from storage.models import Base

    try:
        Base.metadata.create_all(engine)
    except Exception as exc:
        raise StorageError(f"cannot open database {parsed.render_as_string(hide_password=True)}: {exc}") from exc
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a ``sessionmaker`` bound to ``engine`` (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
