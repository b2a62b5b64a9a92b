"""Accounts of the review app: create users, set passwords, issue API tokens, authenticate.

The caller owns the Session. An API token is stored only as its SHA-256, in the ``token_issued``
audit event that records its issue; the newest such event of a user is the one valid token (issuing
a new token revokes the previous one).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import AppUser, AuditEvent
from storage.repository import audit
from webapp.errors import UserError
from webapp.security import new_api_token, token_digest, token_user_id
from webapp.settings import ROLES

MIN_PASSWORD_LENGTH = 12
"""Shortest accepted password (NIST SP 800-63B asks for at least 8; 12 for staff accounts)."""


def add_user(session: Session, hasher: PasswordHasher, username: str, role: str, password: str | None = None,
             *, actor: str = "cli", display_name: str | None = None) -> AppUser:
    """Create user ``username`` with ``role`` (and an argon2id hash of ``password`` if given); audited.

    Raises:
        UserError: empty or taken name, unknown role, or password shorter than
            :data:`MIN_PASSWORD_LENGTH`.
    """
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise UserError(f"bad user name {username!r}: 1-100 characters, no spaces")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if session.scalar(select(AppUser.id).where(AppUser.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password for {username!r} is shorter than {MIN_PASSWORD_LENGTH} characters")
    user = AppUser(username=username, role=role, display_name=display_name,
                   password_hash=hasher.hash(password) if password else None, active=True)
    session.add(user)
    session.flush()
    audit(session, actor, "user_add", "app_user", str(user.id), {"username": username, "role": role})
    return user


def get_user(session: Session, username: str) -> AppUser | None:
    """The user named ``username`` or None."""
    return session.scalar(select(AppUser).where(AppUser.username == username))


def issue_token(session: Session, user: AppUser, *, actor: str = "cli") -> str:
    """A new API token for ``user`` (shown once); revokes the previous one. Audited as
    ``token_issued`` with the token's SHA-256 (never the token)."""
    token = new_api_token(user.id)
    audit(session, actor, "token_issued", "app_user", str(user.id), {"token_sha256": token_digest(token)})
    return token


def user_for_token(session: Session, token: str) -> AppUser | None:
    """The active user whose newest issued token is ``token``, else None."""
    uid = token_user_id(token)
    if uid is None:
        return None
    details = session.scalar(select(AuditEvent.details).where(
        AuditEvent.action == "token_issued", AuditEvent.target_type == "app_user", AuditEvent.target_id == str(uid))
        .order_by(AuditEvent.id.desc()).limit(1))
    if not details or details.get("token_sha256") != token_digest(token):
        return None
    user = session.get(AppUser, uid)
    return user if user is not None and user.active else None


def list_users(session: Session) -> list[dict[str, object]]:
    """Every account, by user name: ``{username, role, active, display_name, created_at (ISO 8601),
    has_password, last_login (ISO 8601 or None, from the ``login`` audit events)}``."""
    last = dict(session.execute(
        select(AuditEvent.actor, func.max(AuditEvent.at)).where(AuditEvent.action == "login").group_by(AuditEvent.actor)
    ).tuples().all())
    return [{"username": u.username, "role": u.role, "active": bool(u.active), "display_name": u.display_name,
             "created_at": u.created_at.isoformat() if u.created_at else None, "has_password": u.password_hash is not None,
             "last_login": last[u.username].isoformat() if last.get(u.username) else None}
            for u in session.scalars(select(AppUser).order_by(AppUser.username))]


def set_active(session: Session, user: AppUser, active: bool, *, actor: str = "cli") -> bool:
    """Enable or disable ``user``; audited as ``user_enable`` / ``user_disable`` (also when nothing changes,
    with ``changed: false``). A disabled user cannot sign in; open sessions end at the next request (the
    session fingerprint covers ``active``) and its API token is refused from the next request on
    (:func:`webapp.deps.api_user` re-reads ``active`` even for cached tokens).

    Returns:
        True when the state changed.
    """
    changed = bool(user.active) != active
    user.active = active
    session.flush()
    audit(session, actor, "user_enable" if active else "user_disable", "app_user", str(user.id),
          {"username": user.username, "changed": changed})
    return changed
