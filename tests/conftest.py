"""Shared fixtures: the demo board on a free local port (session-scoped), and a ``url(path)`` helper."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator

import pytest

from demo.server import DemoServer


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    """The bundled demo board, served on 127.0.0.1 at a port the OS picks (port 0)."""
    with DemoServer() as server:
        yield server


@pytest.fixture(scope="session")
def url(demo_server: DemoServer) -> Callable[[str], str]:
    """Absolute URL of a path on the demo board."""
    return lambda path: demo_server.base_url + path


@pytest.fixture(scope="session")
def fetch() -> Callable[[str], tuple[int, dict[str, str], bytes]]:
    """GET a local URL: (status, headers, body)."""

    def _get(u: str) -> tuple[int, dict[str, str], bytes]:
        with urllib.request.urlopen(u, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()

    return _get
