"""The scheduler's crawl task: a ``scrapy crawl`` subprocess with the site's JOBDIR and a log file."""

from __future__ import annotations

import sqlite3

import pytest

from config.settings import get_settings
from jobs.tasks import JobFailed, crawl_site, jobdir_for


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ADWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'adwatch.db'}")
    monkeypatch.setenv("ADWATCH_SCHEDULER__JOBDIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("ADWATCH_MODELS_DIR", str(tmp_path / "no-models"))  # rules only: fast start
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_crawl_site_runs_a_resumable_subprocess_and_records_the_run(env, demo_server):
    assert crawl_site("demo-classifieds", base_url=demo_server.base_url) == 0
    con = sqlite3.connect(env / "adwatch.db")
    assert con.execute("select count(*) from ad where site = 'demo-classifieds'").fetchone() == (50,)
    jobdir = jobdir_for(get_settings(), "demo-classifieds")
    assert con.execute("select status, jobdir from crawl_run").fetchall() == [("finished", str(jobdir))]
    logs = list((env / "jobs" / "logs").glob("demo-classifieds-*.log"))
    assert len(logs) == 1 and "Spider closed (finished)" in logs[0].read_text()
    assert not (jobdir / "requests.seen").exists()  # a finished crawl leaves no Scrapy state behind


def test_failed_crawl_names_its_log(env):
    with pytest.raises(JobFailed, match=r"crawl of demo-jobs exited with status \d+; log: .*demo-jobs-"):
        crawl_site("demo-jobs")  # relative start URLs and no base URL: the spider cannot start


def test_a_scheduled_crawl_that_fails_a_monitor_fails_its_job_and_run(env, demo_server, monkeypatch):
    # a copy of the classifieds profile whose start page does not exist: the crawl finishes with
    # no ad, so the minimum-items monitor fails; `scrapy crawl` still exits 0
    sites = env / "sites"
    sites.mkdir()
    text = (get_settings().sites_dir / "demo-classifieds.toml").read_text(encoding="utf-8")
    (sites / "demo-empty.toml").write_text(
        text.replace('name = "demo-classifieds"', 'name = "demo-empty"')
            .replace('start_urls = ["/classifieds/"]', 'start_urls = ["/no-such-listing/"]'), encoding="utf-8")
    monkeypatch.setenv("ADWATCH_SITES_DIR", str(sites))
    get_settings.cache_clear()
    with pytest.raises(JobFailed, match=r"crawl of demo-empty \(run 1\) failed its monitors: .*[Ii]tem"):
        crawl_site("demo-empty", base_url=demo_server.base_url)
    con = sqlite3.connect(env / "adwatch.db")
    (status, stats), = con.execute("select status, stats from crawl_run").fetchall()
    assert status == "failed"
    assert '"adwatch/monitors/ok": false' in stats and '"finish_reason": "finished"' in stats
