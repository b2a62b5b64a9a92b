"""Alembic migrations: the schema is built by migrations only, identically on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage.db import current_revision, head_revision, make_engine
from storage.errors import StorageError
from storage.models import Base

TABLES = {"site", "crawl_run", "ad", "ad_version", "score", "indicator_hit", "entity", "ad_entity",
          "app_user", "review_item", "decision", "audit_event", "alembic_version",
          "contact_network", "template_cluster", "ad_link"}


def test_migrated_schema_matches_the_models(engine):
    """``upgrade head`` builds exactly what the ORM models describe (no drift between them)."""
    assert set(inspect(engine).get_table_names()) == TABLES
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diffs == []


def test_make_engine_upgrades_a_new_sqlite_database_and_uses_wal(tmp_path):
    path = tmp_path / "new.db"
    engine = make_engine(f"sqlite:///{path}")
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    engine.dispose()
    again = make_engine(f"sqlite:///{path}")  # already at head: nothing to do
    assert current_revision(again) == head_revision()
    again.dispose()


def test_pre_migration_database_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "v0.db"
    con = sqlite3.connect(path)
    con.execute("create table ad (id integer primary key, canonical_url text)")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="no migration history"):
        make_engine(f"sqlite:///{path}")


def test_concurrent_upgrades_of_a_new_database_both_succeed(backend_url, tmp_path):
    """Scheduler and crawls may start together: two processes migrating one new database both succeed
    (a file lock serialises them on SQLite, an advisory lock on PostgreSQL)."""
    import subprocess
    import sys

    from sqlalchemy import text

    from storage.db import create_bare_engine

    if backend_url.startswith("sqlite"):
        url, admin = f"sqlite:///{tmp_path / 'c.db'}", None
    else:
        admin = create_bare_engine(backend_url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS adwatch_concurrent_migration"))
            conn.execute(text("CREATE DATABASE adwatch_concurrent_migration"))
        url = admin.url.set(database="adwatch_concurrent_migration").render_as_string(hide_password=False)
    code = "import sys; from storage.db import make_engine; make_engine(sys.argv[1]).dispose()"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE) for _ in range(3)]
    outs = [(p.wait(60), p.stderr.read().decode()) for p in procs]
    assert [rc for rc, _ in outs] == [0, 0, 0], [e[-1500:] for _, e in outs]
    check = create_bare_engine(url)
    assert current_revision(check) == head_revision()
    check.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE adwatch_concurrent_migration"))
        admin.dispose()
