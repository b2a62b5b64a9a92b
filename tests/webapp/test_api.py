"""JSON API: 401 without a token, 403 for the wrong role, filters and keyset pages, masking,
reveal, decisions, undo, audit and export, for every role."""

from __future__ import annotations

import pytest

from tests.webapp.conftest import PHONE, PHONE_TEXT, audit_rows
from webapp.settings import ROLES

DECISION = {"decision": "confirm", "reason": "indicators_confirmed", "note": "clear youth cues"}


def routes(ads: dict[str, int]) -> list[tuple[str, str, dict | None]]:
    a = ads["escort_a"]
    return [("GET", "/api/me", None), ("GET", "/api/queue", None), ("GET", f"/api/ads/{a}", None),
            ("POST", f"/api/ads/{a}/reveal", None), ("POST", f"/api/ads/{a}/decision", DECISION),
            ("POST", f"/api/ads/{a}/claim", {}), ("POST", "/api/decisions/undo", None), ("GET", "/api/audit", None),
            ("GET", "/api/dashboard", None), ("GET", "/api/export/labels", None)]


# role -> routes (by path suffix) that answer 403
FORBIDDEN = {
    "analyst": {"/api/audit", "/api/export/labels"},
    "supervisor": {"/api/export/labels"},  # export: researcher and admin only (issue #8)
    "researcher": {"/reveal", "/decision", "/claim", "/api/decisions/undo", "/api/audit"},
    "admin": set(),
}


def test_anonymous_gets_401_and_no_data_on_every_api_route(api, seeded) -> None:
    client = api(None)
    for method, path, body in routes(seeded.ads):
        r = client.request(method, path, json=body)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json() == {"detail": "missing or invalid bearer token"}


def test_bad_and_replaced_tokens_get_401(api, app, seeded) -> None:
    client = api(None)
    assert client.get("/api/queue", headers={"Authorization": "Bearer adw_1_" + "x" * 43}).status_code == 401
    assert client.get("/api/queue", headers={"Authorization": "Basic abc"}).status_code == 401
    old = seeded.tokens["analyst"]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {old}"}).json() == {"username": "analyst", "role": "analyst"}
    from webapp.users import get_user, issue_token

    with app.state.sessions() as s:
        new = issue_token(s, get_user(s, "analyst"))
        s.commit()
    app.state.token_cache.clear()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {new}"}).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(api, seeded, role: str) -> None:
    client = api(role)
    for method, path, body in routes(seeded.ads):
        r = client.request(method, path, json=body)
        if any(path.endswith(s) for s in FORBIDDEN[role]):
            assert r.status_code == 403, (role, path)
            assert role in r.json()["detail"]
        elif path == "/api/decisions/undo":
            assert r.status_code == 200, (role, path, r.text)  # the decision two lines up is undone
            assert r.json()["state"] == "new"
        else:
            assert r.status_code == 200, (role, path, r.text)


def test_queue_order_filters_and_keyset_pages(api, seeded) -> None:
    client = api("researcher")
    body = client.get("/api/queue").json()
    ids = [i["ad_id"] for i in body["items"]]
    assert ids == [seeded.ads["job_c"], seeded.ads["escort_a"], seeded.ads["escort_b"]]  # low-band ad not queued
    assert [i["risk"] for i in body["items"]] == [0.9, 0.8, 0.5]
    assert body["counts"] == {"new": 3, "confirmed": 0, "dismissed": 0, "escalated": 0, "needs_info": 0}
    assert body["next_cursor"] is None
    # keyset: one row per page, same order, no repeats
    seen, cursor = [], None
    while True:
        page = client.get("/api/queue", params={"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        seen += [i["ad_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    q = lambda **p: [i["ad_id"] for i in client.get("/api/queue", params=p).json()["items"]]
    assert q(site="other-classifieds") == [seeded.ads["escort_b"]]
    assert q(ad_type="job") == [seeded.ads["job_c"]]
    assert q(band="medium") == [seeded.ads["escort_b"]]
    assert q(category="youth") == [seeded.ads["escort_a"]]
    assert q(q="placement") == [seeded.ads["job_c"]]
    assert q(date_from="2026-11-20", date_to="2026-11-20") == ids
    assert q(date_to="2026-11-19") == []
    assert q(status="confirmed") == []
    assert client.get("/api/queue", params={"cursor": "!!"}).status_code == 422
    assert client.get("/api/queue", params={"status": "bogus"}).status_code == 422


def test_ad_view_masks_contacts_and_is_audited(api, seeded, db_url) -> None:
    a = seeded.ads["escort_a"]
    for role in ROLES:
        body = api(role).get(f"/api/ads/{a}").json()
        assert PHONE_TEXT not in body["text"] and "555" not in body["text"]
        assert body["text"].endswith("Call •••-•••-•••• now.")
        phone = next(e for e in body["entities"] if e["type"] == "phone")
        assert phone["masked"] == "+1******0147" and "value" not in phone
        assert body["revealed"] is False
    body = api("analyst").get(f"/api/ads/{a}").json()
    cats = {h["category"] for h in body["indicators"]}
    assert cats == {"youth", "restricted_movement", "new_in_town"}
    youth = next(h for h in body["indicators"] if h["category"] == "youth")
    assert body["text"][youth["start"]:youth["end"]] == "just turned 18"
    assert "stated age of 18 or 19" in youth["description"] and "Ibanez" in youth["source"]
    assert body["risk"] == 0.8 and body["band"] == "high"
    assert [v["version"] for v in body["versions"]] == [1]
    assert body["fetched_at"].startswith("2026-11-20")
    assert [(l["ad_id"], l["site"], l["city"], l["via"]) for l in body["linked_ads"]] == [
        (seeded.ads["escort_b"], "other-classifieds", "Houston, TX", ["+1******0147"])]
    views = audit_rows(db_url, "view_ad")
    assert [(actor, target) for actor, target, _ in views] == [(r, str(a)) for r in ROLES] + [("analyst", str(a))]


def test_reveal_shows_contacts_for_analyst_only_and_is_audited(api, seeded, db_url) -> None:
    a = seeded.ads["escort_a"]
    r = api("researcher").post(f"/api/ads/{a}/reveal")
    assert r.status_code == 403
    assert audit_rows(db_url, "reveal_contacts") == []
    body = api("analyst").post(f"/api/ads/{a}/reveal").json()
    assert PHONE_TEXT in body["text"]
    assert [e["value"] for e in body["entities"] if e["type"] == "phone"] == [PHONE]
    rows = audit_rows(db_url, "reveal_contacts")
    assert [(actor, target) for actor, target, _ in rows] == [("analyst", str(a))]


def test_decision_leaves_queue_is_audited_and_undone(api, seeded, db_url) -> None:
    analyst = api("analyst")
    a = seeded.ads["escort_a"]
    r = analyst.post(f"/api/ads/{a}/decision", json=DECISION)
    assert r.status_code == 200 and r.json()["state"] == "confirmed"
    new_ids = [i["ad_id"] for i in analyst.get("/api/queue").json()["items"]]
    assert a not in new_ids
    assert [i["ad_id"] for i in analyst.get("/api/queue", params={"status": "confirmed"}).json()["items"]] == [a]
    events = api("supervisor").get("/api/audit", params={"action": "decision"}).json()["items"]
    assert [(e["actor"], e["target_id"], e["details"]["decision"], e["details"]["reason"]) for e in events] == [
        ("analyst", str(a), "confirmed", "indicators_confirmed")]
    detail = analyst.get(f"/api/ads/{a}").json()
    assert detail["review_status"] == "confirmed"
    assert [(d["decision"], d["reason"], d["note"], d["by"]) for d in detail["decisions"]] == [
        ("confirmed", "indicators_confirmed", "clear youth cues", "analyst")]
    labels = api("researcher").get("/api/export/labels").json()["items"]
    assert [(x["ad_id"], x["label"], x["reason"]) for x in labels] == [(a, 1, "indicators_confirmed")]
    assert [actor for actor, _, _ in audit_rows(db_url, "export")] == ["researcher"]
    undo = analyst.post("/api/decisions/undo").json()
    assert undo == {"ad_id": a, "state": "new", "undone": r.json()["decision_id"]}
    assert a in [i["ad_id"] for i in analyst.get("/api/queue").json()["items"]]
    assert analyst.post("/api/decisions/undo").status_code == 404


def test_decision_validation(api, seeded) -> None:
    analyst = api("analyst")
    a = seeded.ads["escort_a"]
    assert analyst.post(f"/api/ads/{a}/decision", json={**DECISION, "decision": "approve"}).status_code == 422
    r = analyst.post(f"/api/ads/{a}/decision", json={**DECISION, "reason": "gut_feeling"})
    assert r.status_code == 422 and "unknown reason code" in r.json()["detail"]
    assert analyst.post("/api/ads/999999/decision", json=DECISION).status_code == 404
    assert analyst.get("/api/ads/999999").status_code == 404


def test_claim_and_assign(api, seeded) -> None:
    a = seeded.ads["job_c"]
    assert api("analyst").post(f"/api/ads/{a}/claim", json={"assignee": "supervisor"}).status_code == 403
    assert api("analyst").post(f"/api/ads/{a}/claim").json() == {"ad_id": a, "assigned_to": "analyst"}
    assert api("supervisor").post(f"/api/ads/{a}/claim", json={"assignee": "admin"}).json()["assigned_to"] == "admin"
    assert api("supervisor").post(f"/api/ads/{a}/claim", json={"assignee": "researcher"}).status_code == 422
    rows = api("admin").get("/api/queue", params={"assigned": "me"}).json()["items"]
    assert [(r["ad_id"], r["assigned_to"]) for r in rows] == [(a, "admin")]


def test_openapi_schema_lists_the_api(anon) -> None:
    paths = anon.get("/openapi.json").json()["paths"]
    assert {"/api/queue", "/api/ads/{ad_id}", "/api/ads/{ad_id}/decision", "/api/audit"} <= set(paths)
    assert not any(p.startswith("/ads") or p == "/queue" for p in paths)


def test_version_history_changes_only_after_reveal(api, app, seeded) -> None:
    from storage.repository import AdRecord, ScoreRecord, upsert_ads
    from tests.webapp.conftest import ESCORT_A, HMAC_KEY

    changed = ESCORT_A.replace("Incall only.", "Incall only, no outcalls.")
    with app.state.sessions() as s:
        upsert_ads(s, [AdRecord("http://demo.example.org/demo-classifieds/1", "http://demo.example.org/demo-classifieds/1",
                                "demo-classifieds", "escort", changed, "f" * 64,
                                score=ScoreRecord("rules-only", 0.8, "high"))], hmac_key=HMAC_KEY)
        s.commit()
    a = seeded.ads["escort_a"]
    body = api("analyst").get(f"/api/ads/{a}").json()
    assert [(v["version"], v["changes"]) for v in body["versions"]] == [(2, []), (1, [])]
    body = api("analyst").post(f"/api/ads/{a}/reveal").json()
    diff = body["versions"][0]["changes"]
    assert diff[:2] == ["--- version 1", "+++ version 2"]
    assert "-Sweet girl just turned 18. Incall only. Call 212-555-0147 now." in diff
    assert "+Sweet girl just turned 18. Incall only, no outcalls. Call 212-555-0147 now." in diff
