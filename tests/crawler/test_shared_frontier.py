"""Two ``adwatch crawl`` workers share one scrapy-redis frontier (a real redis-server on a Unix
socket in a temporary folder: no TCP port) and one database: every ad stored exactly once, and
both workers fetched pages."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.server import DemoServer
from demo.site import build_site

pytest.importorskip("scrapy_redis")
REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")

ROOT = Path(__file__).resolve().parents[2]
CRAWL = [sys.executable, "-c", "import typer, cli.crawling as c; typer.run(c.crawl)"]


@pytest.fixture
def redis_socket(tmp_path: Path) -> Iterator[Path]:
    """A throw-away redis-server listening only on ``tmp_path/redis.sock``."""
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [str(REDIS_SERVER), "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        assert sock.exists(), "redis-server did not start"
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_two_workers_share_one_frontier_and_store_each_ad_once(redis_socket: Path, tmp_path: Path) -> None:
    db = tmp_path / "adwatch.db"
    env = {**os.environ, "ADWATCH_DATABASE_URL": f"sqlite:///{db}", "ADWATCH_REDIS_URL": f"unix://{redis_socket}",
           "ADWATCH_REDIS_CRAWL_ID": "test", "COLUMNS": "200"}
    subprocess.run([sys.executable, "-m", "cli.main", "db", "upgrade"], check=False, cwd=tmp_path, env=env,
                   capture_output=True, timeout=120)
    # a polite per-site pace (0.4 s between requests, one at a time per worker) keeps the crawl going
    # long enough for an idle worker to pick work from the shared queue (it polls every 5 s)
    profile = tmp_path / "demo-classifieds.toml"
    text = (ROOT / "config" / "sites" / "demo-classifieds.toml").read_text(encoding="utf-8")
    profile.write_text(text.replace("download_delay = 0.0", "download_delay = 0.2\nconcurrency = 1"), encoding="utf-8")
    with DemoServer() as server:
        args = ["--site", str(profile), "--base-url", server.base_url]
        workers = [subprocess.Popen([*CRAWL, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [w.communicate(timeout=180) for w in workers]
    for w, (out, err) in zip(workers, outs, strict=True):
        assert w.returncode == 0, out[-2000:] + err[-3000:]
    con = sqlite3.connect(db)
    try:
        ads = con.execute("SELECT canonical_url FROM ad WHERE site = 'demo-classifieds'").fetchall()
        runs = [json.loads(s) for (s,) in con.execute("SELECT stats FROM crawl_run ORDER BY id")]
    finally:
        con.close()
    detail_pages = [p for p in build_site() if p.startswith("/classifieds/ad/")]
    assert len(runs) == 2
    assert sum(r.get("adwatch/pages/detail", 0) for r in runs) == len(detail_pages)  # each page fetched once
    assert len(ads) == len({a for (a,) in ads}) == sum(r.get("adwatch/stored/inserted", 0) for r in runs)
    assert len(ads) >= len(detail_pages) - 5  # a few demo ads are expired pages
    for r in runs:  # both workers fetched pages
        assert r.get("adwatch/pages/detail", 0) + r.get("adwatch/pages/listing", 0) > 0, r
    # the finished crawl's keys expire (a day), instead of living in Redis for ever
    import redis

    client = redis.Redis(unix_socket_path=str(redis_socket))
    keys = sorted(k.decode() for k in client.keys("adwatch:demo-classifieds:test:*"))
    assert "adwatch:demo-classifieds:test:dupefilter" in keys
    for key in keys:
        assert 0 < client.ttl(key) <= 24 * 3600, key
    assert [r.get("adwatch/redis/key_ttl") for r in runs] == [24 * 3600, 24 * 3600]
    client.close()
