"""Item pipelines: normalise -> dedupe -> score (batched, in a thread) -> store, and the JOBDIR guard of resumable crawls.

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
import gc
import json
import logging
import os
import shutil
import threading
import time
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


_SCORERS: dict[str, Any] = {}
_POOLS: dict[tuple[str | None, int], Any] = {}
_SHARED_LOCK = threading.Lock()

WARM_UP_TEXT = "Warm-up: office assistant wanted, weekly pay, apply by e-mail or call (555) 555-0147."
"""A made-up ad (with a fictional 555-01xx number) scored once as a job ad and once as an escort ad
when a Scorer is built, so that what the scorer, its model and phonenumbers build lazily on first
use (the model's rule-category features build their own rule engine; phonenumbers compiles its
patterns and loads a region's metadata) is built before the crawl starts instead of stalling its
first batch (about 0.1 s)."""


def shared_scorer(region: str | None) -> Any:
    """This process's :class:`scoring.scorer.Scorer` for ``region`` and the current settings, built
    and warmed up on first call (callers use it from one thread at a time).

    Several crawls in one process (``adwatch crawl`` runs its profiles together) share one scorer:
    one model in memory, loaded once. The key is the region plus the settings (as JSON), so a
    changed configuration gets its own scorer.

    Args:
        region: default phone region (ISO 3166-1 alpha-2) or None for the settings' default.

    Raises:
        scoring.model.ModelError: a model folder exists but cannot be loaded.
    """
    from config.settings import get_settings

    settings = get_settings()
    key = f"{region or ''}|{settings.model_dump_json()}"
    with _SHARED_LOCK:
        if key not in _SCORERS:
            from scoring.scorer import Scorer
            from scoring.types import Ad

            scorer = Scorer(settings=settings, region=region)
            list(scorer.score_many([Ad(id=f"adwatch:warm-up-{kind}", text=WARM_UP_TEXT, ad_type=kind)
                                    for kind in ("job", "escort")]))
            _SCORERS[key] = scorer
        return _SCORERS[key]


def score_batch(scorer: Any, ads: list[Any]) -> tuple[list[Any], dict[int, BaseException]]:
    """Score ``ads`` as one batch; if that fails, one by one, so that a bad ad fails alone.

    Args:
        scorer: a :class:`scoring.scorer.Scorer`.
        ads: :class:`scoring.types.Ad` objects.

    Returns:
        ``(scores, errors)``: one Score per ad (None where it failed) and the failures by index.
    """
    try:
        return list(scorer.score_many(ads, batch_size=max(1, len(ads)))), {}
    except Exception:  # any failure: retry the ads one by one below
        log.exception("scoring a batch of %d ads failed; scoring them one by one", len(ads))
    scores: list[Any] = []
    errors: dict[int, BaseException] = {}
    for i, ad in enumerate(ads):
        try:
            scores.append(scorer.score(ad))
        except Exception as exc:  # noqa: BLE001 - reported to that ad's process_item
            scores.append(None)
            errors[i] = exc if _picklable(exc) else RuntimeError(f"{type(exc).__name__}: {exc}")
    return scores, errors


def _picklable(exc: BaseException) -> bool:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - whatever pickling raises means "not picklable"
        return False
    return True


def _score_in_worker(region: str | None, ads: list[Any]) -> tuple[list[Any], dict[int, BaseException], float]:
    """Run in a scoring process: score ``ads`` with that process's shared scorer; also return the
    CPU seconds it took."""
    import time

    started = time.process_time()
    scores, errors = score_batch(shared_scorer(region), ads)
    return scores, errors, time.process_time() - started


def freeze_heap() -> int:
    """Collect garbage, then move every object now alive into the garbage collector's permanent
    generation (:func:`gc.freeze`); return how many objects were frozen.

    Why: a crawl allocates many short-lived objects (parsed pages, items, spaCy docs), so CPython
    runs full collections, and each one walks the whole heap: the crawler's or the scorer's
    libraries and the loaded model, objects that live as long as the process. Frozen, they are no
    longer walked: ``bench/crawl.py`` spent about 14% of its time in the collector before. Objects
    allocated later are collected as usual; a frozen object that later becomes cyclic garbage is
    kept until :func:`gc.unfreeze`.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _warm_up_worker(region: str | None) -> None:
    """Run once in each scoring process: build the shared scorer (the model is loaded and warmed
    up), then freeze the heap (:func:`freeze_heap`): the scorer lives as long as the process."""
    shared_scorer(region)
    freeze_heap()


def _watch_parent(parent: int) -> None:
    """Scoring process initializer: exit when the crawl process is gone (even after SIGKILL)."""
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="adwatch-parent-watch", daemon=True).start()


def scoring_pool(region: str | None, workers: int) -> Any:
    """This process's pool of ``workers`` scoring processes for ``region`` (started and warmed up
    on first call: each worker loads the scorer before the crawl starts).

    Worker processes are started with ``spawn`` (no copy of the reactor's state) and exit when the
    crawl process exits or dies.

    Raises:
        scoring.model.ModelError: the workers cannot load the model.
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with _SHARED_LOCK:
        pool = _POOLS.get((region, workers))
        if pool is None:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                       initializer=_watch_parent, initargs=(os.getpid(),))
            _POOLS[(region, workers)] = pool
            # one warm-up per worker (a pool starts its processes as tasks arrive)
            for future in [pool.submit(_warm_up_worker, region) for _ in range(workers)]:
                future.result()
        return pool


def _drop_pool(region: str | None, workers: int, pool: Any) -> None:
    with _SHARED_LOCK:
        if _POOLS.get((region, workers)) is pool:
            del _POOLS[(region, workers)]
    pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class _ScoreBatch:
    """Ads waiting to be scored together, and what their ``process_item`` calls wait on."""

    items: list[AdItem] = field(default_factory=list)
    scores: list[Any] = field(default_factory=list)
    errors: dict[int, BaseException] = field(default_factory=dict)
    done: Any = None  # asyncio.Future, created in the event loop


class ScoreAdPipeline:
    """Score ads with :class:`scoring.scorer.Scorer` in batches, in a separate scoring process.

    Why: scoring one ad at a time pays the fixed cost of a spaCy ``pipe`` call and of two
    scikit-learn transforms per ad (on the demo board about 16 ms per ad alone, 4 ms in batches of
    32-64), and it ran in the reactor thread, so no page was fetched or parsed meanwhile. A
    thread does not help: scoring is CPU-bound Python and holds the GIL, and the reactor thread,
    waiting for the GIL after every ``select``, crawled slower than with scoring inline
    (``bench/crawl.py``). A process uses another core.

    How: with ``ADWATCH_SCORE_WORKERS >= 1`` (default 1) batches go to that many scoring processes
    (:func:`scoring_pool`, shared by the crawls of a process; each loads the model once, before the
    crawl starts). An ad that arrives while a worker is idle is sent at once; ads that arrive while
    the workers are busy wait and go together as the next batch when one is free (so batches grow
    with the load and no ad waits for a timer), at most ``ADWATCH_SCORE_BATCH_SIZE`` (default 32)
    per batch. With 0 workers batches are scored in the reactor thread by a scorer shared likewise
    (:func:`shared_scorer`), when ``ADWATCH_SCORE_BATCH_SIZE`` ads are waiting or
    ``ADWATCH_SCORE_BATCH_SECONDS`` (default 0.5 s) after the first of them arrived. Every batch
    is also scored at close. Each ad's ``process_item`` waits for its batch and then passes the ad
    on, so the pipelines after this one (validation, storing) see every ad scored.

    Nothing buffered is lost at close: Scrapy closes the pipelines only when no item is in
    progress, and the timer scores a part-filled batch. If a batch fails, its ads are scored one
    by one, so a bad ad fails alone (Scrapy logs it as an item error, counted as
    ``adwatch/scored/failed``) and the others go on; a scoring process that dies is replaced and
    the batch retried once. A killed crawl loses the ads of its unscored batches, which were not
    stored: the next crawl fetches them again. Without an asyncio event loop (a non-asyncio
    Twisted reactor) ads are scored one at a time in the reactor thread.

    Settings: ``ADWATCH_SCORE_ENABLED`` (``False``: ads are stored unscored), ``ADWATCH_REGION``,
    ``ADWATCH_SCORE_BATCH_SIZE``, ``ADWATCH_SCORE_BATCH_SECONDS``, ``ADWATCH_SCORE_WORKERS`` (Scrapy settings;
    :func:`crawler.runner.build_settings` fills them from ``ADWATCH_CRAWL__SCORE_WORKERS`` etc.).
    Counters: ``adwatch/scored/<band>``, ``adwatch/scored/batches``, ``adwatch/scored/failed``,
    ``adwatch/scored/cpu_seconds`` (CPU time spent scoring, in whichever process scored).
    """

    def __init__(self, crawler: Crawler, region: str | None = None, workers: int = 1,
                 batch_size: int = 32, batch_seconds: float = 0.5) -> None:
        self.crawler = crawler
        self.region = region
        self.workers = max(0, workers)
        self.batch_size = max(1, batch_size)
        self.batch_seconds = max(0.0, batch_seconds)
        self.scorer: Any = None if self.workers else shared_scorer(region)
        self.pool: Any = scoring_pool(region, self.workers) if self.workers else None
        self._batch: _ScoreBatch | None = None
        self._timer: Any = None
        self._running: set[Any] = set()
        self._in_flight = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ScoreAdPipeline:
        """Build the pipeline; load the scorer (in the scoring processes, or here with 0 workers).

        Raises:
            NotConfigured: ``ADWATCH_SCORE_ENABLED`` is false.
            scoring.model.ModelError: the model cannot be loaded.
        """
        settings = crawler.settings
        if not settings.getbool("ADWATCH_SCORE_ENABLED", True):
            raise NotConfigured("scoring disabled")
        return cls(crawler, region=settings.get("ADWATCH_REGION"), workers=settings.getint("ADWATCH_SCORE_WORKERS", 1),
                   batch_size=settings.getint("ADWATCH_SCORE_BATCH_SIZE", 32),
                   batch_seconds=settings.getfloat("ADWATCH_SCORE_BATCH_SECONDS", 0.5))

    async def process_item(self, item: Any) -> Any:
        """Wait for the ad's batch to be scored, then attach its Score as ``item.score``.

        Raises:
            Exception: whatever the scorer raised for this ad alone.
        """
        if isinstance(item, AdStatusItem):
            return item
        from scrapy.utils.asyncio import is_asyncio_available

        if not is_asyncio_available():
            scorer = self.scorer or shared_scorer(self.region)
            scores, errors = score_batch(scorer, [_ad(item)])
            return self._finish(item, scores[0], errors.get(0))
        import asyncio

        batch = self._batch
        if batch is None:
            batch = self._batch = _ScoreBatch(done=asyncio.get_running_loop().create_future())
        index = len(batch.items)
        batch.items.append(item)
        if len(batch.items) >= self.batch_size or (self.pool is not None and self._in_flight < self.workers):
            self._start()
        elif self._timer is None:
            from scrapy.utils.asyncio import call_later

            self._timer = call_later(self.batch_seconds, self._start)
        await asyncio.shield(batch.done)
        return self._finish(item, batch.scores[index], batch.errors.get(index))

    def _finish(self, item: AdItem, score: Any, error: BaseException | None) -> AdItem:
        if error is not None:
            self.crawler.stats.inc_value("adwatch/scored/failed")
            raise error
        item.ad_type = score.ad_type
        item.score = score
        self.crawler.stats.inc_value(f"adwatch/scored/{score.band}")
        return item

    def _start(self) -> None:
        """Score the open batch (full, timed out, or closing) in a task; no-op without one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, None
        if batch is None or not batch.items:
            return
        import asyncio

        task = asyncio.ensure_future(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: _ScoreBatch) -> None:
        self._in_flight += 1
        try:
            ads = [_ad(item) for item in batch.items]
            if self.pool is None:
                started = time.process_time()
                batch.scores, batch.errors = score_batch(self.scorer, ads)
                cpu = time.process_time() - started
            else:
                batch.scores, batch.errors, cpu = await self._in_pool(ads)
            self.crawler.stats.inc_value("adwatch/scored/batches")
            stats = self.crawler.stats
            stats.set_value("adwatch/scored/cpu_seconds", round(float(stats.get_value("adwatch/scored/cpu_seconds", 0.0)) + cpu, 3))
        except Exception as exc:  # noqa: BLE001 - every waiting ad hears of it
            batch.scores = [None] * len(batch.items)
            batch.errors = dict.fromkeys(range(len(batch.items)), exc)
        finally:
            self._in_flight -= 1
            if not batch.done.done():
                batch.done.set_result(None)
            if self._batch is not None and self.pool is not None and self._in_flight < self.workers:
                self._start()  # what arrived meanwhile is the next batch

    async def _in_pool(self, ads: list[Any]) -> tuple[list[Any], dict[int, BaseException], float]:
        """Score ``ads`` in the scoring processes; replace a broken pool and retry once."""
        import asyncio
        from concurrent.futures.process import BrokenProcessPool

        for attempt in (1, 2):
            pool = self.pool
            try:
                return await asyncio.wrap_future(pool.submit(_score_in_worker, self.region, ads))
            except BrokenProcessPool:
                if attempt == 2:
                    raise
                log.error("a scoring process died; starting a new one and retrying %d ads", len(ads))
                _drop_pool(self.region, self.workers, pool)
                self.pool = await asyncio.to_thread(scoring_pool, self.region, self.workers)
        raise AssertionError("unreachable")

    async def close_spider(self) -> None:
        """Score what is still buffered and wait for every running batch."""
        import asyncio

        from scrapy.utils.asyncio import is_asyncio_available

        if not is_asyncio_available():
            return
        self._start()
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)


def _ad(item: AdItem) -> Any:
    """The :class:`scoring.types.Ad` that ``item`` is scored as."""
    from scoring.types import Ad

    metadata = {
        "employer": item.employer, "salary_raw": item.salary_raw, "salary_min": item.salary_min,
        "location_raw": item.location_raw,
    }
    return Ad(id=item.canonical_url, text=scoring_text(item), ad_type=item.ad_type, metadata=metadata)


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


class FreezeHeapPipeline:
    """Freeze the crawl process's heap once every other pipeline has opened (:func:`freeze_heap`),
    and unfreeze it when the crawl closes.

    Opened last (highest order in ``ITEM_PIPELINES``), so the database engine, the scoring pool
    and Scrapy's components exist already; Scrapy opens the item pipelines before the crawl starts
    (``spider_opened``), so the collection is paid once per crawl, not per page. Closed first,
    so objects of this crawl that become cyclic garbage later are collected again. With several
    crawls in one process the first to close unfreezes: correct, just less of a speed-up.
    It has no ``process_item``: items do not pass through it. Counter:
    ``adwatch/heap/frozen_objects``. Off with ``ADWATCH_FREEZE_HEAP = False``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FreezeHeapPipeline:
        """Build the pipeline.

        Raises:
            NotConfigured: ``ADWATCH_FREEZE_HEAP`` is false.
        """
        if not crawler.settings.getbool("ADWATCH_FREEZE_HEAP", True):
            raise NotConfigured("heap freezing disabled")
        return cls(crawler)

    def open_spider(self) -> None:
        """Collect and freeze the heap."""
        self.crawler.stats.set_value("adwatch/heap/frozen_objects", freeze_heap())

    def close_spider(self) -> None:
        """Unfreeze the heap (its objects become collectable again)."""
        gc.unfreeze()


class StoreAdPipeline:
    """Store ads, scores, hits and entities in the database, ``batch_size`` ads per transaction.

    Opens a crawl run at start (marking dead ``running`` runs ``interrupted`` first); at the end
    flushes the last batch and records the run's status (``finished``, or ``interrupted`` for a
    shutdown, ``failed`` otherwise, and also ``failed`` when the crawl completed but a Spidermon
    monitor failed: ``crawler.monitors``) and stats. :class:`AdStatusItem` ``seen`` touches an ad
    (``last_seen``), ``gone`` expires it. Counters: ``adwatch/stored/inserted``,
    ``adwatch/stored/updated``, ``adwatch/stored/unchanged``, ``adwatch/stored/not_modified``,
    ``adwatch/stored/expired``.

    The buffer is written when it holds ``ADWATCH_STORE_BATCH_SIZE`` entries, or
    ``ADWATCH_STORE_FLUSH_SECONDS`` (default 10 s; 0 = off) after its first entry arrived, so a slow
    crawl commits its ads as it goes: a killed process loses at most that buffer, whose ads the next
    crawl fetches again (they are not stored). A failed timed write is logged and retried with the
    next one; nothing is dropped from the buffer until its transaction commits.

    Settings: ``ADWATCH_DATABASE_URL`` (default from ``config.settings``), ``ADWATCH_SITE``,
    ``ADWATCH_STORE_BATCH_SIZE``, ``ADWATCH_STORE_FLUSH_SECONDS``, ``ADWATCH_STORE_ENABLED``,
    ``JOBDIR`` (resumable crawl).
    """

    def __init__(self, crawler: Crawler, database_url: str, batch_size: int, flush_seconds: float = 10.0) -> None:
        self.crawler = crawler
        self.database_url = database_url
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self._timer: Any = None
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
        pipe = cls(crawler, url, settings.getint("ADWATCH_STORE_BATCH_SIZE", 100),
                   settings.getfloat("ADWATCH_STORE_FLUSH_SECONDS", 10.0))
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
        """Buffer the ad (or status news); write the buffer when it holds ``batch_size`` entries
        (or ``flush_seconds`` after its first entry)."""
        if isinstance(item, AdStatusItem):
            if item.status == "seen":
                self.seen.append(item.canonical_url)
            else:
                self.gone.append((item.canonical_url, item.reason))
        else:
            self.buffer.append(item)
        if len(self.buffer) + len(self.seen) + len(self.gone) >= self.batch_size:
            self.flush()
        elif self._timer is None and self.flush_seconds > 0:
            from scrapy.utils.asyncio import call_later

            self._timer = call_later(self.flush_seconds, self._timed_flush)
        return item

    def _timed_flush(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception:
            log.exception("writing %d buffered ads failed; they stay buffered for the next write", len(self.buffer))

    def flush(self) -> None:
        """Write the buffered ads and status news in one transaction (all or nothing).

        A unique-key race with a concurrent writer (two crawls storing the same new ad) is retried
        once: the retry finds the other writer's row and updates it.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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
        from crawler.monitors import failed_monitors
        from storage.repository import finish_run

        status = {"finished": "finished", "shutdown": "interrupted"}.get(reason, "finished" if reason.startswith("closespider") else "failed")
        stats = _json_safe(dict(self.crawler.stats.get_stats()))
        stats["finish_reason"] = reason
        # Spidermon's monitors ran before this handler (its extension connected first): a crawl that
        # completed but failed a monitor is recorded as failed, so `adwatch runs` (and `--status
        # failed`) shows it whether it ran from `adwatch crawl` or from the scheduler
        recorded = "failed" if status == "finished" and failed_monitors(stats) else status
        with self.sessions.begin() as session:
            finish_run(session, self.run_id, recorded, stats)
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
