"""Page parsing shared by the spiders and WARC ingestion: pure functions on ``(html, url)``.

* :func:`parse_detail`: a detail page -> ad items. schema.org JobPosting JSON-LD first (works on
  any site, no selectors needed), else the site profile's ``[fields]`` CSS selectors.
* :func:`parse_listing`: a listing page -> absolute detail-page URLs and next-page URLs.

Site-specific knowledge lives in the site profile (``config/sites/*.toml``), not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from scrapy.selector import Selector

from crawler.dates import normalize_date
from crawler.items import AdItem
from crawler.jsonld import extract_job_postings
from crawler.loaders import AdLoader
from crawler.profiles import SiteProfile
from crawler.salary import Salary, normalize_salary
from crawler.text import (
    canonicalize_url,
    clean_inline,
    html_to_text,
    strip_tracking_params,
)

__all__ = ["DetailResult", "parse_detail", "parse_listing"]

_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "sms:", "about:")
# JobPosting text properties appended to the description when it does not already contain them.
_EXTRA_TEXT_PROPERTIES = ("responsibilities", "qualifications", "skills", "educationRequirements",
                          "experienceRequirements", "jobBenefits")


@dataclass
class DetailResult:
    """What :func:`parse_detail` found on one page.

    Attributes:
        items: the ads on the page (usually one; a page may carry several JobPostings).
        expired: True when the page is an expired/removed ad: the profile's ``expired`` selector
            matched, or the profile's title and body selectors found nothing (a soft 404).
            ``items`` is then empty.
        jsonld_broken: JSON-LD blocks that could not be parsed even after cleaning (crawl stats).
        reason: why there are no items (``None`` when there are items).
    """

    items: list[AdItem] = field(default_factory=list)
    expired: bool = False
    jsonld_broken: int = 0
    reason: str | None = None


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now


def _selector(html: str) -> Selector:
    return Selector(text=html if html and html.strip() else "<html></html>")


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def _page_canonical(sel: Selector, url: str) -> str:
    """``<link rel=canonical>`` (or ``og:url``) when it points to a page on the same host, else ``url``.

    A canonical pointing at the site's home page (a common soft-404 pattern) is ignored.
    """
    for css in ('link[rel~="canonical"]::attr(href)', 'meta[property="og:url"]::attr(content)'):
        href = (sel.css(css).get() or "").strip()
        if not href:
            continue
        absolute = urljoin(url, href)
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and _host(absolute) == _host(url) and parts.path not in ("", "/"):
            return canonicalize_url(absolute)
    return canonicalize_url(url)


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return next((v for v in value if v not in (None, "", {}, [])), None)
    return value


def _name_of(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        name = _first(value.get("name") or value.get("legalName"))
        return name if isinstance(name, str) else None
    return value if isinstance(value, str) else None


def _address_text(address: Any) -> str | None:
    address = _first(address)
    if isinstance(address, str):
        return clean_inline(address)
    if not isinstance(address, dict):
        return None
    parts: list[str] = []
    for key in ("streetAddress", "addressLocality", "addressRegion", "postalCode", "addressCountry"):
        value = address.get(key)
        text = _name_of(value) if isinstance(value, (dict, list)) else value
        if isinstance(text, (int, float)):
            text = str(text)
        if isinstance(text, str):
            text = clean_inline(text)
            if text and text not in parts:
                parts.append(text)
    if parts:
        return ", ".join(parts)
    name = address.get("name")
    return clean_inline(name) if isinstance(name, str) else None


def _location_text(posting: dict[str, Any]) -> str | None:
    places = posting.get("jobLocation")
    places = places if isinstance(places, list) else [places]
    texts: list[str] = []
    for place in places:
        text: str | None = None
        if isinstance(place, str):
            text = clean_inline(place)
        elif isinstance(place, dict):
            text = _address_text(place.get("address"))
            if not text and isinstance(place.get("name"), str):
                text = clean_inline(place["name"])
        if text and text not in texts:
            texts.append(text)
    location_type = posting.get("jobLocationType")
    remote = any(isinstance(t, str) and t.upper() == "TELECOMMUTE"
                 for t in (location_type if isinstance(location_type, list) else [location_type]))
    if remote:
        requirement = posting.get("applicantLocationRequirements")
        requirements = requirement if isinstance(requirement, list) else [requirement]
        names = [n for n in (_name_of(r) for r in requirements) if n]
        texts.append("Remote" + (f" ({', '.join(names)})" if names else ""))
    return "; ".join(texts) or None


def _contacts(posting: dict[str, Any]) -> list[str]:
    out: list[str] = []
    sources = posting.get("applicationContact")
    sources = sources if isinstance(sources, list) else [sources]
    org = _first(posting.get("hiringOrganization"))
    for source in [*sources, org if isinstance(org, dict) else None]:
        if isinstance(source, str):
            out.append(source)
        elif isinstance(source, dict):
            keys = ("telephone", "email") if source is org else ("name", "telephone", "email", "url")
            for key in keys:
                value = _first(source.get(key))
                if isinstance(value, str) and value.strip() and value.strip() not in out:
                    out.append(value.strip())
    return out


def _text_value(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


def _body_parts(posting: dict[str, Any]) -> list[str]:
    description = posting.get("description")
    parts = [d for d in (description if isinstance(description, list) else [description]) if isinstance(d, str)]
    seen = " ".join(html_to_text(p) for p in parts)
    for key in _EXTRA_TEXT_PROPERTIES:
        value = _text_value(posting.get(key))
        if value:
            text = html_to_text(value)
            if text and text not in seen:
                parts.append(value)
                seen += " " + text
    return parts


def _item_from_posting(posting: dict[str, Any], url: str, page_canonical: str, site: str, ad_type: str) -> AdItem:
    loader = AdLoader()
    loader.add_value("url", url)
    own_url = _text_value(posting.get("url"))
    canonical = page_canonical
    if own_url:
        absolute = urljoin(url, own_url.strip())
        if urlsplit(absolute).scheme in ("http", "https"):
            canonical = canonicalize_url(absolute)
    loader.add_value("canonical_url", canonical)
    loader.add_value("site", site)
    loader.add_value("ad_type", ad_type)
    loader.add_value("title", _text_value(posting.get("title")) or _text_value(posting.get("name")))
    loader.add_value("body", _body_parts(posting))
    loader.add_value("employer", _name_of(posting.get("hiringOrganization")))
    loader.add_value("location_raw", _location_text(posting))
    salary = posting.get("baseSalary") or posting.get("estimatedSalary")
    if salary not in (None, "", {}, []):
        loader.add_value("salary_raw", salary)
    loader.add_value("posted_raw", _text_value(posting.get("datePosted")))
    loader.add_value("valid_through", _text_value(posting.get("validThrough")))
    loader.add_value("contact_raw", _contacts(posting))
    loader.add_value("source", "jsonld")
    item: AdItem = loader.load_item()
    if salary not in (None, "", {}, []):
        normalised = normalize_salary(salary)
        currency = posting.get("salaryCurrency")
        if normalised["currency"] is None and isinstance(currency, str) and currency.strip():
            normalised["currency"] = currency.strip().upper()
        _set_salary(item, normalised)
    return item


def _set_salary(item: AdItem, salary: Salary) -> None:
    item.salary_min = salary["min"]
    item.salary_max = salary["max"]
    item.salary_currency = salary["currency"]
    item.salary_period = salary["period"]


def _finalize(item: AdItem, now: datetime, http_status: int | None) -> AdItem:
    """Fill the derived fields: normalised salary and dates, fetch time, status, content hash."""
    if item.salary_raw and item.salary_min is None and item.salary_max is None and item.salary_currency is None:
        _set_salary(item, normalize_salary(item.salary_raw))
    item.posted_date = normalize_date(item.posted_raw, now)
    item.valid_through = normalize_date(item.valid_through, now)
    item.fetched_at = now.astimezone(UTC).isoformat()
    item.http_status = http_status
    item.compute_content_sha256()
    return item


def _item_from_fields(sel: Selector, url: str, page_canonical: str, profile: SiteProfile) -> AdItem:
    loader = AdLoader(selector=sel)
    loader.add_value("url", url)
    loader.add_value("canonical_url", page_canonical)
    loader.add_value("site", profile.name)
    loader.add_value("ad_type", profile.ad_type)
    fields = profile.fields
    for item_field, selectors in (
        ("title", fields.title),
        ("body", fields.body),
        ("employer", fields.employer),
        ("location_raw", fields.location),
        ("salary_raw", fields.salary),
        ("posted_raw", fields.posted),
        ("valid_through", fields.valid_through),
        ("contact_raw", fields.contact),
    ):
        loader.add_first_css(item_field, selectors)
    loader.add_value("source", "html")
    item: AdItem = loader.load_item()
    return item


def parse_detail(
    html: str,
    url: str,
    profile: SiteProfile | None,
    now: datetime | None = None,
    *,
    http_status: int | None = None,
) -> DetailResult:
    """Extract the ad(s) on a detail page.

    Order: (1) if the profile's ``fields.expired`` selector matches, the page is expired;
    (2) every schema.org JobPosting in the page's JSON-LD becomes an item (``source="jsonld"``);
    (3) otherwise the profile's ``[fields]`` selectors are used (``source="html"``); if they find
    neither a title nor a body the page is treated as expired (soft 404). A page with neither a
    title nor a body never yields an item.

    Args:
        html: the page's HTML (``response.text``); may be empty.
        url: the page's URL (``response.url``), used to resolve relative URLs.
        profile: the site profile, or ``None`` (then only JSON-LD is used; ``site`` is the host
            name and ``ad_type`` ``"job"``).
        now: fetch time, the reference for relative dates and ``fetched_at``; default the
            current time. A naive datetime is taken as UTC.
        http_status: the response status, copied to ``AdItem.http_status``.

    Returns:
        A :class:`DetailResult`. Never raises on malformed HTML or JSON-LD.
    """
    html = html or ""
    now = _utc(now)
    sel = _selector(html)
    postings, broken = extract_job_postings(html, url)

    if profile is not None and profile.fields.expired:
        for css in profile.fields.expired:
            if sel.css(css):
                return DetailResult([], True, broken, f"expired selector matched: {css}")

    site = profile.name if profile is not None else (urlsplit(url).hostname or "")
    ad_type = profile.ad_type if profile is not None else "job"
    page_canonical = _page_canonical(sel, url)

    items: list[AdItem] = []
    for posting in postings:
        item = _item_from_posting(posting, url, page_canonical, site, ad_type)
        if item.title or item.body:
            items.append(_finalize(item, now, http_status))
    if items:
        live = [i for i in items if not _past(i.valid_through, now)]
        if not live:
            return DetailResult([], True, broken, f"validThrough {items[0].valid_through} has passed")
        return DetailResult(live, False, broken, None)

    if profile is None or not (profile.fields.title or profile.fields.body):
        what = "JSON-LD JobPosting without title or description" if postings else "no JSON-LD JobPosting"
        return DetailResult([], False, broken, f"{what} and no [fields] title/body selectors")

    item = _item_from_fields(sel, url, page_canonical, profile)
    if not item.title and not item.body:
        return DetailResult([], True, broken, "no title and no body (soft 404 or expired page)")
    item = _finalize(item, now, http_status)
    if _past(item.valid_through, now):
        return DetailResult([], True, broken, f"valid through {item.valid_through}, which has passed")
    return DetailResult([item], False, broken, None)


def _past(valid_through: str | None, now: datetime) -> bool:
    """True when an ad's normalised ``valid_through`` date (ISO) is before ``now``'s date."""
    if not valid_through:
        return False
    try:
        return datetime.fromisoformat(valid_through[:10]).date() < now.date()
    except ValueError:
        return False


def _absolute_links(hrefs: list[str], base: str) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for href in hrefs:
        href = (href or "").strip()
        if not href or href.startswith("#") or href.lower().startswith(_SKIP_SCHEMES):
            continue
        absolute = urljoin(base, href)
        if urlsplit(absolute).scheme not in ("http", "https"):
            continue
        absolute = strip_tracking_params(absolute, keep_fragment=False)
        key = canonicalize_url(absolute)
        if key not in seen:
            seen.add(key)
            out.append(absolute)
    return out


def parse_listing(html: str, url: str, profile: SiteProfile) -> tuple[list[str], list[str]]:
    """Find the detail-page links and next-page links on a listing page.

    Detail links: the values of ``profile.links.detail`` selectors (every selector's matches, in
    order); with no detail selector but a ``detail_url_pattern``, every ``a[href]`` on the page.
    When ``detail_url_pattern`` is set, only URLs it matches (``re.search``) are kept. Next
    links: the values of ``profile.links.next`` selectors, minus the page itself and detail links.

    URLs are resolved against ``<base href>`` or ``url``; ``javascript:``/``mailto:``/``tel:``
    links and bare fragments are skipped; fragments and tracking parameters (``utm_*``, ``trk``,
    ``refId``... see ``crawler.text.TRACKING_PARAMS``) are removed; duplicates (same canonical
    URL) are dropped, keeping page order.

    Args:
        html: the listing page's HTML (``response.text``).
        url: the listing page's URL (``response.url``).
        profile: the site profile whose ``[links]`` table is used.

    Returns:
        ``(detail_urls, next_urls)``: absolute http(s) URLs.
    """
    sel = _selector(html)
    base_href = (sel.css("base::attr(href)").get() or "").strip()
    base = urljoin(url, base_href) if base_href else url
    links = profile.links

    if links.detail:
        raw_details = [v for css in links.detail for v in sel.css(css).getall()]
    elif links.detail_url_pattern:
        raw_details = sel.css("a::attr(href)").getall()
    else:
        raw_details = []
    details = _absolute_links(raw_details, base)
    if links.detail_url_pattern:
        pattern = re.compile(links.detail_url_pattern)
        details = [d for d in details if pattern.search(d)]

    raw_next = [v for css in links.next for v in sel.css(css).getall()]
    exclude = {canonicalize_url(url), *(canonicalize_url(d) for d in details)}
    nexts = [n for n in _absolute_links(raw_next, base) if canonicalize_url(n) not in exclude]
    return details, nexts
