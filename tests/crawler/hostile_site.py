"""A hostile local test site: the broken, mis-encoded and trapping pages real ad sites serve.

:class:`HostileSite` serves on ``127.0.0.1`` at a port the OS picks (port 0), in a thread. Its
listing ``/hostile/`` links to one detail page per case in :data:`CASES` and into the traps.
Every page is fictional (phones in 555-01xx, e-mails @example.org).

Cases (detail pages under ``/hostile/ad/``; see :data:`CASES` for what each should end as):

* encodings: ``cp1252`` (cp1252 bytes, header says UTF-8), ``latin1`` (ISO-8859-1 bytes, the page's
  ``<meta>`` says UTF-8), ``sjis`` (Shift-JIS bytes, header says UTF-8, ``<meta>`` says Shift_JIS),
  ``utf16`` (UTF-16 with BOM, header says ISO-8859-1), ``mojibake`` (UTF-8 text that was once
  read as cp1252 and saved again);
* ``big``: a 50 MB body (``Content-Length`` announced; the server stops writing when the client
  hangs up); ``gzipbomb``: 64 MiB of zeros gzipped to ~64 KiB (``Content-Encoding: gzip``);
* ``image`` (a PNG behind an ``.html`` URL) and ``photo.jpg``: media, never downloaded;
* ``redirect``: an endless chain of 302s (``/hostile/redirect/N`` -> ``N+1``); ``loop``: a -> b -> a;
* ``slow``: answers after :attr:`HostileSite.slow_seconds`; ``error500``: always HTTP 500;
* ``empty``: 200 with an empty body; ``soft404``: 200 whose title says "Page not found";
* ``jsonld-broken``: invalid JSON-LD beside valid HTML fields; ``jsonld-nested``: a JobPosting
  inside ``@graph`` inside an array; ``jsonld-deep``: a JSON-LD block nested 100 000 levels deep;
* ``ok``: a plain, well-formed ad (the control).

Traps linked from the listing: an endless calendar (``/hostile/calendar/YYYY/MM/`` -> next month),
endless pagination with a session id (``/hostile/list?page=N&sid=...``) and a relative link that
nests a path forever (``/hostile/more/`` -> ``more/more/``...).
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

BIG_BYTES = 50 * 1024 * 1024
"""Size announced and (partly) sent by ``/hostile/ad/big.html``."""

BOMB_BYTES = 64 * 1024 * 1024
"""Decompressed size of ``/hostile/ad/gzipbomb.html``."""


@dataclass(frozen=True)
class Case:
    """One detail page of the hostile site and the outcome a hardened crawl must count.

    Attributes:
        name: page name (``/hostile/ad/<name>.html``).
        outcome: the stats key (in the crawl run's stats) this page must increase.
        title: the ad title that must be stored, exactly, or None when no ad may be stored.
    """

    name: str
    outcome: str
    title: str | None = None


CASES: tuple[Case, ...] = (
    Case("ok", "adwatch/items/html", "Cleaner wanted, Springfield"),
    Case("cp1252", "adwatch/encoding/redecoded", "Café “Chez Zoë” – waitress wanted"),
    Case("latin1", "adwatch/encoding/redecoded", "Niño care, São Paulo - señora wanted"),
    Case("sjis", "adwatch/encoding/redecoded", "東京の求人・日本語を話せる方"),
    Case("utf16", "adwatch/items/html", "Hostess wanted – Zürich"),
    Case("mojibake", "adwatch/encoding/mojibake_fixed", "Crème brûlée chef – Montréal"),
    Case("big", "adwatch/failed/max_size"),
    Case("gzipbomb", "adwatch/failed/max_size"),
    Case("redirect", "adwatch/failed/redirect_max"),
    Case("loop", "dupefilter/filtered"),
    Case("slow", "adwatch/failed/DownloadTimeoutError"),
    Case("error500", "adwatch/failed/http_500"),
    Case("empty", "adwatch/pages/expired"),
    Case("soft404", "adwatch/pages/soft_404"),
    Case("jsonld-broken", "adwatch/jsonld/broken", "Dancers wanted, good pay"),
    Case("jsonld-nested", "adwatch/items/jsonld", "Warehouse picker (nested JSON-LD)"),
    Case("jsonld-deep", "adwatch/jsonld/unparseable", "Deep JSON-LD survivor"),
    Case("image", "adwatch/media_dropped/response"),
    Case("photo.jpg", "adwatch/media_dropped/request"),
)
"""Every detail page, in listing order."""


def _page(title: str, body: str, head: str = "", charset: str | None = "utf-8") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>{title}</title>{head}</head><body>"
        f'<h1 class="ad-title">{title}</h1><div class="ad-body"><p>{body}</p></div>'
        '<p class="ad-contact">Call (415) 555-0132</p></body></html>'
    )


def _listing() -> bytes:
    links = "".join(
        f'<li><a class="ad-link" href="/hostile/ad/{c.name}{"" if "." in c.name else ".html"}">{c.name}</a></li>'
        for c in CASES
    )
    traps = (
        '<a rel="next" href="/hostile/calendar/2026/01/">calendar</a>'
        '<a rel="next" href="/hostile/list?page=2&amp;sid=s2">page 2</a>'
        '<a rel="next" href="/hostile/more/">more</a>'
    )
    return f"<html><head><title>Hostile ads</title></head><body><ul>{links}</ul>{traps}</body></html>".encode()


def _trap_page(title: str, next_href: str) -> bytes:
    return f'<html><head><title>{title}</title></head><body><h2>{title}</h2><a rel="next" href="{next_href}">next</a></body></html>'.encode()


_bomb_cache: dict[str, bytes] = {}
_bomb_lock = threading.Lock()


def gzip_bomb() -> bytes:
    """:data:`BOMB_BYTES` zero bytes, gzip-compressed (built once)."""
    with _bomb_lock:
        if "bomb" not in _bomb_cache:
            _bomb_cache["bomb"] = gzip.compress(b"\0" * BOMB_BYTES, compresslevel=9)
        return _bomb_cache["bomb"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, ctype: str | None = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        path = self.path
        self.server.hits[path.split("?")[0]] = self.server.hits.get(path.split("?")[0], 0) + 1
        if path == "/robots.txt":
            return self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        if path in ("/hostile/", "/hostile"):
            return self._send(200, _listing())
        if path.startswith("/hostile/list"):
            page = int(path.split("page=")[1].split("&")[0]) if "page=" in path else 1
            return self._send(200, _trap_page(f"Listing page {page}", f"/hostile/list?page={page + 1}&amp;sid=s{page + 1}"))
        if path.startswith("/hostile/calendar/"):
            parts = [p for p in path.split("/") if p]
            year, month = int(parts[2]), int(parts[3])
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            return self._send(200, _trap_page(f"Events {year}-{month:02d}", f"/hostile/calendar/{year}/{month:02d}/"))
        if path.startswith("/hostile/more/"):
            return self._send(200, _trap_page("More ads", "more/"))
        if path.startswith("/hostile/redirect/"):
            n = int(path.rstrip("/").rsplit("/", 1)[1])
            return self._send(302, b"", None, {"Location": f"/hostile/redirect/{n + 1}"})
        if path.startswith("/hostile/ad/"):
            return self._detail(path[len("/hostile/ad/"):].removesuffix(".html"))
        return self._send(404, b"<html><body><h1>Not here</h1></body></html>")

    def _detail(self, name: str) -> None:
        titles = {c.name: c.title for c in CASES}
        title = titles.get(name) or ""
        body = "Apply in person. No experience needed. Contact jobs@example.org or (212) 555-0147."
        if name in ("ok", "utf16"):
            html = _page(title, body)
            if name == "ok":
                return self._send(200, html.encode())
            return self._send(200, "\ufeff".encode("utf-16-le") + html.encode("utf-16-le"), "text/html; charset=iso-8859-1")
        if name == "cp1252":
            return self._send(200, _page(title, body + " Tips: 10 € a night.", charset=None).encode("cp1252"))
        if name == "latin1":
            return self._send(200, _page(title, body + " Niños bienvenidos.", charset="utf-8").encode("latin-1"), "text/html")
        if name == "sjis":
            return self._send(200, _page(title, "日本語が話せる方を募集しています。" + body, charset="shift_jis").encode("shift_jis"))
        if name == "mojibake":
            garbled = _page(title.encode("utf-8").decode("cp1252"), body)
            return self._send(200, garbled.encode("utf-8"))
        if name == "big":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(BIG_BYTES))
            self.end_headers()
            chunk = b"<p>" + b"x" * 65530 + b"</p>"
            try:
                for _ in range(BIG_BYTES // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        if name == "gzipbomb":
            return self._send(200, gzip_bomb(), headers={"Content-Encoding": "gzip"})
        if name == "redirect":
            return self._send(302, b"", None, {"Location": "/hostile/redirect/1"})
        if name in ("loop", "loop-b"):
            target = "/hostile/ad/loop-b.html" if name == "loop" else "/hostile/ad/loop.html"
            return self._send(302, b"", None, {"Location": target})
        if name == "slow":
            time.sleep(self.server.slow_seconds)
            try:
                return self._send(200, _page("Slow ad", body).encode())
            except (BrokenPipeError, ConnectionResetError):
                return None
        if name in ("image", "photo.jpg"):
            return self._send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")
        if name == "error500":
            return self._send(500, b"<html><body><h1>Internal Server Error</h1></body></html>")
        if name == "empty":
            return self._send(200, b"")
        if name == "soft404":
            return self._send(200, _page("Page not found", "The ad you are looking for does not exist.").encode())
        if name == "jsonld-broken":
            head = '<script type="application/ld+json">{"@type": "JobPosting", "title": "broken",, }</script>'
            return self._send(200, _page(title, body, head).encode())
        if name == "jsonld-nested":
            head = (
                '<script type="application/ld+json">[{"@context": "https://schema.org", "@graph": [{"@type": "WebPage"},'
                f' {{"@type": "JobPosting", "title": "{title}", "description": "{body}",'
                ' "hiringOrganization": {"@type": "Organization", "name": "Example Logistics"}}]}]</script>'
            )
            return self._send(200, _page(title, body, head).encode())
        if name == "jsonld-deep":
            head = '<script type="application/ld+json">' + "[" * 100_000 + "]" * 100_000 + "</script>"
            return self._send(200, _page(title, body, head).encode())
        return self._send(404, b"<html><body><h1>Not here</h1></body></html>")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    hits: dict[str, int]
    slow_seconds: float


class HostileSite:
    """The hostile site on ``127.0.0.1:<free port>``; use as a context manager.

    Attributes:
        base_url: ``http://127.0.0.1:PORT`` once started.
        hits: request count per path (query strings dropped), for assertions.

    Args:
        slow_seconds: how long ``/hostile/ad/slow.html`` waits before answering (give the crawl a
            smaller ``download_timeout``).
    """

    def __init__(self, slow_seconds: float = 3.0) -> None:
        self.slow_seconds = slow_seconds
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @property
    def hits(self) -> dict[str, int]:
        """Requests served per path."""
        return dict(self._server.hits) if self._server else {}

    def __enter__(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hits = {}
        self._server.slow_seconds = self.slow_seconds
        self._thread = threading.Thread(target=self._server.serve_forever, name="hostile-site", daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


PROFILE_TOML = """\
# A site profile for the hostile test site (tests/crawler/hostile_site.py).
name = "hostile"
spider = "classifieds"
ad_type = "other"
start_urls = ["/hostile/"]
default_region = "US"
max_pages = 300
concurrency = 8
download_timeout = 1.5
retry_times = 1
retry_backoff = 0.1
max_depth = 6
max_query_variants = 4
max_segment_repeats = 3
max_redirects = 5

[links]
detail = "a.ad-link::attr(href)"
next = "a[rel=next]::attr(href)"
detail_url_pattern = "/hostile/ad/"

[fields]
title = "h1.ad-title::text"
body = "div.ad-body"
contact = ".ad-contact::text"
"""
"""The ``hostile.toml`` profile a test writes next to its database (file stem must be ``hostile``)."""
