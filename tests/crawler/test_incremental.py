"""Incremental recrawl over HTTP, with real ``scrapy crawl`` subprocesses on a local site (port 0).

Second crawl of the same eight ads after the site changed:

* ETag / Last-Modified pages that did not change answer 304 to the conditional request: the ad is
  only touched (``last_seen``);
* a changed page gets a new ad version and a new score;
* a page without validators that did not change is refetched and found unchanged;
* 404, 410, a soft 404 (200 without an ad) and an "expired" notice make the ad ``expired``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from config.settings import AppSettings
from crawler.profiles import load_profile
from crawler.runner import crawl_command, crawl_env

PROFILE = """name = "mutable"
spider = "classifieds"
ad_type = "other"
start_urls = ["{base}/list/"]

[links]
detail = "a.ad::attr(href)"

[fields]
title = "h1.ad-title::text"
body = "div.ad-body"
expired = ".ad-expired"
"""

AD = ('<html><body><h1 class="ad-title">{title}</h1><div class="ad-body"><p>{body}</p></div>'
      '<p class="contact">Call (415) 555-0132</p></body></html>')
LAST_MODIFIED = "Tue, 03 Nov 2026 10:00:00 GMT"


class Site:
    """Pages by path: ``(status, html, validators)`` where validators is "etag", "lm" or ""."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, str]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []


def handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            site.requests.append((self.path, dict(self.headers)))
            status, html, validators = site.pages.get(self.path, (404, "<html>not found</html>", ""))
            body = html.encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if status == 200 and validators == "etag" and self.headers.get("If-None-Match") == etag or status == 200 and validators == "lm" and self.headers.get("If-Modified-Since") == LAST_MODIFIED:
                status, body = 304, b""
            self.send_response(status)
            if validators == "etag":
                self.send_header("ETag", etag)
            if validators == "lm":
                self.send_header("Last-Modified", LAST_MODIFIED)
            if status != 304:
                self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture()
def mutable_site(tmp_path):
    site = Site()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(site))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "mutable.toml").write_text(PROFILE.format(base=base), encoding="utf-8")
    yield site, base, sites
    httpd.shutdown()
    httpd.server_close()


def ad(n: int, body: str = "Cleaning job, weekly pay.", validators: str = "") -> tuple[int, str, str]:
    return 200, AD.format(title=f"Ad number {n}", body=body), validators


def crawl(tmp_path: Path, sites: Path, db: Path) -> None:
    app = AppSettings(database_url=f"sqlite:///{db}", sites_dir=sites)
    argv = crawl_command(load_profile("mutable", sites), jobdir=None, app=app,
                         overrides={"AUTOTHROTTLE_ENABLED": False, "ADWATCH_STORE_BATCH_SIZE": 3})
    res = subprocess.run(argv, env=crawl_env(app), cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False)
    assert res.returncode == 0, res.stderr[-3000:]


def test_second_crawl_touches_versions_and_expires(tmp_path, mutable_site):
    site, base, sites = mutable_site
    db = tmp_path / "adwatch.db"
    links = "".join(f'<a class="ad" href="/ad/{n}.html">ad {n}</a>' for n in range(1, 9))
    site.pages["/list/"] = (200, f"<html><body>{links}</body></html>", "")
    validators = {1: "etag", 2: "etag", 3: "lm"}
    for n in range(1, 9):
        site.pages[f"/ad/{n}.html"] = ad(n, validators=validators.get(n, ""))
    crawl(tmp_path, sites, db)

    con = sqlite3.connect(db)
    first_seen = dict(con.execute("select canonical_url, last_seen from ad"))
    assert len(first_seen) == 8
    assert con.execute("select count(*) from ad where etag is not null").fetchone() == (2,)
    con.close()

    site.requests.clear()
    site.pages["/ad/2.html"] = ad(2, body="Cleaning job. Send a copy of your passport first.", validators="etag")
    site.pages["/ad/4.html"] = (404, "<html>gone</html>", "")
    site.pages["/ad/5.html"] = (410, "<html>gone for good</html>", "")
    site.pages["/ad/6.html"] = (200, "<html><body><p>Sorry, nothing here.</p></body></html>", "")  # soft 404
    site.pages["/ad/7.html"] = (200, '<html><body><p class="ad-expired">This ad has expired.</p></body></html>', "")
    crawl(tmp_path, sites, db)

    sent = {path: headers for path, headers in site.requests}
    assert "If-None-Match" in sent["/ad/1.html"] and sent["/ad/3.html"]["If-Modified-Since"] == LAST_MODIFIED
    assert "If-None-Match" not in sent["/ad/8.html"]

    con = sqlite3.connect(db)
    rows = {int(url.rsplit("/", 1)[1].split(".")[0]): (status, reason, version, last_seen)
            for url, status, reason, version, last_seen in
            con.execute("select canonical_url, status, expired_reason, version, last_seen from ad")}
    assert {n: r[0] for n, r in rows.items()} == {1: "active", 2: "active", 3: "active", 4: "expired",
                                                  5: "expired", 6: "expired", 7: "expired", 8: "active"}
    assert rows[4][1] == "HTTP 404" and rows[5][1] == "HTTP 410"
    assert "soft 404" in rows[6][1] and "expired selector" in rows[7][1]
    assert {n: r[2] for n, r in rows.items()} == {1: 1, 2: 2, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1}
    for n in (1, 3, 8):  # seen again: last_seen moved
        assert rows[n][3] > first_seen[f"{base}/ad/{n}.html"]
    scores = dict(con.execute("select a.version, count(s.id) from ad a join score s on s.ad_id = a.id "
                              "where a.canonical_url like '%/ad/2.html' group by a.version"))
    assert scores == {2: 2}  # the changed ad has a new score beside the old one
    assert con.execute("select count(*) from ad_version").fetchone() == (9,)
    stats = json.loads(con.execute("select stats from crawl_run order by id desc limit 1").fetchone()[0])
    assert stats["adwatch/conditional/sent"] == 3
    assert stats["adwatch/stored/not_modified"] == 2
    assert (stats["adwatch/stored/inserted"], stats["adwatch/stored/updated"], stats["adwatch/stored/unchanged"]) == (0, 1, 1)
    assert stats["adwatch/stored/expired"] == 4
    con.close()
