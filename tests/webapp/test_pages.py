"""Server-rendered pages: login (CSRF, rate limit, cookie flags), every page for every role,
anonymous visitors see no data, highlighted evidence, masking and reveal, decisions, audit page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.webapp.conftest import (
    NOW,
    PASSWORD,
    PHONE_TEXT,
    audit_rows,
    csrf_of,
    fast_settings,
    login,
)
from webapp.app import create_app
from webapp.settings import ROLES

PAGES = ["/queue", "/dashboard", "/audit", "/export/labels.csv"]


def ad_pages(ads: dict[str, int]) -> list[str]:
    return [f"/ads/{i}" for i in ads.values()]


def test_anonymous_is_sent_to_login_and_sees_no_data(anon, seeded) -> None:
    for path in PAGES + ad_pages(seeded.ads) + ["/"]:
        r = anon.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login") or r.headers["location"] == "/queue"
        assert r.text == ""
    page = anon.get("/queue")  # followed to the login form
    assert page.url.path == "/login" and "Log in" in page.text
    for secret in ("Just turned 18", "placement fee", "demo-classifieds", "0147"):
        assert secret not in page.text
    a = seeded.ads["escort_a"]
    for path in (f"/ads/{a}/reveal", f"/ads/{a}/decision", f"/ads/{a}/claim", "/decisions/undo", "/logout"):
        r = anon.post(path, data={"csrf_token": "x"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path


def test_login_cookie_flags_audit_and_logout(app, db_url) -> None:
    with TestClient(app) as c:
        page = c.get("/login")
        assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=lax" in page.headers["set-cookie"]
        r = c.post("/login", data={"username": "analyst", "password": PASSWORD, "csrf_token": csrf_of(page.text),
                                   "next": "//evil.example.org/"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/queue"  # no open redirect
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        assert [a for a, _, _ in audit_rows(db_url, "login")] == ["analyst"]
        q = c.get("/queue")
        r = c.post("/logout", data={"csrf_token": csrf_of(q.text)}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/queue", follow_redirects=False).status_code == 303
    with TestClient(app, base_url="https://testserver") as c:
        assert "Secure" in c.get("/login").headers["set-cookie"]


def test_login_needs_csrf_and_right_password(app, db_url) -> None:
    with TestClient(app) as c:
        c.get("/login")
        r = c.post("/login", data={"username": "analyst", "password": PASSWORD, "csrf_token": "forged"})
        assert r.status_code == 403
        page = c.get("/login")
        r = c.post("/login", data={"username": "analyst", "password": "wrong password!!", "csrf_token": csrf_of(page.text)})
        assert r.status_code == 401 and "Wrong user name or password" in r.text
        r = c.post("/login", data={"username": "nobody", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
        assert r.status_code == 401
    assert [(a, t) for a, t, _ in audit_rows(db_url, "login_failed")] == [("analyst", "1"), ("nobody", None)]


def test_login_rate_limit(app, db_url) -> None:
    with TestClient(app) as c:
        token = csrf_of(c.get("/login").text)
        for _ in range(app.state.settings.login_max_failures):
            assert c.post("/login", data={"username": "admin", "password": "bad password 123", "csrf_token": token}).status_code == 401
        r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "Too many failed attempts" in r.text
    assert [a for a, _, _ in audit_rows(db_url, "login_throttled")] == ["admin"]
    assert audit_rows(db_url, "login") == []


# role -> pages answering 403
PAGE_FORBIDDEN = {"analyst": {"/audit", "/export/labels.csv"}, "supervisor": {"/export/labels.csv"}, "admin": set(),
                  "researcher": {"/audit"}}


@pytest.mark.parametrize("role", ROLES)
def test_every_page_for_every_role(as_role, seeded, role: str) -> None:
    c = as_role(role)
    for path in PAGES + ad_pages(seeded.ads):
        r = c.get(path)
        expected = 403 if path in PAGE_FORBIDDEN[role] else 200
        assert r.status_code == expected, (role, path)
        if expected == 403:
            assert "Not allowed" in r.text
    a = seeded.ads["escort_a"]
    page = c.get(f"/ads/{a}")
    token = csrf_of(page.text)
    reveal = c.post(f"/ads/{a}/reveal", data={"csrf_token": token})
    decide = c.post(f"/ads/{a}/decision", data={"csrf_token": token, "decision": "escalate", "reason": "possible_minor"},
                    follow_redirects=False)
    if role == "researcher":
        assert reveal.status_code == 403 and decide.status_code == 403
        assert "Reveal contacts" not in page.text and "Contacts stay masked for your role" in page.text
        assert 'id="decision-form"' not in page.text
    else:
        assert reveal.status_code == 200 and PHONE_TEXT in reveal.text
        assert decide.status_code == 303


def test_queue_page_counts_filters_and_masked_titles(as_role, seeded) -> None:
    c = as_role("analyst")
    html = c.get("/queue").text
    assert "new (3)" in html and "confirmed (0)" in html
    rows = re.findall(r'class="row-link" href="/ads/(\d+)"', html)
    assert rows == [str(seeded.ads[k]) for k in ("job_c", "escort_a", "escort_b")]
    html = c.get("/queue", params={"category": "youth"}).text
    assert re.findall(r'class="row-link" href="/ads/(\d+)"', html) == [str(seeded.ads["escort_a"])]
    assert c.get("/queue", params={"date_from": "not-a-date"}).status_code == 422
    c.app.state.settings.page_size = 2  # type: ignore[attr-defined]
    html = c.get("/queue").text
    nxt = re.search(r'href="(/queue\?[^"]*cursor=[^"]+)" rel="next"', html)
    assert nxt
    html2 = c.get(nxt.group(1).replace("&amp;", "&")).text
    assert re.findall(r'class="row-link" href="/ads/(\d+)"', html2) == [str(seeded.ads["escort_b"])]


def test_ad_page_highlights_masks_links_and_audits(as_role, seeded, db_url) -> None:
    c = as_role("researcher")
    a = seeded.ads["escort_a"]
    html = c.get(f"/ads/{a}").text
    mark = re.search(r'<mark class="hl s\d" tabindex="0" data-category="youth" aria-describedby="(tip-\d+)">just turned 18</mark>'
                     r'<span class="tip" role="tooltip" id="\1">(.*?)</span></span><span class="catlabel">youth</span>', html)
    assert mark, "youth span not highlighted with its label and tooltip"
    assert "stated age of 18 or 19" in mark.group(2) and "Source:" in mark.group(2) and "Ibanez" in mark.group(2)
    assert '<span class="catlabel">restricted movement</span>' in html
    assert ".ind:hover .tip, .ind:focus-within .tip" in html  # hover AND keyboard focus show it
    assert PHONE_TEXT not in html and "•••-•••-••••" in html and "+1******0147" in html
    assert f'href="/ads/{seeded.ads["escort_b"]}"' in html and "Houston, TX" in html  # linked by the phone
    assert "http://demo.example.org/demo-classifieds/1" in html and "2026-11-20T12:00:00" in html
    assert [(actor, t) for actor, t, _ in audit_rows(db_url, "view_ad")] == [("researcher", str(a))]


def test_decision_form_csrf_next_ad_and_undo(as_role, seeded, db_url) -> None:
    c = as_role("analyst")
    a = seeded.ads["escort_a"]
    page = c.get(f"/ads/{a}").text
    assert 'id="next-ad"' in page and 'data-default-confirm="indicators_confirmed"' in page
    r = c.post(f"/ads/{a}/decision", data={"decision": "dismiss", "reason": "benign_context"})
    assert r.status_code == 403  # no CSRF token
    r = c.post(f"/ads/{a}/decision", data={"csrf_token": csrf_of(page), "decision": "dismiss",
                                           "reason": "benign_context", "note": "independent worker"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/ads/{seeded.ads['escort_b']}"
    queue = c.get("/queue").text
    assert f'href="/ads/{a}"' not in queue and "dismissed (1)" in queue
    bad = c.post(f"/ads/{a}/decision", data={"csrf_token": csrf_of(page), "decision": "dismiss", "reason": ""})
    assert bad.status_code == 422
    r = c.post("/decisions/undo", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert r.headers["location"] == f"/ads/{a}?done=undo"
    assert f'href="/ads/{a}"' in c.get("/queue").text
    assert [d["decision"] for _, _, d in audit_rows(db_url, "decision")] == ["dismissed"]
    assert len(audit_rows(db_url, "undo_decision")) == 1


def test_supervisor_audit_page_filters(as_role, seeded) -> None:
    c = as_role("supervisor")
    c.get(f"/ads/{seeded.ads['job_c']}")
    html = c.get("/audit", params={"action": "view_ad"}).text
    rows = re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td><td>([^<]+)</td>", html)
    assert rows == [("supervisor", "view_ad")]
    html = c.get("/audit", params={"action": "login"}).text
    assert re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td><td>([^<]+)</td>", html) == [("supervisor", "login")]


def test_dashboard_charts_and_export(as_role, seeded, db_url) -> None:
    c = as_role("researcher")
    html = c.get("/dashboard").text
    assert html.count("<svg") >= 3 and 'role="img"' in html
    assert 'aria-label="Review items per status: new 3, confirmed 0' in html
    from webapp import services

    with c.app.state.sessions() as s:  # type: ignore[attr-defined]
        data = services.dashboard(s, 7, now=NOW + timedelta(days=1))
    assert [(cat, total) for cat, _, total in data["by_category"]][:1] == [("new_in_town", 2)]
    assert {cat: total for cat, _, total in data["by_category"]} == {
        "new_in_town": 2, "restricted_movement": 2, "youth": 1, "recruitment_fee": 1, "work_abroad": 1}
    assert {site: total for site, _, total in data["by_site"]} == {
        "demo-classifieds": 1, "other-classifieds": 1, "demo-jobs": 1}
    assert data["total"][-2] == ("2026-11-20", 3)
    csv = c.get("/export/labels.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "ad_id,label,state,reason,decided_at,ad_type,score_id"
    assert [a for a, _, _ in audit_rows(db_url, "export")] == ["researcher"]


def test_security_headers(as_role) -> None:
    r = as_role("analyst").get("/queue")
    csp = r.headers["content-security-policy"]
    assert "script-src 'nonce-" in csp and "frame-ancestors 'none'" in csp
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp).group(1)
    assert f'<script nonce="{nonce}">' in r.text
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


def test_changed_role_ends_session(app, db_url) -> None:
    with TestClient(app) as c:
        login(c, "analyst")
        assert c.get("/queue").status_code == 200
        from webapp.users import get_user

        with app.state.sessions() as s:
            get_user(s, "analyst").role = "researcher"
            s.commit()
        assert c.get("/queue", follow_redirects=False).status_code == 303


def test_dev_mode_allows_missing_secret(db_url) -> None:
    app = create_app(fast_settings(db_url, secret_key="", dev=True))
    with TestClient(app) as c:
        assert c.get("/login").status_code == 200
