"""``adwatch schedule``: jobs per profile, options in job_defaults, a missed nightly run still runs once.

Case schedule-02 (apscheduler#292, #146): a job whose next run time is 5 s in the past when the
scheduler starts must run exactly once.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

from config.settings import AppSettings, SchedulerSettings
from jobs.scheduler import (
    JOBS_TABLE,
    RESCORE_JOB_ID,
    build_scheduler,
    install_jobs,
    list_jobs,
    plan_jobs,
    stored_jobs,
)
from jobs.triggers import WallClockCronTrigger
from storage.db import make_engine
from tests.jobs import helpers

CASE = json.loads((Path(__file__).parent / "cases" / "schedule-02-misfire.json").read_text(encoding="utf-8"))

PROFILE = """name = "{name}"
spider = "jobboard"
start_urls = ["https://jobs.example.org/"]
enabled = {enabled}
{schedule}
"""


@pytest.fixture()
def app(tmp_path) -> AppSettings:
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "nightly.toml").write_text(PROFILE.format(name="nightly", enabled="true", schedule=(
        '[schedule]\ncron = "30 2 * * *"\ntimezone = "Europe/Berlin"')), encoding="utf-8")
    (sites / "plain.toml").write_text(PROFILE.format(name="plain", enabled="true", schedule=""), encoding="utf-8")
    (sites / "off.toml").write_text(PROFILE.format(name="off", enabled="false", schedule=""), encoding="utf-8")
    (sites / "relative.toml").write_text('name = "relative"\nstart_urls = ["/jobs/"]\n', encoding="utf-8")
    return AppSettings(sites_dir=sites, scheduler=SchedulerSettings(misfire_grace_time=600, jobdir=tmp_path / "jobs"))


@pytest.fixture()
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'adwatch.db'}")
    yield eng
    eng.dispose()


def store_job(app, engine, job_id, func, trigger, args, next_run_time) -> None:
    """Write a job into the job store as a scheduler that then stopped would have left it."""
    scheduler = build_scheduler(app, engine, blocking=False)  # never started
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
    store.start(scheduler, "default")
    store.add_job(Job(scheduler, id=job_id, func=func, trigger=trigger, args=args, kwargs={}, executor="default",
                      name=job_id, misfire_grace_time=1, coalesce=False, max_instances=1, next_run_time=next_run_time))


def test_one_crawl_job_per_enabled_schedulable_profile(app):
    jobs, skipped = plan_jobs(app, "sqlite:///x.db")
    crawl = {j.id: j for j in jobs if j.site}
    assert sorted(crawl) == ["crawl:nightly", "crawl:plain"]
    assert crawl["crawl:nightly"].trigger == WallClockCronTrigger("30 2 * * *", "Europe/Berlin")
    assert crawl["crawl:plain"].trigger == WallClockCronTrigger("0 2 * * *", "UTC")  # config default
    assert crawl["crawl:nightly"].func == "jobs.tasks:crawl_site"
    assert crawl["crawl:nightly"].args == ["nightly", "sqlite:///x.db"]
    assert [j.id for j in jobs if not j.site] == [RESCORE_JOB_ID]
    assert skipped == ["relative: relative start URLs and no base_url (crawl it with --base-url)"]


def test_job_options_come_from_job_defaults_and_are_stored_in_the_database(app, engine):
    scheduler = build_scheduler(app, engine, blocking=False)
    install_jobs(scheduler, engine, plan_jobs(app, "sqlite:///x.db")[0])
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("crawl:nightly")
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (600, True, 1)
    finally:
        scheduler.shutdown(wait=False)
    stored = stored_jobs(engine)
    assert set(stored) == {"crawl:nightly", "crawl:plain", RESCORE_JOB_ID}
    assert stored["crawl:nightly"]["misfire_grace_time"] == 600
    rows, _ = list_jobs(app, engine, "sqlite:///x.db")
    nightly = next(r for r in rows if r.id == "crawl:nightly")
    assert nightly.stored and nightly.next_run_time.astimezone(UTC) > datetime.now(UTC)
    assert nightly.next_run_time.astimezone(WallClockCronTrigger("0 0 * * *", "Europe/Berlin").tz).strftime("%H:%M") == "02:30"


def test_case_missed_run_5_seconds_ago_runs_exactly_once_at_start(app, engine):
    """schedule-02: the job store holds a nightly crawl due 5 s ago when the scheduler starts."""
    assert CASE["expected"]["runs"] == 1
    helpers.RUNS.clear()
    helpers.RAN.clear()
    trigger = WallClockCronTrigger("30 2 * * *", "Europe/Berlin")
    job = plan_jobs(app, "sqlite:///x.db")[0][0]
    job.func, job.args = "tests.jobs.helpers:record_run", ["nightly"]
    # an earlier scheduler stored the job with its next run 5 s in the past, then went down
    store_job(app, engine, job.id, job.func, trigger, job.args, datetime.now(UTC) - timedelta(seconds=5))
    assert stored_jobs(engine)[job.id]["next_run_time"] < datetime.now(UTC)

    missed: list[str] = []
    scheduler = build_scheduler(app, engine, blocking=False)
    scheduler.add_listener(lambda e: missed.append(e.job_id), EVENT_JOB_MISSED)
    install_jobs(scheduler, engine, [job])  # the real start-up path: must keep the due time
    scheduler.start()
    try:
        assert helpers.RAN.wait(10), "the missed nightly run did not run at start"
        time.sleep(0.5)
    finally:
        scheduler.shutdown(wait=True)
    assert helpers.RUNS == ["nightly"]
    assert missed == []
    # and the next run is tomorrow night, not again now
    assert stored_jobs(engine)[job.id]["next_run_time"] > datetime.now(UTC)


def test_changed_schedule_replaces_the_stored_next_run(app, engine):
    job = next(j for j in plan_jobs(app, "sqlite:///x.db")[0] if j.id == "crawl:plain")
    store_job(app, engine, job.id, job.func, WallClockCronTrigger("0 5 * * *", "UTC"), job.args,
              datetime.now(UTC) - timedelta(seconds=5))
    again = build_scheduler(app, engine, blocking=False)
    install_jobs(again, engine, [job])
    again.start(paused=True)
    again.shutdown(wait=False)
    stored = stored_jobs(engine)[job.id]
    assert stored["trigger"] == WallClockCronTrigger("0 2 * * *", "UTC")
    assert stored["next_run_time"] > datetime.now(UTC)
