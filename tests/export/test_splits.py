"""Leak-free splits: no template cluster or contact network straddles two splits (issue #8, item 5)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from export import ExportOptions, run_export
from export.errors import ExportError
from export.splits import (
    SPLITS,
    ad_groupings,
    assign_splits,
    components,
    linking_available,
)
from tests.export.helpers import read_rows


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
    with pytest.raises(ExportError, match="first-seen time"):
        assign_splits([1, 2], [], "time", times={1: 1})
    assert assign_splits([1, 2, 3], [{1: 0, 2: 0, 3: 0}], "random", (0.0, 0.0, 1.0)) == {1: "test", 2: "test", 3: "test"}


# ------------------------------------------------------------------ exported splits -------------
@pytest.mark.parametrize("method", ["cluster", "time", "random"])
def test_no_cluster_or_network_straddles_exported_splits(sessions, settings, tmp_path, method) -> None:
    out = tmp_path / method
    with sessions() as s:
        run_export(s, ExportOptions(out_dir=out, operator="adam", split=method), settings=settings)
        s.commit()
    rows = read_rows(out)
    splits = {r["ad_id"]: r["split"] for r in rows}
    # whole groups are coarse in a 32-ad fixture: the time cut may leave validation empty
    assert set(splits.values()) == set(SPLITS) if method != "time" else {"train", "test"} <= set(splits.values())
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
