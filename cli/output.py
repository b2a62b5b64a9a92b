"""The rich consoles every ``adwatch`` command prints with (one place, one width rule)."""

from __future__ import annotations

import os

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A rich Console; off a terminal (logs, CI, pipes) without ``COLUMNS`` it is 160 columns wide so
    that tables stay readable instead of being cut at rich's default 80."""
    con = Console(stderr=stderr)
    if not con.is_terminal and not os.environ.get("COLUMNS"):
        con = Console(stderr=stderr, width=160)
    return con


console = make_console()
err = make_console(stderr=True)
