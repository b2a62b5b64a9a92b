"""The operations commands (cli/ops.py) through typer's CliRunner on a temporary SQLite database."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import typer
from typer.testing import CliRunner

from cli import ops
from storage.db import make_engine, make_session_factory
from storage.repository import AdRecord, ScoreRecord, start_run, upsert_ads


@pytest.fixture()
def cli():
    app = typer.Typer()
    app.command("noop")(lambda: None)
    ops.register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_db_upgrade_creates_then_reports_up_to_date(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    first = cli("db", "upgrade", "--db", url)
    assert first.exit_code == 0, first.output
    assert "migrated from empty to 0002" in first.output
    again = cli("db", "upgrade", "--db", url)
    assert "already at revision 0002" in again.output
    tables = {r[0] for r in sqlite3.connect(tmp_path / "a.db").execute("select name from sqlite_master where type='table'")}
    assert {"ad", "ad_version", "entity", "review_item", "decision", "app_user", "audit_event"} <= tables


def test_runs_marks_dead_runs_interrupted_and_prints_json(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = make_engine(url)
    with make_session_factory(engine).begin() as s:
        start_run(s, "demo-jobs", pid=999_999_999)  # a process that no longer exists
    engine.dispose()
    res = cli("runs", "--format", "json", "--db", url)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [(r["site"], r["status"]) for r in rows] == [("demo-jobs", "interrupted")]
    assert cli("runs", "--db", url).exit_code == 0


def test_purge_writes_an_audit_event(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = make_engine(url)
    text = "Cleaner\n\nCall (415) 555-0132"
    with make_session_factory(engine).begin() as s:
        upsert_ads(s, [AdRecord(canonical_url="http://example.org/1", url="http://example.org/1", site="x",
                                ad_type="job", text=text, content_sha256="e" * 64, fields={"contact_raw": "(415) 555-0132"},
                                score=ScoreRecord(model_version="m", risk=0.1, band="low", entities=[
                                    {"type": "phone", "value": "+14155550132", "start": 14, "end": 28,
                                     "text": "(415) 555-0132"}]))],
                   now=datetime.now(UTC) - timedelta(days=40))
    engine.dispose()
    res = cli("purge", "--older-than", "30", "--db", url, "--actor", "ops-test")
    assert res.exit_code == 0, res.output
    assert "purged raw HTML and contacts of 1 ads" in res.output
    con = sqlite3.connect(tmp_path / "p.db")
    assert con.execute("select text, contact_raw from ad").fetchone() == ("Cleaner\n\nCall ***** ********", None)
    assert con.execute("select actor, action from audit_event").fetchall() == [("ops-test", "purge")]
    assert cli("purge", "--older-than", "-1", "--db", url).exit_code == 2


def test_schedule_list_shows_jobs_and_unschedulable_profiles(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = cli("schedule", "--list", "--db", url)
    assert res.exit_code == 0, res.output
    assert "rescore" in res.output
    assert "demo-jobs: relative start URLs" in res.output  # the demo board has no fixed address
    assert cli("schedule", "--run-now", "no-such-site", "--db", url).exit_code == 2
