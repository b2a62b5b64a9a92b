"""The crawled ad item (a dataclass, which Scrapy and itemloaders support through itemadapter).

Field names follow schema.org ``JobPosting`` where one fits (``title``, ``valid_through`` for
``validThrough``, ``employer`` for ``hiringOrganization.name``...). Values that exist in a raw and a
normalised form keep both, as zyte-common-items does for dates (``posted_raw`` / ``posted_date``,
``salary_raw`` / ``salary_min``...).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

__all__ = ["HASHED_FIELDS", "AdItem", "content_sha256"]

HASHED_FIELDS: tuple[str, ...] = ("title", "body", "employer", "location_raw", "salary_raw", "contact_raw")
"""The fields whose normalised text makes up :attr:`AdItem.content_sha256`, in hashing order."""

_WS = re.compile(r"\s+")


def _normalise_for_hash(value: str | None) -> str:
    if not value:
        return ""
    return _WS.sub(" ", unicodedata.normalize("NFKC", value)).strip().casefold()


def content_sha256(
    title: str | None,
    body: str | None,
    employer: str | None,
    location_raw: str | None,
    salary_raw: str | None,
    contact_raw: str | None,
) -> str:
    """Hex SHA-256 of an ad's normalised visible content.

    Each value is Unicode-NFKC-normalised, its whitespace collapsed to single spaces, stripped and
    case-folded; ``None`` counts as ``""``. The six values are joined with the ASCII unit
    separator (``\\x1f``) so that moving text from one field to another changes the hash. Layout
    changes (extra blank lines, ``&nbsp;``, letter case) therefore do not: an unchanged ad hashes
    the same on every crawl.

    Returns:
        64 lower-case hex digits.
    """
    parts = (title, body, employer, location_raw, salary_raw, contact_raw)
    joined = "\x1f".join(_normalise_for_hash(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


@dataclass
class AdItem:
    """One advertisement as extracted from one fetched page.

    Every field has a default so that an ``ItemLoader`` can build the item field by field.
    """

    url: str | None = None
    """The URL the page was fetched from (after redirects)."""

    canonical_url: str | None = None
    """The ad's identity: ``crawler.text.canonicalize_url`` of the posting's own URL (JSON-LD
    ``url``), else the page's ``<link rel=canonical>`` on the same host, else ``url``."""

    site: str | None = None
    """Site profile name (``config/sites/<site>.toml``), or the host name when no profile is used."""

    ad_type: str | None = None
    """``"job"``, ``"escort"`` or ``"other"`` (the profile's ``ad_type``; ``"job"`` for JSON-LD
    JobPostings without a profile)."""

    title: str | None = None
    """schema.org ``title``: the ad's headline, one line of clean text."""

    body: str | None = None
    """schema.org ``description`` as clean text: paragraphs separated by ``"\\n\\n"``, lines by
    ``"\\n"`` (see ``crawler.text.html_to_text``)."""

    employer: str | None = None
    """schema.org ``hiringOrganization.name``: the advertiser as written."""

    location_raw: str | None = None
    """schema.org ``jobLocation`` as written (address parts joined with ``", "``, several places
    with ``"; "``)."""

    salary_raw: str | None = None
    """schema.org ``baseSalary`` as written: the page text, or compact JSON of a JSON-LD
    ``MonetaryAmount``."""

    salary_min: float | None = None
    """Lower bound of the pay, in ``salary_currency`` per ``salary_period`` (``None`` if unknown)."""

    salary_max: float | None = None
    """Upper bound of the pay (equal to ``salary_min`` for a single figure)."""

    salary_currency: str | None = None
    """ISO 4217 code (``"USD"``, ``"GBP"``, ``"KRW"``...) or ``None`` when not stated."""

    salary_period: str | None = None
    """``"hour"``, ``"day"``, ``"week"``, ``"month"``, ``"year"`` or ``None`` when not stated."""

    posted_raw: str | None = None
    """schema.org ``datePosted`` as written (``"2026-11-01"``, ``"2 days ago"``, ``"2026.03.18 00:00:00"``)."""

    posted_date: str | None = None
    """``posted_raw`` as an ISO date (``YYYY-MM-DD``), relative dates resolved against the fetch
    time; ``None`` if it could not be read."""

    valid_through: str | None = None
    """schema.org ``validThrough`` (the application deadline) as an ISO date, or ``None``."""

    contact_raw: str | None = None
    """Contact details as written (schema.org ``applicationContact``, or the profile's ``contact``
    selector), several values separated by ``"\\n"``."""

    fetched_at: str | None = None
    """When the page was fetched or parsed: ISO 8601 datetime in UTC (``2026-07-02T10:00:00+00:00``)."""

    content_sha256: str | None = None
    """Hex SHA-256 of the normalised title, body, employer, location, salary and contact text
    (see :func:`content_sha256`): unchanged ads hash the same across crawls."""

    source: str | None = None
    """Where the fields came from: ``"jsonld"`` (a schema.org JobPosting) or ``"html"`` (the site
    profile's CSS selectors)."""

    http_status: int | None = None
    """HTTP status of the response the page came from, when known."""
    etag: str | None = None
    """The response's ``ETag`` validator, for conditional requests on the next crawl."""
    last_modified: str | None = None
    """The response's ``Last-Modified`` validator, for conditional requests on the next crawl."""
    raw_html: str | None = None
    """The page's HTML, kept only when ``ADWATCH_STORE_RAW_HTML`` is on (purged by ``adwatch purge``)."""
    score: Any = None
    """The :class:`scoring.types.Score` set by ``ScoreAdPipeline`` (None before scoring or when
    scoring is switched off)."""

    def compute_content_sha256(self) -> str:
        """Compute :attr:`content_sha256` from the current field values, store it and return it."""
        self.content_sha256 = content_sha256(
            self.title, self.body, self.employer, self.location_raw, self.salary_raw, self.contact_raw
        )
        return self.content_sha256
