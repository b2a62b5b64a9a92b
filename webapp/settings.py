"""Settings of the review web app (``adwatch serve``).

Read from ``ADWATCH_*`` environment variables like :class:`config.settings.AppSettings`; build them
with ``WebSettings()`` (nothing is read at import time). The secret signs session cookies and CSRF
tokens: :meth:`WebSettings.check_secret` refuses a missing or placeholder secret outside development.
:meth:`WebSettings.check_hmac_key` likewise refuses the public development placeholder
``ADWATCH_HMAC_KEY`` (:data:`config.settings.DEV_HMAC_KEY`): with it, anyone can recompute the keyed
HMAC of a guessed phone number and match it against the database or an export.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.settings import CONFIG_DIR, DEV_HMAC_KEY, Bands
from webapp.errors import InsecureSecretError

__all__ = ["MIN_SECRET_LENGTH", "PLACEHOLDER_SECRETS", "ROLES", "InsecureSecretError", "WebSettings"]

ROLES = ("analyst", "supervisor", "researcher", "admin")
"""Roles of the review app. analyst: reviews, decides, reveals contacts (audited). supervisor: an
analyst who also assigns work and reads the audit log. researcher: reads the queue, ads with masked
contacts and the dashboard, exports labels; may not decide or reveal. admin: everything."""

PLACEHOLDER_SECRETS = frozenset({
    "", "secret", "changeme", "change-me", "change_me", "dev", "development", "test", "password",
    "replace-me", "placeholder", "adwatch", "adwatch-secret", "your-secret-key", "insecure",
})
"""Values of ``ADWATCH_SECRET_KEY`` that are refused outside ``--dev``."""

MIN_SECRET_LENGTH = 32
"""Shortest accepted secret (characters); ``python -c 'import secrets; print(secrets.token_urlsafe(32))'`` gives 43."""


class WebSettings(BaseSettings):
    """Settings of the review app.

    Attributes:
        secret_key: ``ADWATCH_SECRET_KEY``; signs session cookies (HMAC-SHA256). At least
            :data:`MIN_SECRET_LENGTH` characters, not a placeholder, unless ``dev``.
        hmac_key: ``ADWATCH_HMAC_KEY``, the key of the contact HMACs the crawler stores (the same
            variable as :attr:`config.settings.AppSettings.hmac_key`). The app only checks it: the
            development placeholder or another placeholder is refused unless ``dev``.
        database_url: ``ADWATCH_DATABASE_URL`` (same database as the crawler).
        dev: development mode (``adwatch serve --dev``): a missing secret is replaced by a random
            per-process one (sessions end at restart); a placeholder is accepted with a warning.
        cookie_secure: force the cookie's ``Secure`` flag on (True) or off (False); ``None``: on
            when the request arrived over HTTPS (behind a proxy: ``X-Forwarded-Proto``, which
            uvicorn honours from ``--forwarded-allow-ips``).
        session_hours: a login lasts this many hours.
        login_max_failures: failed logins per user name within ``login_window_seconds`` before
            further attempts are refused with 429 (per client address: 4 times as many).
        login_window_seconds: the rate-limit window (seconds).
        argon2_time_cost, argon2_memory_kib, argon2_parallelism: argon2id parameters for new
            password hashes (defaults: argon2-cffi's, RFC 9106 "second recommended option" scale).
        page_size: queue rows per page.
        token_cache_seconds: how long a checked API token is trusted without re-reading the
            database (a newly issued token revokes the old one after at most this long).
        indicators_dir: indicator lexicons (descriptions and sources for the highlight hover text).
        bands: risk band thresholds (``ADWATCH_BANDS__MEDIUM``, ``ADWATCH_BANDS__HIGH``, as for the
            scorer); the queue's band filter also seeks by the band's risk range, so re-score after
            changing them.
    """

    model_config = SettingsConfigDict(env_prefix="ADWATCH_", env_nested_delimiter="__", extra="ignore")

    secret_key: str = ""
    hmac_key: str = DEV_HMAC_KEY
    database_url: str = "sqlite:///./adwatch.db"
    dev: bool = False
    cookie_secure: bool | None = None
    session_hours: float = Field(default=12.0, gt=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    page_size: int = Field(default=50, ge=1, le=500)
    token_cache_seconds: float = Field(default=30.0, ge=0)
    indicators_dir: Path = CONFIG_DIR / "indicators"
    bands: Bands = Field(default_factory=lambda: Bands.model_validate({}))

    def check_secret(self) -> str:
        """Return the secret to sign with.

        Returns:
            ``secret_key``; in ``dev`` mode with no secret, a random per-process one.

        Raises:
            InsecureSecretError: the secret is missing, a placeholder (:data:`PLACEHOLDER_SECRETS`,
                or containing "change" / "placeholder"), or shorter than :data:`MIN_SECRET_LENGTH`,
                and ``dev`` is off.
        """
        key = self.secret_key.strip()
        low = key.lower()
        weak = low in PLACEHOLDER_SECRETS or "change" in low or "placeholder" in low or len(key) < MIN_SECRET_LENGTH
        if not weak:
            return key
        if self.dev:
            return key if key else secrets.token_urlsafe(32)
        raise InsecureSecretError(
            "ADWATCH_SECRET_KEY is missing or a placeholder: set it to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters (python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
            "or run with --dev on a development machine"
        )

    def hmac_key_is_placeholder(self) -> bool:
        """True when ``hmac_key`` is :data:`config.settings.DEV_HMAC_KEY`, empty, one of
        :data:`PLACEHOLDER_SECRETS`, or contains "change" / "placeholder"."""
        key = self.hmac_key.strip()
        low = key.lower()
        return key == DEV_HMAC_KEY or low in PLACEHOLDER_SECRETS or "change" in low or "placeholder" in low

    def check_hmac_key(self) -> None:
        """Refuse the placeholder contact HMAC key outside development.

        No length rule: changing the key breaks every stored link, so an installation keeps the key
        it crawled with; only the public placeholder (and obvious placeholders) are refused.

        Raises:
            InsecureSecretError: :meth:`hmac_key_is_placeholder` and ``dev`` is off.
        """
        if self.hmac_key_is_placeholder() and not self.dev:
            raise InsecureSecretError(
                "ADWATCH_HMAC_KEY is missing or the public development placeholder: anyone could recompute "
                "contact HMACs from guessed numbers. Set it to a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))'), the same value for crawls, "
                "`adwatch link`, exports and `adwatch serve` (contacts stored under the old key no longer link "
                "to new ones), or run with --dev on a development machine"
            )
