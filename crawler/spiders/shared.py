"""Shared-frontier variants of the profile spiders, for several workers on one Redis (scrapy-redis).

With ``ADWATCH_REDIS_URL`` set, :func:`crawler.runner.run_crawls` crawls with
:func:`shared_spider_class` of the profile's spider and :func:`crawler.runner.redis_scrapy_settings`:
scrapy-redis's scheduler and dupefilter keep one request queue and one set of seen fingerprints in
Redis, so workers on different machines split the site's pages between them and fetch each page
once. Every worker yields the profile's start URLs; the shared dupefilter lets the first through.

A worker built on a plain ``Spider`` would close as soon as its own scheduler looked empty while
another worker still had pages in flight; scrapy-redis's ``RedisMixin`` keeps it alive (its
``spider_idle`` raises ``DontCloseSpider``) until it has been idle for
``MAX_IDLE_TIME_BEFORE_CLOSE`` seconds since its last response, polling the shared queue meanwhile.

Key lifetime: the keys persist when a worker closes (``SCHEDULER_PERSIST``: the others may still
need them), so each worker, as it closes, gives the crawl's keys (request queue, dupefilter, start
URLs) a time to live: ``ADWATCH_REDIS_FINISHED_TTL`` (default 1 day) when it finished with an
empty queue, ``ADWATCH_REDIS_UNFINISHED_TTL`` (default 7 days) otherwise (stopped or failed; a
worker started on the same crawl id within that time resumes the frontier). The last worker to
close sets the final expiry; until then a live worker's keys never expire under it sooner than
the TTL given by the last close. 0 keeps the keys for ever (the old behaviour).
"""

from __future__ import annotations

import time
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy_redis.spiders import RedisMixin  # type: ignore[import-untyped]

from crawler.spiders.base import ProfileSpider

FINISHED_TTL = 24 * 3600
"""Default seconds a finished shared crawl's Redis keys live after its last worker closes."""

UNFINISHED_TTL = 7 * 24 * 3600
"""Default seconds the keys of a stopped or failed shared crawl live (to resume it)."""

KEY_SETTINGS = ("SCHEDULER_QUEUE_KEY", "SCHEDULER_DUPEFILTER_KEY", "REDIS_START_URLS_KEY")
"""Settings naming a shared crawl's Redis keys (:func:`crawler.runner.redis_scrapy_settings`)."""


def expire_frontier(server: Any, keys: list[str], reason: str, finished_ttl: int = FINISHED_TTL,
                    unfinished_ttl: int = UNFINISHED_TTL) -> int:
    """Give a shared crawl's Redis keys a time to live when a worker closes; return the TTL set.

    Args:
        server: a ``redis.Redis`` client.
        keys: the crawl's keys (those that do not exist are skipped by Redis).
        reason: Scrapy's finish reason of the closing worker.
        finished_ttl: seconds, when ``reason`` is ``finished`` and the request queue (``keys[0]``)
            is empty; 0 = no expiry.
        unfinished_ttl: seconds otherwise; 0 = no expiry.
    """
    queue_empty = _queue_len(server, keys[0]) == 0 if keys else True
    ttl = finished_ttl if reason == "finished" and queue_empty else unfinished_ttl
    if ttl > 0:
        for key in keys:
            server.expire(key, ttl)
    return ttl


def _queue_len(server: Any, key: str) -> int:
    kind = server.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    return int({"zset": server.zcard, "list": server.llen}.get(kind, lambda _k: 0)(key))


def shared_spider_class(base: type[ProfileSpider]) -> type[ProfileSpider]:
    """A subclass of ``base`` (same ``name``) that shares its frontier through Redis and waits when idle.

    Args:
        base: ``JobBoardSpider`` or ``ClassifiedsSpider``.

    Returns:
        The class ``Shared<Base>``; build it with ``from_crawler`` as usual.
    """

    class SharedFrontier(RedisMixin, base):  # type: ignore[misc, valid-type]
        """``base`` on a shared Redis frontier (see :mod:`crawler.spiders.shared`)."""

        name = base.name

        @classmethod
        def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Any:
            """Build the spider and connect it to Redis (``REDIS_URL``)."""
            spider = super().from_crawler(crawler, *args, **kwargs)
            spider.setup_redis(crawler)
            # scrapy-redis 0.9.1 sets the idle clock once, at import time (a class attribute): a worker
            # that loaded the scoring model for longer than MAX_IDLE_TIME_BEFORE_CLOSE would close at its
            # first idle moment. Start it now, and restart it on every response.
            spider._touch()
            crawler.signals.connect(spider._touch, signal=signals.spider_opened)
            crawler.signals.connect(spider._touch, signal=signals.response_received)
            crawler.signals.connect(spider._expire_keys, signal=signals.spider_closed)
            return spider

        def _expire_keys(self, spider: Any, reason: str) -> None:
            """Give the crawl's Redis keys their time to live (see :func:`expire_frontier`)."""
            settings = self.crawler.settings
            keys = [k for k in (settings.get(name) for name in KEY_SETTINGS) if k]
            try:
                ttl = expire_frontier(self.server, keys, reason,
                                      settings.getint("ADWATCH_REDIS_FINISHED_TTL", FINISHED_TTL),
                                      settings.getint("ADWATCH_REDIS_UNFINISHED_TTL", UNFINISHED_TTL))
            except Exception:  # Redis gone at close: the keys keep their old expiry; the crawl's result stands
                self.logger.exception("could not set the expiry of the shared frontier's Redis keys %s", keys)
                return
            self.crawler.stats.set_value("adwatch/redis/key_ttl", ttl)

        def _touch(self, *_: Any, **__: Any) -> None:
            """Restart the idle clock (the worker closes after MAX_IDLE_TIME_BEFORE_CLOSE s without work)."""
            self.spider_idle_start_time = int(time.time())

        async def start(self) -> Any:
            """The profile's start URLs (the shared dupefilter drops the copies of other workers)."""
            async for request in ProfileSpider.start(self):
                yield request

    SharedFrontier.__name__ = SharedFrontier.__qualname__ = f"Shared{base.__name__}"
    return SharedFrontier
