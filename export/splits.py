"""Leak-free dataset splits: every template cluster and every contact network on one side.

Near-duplicate ads (one template posted many times) and ads of one operation (sharing a phone,
e-mail or handle) would let a model memorise a group on the training side and meet it again in the
test set. :func:`assign_splits` joins ads that share *any* group of *any* grouping (union-find: a
cluster that shares one ad with a network pulls the whole network along) and assigns each joined
component to one split as a whole. :func:`ad_groupings` reads the groupings of stored ads. An export
builds the components over every exportable ad, also those it leaves out (``--labelled-only``), so an
unlabelled ad that joins two labelled ones still keeps them together.

Methods:

* ``random``: each component goes to a split by a seeded hash of its smallest ad id (a number in
  [0, 1) compared with the cumulative fractions). An ad's split depends only on the seed and its
  component, not on which other ads are exported: ``--labelled-only`` and a full export agree. It
  changes only when new ads join its component (a later crawl links it to other ads). Shares are
  expected values, not exact.
* ``cluster`` (default): components, largest first, each to the split furthest below its target
  share of exported ads and, when labels are given, of positive labels (stratified by label);
* ``time``: components ordered by their earliest ad's time (:func:`split_times`: the posting date
  when known, else ``first_seen``): the oldest fill ``train``, then ``validation``, the newest go to
  ``test`` (a component is placed by its first ad, so a network active across the cut stays whole on
  the earlier side).

``cluster`` and ``time`` balance shares of the ads being exported, so an ad's split depends on which
ads are exported: two exports (say one with ``--labelled-only``) can put one ad in train in one and
in test in the other. Use one export's splits; do not combine exports, or use ``random``.

Shares are of ads, so a large component can push a split past its target; the datasheet reports the
real counts, and :func:`split_warnings` names a split that is empty or lacks a class.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from export.deid import DATASET_TOKEN_TYPES, dataset_tokens
from export.errors import ExportError
from storage.models import Ad, AdEntity
from storage.repository import CONTACT_ENTITY_TYPES

SPLITS = ("train", "validation", "test")
"""Split names, in order."""

METHODS = ("cluster", "time", "random")
"""Split methods (``--split``)."""

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
"""Default target shares of ads in train, validation and test."""

MIN_TIME_SPAN = timedelta(days=7)
"""A time split over ads whose times span less than this is warned about: the cut then separates ads
of one crawl or one week, not older from newer postings (adwatch's judgement, not a published figure)."""


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Return ``fractions`` as a triple.

    Raises:
        ExportError: not three non-negative numbers summing to 1 (within 1e-6).
    """
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ExportError(f"split fractions must be three non-negative numbers summing to 1 "
                          f"(train, validation, test), got {list(fractions)}")
    return fr  # type: ignore[return-value]


def components(ad_ids: Iterable[int], groupings: Sequence[Mapping[int, Any]]) -> list[list[int]]:
    """Connected components of ads: two ads are joined when some grouping gives them the same group.

    Args:
        ad_ids: the ads to split; ads a grouping mentions but that are not here are ignored.
        groupings: ``{ad id: group id}`` mappings (template clusters, contact networks...); an ad
            absent from a grouping is alone in it. Group ids of different groupings never meet.

    Returns:
        Components as sorted ad-id lists, ordered by their smallest ad id.
    """
    ids = sorted(set(ad_ids))
    parent = {a: a for a in ids}

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    for grouping in groupings:
        first: dict[Any, int] = {}
        for ad, group in grouping.items():
            if ad not in parent or group is None:
                continue
            other = first.setdefault(group, ad)
            if other != ad:
                ra, rb = find(ad), find(other)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    comps: dict[int, list[int]] = {}
    for a in ids:
        comps.setdefault(find(a), []).append(a)
    return [comps[r] for r in sorted(comps)]


def _order_key(seed: int, comp: list[int]) -> str:
    return hashlib.sha256(f"{seed}:{comp[0]}".encode()).hexdigest()


def _unit(seed: int, ad_id: int) -> float:
    """A seeded number in [0, 1) for an ad id (SHA-256, first 52 bits)."""
    return int(hashlib.sha256(f"{seed}:{ad_id}".encode()).hexdigest()[:13], 16) / float(1 << 52)


def assign_splits(
    ad_ids: Iterable[int],
    groupings: Sequence[Mapping[int, Any]],
    method: str = "cluster",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    *,
    times: Mapping[int, Any] | None = None,
    labels: Mapping[int, int | None] | None = None,
    context_ids: Iterable[int] = (),
) -> dict[int, str]:
    """Assign every ad to ``train``, ``validation`` or ``test`` with no group straddling two splits.

    A pure function (no database): the same inputs give the same splits.

    Args:
        ad_ids: the ads to split (the exported ones).
        groupings: ``{ad id: group id}`` mappings; see :func:`components`.
        method: ``cluster``, ``time`` or ``random`` (module docstring).
        fractions: target shares of ads (train, validation, test), summing to 1.
        seed: the ``random`` hash; breaks ties for ``cluster``.
        times: ``{ad id: sortable time}`` (:func:`split_times`); required for ``time``.
        labels: ``{ad id: 1, 0 or None}``; ``cluster`` also balances positive labels across splits.
        context_ids: ads not being split that still join components (an export's left-out ads);
            they get no split, and ``random`` hashes a component's smallest id among all its ads.

    Returns:
        ``{ad id: split name}`` for every ad of ``ad_ids``.

    Raises:
        ExportError: unknown method, bad fractions, or ``time`` without a time for every ad.
    """
    if method not in METHODS:
        raise ExportError(f"unknown split method {method!r} (one of {', '.join(METHODS)})")
    fr = check_fractions(fractions)
    wanted = set(ad_ids)
    # (smallest id of the whole component, exported members)
    comps = [(c[0], [a for a in c if a in wanted]) for c in components(wanted | set(context_ids), groupings)]
    comps = [(key, members) for key, members in comps if members]
    total = sum(len(m) for _, m in comps)
    out: dict[int, str] = {}
    if not comps:
        return out
    last = max(i for i in range(3) if fr[i] > 0)
    if method == "random":
        bounds = (fr[0], fr[0] + fr[1])
        for key, members in comps:
            u = _unit(seed, key)
            i = next((i for i in range(2) if fr[i] > 0 and u < bounds[i]), last)
            out.update((a, SPLITS[i]) for a in members)
        return out
    if method == "time":
        if times is None or any(a not in times or times[a] is None for _, m in comps for a in m):
            raise ExportError("the time split needs a time (posting date or first seen) for every ad")
        ordered = sorted(comps, key=lambda c: (min(times[a] for a in c[1]), c[0]))  # type: ignore[index]
        cumulative = (fr[0] * total, (fr[0] + fr[1]) * total, float(total))
        done = 0
        for _, members in ordered:
            i = next((i for i in range(3) if fr[i] > 0 and done < cumulative[i]), last)
            out.update((a, SPLITS[i]) for a in members)
            done += len(members)
        return out

    positives = {a for a, v in (labels or {}).items() if v == 1}
    n_pos = sum(1 for _, m in comps for a in m if a in positives)
    ordered = sorted(comps, key=lambda c: (-len(c[1]), _order_key(seed, [c[0]])))
    size = [0, 0, 0]
    pos = [0, 0, 0]
    for _, members in ordered:
        cpos = sum(1 for a in members if a in positives)
        best, best_score = 0, None
        for i in range(3):
            if fr[i] == 0:
                continue
            score = (fr[i] * total - size[i]) / (fr[i] * total)
            if cpos and n_pos:
                score += (fr[i] * n_pos - pos[i]) / (fr[i] * n_pos)
            if best_score is None or score > best_score:
                best, best_score = i, score
        size[best] += len(members)
        pos[best] += cpos
        out.update((a, SPLITS[best]) for a in members)
    return out


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def split_times(posted: Mapping[int, str | None], first_seen: Mapping[int, datetime]) -> tuple[dict[int, datetime], Counter[str]]:
    """The time a ``time`` split orders each ad by: its posting date when known, else when adwatch
    first stored it.

    Args:
        posted: ``{ad id: ad.posted_date}`` (ISO date ``YYYY-MM-DD`` as the crawler normalises it, or
            None; an unreadable value counts as unknown).
        first_seen: ``{ad id: ad.first_seen}`` (UTC; naive values are taken as UTC).

    Returns:
        ``({ad id: aware UTC datetime}, {"posted_at": n, "first_seen": m})``: a posting date is taken
        at 00:00 UTC; the counter says how many ads used which.
    """
    out: dict[int, datetime] = {}
    basis: Counter[str] = Counter()
    for ad_id, seen in first_seen.items():
        day = None
        raw = posted.get(ad_id)
        if raw:
            try:
                day = date.fromisoformat(str(raw)[:10])
            except ValueError:
                day = None
        if day is not None:
            out[ad_id] = datetime(day.year, day.month, day.day, tzinfo=UTC)
            basis["posted_at"] += 1
        else:
            out[ad_id] = _as_utc(seen)
            basis["first_seen"] += 1
    return out, basis


def split_warnings(splits: Mapping[int, str], labels: Mapping[int, int | None], fractions: Sequence[float],
                   *, times: Mapping[int, datetime] | None = None) -> list[str]:
    """Warnings about a split that a model's evaluation would trip on.

    Args:
        splits: ``{ad id: split}`` of the exported ads.
        labels: ``{ad id: 1, 0 or None}`` (ads without a label may be absent).
        fractions: the target fractions (a split with fraction 0 is meant to be empty).
        times: for a ``time`` split, the times it ordered by: warns when they span less than
            :data:`MIN_TIME_SPAN`.

    Returns:
        Sentences, in a fixed order: a split with a non-zero target that got no ad; a split without
        labelled ads, or without a positive (1) or a negative (0) label, when the export has labels
        at all; a time range that is too short.
    """
    out: list[str] = []
    ads = Counter(splits.values())
    pos: Counter[str] = Counter()
    neg: Counter[str] = Counter()
    for a, s in splits.items():
        if labels.get(a) == 1:
            pos[s] += 1
        elif labels.get(a) == 0:
            neg[s] += 1
    any_labels = bool(pos or neg)
    for i, name in enumerate(SPLITS):
        if fractions[i] <= 0:
            continue
        if not ads[name]:
            out.append(f"split {name} has no ads (groups are placed whole; the data may hold too few groups)")
            continue
        if not any_labels:
            continue
        if not pos[name] and not neg[name]:
            out.append(f"split {name} has no labelled ads ({ads[name]} ads): it cannot evaluate a model")
        elif not pos[name]:
            out.append(f"split {name} has no positive label (1) among its {neg[name]} labelled ads: "
                       "recall and PR-AUC are undefined there")
        elif not neg[name]:
            out.append(f"split {name} has no negative label (0) among its {pos[name]} labelled ads: "
                       "precision and false-positive rates are meaningless there")
    if not any_labels and splits:
        out.append("no exported ad has a 0/1 label")
    if times:
        values = [times[a] for a in splits if a in times]
        if values and max(values) - min(values) < MIN_TIME_SPAN:
            span = max(values) - min(values)
            told = f"{span.days} days" if span.days else f"{span.total_seconds() / 3600:.1f} hours"
            out.append(f"the time split orders ads whose times span only {told} (under {MIN_TIME_SPAN.days} days): "
                       "train and test then hold ads of the same period, not older and newer ones")
    return out


# ------------------------------------------------------------------ groupings of stored ads -----
def _join(pairs: Iterable[tuple[int, Any]]) -> dict[int, int]:
    """``{ad id: smallest ad id of its group}``: ads joined, transitively, when they share a key of
    ``pairs`` (``(ad id, key)``)."""
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    first: dict[Any, int] = {}
    for ad_id, key in pairs:
        parent.setdefault(ad_id, ad_id)
        other = first.setdefault(key, ad_id)
        ra, rb = find(ad_id), find(other)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {a: find(a) for a in parent}


def contact_groups(session: Session, ad_ids: Sequence[int]) -> dict[int, int]:
    """``{ad id: group}``: ads joined, transitively, through shared contact entities (phone, e-mail,
    handle, URL; linked by ``entity_id``, i.e. by keyed HMAC, never by raw value). The group id is the
    smallest ad id of the group; ads without a contact are absent.
    """
    wanted = set(ad_ids)
    return _join((a, e) for a, e in session.execute(
        select(AdEntity.ad_id, AdEntity.entity_id).where(AdEntity.type.in_(CONTACT_ENTITY_TYPES)).distinct()
    ) if a in wanted)


def dataset_token_groups(session: Session, ad_ids: Sequence[int]) -> dict[int, int]:
    """``{ad id: group}``: ads joined, transitively, through a shared dataset hashed-contact token
    (``#EMAIL_<hex>#``, ``#PHONE_<hex>#``, ``#URL_<hex>#`` in EMSCAD texts: one hash is one contact).
    The group id is the smallest ad id of the group; ads without such a token are absent."""
    wanted = set(ad_ids)
    has_token = or_(*(Ad.text.contains(f"#{k}_", autoescape=True) for k in DATASET_TOKEN_TYPES))
    pairs = []
    for ad_id, text in session.execute(select(Ad.id, Ad.text).where(has_token)):
        if ad_id in wanted:
            pairs += [(ad_id, (t, h)) for _, _, t, h in dataset_tokens(text or "")]
    return _join(pairs)


def text_groups(session: Session, ad_ids: Sequence[int]) -> dict[int, str]:
    """``{ad id: content hash}``: exact copies of one text (``ad.content_sha256``) share a group."""
    wanted = set(ad_ids)
    return {a: h for a, h in session.execute(select(Ad.id, Ad.content_sha256)) if a in wanted}


def linking_available() -> bool:
    """True when the :mod:`linking` package (contact networks, template clusters) is installed."""
    return importlib.util.find_spec("linking") is not None


def ad_groupings(session: Session, ad_ids: Sequence[int]) -> dict[str, dict[int, Any]]:
    """The groupings an export keeps whole, by name.

    Always ``contact_entity`` (ads sharing a stored contact entity, :func:`contact_groups`),
    ``exact_text`` (identical content hash, :func:`text_groups`) and ``dataset_token`` (ads sharing a
    dataset's hashed-contact token, :func:`dataset_token_groups`); with the :mod:`linking` package also
    ``contact_network`` (``linking.networks.network_ids``) and ``template_cluster``
    (``linking.templates.cluster_ids``: MinHash LSH near-duplicates). Call ``linking.update`` first so
    that they cover every ad.
    """
    out: dict[str, dict[int, Any]] = {
        "contact_entity": contact_groups(session, ad_ids),
        "exact_text": text_groups(session, ad_ids),
        "dataset_token": dataset_token_groups(session, ad_ids),
    }
    if linking_available():
        networks = importlib.import_module("linking.networks")
        templates = importlib.import_module("linking.templates")
        out["contact_network"] = dict(networks.network_ids(session, ad_ids))
        out["template_cluster"] = dict(templates.cluster_ids(session, ad_ids))
    return out
