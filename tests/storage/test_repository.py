"""Repository behaviour on SQLite and PostgreSQL: idempotent upserts, versions, entities, expiry, purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from storage.db import make_engine
from storage.errors import StorageError
from storage.models import (
    Ad,
    AdEntity,
    AdVersion,
    AuditEvent,
    CrawlRun,
    Entity,
    IndicatorHit,
    Score,
)
from storage.repository import (
    AdRecord,
    ScoreRecord,
    add_scores,
    ads_missing_score,
    entity_hmac,
    finish_run,
    list_runs,
    mark_dead_runs,
    mark_expired,
    mask_value,
    purge_raw,
    queue,
    start_run,
    touch_ads,
    upsert_ads,
    urls_done_by_runs,
    validators_for,
)

KEY = "test-hmac-key"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def utc(dt: datetime) -> datetime:
    """SQLite returns naive datetimes (stored as UTC), PostgreSQL aware ones."""
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def record(url: str, sha: str = "a" * 64, risk: float = 0.5, band: str = "medium", title: str = "Cook",
           phone: str = "+12125550147", etag: str | None = None) -> AdRecord:
    text = f"{title}\n\nSend passport copy. Call (212) 555-0147."
    return AdRecord(
        canonical_url=url, url=url + "?utm_source=x", site="demo-jobs", ad_type="job", text=text,
        content_sha256=sha, etag=etag,
        fields={"title": title, "body": text.split("\n\n", 1)[1], "salary_min": 10.0, "contact_raw": "(212) 555-0147"},
        score=ScoreRecord(
            model_version="job-risk-0.1.0", risk=risk, band=band, categories=["document_request"],
            explanation={"top_features": [["word:passport", 0.3], ["word:cook", -0.2], ["meta:x_yes", 0.1]]},
            hits=[{"indicator_id": "job.docs.passport_copy", "category": "document_request",
                   "start": text.index("passport"), "end": text.index("passport") + 13, "text": "passport copy",
                   "weight": 0.7}],
            entities=[{"type": "phone", "value": phone, "start": text.index("("),
                       "end": text.index("(") + 14, "text": "(212) 555-0147"}],
        ),
    )


def count(s, column) -> int:
    return s.scalar(select(func.count(column)))


def test_second_upsert_of_same_ads_inserts_nothing(sessions):
    recs = [record(f"http://example.org/jobs/{i}") for i in range(5)]
    with sessions.begin() as s:
        first = upsert_ads(s, recs, hmac_key=KEY)
    with sessions.begin() as s:
        second = upsert_ads(s, recs, hmac_key=KEY)
    assert (first.inserted, first.updated, first.unchanged) == (5, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 5)
    with sessions() as s:
        assert count(s, Ad.id) == 5
        assert count(s, AdVersion.id) == 5
        assert count(s, Score.id) == 5
        assert count(s, IndicatorHit.id) == 5
        assert count(s, AdEntity.id) == 5
        assert count(s, Entity.id) == 1  # the same phone in five ads is one entity


def test_duplicate_url_within_one_batch_is_stored_once(sessions):
    with sessions.begin() as s:
        counts = upsert_ads(s, [record("http://example.org/a", title="Old"),
                                record("http://example.org/a", sha="b" * 64, title="New")], hmac_key=KEY)
    assert counts.inserted == 1
    with sessions() as s:
        assert [a.title for a in s.scalars(select(Ad))] == ["New"]


def test_changed_ad_gets_a_new_version_and_score_and_keeps_history(sessions):
    with sessions.begin() as s:
        upsert_ads(s, [record("http://example.org/a", risk=0.4)], now=T0, hmac_key=KEY)
    with sessions.begin() as s:
        counts = upsert_ads(s, [record("http://example.org/a", sha="c" * 64, risk=0.9, band="high", title="Chef")],
                            now=T0 + timedelta(days=1), hmac_key=KEY)
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 0)
    with sessions() as s:
        ad = s.scalars(select(Ad)).one()
        assert (ad.title, ad.version) == ("Chef", 2)
        assert utc(ad.first_seen) == T0
        assert utc(ad.last_seen) == T0 + timedelta(days=1)
        versions = s.scalars(select(AdVersion).order_by(AdVersion.version)).all()
        assert [(v.version, v.content_sha256[0], v.fields["title"]) for v in versions] == [(1, "a", "Cook"), (2, "c", "Chef")]
        scores = s.scalars(select(Score).order_by(Score.id)).all()
        assert [(sc.risk, sc.band, sc.ad_version_id) for sc in scores] == [(0.4, "medium", versions[0].id),
                                                                            (0.9, "high", versions[1].id)]
        assert count(s, AdEntity.id) == 1  # entities replaced, not duplicated
        hit = s.scalars(select(IndicatorHit).where(IndicatorHit.score_id == scores[1].id)).one()
        assert ad.text[hit.start:hit.end] == "passport copy"
        rows = queue(s, top=5)
    assert [(r.risk, r.band, r.title) for r in rows] == [(0.9, "high", "Chef")]


def test_unchanged_ad_only_updates_last_seen(sessions):
    with sessions.begin() as s:
        run1 = start_run(s, "demo-jobs").id
        upsert_ads(s, [record("http://example.org/a")], run_id=run1, now=T0, hmac_key=KEY)
    with sessions.begin() as s:
        run2 = start_run(s, "demo-jobs").id
        counts = upsert_ads(s, [record("http://example.org/a", etag='"v1"')], run_id=run2,
                            now=T0 + timedelta(hours=5), hmac_key=KEY)
    assert counts.unchanged == 1
    with sessions() as s:
        ad = s.scalars(select(Ad)).one()
        assert (ad.version, ad.first_run_id, ad.last_run_id, ad.etag) == (1, run1, run2, '"v1"')
        assert utc(ad.last_seen) - utc(ad.first_seen) == timedelta(hours=5)
        assert (count(s, AdVersion.id), count(s, Score.id)) == (1, 1)
        assert validators_for(s, "demo-jobs") == {"http://example.org/a": ('"v1"', None)}
        assert urls_done_by_runs(s, [run2]) == {"http://example.org/a"}
        assert urls_done_by_runs(s, [run1]) == set()


def test_entities_are_linked_by_keyed_hmac_and_masked(sessions):
    with sessions.begin() as s:
        upsert_ads(s, [record("http://example.org/a"), record("http://example.org/b", sha="d" * 64)], hmac_key=KEY)
    with sessions() as s:
        entity = s.scalars(select(Entity)).one()
        assert entity.value_hmac == entity_hmac(KEY, "phone", "+12125550147")
        assert entity.value_hmac != entity_hmac("another-key", "phone", "+12125550147")
        assert len(entity.value_hmac) == 64
        assert entity.masked == "+1******0147"
        assert "555" not in entity.masked
        linked = s.scalars(select(AdEntity.ad_id).where(AdEntity.entity_id == entity.id)).all()
        assert len(linked) == 2
    assert mask_value("email", "jane.doe@example.org") == "j***@example.org"
    assert mask_value("age", "19") == "19"


def test_gone_ads_expire_and_come_back_when_seen_again(sessions):
    with sessions.begin() as s:
        upsert_ads(s, [record("http://example.org/a"), record("http://example.org/b")], now=T0, hmac_key=KEY)
    with sessions.begin() as s:
        n = mark_expired(s, [("http://example.org/a", "HTTP 404"), ("http://example.org/unknown", "HTTP 410")],
                         now=T0 + timedelta(days=1))
    assert n == 1
    with sessions() as s:
        statuses = dict(s.execute(select(Ad.canonical_url, Ad.status)).tuples().all())
        assert statuses == {"http://example.org/a": "expired", "http://example.org/b": "active"}
        assert s.scalar(select(Ad.expired_reason).where(Ad.canonical_url == "http://example.org/a")) == "HTTP 404"
    with sessions.begin() as s:
        assert touch_ads(s, ["http://example.org/a"], now=T0 + timedelta(days=2)) == 1
    with sessions() as s:
        ad = s.scalars(select(Ad).where(Ad.canonical_url == "http://example.org/a")).one()
        assert (ad.status, ad.expired_at, utc(ad.last_seen)) == ("active", None, T0 + timedelta(days=2))


def test_queue_orders_by_risk_and_filters_flagged(sessions):
    with sessions.begin() as s:
        upsert_ads(s, [
            record("http://example.org/low", risk=0.1, band="low"),
            record("http://example.org/high", risk=0.8, band="high"),
            record("http://example.org/mid", risk=0.5, band="medium"),
        ], hmac_key=KEY)
    with sessions() as s:
        flagged = queue(s, top=10)
        everything = queue(s, top=10, min_risk=0)
        top1 = queue(s, top=1)
    assert [r.url for r in flagged] == ["http://example.org/high?utm_source=x", "http://example.org/mid?utm_source=x"]
    assert len(everything) == 3 and everything[-1].risk == pytest.approx(0.1)
    assert [r.band for r in top1] == ["high"]
    assert flagged[0].as_dict()["categories"] == ["document_request"]
    # the queue's "why" lists what raised the risk, not "cook", which lowered it
    assert flagged[0].top_features == ["word:passport", "meta:x_yes"]
    assert "555" not in str(flagged[0].as_dict())


def test_crawl_run_lifecycle_and_dead_runs(sessions):
    with sessions.begin() as s:
        run_id = start_run(s, "demo-jobs").id
        dead_id = start_run(s, "demo-jobs", pid=999_999_999, host="this-host").id
        other_host = start_run(s, "demo-jobs", pid=999_999_999, host="elsewhere").id
    with sessions.begin() as s:
        finish_run(s, run_id, "finished", {"item_scraped_count": 3})
        assert mark_dead_runs(s, host="this-host", is_alive=lambda pid: False) == [dead_id]
    with sessions() as s:
        run = s.get(CrawlRun, run_id)
        assert (run.status, run.stats["item_scraped_count"]) == ("finished", 3)
        assert run.finished_at is not None and run.site_id is not None
        assert s.get(CrawlRun, dead_id).status == "interrupted"
        assert s.get(CrawlRun, other_host).status == "running"
        assert [r.id for r in list_runs(s, 2)] == [other_host, dead_id]
        assert [r.id for r in list_runs(s, 10, status="interrupted")] == [dead_id]
    with sessions.begin() as s, pytest.raises(KeyError):
        finish_run(s, 10**9, "finished", {})


def test_purge_removes_raw_contacts_of_old_unflagged_ads_only(sessions):
    old = T0 - timedelta(days=100)
    low = record("http://example.org/low", risk=0.1, band="low", phone="+13125550132")
    low.raw_html = "<html>(212) 555-0147</html>"
    with sessions.begin() as s:
        upsert_ads(s, [low, record("http://example.org/high", risk=0.9, band="high"),
                       record("http://example.org/recent-low", risk=0.1, band="low", phone="+14155550132")],
                   now=old, hmac_key=KEY)
        s.execute(Ad.__table__.update().where(Ad.canonical_url == "http://example.org/recent-low").values(last_seen=T0))
    with sessions.begin() as s:
        counts = purge_raw(s, 30, now=T0, actor="tester")
    assert (counts.ads, counts.mentions, counts.entity_values) == (1, 1, 1)
    with sessions() as s:
        ads = {a.canonical_url: a for a in s.scalars(select(Ad))}
        purged, flagged, recent = ads["http://example.org/low"], ads["http://example.org/high"], ads["http://example.org/recent-low"]
        assert (purged.raw_html, purged.contact_raw) == (None, None)
        assert "555" not in purged.text and "555" not in (purged.body or "")
        assert len(purged.text) == len(flagged.text)  # offsets still valid
        hit = s.scalars(select(IndicatorHit).join(Score).where(Score.ad_id == purged.id)).one()
        assert purged.text[hit.start:hit.end] == "passport copy"
        assert "555" in flagged.text and flagged.contact_raw and "555" in recent.text
        assert s.scalar(select(AdEntity.text).where(AdEntity.ad_id == purged.id)) is None
        purged_entity = s.scalars(select(Entity).where(Entity.value_hmac == entity_hmac(KEY, "phone", "+13125550132"))).one()
        assert (purged_entity.value, purged_entity.masked) == (None, "+1******0132")
        assert count(s, Score.id) == 3  # aggregates kept
        event = s.scalars(select(AuditEvent)).one()
        assert (event.actor, event.action, event.details["ads"], event.details["older_than_days"]) == ("tester", "purge", 1, 30)
    with sessions.begin() as s:
        assert purge_raw(s, 30, now=T0).ads == 0  # idempotent


def test_rescoring_finds_current_versions_without_a_score_for_a_model(sessions):
    with sessions.begin() as s:
        upsert_ads(s, [record("http://example.org/a"), record("http://example.org/b")], hmac_key=KEY)
    with sessions.begin() as s:
        todo = ads_missing_score(s, "job-risk-0.2.0")
        assert [u.text.split("\n")[0] for u in todo] == ["Cook", "Cook"]
        assert ads_missing_score(s, "job-risk-0.1.0") == []
        add_scores(s, [(u, ScoreRecord(model_version="job-risk-0.2.0", risk=0.7, band="high")) for u in todo])
    with sessions() as s:
        assert ads_missing_score(s, "job-risk-0.2.0") == []
        assert {r.model_version for r in queue(s, top=5)} == {"job-risk-0.2.0"}


def test_unusable_database_url_is_a_clear_error(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        make_engine(f"sqlite:///{tmp_path / 'missing-folder' / 'x.db'}")
    with pytest.raises(StorageError, match="cannot parse"):
        make_engine("not a url")


def test_unchanged_ad_keeps_the_url_it_was_last_fetched_at(sessions):
    from storage.models import Ad as AdRow

    rec = record("http://example.org/jobs/9")
    with sessions.begin() as s:
        upsert_ads(s, [rec])
    moved = record("http://example.org/jobs/9")
    moved.url = "http://127.0.0.1:4321/jobs/9.html"
    with sessions.begin() as s:
        counts = upsert_ads(s, [moved])
    assert counts.unchanged == 1
    with sessions() as s:
        assert s.scalars(select(AdRow.url)).one() == "http://127.0.0.1:4321/jobs/9.html"
