"""The offline demo board: pages, JSON-LD, HTML fields, classifieds data, and the site profiles' selectors."""

from __future__ import annotations

import csv
import html
import json
import re
import time
import tomllib
import urllib.error
import urllib.request
import urllib.robotparser
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parsel import Selector

from demo import site
from demo.server import DemoServer, resolve

ROOT = Path(__file__).resolve().parents[2]
CSV_PATH = ROOT / "data" / "emscad-fj-small" / "fj_small.csv"
SITES = ROOT / "config" / "sites"


# ---------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer() as srv:  # port 0: any free port
        yield srv


@pytest.fixture(scope="module")
def csv_rows() -> dict[int, dict[str, str]]:
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        return {int(r["job_id"]): r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def jobs_profile() -> dict[str, Any]:
    return tomllib.loads((SITES / "demo-jobs.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ads_profile() -> dict[str, Any]:
    return tomllib.loads((SITES / "demo-classifieds.toml").read_text(encoding="utf-8"))


def fetch(srv: DemoServer, path: str) -> tuple[int, str, str]:
    """(status, content type, decoded body) for ``path``; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(srv.url(path), timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode("utf-8")


def css_get(doc: Selector, selector: str) -> str | None:
    return doc.css(selector).get()


def element_text(doc: Selector, selector: str) -> str:
    """Text of the element a profile's ``body`` selector picks (whitespace collapsed)."""
    nodes = doc.css(selector)
    assert nodes, selector
    return " ".join((nodes[0].xpath("string()").get() or "").split())


def ld_blocks(doc: Selector) -> list[str]:
    return doc.css('script[type="application/ld+json"]::text').getall()


def tolerant_json(raw: str) -> Any:
    """Parse a JSON-LD block the way real sites ship it: HTML comment or CDATA wrapper, trailing ';'."""
    text = raw.strip()
    text = re.sub(r"^(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>$", "", text).strip()
    text = re.sub(r"^<!--|-->$", "", text).strip()
    text = text.rstrip(";").strip()
    return json.loads(text)


def job_postings(data: Any) -> list[dict[str, Any]]:
    """JobPosting objects in a parsed block (top-level, in a list, or under @graph)."""
    if isinstance(data, list):
        return [p for d in data for p in job_postings(d)]
    if not isinstance(data, dict):
        return []
    if "@graph" in data:
        return job_postings(data["@graph"])
    return [data] if data.get("@type") == "JobPosting" else []


_NUMBER_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                 "six": "6", "seven": "7", "eight": "8", "nine": "9"}


def phone_digit_strings(text: str) -> list[str]:
    """Every phone-like digit string (>= 7 digits once separators are dropped) in ``text``, after
    undoing the obfuscations the demo ads use (number words, letter O for 0, letter I/l for 1)."""
    text = re.sub(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", lambda m: _NUMBER_WORDS[m.group(1).lower()],
                  text, flags=re.IGNORECASE)
    text = re.sub(r"(?<=[\d.\- ])[Oo](?=\d)|(?<=\d)[Oo](?=[\d.\- ])", "0", text)
    text = re.sub(r"(?<=[\d.\- ])[Il](?=\d)|(?<=\d)[Il](?=[\d.\- ])", "1", text)
    runs = (re.sub(r"\D", "", m.group()) for m in re.finditer(r"\d(?:[\s().\-]*\d)+", text))
    return [r for r in runs if len(r) >= 7]


def is_fictional_phone(digits: str) -> bool:
    """True for NXX-555-01xx numbers (10 digits, or 11 with a leading 1) or bare 555-01xx."""
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return bool(re.fullmatch(r"\d{3}55501\d\d|55501\d\d", digits))


# ---------------------------------------------------------------------------------------------
# build and serving
# ---------------------------------------------------------------------------------------------

def test_build_site_is_fast_and_complete() -> None:
    start = time.perf_counter()
    pages = site.build_site()
    assert time.perf_counter() - start < 1.0
    summary = site.describe_site()
    assert summary["jobs"] == 358
    assert summary["jobs_jsonld"] == 201 and summary["jobs_html"] == 157
    assert summary["job_listing_pages"] == 15
    assert summary["classifieds"] == 50 and summary["classified_listing_pages"] == 3
    job_pages = [p for p in pages if re.fullmatch(r"/jobs/\d+\.html", p)]
    assert len(job_pages) == 358
    assert len([p for p in pages if p.startswith("/classifieds/ad/")]) == 50


def test_home_page(server: DemoServer) -> None:
    status, ctype, body = fetch(server, "/")
    assert status == 200
    assert ctype == "text/html; charset=utf-8"
    assert body.startswith("<!DOCTYPE html>")
    doc = Selector(text=body)
    assert doc.css("meta[charset]::attr(charset)").get() == "utf-8"
    links = set(doc.css("a::attr(href)").getall())
    assert {"/jobs/", "/classifieds/"} <= links
    assert "/private/" in links


def test_robots_disallows_private_and_listing_links_there(server: DemoServer, jobs_profile: dict[str, Any]) -> None:
    status, ctype, body = fetch(server, "/robots.txt")
    assert status == 200 and ctype == "text/plain; charset=utf-8"
    assert "Disallow: /private/" in body.splitlines()
    assert sum(line.startswith("Disallow:") for line in body.splitlines()) == 1
    rp = urllib.robotparser.RobotFileParser()
    rp.parse(body.splitlines())
    assert not rp.can_fetch("adwatch", server.url(site.PRIVATE_JOB_PATH))
    assert rp.can_fetch("adwatch", server.url("/jobs/4709.html"))
    # page 1 of the listing links to the disallowed draft with the profile's detail selector
    _, _, listing = fetch(server, "/jobs/")
    details = Selector(text=listing).css(jobs_profile["links"]["detail"]).getall()
    assert site.PRIVATE_JOB_PATH in details
    # the page exists (an impolite crawler would get it)
    assert fetch(server, site.PRIVATE_JOB_PATH)[0] == 200


def test_unknown_paths_are_404(server: DemoServer) -> None:
    for path in ("/nope", "/jobs/999999.html", "/jobs/?page=16", "/jobs/?page=0", "/jobs/?page=x",
                 "/classifieds/ad/1.html", "/favicon.ico"):
        status, ctype, body = fetch(server, path)
        assert status == 404, path
        assert ctype == "text/html; charset=utf-8"
        assert "Page not found" in body


def test_redirect_head_and_query(server: DemoServer) -> None:
    pages = {"/jobs/": site.Page("text/html", b"1"), "/jobs/?page=2": site.Page("text/html", b"2")}
    assert resolve(pages, "/jobs")[0] == 301 and resolve(pages, "/jobs")[1] == "/jobs/"
    assert resolve(pages, "/jobs/?page=1&utm_source=x")[1] == pages["/jobs/"]
    assert resolve(pages, "/jobs/?page=2")[1] == pages["/jobs/?page=2"]
    status, _, body = fetch(server, "/jobs?page=2")  # urllib follows the 301
    assert status == 200 and "Page 2 of 15" in body
    req = urllib.request.Request(server.url("/jobs/4709.html"), method="HEAD")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) > 1000
        assert resp.read() == b""


def test_requests_are_not_logged(server: DemoServer, capfd: pytest.CaptureFixture[str]) -> None:
    fetch(server, "/")
    fetch(server, "/nope")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_second_server_gets_another_port() -> None:
    with DemoServer() as a, DemoServer() as b:
        assert a.port != b.port and a.port > 0
        assert a.base_url == f"http://127.0.0.1:{a.port}"
    assert not a.running
    with pytest.raises(RuntimeError):
        _ = a.port


# ---------------------------------------------------------------------------------------------
# job board
# ---------------------------------------------------------------------------------------------

def test_listing_pagination_reaches_every_job(server: DemoServer, jobs_profile: dict[str, Any],
                                              csv_rows: dict[int, dict[str, str]]) -> None:
    links = jobs_profile["links"]
    detail_re = re.compile(links["detail_url_pattern"])
    path: str | None = jobs_profile["start_urls"][0]
    seen_pages, details = [], []
    while path:
        status, _, body = fetch(server, path)
        assert status == 200, path
        seen_pages.append(path)
        doc = Selector(text=body)
        found = doc.css(links["detail"]).getall()
        assert len([u for u in found if u.startswith("/jobs/")]) <= site.JOBS_PER_PAGE
        details += found
        path = doc.css(links["next"]).get()
        assert path is None or path not in seen_pages
    assert seen_pages[:3] == ["/jobs/", "/jobs/?page=2", "/jobs/?page=3"]
    assert len(seen_pages) == 15
    public = [u for u in details if not u.startswith("/private/")]
    assert len(public) == 358
    assert {int(u.rsplit("/", 1)[1].split(".")[0]) for u in public} == set(csv_rows)
    assert all(detail_re.search(u) for u in public)
    assert [u for u in details if u.startswith("/private/")] == [site.PRIVATE_JOB_PATH]


def test_jsonld_pages_parse_and_match_the_csv(server: DemoServer, csv_rows: dict[int, dict[str, str]]) -> None:
    variants_seen: set[str] = set()
    for job_id, row in csv_rows.items():
        variant = site.jsonld_variant(job_id)
        if variant is None:
            continue
        _, _, body = fetch(server, site.job_path(job_id))
        doc = Selector(text=body)
        blocks = ld_blocks(doc)
        assert len(blocks) == 1, job_id
        raw = blocks[0]
        if variant in ("trailing-semicolon", "html-comment", "cdata"):
            with pytest.raises(json.JSONDecodeError):  # these shapes really break a strict parser
                json.loads(raw)
        postings = job_postings(tolerant_json(raw))
        assert len(postings) == 1, job_id
        posting = postings[0]
        title = html.unescape(posting["title"]) if variant == "escaped-html" else posting["title"]
        assert title == html.unescape(row["title"]).strip(), job_id
        assert posting["datePosted"].startswith("2026-")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", posting["validThrough"])
        description = html.unescape(posting["description"]) if variant == "escaped-html" else posting["description"]
        assert description.startswith("<p>")
        assert "fraudulent" not in body.lower()
        variants_seen.add(variant)
    assert variants_seen == set(site.JSONLD_VARIANTS)


def test_known_jsonld_job_11080(server: DemoServer) -> None:
    _, _, body = fetch(server, "/jobs/11080.html")
    doc = Selector(text=body)
    posting = job_postings(tolerant_json(ld_blocks(doc)[0]))[0]
    assert posting["@context"] == "https://schema.org"
    assert posting["title"] == "Entry Level Sales"
    assert posting["employmentType"] == "FULL_TIME"
    assert posting["baseSalary"] == {
        "@type": "MonetaryAmount", "currency": "USD",
        "value": {"@type": "QuantitativeValue", "minValue": 55000, "maxValue": 75000, "unitText": "YEAR"},
    }
    assert posting["jobLocation"]["address"] == {
        "@type": "PostalAddress", "addressLocality": "Cincinnati", "addressRegion": "OH", "addressCountry": "US"}
    assert "<h3>Benefits</h3>" in posting["description"]
    assert "Car Allowance" in posting["description"]
    posted, valid = site.job_dates(11080)
    assert posting["datePosted"] == posted.isoformat() == "2026-02-17"
    assert posting["validThrough"] == valid.isoformat()
    # the visible template is not the one the profile selects
    assert doc.css("h1.job-title").get() is None
    assert doc.css("h1.posting-title::text").get() == "Entry Level Sales"


def test_messy_variants_look_like_real_sites(server: DemoServer) -> None:
    by_variant = {site.jsonld_variant(j): j for j in (14082, 5364, 14166, 15768, 11450)}
    assert set(by_variant) == {"escaped-html", "trailing-semicolon", "html-comment", "cdata", "graph"}
    raws = {v: ld_blocks(Selector(text=fetch(server, site.job_path(j))[2]))[0] for v, j in by_variant.items()}
    assert raws["trailing-semicolon"].rstrip().endswith("};")
    assert raws["html-comment"].strip().startswith("<!--") and raws["html-comment"].strip().endswith("-->")
    assert raws["cdata"].startswith("//<![CDATA[")
    escaped = json.loads(raws["escaped-html"])
    assert escaped["description"].startswith("&lt;p&gt;")
    graph = json.loads(raws["graph"])
    assert [n["@type"] for n in graph["@graph"]] == ["WebPage", "JobPosting"]


def test_hiring_organization_from_company_profile(server: DemoServer) -> None:
    # a JSON-LD job whose profile names the company, and one without a company profile
    jobs = {j.job_id: j for j in site.load_jobs()}
    named = next(j for j in jobs.values() if site.has_jsonld(j.job_id) and j.company_profile
                 and site.company_name(j.company_profile))
    bare = next(j for j in jobs.values() if site.has_jsonld(j.job_id) and not j.company_profile)
    for job, expect in ((named, True), (bare, False)):
        doc = Selector(text=fetch(server, site.job_path(job.job_id))[2])
        posting = job_postings(tolerant_json(ld_blocks(doc)[0]))[0]
        assert ("hiringOrganization" in posting) is expect
        if expect:
            assert posting["hiringOrganization"]["name"] == site.company_name(job.company_profile)
    assert site.company_name("Ryanair is Europe\u2019s favourite low fares airline") == "Ryanair"
    assert site.company_name("ABC Supply Co., Inc. is the nation\u2019s largest") == "ABC Supply Co., Inc."
    assert site.company_name("We help teachers get safe & secure jobs abroad") is None
    assert site.company_name("WHO WE AREIn2media has ever since") is None


def test_html_only_page_fields_match_profile(server: DemoServer, jobs_profile: dict[str, Any]) -> None:
    fields = jobs_profile["fields"]
    _, _, body = fetch(server, "/jobs/4709.html")
    doc = Selector(text=body)
    assert not any(job_postings(tolerant_json(b)) for b in ld_blocks(doc))
    assert css_get(doc, fields["title"]) == "Python Engineer"
    assert css_get(doc, fields["location"]) == "London, GB"
    assert css_get(doc, fields["posted"]) == site.job_dates(4709)[0].isoformat()
    assert css_get(doc, fields["valid_through"]) == site.job_dates(4709)[1].isoformat()
    text = element_text(doc, fields["body"])
    assert text.startswith("Stylect is a dynamic startup")
    assert "Requirements" in text and "potential for equity" in text
    assert css_get(doc, fields["expired"]) is None
    assert "fraudulent" not in body.lower()
    # salary and employer on another HTML-only page
    _, _, body = fetch(server, "/jobs/2863.html")
    doc = Selector(text=body)
    assert css_get(doc, fields["salary"]) == "£45,000 - £60,000 a year"
    assert css_get(doc, fields["employer"]) == "Wedo"
    assert css_get(doc, fields["title"]) == "PHP / LAMP / Magento / Symfony / Zend Developer"


def test_html_only_titles_all_match(server: DemoServer, jobs_profile: dict[str, Any],
                                    csv_rows: dict[int, dict[str, str]]) -> None:
    fields = jobs_profile["fields"]
    for job_id, row in csv_rows.items():
        if site.has_jsonld(job_id):
            continue
        doc = Selector(text=fetch(server, site.job_path(job_id))[2])
        assert css_get(doc, fields["title"]) == html.unescape(row["title"]).strip(), job_id
        assert element_text(doc, fields["body"]), job_id
        assert (css_get(doc, fields["expired"]) is not None) == site.is_expired(job_id)
        assert not any(job_postings(tolerant_json(b)) for b in ld_blocks(doc))


def test_masked_tokens_kept_and_text_unescaped(server: DemoServer, csv_rows: dict[int, dict[str, str]]) -> None:
    row = csv_rows[8251]  # HTML-only page whose description carries #URL_...# tokens
    tokens = re.findall(r"#URL_[0-9a-f]+#", row["description"])
    assert tokens
    _, _, body = fetch(server, "/jobs/8251.html")
    for token in tokens:
        assert token in body
    # EMSCAD text is HTML-escaped ("&amp;"); the page shows it once-escaped, the text reads "&"
    doc = Selector(text=fetch(server, "/jobs/11347.html")[2])
    assert doc.css("h1.job-title::text").get() == "Sales Representative with Management Training - AT&T"


def test_dates_are_deterministic_2026() -> None:
    for job in site.load_jobs():
        posted, valid = site.job_dates(job.job_id)
        assert posted.year == 2026 and valid > posted
        assert site.job_dates(job.job_id) == (posted, valid)
        if site.is_expired(job.job_id):
            assert valid.year == 2026


def test_salary_parsing() -> None:
    sal = site.parse_salary("55000-75000", "US, OH, Cincinnati")
    assert sal == site.Salary(min=55000, max=75000, period="YEAR", currency="USD", symbol="$")
    hourly = site.parse_salary("55-65", "US, NY, New York")
    assert hourly is not None and hourly.period == "HOUR"
    assert site.parse_salary("0-0", "US, , ") is None
    assert site.parse_salary("10-Nov", "US, , ") is None
    assert site.display_location("US, OH, Cincinnati") == "Cincinnati, OH, US"
    assert site.split_location("GB, MLN, Edinburgh Central, South and South East") == (
        "GB", "MLN", "Edinburgh Central, South and South East")


# ---------------------------------------------------------------------------------------------
# classifieds
# ---------------------------------------------------------------------------------------------

def test_classifieds_data_shape() -> None:
    ads = site.load_classifieds()
    assert 40 <= len(ads) <= 60
    benign = sum(a.label == "benign" for a in ads)
    assert 0.25 <= benign / len(ads) <= 0.35
    assert all(a.posted.startswith("2026-") for a in ads)
    text = " ".join(f"{a.title} {a.body}".lower() for a in ads)
    for cue in ("new in town", "just arrived", "only here 3 days", "ask for her", "she is available",
                "2 new girls", "many young ladies", "incall only", "cannot leave", "fresh from asia",
                "russian beauty", "new girl, 18, young and fresh", "barely 19", "$60 special",
                "screening required", "licensed massage therapist"):
        assert cue in text, cue


def test_every_phone_in_classifieds_is_555_01xx() -> None:
    raw = (site.DEFAULT_CLASSIFIEDS).read_text(encoding="utf-8")
    for line in raw.splitlines():
        ad = json.loads(line)
        assert is_fictional_phone(ad["phone_digits"])
        for field in ("title", "body", "phone"):
            for digits in phone_digit_strings(ad[field]):
                assert is_fictional_phone(digits), (ad["id"], field, digits)
                assert digits[-10:] == ad["phone_digits"], (ad["id"], field, digits)
        assert phone_digit_strings(ad["phone"]) == [ad["phone_digits"]], ad["phone"]
    assert phone_digit_strings("seven one three 555 oh one eight three") == ["7135550183"]
    assert phone_digit_strings("713.555.0I83") == ["7135550183"]
    assert phone_digit_strings("$1,000 a week, 24/7, LMT #20417") == []


def test_shared_phone_across_cities_on_served_pages(server: DemoServer, ads_profile: dict[str, Any]) -> None:
    links, fields = ads_profile["links"], ads_profile["fields"]
    path: str | None = ads_profile["start_urls"][0]
    detail_urls: list[str] = []
    pages = 0
    while path:
        doc = Selector(text=fetch(server, path)[2])
        detail_urls += doc.css(links["detail"]).getall()
        path = doc.css(links["next"]).get()
        pages += 1
    assert pages == 3 and len(detail_urls) == 50 == len(set(detail_urls))
    cities_by_phone: dict[str, set[str]] = defaultdict(set)
    for url in detail_urls:
        assert re.search(links["detail_url_pattern"], url)
        doc = Selector(text=fetch(server, url)[2])
        contact = css_get(doc, fields["contact"])
        city = css_get(doc, fields["location"])
        assert contact and city
        (digits,) = phone_digit_strings(contact)
        cities_by_phone[digits].add(city)
    spread = sorted((len(c) for c in cities_by_phone.values()), reverse=True)
    assert spread[0] >= 3 and spread[1] >= 2
    assert len(cities_by_phone["3125550147"]) == 6
    assert cities_by_phone["7135550183"] == {"Houston, TX", "New Orleans, LA", "San Antonio, TX"}


def test_classified_detail_selectors(server: DemoServer, ads_profile: dict[str, Any]) -> None:
    fields = ads_profile["fields"]
    ad = next(a for a in site.load_classifieds() if a.phone == "three one two 555 oh one four seven")
    status, ctype, body = fetch(server, site.ad_path(ad.id))
    assert status == 200 and ctype == "text/html; charset=utf-8"
    doc = Selector(text=body)
    assert css_get(doc, fields["title"]) == "new girl, 18, young and fresh - in Atlanta 3 days only"
    assert css_get(doc, fields["location"]) == "Atlanta, GA"
    assert css_get(doc, fields["posted"]) == "2026-10-15T20:30:00"
    assert css_get(doc, fields["contact"]) == "three one two 555 oh one four seven"
    text = element_text(doc, fields["body"])
    assert text.startswith("New girl, 18, young and fresh, first time in Atlanta.")
    assert "ask for Lily" in text
    assert "indicator" not in body and "cues" not in body  # the data's labels are not rendered


# ---------------------------------------------------------------------------------------------
# profiles
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, spider, ad_type", [("demo-jobs", "jobboard", "job"),
                                                    ("demo-classifieds", "classifieds", "escort")])
def test_profiles_follow_the_schema(name: str, spider: str, ad_type: str) -> None:
    from crawler.profiles import load_profile

    profile = load_profile(SITES / f"{name}.toml")  # the real schema: unknown keys are an error
    assert (profile.name, profile.spider, profile.ad_type) == (name, spider, ad_type)
    assert all(u.startswith("/") for u in profile.start_urls)
    assert profile.canonical_base == "http://demo-board.example.org"
    detail = "/jobs/4709.html" if ad_type == "job" else "/classifieds/ad/7410037.html"
    assert profile.links.is_detail_url("http://127.0.0.1:8000" + detail)


def test_run_demo_site_serves_until_sigterm() -> None:
    import signal
    import subprocess
    import sys

    code = "from demo.server import run_demo_site; run_demo_site(port=0)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        with urllib.request.urlopen(match.group(0) + "robots.txt", timeout=10) as resp:
            assert b"Disallow: /private/" in resp.read()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "stopping demo board" in out
    assert err == ""


def test_run_demo_site_stops_on_ctrl_c() -> None:
    import signal
    import subprocess
    import sys

    code = "from demo.server import run_demo_site; run_demo_site(port=0)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        assert "http://127.0.0.1:" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (proc.returncode, out.strip(), err) == (0, "stopping demo board", "")
