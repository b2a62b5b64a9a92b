"""Leak-free splits: no template cluster or contact network straddles two splits (issue #8, item 5)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from export import ExportOptions, run_export
from export.errors import ExportError
from export.splits import (
    SPLITS,
    ad_groupings,
    assign_splits,
    components,
    linking_available,
    split_times,
    split_warnings,
)
from storage.models import Ad
from tests.export.helpers import add_ads, read_rows
from tests.export.test_deid import seeded_ids


def _straddling(splits: dict[int, str], grouping: dict[int, object]) -> list[object]:
    seen: dict[object, set[str]] = {}
    for ad, group in grouping.items():
        if ad in splits:
            seen.setdefault(group, set()).add(splits[ad])
    return [g for g, s in seen.items() if len(s) > 1]


# ------------------------------------------------------------------ pure function ---------------
def test_components_join_through_any_grouping() -> None:
    clusters = {1: "c1", 2: "c1", 5: "c2", 6: "c2"}
    networks = {2: 10, 3: 10, 6: 11, 7: 11, 99: 10}  # 99 is not being split: ignored
    assert components(range(1, 9), [clusters, networks]) == [[1, 2, 3], [4], [5, 6, 7], [8]]


def _synthetic(n: int = 400) -> tuple[list[int], list[dict[int, int]], dict[int, datetime], dict[int, int]]:
    ids = list(range(1, n + 1))
    clusters = {a: a // 7 for a in ids if a % 3}  # runs of near-duplicates
    networks = {a: (a * 13) % 41 for a in ids if a % 5 == 0}  # contacts shared far apart in id order
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    times = {a: t0 + timedelta(hours=a) for a in ids}
    labels = {a: int(a % 4 == 0) for a in ids if a % 2 == 0}
    return ids, [clusters, networks], times, labels


@pytest.mark.parametrize("method", ["cluster", "random", "time"])
def test_assign_splits_keeps_groups_whole(method: str) -> None:
    ids, groupings, times, labels = _synthetic()
    splits = assign_splits(ids, groupings, method, (0.8, 0.1, 0.1), seed=3, times=times, labels=labels)
    assert set(splits) == set(ids)
    for g in groupings:
        assert _straddling(splits, g) == []
    counts = Counter(splits.values())
    assert set(counts) == set(SPLITS)
    assert abs(counts["train"] / len(ids) - 0.8) < 0.1  # shares of ads, approximate for whole groups
    assert splits == assign_splits(ids, groupings, method, (0.8, 0.1, 0.1), seed=3, times=times, labels=labels)


def test_time_split_puts_older_groups_first() -> None:
    ids, groupings, times, _ = _synthetic()
    splits = assign_splits(ids, groupings, "time", times=times)
    first = {s: min(times[a] for a in ids if splits[a] == s) for s in SPLITS}
    comps = components(ids, groupings)
    # a component is placed by its earliest ad: every test component starts after every train one
    starts = {s: [min(times[a] for a in c) for c in comps if splits[c[0]] == s] for s in SPLITS}
    assert max(starts["train"]) < min(starts["validation"]) <= max(starts["validation"]) < min(starts["test"])
    assert first["train"] == times[1]


def test_cluster_split_stratifies_labels() -> None:
    ids = list(range(1, 201))
    labels = {a: int(a <= 40) for a in ids}  # 20 % positive, all in the first ids
    splits = assign_splits(ids, [{a: a // 2 for a in ids}], "cluster", labels=labels)
    pos = Counter(splits[a] for a in ids if labels[a])
    assert pos == {"train": 32, "validation": 4, "test": 4}
    plain = assign_splits(ids, [{a: a // 2 for a in ids}], "random", seed=1)
    assert set(Counter(plain.values())) == set(SPLITS)


def test_bad_split_arguments() -> None:
    with pytest.raises(ExportError, match="unknown split method 'rows'"):
        assign_splits([1], [], "rows")
    with pytest.raises(ExportError, match="summing to 1"):
        assign_splits([1], [], "random", (0.5, 0.2, 0.2))
    with pytest.raises(ExportError, match=r"a time \(posting date or first seen\) for every ad"):
        assign_splits([1, 2], [], "time", times={1: 1})
    assert assign_splits([1, 2, 3], [{1: 0, 2: 0, 3: 0}], "random", (0.0, 0.0, 1.0)) == {1: "test", 2: "test", 3: "test"}


# ------------------------------------------------------------------ exported splits -------------
@pytest.mark.parametrize("method", ["cluster", "time", "random"])
def test_no_cluster_or_network_straddles_exported_splits(sessions, settings, tmp_path, method) -> None:
    out = tmp_path / method
    with sessions() as s:
        result = run_export(s, ExportOptions(out_dir=out, operator="adam", split=method), settings=settings)
        s.commit()
    rows = read_rows(out)
    splits = {r["ad_id"]: r["split"] for r in rows}
    # whole groups are coarse in a 32-ad fixture: the time cut leaves validation empty, and the
    # random hash of a handful of groups can leave any split empty; an empty split is warned about
    assert {"train", "test"} <= set(splits.values()) if method != "random" else len(set(splits.values())) >= 2
    for name in set(SPLITS) - set(splits.values()):
        assert f"split {name} has no ads (groups are placed whole; the data may hold too few groups)" in result.warnings
    with sessions() as s:
        groupings = ad_groupings(s, list(splits))
        direct = {}
        if linking_available():  # the linking package's own answers, as the issue defines the groups
            from linking.networks import network_ids
            from linking.templates import cluster_ids

            direct = {"network_ids": network_ids(s, list(splits)), "cluster_ids": cluster_ids(s, list(splits))}
    for name, grouping in {**groupings, **direct}.items():
        assert _straddling(splits, grouping) == [], name
    # the fixture has real groups to keep whole: shared phones, and (with linking) template clusters
    sizes = Counter(groupings["contact_entity"].values())
    assert max(sizes.values()) >= 3
    if linking_available():
        assert len(set(direct["cluster_ids"].values())) >= 2
        assert any(n >= 3 for n in Counter(direct["cluster_ids"].values()).values())
        assert any(n >= 2 for n in Counter(direct["network_ids"].values()).values())


# ------------------------------------------------------------------ stability (trial finding 7) --
def test_random_split_of_an_ad_does_not_depend_on_the_other_ads() -> None:
    ids, groupings, _, labels = _synthetic()
    full = assign_splits(ids, groupings, "random", seed=5)
    subset = [a for a in ids if a in labels]  # as --labelled-only would export
    part = assign_splits(subset, groupings, "random", seed=5, context_ids=ids)
    assert part == {a: full[a] for a in subset}
    assert assign_splits(subset, groupings, "random", seed=6, context_ids=ids) != part  # the seed matters


def test_left_out_ads_still_join_groups() -> None:
    # 1 and 3 are joined only through 2 (a phone shared with 1, a template shared with 3)
    groupings = [{1: "p", 2: "p"}, {2: "t", 3: "t"}]
    for method in ("cluster", "random", "time"):
        for seed in range(20):
            s = assign_splits([1, 3], groupings, method, (0.5, 0.0, 0.5), seed, context_ids=[1, 2, 3],
                              times={1: 1, 3: 2})
            assert set(s) == {1, 3} and s[1] == s[3], (method, seed)


def test_exported_random_splits_agree_with_labelled_only(sessions, settings, tmp_path) -> None:
    with sessions() as s:
        run_export(s, ExportOptions(out_dir=tmp_path / "all", operator="adam", split="random", seed=4), settings=settings)
        run_export(s, ExportOptions(out_dir=tmp_path / "lab", operator="adam", split="random", seed=4,
                                    labelled_only=True), settings=settings)
        s.commit()
    full = {r["ad_id"]: r["split"] for r in read_rows(tmp_path / "all")}
    lab = {r["ad_id"]: r["split"] for r in read_rows(tmp_path / "lab")}
    assert len(lab) == 8 and lab == {a: full[a] for a in lab}
    sheet = json.loads((tmp_path / "lab" / "datasheet.json").read_text(encoding="utf-8"))
    assert sheet["splits"]["stability"].startswith("An ad's split depends only on the seed and on its group")


# ------------------------------------------------------------------ time basis (trial finding 5) --
def test_split_times_prefer_the_posting_date() -> None:
    seen = datetime(2026, 3, 10, 8, 30)  # naive: UTC, as SQLite returns it
    times, basis = split_times({1: "2025-12-24", 2: None, 3: "3 days ago"}, {1: seen, 2: seen, 3: seen})
    assert times == {1: datetime(2025, 12, 24, tzinfo=UTC), 2: seen.replace(tzinfo=UTC),
                     3: seen.replace(tzinfo=UTC)}
    assert basis == {"posted_at": 1, "first_seen": 2}


def test_time_split_orders_by_posting_date(sessions, settings, tmp_path, monkeypatch) -> None:
    ids = seeded_ids(sessions)
    with sessions() as s:  # posted long after everything else, though first seen on day 18
        s.execute(update(Ad).where(Ad.id == ids["job_plain"]).values(posted_date="2027-01-05"))
        s.commit()
        result = run_export(s, ExportOptions(out_dir=tmp_path / "t", operator="adam", split="time"), settings=settings)
        s.commit()
    assert {r["ad_id"]: r["split"] for r in read_rows(tmp_path / "t")}[ids["job_plain"]] == "test"
    assert result.datasheet["splits"]["time_basis"] == {"posted_at": 32}
    assert not any("span only" in w for w in result.warnings)


def test_time_split_after_one_crawl_is_warned_about(sessions, settings, tmp_path) -> None:
    with sessions() as s:  # no posting dates, every ad first seen within one hour
        s.execute(update(Ad).values(posted_date=None, first_seen=datetime(2026, 4, 1, 9, 0)))
        s.commit()
        result = run_export(s, ExportOptions(out_dir=tmp_path / "t", operator="adam", split="time"), settings=settings)
        s.commit()
    assert result.datasheet["splits"]["time_basis"] == {"first_seen": 32}
    warning = ("the time split orders ads whose times span only 0.0 hours (under 7 days): train and test then "
               "hold ads of the same period, not older and newer ones")
    assert warning in result.warnings and result.warnings == result.datasheet["warnings"]
    md = (tmp_path / "t" / "DATASHEET.md").read_text(encoding="utf-8")
    assert md.index("## Warnings\n\n- ") < md.index(f"- {warning}\n") < md.index("## Motivation")
    assert "Ads ordered by posting date: 0; by first seen (no posting date): 32." in md


# ------------------------------------------------------------------ class warnings (finding 6) ---
def test_split_warnings_name_missing_classes() -> None:
    splits = {1: "train", 2: "train", 3: "validation", 4: "test", 5: "test"}
    labels = {1: 1, 2: 0, 3: 1, 4: None}
    assert split_warnings(splits, labels, (0.8, 0.1, 0.1)) == [
        ("split validation has no negative label (0) among its 1 labelled ads: precision and false-positive "
         "rates are meaningless there"),
        "split test has no labelled ads (2 ads): it cannot evaluate a model",
    ]
    assert split_warnings({1: "train", 2: "test"}, {1: 0, 2: 0}, (0.8, 0.1, 0.1)) == [
        "split train has no positive label (1) among its 1 labelled ads: recall and PR-AUC are undefined there",
        "split validation has no ads (groups are placed whole; the data may hold too few groups)",
        "split test has no positive label (1) among its 1 labelled ads: recall and PR-AUC are undefined there",
    ]
    assert split_warnings({1: "train", 2: "test"}, {1: 1, 2: 0}, (0.5, 0.0, 0.5)) == [
        ("split train has no negative label (0) among its 1 labelled ads: precision and false-positive rates "
         "are meaningless there"),
        "split test has no positive label (1) among its 1 labelled ads: recall and PR-AUC are undefined there",
    ]
    assert split_warnings({1: "train", 2: "test"}, {}, (0.5, 0.0, 0.5)) == ["no exported ad has a 0/1 label"]
    assert split_warnings({1: "train", 2: "train", 3: "test", 4: "test"}, {1: 1, 2: 0, 3: 1, 4: 0}, (0.5, 0, 0.5)) == []


def test_export_warns_about_a_split_without_negatives(sessions, settings, tmp_path) -> None:
    with sessions() as s:
        result = run_export(s, ExportOptions(out_dir=tmp_path / "c", operator="adam"), settings=settings)
        s.commit()
    rows = read_rows(tmp_path / "c")
    for name in SPLITS:
        labels = Counter(r["labels"]["label"] for r in rows if r["split"] == name and r["labels"])
        if labels[1] and not labels[0]:
            assert any(w.startswith(f"split {name} has no negative label (0)") for w in result.warnings)
    assert result.warnings == result.datasheet["warnings"] and result.warnings  # the 32-ad fixture is too small


# ------------------------------------------------------------------ dataset tokens (finding 4) ---
def test_ads_sharing_a_dataset_token_are_one_group(sessions, settings, tmp_path) -> None:
    h1, h2 = "86fd830a95a64e2b30ceed829e63fd384c289e4c01e3c93608b42a84f6e662dd", "ab" * 32
    new = add_ads(sessions, {
        "emscad_a": {"type": "job", "site": "emscad", "day": 30,
                     "text": f"Data entry clerk\n\nWork from home, weekly pay. Apply at #URL_{h1}# or #EMAIL_{h2}#."},
        "emscad_b": {"type": "job", "site": "emscad", "day": 31,
                     "text": f"Customer care agent\n\nNight shifts in a call centre, training given. See #URL_{h1}#"},
        "emscad_c": {"type": "job", "site": "emscad", "day": 32, "text": "Welder\n\nUnion shop, overtime available."},
    })
    a, b, c = new["emscad_a"], new["emscad_b"], new["emscad_c"]
    with sessions() as s:
        groupings = ad_groupings(s, [a, b, c])
    assert groupings["dataset_token"] == {a: a, b: a}
    others = [g for name, g in groupings.items() if name != "dataset_token"]
    assert components([a, b, c], others) == [[a], [b], [c]]  # only the token joins them
    for seed in range(6):
        with sessions() as s:
            run_export(s, ExportOptions(out_dir=tmp_path / str(seed), operator="adam", split="random", seed=seed,
                                        deid="pseudonymize"), settings=settings)
            s.commit()
        rows = {r["ad_id"]: r for r in read_rows(tmp_path / str(seed))}
        assert rows[a]["split"] == rows[b]["split"]
    text_a, text_b = rows[a]["text"], rows[b]["text"]
    assert "#URL_" not in text_a + text_b and h1[:8] not in text_a + text_b and h2[:8] not in text_a
    url_a = re.search(r"\[URL_[a-z]{8}\]", text_a)
    assert url_a and url_a.group(0) in text_b and re.search(r"\[EMAIL_[a-z]{8}\]", text_a)
    sheet = json.loads((tmp_path / "5" / "datasheet.json").read_text(encoding="utf-8"))
    assert sheet["splits"]["groupings_kept_whole"]["dataset_token"] == 1
    assert "#EMAIL_<hex>#" in sheet["deidentification"]["method"] and "#URL_<hex>#" in sheet["splits"]["description"]
