"""``adwatch link``: bring contact networks and template clusters up to date (or rebuild them).

Registered in :mod:`cli.main` (``app.command("link")(link)``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli.output import DbOption, console, err
from cli.output import fail as _fail


def _n(count: int, noun: str) -> str:
    """``1 contact network``, ``2 contact networks``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def missing_sqlite_file(url: str) -> str | None:
    """The path of ``url``'s SQLite file when it does not exist yet (opening it would create an
    empty database), else None (file exists, in-memory, or not SQLite)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - make_engine reports a malformed URL with its own message
        return None
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    if str(parsed.database).startswith("file:"):
        return None
    return None if Path(parsed.database).exists() else str(parsed.database)


def link(
    db: DbOption = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Drop every network, cluster and signature and link all ads again "
                                                            "(after changing ADWATCH_LINKING__* MinHash settings).")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Link ads into contact networks (shared phone, e-mail, handle) and template clusters (MinHash LSH).

    Without --rebuild only new or changed ads are linked (crawls do this at the end of each run);
    networks and clusters they touch are recomputed and review priorities refreshed. A SQLite
    database file that does not exist is not created: check --db or ADWATCH_DATABASE_URL.
    """
    if fmt not in ("table", "json"):
        raise _fail(f"--format must be table or json, got {fmt!r}")
    import linking
    from config.settings import get_settings
    from storage.db import make_engine, make_session_factory
    from storage.errors import StorageError

    try:
        settings = get_settings()
    except Exception as exc:  # pydantic.ValidationError
        raise _fail(f"bad configuration in ADWATCH_* environment variables:\n{exc}") from exc
    if db:
        settings = settings.model_copy(update={"database_url": db})
    missing = missing_sqlite_file(settings.database_url)
    if missing:
        raise _fail(f"no database at {missing} (from {'--db' if db else 'ADWATCH_DATABASE_URL or the default'}): "
                    "nothing to link. Check the URL; `adwatch demo` or `adwatch crawl` create a database.")
    try:
        engine = make_engine(settings.database_url)
    except StorageError as exc:
        raise _fail(str(exc), 1) from exc
    try:
        with make_session_factory(engine).begin() as session:
            stats = linking.rebuild(session, settings=settings) if rebuild else linking.update(session, settings=settings)
            held = linking.summary(session)
    except linking.LinkingError as exc:
        raise _fail(str(exc), 1) from exc
    finally:
        engine.dispose()
    data: dict[str, Any] = {**stats.as_dict(), "database": held.as_dict()}
    if held.ads == 0:
        err.print(f"[yellow]warning:[/] the database at {settings.database_url} holds no ads: is --db or "
                  "ADWATCH_DATABASE_URL right? (`adwatch demo` or `adwatch crawl` store ads)")
    if fmt == "json":
        console.print_json(json.dumps(data))
        return
    totals = (f"{_n(held.networks, 'contact network')} ({held.networks_with_movement} with movement) and "
              f"{_n(held.clusters, 'template cluster')} over {_n(held.linked_ads, 'linked ad')}")
    if stats.ads == 0:
        console.print(f"nothing new to link: every stored ad was already linked. The database holds {totals}.")
        return
    console.print(
        f"linked {_n(stats.ads, 'new or changed ad')} in {stats.seconds:.1f} s: networks {stats.networks_written} recomputed "
        f"({stats.networks_created} new, {stats.networks_deleted} merged away); template clusters "
        f"{stats.clusters_written} recomputed ({stats.clusters_created} new, {stats.clusters_deleted} merged or dissolved); "
        f"{stats.priorities} review priorities refreshed. The database now holds {totals}.")
