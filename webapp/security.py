"""Passwords (argon2id), signed session cookies, CSRF tokens, login rate limiting and API tokens.

Nothing here holds global state: the signer, hasher and limiter are built by
:func:`webapp.app.create_app` and kept on ``app.state``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SESSION_COOKIE = "adwatch_session"
"""Name of the session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS)."""

TOKEN_PREFIX = "adw_"
"""API tokens look like ``adw_<user id>_<43 random characters>``."""


def make_hasher(time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> PasswordHasher:
    """An argon2id :class:`argon2.PasswordHasher` with the given cost (memory in KiB)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def verify_password(hasher: PasswordHasher, stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; a missing hash still costs one verification
    (against a throw-away hash) so that timing does not tell which user names exist."""
    if not stored_hash:
        try:
            hasher.verify(hasher.hash("timing-equaliser"), password + "x")
        except VerificationError:
            pass
        return False
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def user_fingerprint(password_hash: str | None, role: str, active: bool) -> str:
    """A short digest of what a session depends on: a new password, role or deactivation ends it."""
    return hashlib.sha256(f"{password_hash}|{role}|{active}".encode()).hexdigest()[:16]


@dataclass
class SessionData:
    """The content of a session cookie.

    Attributes:
        user_id: the logged-in user, or None for an anonymous visitor (who still gets a CSRF token
            for the login form).
        csrf: the CSRF token every form POST must echo (``csrf_token`` field).
        issued: UNIX time (seconds) of the login.
        fingerprint: :func:`user_fingerprint` of the user at login.
    """

    user_id: int | None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    issued: float = field(default_factory=time.time)
    fingerprint: str = ""


class SessionSigner:
    """Signs and reads session cookies: ``base64(json).base64(HMAC-SHA256(secret, json))``.

    Args:
        secret: the installation's session secret (``ADWATCH_SECRET_KEY``).
        max_age: seconds a session stays valid after login.
    """

    def __init__(self, secret: str, max_age: float) -> None:
        self._key = hashlib.sha256(b"adwatch-session|" + secret.encode()).digest()
        self.max_age = max_age

    def dumps(self, data: SessionData) -> str:
        """The cookie value for ``data``."""
        payload = json.dumps({"u": data.user_id, "c": data.csrf, "t": data.issued, "f": data.fingerprint},
                             separators=(",", ":")).encode()
        sig = hmac.new(self._key, payload, hashlib.sha256).digest()
        return f"{_b64(payload)}.{_b64(sig)}"

    def loads(self, value: str | None, now: float | None = None) -> SessionData | None:
        """The session in cookie ``value``, or None when it is missing, forged, malformed or expired."""
        if not value or "." not in value:
            return None
        try:
            p64, s64 = value.split(".", 1)
            payload = _unb64(p64)
            if not hmac.compare_digest(hmac.new(self._key, payload, hashlib.sha256).digest(), _unb64(s64)):
                return None
            raw: dict[str, Any] = json.loads(payload)
            data = SessionData(user_id=raw["u"], csrf=str(raw["c"]), issued=float(raw["t"]), fingerprint=str(raw["f"]))
        except (ValueError, KeyError, TypeError):
            return None
        if (now if now is not None else time.time()) - data.issued > self.max_age:
            return None
        return data


def csrf_ok(session: SessionData | None, submitted: str | None) -> bool:
    """True when the form's ``csrf_token`` equals the session's (constant-time comparison)."""
    return bool(session and submitted and hmac.compare_digest(session.csrf, submitted))


class LoginLimiter:
    """Counts failed logins per key (user name, client address) in a sliding window.

    Args:
        max_failures: failures allowed per window before :meth:`retry_after` refuses.
        window: window length in seconds.
        clock: time source (seconds), replaceable in tests.

    Kept in memory per process: one ``adwatch serve`` process is the deployment this targets; a
    multi-process deployment needs a shared store.
    """

    def __init__(self, max_failures: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def retry_after(self, key: str, limit: int | None = None) -> int:
        """Seconds until ``key`` may try again (0: allowed now)."""
        limit = limit or self.max_failures
        with self._lock:
            now = self.clock()
            q = self._recent(key, now)
            if len(q) < limit:
                return 0
            return max(1, int(q[len(q) - limit] + self.window - now + 0.999))

    def fail(self, key: str) -> None:
        """Record a failed attempt for ``key``."""
        with self._lock:
            now = self.clock()
            self._recent(key, now).append(now)

    def reset(self, key: str) -> None:
        """Forget the failures of ``key`` (after a successful login)."""
        with self._lock:
            self._fails.pop(key, None)


def new_api_token(user_id: int) -> str:
    """A new random API token for ``user_id`` (``adw_<id>_<random>``)."""
    return f"{TOKEN_PREFIX}{user_id}_{secrets.token_urlsafe(32)}"


def token_digest(token: str) -> str:
    """Hex SHA-256 of a token: what the database keeps (the token itself is shown once)."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_user_id(token: str) -> int | None:
    """The user id a token claims, or None when it is not shaped like an adwatch token."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    head, _, rest = token[len(TOKEN_PREFIX):].partition("_")
    if not head.isdigit() or len(rest) < 20:
        return None
    return int(head)
