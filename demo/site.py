"""Pages of adwatch's offline demo board, built in memory from shipped data.

The board has two sections:

* ``/jobs/``: every row of the EMSCAD sample ``data/emscad-fj-small/fj_small.csv`` (358 real job
  ads, see its ``PROVENANCE.txt``) as a listing with pagination and one detail page per ad. Ads with an
  even ``job_id`` carry a schema.org ``JobPosting`` in JSON-LD (some of them deliberately messy, as real
  sites ship them, see :func:`jsonld_variant`); ads with an odd ``job_id`` carry the posting only in
  HTML, with the CSS classes that ``config/sites/demo-jobs.toml`` selects. EMSCAD's ``fraudulent``
  label is never rendered.
* ``/classifieds/``: fictional escort-style ads written for the demo (``demo/data/classifieds.jsonl``;
  phone numbers only in the reserved 555-01xx range), selected by ``config/sites/demo-classifieds.toml``.

Plus a home page, ``/robots.txt`` (disallows :data:`ROBOTS_DISALLOW`) and a staff page under that path
which the jobs listing links to, so a polite crawler's robots filtering shows in its stats.

Nothing is read at import time; :func:`build_site` builds every page in well under a second.
"""

from __future__ import annotations

import csv
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

DEMO_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = DEMO_DIR.parent
DEFAULT_JOBS_CSV = PROJECT_ROOT / "data" / "emscad-fj-small" / "fj_small.csv"
"""The EMSCAD sample the job board is built from (358 rows, 18 columns)."""
DEFAULT_CLASSIFIEDS = DEMO_DIR / "data" / "classifieds.jsonl"
"""The fictional classified ads (one JSON object per line)."""

SITE_NAME = "Lakeside Board"
JOBS_PER_PAGE = 25
ADS_PER_PAGE = 20
ROBOTS_DISALLOW = "/private/"
"""The one path prefix ``/robots.txt`` disallows."""
PRIVATE_JOB_PATH = "/private/jobs/1001.html"
"""A staff-only draft posting; page 1 of the jobs listing links to it with the ``job-link`` class."""

HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
CSS_TYPE = "text/css; charset=utf-8"

JSONLD_VARIANTS = ("clean", "escaped-html", "trailing-semicolon", "html-comment", "cdata", "graph")
"""Shapes of the JSON-LD block on JSON-LD pages; all but ``clean`` are the messy kinds real sites ship
(shared cases ``crawl-01`` .. ``crawl-03``: extruct#109, extruct#34, WP-Job-Manager#3027)."""
_MESSY_EVERY = 40  # of the JSON-LD pages, (job_id // 2) % 40 in 1..5 picks a messy variant

EMSCAD_COLUMNS = (
    "job_id", "title", "location", "department", "salary_range", "company_profile", "description",
    "requirements", "benefits", "telecommuting", "has_company_logo", "has_questions",
    "employment_type", "required_experience", "required_education", "industry", "function",
    "fraudulent",
)

_EMPLOYMENT_TYPES = {
    "Full-time": "FULL_TIME", "Part-time": "PART_TIME", "Contract": "CONTRACTOR",
    "Temporary": "TEMPORARY", "Other": "OTHER",
}
_CURRENCIES = {  # country -> (ISO 4217 code, display symbol)
    "US": ("USD", "$"), "GB": ("GBP", "£"), "CA": ("CAD", "CA$"), "AU": ("AUD", "A$"),
    "NZ": ("NZD", "NZ$"), "PH": ("PHP", "₱"), "JP": ("JPY", "¥"), "IN": ("INR", "₹"),
    "GR": ("EUR", "€"), "DE": ("EUR", "€"), "IE": ("EUR", "€"), "MT": ("EUR", "€"), "FR": ("EUR", "€"),
    "BE": ("EUR", "€"), "FI": ("EUR", "€"), "EE": ("EUR", "€"), "LV": ("EUR", "€"),
}
_PERIOD_WORDS = {"YEAR": "a year", "MONTH": "a month", "HOUR": "an hour"}


class DemoDataError(ValueError):
    """A demo data file is missing a column or holds a value that cannot be read (message names the file)."""


class Page(NamedTuple):
    """One servable resource: ``content_type`` (with charset) and the encoded ``body``."""

    content_type: str
    body: bytes


@dataclass(frozen=True)
class JobRow:
    """One EMSCAD row as the board shows it (text HTML-unescaped and stripped; no ``fraudulent`` label)."""

    job_id: int
    title: str
    location: str
    department: str
    salary_range: str
    company_profile: str
    description: str
    requirements: str
    benefits: str
    telecommuting: bool
    has_company_logo: bool
    has_questions: bool
    employment_type: str
    required_experience: str
    required_education: str
    industry: str
    function: str


@dataclass(frozen=True)
class ClassifiedAd:
    """One fictional classified ad from ``classifieds.jsonl``.

    Attributes:
        id: numeric post id (the detail page is ``/classifieds/ad/<id>.html``).
        city: "City, ST" as shown on the page.
        posted: local time of posting, ISO 8601 without offset (``2026-10-03T21:40:00``).
        title, body: ad text; ``body`` paragraphs are separated by blank lines.
        phone: the contact number exactly as displayed (sometimes obfuscated: "312-555-O147").
        phone_digits: the same number as 10 digits (always ``NPA55501xx``).
        price: price as displayed, or ``None``.
        label: ``"indicator"`` (written with trafficking indicators) or ``"benign"``; never rendered.
        cues: which indicator kinds the ad was written to show (Ibanez & Suthers, HICSS 2014; Latonero
            et al. 2011; ILO 2012 forced-labour indicators); never rendered.
    """

    id: int
    city: str
    posted: str
    title: str
    body: str
    phone: str
    phone_digits: str
    price: str | None
    label: str
    cues: tuple[str, ...]


@dataclass(frozen=True)
class Salary:
    """A salary range read from EMSCAD's ``salary_range`` ("55000-75000").

    ``period`` is a schema.org ``unitText``: ``YEAR`` when ``max >= 10000``, ``MONTH`` when
    ``max >= 1000``, else ``HOUR`` (EMSCAD gives no unit; this rule is the demo's own guess).
    ``currency`` is the ISO 4217 code of the ad's country, ``None`` when unknown.
    """

    min: int
    max: int
    period: str
    currency: str | None
    symbol: str | None


# -------------------------------------------------------------------------------------------------
# Loading
# -------------------------------------------------------------------------------------------------

def _clean(text: str) -> str:
    """EMSCAD text is HTML-escaped page text (``&amp;``, ``&nbsp;``): unescape once, strip."""
    return html.unescape(text).strip()


def load_jobs(path: str | Path | None = None) -> list[JobRow]:
    """Read the EMSCAD CSV (quoted multi-line fields) into :class:`JobRow` objects, in file order.

    Args:
        path: the CSV; default :data:`DEFAULT_JOBS_CSV`.

    Raises:
        FileNotFoundError: the file does not exist.
        DemoDataError: a column is missing or a ``job_id`` is not an integer or is repeated.
    """
    path = Path(path) if path is not None else DEFAULT_JOBS_CSV
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in EMSCAD_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise DemoDataError(f"{path}: missing EMSCAD column(s) {missing}")
        jobs: list[JobRow] = []
        seen: set[int] = set()
        for line_no, row in enumerate(reader, start=2):
            try:
                job_id = int(row["job_id"])
            except ValueError:
                raise DemoDataError(f"{path}: record {line_no}: job_id {row['job_id']!r} is not an integer") from None
            if job_id in seen:
                raise DemoDataError(f"{path}: job_id {job_id} is repeated")
            seen.add(job_id)
            jobs.append(JobRow(
                job_id=job_id,
                title=_clean(row["title"]),
                location=row["location"].strip(),
                department=_clean(row["department"]),
                salary_range=row["salary_range"].strip(),
                company_profile=_clean(row["company_profile"]),
                description=_clean(row["description"]),
                requirements=_clean(row["requirements"]),
                benefits=_clean(row["benefits"]),
                telecommuting=row["telecommuting"].strip() == "1",
                has_company_logo=row["has_company_logo"].strip() == "1",
                has_questions=row["has_questions"].strip() == "1",
                employment_type=row["employment_type"].strip(),
                required_experience=row["required_experience"].strip(),
                required_education=row["required_education"].strip(),
                industry=_clean(row["industry"]),
                function=_clean(row["function"]),
            ))
    return jobs


def load_classifieds(path: str | Path | None = None) -> list[ClassifiedAd]:
    """Read the fictional classified ads (JSON Lines) into :class:`ClassifiedAd` objects, in file order.

    Args:
        path: the JSONL file; default :data:`DEFAULT_CLASSIFIEDS`.

    Raises:
        FileNotFoundError: the file does not exist.
        DemoDataError: a line is not JSON, lacks a key, repeats an id, or has a phone outside 555-01xx.
    """
    path = Path(path) if path is not None else DEFAULT_CLASSIFIEDS
    ads: list[ClassifiedAd] = []
    seen: set[int] = set()
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                ad = ClassifiedAd(
                    id=int(obj["id"]), city=obj["city"], posted=obj["posted"], title=obj["title"],
                    body=obj["body"], phone=obj["phone"], phone_digits=obj["phone_digits"],
                    price=obj.get("price"), label=obj["label"], cues=tuple(obj.get("cues", ())),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise DemoDataError(f"{path}: line {line_no}: {exc!r}") from None
            if not re.fullmatch(r"\d{3}55501\d\d", ad.phone_digits):
                raise DemoDataError(f"{path}: line {line_no}: phone {ad.phone_digits!r} is not in 555-01xx")
            if ad.id in seen:
                raise DemoDataError(f"{path}: line {line_no}: id {ad.id} is repeated")
            seen.add(ad.id)
            ads.append(ad)
    return ads


# -------------------------------------------------------------------------------------------------
# Deterministic per-ad choices
# -------------------------------------------------------------------------------------------------

def has_jsonld(job_id: int) -> bool:
    """True when the job's detail page carries a JSON-LD ``JobPosting`` (even ``job_id``; 201 of 358)."""
    return job_id % 2 == 0


def jsonld_variant(job_id: int) -> str | None:
    """Which JSON-LD shape the job's page uses, or ``None`` for an HTML-only page.

    Of the JSON-LD pages, those with ``(job_id // 2) % 40`` in 1..5 get one messy shape each
    (``escaped-html``, ``trailing-semicolon``, ``html-comment``, ``cdata``, ``graph``); the rest are
    ``clean``. See :data:`JSONLD_VARIANTS`.
    """
    if not has_jsonld(job_id):
        return None
    k = (job_id // 2) % _MESSY_EVERY
    return JSONLD_VARIANTS[k] if 1 <= k < len(JSONLD_VARIANTS) else "clean"


def is_expired(job_id: int) -> bool:
    """True for the few jobs (``job_id % 29 == 0``) shown as closed: past ``validThrough``, and on
    HTML-only pages a ``.job-expired`` notice."""
    return job_id % 29 == 0


def job_dates(job_id: int) -> tuple[date, date]:
    """``(datePosted, validThrough)`` for a job, deterministic from ``job_id``.

    ``datePosted`` falls in 2026-01-05 .. 2026-11-21. ``validThrough`` is 400..579 days later (so the
    demo's ads stay open when it is run in 2026 and 2027), except for :func:`is_expired` jobs, whose
    ``validThrough`` is 30 days after posting, still in 2026 and in the past.
    """
    posted = date(2026, 1, 5) + timedelta(days=(job_id * 37) % 321)
    if is_expired(job_id):
        return posted, posted + timedelta(days=30)
    return posted, posted + timedelta(days=400 + job_id % 180)


_STOP_FIRST = {
    "We", "Our", "It", "This", "There", "The", "They", "He", "She", "You", "Who", "What", "That",
    "Which", "Here", "Today", "At", "In", "As", "Founded", "Established", "With", "Located", "Why",
    "About", "Want", "People", "Retailers", "Everyone", "If", "When",
}
_NAME_RE = re.compile(
    r"^((?:[A-Z0-9][\w&.'\u2019|*-]*)(?: (?:[A-Z0-9&][\w&.'\u2019|*-]*|of|and|for|de)){0,4}?"
    r"(?:,? (?:Inc|LLC|Ltd|Co|Corp|GmbH)\.?)*),? "
    r"(?:is|are|was|were|has|have|delivers|offers|provides|specializes|specialises|helps|builds|"
    r"creates|develops|values|makes|hires)\b"
)


def company_name(profile: str) -> str | None:
    """Guess the employer's name from an EMSCAD company profile, or ``None``.

    EMSCAD has no company-name column; many profiles open with it ("Ryanair is Europe's ...",
    "ABC Supply Co., Inc. is ..."). Only such an opening is used (128 of the 309 profiles);
    openings like "We are ..." or glued text ("WHO WE AREIn2media") give ``None``.
    """
    text = profile.replace("\xa0", " ").strip()
    match = _NAME_RE.match(text)
    if not match:
        return None
    name = match.group(1)
    if name.split()[0] in _STOP_FIRST or re.search(r"[a-z](?:We|Our)$|WE ARE", name):
        return None
    return name


def split_location(location: str) -> tuple[str, str, str]:
    """Split EMSCAD's ``"US, OH, Cincinnati"`` into ``(country, region, locality)`` (any may be "")."""
    parts = [p.strip() for p in location.split(",")]
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], ", ".join(p for p in parts[2:] if p)


def display_location(location: str) -> str:
    """``"US, OH, Cincinnati"`` -> ``"Cincinnati, OH, US"`` (empty parts dropped)."""
    country, region, locality = split_location(location)
    return ", ".join(p for p in (locality, region, country) if p)


def parse_salary(salary_range: str, location: str) -> Salary | None:
    """Read ``"55000-75000"`` into a :class:`Salary`; ``None`` for "", ``"0-0"`` or junk ("10-Nov")."""
    match = re.fullmatch(r"(\d+)-(\d+)", salary_range.strip())
    if not match:
        return None
    lo, hi = int(match.group(1)), int(match.group(2))
    if hi <= 0 or lo > hi:
        return None
    period = "YEAR" if hi >= 10000 else "MONTH" if hi >= 1000 else "HOUR"
    code, symbol = _CURRENCIES.get(split_location(location)[0], (None, None))
    return Salary(min=lo, max=hi, period=period, currency=code, symbol=symbol)


def salary_text(job: JobRow) -> str:
    """The salary as the page shows it ("$55,000 - $75,000 a year"); the raw value when unparseable;
    "" when the ad gives none (or ``"0-0"``)."""
    sal = parse_salary(job.salary_range, job.location)
    if sal is None:
        return "" if job.salary_range in ("", "0-0") else job.salary_range
    sym = sal.symbol or ""
    amount = f"{sym}{sal.min:,}" if sal.min == sal.max else f"{sym}{sal.min:,} - {sym}{sal.max:,}"
    suffix = f" {sal.currency}" if sal.currency and not sal.symbol else ""
    return f"{amount}{suffix} {_PERIOD_WORDS[sal.period]}"


# -------------------------------------------------------------------------------------------------
# Job pages
# -------------------------------------------------------------------------------------------------

def job_path(job_id: int) -> str:
    """Detail page path of a job: ``/jobs/<job_id>.html``."""
    return f"/jobs/{job_id}.html"


def listing_path(section: str, page: int) -> str:
    """Listing path of ``section`` (``"jobs"`` or ``"classifieds"``): ``/jobs/``, ``/jobs/?page=2`` ..."""
    return f"/{section}/" if page == 1 else f"/{section}/?page={page}"


def ad_path(ad_id: int) -> str:
    """Detail page path of a classified ad: ``/classifieds/ad/<id>.html``."""
    return f"/classifieds/ad/{ad_id}.html"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def description_html(job: JobRow) -> str:
    """The posting body as HTML: the description, then Requirements and Benefits paragraphs."""
    parts = [f"<p>{_e(job.description)}</p>"] if job.description else []
    if job.requirements:
        parts.append(f"<h3>Requirements</h3>\n<p>{_e(job.requirements)}</p>")
    if job.benefits:
        parts.append(f"<h3>Benefits</h3>\n<p>{_e(job.benefits)}</p>")
    return "\n".join(parts)


def job_posting_jsonld(job: JobRow) -> dict[str, Any]:
    """The schema.org ``JobPosting`` object for a job (a clean dict, before any messy variant).

    ``description`` is HTML (:func:`description_html`); ``hiringOrganization`` only when the ad has a
    company profile (``name`` only when :func:`company_name` finds one); ``baseSalary`` a
    ``MonetaryAmount`` with a nested ``QuantitativeValue`` when :func:`parse_salary` reads the range.
    """
    posted, valid = job_dates(job.job_id)
    obj: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "JobPosting",
        "title": job.title,
        "description": description_html(job),
        "identifier": {"@type": "PropertyValue", "name": SITE_NAME, "value": str(job.job_id)},
        "datePosted": posted.isoformat(),
        "validThrough": valid.isoformat(),
    }
    if job.employment_type in _EMPLOYMENT_TYPES:
        obj["employmentType"] = _EMPLOYMENT_TYPES[job.employment_type]
    if job.company_profile:
        org: dict[str, Any] = {"@type": "Organization"}
        name = company_name(job.company_profile)
        if name:
            org["name"] = name
        org["description"] = job.company_profile
        obj["hiringOrganization"] = org
    country, region, locality = split_location(job.location)
    if country or region or locality:
        address: dict[str, Any] = {"@type": "PostalAddress"}
        if locality:
            address["addressLocality"] = locality
        if region:
            address["addressRegion"] = region
        if country:
            address["addressCountry"] = country
        obj["jobLocation"] = {"@type": "Place", "address": address}
    if job.telecommuting:
        obj["jobLocationType"] = "TELECOMMUTE"
    sal = parse_salary(job.salary_range, job.location)
    if sal is not None:
        amount: dict[str, Any] = {"@type": "MonetaryAmount"}
        if sal.currency:
            amount["currency"] = sal.currency
        amount["value"] = {"@type": "QuantitativeValue", "minValue": sal.min, "maxValue": sal.max,
                           "unitText": sal.period}
        obj["baseSalary"] = amount
    if job.industry:
        obj["industry"] = job.industry
    if job.function:
        obj["occupationalCategory"] = job.function
    if job.required_experience:
        obj["experienceRequirements"] = job.required_experience
    if job.required_education:
        obj["educationRequirements"] = job.required_education
    return obj


def _json_for_script(obj: Any, indent: int | None = None) -> str:
    # "</" -> "<\/" keeps "</script>" out of the block (valid JSON; WordPress does the same).
    return json.dumps(obj, ensure_ascii=False, indent=indent).replace("</", "<\\/")


def jsonld_script(job: JobRow) -> str:
    """The ``<script type="application/ld+json">`` element of a JSON-LD page, in its variant's shape.

    Raises:
        ValueError: the job has no JSON-LD (odd ``job_id``).
    """
    variant = jsonld_variant(job.job_id)
    if variant is None:
        raise ValueError(f"job {job.job_id} has no JSON-LD (odd job_id)")
    obj = job_posting_jsonld(job)
    if variant == "escaped-html":  # WP-Job-Manager#3027: HTML-escaped HTML inside the strings
        obj["title"] = html.escape(obj["title"], quote=False)
        obj["description"] = html.escape(obj["description"], quote=False)
        body = _json_for_script(obj)
    elif variant == "trailing-semicolon":  # extruct#109
        body = _json_for_script(obj) + ";"
    elif variant == "html-comment":
        body = "\n<!--\n" + _json_for_script(obj, indent=2) + "\n-->\n"
    elif variant == "cdata":
        body = "//<![CDATA[\n" + _json_for_script(obj) + "\n//]]>"
    elif variant == "graph":  # extruct#34: a WebPage and the JobPosting under @graph
        del obj["@context"]
        page = {"@type": "WebPage", "@id": job_path(job.job_id), "name": f"{job.title} | {SITE_NAME}"}
        body = _json_for_script({"@context": "https://schema.org", "@graph": [page, obj]}, indent=1)
    else:
        body = _json_for_script(obj, indent=2)
    return f'<script type="application/ld+json">{body}</script>'


def _breadcrumbs_jsonld(job: JobRow) -> str:
    crumbs = [("Home", "/"), ("Jobs", "/jobs/"), (job.title, job_path(job.job_id))]
    obj = {"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": i, "name": name, "item": url}
        for i, (name, url) in enumerate(crumbs, start=1)]}
    return f'<script type="application/ld+json">{_json_for_script(obj)}</script>'


def _human_date(d: date) -> str:
    return f"{d.day} {d.strftime('%B %Y')}"


def _layout(title: str, content: str, *, head_extra: str = "", section: str = "",
            description: str = "") -> bytes:
    active = ' class="active"'
    nav = "\n".join(
        f'<a href="{href}"{active if key == section else ""}>{label}</a>'
        for key, href, label in (("home", "/", "Home"), ("jobs", "/jobs/", "Jobs"),
                                 ("classifieds", "/classifieds/", "Classifieds"))
    )
    meta = f'\n<meta name="description" content="{_e(description)}">' if description else ""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>{meta}
<link rel="stylesheet" href="/static/site.css">
{head_extra}</head>
<body>
<header class="site-header">
<a class="brand" href="/">{SITE_NAME}</a>
<nav class="site-nav">
{nav}
</nav>
</header>
<main class="content">
{content}
</main>
<footer class="site-footer">
<p>{SITE_NAME} is the offline demo board bundled with adwatch. Job ads are real postings from the
EMSCAD research dataset (University of the Aegean), with e-mails, phones and URLs masked as in the
dataset. All classified ads are fictional, written for the demo; their phone numbers are in the
reserved 555-01xx range.</p>
<p><a href="/">Home</a> · <a href="/jobs/">Jobs</a> · <a href="/classifieds/">Classifieds</a> ·
<a href="/private/">Staff area</a></p>
</footer>
</body>
</html>
"""
    return page.encode("utf-8")


def _pagination(section: str, page: int, pages: int) -> tuple[str, str]:
    """(HTML nav, head <link> tags) for page ``page`` of ``pages``."""
    links, head = [], []
    if page > 1:
        prev = listing_path(section, page - 1)
        links.append(f'<a rel="prev" href="{prev}">&lsaquo; Previous</a>')
        head.append(f'<link rel="prev" href="{prev}">')
    links.append(f'<span class="page-status">Page {page} of {pages}</span>')
    if page < pages:
        nxt = listing_path(section, page + 1)
        links.append(f'<a rel="next" href="{nxt}">Next &rsaquo;</a>')
        head.append(f'<link rel="next" href="{nxt}">')
    nav = '<nav class="pagination" aria-label="Pages">\n' + "\n".join(links) + "\n</nav>"
    return nav, "\n".join(head) + ("\n" if head else "")


def _sorted_jobs(jobs: Iterable[JobRow]) -> list[JobRow]:
    """Newest first (by ``datePosted``), then by ``job_id``."""
    return sorted(jobs, key=lambda j: (-job_dates(j.job_id)[0].toordinal(), j.job_id))


def _job_card(job: JobRow) -> str:
    posted, _ = job_dates(job.job_id)
    name = company_name(job.company_profile) if job.company_profile else None
    bits = [f'<a class="job-link" href="{job_path(job.job_id)}">{_e(job.title)}</a>']
    if name:
        bits.append(f'<span class="card-employer">{_e(name)}</span>')
    loc = display_location(job.location)
    if loc:
        bits.append(f'<span class="card-location">{_e(loc)}</span>')
    if job.employment_type:
        bits.append(f'<span class="card-type">{_e(job.employment_type)}</span>')
    bits.append(f'<time class="card-date" datetime="{posted.isoformat()}">{posted.strftime("%b %d")}</time>')
    return '<li class="job-card">\n' + "\n".join(bits) + "\n</li>"


def _jobs_listing(jobs: Sequence[JobRow], page: int, pages: int) -> bytes:
    nav, head = _pagination("jobs", page, pages)
    featured = ""
    if page == 1:
        featured = f"""<section class="featured">
<h2>Featured</h2>
<ul class="job-list">
<li class="job-card"><a class="job-link" href="{PRIVATE_JOB_PATH}">Warehouse Team Lead (draft, staff preview)</a>
<span class="card-location">Columbus, OH, US</span></li>
</ul>
</section>
"""
    cards = "\n".join(_job_card(j) for j in jobs)
    first = (page - 1) * JOBS_PER_PAGE + 1
    content = f"""<h1>Jobs</h1>
<p class="result-count">Postings {first}&ndash;{first + len(jobs) - 1}, newest first</p>
{featured}<ul class="job-list">
{cards}
</ul>
{nav}"""
    title = f"Jobs, page {page} of {pages} | {SITE_NAME}"
    return _layout(title, content, head_extra=head, section="jobs")


def _job_meta(job: JobRow) -> str:
    rows = [(label, value) for label, value in (
        ("Department", job.department), ("Experience", job.required_experience),
        ("Education", job.required_education), ("Industry", job.industry), ("Function", job.function),
    ) if value]
    if not rows:
        return ""
    items = "\n".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<dl class="job-meta">\n{items}\n</dl>\n'


def _company_section(job: JobRow, name: str | None, css: str) -> str:
    if not job.company_profile:
        return ""
    heading = f"About {name}" if name else "About the company"
    return f'<section class="{css}">\n<h2>{_e(heading)}</h2>\n<p>{_e(job.company_profile)}</p>\n</section>\n'


def _initials(name: str | None) -> str:
    words = [w for w in re.split(r"\W+", name or "") if w]
    return "".join(w[0] for w in words[:2]).upper() or "★"


def _job_detail_html_only(job: JobRow) -> bytes:
    """An HTML-only job page: the profile's ``[fields]`` classes, no JobPosting JSON-LD."""
    posted, valid = job_dates(job.job_id)
    name = company_name(job.company_profile) if job.company_profile else None
    summary = []
    if job.has_company_logo:
        summary.append(f'<span class="company-logo" aria-hidden="true">{_e(_initials(name))}</span>')
    if name:
        summary.append(f'<span class="employer">{_e(name)}</span>')
    loc = display_location(job.location)
    if loc:
        summary.append(f'<span class="job-location">{_e(loc)}</span>')
    if job.telecommuting:
        summary.append('<span class="job-remote">Remote</span>')
    if job.employment_type:
        summary.append(f'<span class="job-type">{_e(job.employment_type)}</span>')
    sal = salary_text(job)
    if sal:
        summary.append(f'<span class="job-salary">{_e(sal)}</span>')
    summary.append(f'<time class="job-posted" datetime="{posted.isoformat()}">Posted {_human_date(posted)}</time>')
    summary.append(f'<time class="job-valid-through" datetime="{valid.isoformat()}">'
                   f'Apply by {_human_date(valid)}</time>')
    expired = ""
    if is_expired(job.job_id):
        expired = ('<p class="job-expired" role="status">This job closed on '
                   f'{_human_date(valid)} and is no longer accepting applications.</p>\n')
    apply = ('<p class="apply">Screening questions are part of the application.</p>\n'
             if job.has_questions else "")
    content = f"""<nav class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/jobs/">Jobs</a></nav>
<article class="job" id="job-{job.job_id}">
{expired}<h1 class="job-title">{_e(job.title)}</h1>
<div class="job-summary">
{chr(10).join(summary)}
</div>
<div class="job-description">
{description_html(job)}
</div>
{_job_meta(job)}{_company_section(job, name, "company-profile")}{apply}<p class="job-ref">Ref. {job.job_id}</p>
</article>"""
    head = _breadcrumbs_jsonld(job) + "\n" if job.job_id % 3 == 0 else ""
    title = f"{job.title}, {loc} | {SITE_NAME}" if loc else f"{job.title} | {SITE_NAME}"
    return _layout(title, content, head_extra=head, section="jobs", description=job.description[:150])


def _job_detail_jsonld(job: JobRow) -> bytes:
    """A JSON-LD job page: the posting in JSON-LD, and shown in a different ("partner feed") template
    whose classes the profile does not select."""
    posted, _ = job_dates(job.job_id)
    name = company_name(job.company_profile) if job.company_profile else None
    facts = []
    loc = display_location(job.location)
    if loc:
        facts.append(f"<li>{_e(loc)}{' (remote possible)' if job.telecommuting else ''}</li>")
    if job.employment_type:
        facts.append(f"<li>{_e(job.employment_type)}</li>")
    sal = salary_text(job)
    if sal:
        facts.append(f"<li>{_e(sal)}</li>")
    facts.append(f'<li>Posted <time datetime="{posted.isoformat()}">{_human_date(posted)}</time></li>')
    closed = ('<div class="posting-closed">Applications closed.</div>\n'
              if is_expired(job.job_id) else "")
    company = f'<p class="posting-company">{_e(name)}</p>\n' if name else ""
    content = f"""<nav class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/jobs/">Jobs</a></nav>
<article class="posting" data-posting-id="{job.job_id}">
<header class="posting-header">
{closed}<h1 class="posting-title">{_e(job.title)}</h1>
{company}<ul class="posting-facts">
{chr(10).join(facts)}
</ul>
</header>
<section class="posting-body">
{description_html(job)}
</section>
{_company_section(job, name, "posting-about")}<p class="posting-source">Via partner feed · ref. {job.job_id}</p>
</article>"""
    title = f"{job.title}, {loc} | {SITE_NAME}" if loc else f"{job.title} | {SITE_NAME}"
    return _layout(title, content, head_extra=jsonld_script(job) + "\n", section="jobs",
                   description=job.description[:150])


def job_detail_page(job: JobRow) -> bytes:
    """The detail page of a job (UTF-8 HTML): JSON-LD template when :func:`has_jsonld`, else HTML-only."""
    return _job_detail_jsonld(job) if has_jsonld(job.job_id) else _job_detail_html_only(job)


def _private_pages() -> dict[str, Page]:
    staff = _layout(f"Staff area | {SITE_NAME}", """<h1>Staff area</h1>
<p>Drafts and previews for staff. This area is excluded in robots.txt.</p>
<ul><li><a href="/private/jobs/1001.html">Warehouse Team Lead (draft)</a></li></ul>""")
    draft = _layout(f"DRAFT Warehouse Team Lead | {SITE_NAME}", """<article class="job">
<p class="draft-notice">Draft &ndash; not published.</p>
<h1 class="job-title">Warehouse Team Lead (draft)</h1>
<div class="job-summary"><span class="job-location">Columbus, OH, US</span></div>
<div class="job-description"><p>Draft text, to be written. Not for publication.</p></div>
</article>""")
    return {"/private/": Page(HTML_TYPE, staff), PRIVATE_JOB_PATH: Page(HTML_TYPE, draft)}


# -------------------------------------------------------------------------------------------------
# Classifieds pages
# -------------------------------------------------------------------------------------------------

def _posted_text(posted: str) -> str:
    dt = datetime.fromisoformat(posted)
    hour = dt.strftime("%I").lstrip("0") or "12"
    return f"{dt.strftime('%a %b')} {dt.day}, {dt.year} {hour}:{dt.strftime('%M')}{dt.strftime('%p').lower()}"


def _ads_listing(ads: Sequence[ClassifiedAd], page: int, pages: int) -> bytes:
    nav, head = _pagination("classifieds", page, pages)
    rows = "\n".join(
        f'<li class="ad-row"><time class="ad-date" datetime="{ad.posted}">'
        f'{datetime.fromisoformat(ad.posted).strftime("%b %d")}</time>\n'
        f'<a class="ad-link" href="{ad_path(ad.id)}">{_e(ad.title)}</a>\n'
        f'<span class="ad-city">({_e(ad.city)})</span></li>'
        for ad in ads
    )
    content = f"""<h1>Classifieds: personals &amp; companionship</h1>
<p class="notice">Posts are written by users. Report a post that may involve exploitation.</p>
<ul class="ad-list">
{rows}
</ul>
{nav}"""
    return _layout(f"Classifieds, page {page} of {pages} | {SITE_NAME}", content,
                   head_extra=head, section="classifieds")


def classified_detail_page(ad: ClassifiedAd) -> bytes:
    """The detail page of a classified ad (UTF-8 HTML) with the classifieds profile's classes."""
    paras = "\n".join(f"<p>{_e(p.strip())}</p>" for p in ad.body.split("\n\n") if p.strip())
    price = f'<p class="ad-attrs">Rate: <span class="ad-price">{_e(ad.price)}</span></p>\n' if ad.price else ""
    content = f"""<nav class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/classifieds/">Classifieds</a></nav>
<article class="ad" id="ad-{ad.id}">
<h1 class="ad-title">{_e(ad.title)}</h1>
<p class="ad-meta"><span class="ad-location">{_e(ad.city)}</span> ·
<time class="ad-posted" datetime="{ad.posted}">Posted {_posted_text(ad.posted)}</time> ·
<span class="ad-id">Post ID: {ad.id}</span></p>
<div class="ad-body">
{paras}
</div>
{price}<p class="ad-contact-line">Contact: <span class="ad-contact">{_e(ad.phone)}</span></p>
</article>"""
    return _layout(f"{ad.title} ({ad.city}) | {SITE_NAME}", content, section="classifieds")


# -------------------------------------------------------------------------------------------------
# Site
# -------------------------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,sans-serif;margin:0;color:#1d1d1f;line-height:1.45}
.site-header{display:flex;gap:2rem;align-items:center;padding:.8rem 1.5rem;background:#16324f;color:#fff}
.site-header a{color:#fff;text-decoration:none;margin-right:1rem}.brand{font-weight:700}
.content{max-width:52rem;margin:1.5rem auto;padding:0 1rem}
.job-list,.ad-list{list-style:none;padding:0}.job-card,.ad-row{padding:.5rem 0;border-bottom:1px solid #ddd}
.job-card span,.job-card time{margin-left:.6rem;color:#555;font-size:.9em}
.pagination{display:flex;gap:1rem;margin:1rem 0}.job-summary span,.job-summary time{margin-right:1rem}
.job-expired,.posting-closed{background:#fde2e1;padding:.5rem}
.company-logo{font-weight:700;border:1px solid #999;padding:0 .3rem}
.site-footer{font-size:.85em;color:#555;border-top:1px solid #ddd;padding:1rem 1.5rem}
"""


def _robots() -> bytes:
    return f"# {SITE_NAME} (adwatch demo)\nUser-agent: *\nDisallow: {ROBOTS_DISALLOW}\n".encode()


def _home(jobs: int, job_pages: int, ads: int) -> bytes:
    content = f"""<h1>{SITE_NAME}</h1>
<p>A local board with two sections, served for the adwatch demo.</p>
<section class="sections">
<h2><a href="/jobs/">Jobs</a></h2>
<p>{jobs} job ads from the EMSCAD research sample, {job_pages} listing pages.</p>
<h2><a href="/classifieds/">Classifieds</a></h2>
<p>{ads} fictional personals and companionship ads.</p>
</section>"""
    website = {"@context": "https://schema.org", "@type": "WebSite", "name": SITE_NAME, "url": "/"}
    head = f'<script type="application/ld+json">{_json_for_script(website)}</script>\n'
    return _layout(SITE_NAME, content, head_extra=head, section="home",
                   description="Jobs and classifieds (adwatch offline demo board).")


def not_found_page(path: str) -> bytes:
    """The 404 page body (UTF-8 HTML) for ``path``."""
    return _layout(f"Not found | {SITE_NAME}", f"<h1>Page not found</h1>\n<p>No page at {_e(path)}.</p>")


def build_site(jobs_csv: str | Path | None = None,
               classifieds_path: str | Path | None = None) -> dict[str, Page]:
    """Build every page of the demo board in memory.

    Args:
        jobs_csv: EMSCAD CSV; default :data:`DEFAULT_JOBS_CSV`.
        classifieds_path: classified-ads JSONL; default :data:`DEFAULT_CLASSIFIEDS`.

    Returns:
        ``{request target: Page}``. Targets are paths, except listing pages after the first, which
        carry their query: ``"/jobs/"``, ``"/jobs/?page=2"``, ``"/jobs/4709.html"``,
        ``"/classifieds/?page=3"``, ``"/classifieds/ad/7410037.html"``, ``"/robots.txt"``, ...

    Raises:
        FileNotFoundError, DemoDataError: from :func:`load_jobs` / :func:`load_classifieds`.
    """
    jobs = _sorted_jobs(load_jobs(jobs_csv))
    ads = sorted(load_classifieds(classifieds_path), key=lambda a: (a.posted, a.id), reverse=True)
    site: dict[str, Page] = {
        "/robots.txt": Page(TEXT_TYPE, _robots()),
        "/static/site.css": Page(CSS_TYPE, _CSS.encode("utf-8")),
    }
    job_pages = max(1, math.ceil(len(jobs) / JOBS_PER_PAGE))
    for n in range(1, job_pages + 1):
        chunk = jobs[(n - 1) * JOBS_PER_PAGE: n * JOBS_PER_PAGE]
        site[listing_path("jobs", n)] = Page(HTML_TYPE, _jobs_listing(chunk, n, job_pages))
    for job in jobs:
        site[job_path(job.job_id)] = Page(HTML_TYPE, job_detail_page(job))
    ad_pages = max(1, math.ceil(len(ads) / ADS_PER_PAGE))
    for n in range(1, ad_pages + 1):
        ad_chunk = ads[(n - 1) * ADS_PER_PAGE: n * ADS_PER_PAGE]
        site[listing_path("classifieds", n)] = Page(HTML_TYPE, _ads_listing(ad_chunk, n, ad_pages))
    for ad in ads:
        site[ad_path(ad.id)] = Page(HTML_TYPE, classified_detail_page(ad))
    site.update(_private_pages())
    site["/"] = Page(HTML_TYPE, _home(len(jobs), job_pages, len(ads)))
    return site


def describe_site(jobs_csv: str | Path | None = None,
                  classifieds_path: str | Path | None = None) -> dict[str, int]:
    """Counts the demo board should yield, for checks and for the demo's summary.

    Returns:
        ``jobs`` (detail pages), ``jobs_jsonld``, ``jobs_html``, ``jobs_jsonld_messy``,
        ``jobs_expired`` (closed ads, see :func:`is_expired`), ``job_listing_pages``, ``classifieds``,
        ``classifieds_benign``, ``classified_listing_pages``, ``robots_disallowed_links`` (1).
    """
    jobs = load_jobs(jobs_csv)
    ads = load_classifieds(classifieds_path)
    variants = [jsonld_variant(j.job_id) for j in jobs]
    return {
        "jobs": len(jobs),
        "jobs_jsonld": sum(v is not None for v in variants),
        "jobs_html": sum(v is None for v in variants),
        "jobs_jsonld_messy": sum(v not in (None, "clean") for v in variants),
        "jobs_expired": sum(is_expired(j.job_id) for j in jobs),
        "job_listing_pages": max(1, math.ceil(len(jobs) / JOBS_PER_PAGE)),
        "classifieds": len(ads),
        "classifieds_benign": sum(a.label == "benign" for a in ads),
        "classified_listing_pages": max(1, math.ceil(len(ads) / ADS_PER_PAGE)),
        "robots_disallowed_links": 1,
    }
