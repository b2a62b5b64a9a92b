"""Evaluation functions and commands on small files with hand-computed figures."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from cli.detection import evaluate_extraction as extraction_command
from cli.detection import evaluate_indicators as indicators_command
from scoring.evaluate_rules import (
    PRF,
    EvaluationInputError,
    evaluate_extraction,
    evaluate_indicators,
    phone_digit_forms,
)

from .conftest import DATA


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


FIXTURES = [
    {"id": "a", "input": "call 212 555 0147", "expected_phone_numbers": ["2125550147"]},  # hit
    {"id": "b", "input": "1*415*555*0132", "expected_phone_numbers": ["14155550132"]},  # hit (with 1)
    {"id": "c", "input": "no phone here", "expected_phone_numbers": []},  # hit (nothing expected)
    {"id": "d", "input": "call 212 555 0147", "expected_phone_numbers": ["2125550148"]},  # miss
]

GOLD = [
    # fee found, travel missed -> recruitment_fee tp 1; travel_provided fn 1
    {"id": "1", "lang": "en", "ad_type": "job", "text": "A placement fee of $300 is required.",
     "categories": ["recruitment_fee", "travel_provided"]},
    # benign, nothing found
    {"id": "2", "lang": "en", "ad_type": "job", "text": "Apply online with your resume.", "categories": []},
    # Spanish: fee found -> tp; nothing spurious
    {"id": "3", "lang": "es", "ad_type": "job", "text": "Debe pagar una cuota de inscripción antes de viajar.",
     "categories": ["recruitment_fee"]},
    # labelled nothing but urgency fires -> urgency fp 1
    {"id": "4", "lang": "pt", "ad_type": "job", "text": "Urgente! Vagas para auxiliar de cozinha.", "categories": []},
]


def test_phone_digit_forms():
    assert phone_digit_forms("+12125550147") == {"2125550147", "12125550147"}
    assert phone_digit_forms("+918839515268") == {"8839515268", "918839515268"}


def test_evaluate_extraction_hand_computed(tmp_path, extractor):
    report = evaluate_extraction(_write(tmp_path / "f.jsonl", FIXTURES), extractor, "US")
    assert (report.total, report.exact) == (4, 3)
    assert report.accuracy == pytest.approx(0.75)
    assert [f["id"] for f in report.failures] == ["d"]


def test_shipped_phone_fixtures_reach_95_percent(extractor):
    report = evaluate_extraction(DATA / "obfuscated_phone_fixtures.jsonl", extractor, "US")
    assert report.total == 62 and report.accuracy >= 0.95


def test_evaluate_indicators_hand_computed(tmp_path, engine):
    report = evaluate_indicators(_write(tmp_path / "g.jsonl", GOLD), engine)
    assert report.ads == 4
    assert (report.micro.tp, report.micro.fp, report.micro.fn) == (2, 1, 1)
    assert report.micro.precision == pytest.approx(2 / 3)
    assert report.micro.recall == pytest.approx(2 / 3)
    assert report.micro.f1 == pytest.approx(2 / 3)
    cats = report.per_category
    assert (cats["recruitment_fee"].tp, cats["recruitment_fee"].fp, cats["recruitment_fee"].fn) == (2, 0, 0)
    assert (cats["travel_provided"].tp, cats["travel_provided"].fn) == (0, 1)
    assert (cats["urgency"].tp, cats["urgency"].fp) == (0, 1)
    assert report.per_language["es"].f1 == 1.0
    assert report.lang_accuracy == 1.0


def test_prf_conventions():
    empty = PRF()
    assert (empty.precision, empty.recall, empty.f1) == (1.0, 1.0, 1.0)
    none_found = PRF(tp=0, fp=0, fn=2)
    assert (none_found.precision, none_found.recall, none_found.f1) == (1.0, 0.0, 0.0)


def test_gold_set_has_three_languages_and_meets_the_target(engine):
    rows = [json.loads(line) for line in (DATA / "indicator_gold.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 80
    assert {r["lang"] for r in rows} == {"en", "es", "pt"}
    assert sum(1 for r in rows if not r["categories"]) >= 20  # benign look-alikes
    report = evaluate_indicators(DATA / "indicator_gold.jsonl", engine)
    assert report.micro.f1 >= 0.85
    assert all(v.f1 >= 0.85 for v in report.per_language.values())


def test_bad_input_is_an_error(tmp_path, extractor):
    with pytest.raises(EvaluationInputError, match="missing"):
        evaluate_extraction(_write(tmp_path / "bad.jsonl", [{"input": "x"}]), extractor)
    bad = tmp_path / "notjson.jsonl"
    bad.write_text("{nope\n", encoding="utf-8")
    with pytest.raises(EvaluationInputError, match="not JSON"):
        evaluate_extraction(bad, extractor)


def _app(command) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    return app


def test_commands_print_json_and_fail_on_bad_input(tmp_path):
    runner = CliRunner()
    res = runner.invoke(_app(extraction_command), ["--fixtures", str(_write(tmp_path / "f.jsonl", FIXTURES)),
                                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert (out["total"], out["exact"], out["accuracy"]) == (4, 3, 0.75)
    res = runner.invoke(_app(indicators_command), ["--gold", str(_write(tmp_path / "g.jsonl", GOLD)),
                                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["micro"]["f1"] == pytest.approx(0.6667, abs=1e-4)
    res = runner.invoke(_app(indicators_command), ["--gold", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 2
    res = runner.invoke(_app(extraction_command), ["--fixtures", str(tmp_path / "f.jsonl"), "--region", "XX"])
    assert res.exit_code == 2
    res = runner.invoke(_app(indicators_command), ["--gold", str(tmp_path / "g.jsonl")])
    assert res.exit_code == 0 and "micro (all)" in res.stdout
