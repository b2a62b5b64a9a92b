"""crawler.pages on real saved pages (LinkedIn guest, 고용24) and on small synthetic ones."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from itemadapter import ItemAdapter
from scrapy.http import HtmlResponse

from crawler.items import AdItem, content_sha256
from crawler.loaders import AdLoader
from crawler.pages import DetailResult, parse_detail, parse_listing
from crawler.profiles import SiteProfile, load_profile
from tests.crawler.support import (
    FIXTURES,
    LINKEDIN_DETAIL_URL,
    LINKEDIN_SEARCH_URL,
    NOW,
    WORK24_DETAIL_URL,
    WORK24_EXPIRED_URL,
    WORK24_LISTING_URL,
    WORK24_NOW,
    read_fixture,
)

# ---------------------------------------------------------------- LinkedIn (guest pages)


def test_linkedin_detail_page() -> None:
    result = parse_detail(read_fixture("linkedin/detail_page.html"), LINKEDIN_DETAIL_URL,
                          load_profile("linkedin-guest"), NOW)
    assert (result.expired, result.reason, result.jsonld_broken) == (False, None, 0)
    [item] = result.items
    assert item.title == "Machine Learning Ops Engineer (m/w/d) in Berlin"
    assert item.employer == "Deloitte"
    assert item.location_raw == "Berlin, Berlin, Germany"
    assert item.posted_raw == "2 days ago"
    assert item.posted_date == "2026-06-30"
    assert (item.site, item.ad_type, item.source) == ("linkedin-guest", "job", "html")
    assert item.url == item.canonical_url == LINKEDIN_DETAIL_URL
    assert item.fetched_at == "2026-07-02T12:00:00+00:00"
    assert item.salary_raw is None and item.salary_min is None
    body = item.body or ""
    assert body.startswith("Deloitte bietet führende Prüfungs- und Beratungsleistungen in Audit & Assurance")
    # <strong>Leipzig</strong><strong>, Berlin</strong>... stays one line; <br><br> makes paragraphs
    assert "\n\nStandorte: Leipzig, Berlin, Düsseldorf, Frankfurt (Main), Hannover und München.\n\n" in body
    # list items are lines of their own
    assert "\nDeutsch und Englisch sehr gut in Wort und Schrift\n" in body
    assert body.endswith("Job-ID: 49806")
    assert "<" not in body and "  " not in body and "\n\n\n" not in body
    assert len(item.content_sha256 or "") == 64


def test_linkedin_search_page_gives_60_detail_links_and_no_next_link() -> None:
    details, nexts = parse_listing(read_fixture("linkedin/search_page.html"), LINKEDIN_SEARCH_URL,
                                   load_profile("linkedin-guest"))
    assert len(details) == 60
    assert len(set(details)) == 60
    # refId/trackingId (different on every search) are stripped, the rest kept in page order
    assert details[0] == (
        "https://de.linkedin.com/jobs/view/machine-learning-ops-engineer-m-w-d-in-berlin-at-deloitte-4435125316"
        "?position=1&pageNum=0"
    )
    assert details[2].startswith("https://de.linkedin.com/jobs/view/machine-learning-ops-engineer-m-w-d-in-m%C3%BCnchen")
    assert all("/jobs/view/" in d and "trackingId" not in d for d in details)
    assert nexts == []  # the guest search pages by script (infinite scroll)


# ---------------------------------------------------------------- 고용24 (work24.go.kr)


def test_work24_detail_page() -> None:
    result = parse_detail(read_fixture("work24/detail_page.html"), WORK24_DETAIL_URL, load_profile("work24"),
                          WORK24_NOW, http_status=200)
    assert (result.expired, result.reason) == (False, None)
    [item] = result.items
    assert item.title == "[장애인만 채용] 어업경영체 등록 조사원"
    assert item.employer == "군산지방해양수산청"
    assert item.location_raw == "전북특별자치도 군산시 설림길 11 (소룡동)"
    assert item.salary_raw == "월급 218만원 ~ 218만원"
    assert (item.salary_min, item.salary_max, item.salary_currency, item.salary_period) == (
        2180000, 2180000, "KRW", "month"
    )
    assert (item.posted_raw, item.posted_date) == ("2026.03.18 00:00:00", "2026-03-18")
    assert item.valid_through == "2026-04-01"
    assert item.contact_raw == "000-000-0006"  # redacted agency line in the fixture
    body = item.body or ""
    assert "- 근무시간 : 월~금 9:00~18:00\n- 급여 : 월 2,185,890원 이상" in body
    assert body.endswith("지원을 희망하시면 연락 부탁드립니다.")
    assert "\u00a0" not in body
    assert (item.source, item.http_status, item.site) == ("html", 200, "work24")
    assert item.canonical_url == (
        "https://www.work24.go.kr/wk/a/b/1500/empDetailAuthView.do"
        "?infoTypeCd=VALIDATION&infoTypeGroup=tb_workinfoworknet&wantedAuthNo=Dd04022603180062"
    )


def test_work24_expired_page_by_selector() -> None:
    result = parse_detail(read_fixture("work24/expired_page.html"), WORK24_EXPIRED_URL, load_profile("work24"), NOW)
    assert result == DetailResult(items=[], expired=True, jsonld_broken=0,
                                  reason="expired selector matched: body > form#frm:only-child")


def test_work24_expired_page_is_a_soft_404_even_without_the_expired_selector() -> None:
    profile = load_profile("work24")
    no_expired = profile.model_copy(update={"fields": profile.fields.model_copy(update={"expired": []})})
    result = parse_detail(read_fixture("work24/expired_page.html"), WORK24_EXPIRED_URL, no_expired, NOW)
    assert result.items == []
    assert result.expired is True
    assert result.reason == "no title and no body (soft 404 or expired page)"


def test_work24_listing_page_gives_its_10_postings() -> None:
    details, nexts = parse_listing(read_fixture("work24/listing_page.html"), WORK24_LISTING_URL,
                                   load_profile("work24"))
    assert len(details) == 10
    assert details[0] == WORK24_DETAIL_URL
    assert details[1] == (
        "https://www.work24.go.kr/wk/a/b/1500/empDetailAuthView.do"
        "?wantedAuthNo=KF10272603180004&infoTypeCd=VALIDATION&infoTypeGroup=tb_workinfoworknet"
    )
    assert nexts == []  # pagination is drawn by script


def test_work24_posting_past_its_deadline_is_expired() -> None:
    result = parse_detail(read_fixture("work24/detail_page.html"), WORK24_DETAIL_URL, load_profile("work24"), NOW)
    assert (result.expired, result.items) == (True, [])
    assert "2026-04-01" in (result.reason or "")


def test_scrapy_response_text_and_url_work_the_same() -> None:
    """The spider calls parse_detail(response.text, response.url, ...): check with a real HtmlResponse."""
    body = (FIXTURES / "work24/detail_page.html").read_bytes()
    response = HtmlResponse(url=WORK24_DETAIL_URL, body=body, encoding="utf-8", status=200)
    result = parse_detail(response.text, response.url, load_profile("work24"), WORK24_NOW, http_status=response.status)
    assert result.items[0].title == "[장애인만 채용] 어업경영체 등록 조사원"
    assert ItemAdapter(result.items[0]).asdict()["employer"] == "군산지방해양수산청"


# ---------------------------------------------------------------- synthetic pages

PROFILE = SiteProfile.model_validate(
    {
        "name": "synthetic",
        "ad_type": "other",
        "links": {"detail": "a.ad::attr(href)", "next": "a[rel=next]::attr(href)", "detail_url_pattern": r"/ad/\d+"},
        "fields": {
            "title": ["h1.missing::text", "h1.title::text"],
            "body": "div.body",
            "employer": ".who",
            "location": ".where::text",
            "salary": ".pay::text",
            "posted": "time::attr(datetime)",
            "contact": ".contact::text",
            "expired": ".expired-notice",
        },
    }
)

DETAIL = """<html><head><link rel="canonical" href="/ad/7?utm_source=feed"></head><body>
<h1 class="title"> Night   cook </h1>
<div class="body"><p>Cash daily.</p><p>Room <b>provided</b>.<br>Call now</p><script>x()</script></div>
<div class="body"><p>Second block.</p></div>
<span class="who">Diner <i>Ltd</i></span><span class="where">Springfield</span>
<span class="pay">$15-18/hr</span><time datetime="2026-06-20T08:00:00Z">June 20</time>
<span class="contact">(415) 555-0132</span><span class="contact">jobs@example.org</span>
</body></html>"""


def test_profile_selectors_fill_every_field() -> None:
    result = parse_detail(DETAIL, "https://ads.example.org/ad/7?ref=x#top", PROFILE, NOW)
    [item] = result.items
    assert item.title == "Night cook"  # the second selector of the list won
    assert item.body == "Cash daily.\n\nRoom provided.\nCall now\n\nSecond block."
    assert item.employer == "Diner Ltd"
    assert item.location_raw == "Springfield"
    assert (item.salary_min, item.salary_max, item.salary_currency, item.salary_period) == (15, 18, "USD", "hour")
    assert item.posted_date == "2026-06-20"
    assert item.contact_raw == "(415) 555-0132\njobs@example.org"
    assert item.canonical_url == "https://ads.example.org/ad/7"
    assert (item.ad_type, item.source) == ("other", "html")


def test_expired_selector_wins_over_content() -> None:
    html = DETAIL.replace("<body>", '<body><div class="expired-notice">This ad has expired</div>')
    result = parse_detail(html, "https://ads.example.org/ad/7", PROFILE, NOW)
    assert (result.items, result.expired) == ([], True)


def test_jsonld_comes_before_selectors() -> None:
    jsonld = (
        '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "JobPosting",'
        ' "title": "From JSON-LD", "description": "&lt;p&gt;Structured&lt;/p&gt;",'
        ' "url": "https://ads.example.org/ad/8?utm_medium=x",'
        ' "hiringOrganization": {"@type": "Organization", "name": "Org", "telephone": "+1 212 555 0147"},'
        ' "jobLocation": {"@type": "Place", "address": {"@type": "PostalAddress", "addressLocality": "Austin",'
        ' "addressRegion": "TX", "addressCountry": {"@type": "Country", "name": "US"}}},'
        ' "baseSalary": {"@type": "MonetaryAmount", "currency": "USD",'
        ' "value": {"@type": "QuantitativeValue", "minValue": 20, "maxValue": 25, "unitText": "HOUR"}},'
        ' "datePosted": "2026-06-01", "validThrough": "2026-08-01T00:00"}</script>'
    )
    html = DETAIL.replace("</head>", jsonld + "</head>")
    [item] = parse_detail(html, "https://ads.example.org/ad/8", PROFILE, NOW).items
    assert item.source == "jsonld"
    assert (item.title, item.body, item.employer) == ("From JSON-LD", "Structured", "Org")
    assert item.location_raw == "Austin, TX, US"
    assert (item.salary_min, item.salary_max, item.salary_currency, item.salary_period) == (20, 25, "USD", "hour")
    assert item.salary_raw is not None and '"unitText":"HOUR"' in item.salary_raw
    assert (item.posted_date, item.valid_through) == ("2026-06-01", "2026-08-01")
    assert item.contact_raw == "+1 212 555 0147"
    assert item.canonical_url == "https://ads.example.org/ad/8"


def test_no_profile_and_no_jsonld_gives_nothing_but_is_not_expired() -> None:
    result = parse_detail(DETAIL, "https://ads.example.org/ad/7", None, NOW)
    assert (result.items, result.expired) == ([], False)
    assert result.reason == "no JSON-LD JobPosting and no [fields] title/body selectors"


def test_empty_page() -> None:
    result = parse_detail("", "https://ads.example.org/ad/9", PROFILE, NOW)
    assert (result.items, result.expired) == ([], True)


def test_content_hash_ignores_layout_and_fetch_time() -> None:
    url = "https://ads.example.org/ad/7"
    first = parse_detail(DETAIL, url, PROFILE, NOW).items[0]
    relaid = DETAIL.replace("<p>Cash daily.</p>", "<p>\n  Cash&nbsp;daily.  </p>").replace("Night   cook", "NIGHT cook")
    later = parse_detail(relaid, url, PROFILE, datetime(2026, 8, 1, tzinfo=UTC)).items[0]
    assert first.content_sha256 == later.content_sha256
    changed = parse_detail(DETAIL.replace("$15-18/hr", "$16-18/hr"), url, PROFILE, NOW).items[0]
    assert changed.content_sha256 != first.content_sha256
    assert first.content_sha256 == content_sha256(
        first.title, first.body, first.employer, first.location_raw, first.salary_raw, first.contact_raw
    )


def test_listing_links_resolve_filter_and_dedupe() -> None:
    html = """<html><head><base href="https://ads.example.org/city/"></head><body>
    <a class="ad" href="/ad/1?utm_source=x#photos">one</a>
    <a class="ad" href="../ad/1">one again</a>
    <a class="ad" href="ad/2">two (relative to base)</a>
    <a class="ad" href="/promo/3">not a detail page</a>
    <a class="ad" href="javascript:void(0)">js</a>
    <a rel="next" href="?page=2">next</a>
    </body></html>"""
    details, nexts = parse_listing(html, "https://ads.example.org/city/?page=1", PROFILE)
    assert details == ["https://ads.example.org/ad/1", "https://ads.example.org/city/ad/2"]
    assert nexts == ["https://ads.example.org/city/?page=2"]


def test_listing_with_only_a_url_pattern() -> None:
    profile = SiteProfile(name="p", links={"detail_url_pattern": r"/ad/\d+$"})
    html = '<a href="/ad/1">1</a><a href="/about">about</a><a href="/ad/2">2</a>'
    details, nexts = parse_listing(html, "https://ads.example.org/", profile)
    assert details == ["https://ads.example.org/ad/1", "https://ads.example.org/ad/2"]
    assert nexts == []


def test_ad_loader_processors() -> None:
    from parsel import Selector

    loader = AdLoader(selector=Selector(text="<div><h1> A <b>title</b> </h1><p class=b>x</p><p class=b>y</p></div>"))
    loader.add_first_css("title", ["h1"])
    loader.add_css("body", "p.b")
    loader.add_value("salary_min", 12.5)
    item = loader.load_item()
    assert isinstance(item, AdItem)
    assert (item.title, item.body, item.salary_min) == ("A title", "x\n\ny", 12.5)


def test_item_is_a_dataclass_with_every_field() -> None:
    names = [f.name for f in dataclasses.fields(AdItem)]
    assert names == [
        "url", "canonical_url", "site", "ad_type", "title", "body", "employer", "location_raw", "salary_raw",
        "salary_min", "salary_max", "salary_currency", "salary_period", "posted_raw", "posted_date",
        "valid_through", "contact_raw", "fetched_at", "content_sha256", "source", "http_status", "etag", "last_modified", "raw_html", "score",
    ]


def test_urls_are_not_html_unescaped() -> None:
    """``&region=`` must not become ``®ion=`` (html.unescape knows legacy entities without ';')."""
    url = "https://ads.example.org/ad/7?id=3&region=us"
    [item] = parse_detail(DETAIL.replace('<link rel="canonical" href="/ad/7?utm_source=feed">', ""), url, PROFILE,
                          NOW).items
    assert item.url == url
    assert item.canonical_url == "https://ads.example.org/ad/7?id=3&region=us"
