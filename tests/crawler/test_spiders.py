"""Spider callbacks on pages served by the demo board (HtmlResponse built from real HTTP fetches)."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.items import AdItem
from crawler.profiles import SiteProfile, load_profile
from crawler.spiders.classifieds import ClassifiedsSpider
from crawler.spiders.jobboard import JobBoardSpider


def make_spider(cls, **kwargs):
    crawler = get_crawler(cls)
    spider = cls.from_crawler(crawler, **kwargs)
    crawler.spider = spider
    crawler.stats.open_spider()
    return spider


def response(fetch, u: str) -> HtmlResponse:
    status, _headers, body = fetch(u)
    return HtmlResponse(url=u, status=status, body=body, encoding="utf-8", request=Request(u))


def test_start_urls_resolve_against_base_url(demo_server):
    spider = make_spider(JobBoardSpider, profile=load_profile("demo-jobs"), base_url=demo_server.base_url)
    assert spider.start_urls_resolved == [demo_server.base_url + "/jobs/"]
    assert spider.allowed_domains == ["127.0.0.1"]


def test_listing_page_yields_detail_requests_and_next_page(demo_server, url, fetch):
    spider = make_spider(JobBoardSpider, profile=load_profile("demo-jobs"), base_url=demo_server.base_url)
    out = list(spider.parse(response(fetch, url("/jobs/"))))
    details = [r for r in out if r.callback == spider.parse_detail]
    listings = [r for r in out if r.callback == spider.parse]
    assert all(isinstance(r, Request) for r in out)
    assert len(details) >= 20
    assert [r.url for r in listings] == [url("/jobs/?page=2")]
    assert spider.crawler.stats.get_value("adwatch/pages/listing") == 1


def test_max_pages_stops_scheduling(demo_server, url, fetch):
    spider = make_spider(JobBoardSpider, profile=load_profile("demo-jobs"), base_url=demo_server.base_url, max_pages=5)
    out = list(spider.parse(response(fetch, url("/jobs/"))))
    assert len(out) == 5
    assert spider.crawler.stats.get_value("adwatch/max_pages_reached") is True


@pytest.mark.parametrize("job_id", [4709, 11080])
def test_detail_page_yields_one_item_with_site_and_type(demo_server, url, fetch, job_id):
    spider = make_spider(JobBoardSpider, profile=load_profile("demo-jobs"), base_url=demo_server.base_url)
    items = list(spider.parse_detail(response(fetch, url(f"/jobs/{job_id}.html"))))
    assert len(items) == 1
    item = items[0]
    assert isinstance(item, AdItem)
    assert (item.site, item.ad_type, item.http_status) == ("demo-jobs", "job", 200)
    expected_title = {4709: "Python Engineer", 11080: "Entry Level Sales"}[job_id]
    assert item.title == expected_title
    assert item.source == ("jsonld" if job_id % 2 == 0 else "html")


def test_classified_detail_has_contact_location_and_body(demo_server, url, fetch):
    spider = make_spider(ClassifiedsSpider, profile=load_profile("demo-classifieds"), base_url=demo_server.base_url)
    items = list(spider.parse_detail(response(fetch, url("/classifieds/ad/7410037.html"))))
    assert len(items) == 1
    item = items[0]
    assert (item.ad_type, item.site, item.source) == ("escort", "demo-classifieds", "html")
    assert item.title == "NEW IN TOWN ~ sweet Asian girl, just arrived"
    assert "(312) 555-0147" in item.contact_raw
    assert item.location_raw == "Chicago, IL"
    assert item.body.startswith("Just arrived in Chicago and only here 3 days!")


def test_discovery_mode_reads_jsonld_on_any_page_and_follows_same_domain_links(demo_server, url, fetch):
    profile = SiteProfile(name="127.0.0.1", spider="jobboard", ad_type="job", start_urls=[url("/jobs/")])
    spider = make_spider(JobBoardSpider, profile=profile, max_pages=1000)
    listing_out = list(spider.parse(response(fetch, url("/jobs/"))))
    assert not [o for o in listing_out if isinstance(o, AdItem)]
    follow = {r.url for r in listing_out if isinstance(r, Request)}
    assert url("/jobs/?page=2") in follow
    assert all(u.startswith(url("/")) for u in follow)
    jsonld_page = list(spider.parse(response(fetch, url("/jobs/11080.html"))))
    items = [o for o in jsonld_page if isinstance(o, AdItem)]
    assert [i.title for i in items] == ["Entry Level Sales"]
    html_only = list(spider.parse(response(fetch, url("/jobs/4709.html"))))
    assert not [o for o in html_only if isinstance(o, AdItem)]


def test_non_text_response_is_counted_not_crashed(demo_server):
    spider = make_spider(JobBoardSpider, profile=load_profile("demo-jobs"), base_url=demo_server.base_url)
    from scrapy.http import Response

    out = list(spider.parse_detail(Response(url="http://127.0.0.1/x.bin", body=b"\x00\x01")))
    assert out == []
    assert spider.crawler.stats.get_value("adwatch/pages/not_text") == 1


def test_ads_under_a_run_time_base_url_get_a_stable_canonical_url(demo_server, url, fetch):
    spider = make_spider(JobBoardSpider, profile=load_profile("demo-jobs"), base_url=demo_server.base_url)
    [item] = list(spider.parse_detail(response(fetch, url("/jobs/4709.html"))))
    assert item.canonical_url == "http://demo-board.example.org/jobs/4709.html"
    assert item.url == url("/jobs/4709.html")
