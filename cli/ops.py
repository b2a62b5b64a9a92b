"""Operations commands: ``adwatch db upgrade``, ``adwatch schedule``, ``adwatch runs``, ``adwatch purge``.

Plain functions with typer ``Annotated`` parameters; :func:`register` adds them to the main app
(``db`` is a sub-command group holding ``upgrade``). Errors print one readable line and exit with
status 2 (bad input) or 1 (the job failed).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.output import DbOption, console, err
from cli.output import app_settings as _app_settings
from cli.output import fail as _fail


def _engine(url: str, *, migrate: bool = True) -> Any:
    from storage.db import create_bare_engine, make_engine
    from storage.errors import StorageError

    try:
        return make_engine(url) if migrate else create_bare_engine(url)
    except StorageError as exc:
        raise _fail(str(exc), 1) from exc


def _fmt_time(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "-"


# ------------------------------------------------------------------ db upgrade -----------------
def db_upgrade(
    db: DbOption = None,
    revision: Annotated[str, typer.Option("--revision", help="Target Alembic revision.")] = "head",
) -> None:
    """Create or migrate the database schema to the newest version (other commands do it automatically)."""
    from storage.db import upgrade
    from storage.errors import StorageError

    settings = _app_settings(db)
    engine = _engine(settings.database_url, migrate=False)
    try:
        before, after = upgrade(engine, revision)
    except StorageError as exc:
        raise _fail(str(exc), 1) from exc
    finally:
        engine.dispose()
    if before == after:
        console.print(f"database already at revision {after}")
    else:
        console.print(f"database migrated from {before or 'empty'} to {after}")


# ------------------------------------------------------------------ schedule -------------------
def schedule(
    list_: Annotated[bool, typer.Option("--list", help="Show the scheduled jobs and their next run, then exit.")] = False,
    run_now: Annotated[str | None, typer.Option("--run-now", metavar="SITE", help="Crawl SITE now (as its nightly job would: subprocess, JOBDIR) and exit.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="With --run-now: base URL for a profile with relative start URLs.")] = None,
    db: DbOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every scheduler event.")] = False,
) -> None:
    """Run the nightly scheduler (APScheduler, jobs stored in the database) until Ctrl-C.

    One crawl job per enabled site profile at the cron time and time zone of its schedule table, each run
    as a ``scrapy crawl`` subprocess that resumes from its JOBDIR, plus rescoring when a new model
    version is installed.
    """
    from jobs.scheduler import list_jobs, run_scheduler

    logging.basicConfig(level=logging.INFO if verbose or not (list_ or run_now) else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _app_settings(db)
    if list_ and run_now:
        raise _fail("give --list or --run-now SITE, not both")
    if run_now:
        _run_now(settings, run_now, base_url)
        return
    engine = _engine(settings.database_url)
    try:
        if list_:
            rows, skipped = list_jobs(settings, engine, settings.database_url)
            table = Table(title="Scheduled jobs")
            for col in ("job", "schedule", "next run (UTC)", "stored"):
                table.add_column(col)
            for r in rows:
                table.add_row(r.id, r.trigger, _fmt_time(r.next_run_time.astimezone(UTC) if r.next_run_time else None),
                              "yes" if r.stored else "no (installed at start)")
            console.print(table)
            for line in skipped:
                console.print(f"[yellow]not scheduled:[/] {line}")
            return
        from config.settings import DEV_HMAC_KEY

        if settings.hmac_key == DEV_HMAC_KEY:
            err.print("[yellow]warning:[/] ADWATCH_HMAC_KEY is the development placeholder; set a secret")
        run_scheduler(settings, engine, settings.database_url)
    finally:
        engine.dispose()


def _run_now(settings: Any, site: str, base_url: str | None) -> None:
    from crawler.profiles import ProfileError, load_profile
    from jobs.tasks import JobFailed, crawl_site

    try:
        profile = load_profile(site, settings.sites_dir)
    except ProfileError as exc:
        raise _fail(str(exc)) from exc
    _engine(settings.database_url).dispose()  # migrate (and fail clearly) before starting the crawl
    console.print(f"crawling {profile.name} now (subprocess with JOBDIR)...")
    try:
        crawl_site(profile.name, settings.database_url, base_url)
    except JobFailed as exc:
        raise _fail(str(exc), 1) from exc
    runs(limit=1, site=profile.name, status=None, fmt="table", db=settings.database_url)


# ------------------------------------------------------------------ runs -----------------------
def runs(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs, newest first.")] = 20,
    site: Annotated[str | None, typer.Option("--site", help="Only this site.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only runs with this status: running, finished, failed, interrupted.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
) -> None:
    """List crawl runs with their status and stats (runs whose process died are marked interrupted)."""
    from storage.db import make_session_factory
    from storage.repository import list_runs, mark_dead_runs

    if fmt not in ("table", "json"):
        raise _fail(f"--format must be table or json, got {fmt!r}")
    engine = _engine(_app_settings(db).database_url)
    try:
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            mark_dead_runs(session)
        with sessions() as session:
            rows = list_runs(session, limit, site=site, status=status)
    finally:
        engine.dispose()
    keys = ("response_received_count", "item_scraped_count", "adwatch/stored/inserted", "adwatch/stored/updated",
            "adwatch/stored/unchanged", "adwatch/stored/not_modified", "adwatch/stored/expired",
            "adwatch/resume/skipped")
    if fmt == "json":
        out = [{"run": r.id, "site": r.site, "status": r.status, "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None, "resumed_from": r.resumed_from,
                "finish_reason": (r.stats or {}).get("finish_reason"),
                "stats": {k: (r.stats or {}).get(k, 0) for k in keys}} for r in rows]
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    table = Table(title="Crawl runs")
    for col in ("run", "site", "status", "started", "finished", "pages", "ads", "new", "changed", "unchanged",
                "304", "expired", "resumed"):
        table.add_column(col)
    colours = {"finished": "green", "running": "cyan", "interrupted": "yellow", "failed": "bold red"}
    for r in rows:
        s = r.stats or {}
        table.add_row(str(r.id), r.site, f"[{colours.get(r.status, '')}]{r.status}[/]", _fmt_time(r.started_at),
                      _fmt_time(r.finished_at), *(str(s.get(k, 0)) for k in keys[:7]),
                      f"from {r.resumed_from}" if r.resumed_from else "-")
    console.print(table)


# ------------------------------------------------------------------ purge ----------------------
def purge(
    older_than: Annotated[int, typer.Option("--older-than", min=0, metavar="DAYS", help="Purge ads not seen for more than DAYS days.")],
    db: DbOption = None,
    actor: Annotated[str, typer.Option("--actor", help="Who runs the purge (recorded in the audit log).")] = "adwatch purge",
) -> None:
    """Remove raw HTML and raw contacts of ads never flagged and not seen for DAYS days (audited).

    Scores, indicator hits, entity links (keyed HMAC) and masked forms are kept.
    """
    from storage.db import make_session_factory
    from storage.repository import purge_raw

    engine = _engine(_app_settings(db).database_url)
    try:
        with make_session_factory(engine).begin() as session:
            counts = purge_raw(session, older_than, actor=actor)
    finally:
        engine.dispose()
    console.print(f"purged raw HTML and contacts of {counts.ads} ads ({counts.mentions} contact mentions, "
                  f"{counts.entity_values} entity values); audit event written")


def register(app: typer.Typer) -> None:
    """Add ``db upgrade``, ``schedule``, ``runs`` and ``purge`` to ``app`` (replace any existing ``runs``)."""
    db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
    db_app.command("upgrade")(db_upgrade)
    app.add_typer(db_app, name="db")
    app.command("schedule")(schedule)
    app.command("runs")(runs)
    app.command("purge")(purge)
