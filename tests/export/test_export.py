"""``adwatch export``: operator roles, audit log, labels, formats, datasheet and the command line."""

from __future__ import annotations

import getpass
import json
import socket
import sys
from collections import Counter

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from cli.export import export as export_command
from config.settings import get_settings
from export import ExportError, ExportOptions, ExportRefused, run_export
from export.writers import FIELDS
from storage.models import AuditEvent
from tests.export.conftest import HMAC_KEY, SECRET
from tests.export.helpers import read_rows
from tests.export.test_deid import seeded_ids


def _export(sessions, settings, out, operator="rita", **kw):
    with sessions() as s:
        try:
            return run_export(s, ExportOptions(out_dir=out, operator=operator, **kw), settings=settings)
        finally:
            s.commit()


def _events(sessions, action):
    with sessions() as s:
        return [(e.actor, e.target_type, e.details) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


@pytest.mark.parametrize(("operator", "message"), [
    ("ana", "account 'ana' has role 'analyst': export is allowed to researcher and admin accounts only"),
    ("sam", "account 'sam' has role 'supervisor': export is allowed to researcher and admin accounts only"),
    ("olga", "account 'olga' is deactivated"),
    ("nobody", "no account named 'nobody'"),
])
def test_only_researchers_and_admins_may_export(sessions, settings, tmp_path, operator, message) -> None:
    out = tmp_path / "out"
    with pytest.raises(ExportRefused) as exc:
        _export(sessions, settings, out, operator=operator)
    assert message in str(exc.value)
    assert not out.exists()  # nothing written
    assert _events(sessions, "export") == []
    refused = _events(sessions, "export_refused")
    assert [(a, t) for a, t, _ in refused] == [(operator, "dataset")]
    assert refused[0][2]["reason"] == str(exc.value)
    assert refused[0][2]["role"] == {"ana": "analyst", "sam": "supervisor", "olga": "researcher", "nobody": None}[operator]


@pytest.mark.parametrize("operator", ["rita", "adam"])
def test_export_is_audited_with_operator_parameters_and_counts(sessions, settings, tmp_path, operator) -> None:
    out = tmp_path / "out"
    result = _export(sessions, settings, out, operator=operator, fmt="csv", split="random", deid="pseudonymize",
                     seed=7, labelled_only=True)
    events = _events(sessions, "export")
    assert len(events) == 1
    actor, target, details = events[0]
    assert (actor, target) == (operator, "dataset")
    assert details["role"] == {"rita": "researcher", "adam": "admin"}[operator]
    assert {k: details[k] for k in ("format", "split", "deidentification", "labelled_only", "seed", "fractions")} == {
        "format": "csv", "split": "random", "deidentification": "pseudonymize", "labelled_only": True, "seed": 7,
        "fractions": [0.8, 0.1, 0.1]}
    assert details["rows"] == result.rows == 8
    assert details["labels"] == {"1": 5, "0": 3}
    assert sum(details["splits"].values()) == 8
    assert details["files"]["ads.csv"]["rows"] == 8 and len(details["files"]["ads.csv"]["sha256"]) == 64
    # where the export went and where it really ran (--as is an attribution, not a login)
    assert details["out_dir"] == str(out.resolve())
    assert (details["host"], details["os_user"]) == (socket.gethostname(), getpass.getuser())
    assert details["warnings"] == result.warnings
    assert "secret" not in json.dumps(details).lower() and SECRET not in json.dumps(details)
    with sessions() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "export")) == result.audit_event_id


def test_rows_fields_and_labels(sessions, settings, tmp_path) -> None:
    _export(sessions, settings, tmp_path / "out")
    rows = read_rows(tmp_path / "out")
    ids = seeded_ids(sessions)
    assert all(list(r) == list(FIELDS) for r in rows)
    by_id = {r["ad_id"]: r for r in rows}
    assert ids["esc_removed"] not in by_id  # removed on request: never exported
    a = by_id[ids["esc_a"]]
    assert (a["ad_type"], a["site"], a["posted_at"], a["first_seen"]) == (
        "escort", "demo-classifieds", "2026-03-01", "2026-03-01T12:00:00+00:00")
    assert (a["risk"], a["model_version"], a["split"] in ("train", "validation", "test")) == (0.95, "rules-only", True)
    # two reviewers agreeing (confirm + escalate), reasons of both
    assert a["labels"] == {"label": 1, "state": "escalated", "n_reviewers": 2, "n_votes": 2, "agreement": 1.0,
                           "reasons": ["indicators_confirmed", "possible_minor"]}
    # two reviewers disagreeing (confirm, then dismiss): a tie, no label, whatever the app's state
    assert by_id[ids["esc_b"]]["labels"] == {"label": None, "state": "dismissed", "n_reviewers": 2, "n_votes": 2,
                                             "agreement": 0.5, "reasons": ["benign_context", "indicators_confirmed"]}
    # one reviewer who changed their mind counts once, with the newest decision
    assert by_id[ids["job_fee"]]["labels"] == {"label": 1, "state": "confirmed", "n_reviewers": 1, "n_votes": 1,
                                               "agreement": 1.0, "reasons": ["indicators_confirmed"]}
    assert by_id[ids["esc_c"]]["labels"] is None  # the only decision was undone
    assert by_id[ids["esc_url"]]["labels"] == {"label": None, "state": "needs_info", "n_reviewers": 1, "n_votes": 0,
                                               "agreement": None, "reasons": ["insufficient_information"]}
    assert by_id[ids["job_plain"]]["labels"] is None and by_id[ids["job_plain"]]["indicators"] == []


def test_labelled_only(sessions, settings, tmp_path) -> None:
    result = _export(sessions, settings, tmp_path / "out", labelled_only=True)
    rows = read_rows(tmp_path / "out")
    assert len(rows) == result.rows == 8  # the tie (esc_b) has no label
    assert Counter(r["labels"]["label"] for r in rows) == {1: 5, 0: 3}


def test_parquet_schema_and_values(sessions, settings, tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    _export(sessions, settings, tmp_path / "out", fmt="parquet", deid="pseudonymize")
    table = pq.read_table(tmp_path / "out" / "ads.parquet")
    assert table.schema.names == list(FIELDS) and table.num_rows == 32
    assert str(table.schema.field("first_seen").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("posted_at").type) == "date32[day]"
    assert str(table.schema.field("indicators").type).startswith("list<element: struct<indicator_id: string")
    rows = read_rows(tmp_path / "out")
    jsonl = _export(sessions, settings, tmp_path / "json", deid="pseudonymize")
    assert jsonl.rows == 32
    same = {r["ad_id"]: r for r in read_rows(tmp_path / "json")}
    for r in rows:
        assert r == same[r["ad_id"]]


def test_parquet_without_pyarrow_fails_clearly(sessions, settings, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    with pytest.raises(ExportError, match=r"--format parquet needs pyarrow \(pip install 'pyarrow>=14'\)"):
        _export(sessions, settings, tmp_path / "out", fmt="parquet")
    assert not (tmp_path / "out").exists()


def test_datasheet(sessions, settings, tmp_path) -> None:
    out = tmp_path / "out"
    _export(sessions, settings, out, split="time")
    sheet = json.loads((out / "datasheet.json").read_text(encoding="utf-8"))
    assert sheet["counts"]["rows"] == 32
    assert sheet["counts"]["by_ad_type"] == {"escort": 4, "job": 28}
    assert sheet["labels"]["distribution"] == {"0": 3, "1": 5, "needs_info": 1, "tie": 1, "unlabelled": 22}
    assert sheet["labels"]["reviewers_per_ad"] == {"1": 8, "2": 2}
    assert sheet["labels"]["mean_agreement"] == round(8.5 / 9, 4)  # 9 ads with votes, one tie (0.5)
    assert "majority of the votes" in sheet["labels"]["how_made"]
    assert sheet["splits"]["time_basis"] == {"posted_at": 32}  # every fixture ad has a posting date
    assert "--labelled-only" in sheet["splits"]["stability"]
    assert sheet["time_range"]["first_seen"] == {"min": "2026-03-01T12:00:00+00:00", "max": "2026-03-26T12:00:00+00:00"}
    assert [s["site"] for s in sheet["sources"]] == ["demo-classifieds", "demo-jobs", "other-classifieds", "other-jobs"]
    assert sheet["splits"]["method"] == "time" and sum(sheet["counts"]["by_split"].values()) == 32
    assert sheet["known_biases"] and sheet["terms_of_use"] and "decisions" in sheet["labels"]["how_made"]
    md = (out / "DATASHEET.md").read_text(encoding="utf-8")
    for heading in ("## Motivation", "## Composition", "## Sources", "## Labels", "## De-identification",
                    "## Splits", "## Known biases and limitations", "## Terms of use"):
        assert heading in md
    assert "| demo-jobs | 16 | job 16 |" in md
    assert "rita" not in md and "rita" not in json.dumps(sheet)  # the operator is in the audit log only


def test_existing_export_needs_force(sessions, settings, tmp_path) -> None:
    out = tmp_path / "out"
    _export(sessions, settings, out)
    with pytest.raises(ExportError, match="already holds an export .*--force"):
        _export(sessions, settings, out, fmt="csv")
    _export(sessions, settings, out, fmt="csv", force=True)
    assert sorted(p.name for p in out.iterdir()) == ["DATASHEET.md", "ads.csv", "datasheet.json"]


# ------------------------------------------------------------------ command line ----------------
def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("export")(export_command)
    app.command("noop")(lambda: None)  # two commands: "export" stays a sub-command
    return app


@pytest.fixture()
def env(monkeypatch, db_url):
    monkeypatch.setenv("ADWATCH_HMAC_KEY", HMAC_KEY)
    monkeypatch.delenv("ADWATCH_EXPORT_SECRET", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_cli_refuses_an_analyst(env, db_url, tmp_path, sessions) -> None:
    r = CliRunner().invoke(_app(), ["export", "--out", str(tmp_path / "out"), "--as", "ana", "--db", db_url])
    assert r.exit_code == 2
    assert "export refused: account 'ana' has role 'analyst'" in r.output
    assert [a for a, _, _ in _events(sessions, "export_refused")] == ["ana"]


def test_cli_says_what_it_created_and_warns(env, db_url, tmp_path, sessions) -> None:
    out = tmp_path / "new" / "export"
    r = CliRunner().invoke(_app(), ["export", "--out", str(out), "--as", "rita", "--db", db_url, "--split", "time"])
    assert r.exit_code == 0, r.output
    assert f"created folder {out.resolve()}" in r.output
    sheet = json.loads((out / "datasheet.json").read_text(encoding="utf-8"))
    assert sheet["warnings"]
    for warning in sheet["warnings"]:  # rich may wrap a long line: compare without line breaks
        assert f"warning: {warning}" in " ".join(r.output.split())
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x", encoding="utf-8")
    r = CliRunner().invoke(_app(), ["export", "--out", str(tmp_path / "notes"), "--as", "rita", "--db", db_url])
    assert r.exit_code == 2 and "holds other files (todo.txt)" in " ".join(r.output.split())


def test_cli_exports_with_pseudonyms(env, db_url, tmp_path, sessions) -> None:
    out = tmp_path / "out"
    args = ["export", "--out", str(out), "--as", "rita", "--db", db_url, "--pseudonymize", "--format", "jsonl"]
    r = CliRunner().invoke(_app(), args)
    assert r.exit_code == 2 and "--pseudonymize needs ADWATCH_EXPORT_SECRET" in r.output
    env.setenv("ADWATCH_EXPORT_SECRET", SECRET)
    get_settings.cache_clear()
    r = CliRunner().invoke(_app(), args)
    assert r.exit_code == 0, r.output
    assert "wrote 32 ads to" in r.output and "audit event" in r.output
    assert len(read_rows(out)) == 32 and "[PHONE_" in (out / "ads.jsonl").read_text(encoding="utf-8")
    r = CliRunner().invoke(_app(), [*args[:-2], "--redact"])
    assert r.exit_code == 2 and "choose one of --pseudonymize and --redact" in r.output
    assert [a for a, _, _ in _events(sessions, "export")] == ["rita"]


# ------------------------------------------------------------------ labels = train --from-db (finding 10)
def test_labels_follow_the_training_rule(sessions, settings, tmp_path, db_url) -> None:
    from cli.modeling import DECISION_LABELS, decision_records
    from export.labels import BINARY
    from storage.models import AppUser
    from webapp.services import decide

    assert BINARY == DECISION_LABELS
    ids = seeded_ids(sessions)
    with sessions() as s:  # a job ad the two analysts disagree on, and one where a majority stands
        users = {u.username: u for u in s.scalars(select(AppUser))}
        decide(s, ids["job_plain"], users["ana"], "confirm", "indicators_confirmed")
        decide(s, ids["job_plain"], users["bo"], "dismiss", "benign_context")
        for name in ("ana", "bo", "sam"):
            decide(s, ids["job_01"], users[name], "dismiss" if name == "sam" else "escalate", "benign_context")
        s.commit()
    _export(sessions, settings, tmp_path / "out")
    exported = {r["ad_id"]: r["labels"] for r in read_rows(tmp_path / "out") if r["ad_type"] == "job" and r["labels"]}
    training = decision_records(db_url)
    assert {int(r.id[3:]): r.label for r in training.records} == {
        a: lab["label"] for a, lab in exported.items() if lab["label"] is not None}
    assert training.ties_dropped == 1 and exported[ids["job_plain"]]["label"] is None
    assert exported[ids["job_01"]] == {"label": 1, "state": "dismissed", "n_reviewers": 3, "n_votes": 3,
                                       "agreement": round(2 / 3, 4), "reasons": ["benign_context"]}


# ------------------------------------------------------------------ output folder (finding 17) --
def test_folder_with_other_files_needs_force(sessions, settings, tmp_path) -> None:
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.tex").write_text("draft", encoding="utf-8")
    (out / "data").mkdir()
    with pytest.raises(ExportError, match=r"--out .*home holds other files \(data, thesis\.tex\); choose a new or "
                                          r"empty folder, or pass --force"):
        _export(sessions, settings, out)
    assert sorted(p.name for p in out.iterdir()) == ["data", "thesis.tex"]
    result = _export(sessions, settings, out, force=True)
    assert result.created_dir is False
    assert sorted(p.name for p in out.iterdir()) == ["DATASHEET.md", "ads.jsonl", "data", "datasheet.json", "thesis.tex"]
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "draft"
    # an empty folder, and a folder holding only an earlier export (with --force), need nothing more
    (tmp_path / "empty").mkdir()
    assert _export(sessions, settings, tmp_path / "empty").created_dir is False
    assert _export(sessions, settings, tmp_path / "empty", fmt="csv", force=True).rows == 32


def test_datasheet_wording(sessions, settings, tmp_path) -> None:
    result = _export(sessions, settings, tmp_path / "out", deid="pseudonymize")
    sheet = result.datasheet
    assert "the first 8 hex digits are written as 8 letters (each hex digit one of 16 consonants" in \
        sheet["deidentification"]["method"]
    assert sheet["parameters"]["pseudonym_letters"] == 8
    assert sheet["fields"]["posted_at"].startswith("posting date (ISO 8601 date, YYYY-MM-DD)")
    assert sheet["splits"]["time_basis"] is None  # only for --split time
    assert "as the site gave it" not in json.dumps(sheet)
