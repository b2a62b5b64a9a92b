"""Crawl the hostile test site in a real ``adwatch crawl`` subprocess: every bad page ends as a
logged and counted outcome in the crawl run's stats, never a crash and never a half-written ad."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.crawler.hostile_site import CASES, PROFILE_TOML, HostileSite

ROOT = Path(__file__).resolve().parents[2]
CRAWL = [sys.executable, "-c", "import typer, cli.crawling as c; typer.run(c.crawl)"]
"""``adwatch crawl`` as ``cli.crawling.crawl`` (the lead registers it in ``cli.main``)."""


def crawl(profile: Path, base_url: str, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the crawl command in a subprocess on ``db`` (SQLite)."""
    env = {**os.environ, "ADWATCH_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200"}
    return subprocess.run(
        [*CRAWL, "--site", str(profile), "--base-url", base_url, "-v", *args],
        check=False, cwd=db.parent, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def hostile_crawl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run ``adwatch crawl --site hostile.toml`` once against the hostile site."""
    tmp = tmp_path_factory.mktemp("hostile")
    profile = tmp / "hostile.toml"
    profile.write_text(PROFILE_TOML, encoding="utf-8")
    db = tmp / "adwatch.db"
    with HostileSite(slow_seconds=4.0) as site:
        started = time.monotonic()
        proc = crawl(profile, site.base_url, db, "--warc-out", str(tmp / "warc"), "--warc-min-band", "low")
        elapsed = time.monotonic() - started
        hits = site.hits
    con = sqlite3.connect(db)
    try:
        runs = con.execute("SELECT status, stats FROM crawl_run").fetchall()
        ads = con.execute(
            "SELECT a.url, a.title, a.text, a.content_sha256, (SELECT COUNT(*) FROM score s WHERE s.ad_id = a.id) "
            "FROM ad a"
        ).fetchall()
    finally:
        con.close()
    return {"proc": proc, "elapsed": elapsed, "hits": hits, "runs": runs, "ads": ads, "base": site.base_url,
            "warc": sorted((tmp / "warc").glob("*.warc.gz"))}


def test_crawl_exits_zero_and_finishes(hostile_crawl: dict[str, Any]) -> None:
    proc = hostile_crawl["proc"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    assert len(hostile_crawl["runs"]) == 1
    status, stats = hostile_crawl["runs"][0]
    stats = json.loads(stats)
    assert status == "finished"
    assert stats["finish_reason"] == "finished"
    assert not any(k.startswith("spider_exceptions") for k in stats)
    assert "adwatch/pages/parse_error" not in stats
    # the 50 MB body and the gzip bomb are refused quickly, the slow page times out after 1.5 s (x2)
    assert stats["elapsed_time_seconds"] < 15
    assert hostile_crawl["elapsed"] < 60


def test_monitors_pass_and_are_stored_on_the_run(hostile_crawl: dict[str, Any]) -> None:
    stats = json.loads(hostile_crawl["runs"][0][1])
    assert stats["adwatch/monitors/ok"] is True and stats["adwatch/monitors/failed"] == 0
    outcomes = {k: v for k, v in stats.items() if k.startswith("adwatch/monitors/") and "/" in k[17:]}
    assert len(outcomes) == 4, outcomes
    assert stats["adwatch/monitors/Error rate/Error rate is at most ADWATCH_MONITOR_MAX_ERROR_RATE"] == "passed"
    assert stats["adwatch/monitors/Extracted Items Monitor/test_stat_monitor"] == "passed"
    assert stats["spidermon/validation/items"] == len(hostile_crawl["ads"])  # every ad checked against AD_ITEM_SCHEMA
    assert "spidermon/validation/items/errors" not in stats
    assert "Monitors" in hostile_crawl["proc"].stdout


def test_a_failed_monitor_makes_the_crawl_exit_non_zero(tmp_path: Path) -> None:
    profile = tmp_path / "hostile.toml"
    profile.write_text(PROFILE_TOML.replace('start_urls = ["/hostile/"]', 'start_urls = ["/hostile/ad/error500.html"]'),
                       encoding="utf-8")
    db = tmp_path / "adwatch.db"
    with HostileSite() as site:
        proc = crawl(profile, site.base_url, db, "--min-items", "1")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    con = sqlite3.connect(db)
    try:
        status, raw = con.execute("SELECT status, stats FROM crawl_run").fetchone()
    finally:
        con.close()
    stats = json.loads(raw)
    # the crawl itself ran to the end (finish reason) but its monitors judged it: the run is failed
    assert status == "failed" and stats["finish_reason"] == "finished"
    assert stats["adwatch/monitors/ok"] is False and stats["adwatch/monitors/failed"] == 2
    assert stats["adwatch/monitors/Extracted Items Monitor/test_stat_monitor"].startswith("failed")
    assert "error rate 1.00 > 0.50" in stats["adwatch/monitors/Error rate/Error rate is at most ADWATCH_MONITOR_MAX_ERROR_RATE"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_hostile_page_is_a_counted_outcome(hostile_crawl: dict[str, Any], case: Any) -> None:
    stats = json.loads(hostile_crawl["runs"][0][1])
    assert stats.get(case.outcome, 0) >= 1, {k: v for k, v in stats.items() if k.startswith("adwatch/")}


def test_failure_counts_are_exact(hostile_crawl: dict[str, Any]) -> None:
    stats = json.loads(hostile_crawl["runs"][0][1])
    assert stats["adwatch/failed/max_size"] == 2  # big.html (Content-Length) + gzipbomb.html (decompressed)
    assert stats["adwatch/failed/http_500"] == 1
    assert stats["adwatch/failed/redirect_max"] == 1
    assert stats["adwatch/failed/DownloadTimeoutError"] == 1
    assert stats["adwatch/failed/total"] == 5
    assert stats["adwatch/encoding/redecoded"] == 3  # cp1252, latin1, sjis
    assert stats["adwatch/media_dropped/request"] == 1 and stats["adwatch/media_dropped/response"] == 1
    assert stats["adwatch/media_dropped/image"] == 2
    assert stats["adwatch/media_enabled"] is False
    # error500 and slow are retried once each (profile retry_times = 1), after a 0.1 s backoff; on
    # a loaded machine another page may time out once too, hence >=
    assert stats["retry/count"] >= 2 and stats["retry/max_reached"] >= 2
    assert stats["adwatch/retry/backoff_seconds"] == pytest.approx(0.1 * stats["retry/count"])
    hits = hostile_crawl["hits"]
    assert hits["/hostile/ad/error500.html"] == 2 and hits["/hostile/ad/slow.html"] == 2
    assert "/hostile/ad/photo.jpg" not in hits  # dropped before download


def test_traps_are_cut_and_counted(hostile_crawl: dict[str, Any]) -> None:
    stats = json.loads(hostile_crawl["runs"][0][1])
    hits = hostile_crawl["hits"]
    assert stats["adwatch/trap/depth"] >= 1
    assert stats["adwatch/trap/query_variants"] >= 1
    assert stats["adwatch/trap/segment_repeat"] >= 1
    calendar = [p for p in hits if p.startswith("/hostile/calendar/")]
    assert 1 <= len(calendar) <= 6  # max_depth = 6 hops from the start URL
    assert hits.get("/hostile/list", 0) <= 4  # max_query_variants = 4
    assert not any(p.count("more/") > 3 for p in hits)  # max_segment_repeats = 3
    assert max(int(p.rsplit("/", 1)[1]) for p in hits if p.startswith("/hostile/redirect/")) <= 5  # max_redirects


def test_stored_ads_are_whole_and_correctly_decoded(hostile_crawl: dict[str, Any]) -> None:
    titles = {title for _, title, _, _, _ in hostile_crawl["ads"]}
    assert titles == {c.title for c in CASES if c.title}
    for url, title, text, sha, scores in hostile_crawl["ads"]:
        assert "\ufffd" not in text and "Ã" not in text, url
        assert text.startswith(title) and "(212) 555-0147" in text, url
        assert len(sha) == 64 and scores == 1, url


def test_warc_out_holds_each_stored_ad_response_with_its_sha256(hostile_crawl: dict[str, Any]) -> None:
    import hashlib

    from warcio.archiveiterator import ArchiveIterator

    from crawler.warc import sha256_base32

    assert len(hostile_crawl["warc"]) == 1
    records = []
    with hostile_crawl["warc"][0].open("rb") as fh:
        for record in ArchiveIterator(fh):
            body = record.content_stream().read()
            records.append((record.rec_headers, record.http_headers, body))
    assert {h.get_header("WARC-Target-URI") for h, _, _ in records} == {url for url, *_ in hostile_crawl["ads"]}
    for warc_headers, http_headers, body in records:
        assert warc_headers.get_header("WARC-Type") == "response"
        assert warc_headers.get_header("WARC-Payload-Digest") == sha256_base32(body)
        assert warc_headers.get_header("X-Adwatch-Payload-SHA256") == hashlib.sha256(body).hexdigest()
        assert warc_headers.get_header("WARC-Date").endswith("Z")
        assert warc_headers.get_header("X-Adwatch-Band") == "low"
        assert http_headers.get_statuscode() == "200"
        assert b"ad-title" in body or "ad-title".encode("utf-16-le") in body
    stats = json.loads(hostile_crawl["runs"][0][1])
    assert stats["adwatch/warc/records"] == len(records) == len(hostile_crawl["ads"])


def test_ingest_warc_stores_the_archived_ads_in_a_fresh_database(hostile_crawl: dict[str, Any], tmp_path: Path) -> None:
    db = tmp_path / "ingest.db"
    profile = tmp_path / "hostile.toml"
    profile.write_text(PROFILE_TOML, encoding="utf-8")
    env = {**os.environ, "ADWATCH_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-c", "import typer, cli.crawling as c; typer.run(c.ingest_warc)",
         str(hostile_crawl["warc"][0]), "--site", str(profile)],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    con = sqlite3.connect(db)
    try:
        ads = con.execute("SELECT url, title, content_sha256 FROM ad").fetchall()
        stats = json.loads(con.execute("SELECT stats FROM crawl_run").fetchone()[0])
    finally:
        con.close()
    crawled = {(url, title, sha) for url, title, _, sha, _ in hostile_crawl["ads"]}
    assert set(ads) == crawled  # same ads, same content hashes: the archive reproduces the crawl
    assert stats["adwatch/warc/records_read"] == stats["adwatch/warc/replayed"] == len(crawled)
    assert "robotstxt/request_count" not in stats  # nothing fetched
