"""Item pipelines: normalise -> dedupe -> score -> store.

Each is a ``<Verb><Noun>Pipeline`` built with ``from_crawler``; a switched-off one raises
``NotConfigured``. Database writes are batched (``ADWATCH_STORE_BATCH_SIZE`` ads per transaction).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from crawler.items import AdItem
from crawler.text import canonicalize_url

log = logging.getLogger(__name__)

def scoring_text(item: AdItem) -> str:
    """The text adwatch scores and stores for an ad: title, body and (when the body does not already
    contain it) the contact line, separated by blank lines.

    Offsets of indicator hits and entities point into this string.
    """
    parts = [p for p in (item.title, item.body) if p]
    if item.contact_raw and item.contact_raw not in (item.body or ""):
        parts.append(item.contact_raw)
    return "\n\n".join(parts)


class NormalizeAdPipeline:
    """Fill the canonical URL, trim fields, compute the content hash; drop ads with no text.

    Raises:
        DropItem: the ad has neither a title nor a body (counted as ``adwatch/items/dropped_empty``).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "NormalizeAdPipeline":
        """Build the pipeline."""
        return cls(crawler)

    def process_item(self, item: AdItem) -> AdItem:
        """Return ``item`` normalised in place."""
        for name in ("title", "body", "employer", "location_raw", "salary_raw", "contact_raw", "posted_raw"):
            value = getattr(item, name, None)
            if isinstance(value, str):
                setattr(item, name, value.strip() or None)
        if not (item.title or item.body):
            self.crawler.stats.inc_value("adwatch/items/dropped_empty")
            raise DropItem(f"ad without title or text: {item.url}")
        item.canonical_url = item.canonical_url or canonicalize_url(item.url)
        item.compute_content_sha256()
        item.fetched_at = item.fetched_at or datetime.now(UTC).isoformat()
        return item


class DedupeAdPipeline:
    """Drop a second ad with the same canonical URL in one crawl (``adwatch/items/dropped_duplicate``).

    Across crawls, the database's unique canonical URL makes storing idempotent.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "DedupeAdPipeline":
        """Build the pipeline."""
        return cls(crawler)

    def process_item(self, item: AdItem) -> AdItem:
        """Return ``item`` unless its canonical URL was seen before in this crawl.

        Raises:
            DropItem: a duplicate.
        """
        if item.canonical_url in self.seen:
            self.crawler.stats.inc_value("adwatch/items/dropped_duplicate")
            raise DropItem(f"duplicate ad in this crawl: {item.canonical_url}")
        self.seen.add(item.canonical_url)
        return item


class ScoreAdPipeline:
    """Score each ad with :class:`scoring.scorer.Scorer` (the model is loaded once, at start).

    Setting ``ADWATCH_SCORE_ENABLED = False`` switches it off (ads are then stored unscored).
    """

    def __init__(self, crawler: Crawler, scorer: Any) -> None:
        self.crawler = crawler
        self.scorer = scorer

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "ScoreAdPipeline":
        """Build the pipeline and its Scorer.

        Raises:
            NotConfigured: ``ADWATCH_SCORE_ENABLED`` is false.
        """
        if not crawler.settings.getbool("ADWATCH_SCORE_ENABLED", True):
            raise NotConfigured("scoring disabled")
        from scoring.scorer import Scorer

        return cls(crawler, Scorer(region=crawler.settings.get("ADWATCH_REGION")))

    def process_item(self, item: AdItem) -> AdItem:
        """Attach the ad's Score as ``item.score``; count ads per band in the stats."""
        from scoring.types import Ad

        metadata = {
            "employer": item.employer, "salary_raw": item.salary_raw, "salary_min": item.salary_min,
            "location_raw": item.location_raw,
        }
        score = self.scorer.score(Ad(id=item.canonical_url, text=scoring_text(item), ad_type=item.ad_type, metadata=metadata))
        item.ad_type = score.ad_type
        item.score = score
        self.crawler.stats.inc_value(f"adwatch/scored/{score.band}")
        return item


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class StoreAdPipeline:
    """Store ads, scores, hits and entities in the database, ``batch_size`` ads per transaction.

    Opens a crawl run at start; at the end flushes the last batch and records the run's status
    (``finished``, or ``interrupted`` for a shutdown, ``failed`` otherwise) and stats. Counters:
    ``adwatch/stored/inserted``, ``adwatch/stored/updated``, ``adwatch/stored/unchanged``.

    Settings: ``ADWATCH_DATABASE_URL`` (default from ``config.settings``), ``ADWATCH_SITE``,
    ``ADWATCH_STORE_BATCH_SIZE``, ``ADWATCH_STORE_ENABLED``.
    """

    def __init__(self, crawler: Crawler, database_url: str, batch_size: int) -> None:
        self.crawler = crawler
        self.database_url = database_url
        self.batch_size = batch_size
        self.buffer: list[Any] = []
        self.run_id: int | None = None
        self.engine: Any = None
        self.sessions: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StoreAdPipeline":
        """Build the pipeline; connect the ``spider_closed`` signal that records the run.

        Raises:
            NotConfigured: ``ADWATCH_STORE_ENABLED`` is false.
        """
        settings = crawler.settings
        if not settings.getbool("ADWATCH_STORE_ENABLED", True):
            raise NotConfigured("storing disabled")
        url = settings.get("ADWATCH_DATABASE_URL")
        if not url:
            from config.settings import get_settings

            url = get_settings().database_url
        pipe = cls(crawler, url, settings.getint("ADWATCH_STORE_BATCH_SIZE", 100))
        crawler.signals.connect(pipe.spider_closed, signal=signals.spider_closed)
        return pipe

    def open_spider(self) -> None:
        """Open the database and start a crawl run."""
        from storage.db import make_engine, make_session_factory
        from storage.repository import start_run

        self.engine = make_engine(self.database_url)
        self.sessions = make_session_factory(self.engine)
        site = self.crawler.settings.get("ADWATCH_SITE") or getattr(self.crawler.spider, "name", "crawl")
        profile = getattr(self.crawler.spider, "profile", None)
        site = getattr(profile, "name", None) or site
        with self.sessions.begin() as session:
            self.run_id = start_run(session, site).id
        self.crawler.stats.set_value("adwatch/run_id", self.run_id)

    def process_item(self, item: AdItem) -> AdItem:
        """Buffer the ad; write the buffer when it holds ``batch_size`` ads."""
        self.buffer.append(item)
        if len(self.buffer) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        """Write the buffered ads in one transaction (nothing already stored is touched on error)."""
        if not self.buffer:
            return
        from storage.repository import upsert_ads

        records = [self._record(item) for item in self.buffer]
        with self.sessions.begin() as session:
            counts = upsert_ads(session, records, run_id=self.run_id)
        stats = self.crawler.stats
        stats.inc_value("adwatch/stored/inserted", counts.inserted)
        stats.inc_value("adwatch/stored/updated", counts.updated)
        stats.inc_value("adwatch/stored/unchanged", counts.unchanged)
        self.buffer.clear()

    @staticmethod
    def _record(item: AdItem) -> Any:
        from storage.repository import AD_FIELDS, AdRecord, ScoreRecord

        score = getattr(item, "score", None)
        rec_score = None
        if score is not None:
            rec_score = ScoreRecord(
                model_version=score.model_version, risk=score.risk, band=score.band, lang=score.lang,
                categories=score.categories, explanation=_json_safe(score.explanation),
                hits=[
                    {"indicator_id": h.id, "category": h.category, "start": h.start, "end": h.end,
                     "text": h.text, "weight": h.weight}
                    for h in score.indicators
                ],
                entities=[asdict(e) for e in score.entities],
            )
        fields = {k: getattr(item, k, None) for k in AD_FIELDS}
        return AdRecord(
            canonical_url=item.canonical_url, url=item.url, site=item.site or "unknown",
            ad_type=item.ad_type or "other", text=scoring_text(item), content_sha256=item.content_sha256,
            fields=fields, score=rec_score,
        )

    def close_spider(self) -> None:
        """Write the last batch."""
        self.flush()

    def spider_closed(self, spider: Any, reason: str) -> None:
        """Record the crawl run's status and stats (``reason`` is Scrapy's finish reason)."""
        if self.run_id is None:
            return
        from storage.repository import finish_run

        status = {"finished": "finished", "shutdown": "interrupted"}.get(reason, "finished" if reason.startswith("closespider") else "failed")
        stats = _json_safe(dict(self.crawler.stats.get_stats()))
        stats["finish_reason"] = reason
        with self.sessions.begin() as session:
            finish_run(session, self.run_id, status, stats)
        self.engine.dispose()
