"""The functions the scheduler runs (referenced as ``jobs.tasks:NAME`` in the job store).

Each starts a subprocess and waits for it: the scheduler process never crawls or scores itself.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from config.settings import AppSettings, get_settings

log = logging.getLogger(__name__)


class JobFailed(RuntimeError):
    """A crawl or rescoring subprocess exited with an error (the message names the site and log file)."""


def jobdir_for(app: AppSettings, site: str) -> Path:
    """The Scrapy JOBDIR of ``site``'s scheduled crawls (``<scheduler.jobdir>/<site>``)."""
    return Path(app.scheduler.jobdir).expanduser().resolve() / site


def _run(argv: list[str], env: dict[str, str], log_path: Path, timeout: float) -> int:
    """Run ``argv`` with output to ``log_path``; on timeout SIGTERM (graceful), then SIGKILL after 60 s."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.error("%s exceeded %.0f s: stopping it", argv[:5], timeout)
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()


def crawl_site(site: str, database_url: str | None = None, base_url: str | None = None) -> int:
    """Crawl one site in a ``scrapy crawl`` subprocess with its JOBDIR, and wait for it.

    Args:
        site: site profile name.
        database_url: database (default: ``AppSettings.database_url``).
        base_url: for profiles with relative start URLs.

    Returns:
        The subprocess's exit status (0).

    Raises:
        JobFailed: the crawl exited with another status, or its run failed a Spidermon monitor
            (see its log under the JOBDIR's ``logs``; the run is recorded as ``failed``).
        crawler.profiles.ProfileError: the profile is missing or invalid.
    """
    from crawler.profiles import load_profile
    from crawler.runner import crawl_command, crawl_env

    app = get_settings()
    profile = load_profile(site, app.sites_dir)
    jobdir = jobdir_for(app, profile.name)
    jobdir.mkdir(parents=True, exist_ok=True)
    argv = crawl_command(profile, jobdir=jobdir, app=app, base_url=base_url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_path = jobdir.parent / "logs" / f"{profile.name}-{stamp}.log"
    log.info("crawl %s: %s (log %s)", profile.name, " ".join(argv[:6]), log_path)
    launched = datetime.now(UTC)
    code = _run(argv, crawl_env(app, database_url), log_path, app.scheduler.crawl_timeout)
    if code != 0:
        raise JobFailed(f"crawl of {profile.name} exited with status {code}; log: {log_path}")
    failed = failed_monitors_since(database_url or app.database_url, profile.name, launched)
    if failed:
        raise JobFailed(f"crawl of {profile.name} (run {failed[0]}) failed its monitors: "
                        f"{'; '.join(f'{k}: {v}' for k, v in failed[1].items())}; log: {log_path}")
    return code


def failed_monitors_since(database_url: str, site: str, since: datetime) -> tuple[int, dict[str, str]] | None:
    """The newest crawl run of ``site`` started at or after ``since`` whose Spidermon monitors failed.

    ``scrapy crawl`` exits 0 when a monitor fails (only ``adwatch crawl`` turns that into an exit
    status), so a scheduled crawl reads the outcome that ``StoreAdPipeline`` stored on its run.

    Returns:
        ``(run id, {monitor: "failed: reason"})``, or None when the run passed or none was recorded.
    """
    from sqlalchemy import select

    from crawler.monitors import failed_monitors
    from storage.db import make_engine, make_session_factory
    from storage.models import CrawlRun

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            run = session.scalars(
                select(CrawlRun).where(CrawlRun.site == site).order_by(CrawlRun.id.desc()).limit(1)
            ).first()
            if run is None:
                return None
            started = run.started_at if run.started_at.tzinfo else run.started_at.replace(tzinfo=UTC)
            if started < since.replace(microsecond=0):
                return None
            failed = failed_monitors(run.stats or {})
            return (run.id, failed) if failed else None
    finally:
        engine.dispose()


def current_model_version(app: AppSettings) -> str | None:
    """The model version the scorer would load now (its folder name), or None (rules only)."""
    from scoring.scorer import find_model_dir

    path = find_model_dir(Path(app.models_dir), app.model_name)
    return path.name if path is not None else None


def rescore_if_needed(database_url: str | None = None) -> int:
    """Rescore stored ads when a new model version is installed (in a ``python -m jobs.rescore`` subprocess).

    Returns:
        The subprocess's exit status, or 0 when every active ad already has a score from the
        current model.

    Raises:
        JobFailed: the rescoring subprocess failed.
    """
    from storage.db import make_engine, make_session_factory
    from storage.repository import ads_missing_score

    app = get_settings()
    version = current_model_version(app)
    if version is None:
        return 0
    url = database_url or app.database_url
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            if not ads_missing_score(session, version, limit=1):
                return 0
    finally:
        engine.dispose()
    log_path = Path(app.scheduler.jobdir).expanduser().resolve() / "logs" / f"rescore-{version}.log"
    env = {**os.environ, "ADWATCH_DATABASE_URL": url}
    code = _run([sys.executable, "-m", "jobs.rescore"], env, log_path, app.scheduler.crawl_timeout)
    if code != 0:
        raise JobFailed(f"rescoring with {version} exited with status {code}; log: {log_path}")
    return code
