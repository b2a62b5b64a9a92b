"""Linking ads: contact networks (shared phones, e-mails, handles) and template clusters (MinHash LSH).

One entry point, :func:`update`, brings both up to date for new or changed ads; it runs at the end
of every crawl run (``crawler.pipelines.StoreAdPipeline``), from ``adwatch link`` and before an
export. Read the results with :func:`linking.networks.network_ids` and
:func:`linking.templates.cluster_ids`. How a network feeds the queue priority: :mod:`linking.risk`.

Linking sits downstream of storage (crawler -> scoring -> storage -> linking/review/export): it
reads ads and entities and writes ``ad_link``, ``contact_network`` and ``template_cluster``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from config.settings import AppSettings, LinkingSettings, get_settings
from linking._util import chunks, sa_table
from linking.errors import LinkingError
from linking.risk import linked_risk
from storage.models import (
    Ad,
    AdLink,
    ContactNetwork,
    ReviewItem,
    Score,
    TemplateCluster,
    utcnow,
)

__all__ = ["LinkStats", "LinkSummary", "LinkingError", "rebuild", "refresh_priorities", "summary", "update"]

LOCK_KEY = 0x61646C  # "adl": PostgreSQL advisory lock held while linking
TEXT_CHUNK = 2_000  # ads whose text is read and hashed at a time


@dataclass(slots=True)
class LinkStats:
    """What :func:`update` did.

    Attributes:
        ads: ads (re)linked (new or changed).
        networks_written, networks_created, networks_deleted: contact networks recomputed, new,
            merged away.
        clusters_written, clusters_created, clusters_deleted: template clusters recomputed, new,
            merged away or dissolved.
        priorities: review items whose priority was refreshed.
        index_size: signatures in the LSH index after the update.
        seconds: wall time.
    """

    ads: int = 0
    networks_written: int = 0
    networks_created: int = 0
    networks_deleted: int = 0
    clusters_written: int = 0
    clusters_created: int = 0
    clusters_deleted: int = 0
    priorities: int = 0
    index_size: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The stats as a JSON-serialisable dict."""
        return asdict(self)


def _lock(session: Session) -> None:
    """Serialise concurrent linkers: an advisory lock on PostgreSQL, the write lock on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    else:  # take SQLite's write lock now, before reading, so two linkers cannot interleave
        session.execute(sql_update(AdLink).where(AdLink.ad_id == -1).values(linked_at=utcnow()))


def update(session: Session, ad_ids: Iterable[int] | None = None, *, settings: AppSettings | None = None) -> LinkStats:
    """Bring contact networks and template clusters up to date for new or changed ads.

    With ``ad_ids=None``, the ads to link are those without an ``ad_link`` row or whose content
    changed since they were linked (cheap when there are none: one anti-join). With ``ad_ids``,
    those ads are linked again whatever their state. For each: its MinHash signature is stored,
    the networks touching it are recomputed (merges and splits), it joins or merges template
    clusters, and the review priority of every ad whose network changed is refreshed
    (:mod:`linking.risk`).

    Args:
        session: open Session; the caller commits.
        ad_ids: ads to (re)link, or None for every new or changed ad.
        settings: application settings (default :func:`config.settings.get_settings`).

    Returns:
        What was done (:class:`LinkStats`).

    Raises:
        LinkingError: stored signatures do not match ``settings.linking`` (run :func:`rebuild`).
    """
    from linking.networks import relink_networks
    from linking.templates import encode_signature, load_index, relink_templates

    t0 = time.perf_counter()
    cfg = (settings or get_settings()).linking
    stats = LinkStats()
    _lock(session)
    stmt = (select(Ad.id, Ad.content_sha256, AdLink.network_id, AdLink.cluster_id, AdLink.ad_id)
            .outerjoin(AdLink, AdLink.ad_id == Ad.id))
    if ad_ids is None:
        rows = session.execute(stmt.where(or_(AdLink.ad_id.is_(None), AdLink.content_sha256 != Ad.content_sha256))).all()
    else:
        rows = []
        for chunk in chunks(sorted(set(ad_ids))):
            rows.extend(session.execute(stmt.where(Ad.id.in_(chunk))).all())
    if not rows:
        stats.seconds = time.perf_counter() - t0
        return stats
    now = utcnow()
    prev_net = {r[0]: r[2] for r in rows}
    prev_cluster = {r[0]: r[3] for r in rows}
    relinked = [r[0] for r in rows if r[4] is not None]
    for chunk in chunks(relinked):
        session.execute(delete(AdLink).where(AdLink.ad_id.in_(chunk)))
    # signatures first (read text in chunks: bounded memory), stored in fresh ad_link rows
    index = load_index(session, cfg, exclude={r[0] for r in rows})
    items = []
    sha = {r[0]: r[1] for r in rows}
    for chunk in chunks(sorted(sha), TEXT_CHUNK):
        texts = session.execute(select(Ad.id, Ad.text).where(Ad.id.in_(chunk))).all()
        batch = [(aid, index[0].signature(txt or "")) for aid, txt in texts]
        session.execute(insert(AdLink), [
            {"ad_id": aid, "content_sha256": sha[aid], "minhash": encode_signature(sig) if sig is not None else None,
             "linked_at": now} for aid, sig in batch])
        items.extend(batch)
    nets = relink_networks(session, list(sha), prev_net, cfg, now)
    clusters = relink_templates(session, items, prev_cluster, cfg, now, index=index)
    stats.ads = len(rows)
    stats.networks_written, stats.networks_created, stats.networks_deleted = len(nets.written), nets.created, nets.deleted
    stats.clusters_written, stats.clusters_created, stats.clusters_deleted = (len(clusters.written), clusters.created,
                                                                             clusters.deleted)
    stats.index_size = clusters.index_size
    stats.priorities = refresh_priorities(session, nets.ads)
    session.flush()
    stats.seconds = time.perf_counter() - t0
    return stats


def refresh_priorities(session: Session, ad_ids: Iterable[int]) -> int:
    """Set the review priority of ``ad_ids``' review items to their linked risk (:mod:`linking.risk`).

    Returns:
        Review items updated.
    """
    updates = []
    for chunk in chunks(sorted(set(ad_ids))):
        for item_id, risk, boost in session.execute(
            select(ReviewItem.id, Score.risk, ContactNetwork.boost)
            .join(Score, Score.id == ReviewItem.score_id)
            .outerjoin(AdLink, AdLink.ad_id == ReviewItem.ad_id)
            .outerjoin(ContactNetwork, ContactNetwork.id == AdLink.network_id)
            .where(ReviewItem.ad_id.in_(chunk))
        ):
            updates.append({"b_id": item_id, "b_p": linked_risk(risk, boost)})
    if updates:
        t = sa_table(ReviewItem)
        session.execute(sql_update(t).where(t.c.id == bindparam("b_id")).values(priority=bindparam("b_p")), updates)
    return len(updates)


def rebuild(session: Session, *, settings: AppSettings | None = None) -> LinkStats:
    """Drop every network, cluster and stored signature and link all ads again (after changing
    ``num_perm``, ``seed``, ``shingle_words`` or the threshold). The caller commits."""
    session.execute(delete(AdLink))
    session.execute(delete(ContactNetwork))
    session.execute(delete(TemplateCluster))
    return update(session, settings=settings)


def linking_settings(settings: AppSettings | None = None) -> LinkingSettings:
    """``AppSettings.linking`` of ``settings`` or of :func:`config.settings.get_settings`."""
    return (settings or get_settings()).linking


@dataclass(slots=True)
class LinkSummary:
    """What the database holds after linking (for messages such as ``adwatch link``'s and ``adwatch demo``'s).

    Attributes:
        ads: ads stored.
        linked_ads: ads with an ``ad_link`` row (linked at least once).
        networks: contact networks of two or more ads.
        networks_with_movement: those in which one contact moves between cities.
        clusters: template clusters (two or more near-duplicate ads).
        signatures: stored MinHash signatures (ads indexed for template matching).
    """

    ads: int = 0
    linked_ads: int = 0
    networks: int = 0
    networks_with_movement: int = 0
    clusters: int = 0
    signatures: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The summary as a JSON-serialisable dict."""
        return asdict(self)


def summary(session: Session) -> LinkSummary:
    """Counts of ads, linked ads, networks (two ads or more), networks with movement, template
    clusters and stored signatures (a few ``count`` queries)."""
    def count(stmt: Any) -> int:
        return int(session.scalar(stmt) or 0)

    return LinkSummary(
        ads=count(select(func.count()).select_from(Ad)),
        linked_ads=count(select(func.count()).select_from(AdLink)),
        networks=count(select(func.count()).select_from(ContactNetwork).where(ContactNetwork.size >= 2)),
        networks_with_movement=count(select(func.count()).select_from(ContactNetwork)
                                     .where(ContactNetwork.size >= 2, ContactNetwork.movement.is_(True))),
        clusters=count(select(func.count()).select_from(TemplateCluster).where(TemplateCluster.size >= 2)),
        signatures=count(select(func.count()).select_from(AdLink).where(AdLink.minhash.is_not(None))),
    )


def network_boosts(session: Session, ad_ids: Iterable[int]) -> dict[int, float]:
    """``{ad id: its contact network's boost}`` for the ads of ``ad_ids`` that are in a network
    (ads in none are left out: their priority is their risk, :func:`linking.risk.linked_risk`)."""
    out: dict[int, float] = {}
    for chunk in chunks(sorted(set(ad_ids))):
        out.update(session.execute(
            select(AdLink.ad_id, ContactNetwork.boost).join(ContactNetwork, ContactNetwork.id == AdLink.network_id)
            .where(AdLink.ad_id.in_(chunk))).tuples().all())
    return out


def max_boost(session: Session) -> float:
    """The largest boost of any stored contact network (0.0 when there is none)."""
    return float(session.scalar(select(func.max(ContactNetwork.boost))) or 0.0)
