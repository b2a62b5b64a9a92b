"""What every ``adwatch`` command shares: the rich consoles (one place, one width rule), the ``--db``
option, the error exit and the settings with a ``--db`` override."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
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

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: ADWATCH_DATABASE_URL or sqlite:///./adwatch.db)."),
]
"""The ``--db URL`` option of every command that opens the database."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error on stderr and return the ``typer.Exit`` (exit ``code``) to raise."""
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def app_settings(db: str | None = None) -> Any:
    """The :class:`config.settings.AppSettings`, with ``database_url`` replaced by ``db`` if given.

    Raises:
        typer.Exit: (code 2) an ``ADWATCH_*`` environment variable does not validate.
    """
    from config.settings import get_settings

    try:
        settings = get_settings()
    except Exception as exc:  # pydantic.ValidationError: a bad ADWATCH_* variable
        raise fail(f"bad configuration in ADWATCH_* environment variables:\n{exc}") from exc
    return settings.model_copy(update={"database_url": db}) if db else settings
