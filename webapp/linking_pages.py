"""Network and template-cluster pages of the review app (issue 8).

* ``/networks/{id}``: a contact network drawn as a graph (ads and contacts as nodes, server-side
  SVG, no JavaScript), each ad labelled with its city and date, and the movement signal.
* ``/clusters/{id}``: a template cluster: the representative ad with the parts shared by the
  members and the parts that vary, the members, and a form to decide for the whole cluster. Each
  ad's decision goes through :func:`webapp.services.decide`, so every ad gets its own decision
  row and audit event; one more ``cluster_decision`` event records the bulk action.
* ``/ads/{id}/network`` and ``/ads/{id}/cluster`` redirect to the ad's network or cluster.

Contacts stay masked on these pages (entity ``masked`` forms; ad texts masked like the queue).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import (
    Ad,
    AdEntity,
    AdLink,
    ContactNetwork,
    Entity,
    ReviewItem,
    Score,
    TemplateCluster,
)
from storage.repository import audit
from webapp import services
from webapp.deps import Db, PageUser, checked_form
from webapp.pages import Decider, render

router = APIRouter(include_in_schema=False)

GRAPH_MAX_ADS = 120
"""The graph draws at most this many ads of a network (the newest); the table lists them all up to :data:`TABLE_MAX_ADS`."""

TABLE_MAX_ADS = 1000
CLUSTER_DECISION_MAX = 500
"""A decision for a whole cluster covers at most this many ads (larger clusters: decide by site or date first)."""

PARTS_SAMPLE = 20
"""Members compared with the representative to find shared and varying text."""

VARIATIONS_SHOWN = 10
"""Members of the sample whose varying words are listed under "What varies"."""

SHARED_MIN = 0.8
"""A word of the representative is "shared" when at least this share of the compared members has it
(:func:`linking.templates.template_parts`)."""

BAND_FILL = {"high": "#a40000", "medium": "#8a4b00", "low": "#4a4a4a", None: "#767676"}
CONTACT_FILL = "#14304f"
EDGE = "#8a8a8a"


# ---------------------------------------------------------------- data ---------------------------
def _latest_scores(session: Session, ad_ids: list[int]) -> dict[int, tuple[float, str]]:
    out: dict[int, tuple[float, str]] = {}
    for i in range(0, len(ad_ids), 500):
        chunk = ad_ids[i:i + 500]
        latest = (select(Score.ad_id, Score.risk, Score.band).where(Score.ad_id.in_(chunk)).order_by(Score.ad_id, Score.id))
        for aid, risk, band in session.execute(latest):
            out[aid] = (risk, band)  # the last row per ad is its newest score
    return out


def _ad_rows(session: Session, ad_ids: list[int]) -> list[dict[str, Any]]:
    """Ads as table rows (masked titles, city, dates, risk, review state), newest first."""
    rows: list[dict[str, Any]] = []
    scores = _latest_scores(session, ad_ids)
    spans = services.contact_spans(session, ad_ids)
    states: dict[int, str] = {}
    for i in range(0, len(ad_ids), 500):
        chunk = ad_ids[i:i + 500]
        states.update(session.execute(select(ReviewItem.ad_id, ReviewItem.state).where(ReviewItem.ad_id.in_(chunk))).tuples().all())
        for ad in session.scalars(select(Ad).where(Ad.id.in_(chunk))):
            risk, band = scores.get(ad.id, (None, None))
            rows.append({"ad_id": ad.id, "site": ad.site, "title": services.masked_title(ad.title, spans.get(ad.id, [])),
                         "city": ad.location_raw, "posted_date": ad.posted_date, "first_seen": ad.first_seen.isoformat(),
                         "date": (ad.posted_date or ad.first_seen.date().isoformat())[:10],
                         "risk": risk, "band": band, "state": states.get(ad.id, ad.review_status)})
    rows.sort(key=lambda r: (r["first_seen"], r["ad_id"]), reverse=True)
    return rows


def network_view(session: Session, network_id: int) -> dict[str, Any]:
    """A network's figures, ads (newest first) and ad–contact edges (contacts masked).

    Raises:
        services.NotFound: no network ``network_id``.
    """
    net = session.get(ContactNetwork, network_id)
    if net is None:
        raise services.NotFound(f"no contact network with id {network_id}")
    ad_ids = list(session.scalars(select(AdLink.ad_id).where(AdLink.network_id == network_id).order_by(AdLink.ad_id.desc())
                                  .limit(TABLE_MAX_ADS)))
    ads = _ad_rows(session, ad_ids)
    drawn = {r["ad_id"] for r in ads[:GRAPH_MAX_ADS]}
    from config.settings import get_settings

    types = list(get_settings().linking.contact_types)
    edges: list[tuple[int, int]] = []
    contacts: dict[int, dict[str, Any]] = {}
    ids = sorted(drawn)
    for i in range(0, len(ids), 500):
        for aid, eid, type_, masked in session.execute(
            select(AdEntity.ad_id, Entity.id, Entity.type, Entity.masked).join(Entity, Entity.id == AdEntity.entity_id)
            .where(AdEntity.ad_id.in_(ids[i:i + 500]), AdEntity.type.in_(types))
        ):
            contacts.setdefault(eid, {"entity_id": eid, "type": type_, "masked": masked, "ads": 0})
            if (aid, eid) not in edges:
                edges.append((aid, eid))
                contacts[eid]["ads"] += 1
    return {"network": net, "ads": ads, "drawn": [r for r in ads if r["ad_id"] in drawn],
            "contacts": sorted(contacts.values(), key=lambda c: (-c["ads"], c["entity_id"])), "edges": edges}


def layout(n_nodes: int, edges: list[tuple[int, int]], iterations: int = 120, seed: int = 0) -> np.ndarray:
    """Force-directed positions (Fruchterman and Reingold, 1991) in [0, 1]², deterministic for a seed.

    Args:
        n_nodes: number of nodes.
        edges: ``(i, j)`` node index pairs.
        iterations: cooling steps.
        seed: random start positions' seed.

    Returns:
        An ``(n_nodes, 2)`` array.
    """
    if n_nodes == 0:
        return np.zeros((0, 2))
    if n_nodes == 1:
        return np.array([[0.5, 0.5]])
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-1, 1, (n_nodes, 2))
    k = math.sqrt(4.0 / n_nodes)
    e = np.array(edges, dtype=int).reshape(-1, 2)
    temp = 0.2
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.linalg.norm(delta, axis=-1), 1e-3)
        disp = ((k * k / dist ** 2)[..., None] * delta).sum(axis=1)
        if len(e):
            d = pos[e[:, 0]] - pos[e[:, 1]]
            length = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-3)
            f = d * length / k
            np.add.at(disp, e[:, 0], -f)
            np.add.at(disp, e[:, 1], f)
        disp -= pos * 0.05  # gentle pull to the centre keeps separate parts on the canvas
        norm = np.maximum(np.linalg.norm(disp, axis=1, keepdims=True), 1e-9)
        pos += disp / norm * np.minimum(norm, temp)
        temp *= 0.97
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    return (pos - lo) / np.where(hi - lo > 0, hi - lo, 1.0)


def network_svg(view: dict[str, Any], width: int = 900, height: int = 600) -> str:
    """The network as an SVG graph: ads (circles, filled by band, linked to their page, labelled with
    city and date) and contacts (squares, labelled with their masked form), an edge per mention."""
    ads = view["drawn"]
    contacts = view["contacts"]
    index = {("a", r["ad_id"]): i for i, r in enumerate(ads)}
    index.update({("c", c["entity_id"]): len(ads) + i for i, c in enumerate(contacts)})
    pairs = [(index[("a", a)], index[("c", c)]) for a, c in view["edges"] if ("a", a) in index and ("c", c) in index]
    pos = layout(len(index), pairs)
    m = 70
    xy = [(m + p[0] * (width - 2 * m), 40 + p[1] * (height - 80)) for p in pos]
    net = view["network"]
    label = (f"Contact network {net.id}: {len(ads)} ads drawn of {net.size}, {len(contacts)} contacts, "
             f"cities {', '.join(net.cities) or 'unknown'}")
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="{escape(label)}" class="graph"><title>{escape(label)}</title>')]
    for i, j in pairs:
        out.append(f'<line x1="{xy[i][0]:.1f}" y1="{xy[i][1]:.1f}" x2="{xy[j][0]:.1f}" y2="{xy[j][1]:.1f}" '
                   f'stroke="{EDGE}" stroke-width="1.2"/>')
    for c in contacts:
        x, y = xy[index[("c", c["entity_id"])]]
        out.append(f'<g class="contact-node"><rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="{CONTACT_FILL}">'
                   f'<title>{escape(c["type"])} {escape(c["masked"])}: {c["ads"]} ads</title></rect>'
                   f'<text x="{x:.1f}" y="{y - 11:.1f}" font-size="11" text-anchor="middle" fill="#111">'
                   f'{escape(c["masked"])}</text></g>')
    for r in ads:
        x, y = xy[index[("a", r["ad_id"])]]
        city = r["city"] or "city unknown"
        tip = f'ad {r["ad_id"]}, {r["site"]}, {city}, {r["date"]}' + (f', risk {r["risk"]:.2f}' if r["risk"] is not None else "")
        out.append(f'<a href="/ads/{r["ad_id"]}" class="ad-node"><circle cx="{x:.1f}" cy="{y:.1f}" r="8" '
                   f'fill="{BAND_FILL.get(r["band"], BAND_FILL[None])}" stroke="#fff" stroke-width="1.5">'
                   f'<title>{escape(tip)}</title></circle>'
                   f'<text x="{x:.1f}" y="{y + 20:.1f}" font-size="10" text-anchor="middle" fill="#111">'
                   f'{escape(city.split(",")[0])} · {escape(r["date"])}</text></a>')
    out.append("</svg>")
    return "".join(out)


def cluster_view(session: Session, cluster_id: int) -> dict[str, Any]:
    """A cluster's figures, members, and the representative's shared and varying parts (contacts masked).

    Raises:
        services.NotFound: no cluster ``cluster_id``.
    """
    from linking.templates import template_parts, varying_words

    cluster = session.get(TemplateCluster, cluster_id)
    if cluster is None:
        raise services.NotFound(f"no template cluster with id {cluster_id}")
    ad_ids = list(session.scalars(select(AdLink.ad_id).where(AdLink.cluster_id == cluster_id).order_by(AdLink.ad_id)
                                  .limit(TABLE_MAX_ADS)))
    rep_id = cluster.representative_ad_id if cluster.representative_ad_id in ad_ids else (ad_ids[0] if ad_ids else None)
    others = [a for a in ad_ids if a != rep_id]
    step = max(len(others) // PARTS_SAMPLE, 1)
    sample = others[::step][:PARTS_SAMPLE]
    wanted = [a for a in [rep_id, *sample] if a is not None]
    spans = services.contact_spans(session, wanted)
    texts = {aid: services.mask_text(txt, spans.get(aid, []))
             for aid, txt in session.execute(select(Ad.id, Ad.text).where(Ad.id.in_(wanted)))}
    rep_text = texts.get(rep_id, "") if rep_id is not None else ""
    parts = template_parts(rep_text, [texts[a] for a in sample if a in texts], min_share=SHARED_MIN)
    variations = [{"ad_id": a, "words": varying_words(rep_text, texts[a])[:8]}
                  for a in sample[:VARIATIONS_SHOWN] if a in texts]
    return {"cluster": cluster, "ads": _ad_rows(session, ad_ids), "representative": rep_id, "parts": parts,
            "variations": variations, "sample": len(sample), "shared_min": SHARED_MIN}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def network_json(view: dict[str, Any]) -> dict[str, Any]:
    """:func:`network_view` as JSON for ``GET /api/networks/{id}``: contacts only in masked form
    (no value, no HMAC), titles masked."""
    net = view["network"]
    detail = dict(net.movement_detail or {})
    return {
        "network_id": net.id, "size": net.size, "contacts_count": net.contacts, "sites": list(net.sites or []),
        "cities": list(net.cities or []), "first_seen": _iso(net.first_seen), "last_seen": _iso(net.last_seen),
        "movement": bool(net.movement),
        "movement_detail": {k: detail[k] for k in ("entity_id", "masked", "cities", "from", "to", "rule") if k in detail},
        "boost": round(net.boost, 4), "ads": view["ads"],
        "contacts": [{"entity_id": c["entity_id"], "type": c["type"], "masked": c["masked"], "ads_drawn": c["ads"]}
                     for c in view["contacts"]],
        "edges": [{"ad_id": a, "entity_id": e} for a, e in view["edges"]],
        "edges_cover_newest_ads": GRAPH_MAX_ADS,
    }


def cluster_json(view: dict[str, Any]) -> dict[str, Any]:
    """:func:`cluster_view` as JSON for ``GET /api/clusters/{id}`` (texts with contacts masked)."""
    c = view["cluster"]
    return {
        "cluster_id": c.id, "size": c.size, "first_seen": _iso(c.first_seen), "last_seen": _iso(c.last_seen),
        "representative_ad_id": view["representative"], "members_compared": view["sample"],
        "shared_min": view["shared_min"],
        "parts": [{"text": p.text, "shared": bool(p.shared)} for p in view["parts"]],
        "variations": view["variations"], "ads": view["ads"],
    }


def decide_cluster(session: Session, cluster_id: int, user: Any, decision: str, reason: str, note: str | None,
                   only_undecided: bool = True) -> list[int]:
    """Record ``user``'s decision for every ad of cluster ``cluster_id`` (each through
    :func:`webapp.services.decide`: one decision row and one audit event per ad), plus one
    ``cluster_decision`` audit event.

    Args:
        only_undecided: skip ads whose review state is not ``new``.

    Returns:
        The ids of the ads decided.

    Raises:
        services.NotFound: no such cluster.
        services.BadInput: unknown decision or reason, note too long, or more than
            :data:`CLUSTER_DECISION_MAX` ads.
    """
    if session.get(TemplateCluster, cluster_id) is None:
        raise services.NotFound(f"no template cluster with id {cluster_id}")
    ad_ids = list(session.scalars(select(AdLink.ad_id).where(AdLink.cluster_id == cluster_id).order_by(AdLink.ad_id)))
    if only_undecided:
        states: dict[int, str] = {}
        for i in range(0, len(ad_ids), 500):
            states.update(session.execute(select(Ad.id, Ad.review_status).where(Ad.id.in_(ad_ids[i:i + 500]))).tuples().all())
        ad_ids = [a for a in ad_ids if states.get(a, "new") == "new"]
    if len(ad_ids) > CLUSTER_DECISION_MAX:
        raise services.BadInput(f"cluster {cluster_id} has {len(ad_ids)} ads to decide; at most {CLUSTER_DECISION_MAX} "
                                "at once")
    for aid in ad_ids:
        services.decide(session, aid, user, decision, reason, note)
    audit(session, user.username, "cluster_decision", "template_cluster", str(cluster_id),
          {"decision": services.DECISIONS.get(decision, decision), "reason": reason, "ads": len(ad_ids),
           "only_undecided": only_undecided})
    return ad_ids


# ---------------------------------------------------------------- routes -------------------------
@router.get("/ads/{ad_id}/network")
def ad_network(ad_id: int, db: Db, user: PageUser) -> Response:
    """Redirect to the ad's contact network (404 when it has none)."""
    nid = db.scalar(select(AdLink.network_id).where(AdLink.ad_id == ad_id))
    if nid is None:
        raise HTTPException(404, f"ad {ad_id} is in no contact network (no shared contact, or not linked yet: adwatch link)")
    return RedirectResponse(f"/networks/{nid}?from_ad={ad_id}", status_code=303)


@router.get("/ads/{ad_id}/cluster")
def ad_cluster(ad_id: int, db: Db, user: PageUser) -> Response:
    """Redirect to the ad's template cluster (404 when it has none)."""
    cid = db.scalar(select(AdLink.cluster_id).where(AdLink.ad_id == ad_id))
    if cid is None:
        raise HTTPException(404, f"ad {ad_id} is in no template cluster (no near-duplicate, or not linked yet: adwatch link)")
    return RedirectResponse(f"/clusters/{cid}?from_ad={ad_id}", status_code=303)


@router.get("/networks/{network_id}", response_class=HTMLResponse)
def network_page(network_id: int, request: Request, db: Db, user: PageUser, from_ad: int | None = None) -> Response:
    """A contact network: graph, movement, ads. Audited as ``view_network``. ``from_ad``: the ad the
    user came from (a link back to it)."""
    try:
        view = network_view(db, network_id)
    except services.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    response = render(request, "network.html", {"user": user, "v": view, "svg": Markup(network_svg(view)),
                                                "graph_max": GRAPH_MAX_ADS, "from_ad": _member(view, from_ad)})
    audit(db, user.username, "view_network", "contact_network", str(network_id), {"ads": len(view["ads"])})
    db.commit()
    return response


def _member(view: dict[str, Any], ad_id: int | None) -> int | None:
    """``ad_id`` when it is one of the view's ads (a link back to it), else None."""
    return ad_id if ad_id is not None and any(r["ad_id"] == ad_id for r in view["ads"]) else None


def _cluster_page(request: Request, db: Db, user: Any, cluster_id: int, message: str | None = None,
                  from_ad: int | None = None) -> Response:
    try:
        view = cluster_view(db, cluster_id)
    except services.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    return render(request, "cluster.html", {"user": user, "v": view, "message": message,
                                            "max_decide": CLUSTER_DECISION_MAX, "from_ad": _member(view, from_ad)})


@router.get("/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster_page(cluster_id: int, request: Request, db: Db, user: PageUser, done: int | None = None,
                 from_ad: int | None = None) -> Response:
    """A template cluster: shared and varying text, members, decision for the whole cluster. Audited as ``view_cluster``."""
    msg = None
    if done is not None:
        msg = (f"Decision recorded for {done} {'ad' if done == 1 else 'ads'} (one decision and one audit event each). "
               "Undo works one ad at a time: each undo reverts your newest decision on one ad.")
    response = _cluster_page(request, db, user, cluster_id, msg, from_ad)
    audit(db, user.username, "view_cluster", "template_cluster", str(cluster_id), {})
    db.commit()
    return response


@router.post("/clusters/{cluster_id}/decision")
async def cluster_decision(cluster_id: int, request: Request, db: Db, user: Decider) -> Response:
    """Decide for every (undecided) ad of the cluster; then show the cluster again."""
    form = await checked_form(request)
    try:
        decided = decide_cluster(db, cluster_id, user, str(form.get("decision") or ""), str(form.get("reason") or ""),
                                 str(form.get("note") or "") or None, only_undecided=form.get("all") != "1")
    except services.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except services.BadInput as exc:
        raise HTTPException(422, str(exc)) from exc
    db.commit()
    return RedirectResponse(f"/clusters/{cluster_id}?done={len(decided)}", status_code=303)

