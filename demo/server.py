"""Serve adwatch's offline demo board over HTTP on the local machine.

:class:`DemoServer` runs a :class:`http.server.ThreadingHTTPServer` in a daemon thread (tests and
``adwatch demo``); :func:`run_demo_site` serves in the foreground until Ctrl-C
(``adwatch demo-site --port N``). Pages come from :func:`demo.site.build_site`, built once per
server start. Requests are not logged.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from demo.site import HTML_TYPE, Page, build_site, not_found_page

log = logging.getLogger(__name__)

PAGINATED_PATHS = ("/jobs/", "/classifieds/")
"""Listing paths whose ``?page=N`` query selects a page (other query parameters are ignored)."""


def resolve(pages: dict[str, Page], target: str) -> tuple[int, Page | str | None]:
    """Map a request target to ``(status, Page | redirect location | None)``.

    * ``/jobs/?page=N`` -> that listing page (``page=1`` is ``/jobs/``); a page number that does not
      exist, or is not an integer, is 404.
    * A known path (any query ignored) -> 200.
    * A known path without its trailing slash (``/jobs``) -> 301 to the slashed path.
    * Anything else -> 404.
    """
    parts = urlsplit(target)
    path = parts.path or "/"
    if path in PAGINATED_PATHS:
        values = parse_qs(parts.query).get("page")
        if values:
            raw = values[-1].strip()
            if not raw.isdigit() or int(raw) < 1:
                return HTTPStatus.NOT_FOUND, None
            key = path if int(raw) == 1 else f"{path}?page={int(raw)}"
            page = pages.get(key)
            return (HTTPStatus.OK, page) if page else (HTTPStatus.NOT_FOUND, None)
    if path in pages:
        return HTTPStatus.OK, pages[path]
    if not path.endswith("/") and path + "/" in pages:
        location = path + "/" + (f"?{parts.query}" if parts.query else "")
        return HTTPStatus.MOVED_PERMANENTLY, location
    return HTTPStatus.NOT_FOUND, None


class _DemoHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer holding the built pages; connection resets are not reported."""

    daemon_threads = True
    # a crawler opens several connections at once; the default backlog of 5 drops the rest, and
    # each dropped one is retried a second later (a stall at the start of every crawl)
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], pages: dict[str, Page]) -> None:
        self.pages = pages
        super().__init__(address, _DemoRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log (at DEBUG) instead of printing a traceback to stderr: clients drop connections."""
        log.debug("demo server: error while serving %s", client_address, exc_info=sys.exc_info())


class _DemoRequestHandler(BaseHTTPRequestHandler):
    server: _DemoHTTPServer
    server_version = "adwatch-demo/0.1"
    protocol_version = "HTTP/1.1"  # keep-alive, so Content-Length is always sent
    timeout = 15  # seconds an idle keep-alive connection is held

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request."""

    def _respond(self, *, head_only: bool) -> None:
        status, result = resolve(self.server.pages, self.path)
        if isinstance(result, str):  # redirect
            self.send_response(status)
            self.send_header("Location", result)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        page = result if isinstance(result, Page) else Page(HTML_TYPE, not_found_page(urlsplit(self.path).path))
        self.send_response(status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(page.body)

    def do_GET(self) -> None:
        """Serve a page (200), a redirect (301) or the 404 page."""
        self._respond(head_only=False)

    def do_HEAD(self) -> None:
        """As GET, without the body."""
        self._respond(head_only=True)


class DemoServer:
    """The demo board on a local port, served from a daemon thread.

    Use as a context manager (``with DemoServer() as srv: ... srv.base_url``) or call
    :meth:`start` / :meth:`stop`.

    Args:
        host: IPv4 address to bind; default ``127.0.0.1`` (local only).
        port: TCP port; ``0`` (default) lets the OS pick a free one (read it from :attr:`port`).
        jobs_csv, classifieds_path: data files passed to :func:`demo.site.build_site` (defaults: the
            shipped EMSCAD sample and ``demo/data/classifieds.jsonl``).

    Raises (from :meth:`start`):
        OSError: the port is taken or the host cannot be bound.
        FileNotFoundError, demo.site.DemoDataError: a data file is missing or malformed.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 jobs_csv: str | Path | None = None, classifieds_path: str | Path | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.jobs_csv = jobs_csv
        self.classifieds_path = classifieds_path
        self._httpd: _DemoHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound TCP port.

        Raises:
            RuntimeError: the server is not started.
        """
        if self._httpd is None:
            raise RuntimeError("DemoServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` without a trailing slash (``0.0.0.0`` is shown as ``127.0.0.1``).

        Raises:
            RuntimeError: the server is not started.
        """
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server (``srv.url("/jobs/")``)."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    @property
    def running(self) -> bool:
        """True while the serving thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Build the pages, bind the socket and start serving in a daemon thread; returns ``self``.

        Raises:
            RuntimeError: already started.
            OSError, FileNotFoundError, demo.site.DemoDataError: see the class docstring.
        """
        if self._httpd is not None:
            raise RuntimeError("DemoServer is already started")
        pages = build_site(self.jobs_csv, self.classifieds_path)
        self._httpd = _DemoHTTPServer((self.host, self.requested_port), pages)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"adwatch-demo-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call twice, or before :meth:`start`)."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def run_demo_site(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the demo board in the foreground until Ctrl-C (SIGINT) or SIGTERM, printing its URL.

    The signal handlers only set an event that the main thread waits on, so a signal can never
    interrupt the server half-way through starting or stopping.

    Args:
        host: IPv4 address to bind (``127.0.0.1``: this machine only).
        port: TCP port (``0``: any free port; the printed URL shows which).

    Raises:
        OSError: the port is taken or the host cannot be bound.
    """
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda _signum, _frame: stop.set())
    try:
        with DemoServer(host, port) as srv:
            print(f"adwatch demo board at {srv.base_url}/  (jobs: {srv.url('/jobs/')}, "
                  f"classifieds: {srv.url('/classifieds/')}); press Ctrl-C to stop", flush=True)
            while srv.running and not stop.wait(0.5):
                pass
            print("stopping demo board", flush=True)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
