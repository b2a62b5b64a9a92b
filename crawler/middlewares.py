"""Downloader middlewares."""

from __future__ import annotations

from pathlib import PurePosixPath
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


class DropMediaDownloaderMiddleware:
    """Drop image, video and audio requests (by extension) and responses (by Content-Type).

    Safety by design: analysts must never be exposed to abusive images, so adwatch downloads no
    media unless ``ADWATCH_MEDIA_ENABLED`` is true (a site profile may enable it). Drops are counted
    in the stats as ``adwatch/media_dropped/request`` and ``adwatch/media_dropped/response``.

    Raises:
        NotConfigured: media downloads are enabled, so this middleware is not needed.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DropMediaDownloaderMiddleware:
        """Build from the crawler; raises NotConfigured when ``ADWATCH_MEDIA_ENABLED`` is true."""
        if crawler.settings.getbool("ADWATCH_MEDIA_ENABLED"):
            raise NotConfigured("media downloads enabled")
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Ignore a request whose URL path ends in a media extension."""
        suffix = PurePosixPath(urlsplit(request.url).path).suffix.lower()
        if suffix in MEDIA_EXTENSIONS:
            self.stats.inc_value("adwatch/media_dropped/request")
            raise IgnoreRequest(f"media not downloaded: {request.url}")

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        """Ignore a response whose Content-Type is image, video or audio."""
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if ctype.startswith(MEDIA_TYPE_PREFIXES):
            self.stats.inc_value("adwatch/media_dropped/response")
            raise IgnoreRequest(f"media not kept ({ctype}): {request.url}")
        return response


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
            raise IgnoreRequest(f"already stored by the interrupted run: {request.url}")
        etag, last_modified = self.validators.get(key, (None, None))
        if etag and b"If-None-Match" not in request.headers:
            request.headers[b"If-None-Match"] = etag
        if last_modified and b"If-Modified-Since" not in request.headers:
            request.headers[b"If-Modified-Since"] = last_modified
        if etag or last_modified:
            self.stats.inc_value("adwatch/conditional/sent")
