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
"""

from __future__ import annotations

import time
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy_redis.spiders import RedisMixin  # type: ignore[import-untyped]

from crawler.spiders.base import ProfileSpider


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
            return spider

        def _touch(self, *_: Any, **__: Any) -> None:
            """Restart the idle clock (the worker closes after MAX_IDLE_TIME_BEFORE_CLOSE s without work)."""
            self.spider_idle_start_time = int(time.time())

        async def start(self) -> Any:
            """The profile's start URLs (the shared dupefilter drops the copies of other workers)."""
            async for request in ProfileSpider.start(self):
                yield request

    SharedFrontier.__name__ = SharedFrontier.__qualname__ = f"Shared{base.__name__}"
    return SharedFrontier
