"""Loaders for DIFrauD-style JSONL and EMSCAD CSV, exclusion, grouping and hashing."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from scoring.datasets import (
    EMSCAD_COLUMNS,
    DatasetError,
    LabelledAd,
    assign_groups,
    file_sha256,
    load_labelled,
    read_exclude_ids,
)

DATA = Path(__file__).resolve().parents[2] / "data"

BOILERPLATE = (
    "Acme Logistics has moved freight across the Midwest since 1987. Our drivers, planners and "
    "warehouse teams share one goal: on-time delivery with no surprises. We offer paid training, "
    "health cover from day one and a culture that promotes from within. "
)


def _write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _emscad_row(job_id: str, fraudulent: str = "0", **values: str) -> dict[str, str]:
    row = {c: "" for c in EMSCAD_COLUMNS}
    row.update(
        job_id=job_id, title="Warehouse Associate", description="Pick and pack orders.",
        requirements="Lift 20 kg.", benefits="Paid leave.", telecommuting="0", has_company_logo="1",
        has_questions="0", employment_type="Full-time", fraudulent=fraudulent,
    )
    row.update(values)
    return row


def _write_emscad(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(EMSCAD_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_jsonl_rows_ids_and_labels(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "jobs.jsonl", [
        {"text": "Earn $500 a day from home, no experience.", "label": 1},
        {"text": "Registered nurse for night shifts.", "label": 0},
        "",
        {"text": "Forklift driver.", "label": "0", "id": "x7"},
    ])
    ads = load_labelled([path])
    assert [a.id for a in ads] == ["jobs.jsonl:1", "jobs.jsonl:2", "jobs.jsonl:x7"]
    assert [a.label for a in ads] == [1, 0, 0]
    assert ads[0].text == "Earn $500 a day from home, no experience."
    assert all(a.source == "jobs.jsonl" and a.metadata == {} for a in ads)


def test_jsonl_malformed_row_names_file_and_line(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "bad.jsonl", [
        {"text": "Nurse.", "label": 0},
        {"text": "Driver.", "label": 0},
        '{"text": "Cook.", "label": ',
    ])
    with pytest.raises(DatasetError, match=r"bad\.jsonl:3: invalid JSON"):
        load_labelled([path])


def test_jsonl_bad_label_strict_and_lenient(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "lab.jsonl", [
        {"text": "Nurse.", "label": 0},
        {"text": "Driver.", "label": 2},
        {"text": "Scam.", "label": 1},
    ])
    with pytest.raises(DatasetError, match=r"lab\.jsonl:2: 'label' must be 0 or 1, got 2"):
        load_labelled([path])
    with pytest.warns(UserWarning, match=r"lab\.jsonl:2"):
        ads = load_labelled([path], strict=False)
    assert [a.id for a in ads] == ["lab.jsonl:1", "lab.jsonl:3"]


def test_jsonl_empty_text_is_an_error(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "e.jsonl", [{"text": "  ", "label": 0}])
    with pytest.raises(DatasetError, match=r"e\.jsonl:1: missing or empty 'text'"):
        load_labelled([path])


def test_emscad_csv_text_metadata_and_exclude(tmp_path: Path) -> None:
    path = _write_emscad(tmp_path / "fake_job_postings.csv", [
        _emscad_row("10", salary_range="30000-40000", company_profile="We build boats in Hull."),
        _emscad_row("11", fraudulent="1", title="Data Entry Clerk", description="Work from home.\nEarn fast.",
                    requirements="", benefits="", has_company_logo="0"),
        _emscad_row("12"),
    ])
    exclude = tmp_path / "drop.csv"
    exclude.write_text("job_id,fraudulent\n12,0\n", encoding="utf-8")
    ads = load_labelled([path], exclude=exclude)
    assert [a.id for a in ads] == ["fake_job_postings.csv:10", "fake_job_postings.csv:11"]
    assert [a.label for a in ads] == [0, 1]
    assert ads[0].text == "Warehouse Associate\nPick and pack orders.\nLift 20 kg.\nPaid leave."
    assert ads[1].text == "Data Entry Clerk\nWork from home.\nEarn fast."
    meta = ads[0].metadata
    assert meta["job_id"] == "10"
    assert meta["has_company_logo"] is True and meta["has_questions"] is False and meta["telecommuting"] is False
    assert meta["salary_present"] is True and meta["company_profile_present"] is True
    assert meta["employment_type"] == "Full-time" and meta["required_education"] == ""
    assert ads[1].metadata["salary_present"] is False and ads[1].metadata["has_company_logo"] is False


def test_emscad_malformed_row_names_its_first_line(tmp_path: Path) -> None:
    path = _write_emscad(tmp_path / "fj.csv", [
        _emscad_row("1", description="Line one\nline two\nline three"),  # file lines 2-4
    ])
    with path.open("a", encoding="utf-8") as fh:
        fh.write("2,Only,three\n")  # file line 5
    with pytest.raises(DatasetError, match=r"fj\.csv:5: expected 18 fields, got 3"):
        load_labelled([path])


def test_emscad_bad_flag_and_missing_columns(tmp_path: Path) -> None:
    path = _write_emscad(tmp_path / "fj.csv", [_emscad_row("1"), _emscad_row("2", fraudulent="maybe")])
    with pytest.raises(DatasetError, match=r"fj\.csv:3: 'fraudulent' must be 0 or 1, got 'maybe'"):
        load_labelled([path])
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"other\.csv:1: not an EMSCAD"):
        load_labelled([other])


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope\.jsonl: no such file"):
        load_labelled([tmp_path / "nope.jsonl"])
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"notes\.txt: unknown format"):
        load_labelled([odd])


def test_format_detected_from_content(tmp_path: Path) -> None:
    path = tmp_path / "jobs.data"
    path.write_text(json.dumps({"text": "Nurse.", "label": 0}) + "\n", encoding="utf-8")
    assert [a.label for a in load_labelled([path])] == [0]


def test_read_exclude_ids_plain_list(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("17\n\n42\n", encoding="utf-8")
    assert read_exclude_ids(path) == {"17", "42"}


def test_identical_boilerplate_shares_a_group() -> None:
    ads = [
        LabelledAd("a", BOILERPLATE + "Hiring a night-shift forklift driver in Toledo.", 0),
        LabelledAd("b", "Registered nurse wanted for a rural clinic; weekend rota and mileage paid.", 0),
        LabelledAd("c", BOILERPLATE + "Hiring a route planner for our Dayton depot.", 0),
        LabelledAd("d", "Pastry chef, early starts, sourdough experience a plus, Bristol bakery.", 1),
    ]
    assign_groups(ads)
    assert ads[0].group == ads[2].group == "a"
    assert ads[1].group == "b" and ads[3].group == "d"


def test_company_profile_and_near_duplicates_share_a_group() -> None:
    profile = "Northwind Traders imports fine foods from around the world and ships them overnight."
    body = ("The Customer Service Associate will be based in {city}. The right candidate will answer "
            "calls, log orders, chase late deliveries, keep records tidy and help the team hit its targets "
            "each week while learning our systems.")
    ads = [
        LabelledAd("p1", "Buyer.", 0, metadata={"company_profile": profile, "description": "Buy cheese."}),
        LabelledAd("p2", "Driver.", 0, metadata={"company_profile": profile, "description": "Drive vans."}),
        LabelledAd("n1", body.format(city="Boston, MA"), 0),
        LabelledAd("n2", body.format(city="Fort Wayne, IN"), 0),
    ]
    assign_groups(ads)
    assert [a.group for a in ads] == ["p1", "p1", "n1", "n1"]


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"adwatch")
    assert file_sha256(path) == hashlib.sha256(b"adwatch").hexdigest()


def test_shipped_data_counts() -> None:
    ads = load_labelled(
        [DATA / "difraud-job-scams/job_scams_validation.jsonl", DATA / "emscad-fj-small/fj_small.csv"],
        exclude=DATA / "emscad-fj-small/fj_small_overlap_with_difraud.csv",
    )
    assert len(ads) == 1429 + 358 - 65
    assert sum(a.label for a in ads) == 60 + 11
    assert len({a.id for a in ads}) == len(ads)
    by_group: dict[str, set[int]] = {}
    for ad in ads:
        by_group.setdefault(ad.group, set()).add(ad.label)
    assert len(by_group) < len(ads)  # copies were grouped
