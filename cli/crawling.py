"""``adwatch crawl`` with crawl monitors (issue 6): a plain typer function for ``cli.main`` to register.

Same options and behaviour as ``cli.main.crawl``, plus: the Spidermon monitors'
(``crawler.monitors``) results are printed, and the command exits 1 when a monitor failed;
``--warc-out DIR`` writes the responses of flagged ads to WARC (``crawler.warc``).
``--min-items`` and ``--max-error-rate`` set the two monitor thresholds for this crawl.

:func:`ingest_warc` is ``adwatch ingest-warc FILE...``: archived responses through the same
extraction, scoring and storage (``crawler.spiders.warc``).

Wiring (for the lead): in ``cli.main`` replace the ``@app.command()`` on ``crawl`` with
``app.command("crawl")(cli.crawling.crawl)`` and add ``app.command("ingest-warc")(cli.crawling.ingest_warc)``.
Until then: ``python -c "import typer, cli.crawling as c; typer.run(c.crawl)" --site NAME``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

MONITOR_PREFIX = "adwatch/monitors/"


def monitor_results(stats: dict[str, Any]) -> dict[str, str]:
    """The per-monitor outcomes in a crawl's stats: ``{monitor name: "passed" | "failed: ..." | "skipped: ..."}``."""
    return {
        key[len(MONITOR_PREFIX):]: str(value)
        for key, value in stats.items()
        if key.startswith(MONITOR_PREFIX) and key not in (MONITOR_PREFIX + "failed", MONITOR_PREFIX + "ok")
    }


def monitors_ok(stats: dict[str, Any]) -> bool:
    """False when the crawl's monitors ran and at least one failed (True when they did not run)."""
    return not int(stats.get(MONITOR_PREFIX + "failed", 0) or 0)


def crawl(
    site: Annotated[str | None, typer.Option("--site", help="Site profile name (config/sites/NAME.toml) or path.")] = None,
    start_url: Annotated[str | None, typer.Option("--start-url", help="Crawl one site from this URL, same domain only, reading JSON-LD JobPosting wherever present.")] = None,
    max_pages: Annotated[int, typer.Option("--max-pages", min=0, help="Stop scheduling requests after this many (0 = the profile's limit, or 100 with --start-url).")] = 0,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Base URL for a profile with relative start URLs.")] = None,
    min_items: Annotated[int, typer.Option("--min-items", min=0, help="Monitor: fewest items (ads and ad status news) a healthy crawl yields.")] = 1,
    max_error_rate: Annotated[float, typer.Option("--max-error-rate", min=0.0, max=1.0, help="Monitor: highest share of failed requests.")] = 0.5,
    warc_out: Annotated[str | None, typer.Option("--warc-out", help="Write the HTTP responses of flagged ads (with SHA-256 and fetch time) to a .warc.gz in this folder.")] = None,
    warc_min_band: Annotated[str, typer.Option("--warc-min-band", help="Lowest band written by --warc-out: low, medium or high.")] = "medium",
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: ADWATCH_DATABASE_URL or sqlite:///./adwatch.db).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Scrapy's INFO log.")] = False,
) -> None:
    """Crawl one site (a profile, or an ad-hoc start URL), then score and store every ad; exit 1 if a monitor fails."""
    from rich.table import Table

    from cli.main import (
        _print_crawl_results,
        _progress,
        _sessions,
        _settings,
        console,
        fail,
    )
    from crawler.profiles import ProfileError, SiteProfile, load_profile
    from crawler.runner import CrawlJob, build_settings, run_crawls

    if bool(site) == bool(start_url):
        raise fail("give exactly one of --site NAME or --start-url URL")
    if site:
        try:
            profile = load_profile(site)
        except (FileNotFoundError, ValueError) as exc:
            raise fail(str(exc)) from exc
    else:
        from urllib.parse import urlsplit

        parts = urlsplit(start_url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise fail(f"--start-url must be an http(s) URL, got {start_url!r}")
        profile = SiteProfile(name=parts.hostname, spider="jobboard", ad_type="job", start_urls=[start_url or ""])
        if not max_pages:
            max_pages = 100
            console.print("[dim]--max-pages not given: stopping after 100 pages[/]")
    try:
        profile.resolved_start_urls(base_url)
    except ValueError as exc:
        raise fail(f"{exc}; pass --base-url (for the demo board: the URL printed by `adwatch demo-site`)") from exc
    if profile.proxy and not profile.proxy.startswith(("http://", "https://")):
        raise fail(str(ProfileError(f"profile {profile.name!r}: proxy {profile.proxy!r}: Scrapy has no SOCKS support; "
                                    "give the http:// URL of an HTTP-to-SOCKS bridge")))
    if warc_min_band not in ("low", "medium", "high"):
        raise fail(f"--warc-min-band must be low, medium or high, got {warc_min_band!r}")
    app_settings = _settings(db)
    database_url = app_settings.database_url
    _sessions(database_url)  # open (and create) the database before crawling: fail early and clearly
    settings = build_settings(
        app_settings, database_url=database_url, log_level="INFO" if verbose else "WARNING",
        overrides={"SPIDERMON_MIN_ITEMS": min_items, "ADWATCH_MONITOR_MAX_ERROR_RATE": max_error_rate,
                   "ADWATCH_WARC_OUT": warc_out, "ADWATCH_WARC_MIN_BAND": warc_min_band},
    )
    with _progress() as progress:
        results = run_crawls([CrawlJob(profile, base_url=base_url, max_pages=max_pages)], settings, progress=progress)
    ok = _print_crawl_results(results)
    table = Table(title="Monitors")
    table.add_column("site")
    table.add_column("monitor")
    table.add_column("result")
    for result in results:
        for name, outcome in monitor_results(result.stats).items():
            style = "red" if outcome.startswith("failed") else "green"
            table.add_row(result.site, name, f"[{style}]{outcome}[/]")
        ok = ok and monitors_ok(result.stats)
    if table.row_count:
        console.print(table)
    for result in results:
        if result.stat("adwatch/warc/records"):
            console.print(f"{result.site}: {result.stat('adwatch/warc/records')} flagged-ad responses written to "
                          f"{result.stats.get('adwatch/warc/file', '')}")
    if not ok:
        raise typer.Exit(1)


def ingest_warc(
    files: Annotated[list[Path], typer.Argument(help="WARC files (.warc or .warc.gz) to read.", exists=True, dir_okay=False)],
    site: Annotated[str | None, typer.Option("--site", help="Site profile whose selectors fit the archived pages (default: JSON-LD JobPosting only).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="The base URL the pages were fetched under (maps them onto the profile's canonical_base).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: ADWATCH_DATABASE_URL or sqlite:///./adwatch.db).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Scrapy's INFO log.")] = False,
) -> None:
    """Run archived responses (WARC) through the same extraction, scoring and storage as a crawl."""
    from cli.main import _print_crawl_results, _sessions, _settings, fail
    from crawler.profiles import SiteProfile, load_profile
    from crawler.runner import CrawlJob, build_settings, run_crawls

    if site:
        try:
            profile = load_profile(site)
        except (FileNotFoundError, ValueError) as exc:
            raise fail(str(exc)) from exc
    else:
        profile = SiteProfile(name="warc", spider="jobboard", ad_type="job")
    if base_url:
        profile = profile.model_copy(update={"base_url": base_url})
    app_settings = _settings(db)
    _sessions(app_settings.database_url)
    settings = build_settings(app_settings, database_url=app_settings.database_url,
                              log_level="INFO" if verbose else "WARNING")
    results = run_crawls([CrawlJob(profile, warc_files=[str(f) for f in files])], settings)
    ok = _print_crawl_results(results)
    if not ok or not all(monitors_ok(r.stats) for r in results):
        raise typer.Exit(1)
