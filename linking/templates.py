"""Template clusters: near-duplicate ads grouped with MinHash LSH (datasketch).

An ad's text becomes a set of word shingles (``shingle_words`` consecutive words, lower case,
digits folded to ``0`` so that prices, ages and phone numbers do not split a template); its MinHash
signature (``num_perm`` permutations, datasketch's ``affine32`` scheme) estimates the Jaccard
similarity of two such sets. A ``MinHashLSH`` index finds the candidates of a new ad; those with an
estimated similarity of at least ``template_threshold`` join its cluster, transitively (a cluster is
a connected component of the near-duplicate graph, as in InfoShield, Lee et al., KDD 2021).

Persistence: signatures are stored in ``ad_link.minhash`` and the in-memory LSH index is rebuilt
from them when new ads arrive. ``bench/clusters.py`` measures the rebuild: 12-22 s for 100k
stored signatures on a loaded 2-core machine (datasketch inserts each of the 25 bands of every
signature in Python), against 30-37 s to cluster the same 100k ads from their text; signatures take
512 bytes an ad. Each night's ads are queried against the rebuilt index and join, or merge, existing
clusters; cluster ids are kept (a merge keeps the smallest id).

Known limit: a cluster does not split when the ad that bridged two parts changes; ``adwatch link
--rebuild`` recomputes every cluster from the stored signatures.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH  # type: ignore[import-untyped]
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from config.settings import LinkingSettings
from linking._util import UnionFind, aware, chunks, sa_table
from linking.errors import LinkingError
from storage.models import Ad, AdLink, TemplateCluster, utcnow

SCHEME = "affine32"
"""datasketch MinHash scheme of stored signatures (uint32 hash values)."""

MIN_SHINGLES = 4
"""Ads with fewer distinct shingles (a few words) get no signature: too short to call a template."""

REPRESENTATIVE_SAMPLE = 200
"""At most this many members are compared when choosing a cluster's representative."""

_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")


def shingles(text: str, k: int = 3) -> set[bytes]:
    """Word ``k``-shingles of ``text`` (case-folded, digits folded to ``0``), UTF-8 encoded.

    A text of fewer than ``k`` words gives one shingle of all its words (none when it has none).
    """
    words = _WORD.findall(_DIGIT.sub("0", text.casefold()))
    if len(words) < k:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + k]).encode() for i in range(len(words) - k + 1)}


def encode_signature(sig: np.ndarray) -> bytes:
    """A signature (uint32 array) as little-endian bytes for ``ad_link.minhash``."""
    return np.asarray(sig, dtype="<u4").tobytes()


def decode_signature(blob: bytes) -> np.ndarray:
    """Inverse of :func:`encode_signature` (a read-only uint32 array)."""
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures (share of equal hash values)."""
    return float(np.count_nonzero(a == b)) / len(a)


class TemplateIndex:
    """MinHash signatures and an LSH index of them (datasketch), keyed by ad id.

    Args:
        threshold: estimated Jaccard similarity at or above which two ads are near-duplicates.
        num_perm: MinHash permutations.
        seed: MinHash seed (the same for every signature ever stored).
        shingle_words: words per shingle.
    """

    def __init__(self, threshold: float = 0.5, num_perm: int = 128, seed: int = 1, shingle_words: int = 3) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.seed = seed
        self.shingle_words = shingle_words
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.sigs: dict[int, np.ndarray] = {}
        self._perms = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations

    @classmethod
    def from_settings(cls, settings: LinkingSettings) -> TemplateIndex:
        """An empty index with the parameters of ``AppSettings.linking``."""
        return cls(settings.template_threshold, settings.num_perm, settings.seed, settings.shingle_words)

    def signature(self, text: str) -> np.ndarray | None:
        """The MinHash signature of ``text`` (uint32, ``num_perm`` values), None when too short."""
        sh = shingles(text, self.shingle_words)
        if len(sh) < MIN_SHINGLES:
            return None
        m = MinHash(num_perm=self.num_perm, seed=self.seed, permutations=self._perms, scheme=SCHEME)
        m.update_batch(sh)
        return np.asarray(m.hashvalues, dtype=np.uint32)

    def add(self, key: int, sig: np.ndarray) -> None:
        """Index ``sig`` under ``key`` (an ad id not indexed yet)."""
        self.sigs[key] = sig
        self.lsh.insert(key, LeanMinHash(seed=self.seed, hashvalues=sig, scheme=SCHEME), check_duplication=False)

    def add_many(self, items: Iterable[tuple[int, np.ndarray]]) -> None:
        """Index many ``(key, signature)`` pairs (datasketch's buffered insertion session)."""
        with self.lsh.insertion_session() as session:
            for key, sig in items:
                self.sigs[key] = sig
                session.insert(key, LeanMinHash(seed=self.seed, hashvalues=sig, scheme=SCHEME), check_duplication=False)

    def neighbours(self, sig: np.ndarray) -> list[int]:
        """Indexed keys whose estimated similarity to ``sig`` is at least ``threshold`` (LSH candidates, checked)."""
        cands = self.lsh.query(LeanMinHash(seed=self.seed, hashvalues=sig, scheme=SCHEME))
        return [k for k in cands if jaccard(self.sigs[k], sig) >= self.threshold]

    def representative(self, keys: Sequence[int]) -> int:
        """The key most similar to the others (largest summed estimated similarity; ties: smallest key).

        At most :data:`REPRESENTATIVE_SAMPLE` keys, evenly spread over ``keys`` sorted, are compared.

        Raises:
            LinkingError: ``keys`` is empty.
        """
        ks = sorted(k for k in keys if k in self.sigs)
        if not ks:
            raise LinkingError("cannot choose a representative of an empty cluster")
        if len(ks) > REPRESENTATIVE_SAMPLE:
            ks = [ks[i] for i in np.linspace(0, len(ks) - 1, REPRESENTATIVE_SAMPLE).astype(int)]
        m = np.stack([self.sigs[k] for k in ks])
        sim = np.zeros(len(ks))
        for i in range(len(ks)):
            sim[i] = np.count_nonzero(m == m[i], axis=1).sum()
        return ks[int(np.argmax(sim))]


def cluster_texts(texts: Iterable[tuple[int, str]], index: TemplateIndex) -> dict[int, int]:
    """Cluster texts in memory: key -> cluster id (the smallest key of its cluster); lone texts absent.

    Each text is queried against those indexed before it, then indexed; near-duplicates are joined
    transitively. Used by ``bench/clusters.py`` and the tests; :func:`relink_templates` does the same
    against the database.
    """
    uf = UnionFind()
    for key, text in texts:
        sig = index.signature(text)
        if sig is None:
            continue
        for other in index.neighbours(sig):
            uf.union(other, key)
        index.add(key, sig)
    out: dict[int, int] = {}
    for group in uf.groups():
        if len(group) > 1:
            cid = min(group)
            out.update((k, cid) for k in group)
    return out


@dataclass(slots=True)
class ClusterChanges:
    """What :func:`relink_templates` did: clusters written, created and deleted (merged or dissolved)."""

    written: set[int] = field(default_factory=set)
    created: int = 0
    deleted: int = 0
    index_size: int = 0


def load_index(session: Session, settings: LinkingSettings, exclude: Collection[int] = ()) -> tuple[TemplateIndex, dict[int, int]]:
    """Rebuild the LSH index from ``ad_link.minhash`` (all ads but ``exclude``).

    Returns:
        The index and ad id -> cluster id of the indexed ads that are in a cluster.

    Raises:
        LinkingError: a stored signature does not have ``num_perm`` values (settings changed:
            run ``adwatch link --rebuild``).
    """
    index = TemplateIndex.from_settings(settings)
    clusters: dict[int, int] = {}
    excl = set(exclude)
    width = settings.num_perm * 4

    def rows() -> Iterable[tuple[int, np.ndarray]]:
        stmt = (select(AdLink.ad_id, AdLink.cluster_id, AdLink.minhash).where(AdLink.minhash.is_not(None))
                .execution_options(yield_per=10_000))
        for aid, cid, stored in session.execute(stmt):
            if aid in excl:
                continue
            blob = bytes(stored or b"")
            if len(blob) != width:
                raise LinkingError(f"ad {aid}: stored MinHash has {len(blob) // 4} values, settings say "
                                   f"num_perm={settings.num_perm}; run `adwatch link --rebuild`")
            if cid is not None:
                clusters[aid] = cid
            yield aid, decode_signature(blob)

    index.add_many(rows())
    return index, clusters


def relink_templates(session: Session, items: Sequence[tuple[int, np.ndarray | None]],
                     previous: dict[int, int | None], settings: LinkingSettings, now: datetime | None = None,
                     index: tuple[TemplateIndex, dict[int, int]] | None = None) -> ClusterChanges:
    """Put new or changed ads into template clusters (``template_cluster``, ``ad_link.cluster_id``).

    Args:
        session: open Session (not committed here).
        items: ``(ad id, signature or None)`` of the new or changed ads; each has an ``ad_link``
            row whose ``cluster_id`` is None.
        previous: ad id -> its cluster before it changed (None for new ads). A changed ad leaves its
            old cluster; a cluster left with one ad is dissolved.
        settings: ``AppSettings.linking``.
        now: time recorded in ``updated_at``.
        index: a ready index (from :func:`load_index` with ``exclude`` = these ads), else one is built.

    Returns:
        The clusters written, created and deleted.
    """
    now = now or utcnow()
    changes = ClusterChanges()
    batch = {aid for aid, _ in items}
    idx, cluster_of = index or load_index(session, settings, exclude=batch)
    uf = UnionFind()

    def node(aid: int) -> tuple[str, int]:
        cid = cluster_of.get(aid)
        return ("c", cid) if cid is not None else ("a", aid)

    for aid, sig in items:
        if sig is None:
            continue
        me = ("a", aid)
        uf.add(me)
        for other in idx.neighbours(sig):
            uf.union(me, node(other))
        idx.add(aid, sig)
    changes.index_size = len(idx.sigs)

    touched_old = {c for a, c in previous.items() if c is not None}
    written: dict[int, list[int]] = {}
    new_groups: list[list[int]] = []
    merged_away: set[int] = set()
    single_updates: list[dict[str, Any]] = []
    for group in uf.groups():
        cids = sorted(k[1] for k in group if k[0] == "c")
        ads = [k[1] for k in group if k[0] == "a"]
        if not cids and len(ads) < 2:
            continue
        if cids:
            keep = cids[0]
            merged_away.update(cids[1:])
            written.setdefault(keep, []).extend(ads)
            single_updates.extend({"b_ad": a, "b_c": keep} for a in ads)
        else:
            new_groups.append(ads)
    if new_groups:
        ids = list(session.scalars(insert(TemplateCluster).returning(TemplateCluster.id, sort_by_parameter_order=True),
                                   [{"size": len(g), "updated_at": now} for g in new_groups]))
        for cid, g in zip(ids, new_groups):
            written[cid] = list(g)
            single_updates.extend({"b_ad": a, "b_c": cid} for a in g)
        changes.created = len(ids)
    table = sa_table(AdLink)
    if single_updates:
        session.execute(update(table).where(table.c.ad_id == bindparam("b_ad")).values(cluster_id=bindparam("b_c")),
                        single_updates)
    # merges: every ad of a merged-away cluster moves to the kept one
    for group in uf.groups():
        cids = sorted(k[1] for k in group if k[0] == "c")
        for other in cids[1:]:
            session.execute(update(AdLink).where(AdLink.cluster_id == other).values(cluster_id=cids[0]))
    for cid in merged_away:
        touched_old.discard(cid)
    for chunk in chunks(sorted(merged_away)):
        session.execute(delete(TemplateCluster).where(TemplateCluster.id.in_(chunk)))
    deleted = len(merged_away)
    # refresh the figures of every cluster written or left by a changed ad
    refresh = sorted((set(written) | touched_old) - merged_away)
    members: dict[int, list[int]] = {}
    for chunk in chunks(refresh):
        for aid, m_cid in session.execute(select(AdLink.ad_id, AdLink.cluster_id).where(AdLink.cluster_id.in_(chunk))):
            if m_cid is not None:
                members.setdefault(m_cid, []).append(aid)
    dissolve = [c for c in refresh if len(members.get(c, [])) < 2]
    for chunk in chunks(dissolve):
        session.execute(update(AdLink).where(AdLink.cluster_id.in_(chunk)).values(cluster_id=None))
        session.execute(delete(TemplateCluster).where(TemplateCluster.id.in_(chunk)))
    deleted += len(dissolve)
    keep = [c for c in refresh if c not in set(dissolve)]
    seen: dict[int, tuple[Any, Any]] = {}
    for chunk in chunks(keep):
        for c_id, first, last in session.execute(
            select(AdLink.cluster_id, func.min(Ad.first_seen), func.max(Ad.last_seen)).join(Ad, Ad.id == AdLink.ad_id)
            .where(AdLink.cluster_id.in_(chunk)).group_by(AdLink.cluster_id)
        ):
            if c_id is not None:
                seen[c_id] = (aware(first), aware(last))
    if keep:
        t = sa_table(TemplateCluster)
        session.execute(
            update(t).where(t.c.id == bindparam("b_id")).values(
                size=bindparam("b_size"), representative_ad_id=bindparam("b_rep"), first_seen=bindparam("b_first"),
                last_seen=bindparam("b_last"), updated_at=bindparam("b_now")),
            [{"b_id": c, "b_size": len(members[c]), "b_rep": idx.representative(members[c]),
              "b_first": seen.get(c, (None, None))[0], "b_last": seen.get(c, (None, None))[1], "b_now": now}
             for c in keep],
        )
    changes.written = set(keep)
    changes.deleted = deleted
    return changes


def cluster_ids(session: Session, ad_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Ad id -> template cluster id, for ``ad_ids`` (default: every clustered ad).

    Ads with no near-duplicate, and ads not linked yet (call :func:`linking.update` first), are absent.
    """
    stmt = select(AdLink.ad_id, AdLink.cluster_id).where(AdLink.cluster_id.is_not(None))
    out: dict[int, int] = {}
    for chunk in ([None] if ad_ids is None else chunks(sorted(set(ad_ids)))):
        part = stmt if chunk is None else stmt.where(AdLink.ad_id.in_(chunk))
        out.update((aid, int(cid)) for aid, cid in session.execute(part) if cid is not None)
    return out


# ---------------------------------------------------------------- shared and varying text ------
@dataclass(frozen=True, slots=True)
class Part:
    """A stretch of the representative's text: ``shared`` when most members contain it."""

    text: str
    shared: bool


_TOKEN = re.compile(r"\S+")


def template_parts(representative: str, others: Sequence[str], min_share: float = 0.8) -> list[Part]:
    """Split ``representative`` into shared and varying stretches.

    A word of the representative is shared when it lies in a matching block (``difflib``, on words)
    with at least ``min_share`` of ``others``; adjacent words of one kind are merged, whitespace
    kept, so the parts concatenate to ``representative``.

    Args:
        representative: the cluster's representative text (contacts already masked).
        others: other members' texts (a sample; contacts masked).
        min_share: share of members, in (0, 1].

    Returns:
        Parts in text order; all shared when ``others`` is empty.
    """
    toks = list(_TOKEN.finditer(representative))
    if not toks:
        return [Part(representative, True)] if representative else []
    words = [m.group().casefold() for m in toks]
    hits = np.zeros(len(toks), dtype=int)
    for other in others:
        sm = SequenceMatcher(None, words, [w.casefold() for w in _TOKEN.findall(other)], autojunk=False)
        for blk in sm.get_matching_blocks():
            hits[blk.a:blk.a + blk.size] += 1
    need = min_share * len(others)
    shared = [not others or hits[i] >= need for i in range(len(toks))]
    parts: list[Part] = []
    pos = 0
    for i, m in enumerate(toks):
        gap = representative[pos:m.start()]
        piece = gap + m.group()
        if parts and parts[-1].shared == shared[i]:
            parts[-1] = Part(parts[-1].text + piece, shared[i])
        else:
            if gap and parts:
                parts[-1] = Part(parts[-1].text + gap, parts[-1].shared)
                piece = m.group()
            parts.append(Part(piece, shared[i]))
        pos = m.end()
    tail = representative[pos:]
    if tail:
        parts[-1] = Part(parts[-1].text + tail, parts[-1].shared)
    return parts


def varying_words(representative: str, other: str) -> list[str]:
    """Stretches of ``other`` that are not in ``representative`` (word-level ``difflib``), in order."""
    a = _TOKEN.findall(representative)
    b = _TOKEN.findall(other)
    sm = SequenceMatcher(None, [w.casefold() for w in a], [w.casefold() for w in b], autojunk=False)
    return [" ".join(b[j1:j2]) for tag, _, _, j1, j2 in sm.get_opcodes() if tag in ("replace", "insert") and j2 > j1]
