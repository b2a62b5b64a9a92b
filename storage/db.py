"""Engine and Session factories, and schema migrations (Alembic).

SQLite (the default) gets WAL journaling, a busy timeout and foreign keys; PostgreSQL is reached
through psycopg 3 (``postgresql+psycopg://...``; a plain ``postgresql://`` URL is switched to
psycopg). Build engines with :func:`make_engine`, which brings the schema to the newest Alembic
revision; :func:`upgrade` does the same explicitly (``adwatch db upgrade``). Nothing connects at
import time.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import StorageError

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long (milliseconds) a SQLite writer waits for a lock held by another process."""

MIGRATION_LOCK_KEY = 0x616477  # "adw": PostgreSQL advisory lock held while migrating

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic script folder (``env.py``, ``versions/``)."""


def normalize_url(url: str) -> URL:
    """Parse ``url``; ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://`` (psycopg 3).

    Raises:
        StorageError: the URL cannot be parsed.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise StorageError(f"cannot parse database URL {url!r}: {exc}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def create_bare_engine(url: str, *, echo: bool = False) -> Engine:
    """An Engine for ``url`` with adwatch's connection settings, without touching the schema.

    Raises:
        StorageError: the URL cannot be parsed or the SQLite folder does not exist.
    """
    parsed = normalize_url(url)
    connect_args: dict[str, object] = {}
    kwargs: dict[str, object] = {}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            folder = Path(db).expanduser().resolve().parent
            if not folder.is_dir():
                raise StorageError(f"database folder {folder} does not exist (from ADWATCH_DATABASE_URL={url!r})")
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_MS / 1000
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, echo=echo, connect_args=connect_args, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(connection: Connection | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision, ``None`` for a database without adwatch tables."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Run the Alembic migrations on ``engine`` up to ``revision``.

    Returns:
        ``(revision before, revision after)``.

    Raises:
        StorageError: the database cannot be reached, or holds adwatch tables made before
            migrations existed (schema v0, ``create_all``), or a migration failed.
    """
    try:
        with _sqlite_file_lock(engine):
            return _upgrade(engine, revision)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"cannot migrate database {_safe(engine.url)}: {exc}") from exc


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (``<db>.migrate-lock``, flock)."""
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if not db or db == ":memory:":
        yield
        return
    with open(f"{db}.migrate-lock", "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _upgrade(engine: Engine, revision: str) -> tuple[str | None, str]:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # two processes starting at once (scheduler, crawls) migrate one after the other; the
            # schema is read only once the lock is held, so the second sees the first one's tables
            # together with their migration history
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None and "ad" in inspect(conn).get_table_names():
            raise StorageError(
                f"database {_safe(engine.url)} has adwatch tables but no migration history (made by the "
                "pre-release schema v0); move it aside and run the crawl again"
            )
        command.upgrade(_alembic_config(conn), revision)
    return before, current_revision(engine) or ""


def make_engine(url: str, *, echo: bool = False, migrate: bool = True) -> Engine:
    """Create an Engine for ``url`` and make sure the schema is at the newest migration.

    Args:
        url: SQLAlchemy database URL, e.g. ``sqlite:///./adwatch.db`` or
            ``postgresql+psycopg://user@localhost/adwatch``.
        echo: log every SQL statement.
        migrate: run pending migrations (``adwatch db upgrade``) when the database is behind.

    Returns:
        A ready Engine.

    Raises:
        StorageError: the URL cannot be parsed, the SQLite folder does not exist, the database
            cannot be reached, or it cannot be migrated.
    """
    engine = create_bare_engine(url, echo=echo)
    if not migrate:
        return engine
    try:
        current = current_revision(engine)
    except Exception as exc:
        engine.dispose()
        raise StorageError(f"cannot open database {_safe(engine.url)}: {exc}") from exc
    if current != head_revision():
        try:
            upgrade(engine)
        except StorageError:
            engine.dispose()
            raise
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
