"""Run adwatch crawls in this process (the CLI's ``adwatch crawl`` and ``adwatch demo``).

Scrapy's reactor cannot be restarted, so one process runs one batch of crawls: all the
:class:`CrawlJob` objects given to :func:`run_crawls` run together. Long-lived callers (the
scheduler) run ``scrapy crawl`` in a subprocess instead: :func:`crawl_command` builds its argv and
:func:`crawl_env` its environment (the database URL travels in the environment, not on the
command line where ``ps`` would show a password).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from config.settings import AppSettings, get_settings
from crawler.profiles import SiteProfile


@dataclass(slots=True)
class CrawlJob:
    """One crawl to run: a site profile, an optional base URL and a page budget (0 = none), or WARC files to ingest."""

    profile: SiteProfile
    base_url: str | None = None
    max_pages: int = 0
    warc_files: list[str] = field(default_factory=list)
    """WARC files to ingest instead of crawling (``crawler.spiders.warc.WarcSpider``)."""


@dataclass(slots=True)
class CrawlResult:
    """What a finished crawl reports: site, crawl run id, finish reason and Scrapy stats."""

    site: str
    run_id: int | None
    finish_reason: str | None
    stats: dict[str, Any] = field(default_factory=dict)

    def stat(self, key: str, default: int = 0) -> Any:
        """One stat value, ``default`` when absent."""
        return self.stats.get(key, default)


def app_scrapy_settings(app: AppSettings, *, log_level: str = "WARNING") -> dict[str, Any]:
    """The Scrapy settings that come from ``app`` (politeness, batch size, region, log level).

    The database URL is not among them (it may hold a password): pass it as the
    ``ADWATCH_DATABASE_URL`` setting in-process, or in the environment to a subprocess.
    """
    crawl = app.crawl
    return {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_requests_per_domain,
        "DOWNLOAD_TIMEOUT": crawl.download_timeout,
        "DOWNLOAD_MAXSIZE": crawl.download_maxsize,
        "DOWNLOAD_WARNSIZE": crawl.download_warnsize,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "ADWATCH_STORE_BATCH_SIZE": crawl.store_batch_size,
        "ADWATCH_STORE_FLUSH_SECONDS": crawl.store_flush_seconds,
        "ADWATCH_SCORE_WORKERS": crawl.score_workers,
        "ADWATCH_SCORE_BATCH_SIZE": crawl.score_batch_size,
        "ADWATCH_REDIS_FINISHED_TTL": crawl.redis_finished_ttl,
        "ADWATCH_REDIS_UNFINISHED_TTL": crawl.redis_unfinished_ttl,
        "ADWATCH_REGION": app.default_region,
        "LOG_LEVEL": log_level,
        "LOG_INSTALL_ROOT_HANDLER": True,
    }


def profile_scrapy_settings(profile: SiteProfile) -> dict[str, Any]:
    """Scrapy settings taken from a site profile's politeness keys (only those the profile sets).

    ``download_delay`` -> ``DOWNLOAD_DELAY`` (also AutoThrottle's floor), ``concurrency`` ->
    ``CONCURRENT_REQUESTS_PER_DOMAIN``, ``download_timeout``, ``download_maxsize`` (``DOWNLOAD_WARNSIZE``
    is lowered to match when above it), ``retry_times``, ``retry_backoff`` -> ``ADWATCH_RETRY_BACKOFF``,
    ``max_redirects`` -> ``REDIRECT_MAX_TIMES``, ``media_enabled`` -> ``ADWATCH_MEDIA_ENABLED`` (only
    when true). Applied over the app-wide values: one crawl is one site.
    """
    values: dict[str, Any] = {"ADWATCH_RETRY_BACKOFF": profile.retry_backoff}
    if profile.download_delay:
        values["DOWNLOAD_DELAY"] = profile.download_delay
    if profile.concurrency:
        values["CONCURRENT_REQUESTS_PER_DOMAIN"] = profile.concurrency
    if profile.download_timeout:
        values["DOWNLOAD_TIMEOUT"] = profile.download_timeout
    if profile.download_maxsize:
        values["DOWNLOAD_MAXSIZE"] = profile.download_maxsize
        values["DOWNLOAD_WARNSIZE"] = profile.download_maxsize // 2
    if profile.retry_times is not None:
        values["RETRY_TIMES"] = profile.retry_times
    if profile.max_redirects:
        values["REDIRECT_MAX_TIMES"] = profile.max_redirects
    if profile.media_enabled:
        values["ADWATCH_MEDIA_ENABLED"] = True
    return values


PER_CRAWL_PRIORITY = 50
"""Settings priority of per-crawl values (site profile, shared frontier): above ``cmdline`` (40),
because ``CrawlerProcess.crawl(crawler)`` merges the process's settings into the crawler's
wherever the crawler's priority is not higher (Scrapy 2.19 ``create_crawler``)."""

REDIS_URL_ENV = "ADWATCH_REDIS_URL"
"""Environment variable: a Redis URL (``redis://host:6379/0``, ``unix:///path/redis.sock``) switches
crawls onto a shared scrapy-redis frontier (:func:`redis_scrapy_settings`)."""

REDIS_CRAWL_ID_ENV = "ADWATCH_REDIS_CRAWL_ID"
"""Environment variable naming one shared crawl (default: today's UTC date, so the workers started
for one nightly crawl share a frontier and the next night starts afresh)."""


def redis_scrapy_settings(redis_url: str, profile: SiteProfile, crawl_id: str | None = None,
                          idle_seconds: int = 10) -> dict[str, Any]:
    """Scrapy settings for a worker on a shared Redis frontier (scrapy-redis 0.9).

    Keys are ``adwatch:<profile>:<crawl id>:requests`` / ``:dupefilter``; they persist when a
    worker closes (``SCHEDULER_PERSIST``) so that the first worker to finish does not wipe the
    others' queue. A worker closes after ``idle_seconds`` without work (``MAX_IDLE_TIME_BEFORE_CLOSE``).
    As it closes, it gives the keys a time to live (a day after a finished crawl, a week after a
    stopped one: ``ADWATCH_REDIS_FINISHED_TTL`` / ``ADWATCH_REDIS_UNFINISHED_TTL``, see
    :mod:`crawler.spiders.shared`), so old crawls do not pile up in Redis.

    Args:
        redis_url: the Redis URL.
        profile: the site profile (names the keys).
        crawl_id: names one shared crawl; default ``$ADWATCH_REDIS_CRAWL_ID`` or today's UTC date.
        idle_seconds: seconds idle before a worker closes.
    """
    from datetime import UTC, datetime

    crawl_id = crawl_id or os.environ.get(REDIS_CRAWL_ID_ENV) or datetime.now(UTC).strftime("%Y-%m-%d")
    prefix = f"adwatch:{profile.name}:{crawl_id}"
    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "REDIS_URL": redis_url,
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": f"{prefix}:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"{prefix}:dupefilter",
        "DUPEFILTER_KEY": f"{prefix}:dupefilter",
        "REDIS_START_URLS_KEY": f"{prefix}:start_urls",
        "MAX_IDLE_TIME_BEFORE_CLOSE": idle_seconds,
    }


def crawl_command(
    profile: SiteProfile, *, jobdir: str | Path | None, app: AppSettings | None = None,
    base_url: str | None = None, log_level: str = "INFO", overrides: dict[str, Any] | None = None,
) -> list[str]:
    """The argv of a ``scrapy crawl`` subprocess for ``profile`` (run it with :func:`crawl_env`).

    Args:
        profile: the site profile; its name is passed as ``-a profile=NAME`` (the subprocess finds
            it in ``ADWATCH_SITES_DIR``).
        jobdir: Scrapy JOBDIR (the crawl resumes from it), or None.
        app: application settings for politeness values (default: :func:`get_settings`).
        base_url: ``-a base_url=...`` for profiles with relative start URLs.
        log_level: Scrapy's log level.
        overrides: more ``-s NAME=VALUE`` settings.
    """
    app = app or get_settings()
    values = app_scrapy_settings(app, log_level=log_level)
    values.pop("LOG_INSTALL_ROOT_HANDLER", None)
    if jobdir is not None:
        values["JOBDIR"] = str(jobdir)
    values.update(profile_scrapy_settings(profile))
    values.update(overrides or {})
    argv = [sys.executable, "-m", "scrapy", "crawl", profile.spider, "-a", f"profile={profile.name}"]
    if base_url:
        argv += ["-a", f"base_url={base_url}"]
    for key, value in values.items():
        argv += ["-s", f"{key}={value}"]
    return argv


def crawl_env(app: AppSettings | None = None, database_url: str | None = None) -> dict[str, str]:
    """Environment for a crawl subprocess: this one plus the Scrapy settings module, database and sites."""
    app = app or get_settings()
    return {
        **os.environ,
        "SCRAPY_SETTINGS_MODULE": "crawler.settings",
        "ADWATCH_DATABASE_URL": database_url or app.database_url,
        "ADWATCH_SITES_DIR": str(app.sites_dir),
        "PYTHONUNBUFFERED": "1",
    }


def build_settings(
    app: AppSettings | None = None, *, database_url: str | None = None, log_level: str = "WARNING",
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Scrapy settings for an adwatch crawl: the project's ``crawler.settings`` plus ``app`` values.

    Args:
        app: application settings (default: :func:`config.settings.get_settings`).
        database_url: overrides ``app.database_url``.
        log_level: Scrapy's log level (``WARNING`` keeps the terminal readable; ``INFO`` for detail).
        overrides: any other Scrapy settings.
    """
    app = app or get_settings()
    settings = get_project_settings()
    if settings.get("BOT_NAME") != "adwatch":  # scrapy.cfg not found from this working directory
        settings.setmodule("crawler.settings", priority="project")
    values = app_scrapy_settings(app, log_level=log_level)
    values["ADWATCH_DATABASE_URL"] = database_url or app.database_url
    settings.setdict(values, priority="cmdline")
    if overrides:
        settings.setdict(overrides, priority="cmdline")
    return settings


def _spider_class(profile: SiteProfile) -> type:
    from crawler.spiders.classifieds import ClassifiedsSpider
    from crawler.spiders.jobboard import JobBoardSpider

    classes = {"jobboard": JobBoardSpider, "classifieds": ClassifiedsSpider}
    try:
        return classes[profile.spider]
    except KeyError:
        raise ValueError(f"site profile {profile.name!r}: unknown spider {profile.spider!r} (use one of {sorted(classes)})") from None


def run_crawls(jobs: list[CrawlJob], settings: Settings, progress: Any | None = None) -> list[CrawlResult]:
    """Run ``jobs`` together in this process and return one result per job, in order.

    Args:
        jobs: the crawls.
        settings: from :func:`build_settings`.
        progress: optional ``rich.progress.Progress``; a task per crawl counts pages and ads.

    Raises:
        ValueError: a profile names an unknown spider.
    """
    # Spidermon 1.27 still calls the deprecated Spider.log(); the warning says nothing to a user.
    warnings.filterwarnings("ignore", message=r"Spider\.log\(\) is deprecated", category=Warning)
    process = CrawlerProcess(settings)
    logging.getLogger("scrapy").setLevel(settings.get("LOG_LEVEL"))
    crawlers = []
    for job in jobs:
        if job.warc_files:
            from crawler.spiders.warc import WarcSpider

            crawler = process.create_crawler(WarcSpider)
            crawler.settings.setdict(profile_scrapy_settings(job.profile), priority=PER_CRAWL_PRIORITY)
            process.crawl(crawler, profile=job.profile, warc_files=list(job.warc_files))
            crawlers.append((job, crawler))
            continue
        redis_url = os.environ.get(REDIS_URL_ENV)
        if redis_url:
            from crawler.spiders.shared import shared_spider_class

            crawler = process.create_crawler(shared_spider_class(_spider_class(job.profile)))
            crawler.settings.setdict(redis_scrapy_settings(redis_url, job.profile), priority=PER_CRAWL_PRIORITY)
        else:
            crawler = process.create_crawler(_spider_class(job.profile))
        crawler.settings.setdict(profile_scrapy_settings(job.profile), priority=PER_CRAWL_PRIORITY)
        if redis_url:
            # a worker takes from the shared queue only what it can fetch now: with the global 16 it
            # would hoard requests (waiting out the per-site delay) that an idle worker could fetch
            per_site = crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 8)
            crawler.settings.set("CONCURRENT_REQUESTS", max(1, per_site), priority=PER_CRAWL_PRIORITY)
        if progress is not None:
            task = progress.add_task(job.profile.name, total=None, pages=0, ads=0)
            _attach_progress(crawler, progress, task)
        process.crawl(crawler, profile=job.profile, base_url=job.base_url, max_pages=job.max_pages)
        crawlers.append((job, crawler))
    process.start()
    results = []
    for job, crawler in crawlers:
        stats = dict(crawler.stats.get_stats()) if crawler.stats else {}
        results.append(
            CrawlResult(site=job.profile.name, run_id=stats.get("adwatch/run_id"),
                        finish_reason=stats.get("finish_reason"), stats=stats)
        )
    return results


def _attach_progress(crawler: Any, progress: Any, task: Any) -> None:
    counts = {"pages": 0, "ads": 0}

    def on_response(**_: Any) -> None:
        counts["pages"] += 1
        progress.update(task, advance=1, **counts)

    def on_item(**_: Any) -> None:
        counts["ads"] += 1
        progress.update(task, **counts)

    # keep references: signals hold weak references to receivers
    crawler._adwatch_progress = (on_response, on_item)
    crawler.signals.connect(on_response, signal=signals.response_received)
    crawler.signals.connect(on_item, signal=signals.item_scraped)
