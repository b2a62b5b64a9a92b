"""Crash safety with a real ``scrapy crawl`` subprocess killed with SIGKILL at several points.

The crawl of the demo board's classifieds (50 ads) is killed (1) after its run started but before
any ad was stored, (2) after >= 10 ads and (3) after >= 30 ads, each time resuming from the same
JOBDIR; the fourth run completes. Then every ad is stored exactly once (one version each), every
killed run is ``interrupted``, each run resumed from the one before, and the last one skipped the
detail pages the killed runs had already stored instead of starting over. A plain re-run after
that inserts nothing.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from config.settings import AppSettings
from crawler.profiles import load_profile
from crawler.runner import crawl_command, crawl_env

N_ADS = 50  # demo/data/classifieds.jsonl


def query(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        con.close()


def n_ads(db: Path) -> int:
    rows = query(db, "select count(*) from ad")
    return rows[0][0] if rows else 0


def n_runs(db: Path) -> int:
    rows = query(db, "select count(*) from crawl_run")
    return rows[0][0] if rows else 0


@pytest.fixture()
def crawl(tmp_path, demo_server):
    db = tmp_path / "adwatch.db"
    jobdir = tmp_path / "jobs" / "demo-classifieds"
    app = AppSettings(database_url=f"sqlite:///{db}")
    argv = crawl_command(
        load_profile("demo-classifieds"), jobdir=jobdir, app=app, base_url=demo_server.base_url,
        overrides={"ADWATCH_SCORE_ENABLED": False, "ADWATCH_STORE_BATCH_SIZE": 5, "DOWNLOAD_DELAY": 0.04,
                   "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS": 1, "RANDOMIZE_DOWNLOAD_DELAY": False},
    )
    env = crawl_env(app)

    def start() -> subprocess.Popen:
        return subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    return start, db, jobdir


def kill_when(proc: subprocess.Popen, condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"crawl ended before the kill point: {proc.stderr.read().decode()[-2000:]}")
        if condition():
            proc.kill()  # SIGKILL: no handler, no cleanup
            proc.wait()
            return
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("kill point not reached")


def test_sigkilled_crawls_resume_and_store_every_ad_exactly_once(crawl):
    start, db, jobdir = crawl
    kill_when(start(), lambda: n_runs(db) == 1 and n_ads(db) == 0)
    assert n_ads(db) == 0
    kill_when(start(), lambda: n_ads(db) >= 10)
    after_2 = n_ads(db)
    kill_when(start(), lambda: n_ads(db) >= 30)
    after_3 = n_ads(db)
    assert 10 <= after_2 < after_3 < N_ADS
    marker = json.loads((jobdir / "adwatch-run.json").read_text())
    assert marker["state"] == "running"  # the dead owner never closed

    last = start()
    _, err = last.communicate(timeout=120)
    assert last.returncode == 0, err.decode()[-3000:]

    assert n_ads(db) == N_ADS
    assert query(db, "select count(distinct canonical_url) from ad") == [(N_ADS,)]
    assert query(db, "select count(*) from ad_version") == [(N_ADS,)]  # nothing stored twice
    assert query(db, "select max(version) from ad") == [(1,)]
    runs = query(db, "select id, status, resumed_from, stats from crawl_run order by id")
    assert [r[1] for r in runs] == ["interrupted", "interrupted", "interrupted", "finished"]
    assert [r[2] for r in runs] == [None, runs[0][0], runs[1][0], runs[2][0]]
    stats = json.loads(runs[3][3])
    assert stats["adwatch/resume/unclean"] is True
    assert stats["adwatch/resume/skipped"] >= after_3  # resumed, not started over
    assert stats["adwatch/stored/inserted"] == N_ADS - after_3
    assert stats.get("adwatch/pages/detail", 0) <= N_ADS - after_3
    assert not (jobdir / "adwatch-run.json").exists()  # finished: the next crawl starts afresh

    again = start()
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()[-3000:]
    final = json.loads(query(db, "select stats from crawl_run order by id desc limit 1")[0][0])
    assert (final.get("adwatch/stored/inserted", 0), final["adwatch/stored/unchanged"]) == (0, N_ADS)
    assert query(db, "select count(*) from ad_version") == [(N_ADS,)]


def test_sigterm_stops_cleanly_and_scrapy_resumes_from_its_own_queue(crawl):
    start, db, jobdir = crawl
    proc = start()
    deadline = time.monotonic() + 60
    while n_ads(db) < 10 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.terminate()  # SIGTERM: Scrapy closes the spider ("shutdown") and saves its queue
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    stopped = n_ads(db)
    assert 10 <= stopped < N_ADS
    assert json.loads((jobdir / "adwatch-run.json").read_text())["state"] == "stopped"
    assert (jobdir / "requests.queue").is_dir()

    last = start()
    _, err = last.communicate(timeout=120)
    assert last.returncode == 0, err.decode()[-3000:]
    assert n_ads(db) == N_ADS and query(db, "select count(*) from ad_version") == [(N_ADS,)]
    runs = query(db, "select status, resumed_from, stats from crawl_run order by id")
    assert [r[0] for r in runs] == ["interrupted", "finished"]
    stats = json.loads(runs[1][2])
    assert stats["adwatch/resume/unclean"] is False
    assert stats["adwatch/stored/inserted"] == N_ADS - stopped
    assert stats.get("response_received_count", 0) < N_ADS  # resumed, not started over
