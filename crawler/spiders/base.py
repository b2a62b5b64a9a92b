"""The generic listing -> detail Spider that every site profile drives."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response, TextResponse

from crawler.pages import parse_detail, parse_listing
from crawler.profiles import SiteProfile, load_profile
from crawler.text import canonicalize_url

GONE_STATUSES = (404, 410)
"""HTTP statuses that mean an ad page is gone for good (its stored ad becomes ``expired``)."""

DETAIL_META = {"adwatch_detail": True, "handle_httpstatus_list": [304, *GONE_STATUSES]}
"""Request meta of detail pages: marks them for the incremental middleware and lets 304/404/410
reach :meth:`ProfileSpider.parse_detail` instead of being dropped by ``HttpErrorMiddleware``."""


@dataclass
class AdStatusItem:
    """Not an ad but news about a stored one, for ``StoreAdPipeline`` (other pipelines pass it on).

    Attributes:
        canonical_url: the ad's key (the stable form of the detail page's URL).
        status: ``"seen"`` (HTTP 304 Not Modified: unchanged, only ``last_seen`` moves) or
            ``"gone"`` (404, 410, soft 404 or an "expired" page: the ad becomes ``expired``).
        reason: why, for ``ad.expired_reason`` (``"HTTP 410"``, the parser's reason...).
        http_status: the response status.
    """

    canonical_url: str
    status: str
    reason: str = ""
    http_status: int | None = None


class ProfileSpider(scrapy.Spider):
    """A Spider configured by a site profile (``config/sites/<name>.toml``).

    Listing pages yield detail links and next-page links (CSS selectors from the profile); detail
    pages are parsed by :func:`crawler.pages.parse_detail` (JSON-LD ``JobPosting`` first, then the
    profile's field selectors).

    Spider arguments (``-a`` on the command line, or keywords to ``CrawlerProcess.crawl``):
        profile: a :class:`SiteProfile` or a profile name/path.
        base_url: fills in relative ``start_urls`` (the demo board's ``http://127.0.0.1:PORT``).
        max_pages: stop scheduling after this many requests (0 = the profile's limit or none).

    Stats written (besides Scrapy's): ``adwatch/pages/listing``, ``adwatch/pages/detail``,
    ``adwatch/pages/expired``, ``adwatch/pages/no_item``, ``adwatch/pages/not_text``,
    ``adwatch/jsonld/broken``, ``adwatch/items/jsonld``, ``adwatch/items/html``,
    ``adwatch/max_pages_reached``.
    """

    def __init__(
        self, profile: SiteProfile | str | None = None, base_url: str | None = None,
        max_pages: int | str = 0, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if profile is None:
            raise ValueError(f"spider {self.name!r} needs a site profile (-a profile=NAME)")
        self.profile: SiteProfile = profile if isinstance(profile, SiteProfile) else load_profile(profile)
        self.base_url = base_url or self.profile.base_url or None
        self.start_urls_resolved = self.profile.resolved_start_urls(self.base_url)
        self.max_pages = int(max_pages) or int(self.profile.max_pages or 0)
        domains = list(self.profile.allowed_domains) or sorted(
            {urlsplit(u).hostname or "" for u in self.start_urls_resolved} - {""}
        )
        self.allowed_domains = domains
        self._scheduled = 0
        pattern = self.profile.links.detail_url_pattern if self.profile.links else None
        self._detail_re = re.compile(pattern) if pattern else None

    def _stable_url(self, url: str) -> str:
        """Rewrite a URL under the run-time ``base_url`` onto the profile's ``canonical_base``."""
        base, stable = (self.base_url or "").rstrip("/"), self.profile.canonical_base.rstrip("/")
        if base and stable and url.startswith(base + "/"):
            return stable + url[len(base):]
        return url

    # -- request budget ------------------------------------------------------------------------
    def _budget(self) -> bool:
        """True while another request may be scheduled under ``max_pages``."""
        if self.max_pages and self._scheduled >= self.max_pages:
            self.crawler.stats.set_value("adwatch/max_pages_reached", True)
            return False
        self._scheduled += 1
        return True

    def stable_url(self, url: str) -> str:
        """The stored key of a page URL: canonicalised and rewritten onto ``canonical_base``."""
        return self._stable_url(canonicalize_url(url))

    def _follow(self, response: Response, url: str, callback: Any) -> Iterator[scrapy.Request]:
        if self._budget():
            meta = dict(DETAIL_META) if callback == self.parse_detail else None
            yield response.follow(url, callback=callback, meta=meta)

    async def start(self) -> AsyncIterator[Any]:
        """Yield a request for each start URL (treated as a listing page)."""
        for url in self.start_urls_resolved:
            if self._budget():
                yield scrapy.Request(url, callback=self.parse)

    # -- callbacks -----------------------------------------------------------------------------
    def _text(self, response: Response) -> TextResponse | None:
        if isinstance(response, TextResponse):
            return response
        self.crawler.stats.inc_value("adwatch/pages/not_text")
        self.logger.warning("not a text page, skipped: %s", response.url)
        return None

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """Parse a listing page: follow detail links, then next-page links."""
        page = self._text(response)
        if page is None:
            return
        self.crawler.stats.inc_value("adwatch/pages/listing")
        details, nexts = parse_listing(page.text, page.url, self.profile)
        for url in details:
            yield from self._follow(page, url, self.parse_detail)
        for url in nexts:
            if self._detail_re and self._detail_re.search(url):
                yield from self._follow(page, url, self.parse_detail)
            else:
                yield from self._follow(page, url, self.parse)

    def parse_detail(self, response: Response) -> Iterator[Any]:
        """Parse a detail page into zero or more AdItems (site, ad_type and status filled in).

        Incremental recrawl: a 304 (the conditional request matched) yields an
        :class:`AdStatusItem` ``seen``; a 404/410, a soft 404 or an expired page yields an
        :class:`AdStatusItem` ``gone``. Each AdItem carries the page's ``etag`` and
        ``last_modified`` validators (and ``raw_html`` when ``ADWATCH_STORE_RAW_HTML`` is on).
        """
        stats = self.crawler.stats
        if response.status == 304:
            stats.inc_value("adwatch/pages/not_modified")
            yield AdStatusItem(self.stable_url(response.url), "seen", "HTTP 304", 304)
            return
        if response.status in GONE_STATUSES:
            stats.inc_value("adwatch/pages/gone")
            yield AdStatusItem(self.stable_url(response.url), "gone", f"HTTP {response.status}", response.status)
            return
        page = self._text(response)
        if page is None:
            return
        stats.inc_value("adwatch/pages/detail")
        result = parse_detail(page.text, page.url, self.profile, now=datetime.now(UTC))
        if result.jsonld_broken:
            stats.inc_value("adwatch/jsonld/broken", result.jsonld_broken)
            self.logger.warning("%d broken JSON-LD block(s) on %s", result.jsonld_broken, page.url)
        if result.expired:
            stats.inc_value("adwatch/pages/expired")
            self.logger.info("expired ad page: %s (%s)", page.url, result.reason)
            yield AdStatusItem(self.stable_url(page.url), "gone", result.reason or "expired page", page.status)
            return
        if not result.items:
            stats.inc_value("adwatch/pages/no_item")
            self.logger.info("no ad found on %s (%s)", page.url, result.reason)
            return
        keep_html = self.crawler.settings.getbool("ADWATCH_STORE_RAW_HTML")
        for item in result.items:
            item.canonical_url = self._stable_url(item.canonical_url or page.url)
            item.site = self.profile.name
            item.ad_type = item.ad_type or self.profile.ad_type
            item.http_status = page.status
            # validators for conditional requests (AdItem fields to add in crawler/items.py; until
            # then plain attributes, read with getattr by StoreAdPipeline)
            item.etag = _header(page, b"ETag")
            item.last_modified = _header(page, b"Last-Modified")
            if keep_html:
                item.raw_html = page.text
            stats.inc_value(f"adwatch/items/{item.source or 'html'}")
            yield item


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1").strip() or None if value else None
