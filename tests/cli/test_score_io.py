"""Streaming input for ``adwatch score``: JSONL and EMSCAD CSV, malformed rows named by line."""

from __future__ import annotations

import csv
from pathlib import Path

from scoring.io import InputReader, RowError, emscad_text
from scoring.types import Ad

DATA = Path(__file__).resolve().parents[2] / "data"


def test_jsonl_rows_and_errors_with_line_numbers(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(
        '{"id": "a", "text": "Cook wanted", "ad_type": "job"}\n'
        '{"id": "b", "text": \n'
        "\n"
        '{"id": "c"}\n'
        '["not", "an", "object"]\n'
        '{"id": "d", "text": "x", "ad_type": "car"}\n'
        '{"id": 5, "text": "Nanny, live-in", "lang": "en", "source": "x"}\n',
        encoding="utf-8",
    )
    rows = list(InputReader(f))
    assert [type(r).__name__ for r in rows] == ["Ad", "RowError", "RowError", "RowError", "RowError", "Ad"]
    assert [r.line for r in rows if isinstance(r, RowError)] == [2, 4, 5, 6]
    assert "bad JSON" in rows[1].message and str(rows[1]).startswith(f"{f}:2:")
    assert "no 'text'" in rows[2].message
    last = rows[-1]
    assert isinstance(last, Ad)
    assert (last.id, last.text, last.lang, last.ad_type, last.metadata) == ("5", "Nanny, live-in", "en", None, {"source": "x"})


def test_emscad_csv_reads_every_row_of_the_shipped_sample():
    path = DATA / "emscad-fj-small" / "fj_small.csv"
    rows = list(InputReader(path))
    assert len(rows) == 358
    assert all(isinstance(r, Ad) and r.ad_type == "job" for r in rows)
    first = rows[0]
    assert first.id == "4709"
    assert first.text.startswith("Python Engineer\n\nStylect is a dynamic startup")
    assert "company_profile" in first.metadata
    assert first.metadata["has_company_logo"] == "1"


def test_csv_bad_quoting_and_missing_text_are_reported_and_skipped(tmp_path):
    f = tmp_path / "bad.csv"
    with open(f, "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        w.writerow(["id", "text"])
        w.writerow(["1", "first ad"])
        out.write('2,"broken "quote" here\n')
        w.writerow(["3", ""])
        w.writerow(["4", "last ad"])
    rows = list(InputReader(f))
    good = [r.id for r in rows if isinstance(r, Ad)]
    bad = [(r.line, r.message.split(":")[0]) for r in rows if isinstance(r, RowError)]
    assert good == ["1", "4"]
    assert bad == [(3, "bad CSV quoting"), (4, "row has no 'text'")]


def test_emscad_text_joins_non_empty_fields():
    assert emscad_text({"title": " Cook ", "description": "Evenings.", "benefits": "", "company_profile": None}) == "Cook\n\nEvenings."
