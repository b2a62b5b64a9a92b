"""Secret checks, signed session cookies, login rate limiting, API token shape, queue sync."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import ReviewItem
from storage.repository import ScoreRecord, UnscoredAd, add_scores
from tests.webapp.conftest import SECRET, fast_settings
from webapp import services
from webapp.app import create_app
from webapp.security import (
    LoginLimiter,
    SessionData,
    SessionSigner,
    new_api_token,
    token_user_id,
)
from webapp.settings import InsecureSecretError, WebSettings


@pytest.mark.parametrize("secret", ["", "changeme", "please-change-me-0123456789-0123456789", "short-but-random-x9"])
def test_placeholder_or_missing_secret_is_refused(secret: str, db_url: str) -> None:
    with pytest.raises(InsecureSecretError, match="ADWATCH_SECRET_KEY"):
        WebSettings(secret_key=secret).check_secret()
    with pytest.raises(InsecureSecretError):
        create_app(fast_settings(db_url, secret_key=secret))
    assert WebSettings(secret_key=secret, dev=True).check_secret()  # --dev accepts it


def test_real_secret_and_dev_random_secret() -> None:
    assert WebSettings(secret_key=SECRET).check_secret() == SECRET
    a, b = WebSettings(dev=True).check_secret(), WebSettings(dev=True).check_secret()
    assert a != b and len(a) >= 32


def test_session_cookie_signing_tamper_and_expiry() -> None:
    signer = SessionSigner(SECRET, max_age=3600)
    data = SessionData(user_id=7, csrf="tok", issued=1000.0, fingerprint="fp")
    value = signer.dumps(data)
    assert signer.loads(value, now=1000.0 + 3599) == data
    assert signer.loads(value, now=1000.0 + 3601) is None  # expired
    payload, sig = value.split(".")
    forged = SessionSigner(SECRET, 3600).dumps(SessionData(user_id=1, csrf="tok", issued=1000.0, fingerprint="fp"))
    assert signer.loads(forged.split(".")[0] + "." + sig, now=1001.0) is None  # payload swapped
    assert SessionSigner("another-secret-" + "y" * 30, 3600).loads(value, now=1001.0) is None
    for junk in (None, "", "abc", "a.b", payload + ".!!!"):
        assert signer.loads(junk, now=1001.0) is None


def test_login_limiter_window() -> None:
    now = [0.0]
    lim = LoginLimiter(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert lim.retry_after("user:a") == 0
        lim.fail("user:a")
    assert lim.retry_after("user:a") == 60
    assert lim.retry_after("user:b") == 0
    now[0] = 30.0
    assert lim.retry_after("user:a") == 30
    now[0] = 61.0
    assert lim.retry_after("user:a") == 0  # the failures left the window
    lim.fail("user:a")
    lim.reset("user:a")
    assert lim.retry_after("user:a") == 0


def test_api_token_shape() -> None:
    token = new_api_token(42)
    assert token.startswith("adw_42_") and len(token) > 40
    assert token_user_id(token) == 42
    assert token_user_id("adw_x_" + "a" * 43) is None and token_user_id("Bearer") is None


def test_sync_follows_rescoring(app, seeded) -> None:
    """A new score moves an item's priority; an undecided item whose new score is low leaves the queue."""
    with app.state.sessions() as s:
        top = services.sync_review_items(s, 0)
        s.commit()
        items = dict(s.execute(select(ReviewItem.ad_id, ReviewItem.priority)).tuples().all())
        assert items == {seeded.ads["escort_a"]: 0.8, seeded.ads["escort_b"]: 0.5, seeded.ads["job_c"]: 0.9}
        assert services.sync_review_items(s, top) == top  # nothing new
        vid = {ad: ad for ad in seeded.ads.values()}  # ad_version ids equal ad ids in the seeded data
        add_scores(s, [
            (UnscoredAd(seeded.ads["escort_a"], vid[seeded.ads["escort_a"]], "x", "", "escort", {}),
             ScoreRecord("rules-v2", 0.1, "low")),
            (UnscoredAd(seeded.ads["job_c"], vid[seeded.ads["job_c"]], "x", "", "job", {}),
             ScoreRecord("rules-v2", 0.7, "high")),
            (UnscoredAd(seeded.ads["job_low"], vid[seeded.ads["job_low"]], "x", "", "job", {}),
             ScoreRecord("rules-v2", 0.4, "medium")),
        ])
        assert services.sync_review_items(s, top) > top
        items = dict(s.execute(select(ReviewItem.ad_id, ReviewItem.priority)).tuples().all())
        assert items == {seeded.ads["escort_b"]: 0.5, seeded.ads["job_c"]: 0.7, seeded.ads["job_low"]: 0.4}


def test_mask_text_keeps_offsets() -> None:
    text = "Call 212-555-0147 or x@example.org."
    masked = services.mask_text(text, [(5, 17), (21, 34)])
    assert masked == "Call •••-•••-•••• or •@•••••••.•••."
    assert len(masked) == len(text)
