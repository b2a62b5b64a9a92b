"""Alembic environment for adwatch (run by :func:`storage.db.upgrade`; no alembic.ini needed).

The caller passes an open Connection in ``config.attributes["connection"]``; with none, an engine
is built from the ``sqlalchemy.url`` option. SQLite uses batch mode (``render_as_batch``) so that
ALTER TABLE works the same on both backends.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    """Leave tables adwatch does not own (APScheduler's job store) out of autogenerate."""
    return not (type_ == "table" and reflected and compare_to is None and name == "apscheduler_jobs")


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection (or a new engine for ``sqlalchemy.url``)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():  # pragma: no cover - adwatch always migrates online
    raise SystemExit("adwatch migrations run online only (adwatch db upgrade)")
run_migrations_online()
