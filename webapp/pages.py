"""Server-rendered pages (Jinja2, plain forms, a little vanilla JavaScript for keyboard shortcuts).

Every form POST carries the session's CSRF token (:func:`webapp.deps.checked_form`)."""

from __future__ import annotations

import csv
import io
import time
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from storage.models import AppUser
from storage.repository import audit
from webapp import charts, services
from webapp.deps import (
    Db,
    PageUser,
    allowed,
    checked_form,
    ensure_synced,
    page_permission,
    page_user_optional,
    read_session,
)
from webapp.security import (
    SESSION_COOKIE,
    SessionData,
    csrf_ok,
    user_fingerprint,
    verify_password,
)
from webapp.users import get_user

router = APIRouter(include_in_schema=False)

Decider = Annotated[AppUser, Depends(page_permission("decide"))]
Revealer = Annotated[AppUser, Depends(page_permission("reveal"))]
Auditor = Annotated[AppUser, Depends(page_permission("audit"))]
Exporter = Annotated[AppUser, Depends(page_permission("export"))]


def _secure(request: Request) -> bool:
    forced = request.app.state.settings.cookie_secure
    return forced if forced is not None else request.url.scheme == "https"


def _set_session(request: Request, response: Response, data: SessionData) -> None:
    response.set_cookie(SESSION_COOKIE, request.app.state.signer.dumps(data), httponly=True, samesite="lax",
                        secure=_secure(request), path="/", max_age=int(request.app.state.signer.max_age))


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render template ``name`` with the user, CSRF token, CSP nonce and permission helper."""
    request.state.user = context.get("user")
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status_code)


def _safe_next(nxt: str | None) -> str:
    return nxt if nxt and nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt else "/queue"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ---------------------------------------------------------------- login ------------------------
@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    """The queue is the home page."""
    return RedirectResponse("/queue", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, db: Db, next: str | None = None) -> Response:
    """The login form; gives an anonymous visitor a session cookie holding a CSRF token."""
    user = page_user_optional(request, db)
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    session = read_session(request)
    fresh = session is None
    if session is None:
        session = SessionData(user_id=None)
    request.state.session = session
    response = render(request, "login.html", {"user": None, "next": _safe_next(next), "error": None})
    if fresh:
        _set_session(request, response, session)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, db: Db) -> Response:
    """Check CSRF, the rate limit and the password; on success start a new session (audited)."""
    form = await request.form()
    session = read_session(request)
    token = form.get("csrf_token")
    if not csrf_ok(session, token if isinstance(token, str) else None):
        raise HTTPException(403, "CSRF token missing or wrong: reload the login page and try again")
    username = str(form.get("username") or "").strip()[:100]
    password = str(form.get("password") or "")
    nxt = _safe_next(str(form.get("next") or ""))
    limiter = request.app.state.limiter
    ukey, ikey = f"user:{username.lower()}", f"ip:{_client(request)}"
    wait = max(limiter.retry_after(ukey), limiter.retry_after(ikey, limiter.max_failures * 4))
    if wait:
        audit(db, username or "(empty)", "login_throttled", "app_user", None, {"client": _client(request)})
        db.commit()
        resp = render(request, "login.html", {"user": None, "next": nxt,
                                              "error": f"Too many failed attempts. Try again in {wait} seconds."}, 429)
        resp.headers["Retry-After"] = str(wait)
        return resp
    user = get_user(db, username) if username else None
    ok = verify_password(request.app.state.hasher, user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        limiter.fail(ukey)
        limiter.fail(ikey)
        audit(db, username or "(empty)", "login_failed", "app_user", str(user.id) if user else None, {"client": _client(request)})
        db.commit()
        return render(request, "login.html", {"user": None, "next": nxt,
                                              "error": "Wrong user name or password."}, 401)
    limiter.reset(ukey)
    audit(db, user.username, "login", "app_user", str(user.id), {"client": _client(request)})
    db.commit()
    response = RedirectResponse(nxt, status_code=303)
    _set_session(request, response, SessionData(user_id=user.id, fingerprint=user_fingerprint(user.password_hash, user.role, user.active)))
    return response


@router.post("/logout")
async def logout(request: Request, db: Db, user: PageUser) -> Response:
    """End the session (audited)."""
    await checked_form(request)
    audit(db, user.username, "logout", "app_user", str(user.id))
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- queue ------------------------
def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise HTTPException(422, f"bad date {value!r}: use YYYY-MM-DD") from exc


FILTER_OPTIONS_TTL = 300.0
"""Seconds the queue's filter menus (sites, ad types, categories: full-index scans at 1M ads) are cached."""


def _filter_options(request: Request, db: Db) -> dict[str, list[str]]:
    cached = getattr(request.app.state, "filter_options", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > FILTER_OPTIONS_TTL:
        cached = (now, services.filter_options(db))
        request.app.state.filter_options = cached
    return cached[1]


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, db: Db, user: PageUser, status: str = "new", site: str | None = None,
          ad_type: str | None = None, band: str | None = None, category: str | None = None,
          date_from: str | None = None, date_to: str | None = None, q: str | None = None,
          assigned: str | None = None, cursor: str | None = None) -> Response:
    """The queue: flagged ads by priority (risk raised by the contact network) with filters, counts
    per status and keyset pages."""
    ensure_synced(request, db)
    filters = services.QueueFilters(status=status or "new", site=site or None, ad_type=ad_type or None,
                                    band=band or None, category=category or None, date_from=_date(date_from),
                                    date_to=_date(date_to), q=q or None, assigned=assigned or None)
    try:
        page = services.queue_page(db, filters, limit=request.app.state.settings.page_size, cursor=cursor or None,
                                   user_id=user.id, bands=request.app.state.settings.bands,
                                   contact_access=allowed(user, "reveal"))
    except services.BadInput as exc:
        raise HTTPException(422, str(exc)) from exc
    args = filters.query_args()
    next_url = "/queue?" + urlencode({**args, "cursor": page.next_cursor}) if page.next_cursor else None
    return render(request, "queue.html", {
        "user": user, "page": page, "filters": filters, "counts": services.status_counts(db),
        "options": _filter_options(request, db), "next_url": next_url, "first_page": not cursor,
        "status_url": lambda s: "/queue?" + urlencode({**{k: v for k, v in args.items() if k != "status"}, "status": s}),
    })


# ---------------------------------------------------------------- ad page ----------------------
def _ad_page(request: Request, db: Db, user: AppUser, ad_id: int, *, reveal: bool, message: str | None = None) -> Response:
    ensure_synced(request, db)
    try:
        detail = services.ad_detail(db, ad_id, request.app.state.catalog, reveal=reveal)
    except services.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    prev_id, next_id = services.neighbours(db, ad_id)
    reviewers: list[AppUser] = []
    if allowed(user, "assign_others"):
        from sqlalchemy import select

        reviewers = list(db.scalars(select(AppUser).where(AppUser.active.is_(True),
                                                          AppUser.role.in_(("analyst", "supervisor", "admin")))
                                    .order_by(AppUser.username)))
    return render(request, "ad.html", {"user": user, "ad": detail, "prev_id": prev_id, "next_id": next_id,
                                       "reviewers": reviewers, "message": message})


@router.get("/ads/{ad_id}", response_class=HTMLResponse)
def ad_page(ad_id: int, request: Request, db: Db, user: PageUser, done: str | None = None) -> Response:
    """One ad with highlighted evidence. Audited as ``view_ad``."""
    response = _ad_page(request, db, user, ad_id, reveal=False,
                        message={"undo": "Decision undone."}.get(done or "", None))
    audit(db, user.username, "view_ad", "ad", str(ad_id), {"via": "page"})
    db.commit()
    return response


@router.post("/ads/{ad_id}/reveal", response_class=HTMLResponse)
async def reveal(ad_id: int, request: Request, db: Db, user: Revealer) -> Response:
    """The ad page with contacts shown (audited as ``reveal_contacts``; 403 for researchers)."""
    await checked_form(request)
    response = _ad_page(request, db, user, ad_id, reveal=True, message="Contacts revealed: this view is recorded in the audit log.")
    audit(db, user.username, "reveal_contacts", "ad", str(ad_id), {"via": "page"})
    db.commit()
    return response


@router.post("/ads/{ad_id}/decision")
async def decision(ad_id: int, request: Request, db: Db, user: Decider) -> Response:
    """Record a decision from the ad page's form, then go to the next ad in the queue."""
    form = await checked_form(request)
    ensure_synced(request, db)
    _, next_id = services.neighbours(db, ad_id)
    try:
        services.decide(db, ad_id, user, str(form.get("decision") or ""), str(form.get("reason") or ""),
                        str(form.get("note") or "") or None)
    except services.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except services.BadInput as exc:
        raise HTTPException(422, str(exc)) from exc
    db.commit()
    return RedirectResponse(f"/ads/{next_id}" if next_id else "/queue", status_code=303)


@router.post("/ads/{ad_id}/claim")
async def claim(ad_id: int, request: Request, db: Db, user: Decider) -> Response:
    """Assign the ad to oneself, or (supervisors) to the chosen reviewer."""
    form = await checked_form(request)
    assignee = None
    name = str(form.get("assignee") or "")
    if name and name != user.username:
        if not allowed(user, "assign_others"):
            raise HTTPException(403, "Your role may only claim ads for yourself.")
        assignee = get_user(db, name)
        if assignee is None:
            raise HTTPException(422, f"no user named {name!r}")
    try:
        services.claim(db, ad_id, user, assignee)
    except services.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    db.commit()
    return RedirectResponse(f"/ads/{ad_id}", status_code=303)


@router.post("/decisions/undo")
async def undo(request: Request, db: Db, user: Decider) -> Response:
    """Undo one's newest standing decision and open that ad."""
    await checked_form(request)
    result = services.undo_last(db, user)
    if result is None:
        raise HTTPException(404, "You have no decision to undo.")
    db.commit()
    return RedirectResponse(f"/ads/{result['ad_id']}?done=undo", status_code=303)


# ---------------------------------------------------------------- audit, dashboard, export -----
@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, db: Db, user: Auditor, actor: str | None = None, action: str | None = None,
              target_id: str | None = None, date_from: str | None = None, date_to: str | None = None,
              before_id: int | None = None) -> Response:
    """The audit log with filters (supervisors, admins)."""
    events, nxt = services.audit_page(db, actor=actor or None, action=action or None, target_id=target_id or None,
                                      date_from=_date(date_from), date_to=_date(date_to), before_id=before_id)
    args = {k: v for k, v in {"actor": actor, "action": action, "target_id": target_id, "date_from": date_from,
                              "date_to": date_to}.items() if v}
    return render(request, "audit.html", {
        "user": user, "events": events, "actions": services.audit_actions(db), "f": args,
        "next_url": "/audit?" + urlencode({**args, "before_id": nxt}) if nxt else None})


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, db: Db, user: PageUser, days: int = 30) -> Response:
    """Charts: flags per day (total, by category, by site), queue size, decisions per analyst."""
    ensure_synced(request, db)
    days = min(max(days, 1), 366)
    data = services.dashboard(db, days)
    svg = {
        "total": Markup(charts.column_chart(f"Flagged ads per day, last {days} days", data["total"])),
        "categories": [Markup(charts.column_chart(services.category_label(c), s, width=320, height=120)) for c, s, _ in data["by_category"][:12]],
        "sites": [Markup(charts.column_chart(site, s, width=320, height=120)) for site, s, _ in data["by_site"][:8]],
        "queue": Markup(charts.bar_list("Review items per status", list(data["queue"].items()))),
        "analysts": Markup(charts.bar_list(f"Decisions per analyst, last {days} days", data["decisions_per_analyst"])),
    }
    return render(request, "dashboard.html", {"user": user, "data": data, "svg": svg})


@router.get("/export/labels.csv")
def export_labels(db: Db, user: Exporter) -> Response:
    """Decisions as training labels, CSV (no contact details). Audited as ``export``."""
    rows = services.training_labels(db)
    audit(db, user.username, "export", "labels", None, {"rows": len(rows), "via": "page"})
    db.commit()
    buf = io.StringIO()
    fields = ["ad_id", "label", "state", "reason", "decided_at", "ad_type", "score_id"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return Response(buf.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="adwatch-labels.csv"'})
