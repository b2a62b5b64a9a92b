"""Site profiles: ``config/sites/<name>.toml`` loaded into typed pydantic models.

The schema is the shared contract in ``notes/profile-schema.md``. Selector values may be written as
one string or a list of strings; the models always hold a list (first non-empty match wins).
Unknown keys are an error. Every loading error is a :class:`ProfileError` whose message names the file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

__all__ = ["Fields", "Links", "ProfileError", "Schedule", "SiteProfile", "list_profiles", "load_profile"]


class ProfileError(ValueError):
    """A site profile is missing, is not valid TOML, or does not match the schema (message names the file)."""


def _as_selector_list(value: Any) -> Any:
    """Accept ``"sel"``, ``["sel", ...]`` or nothing; return a list of non-blank strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [v for v in value if not (isinstance(v, str) and not v.strip())]
    return value


Selectors = Annotated[list[str], BeforeValidator(_as_selector_list)]
"""One CSS selector or a list of them (Scrapy/parsel syntax, ``::text`` and ``::attr(name)`` allowed)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(_Strict):
    """When to crawl the site (used by the scheduler, a later issue)."""

    cron: str
    """Five-field cron expression, e.g. ``"0 2 * * *"``."""
    timezone: str = "UTC"
    """IANA time-zone name the cron expression is read in."""


class Links(_Strict):
    """How to follow a listing page (``[links]`` table)."""

    detail: Selectors = []
    """Selectors for links to detail pages on listing pages, e.g. ``"a.job-link::attr(href)"``."""
    next: Selectors = []
    """Selectors for the next listing page, e.g. ``"a[rel=next]::attr(href)"``."""
    detail_url_pattern: str | None = None
    """Regex (``re.search``): a URL that matches is a detail page. In ``parse_listing`` it filters the
    detail-selector matches, or, with no detail selector, picks detail links among all ``a[href]``."""

    @field_validator("detail_url_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"detail_url_pattern {value!r} is not a valid regex: {exc}") from exc
        return value or None

    def is_detail_url(self, url: str) -> bool:
        """True if ``detail_url_pattern`` is set and matches ``url``."""
        return bool(self.detail_url_pattern and re.search(self.detail_url_pattern, url))


class Fields(_Strict):
    """CSS selectors for detail pages without a JSON-LD JobPosting (``[fields]`` table).

    A selector with ``::text`` or ``::attr(...)`` yields text; one without selects elements whose
    HTML is turned into text (``crawler.text.html_to_text``). Each may be a list: the first
    selector with a non-empty result wins.
    """

    title: Selectors = []
    body: Selectors = []
    employer: Selectors = []
    location: Selectors = []
    salary: Selectors = []
    posted: Selectors = []
    valid_through: Selectors = []
    """Application deadline (schema.org ``validThrough``). An addition to the shared schema."""
    contact: Selectors = []
    expired: Selectors = []
    """If any of these matches, the page is an expired ad and yields no item."""


class SiteProfile(_Strict):
    """One site profile (``config/sites/<name>.toml``); see ``notes/profile-schema.md``."""

    name: str = Field(min_length=1)
    """Unique profile name, equal to the file stem."""
    spider: Literal["jobboard", "classifieds"] = "jobboard"
    """Which generic spider crawls the site."""
    ad_type: Literal["job", "escort", "other"] = "job"
    """Default ad type of the site's ads."""
    start_urls: list[str] = []
    """Absolute URLs, or paths relative to ``base_url``."""
    base_url: str = ""
    """Base for relative ``start_urls``; the demo fills it in at run time."""
    canonical_base: str = ""
    """Stable origin for ads fetched under a run-time ``base_url`` (the demo board listens on a free
    port each run): ``http://127.0.0.1:PORT/jobs/1.html`` is stored as ``<canonical_base>/jobs/1.html``
    so that a second run recognises the same ads. Empty: URLs are kept as fetched."""
    allowed_domains: list[str] = []
    """Domains the crawl may visit; empty = the domains of the start URLs."""
    max_pages: int = Field(default=0, ge=0)
    """Most pages to fetch (listing + detail); 0 = no limit."""
    download_delay: float = Field(default=0.0, ge=0.0)
    """Seconds between requests to the site."""
    default_region: str | None = None
    """ISO 3166-1 alpha-2 region for phone numbers without a country code (``None``: the app setting)."""
    enabled: bool = True
    """Whether scheduled/default crawls include this site."""
    # -- politeness and hardening (issue 6); 0 / None = the crawl-wide setting ---------------------
    concurrency: int = Field(default=0, ge=0)
    """Most requests in flight to the site at once (``CONCURRENT_REQUESTS_PER_DOMAIN``); 0 = global."""
    download_timeout: float = Field(default=0.0, ge=0.0)
    """Seconds before a request times out (``DOWNLOAD_TIMEOUT``); 0 = global (30 s)."""
    download_maxsize: int = Field(default=0, ge=0)
    """Largest response body in bytes, after decompression (``DOWNLOAD_MAXSIZE``); 0 = global (10 MiB)."""
    retry_times: int | None = Field(default=None, ge=0)
    """Retries of a failed request (``RETRY_TIMES``); None = global (2)."""
    retry_backoff: float = Field(default=1.0, ge=0.0)
    """Base of the exponential backoff before retry n: ``retry_backoff * 2 ** (n - 1)`` seconds
    (capped at 60 s), applied by :class:`crawler.middlewares.RetryBackoffDownloaderMiddleware`."""
    max_depth: int = Field(default=0, ge=0)
    """Most links followed from a start URL (trap guard); 0 = no limit."""
    max_query_variants: int = Field(default=0, ge=0)
    """Most distinct query strings followed per URL path (pagination/calendar/session-id traps);
    0 = no limit."""
    max_segment_repeats: int = Field(default=3, ge=0)
    """Most times one path segment may occur in a URL (``/a/b/a/b/a/...`` loops); 0 = no limit."""
    max_redirects: int = Field(default=0, ge=0)
    """Most redirects followed per request (``REDIRECT_MAX_TIMES``); 0 = global (20)."""
    soft_404_pattern: str | None = (
        r"(?i)\b(?:404|page not found|not found|no longer (?:available|exists)|has been removed|"
        r"does(?: not|n't) exist)\b"
    )
    """Regex searched in a detail page's ``<title>`` and first ``<h1>``: a match is a soft 404 (HTTP
    200 answering a missing ad), counted as ``adwatch/pages/soft_404``. Empty: no check."""
    media_enabled: bool = False
    """Download images, video and audio from this site (off: the no-media middleware drops them)."""
    proxy: str | None = None
    """Proxy for every request to this site: ``http://host:port`` or ``https://...`` (Scrapy's
    ``HttpProxyMiddleware``). ``socks5://``/``socks5h://`` (e.g. a Tor proxy the user runs, for
    .onion sites) needs an HTTP-to-SOCKS bridge: Scrapy has no SOCKS support, so such a profile is
    refused by :func:`crawler.runner.profile_scrapy_settings`. None: no proxy (the default)."""
    schedule: Schedule | None = None
    links: Links = Links()
    fields: Fields = Fields()

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "socks5", "socks5h", "socks4") or not parts.hostname:
            raise ValueError(f"proxy {value!r} must be a URL like http://host:port or socks5h://host:port")
        return value

    @field_validator("soft_404_pattern")
    @classmethod
    def _soft_404(cls, value: str | None) -> str | None:
        if value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"soft_404_pattern {value!r} is not a valid regex: {exc}") from exc
        return value or None

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError(f"default_region {value!r} must be a two-letter ISO 3166-1 code")
        return value.upper()

    def resolved_start_urls(self, base_url: str | None = None) -> list[str]:
        """The start URLs made absolute.

        Args:
            base_url: overrides the profile's ``base_url`` (the demo passes ``http://127.0.0.1:PORT``).

        Returns:
            Absolute URLs, in profile order.

        Raises:
            ProfileError: a start URL is relative and there is no base URL.
        """
        base = base_url or self.base_url
        out = []
        for url in self.start_urls:
            if urlsplit(url).scheme in ("http", "https"):
                out.append(url)
            elif base:
                out.append(urljoin(base if base.endswith("/") else base + "/", url))
            else:
                raise ProfileError(f"profile {self.name!r}: start URL {url!r} is relative and no base_url is set")
        return out

    def resolved_allowed_domains(self, base_url: str | None = None) -> list[str]:
        """``allowed_domains``, or, when empty, the host names of :meth:`resolved_start_urls`."""
        if self.allowed_domains:
            return list(self.allowed_domains)
        hosts: list[str] = []
        for url in self.resolved_start_urls(base_url):
            host = urlsplit(url).hostname
            if host and host not in hosts:
                hosts.append(host)
        return hosts


def _sites_dir(sites_dir: Path | None) -> Path:
    if sites_dir is not None:
        return Path(sites_dir)
    from config.settings import get_settings

    return Path(get_settings().sites_dir)


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key {where!r}")
        else:
            lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def _load_file(path: Path) -> SiteProfile:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read site profile: {exc}") from exc
    data.setdefault("name", path.stem)
    try:
        profile = SiteProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{path}: invalid site profile: {_format_errors(exc)}") from exc
    if profile.name != path.stem:
        raise ProfileError(f"{path}: name {profile.name!r} must equal the file name stem {path.stem!r}")
    return profile


def load_profile(name_or_path: str | Path, sites_dir: Path | None = None) -> SiteProfile:
    """Load one site profile.

    Args:
        name_or_path: a profile name (``"work24"`` -> ``<sites_dir>/work24.toml``) or a path to a
            ``.toml`` file.
        sites_dir: folder of profiles; ``None`` -> ``config.settings.get_settings().sites_dir``.

    Returns:
        The validated :class:`SiteProfile`.

    Raises:
        ProfileError: the file does not exist, is not valid TOML, has unknown keys or bad values,
            or its ``name`` differs from the file stem. The message names the file.
    """
    text = str(name_or_path)
    candidate = Path(text)
    if text.endswith(".toml") or candidate.is_file() or "/" in text or "\\" in text:
        path = candidate
    else:
        path = _sites_dir(sites_dir) / f"{text}.toml"
    if not path.is_file():
        folder = path.parent
        known = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
        raise ProfileError(f"{path}: no such site profile (known in {folder}: {', '.join(known) or 'none'})")
    return _load_file(path)


def list_profiles(sites_dir: Path | None = None) -> list[SiteProfile]:
    """Load every ``*.toml`` profile in ``sites_dir`` (default: the settings' ``sites_dir``), sorted by name.

    Raises:
        ProfileError: a profile file is invalid (the message names it).
    """
    folder = _sites_dir(sites_dir)
    if not folder.is_dir():
        return []
    return [_load_file(path) for path in sorted(folder.glob("*.toml"))]
