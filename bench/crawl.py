"""Crawl throughput: the full adwatch pipeline beside a bare Scrapy spider on the same pages.

In one run, against the bundled demo board (``demo.server.DemoServer`` on a free local port, served
from a child process so that the web server does not compete with the crawler for this process's
GIL: a real site never runs inside the crawler), each round crawls each demo profile
(``demo-jobs``, ``demo-classifieds``) three times, one crawl at a time:

1. ``full``: the real crawl (``ProfileSpider``: listing -> detail, JSON-LD and selector parsing,
   then normalise -> dedupe -> score -> validate -> store into a fresh SQLite database in a
   temporary folder), with the project's settings (robots.txt, middlewares, Spidermon);
2. ``noscore``: the same crawl with ``ADWATCH_SCORE_ENABLED = False`` (parsing, validation and
   storing, but no scoring), to show where the time goes;
3. ``bare``: a plain ``scrapy.Spider`` that requests exactly the URLs the ``full`` crawl of that
   profile received a response for, and does nothing with the responses: no parsing, scoring or
   storing, no adwatch middlewares, pipelines or extensions. It obeys robots.txt like the full
   crawl (same user agent), so both fetch the same pages, robots.txt included, and both pay
   the same per-crawl start and close; the run checks that the fetched URL sets are equal. It
   also runs with the full crawl's Scrapy engine settings (``ENGINE_SETTINGS``).

All use the same downloader settings: concurrency, no download delay and AutoThrottle off (a
politeness delay would measure the delay, not the crawler; it is the same for both in production).
Pages/s = responses received / (finish_time - start_time) from each crawl's Scrapy stats, summed
over the profiles. Loading the model happens before ``start_time`` (once per process in
production), and so does the garbage collection and heap freeze when the item pipelines open
(``crawler.pipelines.FreezeHeapPipeline``, about 0.1 s per crawl, as in production); everything
the pipelines do per ad, including the final flushes, lies inside.

The demo server listens with a backlog of 128 connections (``socketserver``'s default is 5: when a
crawl opens its 8 connections at once the kernel drops the extra SYNs and the client retransmits
after 1 s, a stall per crawl that no real web server causes; nginx listens with 511).

Usage: ``python bench/crawl.py [--rounds N] [--profile DIR]`` (N rounds; the medians are reported;
``--profile`` writes a cProfile of each ``full`` crawl, from spider open to close, to DIR).
The last line is one JSON object: ``full_pages_per_s``, ``noscore_pages_per_s``,
``bare_pages_per_s``, ``ratio`` (full / bare; target >= 0.8, issue 6), ``noscore_ratio``,
``same_pages`` and the page counts.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import multiprocessing
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
"""Downloader settings shared by all crawls."""

ENGINE_SETTINGS = ("CONCURRENT_ITEMS",)
"""Scrapy engine settings the full crawl runs with (adwatch's spider lowers CONCURRENT_ITEMS) that the
bare crawl copies: they change Scrapy's own cost per page, which is not the pipeline's."""

PROFILES = ("demo-jobs", "demo-classifieds")
LISTEN_BACKLOG = 128


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


def _serve(conn: Any) -> None:
    """Child process: serve the demo board, send its base URL, stop when the pipe says so."""
    import socketserver

    socketserver.TCPServer.request_queue_size = LISTEN_BACKLOG
    from demo.server import DemoServer

    with DemoServer() as server:
        conn.send(server.base_url)
        conn.recv()


def _pages_per_s(stats: dict[str, Any]) -> tuple[int, float]:
    pages = int(stats.get("response_received_count", 0))
    return pages, (stats["finish_time"] - stats["start_time"]).total_seconds()


def main() -> None:
    """Run the benchmark and print the figures (last line JSON)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds to run (medians reported)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each full crawl into this folder")
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child_conn,), daemon=True)
    server.start()
    base_url = parent_conn.recv()

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

    configure_logging({"LOG_LEVEL": "WARNING", "LOG_INSTALL_ROOT_HANDLER": True})
    logging.getLogger("scrapy").setLevel(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="adwatch-bench-crawl-"))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    profiles = [load_profile(n) for n in PROFILES]
    app = get_settings()

    def watch(crawler: Any, seen: list[str], prof: cProfile.Profile | None = None) -> None:
        """Record the URLs the crawl got a response for; profile it from open to close."""

        def on_response(response: Any, **_: Any) -> None:
            seen.append(response.url)

        def on_open(spider: Any) -> None:
            if prof is not None:
                prof.enable()

        def on_close(spider: Any, reason: str) -> None:
            if prof is not None:
                prof.disable()

        crawler._bench_receivers = (on_response, on_open, on_close)  # type: ignore[attr-defined] # signals are weak
        crawler.signals.connect(on_response, signal=signals.response_received)
        crawler.signals.connect(on_open, signal=signals.spider_opened)
        crawler.signals.connect(on_close, signal=signals.spider_closed)

    @defer.inlineCallbacks
    def pipeline_crawl(rnd: int, label: str, profile: Any, extra: dict[str, Any], seen: list[str]) -> Any:
        """Crawl ``profile`` with the full project settings (+ ``extra``); return its stats."""
        db = f"sqlite:///{tmp / f'round{rnd}-{label}-{profile.name}.db'}"
        settings = build_settings(app, database_url=db, log_level="WARNING", overrides={**DOWNLOADER, **extra})
        runner = CrawlerRunner(settings)
        crawler = runner.create_crawler(_spider_class(profile))
        crawler.settings.setdict({**profile_scrapy_settings(profile), **DOWNLOADER, **extra}, priority=PER_CRAWL_PRIORITY)
        prof = cProfile.Profile() if args.profile and label == "full" else None
        watch(crawler, seen, prof)
        yield runner.crawl(crawler, profile=profile, base_url=base_url)
        if prof is not None:
            prof.dump_stats(str(args.profile / f"round{rnd + 1}-{profile.name}.prof"))
        engine = {name: crawler.settings.get(name) for name in ENGINE_SETTINGS}
        return dict(crawler.stats.get_stats()), engine

    @defer.inlineCallbacks
    def bare_crawl(urls: list[str], seen: list[str], engine: dict[str, Any]) -> Any:
        """Fetch ``urls`` (robots.txt obeyed, as the full crawl does) and nothing else; return the stats."""
        runner = CrawlerRunner(Settings({**DOWNLOADER, **engine, "ROBOTSTXT_OBEY": True, "USER_AGENT": app.crawl.user_agent}))
        crawler = runner.create_crawler(BareSpider)
        watch(crawler, seen)
        yield runner.crawl(crawler, urls=urls)
        return dict(crawler.stats.get_stats())

    @defer.inlineCallbacks
    def run() -> Any:
        try:
            for rnd in range(args.rounds):
                totals = {m: [0, 0.0] for m in ("full", "noscore", "bare")}
                same = True
                stored = 0
                for profile in profiles:
                    full_seen: list[str] = []
                    stats, engine = yield pipeline_crawl(rnd, "full", profile, {}, full_seen)
                    stored += int(stats.get("adwatch/stored/inserted", 0))
                    runs = {"full": stats}
                    runs["noscore"], _ = yield pipeline_crawl(rnd, "noscore", profile, {"ADWATCH_SCORE_ENABLED": False}, [])
                    bare_seen: list[str] = []
                    urls = [u for u in dict.fromkeys(full_seen) if not u.endswith("/robots.txt")]
                    runs["bare"] = yield bare_crawl(urls, bare_seen, engine)
                    same = same and sorted(full_seen) == sorted(bare_seen)
                    for mode, s in runs.items():
                        pages, secs = _pages_per_s(s)
                        totals[mode][0] += pages
                        totals[mode][1] += secs
                row: dict[str, Any] = {"round": rnd + 1, "ads_stored": stored, "same_pages": same}
                for mode, (pages, secs) in totals.items():
                    row[f"{mode}_pages"] = pages
                    row[f"{mode}_seconds"] = round(secs, 3)
                    row[f"{mode}_pages_per_s"] = round(pages / secs, 1)
                row["ratio"] = round(row["full_pages_per_s"] / row["bare_pages_per_s"], 3)
                rows.append(row)
                print(f"round {rnd + 1}: full {row['full_pages']} pages in {row['full_seconds']:.2f} s = "
                      f"{row['full_pages_per_s']} pages/s ({stored} ads stored); noscore "
                      f"{row['noscore_pages_per_s']} pages/s; bare {row['bare_pages']} pages in "
                      f"{row['bare_seconds']:.2f} s = {row['bare_pages_per_s']} pages/s; ratio {row['ratio']}; "
                      f"same pages: {same}", flush=True)
        finally:
            reactor.stop()  # type: ignore[attr-defined]

    try:
        reactor.callWhenRunning(run)  # type: ignore[attr-defined]
        reactor.run()  # type: ignore[attr-defined]
    finally:
        parent_conn.send("stop")
        server.join(timeout=10)

    if not rows:
        raise SystemExit("benchmark did not complete")
    result: dict[str, Any] = {
        "bench": "crawl", "rounds": len(rows), "pages": rows[-1]["full_pages"],
        "full_pages_per_s": statistics.median(r["full_pages_per_s"] for r in rows),
        "noscore_pages_per_s": statistics.median(r["noscore_pages_per_s"] for r in rows),
        "bare_pages_per_s": statistics.median(r["bare_pages_per_s"] for r in rows),
        "ads_stored_per_round": rows[-1]["ads_stored"],
        "same_pages": all(r["same_pages"] for r in rows),
    }
    result["ratio"] = round(result["full_pages_per_s"] / result["bare_pages_per_s"], 3)
    result["noscore_ratio"] = round(result["noscore_pages_per_s"] / result["bare_pages_per_s"], 3)
    result["target_ratio"] = 0.8
    result["target_met"] = result["ratio"] >= 0.8
    print(json.dumps(result))


if __name__ == "__main__":
    main()
