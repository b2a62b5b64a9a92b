"""Downloader middlewares."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response

MEDIA_EXTENSIONS = frozenset(
    [".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".svg", ".ico", ".heic", ".avif", ".mp4", ".m4v", ".mov", ".avi", ".wmv", ".flv", ".webm", ".mkv", ".3gp", ".mpg", ".mpeg", ".mp3", ".m4a", ".wav", ".ogg", ".oga", ".flac", ".aac", ".wma"]
)
"""File extensions of images, video and audio (dropped before download)."""

MEDIA_TYPE_PREFIXES = ("image/", "video/", "audio/")

log = logging.getLogger(__name__)

_MEDIA_KIND_BY_EXT = {
    **{e: "image" for e in (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".svg", ".ico", ".heic", ".avif")},
    **{e: "audio" for e in (".mp3", ".m4a", ".wav", ".ogg", ".oga", ".flac", ".aac", ".wma")},
}


def _media_kind(suffix: str) -> str:
    """``image``, ``audio`` or ``video`` for a media file extension."""
    return _MEDIA_KIND_BY_EXT.get(suffix, "video")


def _profile(spider: Spider | None) -> Any:
    return getattr(spider, "profile", None)


class DropMediaDownloaderMiddleware:
    """Drop image, video and audio requests (by extension) and responses (by Content-Type).

    Safety by design: analysts must never be exposed to abusive images, so adwatch downloads no
    media unless ``ADWATCH_MEDIA_ENABLED`` is true for the whole crawl or the spider's site profile
    sets ``media_enabled = true``. Counters: ``adwatch/media_dropped/request`` and
    ``adwatch/media_dropped/response`` (totals), ``adwatch/media_dropped/<kind>`` (``image``,
    ``video``, ``audio``), ``adwatch/media_allowed`` (media passed because the profile enables it),
    and ``adwatch/media_enabled`` (the crawl's switch, recorded when the spider opens).

    Raises:
        NotConfigured: media downloads are enabled for the whole crawl.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DropMediaDownloaderMiddleware:
        """Build from the crawler; raises NotConfigured when ``ADWATCH_MEDIA_ENABLED`` is true."""
        from scrapy import signals

        if crawler.settings.getbool("ADWATCH_MEDIA_ENABLED"):
            crawler.stats.set_value("adwatch/media_enabled", True)
            raise NotConfigured("media downloads enabled")
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider: Spider) -> None:
        """Record whether this crawl may download media (``adwatch/media_enabled``)."""
        self.stats.set_value("adwatch/media_enabled", self._enabled(spider))

    def _enabled(self, spider: Spider | None) -> bool:
        return bool(getattr(_profile(spider or self.crawler.spider), "media_enabled", False))

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Ignore a request whose URL path ends in a media extension (unless the profile enables media)."""
        suffix = PurePosixPath(urlsplit(request.url).path).suffix.lower()
        if suffix in MEDIA_EXTENSIONS:
            if self._enabled(spider):
                self.stats.inc_value("adwatch/media_allowed")
                return
            self.stats.inc_value("adwatch/media_dropped/request")
            self.stats.inc_value(f"adwatch/media_dropped/{_media_kind(suffix)}")
            request.meta["adwatch_counted"] = True
            raise IgnoreRequest(f"media not downloaded: {request.url}")

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        """Ignore a response whose Content-Type is image, video or audio (unless the profile enables media)."""
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if ctype.startswith(MEDIA_TYPE_PREFIXES):
            if self._enabled(spider):
                self.stats.inc_value("adwatch/media_allowed")
                return response
            self.stats.inc_value("adwatch/media_dropped/response")
            self.stats.inc_value(f"adwatch/media_dropped/{ctype.split('/', 1)[0]}")
            request.meta["adwatch_counted"] = True
            raise IgnoreRequest(f"media not kept ({ctype}): {request.url}")
        return response


MAX_BACKOFF = 60.0
"""Longest wait, in seconds, before one retry (:class:`RetryBackoffDownloaderMiddleware`)."""


class RetryBackoffDownloaderMiddleware:
    """Wait before each retry: ``base * 2 ** (n - 1)`` seconds before retry ``n``, capped at 60 s.

    Scrapy's ``RetryMiddleware`` re-schedules a failed request at once; a site that answered 500 or
    timed out is better left alone for a moment (exponential backoff, as in RFC 9110 section
    10.2.3's ``Retry-After`` spirit and common client practice). The base is the site profile's
    ``retry_backoff``, else the ``ADWATCH_RETRY_BACKOFF`` setting (seconds, default 1.0); 0
    switches the wait off. The retry number is Scrapy's ``request.meta["retry_times"]``. Counter:
    ``adwatch/retry/backoff_seconds`` (total time waited).

    Raises:
        NotConfigured: ``RETRY_ENABLED`` is false.
    """

    def __init__(self, crawler: Crawler, base: float) -> None:
        self.crawler = crawler
        self.base = base

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryBackoffDownloaderMiddleware:
        """Build from the crawler (``ADWATCH_RETRY_BACKOFF``, float seconds)."""
        if not crawler.settings.getbool("RETRY_ENABLED", True):
            raise NotConfigured("retries disabled")
        return cls(crawler, crawler.settings.getfloat("ADWATCH_RETRY_BACKOFF", 1.0))

    def delay_for(self, retry: int, spider: Spider | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry); 0 for ``retry < 1``."""
        base = getattr(_profile(spider or self.crawler.spider), "retry_backoff", self.base)
        if retry < 1 or base <= 0:
            return 0.0
        return min(MAX_BACKOFF, base * 2 ** (retry - 1))

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Sleep (without blocking the reactor) before a retried request goes out."""
        delay = self.delay_for(int(request.meta.get("retry_times", 0)), spider)
        if delay > 0 and request.meta.get("adwatch_backoff_done") != request.meta.get("retry_times"):
            from scrapy.utils.defer import maybe_deferred_to_future
            from twisted.internet import reactor
            from twisted.internet.task import deferLater

            request.meta["adwatch_backoff_done"] = request.meta.get("retry_times")
            self.crawler.stats.inc_value("adwatch/retry/backoff_seconds", delay)  # type: ignore[arg-type]
            await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))


class TrapGuardSpiderMiddleware:
    """Drop followed links that look like crawler traps, and count each drop.

    Traps (infinite calendars, endless pagination, session ids in query strings, relative links
    that nest a path forever) are cut by three limits from the spider's site profile:

    * ``max_depth``: links more than this many hops from a start URL (``adwatch/trap/depth``);
    * ``max_query_variants``: distinct query strings per scheme+host+path beyond this number
      (``adwatch/trap/query_variants``);
    * ``max_segment_repeats``: a path in which one segment occurs more often than this
      (``/a/b/a/b/a/b``; ``adwatch/trap/segment_repeat``).

    A limit of 0 is off. The depth is tracked in ``request.meta["adwatch_depth"]`` (start requests
    are 0). Only requests are filtered; items pass. Each drop is logged at INFO.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.variants: dict[str, set[str]] = defaultdict(set)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TrapGuardSpiderMiddleware:
        """Build from the crawler; ``ADWATCH_TRAP_GUARD_ENABLED = False`` switches it off.

        Raises:
            NotConfigured: switched off.
        """
        if not crawler.settings.getbool("ADWATCH_TRAP_GUARD_ENABLED", True):
            raise NotConfigured("trap guard disabled")
        return cls(crawler)

    def trap(self, request: Request, depth: int, spider: Spider | None = None) -> str | None:
        """The trap kind (``depth``, ``query_variants``, ``segment_repeat``) ``request`` falls into, or None."""
        profile = _profile(spider or self.crawler.spider)
        max_depth = getattr(profile, "max_depth", 0)
        max_variants = getattr(profile, "max_query_variants", 0)
        max_repeats = getattr(profile, "max_segment_repeats", 0)
        if max_depth and depth > max_depth:
            return "depth"
        parts = urlsplit(request.url)
        if max_repeats:
            segments = [seg for seg in parts.path.split("/") if seg]
            if segments and max(segments.count(seg) for seg in set(segments)) > max_repeats:
                return "segment_repeat"
        if max_variants and parts.query:
            key = f"{parts.scheme}://{parts.netloc}{parts.path}"
            seen = self.variants[key]
            if parts.query not in seen:
                if len(seen) >= max_variants:
                    return "query_variants"
                seen.add(parts.query)
        return None

    def _keep(self, entry: Any, depth: int, spider: Spider | None) -> bool:
        """False for a request the trap guard stops (counted and logged); other entries pass, and a
        kept request records its depth."""
        if isinstance(entry, Request):
            kind = self.trap(entry, depth, spider)
            if kind:
                self.stats.inc_value(f"adwatch/trap/{kind}")
                log.info("trap guard (%s): not following %s", kind, entry.url)
                return False
            entry.meta.setdefault("adwatch_depth", depth)
        return True

    def _filter(self, response: Response, result: Iterable[Any], spider: Spider | None) -> Iterable[Any]:
        depth = int(response.meta.get("adwatch_depth", 0)) + 1
        return (entry for entry in result if self._keep(entry, depth, spider))

    def process_spider_output(self, response: Response, result: Iterable[Any], spider: Spider | None = None) -> Iterable[Any]:
        """Filter the callback's requests (sync callbacks)."""
        return self._filter(response, result, spider)

    async def process_spider_output_async(
        self, response: Response, result: AsyncIterator[Any], spider: Spider | None = None
    ) -> AsyncIterator[Any]:
        """Filter the callback's requests (async callbacks)."""
        depth = int(response.meta.get("adwatch_depth", 0)) + 1
        async for entry in result:
            if self._keep(entry, depth, spider):
                yield entry


class IncrementalDownloaderMiddleware:
    """Make recrawls cheap: conditional requests for known ads, and resume after a crash.

    For a detail-page request (``request.meta["adwatch_detail"]``, set by ``ProfileSpider``) whose
    stored ad is active:

    * if the crawl resumes an unfinished run (``crawler.adwatch_jobdir.done_runs``, see
      ``crawler.pipelines.JobdirGuardExtension``) and that run already stored, touched or expired
      the ad, the request is dropped (``adwatch/resume/skipped``);
    * else, when the ad's page sent validators last time, ``If-None-Match`` (ETag) and/or
      ``If-Modified-Since`` (Last-Modified) are added (``adwatch/conditional/sent``; RFC 9110
      section 13.1). A 304 answer reaches the spider, which reports the ad as seen and unchanged.

    The ad key is the spider's ``stable_url`` of the request URL (canonical URL on the profile's
    ``canonical_base``). Settings: ``ADWATCH_INCREMENTAL_ENABLED`` (default true),
    ``ADWATCH_DATABASE_URL``. The stored state is read once, when the spider opens.

    Raises:
        NotConfigured: ``ADWATCH_INCREMENTAL_ENABLED`` is false.
    """

    def __init__(self, crawler: Crawler, database_url: str | None) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.database_url = database_url
        self.validators: dict[str, tuple[str | None, str | None]] = {}
        self.skip: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IncrementalDownloaderMiddleware:
        """Build from the crawler; connect ``spider_opened`` to load the stored state."""
        from scrapy import signals

        if not crawler.settings.getbool("ADWATCH_INCREMENTAL_ENABLED", True):
            raise NotConfigured("incremental recrawl disabled")
        mw = cls(crawler, crawler.settings.get("ADWATCH_DATABASE_URL"))
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider: Spider) -> None:
        """Load the site's validators and, when resuming, the ads the unfinished runs already handled."""
        profile = getattr(spider, "profile", None)
        site = getattr(profile, "name", None)
        if not site or not self.crawler.settings.getbool("ADWATCH_STORE_ENABLED", True):
            return
        from storage.db import make_engine, make_session_factory
        from storage.repository import urls_done_by_runs, validators_for

        url = self.database_url
        if not url:
            from config.settings import get_settings

            url = get_settings().database_url
        engine = make_engine(url)
        try:
            with make_session_factory(engine)() as session:
                self.validators = validators_for(session, site)
                jobdir = getattr(self.crawler, "adwatch_jobdir", None)
                current = self.stats.get_value("adwatch/run_id")
                done = [r for r in (jobdir.done_runs if jobdir else []) if r != current]
                self.skip = urls_done_by_runs(session, done)
        finally:
            engine.dispose()
        self.stats.set_value("adwatch/resume/known_done", len(self.skip))

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Drop a detail page already handled by the resumed run; make the others conditional."""
        spider = spider or self.crawler.spider
        if not request.meta.get("adwatch_detail") or spider is None or not hasattr(spider, "stable_url"):
            return
        key = spider.stable_url(request.url)
        if key in self.skip:
            self.stats.inc_value("adwatch/resume/skipped")
            request.meta["adwatch_counted"] = True
            raise IgnoreRequest(f"already stored by the interrupted run: {request.url}")
        etag, last_modified = self.validators.get(key, (None, None))
        if etag and b"If-None-Match" not in request.headers:
            request.headers[b"If-None-Match"] = etag
        if last_modified and b"If-Modified-Since" not in request.headers:
            request.headers[b"If-Modified-Since"] = last_modified
        if etag or last_modified:
            self.stats.inc_value("adwatch/conditional/sent")
