"""The main job end to end, as a user runs it: real subprocesses, real HTTP, real SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADWATCH = [sys.executable, "-m", "cli.main"]


def run(args: list[str], tmp_path: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ADWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'adwatch.db'}", "COLUMNS": "200"}
    return subprocess.run([*ADWATCH, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """Run `adwatch demo` twice on one database; return both results and the database path."""
    tmp = tmp_path_factory.mktemp("demo")
    first = run(["demo"], tmp)
    second = run(["demo"], tmp)
    return first, second, tmp / "adwatch.db", tmp


def test_demo_exits_zero_and_stores_each_ad_once(demo_db):
    first, second, db, _ = demo_db
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    con = sqlite3.connect(db)
    n_jobs = con.execute("select count(*) from ad where site='demo-jobs'").fetchone()[0]
    n_ads = con.execute("select count(*) from ad where site='demo-classifieds'").fetchone()[0]
    distinct = con.execute("select count(distinct canonical_url) from ad").fetchone()[0]
    runs = con.execute("select site, status, json_extract(stats, '$.\"adwatch/stored/inserted\"'), "
                       "json_extract(stats, '$.\"adwatch/stored/unchanged\"'), "
                       "json_extract(stats, '$.\"adwatch/pages/detail\"'), "
                       "json_extract(stats, '$.\"robotstxt/forbidden\"') from crawl_run order by id").fetchall()
    # demo board: 358 job detail pages of which 10 are expired; 50 classified ads
    assert n_jobs == 348
    assert n_ads == 50
    assert distinct == n_jobs + n_ads
    assert len(runs) == 4 and {r[1] for r in runs} == {"finished"}
    by_site = {}
    for site, _status, inserted, unchanged, detail, forbidden in runs:
        by_site.setdefault(site, []).append((inserted or 0, unchanged or 0, detail, forbidden))
    (ins1, unch1, detail1, forb1), (ins2, unch2, _, _) = by_site["demo-jobs"]
    assert (ins1, unch1, ins2, unch2) == (348, 0, 0, 348)
    assert detail1 >= 300
    assert forb1 == 1  # the robots-disallowed /private/ link was not fetched
    assert by_site["demo-classifieds"][1][:2] == (0, 50)


def test_demo_prints_stats_and_a_flagged_top_10_with_indicators(demo_db):
    first, _, db, _ = demo_db
    out = first.stdout
    assert "Crawl runs" in out and "demo-jobs" in out and "demo-classifieds" in out
    assert "Top 10 flagged ads" in out
    con = sqlite3.connect(db)
    top = con.execute(
        "select a.id, s.risk, s.band, s.categories, s.explanation from ad a join score s on s.ad_id = a.id "
        "where s.band in ('medium','high') order by s.risk desc, a.id desc limit 10").fetchall()
    assert len(top) == 10
    for ad_id, risk, band, categories, explanation in top:
        assert band in ("medium", "high") and 0 <= risk <= 1
        assert str(ad_id) in out.split("Top 10 flagged ads", 1)[1]
        # every flagged ad is explained: indicator categories, model features, or both
        assert json.loads(categories) or json.loads(explanation)["top_features"]
    flagged_hits = con.execute(
        "select h.category, count(*) from indicator_hit h join score s on s.id = h.score_id "
        "where s.band in ('medium','high') group by h.category").fetchall()
    categories = dict(flagged_hits)
    assert sum(categories.values()) >= 50
    assert {"new_in_town", "restricted_movement", "low_price"} <= set(categories)
    # hit offsets point into the stored text
    for text, start, end, hit_text in con.execute(
            "select a.text, h.start, h.\"end\", h.text from indicator_hit h join score s on s.id=h.score_id "
            "join ad a on a.id=s.ad_id limit 200"):
        assert text[start:end] == hit_text


def test_queue_json_lists_flagged_ads_without_contacts(demo_db):
    _, _, _, tmp = demo_db
    res = run(["queue", "--top", "5", "--format", "json"], tmp)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert len(rows) == 5
    assert set(rows[0]) >= {"ad_id", "url", "site", "ad_type", "title", "risk", "band", "categories", "status"}
    # sorted like the review app's queue: by priority (risk raised by the contact network), never below risk
    assert [r["priority"] for r in rows] == sorted((r["priority"] for r in rows), reverse=True)
    assert all(r["priority"] >= r["risk"] for r in rows)
    assert all(r["band"] in ("medium", "high") for r in rows)
    assert "555" not in res.stdout
    every = json.loads(run(["queue", "--top", "1000", "--min-risk", "0", "--format", "json"], tmp).stdout)
    assert len(every) == 398
    con = sqlite3.connect(tmp / "adwatch.db")
    boosted = dict(con.execute("select l.ad_id, n.boost from ad_link l join contact_network n on n.id = l.network_id "
                               "where n.boost > 0").fetchall())
    assert boosted  # the demo classifieds share contacts
    for r in every:
        expected = 1 - (1 - r["risk"]) * (1 - boosted.get(r["ad_id"], 0.0))
        assert abs(r["priority"] - expected) < 1.5e-4, r["ad_id"]  # both rounded to 4 places in the JSON
    table = run(["queue", "--top", "3"], tmp).stdout
    assert "priority" in table and "sorted by priority, as in the review app" in table


def test_demo_summarises_networks_and_clusters(demo_db):
    first, _, db, tmp = demo_db
    con = sqlite3.connect(db)
    networks, moving = con.execute("select count(*), sum(movement) from contact_network where size >= 2").fetchone()
    clusters = con.execute("select count(*) from template_cluster where size >= 2").fetchone()[0]
    assert networks >= 1 and moving >= 1 and clusters >= 1
    out = " ".join(first.stdout.split())
    assert (f"Linked: {networks} contact network{'' if networks == 1 else 's'} ({moving} with movement: one contact in "
            f"several cities) and {clusters} template cluster{'' if clusters == 1 else 's'}. To look at them: adwatch "
            "users add NAME, then adwatch serve --dev") in out
    again = run(["link"], tmp)
    assert again.returncode == 0
    assert " ".join(again.stdout.split()).startswith("nothing new to link: every stored ad was already linked. "
                                                     f"The database holds {networks} contact network")


def test_score_streams_1000_ads_and_reports_bad_rows(tmp_path):
    src = ROOT / "data" / "difraud-job-scams" / "job_scams_validation.jsonl"
    inp = tmp_path / "in.jsonl"
    with open(src, encoding="utf-8") as f, open(inp, "w", encoding="utf-8") as out:
        for i, line in enumerate(f):
            if i == 1000:
                break
            out.write(json.dumps({"id": f"d{i}", "text": json.loads(line)["text"], "ad_type": "job"}) + "\n")
            if i == 500:
                out.write('{"id": "broken", "text": \n')
    res = run(["score", "--input", str(inp), "--output", str(tmp_path / "out.jsonl")], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1000
    assert f"{inp}:502: bad JSON" in res.stderr
    first = json.loads(lines[0])
    assert first["id"] == "d0"
    assert set(first) >= {"id", "ad_type", "risk", "band", "model_version", "indicators", "entities"}
    assert first["model_version"].startswith("job-risk-")
    texts = {f"d{i}": json.loads(l)["text"] for i, l in enumerate(src.read_text(encoding="utf-8").splitlines()[:1000])}
    for line in lines:
        obj = json.loads(line)
        assert 0.0 <= obj["risk"] <= 1.0
        for h in obj["indicators"] + obj["entities"]:
            assert texts[obj["id"]][h["start"]:h["end"]] == h["text"]


def test_score_strict_stops_at_first_bad_row_and_keeps_written_rows(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "1", "text": "Send a copy of your passport and pay the $300 placement fee."}\n'
                   '{"id": "2"}\n{"id": "3", "text": "Cook wanted"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = run(["score", "--input", str(inp), "--output", str(out), "--strict"], tmp_path)
    assert res.returncode == 2
    assert f"{inp}:2: row has no 'text'" in res.stderr
    assert "Traceback" not in res.stderr
    rows = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["1"]
    assert {"recruitment_fee", "document_request"} <= {h["category"] for h in rows[0]["indicators"]}
    assert rows[0]["band"] == "high"


def test_missing_input_file_is_a_readable_error(tmp_path):
    res = run(["score", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o.jsonl")], tmp_path)
    assert res.returncode == 2
    assert "input file not found" in res.stderr and "Traceback" not in res.stderr
