"""Linking fixtures: the storage tests' backends (SQLite; PostgreSQL when ADWATCH_TEST_POSTGRES_URL
is set), a rolled-back Session per test, and helpers that store fictional ads (phones 555-01xx,
e-mails @example.org)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import AppSettings
from storage.models import Ad
from storage.repository import AdRecord, ScoreRecord, upsert_ads
from tests.storage.conftest import backend_url, engine, session  # noqa: F401 (fixtures)
from tests.webapp.conftest import api, app, as_role, db_url, seeded  # noqa: F401 (fixtures)

HMAC_KEY = "test-hmac-key"
DAY0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture()
def settings() -> AppSettings:
    """Default settings (movement: 3 cities within 30 days; template threshold 0.5)."""
    return AppSettings(hmac_key=HMAC_KEY)


def make_ad(n: int, text: str, *, contacts: list[tuple[str, str]] = (), city: str | None = None,  # type: ignore[assignment]
            day: int = 0, risk: float = 0.1, site: str = "demo-classifieds") -> AdRecord:
    """Ad ``n`` with ``text``, ``contacts`` as ``(type, value)`` entities, posted on DAY0 + ``day``."""
    ents: list[dict[str, Any]] = []
    for type_, value in contacts:
        body = f" Contact {value}."
        start = len(text) + 9
        text = text + body
        ents.append({"type": type_, "value": value, "start": start, "end": start + len(value), "text": value})
    band = "high" if risk >= 0.65 else "medium" if risk >= 0.35 else "low"
    score = ScoreRecord("rules-only", risk, band, "en", [], {"rule_risk": risk}, hits=[], entities=ents)
    posted = (DAY0 + timedelta(days=day)).date().isoformat()
    return AdRecord(canonical_url=f"http://demo.example.org/ad/{n}", url=f"http://demo.example.org/ad/{n}", site=site,
                    ad_type="escort", text=text, content_sha256=hashlib.sha256(text.encode()).hexdigest(), score=score,
                    fields={"title": text.split(".")[0], "location_raw": city, "posted_date": posted})


def store(db: Session, *records: AdRecord, day: int = 0) -> dict[int, int]:
    """Store ``records``; return ad number (from the URL) -> ad id."""
    upsert_ads(db, list(records), now=DAY0 + timedelta(days=day), hmac_key=HMAC_KEY)
    db.flush()
    urls = [r.canonical_url for r in records]
    return {int(u.rsplit("/", 1)[1]): i for u, i in db.execute(
        select(Ad.canonical_url, Ad.id).where(Ad.canonical_url.in_(urls))).tuples()}
