"""The generic listing -> detail Spider that every site profile drives."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from crawler.pages import parse_detail, parse_listing
from crawler.profiles import ProfileError, SiteProfile, load_profile
from crawler.text import canonicalize_url

GONE_STATUSES = (404, 410)
"""HTTP statuses that mean an ad page is gone for good (its stored ad becomes ``expired``)."""

_JSONLD_RE = re.compile(r"<script[^>]*application/ld\+json[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL)
"""A JSON-LD ``<script>`` block (removed to re-read a page whose JSON-LD breaks the parser)."""

_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_H1_RE = re.compile(r"<h1[^>]*>(.*?)</h1\s*>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")

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
    ``adwatch/max_pages_reached``; hardening (issue 6): ``adwatch/pages/soft_404``,
    ``adwatch/pages/parse_error``, ``adwatch/encoding/redecoded``, ``adwatch/encoding/mojibake_fixed``,
    ``adwatch/failed/<kind>`` (a request that ended without a response: ``http_500``,
    ``TimeoutError``, ``max_size``, ``redirect_max``... see :meth:`on_error`).

    Per-site limits from the profile travel on each request's meta: ``download_timeout``,
    ``download_maxsize``, ``max_retry_times`` and ``proxy``; the delay, concurrency and
    redirect limit go into the crawl's settings (:func:`crawler.runner.profile_scrapy_settings`).

    Raises:
        ProfileError: the profile names a SOCKS proxy (Scrapy speaks only HTTP(S) to proxies).
    """

    custom_settings: ClassVar[dict[str, Any]] = {
        # Scrapy starts CONCURRENT_ITEMS (default 100) asyncio tasks for every response's output;
        # a listing page yields one or two dozen requests and a detail page one ad, so 100 tasks
        # per page were pure overhead (about 10% of the crawl's CPU on the demo board).
        "CONCURRENT_ITEMS": 16,
    }

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
        soft = self.profile.soft_404_pattern
        self._soft_404_re = re.compile(soft) if soft else None
        if self.profile.proxy and not self.profile.proxy.startswith(("http://", "https://")):
            raise ProfileError(
                f"profile {self.profile.name!r}: proxy {self.profile.proxy!r}: Scrapy has no SOCKS support; run an "
                "HTTP-to-SOCKS bridge (e.g. privoxy or tor's HTTPTunnelPort) and give its http:// URL"
            )

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

    def request_meta(self, detail: bool = False) -> dict[str, Any]:
        """Meta for a new request: the profile's per-site limits and proxy (plus DETAIL_META for a detail page)."""
        p = self.profile
        meta: dict[str, Any] = dict(DETAIL_META) if detail else {}
        if p.download_timeout:
            meta["download_timeout"] = p.download_timeout
        if p.download_maxsize:
            meta["download_maxsize"] = p.download_maxsize
        if p.retry_times is not None:
            meta["max_retry_times"] = p.retry_times
        if p.proxy:
            meta["proxy"] = p.proxy
        return meta

    def _follow(self, response: Response, url: str, callback: Any) -> Iterator[scrapy.Request]:
        if self._budget():
            meta = self.request_meta(detail=callback == self.parse_detail)
            yield response.follow(url, callback=callback, meta=meta, errback=self.on_error)

    async def start(self) -> AsyncIterator[Any]:
        """Yield a request for each start URL (treated as a listing page)."""
        for url in self.start_urls_resolved:
            if self._budget():
                yield scrapy.Request(url, callback=self.parse, meta=self.request_meta(), errback=self.on_error)

    def on_error(self, failure: Failure) -> None:
        """Count and log a request that ended without a usable response (never raises).

        The kind is ``http_<status>`` for an HTTP error status (after retries), ``max_size`` for a
        body (or a decompressed body: gzip bomb) over ``DOWNLOAD_MAXSIZE``, ``redirect_max`` when
        redirects ran out (a redirect loop), ``ignored`` for other dropped requests, else the
        exception's class name (``TimeoutError``, ``ConnectionRefusedError``, ``ResponseNeverReceived``...).
        Requests already counted by a middleware (media drops, resume skips) are not counted again;
        requests robots.txt forbids are counted as ``adwatch/dropped/robots_forbidden``, not as failures.
        """
        from scrapy.exceptions import IgnoreRequest
        from scrapy.spidermiddlewares.httperror import HttpError

        request = getattr(failure, "request", None)
        exc = failure.value
        if request is not None and request.meta.get("adwatch_counted"):
            return
        message = str(exc)
        if isinstance(exc, HttpError):
            kind = f"http_{exc.response.status}"
        elif "max size" in message.lower() or "maxsize" in message.lower() or "larger than download max" in message.lower():
            kind = "max_size"
        elif isinstance(exc, IgnoreRequest) and "robots.txt" in message:
            # politeness, not a failure: counted apart and left out of adwatch/failed/total
            self.crawler.stats.inc_value("adwatch/dropped/robots_forbidden")
            self.logger.info("not fetched (robots.txt): %s", getattr(request, "url", "?"))
            return
        elif isinstance(exc, IgnoreRequest) and "redirect" in message.lower():
            kind = "redirect_max"
        elif isinstance(exc, IgnoreRequest):
            kind = "ignored"
        else:
            kind = type(exc).__name__
        self.crawler.stats.inc_value(f"adwatch/failed/{kind}")
        self.crawler.stats.inc_value("adwatch/failed/total")
        self.logger.warning("request failed (%s): %s: %s", kind, getattr(request, "url", "?"), message[:200])

    # -- callbacks -----------------------------------------------------------------------------
    def _text(self, response: Response) -> TextResponse | None:
        if isinstance(response, TextResponse):
            return self._redecode(response)
        self.crawler.stats.inc_value("adwatch/pages/not_text")
        self.logger.warning("not a text page, skipped: %s", response.url)
        return None

    def _redecode(self, response: TextResponse) -> TextResponse:
        """Re-decode a page whose declared encoding does not fit its bytes (counted, logged).

        Scrapy (w3lib) trusts, in order, a BOM, the ``Content-Type`` charset, then the page's own
        ``<meta charset>``. When that yields U+FFFD replacement characters or NUL characters (a
        cp1252 page sent as UTF-8, Shift-JIS behind a wrong header, UTF-16 without a BOM) the body
        is decoded strictly with, in turn, the page's own declared encoding, UTF-8, UTF-16 (when the
        body holds NUL bytes) and cp1252; the first that decodes without error wins
        (``adwatch/encoding/redecoded``). A body that has U+FFFD itself is left alone.
        """
        try:
            text = response.text
        except (LookupError, UnicodeError):
            text = "\ufffd"
        if "\ufffd" not in text and "\x00" not in text:
            return response
        body = response.body
        if b"\xef\xbf\xbd" in body:
            return response
        from w3lib.encoding import html_body_declared_encoding, resolve_encoding

        candidates = [html_body_declared_encoding(body), "utf-8"]
        if b"\x00" in body:
            candidates.append("utf-16")
        candidates.append("cp1252")
        for name in candidates:
            enc = resolve_encoding(name) if name else None
            if not enc:
                continue
            try:
                body.decode(enc)
            except (UnicodeDecodeError, LookupError):
                continue
            if enc == response.encoding:
                continue
            self.crawler.stats.inc_value("adwatch/encoding/redecoded")
            self.logger.warning("re-decoded %s as %s (declared %s did not fit)", response.url, enc, response.encoding)
            return response.replace(encoding=enc)
        self.crawler.stats.inc_value("adwatch/encoding/undecodable")
        self.logger.warning("no encoding fits %s; kept %s with replacement characters", response.url, response.encoding)
        return response

    def _soft_404(self, page: TextResponse) -> bool:
        """True when the page's ``<title>`` or first ``<h1>`` matches the profile's ``soft_404_pattern``.

        Read with a regex on the page text (no second HTML parse: this runs on every detail page).
        """
        if self._soft_404_re is None:
            return False
        text = page.text
        heads = [m.group(1) for m in (_TITLE_RE.search(text), _H1_RE.search(text)) if m]
        return any(self._soft_404_re.search(_TAG_RE.sub(" ", h)) for h in heads)

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
        try:
            if self._soft_404(page):
                stats.inc_value("adwatch/pages/soft_404")
                self.logger.info("soft 404 (HTTP %s page says the ad is missing): %s", page.status, page.url)
                yield AdStatusItem(self.stable_url(page.url), "gone", "soft 404", page.status)
                return
            result = self._parse_detail_safely(page)
        except Exception:  # a hostile page must cost one page, never the crawl
            stats.inc_value("adwatch/pages/parse_error")
            self.logger.exception("could not parse %s; skipped", page.url)
            return
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
            self._fix_mojibake(item, page.url)
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


    def _parse_detail_safely(self, page: TextResponse) -> Any:
        """:func:`parse_detail`, and when it raises (JSON-LD nested 100 000 deep exhausts the parser's
        recursion, for one), once more without the page's JSON-LD blocks, counted as
        ``adwatch/jsonld/unparseable``. A second failure propagates to :meth:`parse_detail`."""
        now = datetime.now(UTC)
        try:
            return parse_detail(page.text, page.url, self.profile, now=now)
        except (RecursionError, MemoryError, ValueError, TypeError) as exc:
            self.crawler.stats.inc_value("adwatch/jsonld/unparseable")
            self.logger.warning("JSON-LD of %s could not be parsed (%s); reading the HTML fields only",
                                page.url, type(exc).__name__)
            return parse_detail(_JSONLD_RE.sub("", page.text), page.url, self.profile, now=now)

    def _fix_mojibake(self, item: Any, url: str) -> None:
        """Undo UTF-8-read-as-cp1252 mojibake (``CafÃ©`` -> ``Café``) in the text fields with
        ``ftfy.fix_encoding`` (encoding repair only: quotes and widths are left alone); counted as
        ``adwatch/encoding/mojibake_fixed`` once per item."""
        import ftfy

        from scoring.normalize import looks_like_mojibake

        fixed = False
        for name in ("title", "body", "employer", "location_raw", "contact_raw"):
            value = getattr(item, name, None)
            if isinstance(value, str) and value and not value.isascii() and looks_like_mojibake(value):
                repaired = ftfy.fix_encoding(value)
                if repaired != value:
                    setattr(item, name, repaired)
                    fixed = True
        if fixed:
            self.crawler.stats.inc_value("adwatch/encoding/mojibake_fixed")
            self.logger.info("mojibake repaired on %s", url)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1").strip() or None if value else None
