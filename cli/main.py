"""The ``adwatch`` command line (typer + rich).

Every command has ``--help``. Errors are printed as one readable line and exit with status 2
(bad input) or 1 (the job failed); no tracebacks for expected faults.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

app = typer.Typer(
    name="adwatch",
    help="Find likely human-trafficking recruitment and exploitation in online ads, and rank them for analysts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
from cli.output import DbOption, console, err, fail


def _settings(database_url: str | None = None, region: str | None = None):  # type: ignore[no-untyped-def]
    from config.settings import get_settings

    try:
        settings = get_settings()
    except Exception as exc:  # pydantic.ValidationError: a bad ADWATCH_* variable
        raise fail(f"bad configuration in ADWATCH_* environment variables:\n{exc}") from exc
    updates = {}
    if database_url:
        updates["database_url"] = database_url
    if region:
        updates["default_region"] = region.upper()
    return settings.model_copy(update=updates) if updates else settings


def _sessions(database_url: str):  # type: ignore[no-untyped-def]
    from storage.db import make_engine, make_session_factory
    from storage.errors import StorageError

    try:
        return make_session_factory(make_engine(database_url))
    except StorageError as exc:
        raise fail(str(exc), 1) from exc


# ---------------------------------------------------------------- crawling ---------------------
def _progress():  # type: ignore[no-untyped-def]
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[pages]} pages"),
        TextColumn("{task.fields[ads]} ads"), TimeElapsedColumn(), console=console, transient=False,
    )


def _print_crawl_results(results) -> bool:  # type: ignore[no-untyped-def]
    table = Table(title="Crawl runs")
    for col in ("site", "run", "finish", "pages", "ads", "new", "changed", "unchanged", "expired", "flagged",
                "robots-blocked", "errors"):
        table.add_column(col, justify="right" if col not in ("site", "finish") else "left")
    ok = True
    for r in results:
        flagged = r.stat("adwatch/scored/medium") + r.stat("adwatch/scored/high")
        errors = r.stat("log_count/ERROR") + r.stat("spider_exceptions/count", 0)
        ok = ok and r.finish_reason in ("finished", "closespider_pagecount") and not r.stat("spider_exceptions/count")
        table.add_row(
            r.site, str(r.run_id or "-"), str(r.finish_reason), str(r.stat("response_received_count")),
            str(r.stat("item_scraped_count")), str(r.stat("adwatch/stored/inserted")),
            str(r.stat("adwatch/stored/updated")), str(r.stat("adwatch/stored/unchanged")),
            str(r.stat("adwatch/pages/expired")), str(flagged),
            str(r.stat("robotstxt/forbidden")), str(errors),
        )
    console.print(table)
    return ok


def _run(jobs, database_url: str, verbose: bool):  # type: ignore[no-untyped-def]
    from crawler.runner import build_settings, run_crawls

    app_settings = _settings(database_url)
    _sessions(database_url)  # open (and create) the database before crawling: fail early and clearly
    settings = build_settings(app_settings, database_url=database_url, log_level="INFO" if verbose else "WARNING")
    with _progress() as progress:
        return run_crawls(jobs, settings, progress=progress)


@app.command()
def demo(
    db: DbOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many flagged ads to show.")] = 10,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Scrapy's INFO log.")] = False,
) -> None:
    """Run the main job on the bundled offline demo board: crawl, score, store, show the queue.

    Starts the demo board on 127.0.0.1 at a free port, crawls its job board and classifieds with
    Scrapy over HTTP, scores every ad, stores it in the database (SQLite ./adwatch.db by default),
    prints crawl stats and the top flagged ads, then stops the server. Running it again stores no
    duplicate ad.
    """
    from crawler.profiles import load_profile
    from crawler.runner import CrawlJob
    from demo.server import DemoServer

    database_url = _settings(db).database_url
    with DemoServer() as server:
        console.print(f"demo board serving at [link={server.base_url}]{server.base_url}[/]")
        jobs = [CrawlJob(load_profile(n), base_url=server.base_url) for n in ("demo-jobs", "demo-classifieds")]
        results = _run(jobs, database_url, verbose)
    ok = _print_crawl_results(results)
    console.print()
    _show_queue(database_url, top=top, min_risk=None, fmt="table", title=f"Top {top} flagged ads")
    _print_link_summary(database_url)
    console.print(
        "[dim]Explore: adwatch queue --top 20 --format json; adwatch score --input FILE --output OUT.jsonl; "
        "adwatch --help[/]"
    )
    if not ok:
        raise typer.Exit(1)


def _print_link_summary(database_url: str) -> None:
    """One line on the contact networks and template clusters the crawl linked, and how to look at them."""
    import linking

    with _sessions(database_url)() as session:
        held = linking.summary(session)
    console.print(
        f"Linked: {held.networks} contact network{'' if held.networks == 1 else 's'} ({held.networks_with_movement} "
        f"with movement: one contact in several cities) and {held.clusters} template "
        f"cluster{'' if held.clusters == 1 else 's'}. To look at them: adwatch users add NAME, then "
        "adwatch serve --dev (ad pages link to their network and cluster).")


@app.command("demo-site")
def demo_site(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0 = any free port).")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Serve the bundled demo board alone (job board + classifieds + robots.txt) until Ctrl-C."""
    from demo.server import run_demo_site

    try:
        run_demo_site(host=host, port=port)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1) from exc


# ---------------------------------------------------------------- queue ------------------------
def _show_queue(database_url: str, *, top: int, min_risk: float | None, fmt: str, title: str = "Queue",
                site: str | None = None, ad_type: str | None = None) -> None:
    from linking import max_boost, network_boosts
    from linking.risk import linked_risk
    from storage.repository import FLAGGED_BANDS
    from storage.repository import queue as queue_rows

    sessions = _sessions(database_url)
    with sessions() as session:
        rows = queue_rows(session, top=top, min_risk=min_risk, site=site, ad_type=ad_type)
        bmax = max_boost(session)
        if rows and bmax > 0 and len(rows) == top:
            # the top rows by priority (>= risk) all have risk >= this floor: fetch those, re-rank
            floor = max(1.0 - (1.0 - rows[-1].risk) / (1.0 - bmax), min_risk or 0.0)
            rows = queue_rows(session, top=10_000_000, min_risk=floor, site=site, ad_type=ad_type)
            if min_risk is None:
                rows = [r for r in rows if r.band in FLAGGED_BANDS]
        boosts = network_boosts(session, [r.ad_id for r in rows])
    priority = {r.ad_id: linked_risk(r.risk, boosts.get(r.ad_id)) for r in rows}
    rows = sorted(rows, key=lambda r: (-priority[r.ad_id], -r.ad_id))[:top]
    if fmt == "json":
        sys.stdout.write(json.dumps([{**r.as_dict(), "priority": round(priority[r.ad_id], 4)} for r in rows],
                                    indent=2, ensure_ascii=False) + "\n")
        return
    table = Table(title=title, caption=QUEUE_ORDER_NOTE)
    table.add_column("id", justify="right")
    table.add_column("priority", justify="right")
    table.add_column("risk", justify="right")
    table.add_column("band")
    table.add_column("type")
    table.add_column("why: indicator categories | model features", max_width=44)
    table.add_column("title", max_width=40, overflow="ellipsis", no_wrap=True)
    table.add_column("url", overflow="fold")
    colours = {"high": "bold red", "medium": "yellow", "low": "green"}
    for r in rows:
        table.add_row(str(r.ad_id), f"{priority[r.ad_id]:.2f}", f"{r.risk:.2f}", f"[{colours.get(r.band, '')}]{r.band}[/]", r.ad_type,
                      _why(r.categories, r.top_features), r.title or "", r.url)
    console.print(table)
    if not rows:
        hint = "try --min-risk 0 to list every stored ad" if not (site or ad_type) else "check --site / --ad-type"
        console.print(f"[dim]no ads match; {hint}[/]")


QUEUE_ORDER_NOTE = ("sorted by priority, as in the review app: the ad's risk raised by its contact network "
                    "(1 − (1 − risk)(1 − network boost)); equal to risk for ads in no network")
"""How ``adwatch queue`` (and the demo's top list) is sorted."""


def _why(categories: list[str], features: list[str], n_features: int = 2) -> str:
    """Short explanation for a queue row: the indicator categories, then the strongest model features."""
    parts = [", ".join(categories)] if categories else []
    if features:
        parts.append("[dim]" + ", ".join(f.split(":", 1)[-1] for f in features[:n_features]) + "[/]")
    return " | ".join(parts) or "-"


@app.command()
def queue(
    top: Annotated[int, typer.Option("--top", min=1, help="How many ads.")] = 20,
    min_risk: Annotated[float | None, typer.Option("--min-risk", min=0.0, max=1.0, help="Only ads with risk >= R (0 lists every stored ad). Default: flagged ads (medium and high bands).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    site: Annotated[str | None, typer.Option("--site", help="Only this site.")] = None,
    ad_type: Annotated[str | None, typer.Option("--ad-type", help="Only job, escort or other ads.")] = None,
    db: DbOption = None,
) -> None:
    """Show stored ads ranked by priority, as the review app's queue: the ad's risk raised by its
    contact network (equal to the risk for an ad in no network); flagged ads by default. JSON rows
    carry both ``risk`` and ``priority``; ties: newest ad first."""
    if fmt not in ("table", "json"):
        raise fail(f"--format must be table or json, got {fmt!r}")
    if ad_type is not None and ad_type not in ("job", "escort", "other"):
        raise fail(f"--ad-type must be job, escort or other, got {ad_type!r}")
    _show_queue(_settings(db).database_url, top=top, min_risk=min_risk, fmt=fmt, site=site, ad_type=ad_type)


# ---------------------------------------------------------------- scoring ----------------------
@app.command()
def score(
    input: Annotated[Path, typer.Option("--input", "-i", help="JSONL (id, text, optional ad_type, lang) or EMSCAD CSV.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL file to write, one object per ad.")],
    region: Annotated[str | None, typer.Option("--region", help="Default phone region, ISO 3166-1 alpha-2 (e.g. US, GB, BR).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first malformed row instead of skipping it.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Ads per scoring batch.")] = 64,
) -> None:
    """Score ads from a file without crawling or storing (streams: constant memory)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from scoring.io import InputReader, RowError, score_to_json
    from scoring.scorer import Scorer

    if region is not None:
        import phonenumbers

        if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise fail(f"--region must be a two-letter country code known to libphonenumber such as US, GB or BR, got {region!r}")
    try:
        reader = InputReader(input)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    scorer = Scorer(settings=_settings(region=region))
    counts = {"ok": 0, "bad": 0}
    stop: list[RowError] = []

    def ads():  # type: ignore[no-untyped-def]
        for row in reader:
            if isinstance(row, RowError):
                counts["bad"] += 1
                err.print(f"[yellow]skipped[/] {row}" if not strict else f"[bold red]error:[/] {row}")
                if strict:
                    stop.append(row)
                    return
                continue
            yield row

    output.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(TextColumn("scoring"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[n]} ads"),
                        TimeRemainingColumn(), console=err)
    with open(output, "w", encoding="utf-8") as out, progress:
        task = progress.add_task("score", total=reader.size, n=0)
        for s in scorer.score_many(ads(), batch_size=batch_size):
            out.write(json.dumps(score_to_json(s), ensure_ascii=False) + "\n")
            counts["ok"] += 1
            progress.update(task, completed=reader.bytes_read, n=counts["ok"])
        progress.update(task, completed=reader.size)
    err.print(f"wrote {counts['ok']} scored ads to {output}; {counts['bad']} malformed row(s) skipped"
              if not stop else f"stopped at {stop[0]}; the {counts['ok']} ads before it are in {output}")
    if stop:
        raise typer.Exit(2)
    if counts["ok"] == 0 and counts["bad"]:
        raise fail(f"no row of {input} could be read: is it JSONL with 'id' and 'text', or an EMSCAD CSV?")


def _register() -> None:
    """Add the commands that live in their own modules (one module per area)."""
    from cli.detection import evaluate_extraction, evaluate_indicators
    from cli.modeling import bias_report, evaluate, train
    from cli.ops import register as register_ops

    app.command("train")(train)
    app.command("evaluate-extraction")(evaluate_extraction)
    app.command("evaluate-indicators")(evaluate_indicators)
    app.command("evaluate")(evaluate)
    app.command("bias-report")(bias_report)
    register_ops(app)  # db upgrade, schedule, runs, purge

    from cli.crawling import crawl, ingest_warc

    app.command("crawl")(crawl)
    app.command("ingest-warc")(ingest_warc)

    from cli.web import serve, users_app

    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
    from cli.linking import link
    app.command("link")(link)
    from cli.export import export
    app.command("export")(export)


_register()


def main() -> None:  # pragma: no cover - console entry point alias
    """Run the CLI."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
