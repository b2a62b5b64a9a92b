"""Leak-free dataset splits: every template cluster and every contact network on one side.

Near-duplicate ads (one template posted many times) and ads of one operation (sharing a phone,
e-mail or handle) would let a model memorise a group on the training side and meet it again in the
test set. :func:`assign_splits` joins ads that share *any* group of *any* grouping (union-find: a
cluster that shares one ad with a network pulls the whole network along) and assigns each joined
component to one split as a whole. :func:`ad_groupings` reads the groupings of stored ads.

Methods:

* ``cluster`` (default): components, largest first, each to the split furthest below its target
  share of ads and, when labels are given, of positive labels (stratified by label);
* ``random``: components in a seeded random order, each to the split furthest below its target
  share of ads;
* ``time``: components ordered by their earliest ad (``first_seen``): the oldest fill ``train``,
  then ``validation``, the newest go to ``test`` (a component is placed by its first ad, so a
  network active across the cut stays whole on the earlier side).

Shares are of ads, so a large component can push a split past its target; the datasheet reports the
real counts.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from export.errors import ExportError
from storage.models import Ad, AdEntity
from storage.repository import CONTACT_ENTITY_TYPES

SPLITS = ("train", "validation", "test")
"""Split names, in order."""

METHODS = ("cluster", "time", "random")
"""Split methods (``--split``)."""

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
"""Default target shares of ads in train, validation and test."""


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


def assign_splits(
    ad_ids: Iterable[int],
    groupings: Sequence[Mapping[int, Any]],
    method: str = "cluster",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    *,
    times: Mapping[int, Any] | None = None,
    labels: Mapping[int, int | None] | None = None,
) -> dict[int, str]:
    """Assign every ad to ``train``, ``validation`` or ``test`` with no group straddling two splits.

    A pure function (no database): the same inputs give the same splits.

    Args:
        ad_ids: the ads to split.
        groupings: ``{ad id: group id}`` mappings; see :func:`components`.
        method: ``cluster``, ``time`` or ``random`` (module docstring).
        fractions: target shares of ads (train, validation, test), summing to 1.
        seed: orders components for ``random`` and breaks ties for ``cluster``.
        times: ``{ad id: sortable time}`` (first seen); required for ``time``.
        labels: ``{ad id: 1, 0 or None}``; ``cluster`` also balances positive labels across splits.

    Returns:
        ``{ad id: split name}`` for every ad of ``ad_ids``.

    Raises:
        ExportError: unknown method, bad fractions, or ``time`` without a time for every ad.
    """
    if method not in METHODS:
        raise ExportError(f"unknown split method {method!r} (one of {', '.join(METHODS)})")
    fr = check_fractions(fractions)
    comps = components(ad_ids, groupings)
    total = sum(len(c) for c in comps)
    out: dict[int, str] = {}
    if not comps:
        return out
    if method == "time":
        if times is None or any(a not in times or times[a] is None for c in comps for a in c):
            raise ExportError("the time split needs a first-seen time for every ad")
        ordered = sorted(comps, key=lambda c: (min(times[a] for a in c), c[0]))  # type: ignore[index]
        cumulative = (fr[0] * total, (fr[0] + fr[1]) * total, float(total))
        last = max(i for i in range(3) if fr[i] > 0)
        done = 0
        for c in ordered:
            i = next((i for i in range(3) if fr[i] > 0 and done < cumulative[i]), last)
            out.update((a, SPLITS[i]) for a in c)
            done += len(c)
        return out

    positives = {a: 1 for a, v in (labels or {}).items() if v == 1} if method == "cluster" else {}
    n_pos = sum(positives.get(a, 0) for c in comps for a in c)
    if method == "random":
        ordered = sorted(comps, key=lambda c: _order_key(seed, c))
    else:
        ordered = sorted(comps, key=lambda c: (-len(c), _order_key(seed, c)))
    size = [0, 0, 0]
    pos = [0, 0, 0]
    for c in ordered:
        cpos = sum(positives.get(a, 0) for a in c)
        best, best_score = 0, None
        for i in range(3):
            if fr[i] == 0:
                continue
            score = (fr[i] * total - size[i]) / (fr[i] * total)
            if cpos and n_pos:
                score += (fr[i] * n_pos - pos[i]) / (fr[i] * n_pos)
            if best_score is None or score > best_score:
                best, best_score = i, score
        size[best] += len(c)
        pos[best] += cpos
        out.update((a, SPLITS[best]) for a in c)
    return out


# ------------------------------------------------------------------ groupings of stored ads -----
def contact_groups(session: Session, ad_ids: Sequence[int]) -> dict[int, int]:
    """``{ad id: group}``: ads joined, transitively, through shared contact entities (phone, e-mail,
    handle, URL; linked by ``entity_id``, i.e. by keyed HMAC, never by raw value). The group id is the
    smallest ad id of the group; ads without a contact are absent.
    """
    wanted = set(ad_ids)
    pairs = [(a, e) for a, e in session.execute(
        select(AdEntity.ad_id, AdEntity.entity_id).where(AdEntity.type.in_(CONTACT_ENTITY_TYPES)).distinct()
    ) if a in wanted]
    # union-find on ads; each entity remembers the first ad that mentions it
    parent: dict[int, int] = {a: a for a, _ in pairs}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    first: dict[int, int] = {}
    for ad_id, entity_id in pairs:
        other = first.setdefault(entity_id, ad_id)
        ra, rb = find(ad_id), find(other)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {a: find(a) for a in parent}


def text_groups(session: Session, ad_ids: Sequence[int]) -> dict[int, str]:
    """``{ad id: content hash}``: exact copies of one text (``ad.content_sha256``) share a group."""
    wanted = set(ad_ids)
    return {a: h for a, h in session.execute(select(Ad.id, Ad.content_sha256)) if a in wanted}


def linking_available() -> bool:
    """True when the :mod:`linking` package (contact networks, template clusters) is installed."""
    return importlib.util.find_spec("linking") is not None


def ad_groupings(session: Session, ad_ids: Sequence[int]) -> dict[str, dict[int, Any]]:
    """The groupings an export keeps whole, by name.

    Always ``contact_entity`` (ads sharing a stored contact entity, :func:`contact_groups`) and
    ``exact_text`` (identical content hash, :func:`text_groups`); with the :mod:`linking` package also
    ``contact_network`` (``linking.networks.network_ids``) and ``template_cluster``
    (``linking.templates.cluster_ids``: MinHash LSH near-duplicates). Call ``linking.update`` first so
    that they cover every ad.
    """
    out: dict[str, dict[int, Any]] = {
        "contact_entity": contact_groups(session, ad_ids),
        "exact_text": text_groups(session, ad_ids),
    }
    if linking_available():
        networks = importlib.import_module("linking.networks")
        templates = importlib.import_module("linking.templates")
        out["contact_network"] = dict(networks.network_ids(session, ad_ids))
        out["template_cluster"] = dict(templates.cluster_ids(session, ad_ids))
    return out
