"""Rescore stored ads with the current model: ``python -m jobs.rescore`` (run by the scheduler).

Scores the current version of every active ad that has no score from the scorer's model version
and stores the new scores beside the old ones (the queue shows the newest). Batches are committed
one by one, so an interrupted rescoring resumes where it stopped.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict
from typing import Any

log = logging.getLogger(__name__)


def score_record(score: Any) -> Any:
    """A ``storage.repository.ScoreRecord`` from a ``scoring.types.Score``."""
    from storage.repository import ScoreRecord

    return ScoreRecord(
        model_version=score.model_version, risk=score.risk, band=score.band, lang=score.lang,
        categories=list(score.categories), explanation=_json_safe(score.explanation),
        hits=[{"indicator_id": h.id, "category": h.category, "start": h.start, "end": h.end, "text": h.text,
               "weight": h.weight} for h in score.indicators],
        entities=[asdict(e) for e in score.entities],
    )


def _json_safe(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def rescore(database_url: str, batch_size: int = 200, scorer: Any = None) -> int:
    """Score every active ad lacking a score from ``scorer.model_version``; return how many were scored."""
    from scoring.scorer import Scorer
    from scoring.types import Ad
    from storage.db import make_engine, make_session_factory
    from storage.repository import add_scores, ads_missing_score

    scorer = scorer or Scorer()
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    done, after = 0, 0
    try:
        while True:
            with sessions.begin() as session:
                todo = ads_missing_score(session, scorer.model_version, limit=batch_size, after_id=after)
                if not todo:
                    break
                ads = [Ad(id=str(u.ad_id), text=u.text, ad_type=u.ad_type, metadata=dict(u.fields or {})) for u in todo]
                scores = list(scorer.score_many(ads, batch_size=64))
                done += add_scores(session, [(u, score_record(s)) for u, s in zip(todo, scores)])
                after = todo[-1].ad_id
            log.info("rescored %d ads with %s", done, scorer.model_version)
    finally:
        engine.dispose()
    return done


def main() -> int:
    """Entry point: rescore the configured database; print the count."""
    from config.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    n = rescore(get_settings().database_url)
    print(f"rescored {n} ads")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
