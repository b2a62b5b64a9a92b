"""Request dependencies: database session, the signed-in user (session cookie for pages, bearer
token for ``/api/``), role checks and CSRF checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from storage.models import AppUser
from webapp import services
from webapp.security import (
    SESSION_COOKIE,
    SessionData,
    csrf_ok,
    token_digest,
    user_fingerprint,
)
from webapp.settings import ROLES
from webapp.users import user_for_token

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "view": ROLES,
    "decide": ("analyst", "supervisor", "admin"),
    "reveal": ("analyst", "supervisor", "admin"),
    "assign_others": ("supervisor", "admin"),
    "audit": ("supervisor", "admin"),
    "export": ("researcher", "admin"),  # as `adwatch export` (issue #8: researcher and admin only)
}
"""Which roles may do what. Researchers read ads with masked contacts and export labels; they may
not decide, claim or reveal contacts. Supervisors and admins also read the audit log."""


def allowed(user: AppUser | None, permission: str) -> bool:
    """True when ``user`` is signed in, active and its role has ``permission``."""
    return user is not None and user.active and user.role in PERMISSIONS[permission]


def get_db(request: Request) -> Iterator[Session]:
    """A Session for one request (routes commit what they change)."""
    with request.app.state.sessions() as session:
        yield session


Db = Annotated[Session, Depends(get_db)]


# ---------------------------------------------------------------- API (bearer tokens) ----------
def _unauthorized(message: str = "missing or invalid bearer token") -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def api_user(request: Request, db: Db) -> AppUser:
    """The user of a valid ``Authorization: Bearer <token>`` header.

    Raises:
        HTTPException: 401 when the header is missing, malformed, or the token is not the user's
            newest or the user is inactive.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized()
    token = token.strip()
    cache: dict[str, tuple[int, float]] = request.app.state.token_cache
    digest = token_digest(token)
    hit = cache.get(digest)
    now = time.monotonic()
    if hit and hit[1] > now:
        user = db.get(AppUser, hit[0])
        if user is not None and user.active:
            return user
    user = user_for_token(db, token)
    if user is None:
        cache.pop(digest, None)
        raise _unauthorized()
    cache[digest] = (user.id, now + request.app.state.settings.token_cache_seconds)
    return user


ApiUser = Annotated[AppUser, Depends(api_user)]


def api_permission(permission: str) -> Callable[..., AppUser]:
    """Dependency: the API user, who must have ``permission`` (else 403)."""

    def dep(user: ApiUser) -> AppUser:
        if not allowed(user, permission):
            raise HTTPException(403, f"role {user.role!r} may not {permission}")
        return user

    return dep


# ---------------------------------------------------------------- pages (session cookie) -------
class LoginRequired(Exception):
    """Raised by page dependencies when nobody is signed in (handled: redirect to /login)."""


class PageForbidden(Exception):
    """Raised when the signed-in role may not open a page (handled: 403 page)."""

    def __init__(self, permission: str) -> None:
        super().__init__(permission)
        self.permission = permission


def read_session(request: Request) -> SessionData | None:
    """The request's valid session cookie, or None."""
    return request.app.state.signer.loads(request.cookies.get(SESSION_COOKIE))


def page_user_optional(request: Request, db: Db) -> AppUser | None:
    """The signed-in user, or None (also None when the account changed since login)."""
    data = read_session(request)
    request.state.session = data
    if data is None or data.user_id is None:
        return None
    user = db.get(AppUser, data.user_id)
    if user is None or not user.active or user_fingerprint(user.password_hash, user.role, user.active) != data.fingerprint:
        return None
    request.state.user = user
    return user


def page_user(request: Request, db: Db) -> AppUser:
    """The signed-in user; raises :class:`LoginRequired` otherwise."""
    user = page_user_optional(request, db)
    if user is None:
        raise LoginRequired()
    return user


PageUser = Annotated[AppUser, Depends(page_user)]


def page_permission(permission: str) -> Callable[..., AppUser]:
    """Dependency: the signed-in user, who must have ``permission`` (else :class:`PageForbidden`)."""

    def dep(user: PageUser) -> AppUser:
        if not allowed(user, permission):
            raise PageForbidden(permission)
        return user

    return dep


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after checking its ``csrf_token`` against the session cookie.

    Raises:
        HTTPException: 403 when the token is missing or wrong.
    """
    form = await request.form()
    token = form.get("csrf_token")
    if not csrf_ok(read_session(request), token if isinstance(token, str) else None):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")
    return form


# ---------------------------------------------------------------- queue sync --------------------
def ensure_synced(request: Request, db: Session) -> None:
    """Bring the review queue up to date with new scores (at most one sync at a time)."""
    state: Any = request.app.state
    lock: threading.Lock = state.sync_lock
    with lock:
        top = services.sync_review_items(db, state.synced_score_id)
        if top != state.synced_score_id:
            db.commit()
            state.synced_score_id = top
