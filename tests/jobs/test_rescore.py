"""Rescoring after a new model version is installed: every active ad's current version, once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from config.settings import AppSettings
from jobs.rescore import rescore
from jobs.tasks import current_model_version
from scoring.types import Entity, IndicatorHit, Score
from storage.db import make_engine, make_session_factory
from storage.models import Score as ScoreRow
from storage.repository import AdRecord, ScoreRecord, mark_expired, queue, upsert_ads


class StubScorer:
    """Scores every ad 0.8/high as model ``job-risk-9.9.9`` (the real Scorer takes seconds to load)."""

    model_version = "job-risk-9.9.9"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def score_many(self, ads, batch_size: int = 64):
        for ad in ads:
            self.seen.append(ad.text)
            i = ad.text.index("fee")
            yield Score(ad_id=ad.id, ad_type=ad.ad_type or "job", lang="en", risk=0.8, band="high",
                        model_version=self.model_version,
                        indicators=[IndicatorHit("job.fee", "recruitment_fee", i, i + 3, "fee", 0.6)],
                        entities=[Entity("email", "hr@example.org", 0, 0, "")], explanation={"rule_risk": 0.6})


def test_rescore_scores_current_versions_of_active_ads_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    recs = [AdRecord(canonical_url=f"http://example.org/{i}", url=f"http://example.org/{i}", site="x", ad_type="job",
                     text=f"Job {i}: pay the fee", content_sha256=f"{i:064x}",
                     score=ScoreRecord(model_version="job-risk-0.1.0", risk=0.2, band="low")) for i in range(3)]
    with sessions.begin() as s:
        upsert_ads(s, recs, hmac_key="k")
        mark_expired(s, [("http://example.org/2", "HTTP 404")])
    stub = StubScorer()
    assert rescore(url, batch_size=1, scorer=stub) == 2
    assert sorted(stub.seen) == ["Job 0: pay the fee", "Job 1: pay the fee"]
    assert rescore(url, scorer=StubScorer()) == 0  # nothing left: idempotent
    with sessions() as s:
        rows = queue(s, top=10)
        assert [(r.model_version, r.band, r.categories) for r in rows] == [("job-risk-9.9.9", "high", ["recruitment_fee"])] * 2
        assert len(s.scalars(select(ScoreRow)).all()) == 5  # 3 old + 2 new, history kept
    engine.dispose()


def test_current_model_version_is_the_newest_model_folder(tmp_path):
    for name in ("job-risk-0.1.0", "job-risk-0.2.0"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.skops").write_bytes(b"")
    assert current_model_version(AppSettings(models_dir=tmp_path)) == "job-risk-0.2.0"
    assert current_model_version(AppSettings(models_dir=Path(tmp_path / "none"))) is None
