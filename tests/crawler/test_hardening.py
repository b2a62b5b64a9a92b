"""Unit tests of the crawler hardening (issue 6): trap guard, retry backoff, media switch per
profile, proxy, per-site settings, re-decoding, JSON-LD fallback, monitors' schema and error rate."""

from __future__ import annotations

import jsonschema
import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from crawler.middlewares import (
    DropMediaDownloaderMiddleware,
    RetryBackoffDownloaderMiddleware,
    TrapGuardSpiderMiddleware,
)
from crawler.monitors import AD_ITEM_SCHEMA, error_rate
from crawler.profiles import ProfileError, SiteProfile
from crawler.runner import crawl_command, profile_scrapy_settings
from crawler.spiders.classifieds import ClassifiedsSpider

BASE = "http://127.0.0.1:8000"


def profile(**kwargs) -> SiteProfile:  # type: ignore[no-untyped-def]
    values = {"name": "t", "spider": "classifieds", "start_urls": ["/ads/"], "base_url": BASE,
              "links": {"detail": "a.ad::attr(href)", "next": "a[rel=next]::attr(href)"},
              "fields": {"title": "h1::text", "body": "div.body"}}
    values.update(kwargs)
    return SiteProfile.model_validate(values)


def make_spider(p: SiteProfile, settings: dict | None = None) -> ClassifiedsSpider:
    crawler = get_crawler(ClassifiedsSpider, settings_dict=settings)
    spider = ClassifiedsSpider.from_crawler(crawler, profile=p)
    crawler.spider = spider
    crawler.stats.open_spider()
    return spider


def html(url: str, body: bytes, ctype: str = "text/html; charset=utf-8", **meta) -> HtmlResponse:  # type: ignore[no-untyped-def]
    return HtmlResponse(url=url, body=body, headers={"Content-Type": ctype}, request=Request(url, meta=meta))


# -- trap guard --------------------------------------------------------------------------------
def test_trap_guard_cuts_depth_query_variants_and_repeated_segments() -> None:
    spider = make_spider(profile(max_depth=2, max_query_variants=2, max_segment_repeats=2))
    mw = TrapGuardSpiderMiddleware.from_crawler(spider.crawler)
    page = html(f"{BASE}/ads/", b"", adwatch_depth=1)
    out = list(mw.process_spider_output(page, [
        Request(f"{BASE}/list?page=2"), Request(f"{BASE}/list?page=3"), Request(f"{BASE}/list?page=4"),
        Request(f"{BASE}/list?page=2"),  # a variant already seen passes (the dupefilter's job)
        Request(f"{BASE}/a/b/a/b/a/"), Request(f"{BASE}/a/b/a/"), {"item": 1},
    ], spider))
    urls = [r.url for r in out if isinstance(r, Request)]
    assert urls == [f"{BASE}/list?page=2", f"{BASE}/list?page=3", f"{BASE}/list?page=2", f"{BASE}/a/b/a/"]
    assert {"item": 1} in out
    assert all(r.meta["adwatch_depth"] == 2 for r in out if isinstance(r, Request))
    deeper = html(f"{BASE}/list?page=3", b"", adwatch_depth=2)
    assert list(mw.process_spider_output(deeper, [Request(f"{BASE}/x")], spider)) == []
    stats = spider.crawler.stats
    assert stats.get_value("adwatch/trap/query_variants") == 1
    assert stats.get_value("adwatch/trap/segment_repeat") == 1
    assert stats.get_value("adwatch/trap/depth") == 1


def test_trap_guard_limits_of_zero_are_off() -> None:
    spider = make_spider(profile(max_depth=0, max_query_variants=0, max_segment_repeats=0))
    mw = TrapGuardSpiderMiddleware.from_crawler(spider.crawler)
    reqs = [Request(f"{BASE}/list?page={n}") for n in range(50)] + [Request(f"{BASE}/a/a/a/a/a/")]
    assert len(list(mw.process_spider_output(html(f"{BASE}/", b"", adwatch_depth=99), reqs, spider))) == 51


# -- retry backoff -------------------------------------------------------------------------------
def test_retry_backoff_doubles_from_the_profile_base_and_is_capped() -> None:
    spider = make_spider(profile(retry_backoff=0.5))
    mw = RetryBackoffDownloaderMiddleware.from_crawler(spider.crawler)
    assert [mw.delay_for(n, spider) for n in (0, 1, 2, 3)] == [0.0, 0.5, 1.0, 2.0]
    assert mw.delay_for(20, spider) == 60.0
    off = make_spider(profile(retry_backoff=0))
    assert RetryBackoffDownloaderMiddleware.from_crawler(off.crawler).delay_for(3, off) == 0.0


# -- media -------------------------------------------------------------------------------------
def test_media_dropped_by_default_and_counted_by_kind() -> None:
    spider = make_spider(profile())
    mw = DropMediaDownloaderMiddleware.from_crawler(spider.crawler)
    mw.spider_opened(spider)
    for path in ("a.JPG", "b.mp4", "c.mp3"):
        with pytest.raises(IgnoreRequest):
            mw.process_request(Request(f"{BASE}/{path}"), spider)
    req = Request(f"{BASE}/photo")
    with pytest.raises(IgnoreRequest):
        mw.process_response(req, Response(req.url, headers={"Content-Type": "image/webp"}), spider)
    stats = spider.crawler.stats.get_stats()
    assert stats["adwatch/media_dropped/request"] == 3 and stats["adwatch/media_dropped/response"] == 1
    assert (stats["adwatch/media_dropped/image"], stats["adwatch/media_dropped/video"], stats["adwatch/media_dropped/audio"]) == (2, 1, 1)
    assert stats["adwatch/media_enabled"] is False


def test_profile_media_enabled_lets_media_through_and_counts_it() -> None:
    spider = make_spider(profile(media_enabled=True))
    mw = DropMediaDownloaderMiddleware.from_crawler(spider.crawler)
    mw.spider_opened(spider)
    assert mw.process_request(Request(f"{BASE}/a.jpg"), spider) is None
    req = Request(f"{BASE}/photo")
    resp = Response(req.url, headers={"Content-Type": "image/png"})
    assert mw.process_response(req, resp, spider) is resp
    stats = spider.crawler.stats.get_stats()
    assert stats["adwatch/media_allowed"] == 2 and stats["adwatch/media_enabled"] is True
    assert profile_scrapy_settings(profile(media_enabled=True))["ADWATCH_MEDIA_ENABLED"] is True
    assert "ADWATCH_MEDIA_ENABLED" not in profile_scrapy_settings(profile())


# -- proxy and per-site limits -------------------------------------------------------------------
def test_no_proxy_by_default_and_an_http_proxy_per_profile() -> None:
    assert "proxy" not in make_spider(profile()).request_meta()
    meta = make_spider(profile(proxy="http://127.0.0.1:8118", download_timeout=5, retry_times=0,
                               download_maxsize=1000)).request_meta(detail=True)
    assert meta["proxy"] == "http://127.0.0.1:8118"
    assert (meta["download_timeout"], meta["max_retry_times"], meta["download_maxsize"]) == (5, 0, 1000)
    assert meta["adwatch_detail"] is True


def test_socks_proxy_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ProfileError, match="no SOCKS support"):
        make_spider(profile(proxy="socks5h://127.0.0.1:9050"))
    with pytest.raises(ValueError, match="proxy"):
        profile(proxy="ftp://x")


def test_profile_politeness_keys_become_scrapy_settings() -> None:
    p = profile(download_delay=2.5, concurrency=2, download_timeout=10, download_maxsize=4_000_000,
                retry_times=3, retry_backoff=0.25, max_redirects=4)
    assert profile_scrapy_settings(p) == {
        "ADWATCH_RETRY_BACKOFF": 0.25, "DOWNLOAD_DELAY": 2.5, "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DOWNLOAD_TIMEOUT": 10, "DOWNLOAD_MAXSIZE": 4_000_000, "DOWNLOAD_WARNSIZE": 2_000_000,
        "RETRY_TIMES": 3, "REDIRECT_MAX_TIMES": 4,
    }
    argv = crawl_command(p, jobdir=None)
    assert "DOWNLOAD_DELAY=2.5" in argv and "CONCURRENT_REQUESTS_PER_DOMAIN=2" in argv


# -- decoding, soft 404, JSON-LD fallback ---------------------------------------------------------
def test_misdeclared_cp1252_page_is_redecoded_and_counted() -> None:
    spider = make_spider(profile())
    body = "<html><body><h1>Café “Zoë” – 10 €</h1><div class='body'>x</div></body></html>".encode("cp1252")
    out = list(spider.parse_detail(html(f"{BASE}/ad/1.html", body)))
    assert out[0].title == "Café “Zoë” – 10 €"
    assert spider.crawler.stats.get_value("adwatch/encoding/redecoded") == 1


def test_correct_page_is_not_redecoded() -> None:
    spider = make_spider(profile())
    out = list(spider.parse_detail(html(f"{BASE}/ad/1.html", "<h1>Café</h1><div class='body'>x</div>".encode())))
    assert out[0].title == "Café"
    assert spider.crawler.stats.get_value("adwatch/encoding/redecoded") is None


def test_soft_404_yields_gone_not_an_ad() -> None:
    spider = make_spider(profile())
    out = list(spider.parse_detail(html(f"{BASE}/ad/9.html", b"<title>Ad no longer available</title><h1>Sorry</h1>")))
    assert len(out) == 1 and out[0].status == "gone" and out[0].reason == "soft 404"
    assert spider.crawler.stats.get_value("adwatch/pages/soft_404") == 1
    unchecked = make_spider(profile(soft_404_pattern=""))
    page = html(f"{BASE}/ad/9.html", b"<title>Page not found</title><h1>Page not found</h1><div class='body'>x</div>")
    (item,) = unchecked.parse_detail(page)
    assert item.title == "Page not found"  # the check is off: the page is read as an ad


def test_jsonld_too_deep_to_parse_falls_back_to_html_fields() -> None:
    spider = make_spider(profile())
    deep = "[" * 100_000 + "]" * 100_000
    body = f'<script type="application/ld+json">{deep}</script><h1>Deep</h1><div class="body">text</div>'.encode()
    out = list(spider.parse_detail(html(f"{BASE}/ad/2.html", body)))
    assert [i.title for i in out] == ["Deep"]
    assert spider.crawler.stats.get_value("adwatch/jsonld/unparseable") == 1


def test_errback_counts_failures_by_kind() -> None:
    from twisted.python.failure import Failure

    spider = make_spider(profile())
    req = Request(f"{BASE}/x")
    f = Failure(TimeoutError("took too long"))
    f.request = req  # type: ignore[attr-defined]
    spider.on_error(f)
    counted = Request(f"{BASE}/y.jpg", meta={"adwatch_counted": True})
    g = Failure(IgnoreRequest("media"))
    g.request = counted  # type: ignore[attr-defined]
    spider.on_error(g)
    stats = spider.crawler.stats.get_stats()
    assert stats["adwatch/failed/TimeoutError"] == 1 and stats["adwatch/failed/total"] == 1


# -- monitors ------------------------------------------------------------------------------------
def test_ad_item_schema_accepts_a_whole_ad_and_rejects_a_half_written_one() -> None:
    ad = {"url": f"{BASE}/ad/1.html", "canonical_url": f"{BASE}/ad/1.html", "site": "t", "ad_type": "job",
          "title": "Cook", "body": None, "content_sha256": "a" * 64, "salary_currency": "EUR", "http_status": 200,
          "source": "html"}
    jsonschema.validate(ad, AD_ITEM_SCHEMA)
    for broken in ({**ad, "title": None}, {**ad, "content_sha256": None}, {**ad, "ad_type": "spam"},
                   {k: v for k, v in ad.items() if k != "site"}, {**ad, "salary_currency": "euro"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, AD_ITEM_SCHEMA)


def test_error_rate_is_failed_over_attempted_pages() -> None:
    assert error_rate({}) == 0.0
    assert error_rate({"adwatch/pages/listing": 2, "adwatch/pages/detail": 6, "adwatch/failed/total": 2}) == 0.2
    assert error_rate({"adwatch/failed/total": 1, "response_received_count": 2}) == 1.0


def test_profile_settings_survive_the_process_settings_merge() -> None:
    from scrapy.crawler import CrawlerRunner

    from crawler.runner import PER_CRAWL_PRIORITY, build_settings

    runner = CrawlerRunner(build_settings(overrides={"DOWNLOAD_DELAY": 0.0, "CONCURRENT_REQUESTS_PER_DOMAIN": 8}))
    crawler = runner.create_crawler(ClassifiedsSpider)
    crawler.settings.setdict(profile_scrapy_settings(profile(download_delay=2.5, concurrency=2)), priority=PER_CRAWL_PRIORITY)
    runner.create_crawler(crawler)  # what CrawlerRunner.crawl(crawler) does first: merges the runner's settings
    assert crawler.settings.getfloat("DOWNLOAD_DELAY") == 2.5
    assert crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 2
