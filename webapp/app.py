"""The application factory: :func:`create_app` builds settings-driven state (engine, sessions,
signer, hasher, rate limiter, indicator catalogue) on the app; nothing is built at import time."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from webapp import services
from webapp.deps import LoginRequired, PageForbidden
from webapp.security import LoginLimiter, SessionSigner, make_hasher
from webapp.settings import WebSettings

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def create_app(settings: WebSettings | None = None, *, sessions: sessionmaker[Session] | None = None) -> FastAPI:
    """Build the review app.

    Args:
        settings: web settings (default: ``WebSettings()`` from ``ADWATCH_*`` variables).
        sessions: a ready session factory (tests); default: an engine on ``settings.database_url``
            (migrated to the newest schema by :func:`storage.db.make_engine`).

    Returns:
        The FastAPI application.

    Raises:
        webapp.settings.InsecureSecretError: missing or placeholder ``ADWATCH_SECRET_KEY``, or the
            placeholder ``ADWATCH_HMAC_KEY`` (:data:`config.settings.DEV_HMAC_KEY`), outside dev.
        storage.errors.StorageError: the database cannot be opened or migrated.
    """
    settings = settings or WebSettings()
    secret = settings.check_secret()
    settings.check_hmac_key()
    if sessions is None:
        from storage.db import make_engine, make_session_factory

        sessions = make_session_factory(make_engine(settings.database_url))
    app = FastAPI(title="adwatch review", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Risk-ranked review queue for trained analysts. Bearer tokens: `adwatch users token NAME`.")
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.signer = SessionSigner(secret, settings.session_hours * 3600)
    app.state.hasher = make_hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    app.state.limiter = LoginLimiter(settings.login_max_failures, settings.login_window_seconds)
    app.state.catalog = services.load_catalog(settings.indicators_dir)
    app.state.token_cache = {}
    app.state.sync_lock = threading.Lock()
    app.state.synced_score_id = 0
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR), context_processors=[_page_context])
    templates.env.globals.update(category_label=services.category_label, category_style=services.category_style, reason_codes=services.REASON_CODES,
                                 default_reason=services.DEFAULT_REASON, states=services.STATES,
                                 queue_order=services.QUEUE_ORDER)
    app.state.templates = templates

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        request.state.nonce = secrets.token_urlsafe(16)
        response: Response = await call_next(request)
        nonce = request.state.nonce
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'none'; img-src 'self' data:; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        from urllib.parse import quote

        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(nxt, safe='')}", status_code=303)

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return templates.TemplateResponse(request, "error.html", {
            "status": 403, "message": f"Your role may not {exc.permission.replace('_', ' ')}.",
            "user": getattr(request.state, "user", None)}, status_code=403)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return templates.TemplateResponse(request, "error.html", {
            "status": exc.status_code, "message": str(exc.detail), "user": getattr(request.state, "user", None)},
            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": jsonable_errors(exc)}, status_code=422)
        return templates.TemplateResponse(request, "error.html", {
            "status": 422, "message": "Some input was not valid: " + "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()),
            "user": getattr(request.state, "user", None)}, status_code=422)

    from webapp import api, linking_pages, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(linking_pages.router)
    return app


def _page_context(request: Request) -> dict[str, Any]:
    """Values every page needs: the user, the CSRF token, the CSP nonce and a permission check."""
    from webapp.deps import allowed, read_session

    user = getattr(request.state, "user", None)
    session = getattr(request.state, "session", None) or read_session(request)
    return {"user": user, "csrf": session.csrf if session else "", "nonce": getattr(request.state, "nonce", ""),
            "can": lambda perm: allowed(user, perm)}


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Validation errors without the raw input (which may hold a password or a contact)."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
