"""``adwatch schedule``: APScheduler 3.x with its job store in adwatch's database.

One nightly crawl job per enabled site profile (``[schedule] cron`` and ``timezone`` in the
profile; profiles without one use ``AppSettings.scheduler.default_cron``/``default_timezone``),
plus a rescoring job that looks for a newly installed model version. Jobs run
:mod:`jobs.tasks` functions, which start subprocesses.

Settings that make unattended runs safe (all in ``job_defaults``, where APScheduler honours them):
``coalesce=True`` (missed runs collapse into one), ``max_instances=1`` (a site is never crawled
twice at once), ``misfire_grace_time`` from config (a run due while the scheduler was down still
happens when it starts within the grace time; the default of 1 s silently skips it,
agronholm/apscheduler#292, #146). Re-installing the jobs at start keeps each job's stored next
run time when its schedule did not change, so a run that was due while the scheduler was down is
not pushed to the next night. Cron times use :class:`jobs.triggers.WallClockCronTrigger`: exactly
once per local night across DST changes.
"""

from __future__ import annotations

import logging
import pickle
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, MetaData, Table, delete, select

from config.settings import AppSettings
from jobs.triggers import WallClockCronTrigger

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
"""The job store's table in adwatch's database (created by APScheduler, ignored by Alembic)."""

CRAWL_FUNC = "jobs.tasks:crawl_site"
RESCORE_FUNC = "jobs.tasks:rescore_if_needed"
RESCORE_JOB_ID = "rescore"


class ScheduleError(ValueError):
    """A site cannot be scheduled or run (the message names the site and the reason)."""


@dataclass
class PlannedJob:
    """A job ``adwatch schedule`` installs: id, what it runs, when."""

    id: str
    name: str
    func: str
    trigger: BaseTrigger
    args: list[Any] = field(default_factory=list)
    site: str | None = None


def job_defaults(app: AppSettings) -> dict[str, Any]:
    """The scheduler's ``job_defaults``: coalesce, one instance per job, misfire grace from config."""
    return {"coalesce": True, "max_instances": 1, "misfire_grace_time": app.scheduler.misfire_grace_time}


def plan_jobs(app: AppSettings, database_url: str, profiles: list[Any] | None = None) -> tuple[list[PlannedJob], list[str]]:
    """The jobs to install, and why some enabled profiles are left out.

    Args:
        app: settings (scheduler defaults, sites folder).
        database_url: passed to every job.
        profiles: site profiles (default: every profile in ``app.sites_dir``).

    Returns:
        ``(jobs, skipped)``: a crawl job per enabled, schedulable profile and the rescoring job;
        ``skipped`` has one line per enabled profile that cannot run unattended.
    """
    from crawler.profiles import ProfileError, list_profiles

    profiles = list_profiles(app.sites_dir) if profiles is None else profiles
    jobs: list[PlannedJob] = []
    skipped: list[str] = []
    for p in profiles:
        if not p.enabled:
            continue
        try:
            p.resolved_start_urls()
        except ProfileError:
            skipped.append(f"{p.name}: relative start URLs and no base_url (crawl it with --base-url)")
            continue
        cron = p.schedule.cron if p.schedule else app.scheduler.default_cron
        tz = p.schedule.timezone if p.schedule else app.scheduler.default_timezone
        try:
            trigger = WallClockCronTrigger(cron, tz)
        except ValueError as exc:
            skipped.append(f"{p.name}: {exc}")
            continue
        jobs.append(PlannedJob(id=f"crawl:{p.name}", name=f"crawl {p.name}", func=CRAWL_FUNC, trigger=trigger,
                               args=[p.name, database_url], site=p.name))
    jobs.append(PlannedJob(id=RESCORE_JOB_ID, name="rescore when a new model is installed", func=RESCORE_FUNC,
                           trigger=IntervalTrigger(minutes=app.scheduler.rescore_check_minutes, timezone=UTC),
                           args=[database_url]))
    return jobs, skipped


def build_scheduler(app: AppSettings, engine: Engine, *, blocking: bool = True) -> BaseScheduler:
    """A scheduler whose job store is ``engine``'s database (table :data:`JOBS_TABLE`).

    Args:
        app: settings (``scheduler.misfire_grace_time``, ``scheduler.max_workers``).
        engine: adwatch's (migrated) database engine.
        blocking: a ``BlockingScheduler`` (``adwatch schedule``) or a ``BackgroundScheduler`` (tests).
    """
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(max_workers=app.scheduler.max_workers)},
        job_defaults=job_defaults(app),
        timezone=UTC,
    )
    scheduler.add_listener(_log_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def _log_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.error("job %s missed its run at %s (beyond misfire_grace_time)", event.job_id, event.scheduled_run_time)
    elif event.code == EVENT_JOB_ERROR:
        log.error("job %s failed: %s", event.job_id, event.exception)
    else:
        log.info("job %s done (scheduled %s)", event.job_id, event.scheduled_run_time)


def stored_jobs(engine: Engine) -> dict[str, dict[str, Any]]:
    """The job store's jobs as APScheduler state dicts (``trigger``, ``next_run_time``...), by id."""
    from sqlalchemy import inspect

    if JOBS_TABLE not in inspect(engine).get_table_names():
        return {}
    table = Table(JOBS_TABLE, MetaData(), autoload_with=engine)
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for job_id, state in conn.execute(select(table.c.id, table.c.job_state)):
            try:
                out[job_id] = pickle.loads(state)
            except Exception as exc:  # noqa: BLE001 - any unreadable job is replaced below
                log.warning("job %s in the store cannot be read (%s); it will be replaced", job_id, exc)
                out[job_id] = {}
    return out


def install_jobs(scheduler: BaseScheduler, engine: Engine, planned: list[PlannedJob]) -> None:
    """Add ``planned`` to a not yet started scheduler, replacing stored copies, removing stale ones.

    A stored job with the same trigger keeps its next run time (even one in the past: it then runs
    at start, within the misfire grace time). Options come from ``job_defaults`` (no per-job
    override), so a changed grace time applies to stored jobs too.
    """
    stored = stored_jobs(engine)
    for job in planned:
        old = stored.get(job.id) or {}
        kwargs: dict[str, Any] = {}
        if old.get("trigger") == job.trigger and old.get("next_run_time") is not None:
            kwargs["next_run_time"] = old["next_run_time"]
        scheduler.add_job(job.func, trigger=job.trigger, id=job.id, name=job.name, args=job.args,
                          replace_existing=True, **kwargs)
    stale = sorted(set(stored) - {j.id for j in planned})
    if stale:
        table = Table(JOBS_TABLE, MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(delete(table).where(table.c.id.in_(stale)))
        log.info("removed jobs of disabled or deleted profiles: %s", ", ".join(stale))


@dataclass
class JobRow:
    """One line of ``adwatch schedule --list``."""

    id: str
    name: str
    trigger: str
    next_run_time: datetime | None
    stored: bool


def list_jobs(app: AppSettings, engine: Engine, database_url: str) -> tuple[list[JobRow], list[str]]:
    """The planned jobs with their next run (stored, else computed now), and the skipped profiles."""
    planned, skipped = plan_jobs(app, database_url)
    stored = stored_jobs(engine)
    now = datetime.now(UTC)
    rows = []
    for job in planned:
        old = stored.get(job.id) or {}
        same = old.get("trigger") == job.trigger
        nxt = old.get("next_run_time") if same else None
        rows.append(JobRow(job.id, job.name, str(job.trigger), nxt or job.trigger.get_next_fire_time(None, now), same))
    return rows, skipped


def run_scheduler(app: AppSettings, engine: Engine, database_url: str) -> None:
    """Install the jobs and run the blocking scheduler until SIGINT/SIGTERM."""
    planned, skipped = plan_jobs(app, database_url)
    for line in skipped:
        log.warning("not scheduled: %s", line)
    scheduler = build_scheduler(app, engine, blocking=True)
    install_jobs(scheduler, engine, planned)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping the scheduler (running crawls finish on their own)", signum)
        scheduler.shutdown(wait=False)

    previous = signal.signal(signal.SIGTERM, stop)
    log.info("scheduler started with %d jobs", len(planned))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
