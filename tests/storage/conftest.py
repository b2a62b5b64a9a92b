"""Storage fixtures: every storage test runs on SQLite and on PostgreSQL.

The PostgreSQL database comes from ``ADWATCH_TEST_POSTGRES_URL`` (``.ci/run`` starts a throw-away
server and sets it). Without it the PostgreSQL variants FAIL when ``CI`` is set (CI must test both
backends) and are skipped on a developer machine.

Each backend is migrated once per session (``upgrade head``); each test runs inside an outer
transaction and its Session commits to savepoints (``join_transaction_mode="create_savepoint"``),
so everything a test writes is rolled back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from storage.db import create_bare_engine, upgrade

POSTGRES_ENV = "ADWATCH_TEST_POSTGRES_URL"


def postgres_url_or_skip() -> str:
    """The test PostgreSQL URL; fails under CI and skips elsewhere when it is not configured."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{POSTGRES_ENV} is not set: CI must run the storage tests on PostgreSQL (see .ci/run)")
    pytest.skip(f"{POSTGRES_ENV} not set: PostgreSQL variant skipped outside CI")
    raise AssertionError("unreachable")


def fresh_postgres_engine(url: str) -> Engine:
    """An engine on an emptied ``public`` schema of the test database."""
    engine = create_bare_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    return engine


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend_url(request, tmp_path_factory) -> str:
    """A database URL per backend (the PostgreSQL one emptied first)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'storage.db'}"
    url = postgres_url_or_skip()
    fresh_postgres_engine(url).dispose()
    return url


@pytest.fixture(scope="session")
def engine(backend_url: str) -> Iterator[Engine]:
    """A migrated engine (``upgrade head`` once per backend)."""
    eng = create_bare_engine(backend_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture()
def session(engine: Engine) -> Iterator[Session]:
    """A Session whose work is rolled back after the test (commits go to savepoints)."""
    with engine.connect() as conn:
        outer = conn.begin()
        s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield s
        finally:
            s.close()
            outer.rollback()


@pytest.fixture()
def sessions(session: Session) -> sessionmaker[Session]:
    """A sessionmaker-like factory whose sessions all join the test's rolled-back transaction."""
    return sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
