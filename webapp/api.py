"""JSON API under ``/api/`` (bearer tokens: ``adwatch users token NAME``). 401 without a valid
token, 403 for a role that may not do the thing; views, reveals, decisions and exports are audited."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from storage.models import AppUser
from storage.repository import audit
from webapp import services
from webapp.deps import ApiUser, Db, allowed, api_permission, ensure_synced
from webapp.users import get_user

router = APIRouter(prefix="/api", tags=["api"])

Decider = Annotated[AppUser, Depends(api_permission("decide"))]
Revealer = Annotated[AppUser, Depends(api_permission("reveal"))]
Auditor = Annotated[AppUser, Depends(api_permission("audit"))]
Exporter = Annotated[AppUser, Depends(api_permission("export"))]
Viewer = Annotated[AppUser, Depends(api_permission("view"))]


class DecisionIn(BaseModel):
    """Body of ``POST /api/ads/{id}/decision``."""

    decision: Literal["confirm", "dismiss", "escalate", "needs_info"]
    reason: str = Field(..., description="a reason code: " + ", ".join(services.REASON_CODES))
    note: str | None = Field(None, max_length=2000)


class ClaimIn(BaseModel):
    """Body of ``POST /api/ads/{id}/claim``: assign to ``assignee`` (supervisors) or to oneself."""

    assignee: str | None = None


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(404 if isinstance(exc, services.NotFound) else 422, str(exc))


@router.get("/me")
def me(user: ApiUser) -> dict[str, Any]:
    """The token's user."""
    return {"username": user.username, "role": user.role}


@router.get("/queue")
def get_queue(
    request: Request, db: Db, user: Viewer,
    status: str = "new", site: str | None = None, ad_type: str | None = None,
    band: Literal["low", "medium", "high"] | None = None, category: str | None = None,
    date_from: date | None = None, date_to: date | None = None, q: str | None = None,
    assigned: Literal["me", "none"] | None = None, cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Flagged ads, highest ``priority`` first (the risk raised by the ad's contact network; see
    ``order``), filtered; keyset pagination with ``cursor`` (``next_cursor`` of the previous page).
    Titles have contacts masked; for roles that may not reveal contacts, ``q`` matches the masked text."""
    ensure_synced(request, db)
    filters = services.QueueFilters(status=status, site=site, ad_type=ad_type, band=band, category=category,
                                    date_from=date_from, date_to=date_to, q=q, assigned=assigned)
    try:
        page = services.queue_page(db, filters, limit=limit, cursor=cursor, user_id=user.id,
                                    bands=request.app.state.settings.bands, contact_access=allowed(user, "reveal"))
    except services.BadInput as exc:
        raise _bad(exc) from exc
    return {"items": page.rows, "next_cursor": page.next_cursor, "counts": services.status_counts(db),
            "order": services.QUEUE_ORDER}


@router.get("/ads/{ad_id}")
def get_ad(ad_id: int, request: Request, db: Db, user: Viewer) -> dict[str, Any]:
    """One ad: text (contacts masked), indicators with offsets, risk and explanation, entities
    (masked, no HMAC), linked ads, versions, decisions (contacts in notes masked), ``network_id`` and
    ``cluster_id`` (None when the ad has none). Audited as ``view_ad``."""
    try:
        detail = services.ad_detail(db, ad_id, request.app.state.catalog)
    except services.NotFound as exc:
        raise _bad(exc) from exc
    audit(db, user.username, "view_ad", "ad", str(ad_id), {"via": "api"})
    db.commit()
    detail.pop("segments")
    return detail


@router.get("/networks/{network_id}")
def get_network(network_id: int, db: Db, user: Viewer) -> dict[str, Any]:
    """A contact network: figures, movement, ads (masked titles) and contacts (masked forms only),
    ad–contact edges. Audited as ``view_network``."""
    from webapp.linking_pages import network_json, network_view

    try:
        data = network_json(network_view(db, network_id))
    except services.NotFound as exc:
        raise _bad(exc) from exc
    audit(db, user.username, "view_network", "contact_network", str(network_id), {"ads": len(data["ads"]), "via": "api"})
    db.commit()
    return data


@router.get("/clusters/{cluster_id}")
def get_cluster(cluster_id: int, db: Db, user: Viewer) -> dict[str, Any]:
    """A template cluster: figures, representative, shared and varying parts (contacts masked),
    members. Audited as ``view_cluster``."""
    from webapp.linking_pages import cluster_json, cluster_view

    try:
        data = cluster_json(cluster_view(db, cluster_id))
    except services.NotFound as exc:
        raise _bad(exc) from exc
    audit(db, user.username, "view_cluster", "template_cluster", str(cluster_id), {"via": "api"})
    db.commit()
    return data


@router.post("/ads/{ad_id}/reveal")
def reveal(ad_id: int, request: Request, db: Db, user: Revealer) -> dict[str, Any]:
    """The ad with contacts shown. Audited as ``reveal_contacts``; 403 for researchers."""
    try:
        detail = services.ad_detail(db, ad_id, request.app.state.catalog, reveal=True)
    except services.NotFound as exc:
        raise _bad(exc) from exc
    audit(db, user.username, "reveal_contacts", "ad", str(ad_id),
          {"via": "api", "entities": [e["entity_id"] for e in detail["entities"] if e["contact"]]})
    db.commit()
    detail.pop("segments")
    return detail


@router.post("/ads/{ad_id}/decision")
def post_decision(ad_id: int, body: DecisionIn, db: Db, user: Decider) -> dict[str, Any]:
    """Record a decision (confirm, dismiss, escalate, needs_info) with a reason code and note."""
    try:
        row = services.decide(db, ad_id, user, body.decision, body.reason, body.note)
    except (services.NotFound, services.BadInput) as exc:
        raise _bad(exc) from exc
    db.commit()
    return {"ad_id": ad_id, "decision_id": row.id, "state": row.decision, "reason": body.reason}


@router.post("/decisions/undo")
def undo(db: Db, user: Decider) -> dict[str, Any]:
    """Undo the caller's newest standing decision (404 when there is none)."""
    result = services.undo_last(db, user)
    if result is None:
        raise HTTPException(404, "no decision of yours to undo")
    db.commit()
    return result


@router.post("/ads/{ad_id}/claim")
def post_claim(ad_id: int, db: Db, user: Decider, body: ClaimIn | None = None) -> dict[str, Any]:
    """Assign the ad to oneself, or (supervisors, admins) to ``assignee``."""
    assignee = None
    if body and body.assignee and body.assignee != user.username:
        if user.role not in ("supervisor", "admin"):
            raise HTTPException(403, f"role {user.role!r} may only claim for itself")
        assignee = get_user(db, body.assignee)
        if assignee is None or assignee.role not in ("analyst", "supervisor", "admin"):
            raise HTTPException(422, f"no reviewer named {body.assignee!r}")
    try:
        services.claim(db, ad_id, user, assignee)
    except services.NotFound as exc:
        raise _bad(exc) from exc
    db.commit()
    return {"ad_id": ad_id, "assigned_to": (assignee or user).username}


@router.get("/audit")
def get_audit(
    db: Db, user: Auditor, actor: str | None = None, action: str | None = None, target_id: str | None = None,
    date_from: date | None = None, date_to: date | None = None, before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Audit events, newest first (supervisors and admins)."""
    events, nxt = services.audit_page(db, actor=actor, action=action, target_id=target_id, date_from=date_from,
                                      date_to=date_to, before_id=before_id, limit=limit)
    return {"items": events, "next_before_id": nxt}


@router.get("/dashboard")
def get_dashboard(request: Request, db: Db, user: Viewer, days: Annotated[int, Query(ge=1, le=366)] = 30) -> dict[str, Any]:
    """Dashboard figures: flags per day by category and site, queue size, decisions per analyst."""
    ensure_synced(request, db)
    return services.dashboard(db, days)


@router.get("/export/labels")
def export_labels(db: Db, user: Exporter) -> dict[str, Any]:
    """Decisions as training labels (no contact details). Audited as ``export``."""
    labels = services.training_labels(db)
    audit(db, user.username, "export", "labels", None, {"rows": len(labels), "via": "api"})
    db.commit()
    return {"items": labels}
