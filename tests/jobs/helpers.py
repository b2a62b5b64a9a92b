"""Job functions for scheduler tests (importable by reference, as the SQLAlchemy job store needs)."""

from __future__ import annotations

import threading

RUNS: list[str] = []
RAN = threading.Event()


def record_run(label: str) -> None:
    """Record one run of a test job."""
    RUNS.append(label)
    RAN.set()
