"""Web-app fixtures: a migrated SQLite database seeded once per session with a handful of scored ads
and one user per role, copied to a fresh file for every test (so tests never see each other's
writes), and TestClients signed in as each role (session cookie) or holding each role's API token.

Fixture data is fictional: phones in 555-01xx, e-mails @example.org.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from storage.db import make_engine, make_session_factory
from storage.repository import AdRecord, ScoreRecord, upsert_ads
from webapp.app import create_app
from webapp.security import make_hasher
from webapp.settings import ROLES, WebSettings
from webapp.users import add_user, issue_token

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
PASSWORD = "correct horse battery staple"
HMAC_KEY = "test-hmac-key"
PHONE = "+12125550147"
PHONE_TEXT = "212-555-0147"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

ESCORT_A = f"Just turned 18, new in town\n\nSweet girl just turned 18. Incall only. Call {PHONE_TEXT} now."
ESCORT_B = f"Sexy new girl in Houston\n\nNew in town, incall only. Text {PHONE_TEXT}."
JOB_C = "Work abroad, housing provided\n\nPay a placement fee of $500 and we arrange travel and housing."
DATASET_TOKEN = "#EMAIL_" + "3f" * 32 + "#"  # EMSCAD's own hashed contact (unkeyed SHA-256)
JOB_LOW = f"Accountant\n\nWe are hiring an accountant with 3 years of experience. Apply: {DATASET_TOKEN}"


def _hit(text: str, phrase: str, indicator_id: str, category: str, weight: float, nth: int = 0) -> dict:
    start = -1
    for _ in range(nth + 1):
        start = text.index(phrase, start + 1)
    return {"indicator_id": indicator_id, "category": category, "start": start, "end": start + len(phrase),
            "text": phrase, "weight": weight}


def _phone(text: str) -> dict:
    start = text.index(PHONE_TEXT)
    return {"type": "phone", "value": PHONE, "start": start, "end": start + len(PHONE_TEXT), "text": PHONE_TEXT}


def _records() -> list[AdRecord]:
    a = ScoreRecord("rules-only", 0.8, "high", "en", ["youth", "restricted_movement", "new_in_town"],
                    {"rule_risk": 0.8, "categories": ["youth"]},
                    hits=[_hit(ESCORT_A, "just turned 18", "esc.youth.stated_age", "youth", 0.3),
                          _hit(ESCORT_A, "Incall only", "esc.restrict.incall_only", "restricted_movement", 0.45),
                          _hit(ESCORT_A, "new in town", "esc.move.new_in_town", "new_in_town", 0.2)],
                    entities=[_phone(ESCORT_A)])
    b = ScoreRecord("rules-only", 0.5, "medium", "en", ["restricted_movement", "new_in_town"], {"rule_risk": 0.5},
                    hits=[_hit(ESCORT_B, "incall only", "esc.restrict.incall_only", "restricted_movement", 0.45)],
                    entities=[_phone(ESCORT_B)])
    c = ScoreRecord("job-risk-0.2.0", 0.9, "high", "en", ["recruitment_fee", "work_abroad"],
                    {"model_probability": 0.6, "rule_risk": 0.7, "top_features": [["rules:recruitment_fee", 0.3]]},
                    hits=[_hit(JOB_C, "placement fee", "job.fee.placement", "recruitment_fee", 0.6)])
    low = ScoreRecord("job-risk-0.2.0", 0.05, "low", "en", [], {"model_probability": 0.05})
    mk = lambda i, site, kind, text, score, city: AdRecord(
        canonical_url=f"http://demo.example.org/{site}/{i}", url=f"http://demo.example.org/{site}/{i}", site=site,
        ad_type=kind, text=text, content_sha256=f"{i:064x}", score=score,
        fields={"title": text.split("\n", 1)[0], "location_raw": city, "fetched_at": NOW.isoformat()})
    return [mk(1, "demo-classifieds", "escort", ESCORT_A, a, "Dallas, TX"),
            mk(2, "other-classifieds", "escort", ESCORT_B, b, "Houston, TX"),
            mk(3, "demo-jobs", "job", JOB_C, c, "Chicago, IL"),
            mk(4, "demo-jobs", "job", JOB_LOW, low, "Boston, MA")]


@dataclass
class Seeded:
    """The template database: its file, ad ids by name and API tokens by role."""

    path: Path
    ads: dict[str, int]
    tokens: dict[str, str]


def fast_settings(url: str, **kw: object) -> WebSettings:
    """Settings for tests: a real secret and HMAC key, cheap argon2 parameters."""
    values: dict[str, object] = {"secret_key": SECRET, "hmac_key": HMAC_KEY, "database_url": url, "argon2_time_cost": 1,
                                 "argon2_memory_kib": 64, "argon2_parallelism": 1}
    values.update(kw)
    return WebSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """A migrated, seeded SQLite file (built once)."""
    path = tmp_path_factory.mktemp("webapp") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    sessions = make_session_factory(engine)
    hasher = make_hasher(1, 64, 1)
    tokens: dict[str, str] = {}
    with sessions() as s:
        upsert_ads(s, _records(), now=NOW, hmac_key=HMAC_KEY)
        for role in ROLES:
            user = add_user(s, hasher, role, role, PASSWORD, actor="test")
            tokens[role] = issue_token(s, user, actor="test")
        s.commit()
        from sqlalchemy import select

        from storage.models import Ad

        ids = dict(s.execute(select(Ad.canonical_url, Ad.id)).tuples().all())
    engine.dispose()
    ads = {"escort_a": ids["http://demo.example.org/demo-classifieds/1"],
           "escort_b": ids["http://demo.example.org/other-classifieds/2"],
           "job_c": ids["http://demo.example.org/demo-jobs/3"], "job_low": ids["http://demo.example.org/demo-jobs/4"]}
    return Seeded(path, ads, tokens)


@pytest.fixture()
def db_url(seeded: Seeded, tmp_path: Path) -> str:
    """A private copy of the seeded database for one test."""
    dst = tmp_path / "web.db"
    shutil.copy(seeded.path, dst)
    return f"sqlite:///{dst}"


@pytest.fixture()
def app(db_url: str):  # type: ignore[no-untyped-def]
    """The app on the test's database."""
    return create_app(fast_settings(db_url))


@pytest.fixture()
def anon(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A client that is not signed in."""
    with TestClient(app) as c:
        yield c


def csrf_of(html: str) -> str:
    """The CSRF token in a rendered form."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token in page"
    return m.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """Sign ``client`` in through the login form."""
    page = client.get("/login")
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text),
                                    "next": "/queue"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture()
def as_role(app) -> Iterator[Callable[[str], TestClient]]:  # type: ignore[no-untyped-def]
    """``as_role("analyst")``: a client signed in with that role's account (user name = role)."""
    clients: list[TestClient] = []

    def make(role: str) -> TestClient:
        c = TestClient(app)
        clients.append(c)
        return login(c, role)

    yield make
    for c in clients:
        c.close()


@pytest.fixture()
def api(app, seeded: Seeded) -> Iterator[Callable[[str | None], TestClient]]:  # type: ignore[no-untyped-def]
    """``api("researcher")``: a client sending that role's bearer token (None: no token)."""
    clients: list[TestClient] = []

    def make(role: str | None) -> TestClient:
        headers = {"Authorization": f"Bearer {seeded.tokens[role]}"} if role else {}
        c = TestClient(app, headers=headers)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def audit_rows(db_url: str, action: str) -> list[tuple[str, str | None, dict]]:
    """``(actor, target_id, details)`` of the audit events with ``action``."""
    from sqlalchemy import create_engine, select

    from storage.models import AuditEvent

    eng = create_engine(db_url)
    try:
        with eng.connect() as conn:
            return [tuple(r) for r in conn.execute(select(AuditEvent.actor, AuditEvent.target_id, AuditEvent.details)
                                                   .where(AuditEvent.action == action).order_by(AuditEvent.id))]
    finally:
        eng.dispose()


