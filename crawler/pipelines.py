"""Item pipelines: normalise -> dedupe -> score -> store, and the JOBDIR guard of resumable crawls.

Each pipeline is a ``<Verb><Noun>Pipeline`` built with ``from_crawler``; a switched-off one raises
``NotConfigured``. Database writes are batched (``ADWATCH_STORE_BATCH_SIZE`` ads per transaction).
:class:`~crawler.spiders.base.AdStatusItem` objects (an ad page answered 304, or is gone) pass
through the first three pipelines untouched and are written by :class:`StoreAdPipeline`.

Crash safety: a batch is one transaction, so a crawl killed at any point leaves each ad stored
completely or not at all; the canonical URL is unique, so a re-run never stores an ad twice. With
a ``JOBDIR`` the crawl resumes: see :class:`JobdirGuardExtension`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from crawler.items import AdItem
from crawler.spiders.base import AdStatusItem
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
    def from_crawler(cls, crawler: Crawler) -> NormalizeAdPipeline:
        """Build the pipeline."""
        return cls(crawler)

    def process_item(self, item: AdItem) -> AdItem:
        """Return ``item`` normalised in place."""
        if isinstance(item, AdStatusItem):
            return item
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
    def from_crawler(cls, crawler: Crawler) -> DedupeAdPipeline:
        """Build the pipeline."""
        return cls(crawler)

    def process_item(self, item: AdItem) -> AdItem:
        """Return ``item`` unless its canonical URL was seen before in this crawl.

        Raises:
            DropItem: a duplicate.
        """
        if isinstance(item, AdStatusItem):
            return item
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
    def from_crawler(cls, crawler: Crawler) -> ScoreAdPipeline:
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
        if isinstance(item, AdStatusItem):
            return item
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


RUN_MARKER = "adwatch-run.json"
"""File in a JOBDIR recording the crawl run that owns it (``run_id``, ``state``, ``done_runs``)."""

LOCK_FILE = "adwatch.lock"
"""File in a JOBDIR locked (``flock``) by the crawl using it; the OS releases it when the process dies."""

SCRAPY_STATE = ("requests.queue", "requests.seen", "spider.state")
"""What Scrapy keeps in a JOBDIR: consistent only after a clean close."""


@dataclass
class JobdirState:
    """What :class:`JobdirGuardExtension` found in the JOBDIR (``crawler.adwatch_jobdir``).

    Attributes:
        path: the JOBDIR.
        previous_run: the crawl run that last owned it and did not finish, or None.
        unclean: True when that run died without closing (SIGKILL, power loss): Scrapy's files
            were discarded.
        done_runs: unfinished runs whose stored ads this crawl need not fetch again.
    """

    path: Path
    previous_run: int | None = None
    unclean: bool = False
    done_runs: list[int] = field(default_factory=list)
    lock: IO[str] | None = None

    def write_marker(self, run_id: int, state: str) -> None:
        """Record ``run_id`` as the JOBDIR's owner in ``state`` (``running`` or ``stopped``), atomically."""
        tmp = self.path / (RUN_MARKER + ".tmp")
        tmp.write_text(json.dumps({"run_id": run_id, "state": state, "done_runs": self.done_runs}), encoding="utf-8")
        os.replace(tmp, self.path / RUN_MARKER)

    def clear_marker(self) -> None:
        """The crawl finished: the next one starts afresh."""
        (self.path / RUN_MARKER).unlink(missing_ok=True)

    def discard_scrapy_state(self) -> None:
        """Remove Scrapy's queue, seen-requests and spider state from the JOBDIR."""
        for name in SCRAPY_STATE:
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)


class JobdirGuardExtension:
    """Guard a resumable crawl's ``JOBDIR`` (a Scrapy extension; ``NotConfigured`` without JOBDIR).

    Built before Scrapy's scheduler opens the JOBDIR, it

    1. locks ``JOBDIR/adwatch.lock`` (``flock``): a second crawl on the same JOBDIR fails at once;
    2. reads ``JOBDIR/adwatch-run.json``. ``state == "running"`` while we hold the lock means the
       previous owner died without closing (SIGKILL). Scrapy writes its queue state only on a clean
       close, so its files are then inconsistent (seen fingerprints of requests whose children
       were never queued): they are discarded, and the crawl resumes from the database instead:
       detail pages whose ads the unfinished runs already stored are skipped
       (``IncrementalDownloaderMiddleware``). After a clean stop (SIGTERM/Ctrl-C, ``stopped``)
       Scrapy's own resume is kept as well;
    3. after a complete crawl, removes Scrapy's state so that the next scheduled crawl of the site
       fetches everything again (Scrapy would otherwise filter every request as already seen).

    Raises:
        RuntimeError: another live process holds the JOBDIR.
    """

    def __init__(self, state: JobdirState) -> None:
        self.state = state

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JobdirGuardExtension:
        """Lock and inspect the JOBDIR; publish the result as ``crawler.adwatch_jobdir``."""
        jobdir = crawler.settings.get("JOBDIR")
        if not jobdir:
            raise NotConfigured  # no JOBDIR: the crawl is not resumable (normal for ad-hoc crawls)
        path = Path(jobdir)
        path.mkdir(parents=True, exist_ok=True)
        lock = open(path / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held for the crawl's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise RuntimeError(f"JOBDIR {path} is in use by another crawl (lock {path / LOCK_FILE})") from None
        state = JobdirState(path=path, lock=lock)
        try:
            marker = json.loads((path / RUN_MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            marker = None
        if marker and isinstance(marker.get("run_id"), int):
            state.previous_run = marker["run_id"]
            state.unclean = marker.get("state") == "running"
            state.done_runs = sorted({*marker.get("done_runs", []), marker["run_id"]})
            if state.unclean:
                state.discard_scrapy_state()
                log.warning("JOBDIR %s: run %s died without closing; Scrapy state discarded, resuming from the "
                            "database", path, state.previous_run)
        elif any((path / name).exists() for name in SCRAPY_STATE):
            log.info("JOBDIR %s: resuming Scrapy state without an adwatch run marker", path)
        crawler.adwatch_jobdir = state  # type: ignore[attr-defined]
        crawler.stats.set_value("adwatch/resume/unclean", state.unclean)
        ext = cls(state)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider: Any, reason: str) -> None:
        """After a complete crawl, drop Scrapy's state (else tomorrow's crawl would find every request
        already "seen" and fetch nothing); after a stop, keep it to resume. Release the lock."""
        if reason == "finished" or reason.startswith("closespider"):
            self.state.discard_scrapy_state()
        if self.state.lock is not None:
            self.state.lock.close()
            self.state.lock = None


class StoreAdPipeline:
    """Store ads, scores, hits and entities in the database, ``batch_size`` ads per transaction.

    Opens a crawl run at start (marking dead ``running`` runs ``interrupted`` first); at the end
    flushes the last batch and records the run's status (``finished``, or ``interrupted`` for a
    shutdown, ``failed`` otherwise) and stats. :class:`AdStatusItem` ``seen`` touches an ad
    (``last_seen``), ``gone`` expires it. Counters: ``adwatch/stored/inserted``,
    ``adwatch/stored/updated``, ``adwatch/stored/unchanged``, ``adwatch/stored/not_modified``,
    ``adwatch/stored/expired``.

    Settings: ``ADWATCH_DATABASE_URL`` (default from ``config.settings``), ``ADWATCH_SITE``,
    ``ADWATCH_STORE_BATCH_SIZE``, ``ADWATCH_STORE_ENABLED``, ``JOBDIR`` (resumable crawl).
    """

    def __init__(self, crawler: Crawler, database_url: str, batch_size: int) -> None:
        self.crawler = crawler
        self.database_url = database_url
        self.batch_size = batch_size
        self.buffer: list[Any] = []
        self.seen: list[str] = []
        self.gone: list[tuple[str, str]] = []
        self.run_id: int | None = None
        self.engine: Any = None
        self.sessions: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StoreAdPipeline:
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
        """Open the database (migrating it if needed) and start a crawl run."""
        from storage.db import make_engine, make_session_factory
        from storage.models import CrawlRun
        from storage.repository import mark_dead_runs, start_run

        self.engine = make_engine(self.database_url)
        self.sessions = make_session_factory(self.engine)
        site = self.crawler.settings.get("ADWATCH_SITE") or getattr(self.crawler.spider, "name", "crawl")
        profile = getattr(self.crawler.spider, "profile", None)
        site = getattr(profile, "name", None) or site
        jobdir: JobdirState | None = getattr(self.crawler, "adwatch_jobdir", None)
        with self.sessions.begin() as session:
            previous = jobdir.previous_run if jobdir else None
            if previous is not None and session.get(CrawlRun, previous) is None:
                previous = None  # killed after writing the marker, before its run was committed
            forced = [previous] if jobdir and jobdir.unclean and previous is not None else []
            interrupted = mark_dead_runs(session, run_ids=forced)
            run = start_run(session, site, jobdir=str(jobdir.path) if jobdir else None, resumed_from=previous)
            self.run_id = run.id
            if jobdir is not None:
                # written before the commit: a kill in between leaves a marker naming a run that
                # does not exist (handled above), never a committed run without a marker
                jobdir.write_marker(self.run_id, "running")
        if interrupted:
            log.warning("crawl runs %s were left running by dead processes: marked interrupted", interrupted)
        if jobdir is not None:
            self.crawler.stats.set_value("adwatch/resume/from_runs", list(jobdir.done_runs))
        self.crawler.stats.set_value("adwatch/run_id", self.run_id)

    def process_item(self, item: Any) -> Any:
        """Buffer the ad (or status news); write the buffer when it holds ``batch_size`` entries."""
        if isinstance(item, AdStatusItem):
            if item.status == "seen":
                self.seen.append(item.canonical_url)
            else:
                self.gone.append((item.canonical_url, item.reason))
        else:
            self.buffer.append(item)
        if len(self.buffer) + len(self.seen) + len(self.gone) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        """Write the buffered ads and status news in one transaction (all or nothing).

        A unique-key race with a concurrent writer (two crawls storing the same new ad) is retried
        once: the retry finds the other writer's row and updates it.
        """
        if not (self.buffer or self.seen or self.gone):
            return
        from sqlalchemy.exc import IntegrityError

        from storage.repository import mark_expired, touch_ads, upsert_ads

        records = [self._record(item) for item in self.buffer]
        for attempt in (1, 2):
            try:
                with self.sessions.begin() as session:
                    counts = upsert_ads(session, records, run_id=self.run_id)
                    touched = touch_ads(session, self.seen, run_id=self.run_id)
                    expired = mark_expired(session, self.gone, run_id=self.run_id)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                log.warning("concurrent insert of the same ads; retrying the batch once")
        stats = self.crawler.stats
        stats.inc_value("adwatch/stored/inserted", counts.inserted)
        stats.inc_value("adwatch/stored/updated", counts.updated)
        stats.inc_value("adwatch/stored/unchanged", counts.unchanged)
        stats.inc_value("adwatch/stored/not_modified", touched)
        stats.inc_value("adwatch/stored/expired", expired)
        self.buffer.clear()
        self.seen.clear()
        self.gone.clear()

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
            fields=fields, score=rec_score, etag=getattr(item, "etag", None),
            last_modified=getattr(item, "last_modified", None), raw_html=getattr(item, "raw_html", None),
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
        _link_new_ads(self.sessions)
        jobdir: JobdirState | None = getattr(self.crawler, "adwatch_jobdir", None)
        if jobdir is not None:
            if status == "finished":
                jobdir.clear_marker()
            else:
                jobdir.done_runs = sorted({*jobdir.done_runs, self.run_id})
                jobdir.write_marker(self.run_id, "stopped")
        self.engine.dispose()


def _link_new_ads(sessions: Any) -> None:
    """Link the ads stored by this run into networks and template clusters (``linking.update``:
    only new or changed ads). Off with ``ADWATCH_LINKING__ENABLED_AFTER_CRAWL=false``; a failure is
    logged and leaves the crawl's outcome alone (``adwatch link`` catches up)."""
    from config.settings import get_settings

    if not get_settings().linking.enabled_after_crawl:
        return
    try:
        import linking

        with sessions.begin() as session:
            stats = linking.update(session)
        log.info("linked %d new or changed ads in %.1f s", stats.ads, stats.seconds)
    except Exception:
        log.exception("linking the new ads failed; run `adwatch link` to catch up")
