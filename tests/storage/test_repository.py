"""Storage v0: idempotent upserts keyed by canonical URL, scores replaced on change, queue order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from storage.db import make_engine, make_session_factory
from storage.errors import StorageError
from storage.models import Ad, AdEntity, CrawlRun, IndicatorHit, Score
from storage.repository import AdRecord, ScoreRecord, finish_run, queue, start_run, upsert_ads


@pytest.fixture()
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    yield make_session_factory(engine)
    engine.dispose()


def record(url: str, sha: str = "a" * 64, risk: float = 0.5, band: str = "medium", title: str = "Cook") -> AdRecord:
    text = f"{title}\n\nSend passport copy. Call (212) 555-0147."
    return AdRecord(
        canonical_url=url, url=url + "?utm_source=x", site="demo-jobs", ad_type="job", text=text,
        content_sha256=sha, fields={"title": title, "body": text.split("\n\n", 1)[1], "salary_min": 10.0},
        score=ScoreRecord(
            model_version="job-risk-0.1.0", risk=risk, band=band, categories=["document_request"],
            hits=[{"indicator_id": "job.docs.passport_copy", "category": "document_request",
                   "start": text.index("passport"), "end": text.index("passport") + 13, "text": "passport copy",
                   "weight": 0.7}],
            entities=[{"type": "phone", "value": "+12125550147", "start": text.index("("),
                       "end": text.index("(") + 14, "text": "(212) 555-0147"}],
        ),
    )


def test_second_upsert_of_same_ads_inserts_nothing(sessions):
    recs = [record(f"http://example.org/jobs/{i}") for i in range(5)]
    with sessions.begin() as s:
        first = upsert_ads(s, recs)
    with sessions.begin() as s:
        second = upsert_ads(s, recs)
    assert (first.inserted, first.updated, first.unchanged) == (5, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 5)
    with sessions() as s:
        assert s.scalar(select(func.count(Ad.id))) == 5
        assert s.scalar(select(func.count(Score.id))) == 5
        assert s.scalar(select(func.count(IndicatorHit.id))) == 5
        assert s.scalar(select(func.count(AdEntity.id))) == 5


def test_duplicate_url_within_one_batch_is_stored_once(sessions):
    with sessions.begin() as s:
        counts = upsert_ads(s, [record("http://example.org/a", title="Old"), record("http://example.org/a", sha="b" * 64, title="New")])
    assert counts.inserted == 1
    with sessions() as s:
        ads = s.scalars(select(Ad)).all()
        assert [a.title for a in ads] == ["New"]


def test_changed_ad_replaces_its_score_and_keeps_first_seen(sessions):
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with sessions.begin() as s:
        upsert_ads(s, [record("http://example.org/a", risk=0.4)], now=t0)
    with sessions.begin() as s:
        counts = upsert_ads(s, [record("http://example.org/a", sha="c" * 64, risk=0.9, band="high", title="Chef")],
                            now=t0 + timedelta(days=1))
    assert counts.updated == 1
    with sessions() as s:
        ad = s.scalars(select(Ad)).one()
        assert ad.title == "Chef"
        assert ad.first_seen.replace(tzinfo=UTC) == t0
        assert ad.last_seen.replace(tzinfo=UTC) == t0 + timedelta(days=1)
        scores = s.scalars(select(Score)).all()
        assert [(sc.risk, sc.band) for sc in scores] == [(0.9, "high")]
        assert s.scalar(select(func.count(IndicatorHit.id))) == 1
        hit = s.scalars(select(IndicatorHit)).one()
        assert ad.text[hit.start:hit.end] == "passport copy"


def test_queue_orders_by_risk_and_filters_flagged(sessions):
    with sessions.begin() as s:
        upsert_ads(s, [
            record("http://example.org/low", risk=0.1, band="low"),
            record("http://example.org/high", risk=0.8, band="high"),
            record("http://example.org/mid", risk=0.5, band="medium"),
        ])
    with sessions() as s:
        flagged = queue(s, top=10)
        everything = queue(s, top=10, min_risk=0)
        top1 = queue(s, top=1)
    assert [r.url for r in flagged] == ["http://example.org/high?utm_source=x", "http://example.org/mid?utm_source=x"]
    assert len(everything) == 3 and everything[-1].risk == pytest.approx(0.1)
    assert [r.band for r in top1] == ["high"]
    assert flagged[0].as_dict()["categories"] == ["document_request"]
    assert "phone" not in str(flagged[0].as_dict())


def test_crawl_run_lifecycle(sessions):
    with sessions.begin() as s:
        run_id = start_run(s, "demo-jobs").id
    with sessions.begin() as s:
        finish_run(s, run_id, "finished", {"item_scraped_count": 3})
    with sessions() as s:
        run = s.get(CrawlRun, run_id)
        assert (run.status, run.stats["item_scraped_count"]) == ("finished", 3)
        assert run.finished_at is not None
    with sessions.begin() as s, pytest.raises(KeyError):
        finish_run(s, 999, "finished", {})


def test_unusable_database_url_is_a_clear_error(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        make_engine(f"sqlite:///{tmp_path / 'missing-folder' / 'x.db'}")
    with pytest.raises(StorageError, match="cannot parse"):
        make_engine("not a url")
