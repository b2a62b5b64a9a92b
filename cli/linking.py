"""``adwatch link``: bring contact networks and template clusters up to date (or rebuild them).

Registered in :mod:`cli.main` (``app.command("link")(link)``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli.output import DbOption, console
from cli.output import fail as _fail


def link(
    db: DbOption = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Drop every network, cluster and signature and link all ads again "
                                                            "(after changing ADWATCH_LINKING__* MinHash settings).")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Link ads into contact networks (shared phone, e-mail, handle) and template clusters (MinHash LSH).

    Without --rebuild only new or changed ads are linked (crawls do this at the end of each run);
    networks and clusters they touch are recomputed and review priorities refreshed.
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
    try:
        engine = make_engine(settings.database_url)
    except StorageError as exc:
        raise _fail(str(exc), 1) from exc
    try:
        with make_session_factory(engine).begin() as session:
            stats = linking.rebuild(session, settings=settings) if rebuild else linking.update(session, settings=settings)
    except linking.LinkingError as exc:
        raise _fail(str(exc), 1) from exc
    finally:
        engine.dispose()
    data: dict[str, Any] = stats.as_dict()
    if fmt == "json":
        console.print_json(json.dumps(data))
        return
    console.print(
        f"linked {stats.ads} ads in {stats.seconds:.1f} s: networks {stats.networks_written} written "
        f"({stats.networks_created} new, {stats.networks_deleted} merged away); template clusters "
        f"{stats.clusters_written} written ({stats.clusters_created} new, {stats.clusters_deleted} merged or dissolved); "
        f"{stats.priorities} review priorities refreshed; {stats.index_size} signatures indexed")
