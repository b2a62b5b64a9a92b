"""Export fixtures: a migrated SQLite database of fictional ads, users of every role and analysts'
decisions, built once per session and copied to a fresh file for every test.

Fixture data is fictional: phones in 555-01xx, e-mails @example.org, made-up names and handles.
Ads are stored through ``storage.repository.upsert_ads`` with entities found by the project's own
extractor (as the crawler stores them); decisions are made with ``webapp.services.decide``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from config.settings import AppSettings
from scoring.extract import default_extractor
from storage.db import make_engine, make_session_factory
from storage.models import Ad, AppUser
from storage.repository import AdRecord, ScoreRecord, upsert_ads
from webapp.security import make_hasher
from webapp.services import decide, undo_last
from webapp.users import add_user

HMAC_KEY = "test-export-hmac-key"
SECRET = "export-secret-0123456789-abcdefghijklmnopqrstuv"
OTHER_SECRET = "another-export-secret-9876543210-zyxwvutsrqponm"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

TEMPLATE = ("Sweet new girl in {city}\n\nNew in town for a few days only, sweet and discreet girl, incall only, "
            "no rush, clean and friendly place, come relax with me after a long day at work. "
            "Call {phone} for a good time. {extra}")

ADS: dict[str, dict[str, object]] = {
    # escort ads of one template; a and b share (415) 555-0132 and a Telegram handle: one network
    "esc_a": {"type": "escort", "site": "demo-classifieds", "day": 0,
              "text": TEMPLATE.format(city="Dallas", phone="212-555-0147",
                                      extra="Or text (415) 555-0132. Telegram: @jenny_x")},
    "esc_b": {"type": "escort", "site": "demo-classifieds", "day": 3,
              "text": TEMPLATE.format(city="Houston", phone="(415) 555-0132", extra="Telegram: @jenny_x")},
    "esc_c": {"type": "escort", "site": "other-classifieds", "day": 6,
              "text": TEMPLATE.format(city="Austin", phone="646-555-0199", extra="Ask for Cherry.")},
    "esc_url": {"type": "escort", "site": "other-classifieds", "day": 9,
                "text": "Pics and rates\n\nSee https://pics.example.org/u/velvet_rose77 and "
                        "wa.me/13125550111 or mail velvet.rose@example.org. Incall only."},
    "job_fee": {"type": "job", "site": "demo-jobs", "day": 1,
                "text": "Work abroad, housing provided\n\nPay a placement fee of $500 and we arrange travel. "
                        "Apply: recruiter.lee@example.org or WhatsApp +1 917 555 0123.",
                "contact_raw": "recruiter.lee@example.org\nWhatsApp +1 917 555 0123"},
    "job_id": {"type": "job", "site": "demo-jobs", "day": 12,
               # the extractor never reads a number after "Job ID"; the phone is stored plainly by esc_a
               "text": "Accountant wanted\n\nJob ID 212-555-0147. We are hiring an accountant with 3 years "
                       "of experience."},
    "job_name": {"type": "job", "site": "demo-jobs", "day": 15,
                 "text": "Front desk clerk\n\nFriendly hotel seeks a clerk; ask for Marisol Quintero-Vale at "
                         "the front desk. No fee.",
                 "contact_raw": "Ask for Marisol Quintero-Vale"},
    "job_plain": {"type": "job", "site": "demo-jobs", "day": 18,
                  "text": "Warehouse associate\n\nFull-time warehouse work, $18/hour, benefits from day one."},
    "esc_removed": {"type": "escort", "site": "demo-classifieds", "day": 20, "status": "removed",
                    "text": "Taken down\n\nCall 786-555-0177 anytime. Snapchat: @removed_rosa"},
}
# more ads so that splits have something to balance: small networks of job ads sharing a phone
for i in range(24):
    phone = f"(312) 555-01{10 + i // 3:02d}"
    ADS[f"job_{i:02d}"] = {"type": "job", "site": "demo-jobs" if i % 2 else "other-jobs", "day": 2 + i,
                           "text": f"Job {i}: {['Driver', 'Cook', 'Cleaner', 'Picker'][i % 4]} in "
                                   f"{['Denver', 'Tulsa', 'Omaha'][i % 3]}\n\nShift work number {i}, pay weekly. "
                                   f"Call {phone} to apply."}

PHRASES = {"new in town": ("esc.move.new_in_town", "new_in_town", 0.2),
           "incall only": ("esc.restrict.incall_only", "restricted_movement", 0.45),
           "placement fee": ("job.fee.placement", "recruitment_fee", 0.6),
           "Work abroad": ("job.abroad", "work_abroad", 0.3),
           "Call ": ("test.call_cue", "contact_cue", 0.1)}


def hits_for(text: str) -> list[dict[str, object]]:
    """Indicator hits for the PHRASES found (case-insensitive); ``Call `` reaches into the phone after
    it (``Call 212``) so that a hit overlapping a contact is exported too."""
    out = []
    for phrase, (ind, cat, w) in PHRASES.items():
        m = re.search(rf"(?i)\b{re.escape(phrase)}", text)
        if m:
            i = m.start()
            end = i + len(phrase) + (3 if phrase == "Call " else 0)
            out.append({"indicator_id": ind, "category": cat, "start": i, "end": end, "text": text[i:end], "weight": w})
    return out


def record(name: str, spec: dict[str, object] | None = None) -> AdRecord:
    """The AdRecord of fixture ad ``name`` (or of ``spec``, shaped like an :data:`ADS` entry): entities
    from the project's extractor, hits from PHRASES."""
    spec = spec if spec is not None else ADS[name]
    text = str(spec["text"])
    ents = [{"type": e.type, "value": e.value, "start": e.start, "end": e.end, "text": e.text}
            for e in default_extractor().extract(text) if e.type in ("phone", "email", "handle", "age")]
    hits = hits_for(text)
    risk = min(0.95, 0.2 + sum(float(h["weight"]) for h in hits))  # type: ignore[arg-type]
    band = "high" if risk >= 0.65 else "medium" if risk >= 0.35 else "low"
    score = ScoreRecord("rules-only" if spec["type"] == "escort" else "job-risk-0.2.0", risk, band, "en",
                        sorted({str(h["category"]) for h in hits}), {"rule_risk": risk}, hits=hits, entities=ents)
    fields = {"title": text.split("\n", 1)[0], "posted_date": (T0 + timedelta(days=int(spec["day"]))).date().isoformat()}  # type: ignore[call-overload]
    if "contact_raw" in spec:
        fields["contact_raw"] = str(spec["contact_raw"])
    url = f"http://demo.example.org/{spec['site']}/{name}"
    return AdRecord(canonical_url=url, url=url, site=str(spec["site"]), ad_type=str(spec["type"]), text=text,
                    content_sha256=hashlib.sha256(text.encode()).hexdigest(), fields=fields, score=score)


@dataclass
class Seeded:
    """The template database: its file and ad ids by fixture name."""

    path: Path
    ads: dict[str, int]


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """A migrated, seeded SQLite file (built once per session)."""
    path = tmp_path_factory.mktemp("export") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    sessions = make_session_factory(engine)
    hasher = make_hasher(1, 64, 1)
    with sessions() as s:
        for name, spec in ADS.items():
            upsert_ads(s, [record(name)], now=T0 + timedelta(days=int(spec["day"])), hmac_key=HMAC_KEY)  # type: ignore[call-overload]
        ids = {name: s.scalar(select(Ad.id).where(Ad.canonical_url == f"http://demo.example.org/{spec['site']}/{name}"))
               for name, spec in ADS.items()}
        s.execute(update(Ad).where(Ad.id == ids["esc_removed"]).values(status="removed"))
        users = {name: add_user(s, hasher, name, role, actor="test")
                 for name, role in (("rita", "researcher"), ("adam", "admin"), ("ana", "analyst"),
                                    ("bo", "analyst"), ("sam", "supervisor"), ("olga", "researcher"))}
        users["olga"].active = False
        # decisions: two agreeing reviewers; two disagreeing; one reviewer changing their mind;
        # an undone decision; needs_info
        decide(s, ids["esc_a"], users["ana"], "confirm", "indicators_confirmed")
        decide(s, ids["esc_a"], users["bo"], "escalate", "possible_minor")
        decide(s, ids["esc_b"], users["ana"], "confirm", "indicators_confirmed")
        decide(s, ids["esc_b"], users["bo"], "dismiss", "benign_context")
        decide(s, ids["job_fee"], users["sam"], "dismiss", "benign_context", "fee looked legal at first")
        decide(s, ids["job_fee"], users["sam"], "confirm", "indicators_confirmed", "call 917 555 0123 to verify")
        decide(s, ids["esc_c"], users["ana"], "confirm", "indicators_confirmed")
        undo_last(s, users["ana"])
        decide(s, ids["esc_url"], users["bo"], "needs_info", "insufficient_information")
        for i in range(0, 24, 4):
            decide(s, ids[f"job_{i:02d}"], users["ana"], "dismiss" if i % 8 else "confirm",
                   "benign_context" if i % 8 else "indicators_confirmed")
        s.commit()
    engine.dispose()
    return Seeded(path, ids)


@pytest.fixture()
def db_url(seeded: Seeded, tmp_path: Path) -> str:
    """A fresh copy of the seeded database for one test."""
    path = tmp_path / "adwatch.db"
    shutil.copy(seeded.path, path)
    return f"sqlite:///{path}"


@pytest.fixture()
def settings(db_url: str) -> AppSettings:
    """Settings for the test database, with a test HMAC key and export secret."""
    return AppSettings(database_url=db_url, hmac_key=HMAC_KEY, export_secret=SECRET)


@pytest.fixture()
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Session factory on the test's database copy."""
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture()
def user_ids(sessions: sessionmaker[Session]) -> dict[str, int]:
    """User ids by name."""
    with sessions() as s:
        return dict(s.execute(select(AppUser.username, AppUser.id)).tuples().all())
