"""Crawl throughput: the full adwatch pipeline beside a bare Scrapy spider on the same pages.

In one process and one Twisted reactor, against the bundled demo board (``demo.server.DemoServer``
on a free local port), this runs in turn:

1. ``full``: the real crawls of ``demo-jobs`` and ``demo-classifieds`` (``ProfileSpider``:
   listing -> detail, JSON-LD and selector parsing, then normalise -> dedupe -> score ->
   validate -> store into a fresh SQLite database in a temporary folder), with the project's
   settings (robots.txt, middlewares, Spidermon);
2. ``noscore``: the same full crawl with ``ADWATCH_SCORE_ENABLED = False`` (parsing, validation
   and storing, but no scoring), to show where the time goes;
3. ``bare``: a plain ``scrapy.Spider`` that requests exactly the URLs the full crawl received a
   response for (robots.txt excepted) and does nothing with the responses: no parsing, scoring or
   storing, no adwatch middlewares, pipelines or extensions.

Both use the same downloader settings: concurrency, no download delay and AutoThrottle off (a
politeness delay would measure the delay, not the crawler; it is the same for both in production).
Pages/s = responses received / (finish_time - start_time) from each crawl's Scrapy stats (model
loading happens before ``start_time``; opening the database after it, and counts).

Usage: ``python bench/crawl.py [--rounds N]`` (N full+bare pairs; the medians are reported).
The last line is one JSON object: ``full_pages_per_s``, ``noscore_pages_per_s``,
``bare_pages_per_s``, ``ratio`` (full / bare; target >= 0.8, issue 6), ``noscore_ratio`` and the
page counts.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds scripts named like stdlib modules (bench/queue.py): keep it off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerRunner
from scrapy.settings import Settings
from scrapy.utils.log import configure_logging
from scrapy.utils.reactor import install_reactor

DOWNLOADER = {
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "DOWNLOAD_DELAY": 0.0,
    "AUTOTHROTTLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
    "TELNETCONSOLE_ENABLED": False,
}
"""Downloader settings shared by both crawls."""


class BareSpider(scrapy.Spider):
    """Fetch a fixed list of URLs and ignore every response (the baseline)."""

    name = "bare"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls

    async def start(self):  # type: ignore[no-untyped-def]
        """One request per URL, not filtered (the list has no duplicates)."""
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse, dont_filter=True)

    def parse(self, response: scrapy.http.Response, **kwargs: Any) -> None:
        """Do nothing."""
        return


def _pages_per_s(stats: dict[str, Any]) -> tuple[int, float, float]:
    pages = int(stats.get("response_received_count", 0))
    seconds = (stats["finish_time"] - stats["start_time"]).total_seconds()
    return pages, seconds, pages / seconds if seconds else 0.0


def main() -> None:
    """Run the benchmark and print the figures (last line JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="full+bare pairs to run (medians reported)")
    args = parser.parse_args()

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from twisted.internet import defer, reactor

    from config.settings import get_settings
    from crawler.profiles import load_profile
    from crawler.runner import (
        PER_CRAWL_PRIORITY,
        _spider_class,
        build_settings,
        profile_scrapy_settings,
    )
    from demo.server import DemoServer

    configure_logging({"LOG_LEVEL": "WARNING", "LOG_INSTALL_ROOT_HANDLER": True})
    logging.getLogger("scrapy").setLevel(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="adwatch-bench-crawl-"))
    rows: list[dict[str, Any]] = []

    with DemoServer() as server:
        profiles = [load_profile(n) for n in ("demo-jobs", "demo-classifieds")]

        @defer.inlineCallbacks
        def from_pipeline(rnd: int, label: str, extra: dict[str, Any], urls: list[str]) -> Any:
            """Crawl both demo profiles with the full project settings (+ ``extra``); return their stats."""
            db = f"sqlite:///{tmp / f'round{rnd}-{label}.db'}"
            settings = build_settings(get_settings(), database_url=db, log_level="WARNING",
                                      overrides={**DOWNLOADER, **extra})
            runner = CrawlerRunner(settings)
            out = []
            for profile in profiles:
                crawler = runner.create_crawler(_spider_class(profile))
                crawler.settings.setdict({**profile_scrapy_settings(profile), **DOWNLOADER, **extra}, priority=PER_CRAWL_PRIORITY)

                def seen(response: Any, **_: Any) -> None:
                    if not response.url.endswith("/robots.txt"):
                        urls.append(response.url)

                crawler._bench_seen = seen  # type: ignore[attr-defined] # keep a strong reference (signals are weak)
                crawler.signals.connect(seen, signal=signals.response_received)
                yield runner.crawl(crawler, profile=profile, base_url=server.base_url)
                out.append(dict(crawler.stats.get_stats()))
            return out

        @defer.inlineCallbacks
        def run() -> Any:
            try:
                for rnd in range(args.rounds):
                    urls: list[str] = []
                    full_stats = yield from_pipeline(rnd, "full", {}, urls)
                    noscore_stats = yield from_pipeline(rnd, "noscore", {"ADWATCH_SCORE_ENABLED": False}, [])
                    bare_runner = CrawlerRunner(Settings({**DOWNLOADER, "ROBOTSTXT_OBEY": False}))
                    bare = bare_runner.create_crawler(BareSpider)
                    yield bare_runner.crawl(bare, urls=list(dict.fromkeys(urls)))
                    bare_stats = dict(bare.stats.get_stats())
                    f_pages = sum(_pages_per_s(s)[0] for s in full_stats)
                    f_secs = sum(_pages_per_s(s)[1] for s in full_stats)
                    n_pages = sum(_pages_per_s(s)[0] for s in noscore_stats)
                    n_secs = sum(_pages_per_s(s)[1] for s in noscore_stats)
                    b_pages, b_secs, b_rate = _pages_per_s(bare_stats)
                    row = {"round": rnd + 1, "full_pages": f_pages, "full_seconds": round(f_secs, 3),
                           "full_pages_per_s": round(f_pages / f_secs, 1),
                           "noscore_pages_per_s": round(n_pages / n_secs, 1), "bare_pages": b_pages,
                           "bare_seconds": round(b_secs, 3), "bare_pages_per_s": round(b_rate, 1),
                           "ads_stored": sum(int(s.get("adwatch/stored/inserted", 0)) for s in full_stats)}
                    row["ratio"] = round(row["full_pages_per_s"] / row["bare_pages_per_s"], 3)
                    rows.append(row)
                    print(f"round {rnd + 1}: full {f_pages} pages in {f_secs:.2f} s = {row['full_pages_per_s']} pages/s "
                          f"({row['ads_stored']} ads stored); noscore {row['noscore_pages_per_s']} pages/s; bare {b_pages} pages in {b_secs:.2f} s = "
                          f"{row['bare_pages_per_s']} pages/s; ratio {row['ratio']}", flush=True)
            finally:
                reactor.stop()  # type: ignore[misc]

        reactor.callWhenRunning(run)
        reactor.run()  # type: ignore[misc]

    if not rows:
        raise SystemExit("benchmark did not complete")
    result = {
        "bench": "crawl", "rounds": len(rows), "pages": rows[-1]["full_pages"],
        "full_pages_per_s": statistics.median(r["full_pages_per_s"] for r in rows),
        "noscore_pages_per_s": statistics.median(r["noscore_pages_per_s"] for r in rows),
        "bare_pages_per_s": statistics.median(r["bare_pages_per_s"] for r in rows),
        "ads_stored_per_round": rows[-1]["ads_stored"],
    }
    result["ratio"] = round(result["full_pages_per_s"] / result["bare_pages_per_s"], 3)
    result["noscore_ratio"] = round(result["noscore_pages_per_s"] / result["bare_pages_per_s"], 3)
    result["target_ratio"] = 0.8
    result["target_met"] = result["ratio"] >= 0.8
    print(json.dumps(result))


if __name__ == "__main__":
    main()
