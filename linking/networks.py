"""Contact networks: ads that share a normalised phone, e-mail or messaging handle, transitively.

Ads are linked through ``ad_entity.entity_id`` (one entity per keyed HMAC of a normalised value),
never through raw values, so networks survive ``adwatch purge``. A network is a connected component
of the bipartite ad–contact graph; it is kept up to date incrementally by :func:`relink_networks`
(called by :func:`linking.update`): only the networks touching new or changed ads are recomputed,
and a changed ad that no longer shares a contact splits its old network correctly.

Per network: ads, contacts, sites, cities, first and last seen, and ``movement`` (one contact seen
in at least N cities within T days, ``AppSettings.linking``; see :func:`find_movement`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from config.settings import LinkingSettings
from linking._util import UnionFind, ad_date, aware, chunks, sa_table, sorted_set
from linking.risk import network_boost
from storage.models import Ad, AdEntity, AdLink, ContactNetwork, Entity, utcnow


def normalize_city(location: str | None) -> str | None:
    """A city key from ``Ad.location_raw``: the part before the first comma, trimmed, lower case.

    ``"Houston, TX"`` and ``"houston"`` give ``"houston"``; empty or missing gives None.
    """
    if not location:
        return None
    city = " ".join(location.split(",", 1)[0].split()).casefold()
    return city or None


@dataclass(frozen=True, slots=True)
class Movement:
    """One contact seen in ``len(cities)`` distinct cities between ``start`` and ``end`` (dates)."""

    cities: list[str]
    start: date
    end: date


def find_movement(sightings: Iterable[tuple[date, str]], min_cities: int, days: int) -> Movement | None:
    """The first window of at most ``days`` days in which at least ``min_cities`` distinct cities occur.

    Args:
        sightings: ``(date, city)`` pairs of one contact's ads (any order; cities normalised).
        min_cities: N, distinct cities (>= 2).
        days: T, the window: the last date minus the first date is at most ``days`` days.

    Returns:
        The cities (sorted) and date range of the first such window, or None.
    """
    pts = sorted(sightings)
    counts: Counter[str] = Counter()
    lo = 0
    for hi, (d, city) in enumerate(pts):
        counts[city] += 1
        while (d - pts[lo][0]).days > days:
            c = pts[lo][1]
            counts[c] -= 1
            if not counts[c]:
                del counts[c]
            lo += 1
        if len(counts) >= min_cities:
            return Movement(sorted(counts), pts[lo][0], d)
    return None


@dataclass(slots=True)
class NetworkChanges:
    """What :func:`relink_networks` did: networks written (ids), created and deleted (merged away)."""

    written: set[int] = field(default_factory=set)
    created: int = 0
    deleted: int = 0
    ads: set[int] = field(default_factory=set)


def relink_networks(session: Session, ad_ids: Collection[int], previous: dict[int, int | None],
                    settings: LinkingSettings, now: datetime | None = None) -> NetworkChanges:
    """Recompute the networks that touch ``ad_ids`` and store them (``contact_network``, ``ad_link.network_id``).

    Every ad in ``ad_ids`` must have an ``ad_link`` row. The set recomputed is closed under shared
    contacts and old network membership, so merges (a new ad bridging two networks) and splits (a
    changed ad that dropped the bridging contact) both come out right. Network ids are kept where
    possible: each new component takes the smallest old id among its ads; old networks left with
    no ad are deleted.

    Args:
        session: open Session (not committed here).
        ad_ids: new or changed ads.
        previous: ad id -> the network id it had before its ``ad_link`` row was reset (or None).
        settings: ``AppSettings.linking`` (contact types, movement N and T, boost weights).
        now: time recorded in ``updated_at``.

    Returns:
        The networks written, created and deleted, and every ad whose network was recomputed.
    """
    now = now or utcnow()
    types = list(settings.contact_types)
    changes = NetworkChanges()
    if not ad_ids:
        return changes
    members: set[int] = set()
    edges: dict[int, set[int]] = defaultdict(set)
    old_net: dict[int, int | None] = {}
    ents_seen: set[int] = set()
    nets_seen: set[int] = {n for n in previous.values() if n is not None}
    frontier = set(ad_ids)
    pending_nets = set(nets_seen)
    while frontier:
        members |= frontier
        new_ents: set[int] = set()
        for chunk in chunks(sorted(frontier)):
            for aid, eid in session.execute(select(AdEntity.ad_id, AdEntity.entity_id)
                                            .where(AdEntity.ad_id.in_(chunk), AdEntity.type.in_(types))):
                edges[aid].add(eid)
                if eid not in ents_seen:
                    new_ents.add(eid)
        ents_seen |= new_ents
        cand: set[int] = set()
        for chunk in chunks(sorted(new_ents)):
            cand.update(session.scalars(select(AdEntity.ad_id).where(AdEntity.entity_id.in_(chunk),
                                                                     AdEntity.type.in_(types))))
        look = (cand | frontier) - set(old_net)
        for chunk in chunks(sorted(look)):
            for aid, nid in session.execute(select(AdLink.ad_id, AdLink.network_id).where(AdLink.ad_id.in_(chunk))):
                old_net[aid] = nid
                if nid is not None and nid not in nets_seen:
                    nets_seen.add(nid)
                    pending_nets.add(nid)
        for chunk in chunks(sorted(pending_nets)):
            cand.update(session.scalars(select(AdLink.ad_id).where(AdLink.network_id.in_(chunk))))
        pending_nets = set()
        frontier = cand - members
    for aid, nid in previous.items():
        if nid is not None:
            old_net[aid] = nid

    uf = UnionFind()
    by_entity: dict[int, int] = {}
    for aid in members:
        for eid in edges.get(aid, ()):
            if eid in by_entity:
                uf.union(by_entity[eid], aid)
            else:
                by_entity[eid] = aid
                uf.add(aid)
    components = sorted(uf.groups(), key=lambda g: (-len(g), min(g)))
    info = _ad_info(session, members)

    used: set[int] = set()
    reuse: list[tuple[int, list[int]]] = []
    fresh: list[list[int]] = []
    for comp in components:
        olds = sorted({n for a in comp if (n := old_net.get(a)) is not None} - used)
        if olds:
            used.add(olds[0])
            reuse.append((olds[0], comp))
        else:
            fresh.append(comp)
    masked = _masked(session, {e for a in members for e in edges.get(a, ())})
    stats_reuse = [_stats(comp, edges, info, masked, settings) for _, comp in reuse]
    stats_fresh = [_stats(comp, edges, info, masked, settings) for comp in fresh]
    if stats_reuse:
        table = sa_table(ContactNetwork)
        session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                {k: bindparam(f"b_{k}") for k in stats_reuse[0]} | {"updated_at": bindparam("b_updated_at")}),
            [{"b_id": nid, **{f"b_{k}": v for k, v in st.items()}, "b_updated_at": now}
             for (nid, _), st in zip(reuse, stats_reuse)],
        )
    new_ids: list[int] = []
    if stats_fresh:
        new_ids = list(session.scalars(
            insert(ContactNetwork).returning(ContactNetwork.id, sort_by_parameter_order=True),
            [{**st, "updated_at": now} for st in stats_fresh]))
    assignments: list[dict[str, Any]] = []
    for nid, comp in [*reuse, *zip(new_ids, fresh)]:
        assignments.extend({"b_ad": a, "b_net": nid} for a in comp)
        changes.written.add(nid)
    linked = {a for _, comp in reuse for a in comp} | {a for comp in fresh for a in comp}
    assignments.extend({"b_ad": a, "b_net": None} for a in members - linked)
    if assignments:
        table = sa_table(AdLink)
        session.execute(update(table).where(table.c.ad_id == bindparam("b_ad")).values(network_id=bindparam("b_net")),
                        assignments)
    gone = sorted(nets_seen - used)
    for chunk in chunks(gone):
        session.execute(delete(ContactNetwork).where(ContactNetwork.id.in_(chunk)))
    changes.created = len(new_ids)
    changes.deleted = len(gone)
    changes.ads = members
    return changes


def _ad_info(session: Session, ad_ids: Iterable[int]) -> dict[int, Any]:
    """ad id -> (site, city, date, first_seen, last_seen)."""
    out: dict[int, Any] = {}
    for chunk in chunks(sorted(ad_ids)):
        for aid, site, loc, posted, first_seen, last_seen in session.execute(
            select(Ad.id, Ad.site, Ad.location_raw, Ad.posted_date, Ad.first_seen, Ad.last_seen).where(Ad.id.in_(chunk))
        ):
            first, last = aware(first_seen), aware(last_seen)
            out[aid] = (site, normalize_city(loc), ad_date(posted, first), first, last)
    return out


def _masked(session: Session, entity_ids: Iterable[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in chunks(sorted(entity_ids)):
        out.update(session.execute(select(Entity.id, Entity.masked).where(Entity.id.in_(chunk))).tuples().all())
    return out


def _stats(comp: list[int], edges: dict[int, set[int]], info: dict[int, Any], masked: dict[int, str],
           settings: LinkingSettings) -> dict[str, Any]:
    rows = [info[a] for a in comp if a in info]
    sightings: dict[int, list[tuple[date, str]]] = defaultdict(list)
    contacts: set[int] = set()
    for a in comp:
        site_city = info.get(a)
        for e in edges.get(a, ()):
            contacts.add(e)
            if site_city and site_city[1] and site_city[2]:
                sightings[e].append((site_city[2], site_city[1]))
    detail: dict[str, Any] = {}
    for e in sorted(sightings):
        mv = find_movement(sightings[e], settings.movement_cities, settings.movement_days)
        if mv is not None:
            detail = {"entity_id": e, "masked": masked.get(e, ""), "cities": mv.cities,
                      "from": mv.start.isoformat(), "to": mv.end.isoformat(),
                      "rule": f"{settings.movement_cities} cities within {settings.movement_days} days"}
            break
    movement = bool(detail)
    firsts = [r[3] for r in rows if r[3] is not None]
    lasts = [r[4] for r in rows if r[4] is not None]
    return {
        "size": len(comp), "contacts": len(contacts), "sites": sorted_set([r[0] for r in rows]),
        "cities": sorted_set([r[1] for r in rows]), "first_seen": min(firsts) if firsts else None,
        "last_seen": max(lasts) if lasts else None, "movement": movement, "movement_detail": detail,
        "boost": network_boost(len(comp), movement, size_weight=settings.size_weight, size_cap=settings.size_cap,
                               movement_weight=settings.movement_weight),
    }


def network_ids(session: Session, ad_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Ad id -> contact-network id, for ``ad_ids`` (default: every linked ad).

    Ads without a linking contact, and ads not linked yet (call :func:`linking.update` first), are
    absent.
    """
    stmt = select(AdLink.ad_id, AdLink.network_id).where(AdLink.network_id.is_not(None))
    out: dict[int, int] = {}
    for chunk in ([None] if ad_ids is None else chunks(sorted(set(ad_ids)))):
        part = stmt if chunk is None else stmt.where(AdLink.ad_id.in_(chunk))
        out.update((aid, int(nid)) for aid, nid in session.execute(part) if nid is not None)
    return out
