"""Network and cluster pages of the review app (contacts masked, every cluster decision audited per ad)."""

from __future__ import annotations

import re

from sqlalchemy import select

import linking
from config.settings import AppSettings
from storage.db import make_engine, make_session_factory
from storage.models import AdLink, Decision
from storage.repository import upsert_ads
from tests.linking.conftest import HMAC_KEY, make_ad
from tests.webapp.conftest import PHONE, PHONE_TEXT, audit_rows, csrf_of
from webapp.linking_pages import layout

TEMPLATE = ("Hiring hostesses for a busy club in {city}. Free housing and high pay, no experience needed. "
            "Travel is paid by the agency and the manager keeps your passport safe. Ask for {name} today.")


def _link(db_url: str, extra: int = 0) -> dict[str, int]:
    """Add ``extra`` templated ads to the seeded database and link everything."""
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine).begin() as s:
            if extra:
                upsert_ads(s, [make_ad(100 + i, TEMPLATE.format(city=["Dallas", "Houston", "Austin"][i % 3],
                                                                  name=["Anna", "Maria"][i % 2]),
                                       contacts=[("phone", f"+1212555{150 + i:04d}")], city="Dallas") for i in range(extra)],
                           hmac_key=HMAC_KEY)
            linking.update(s, settings=AppSettings(hmac_key="test-hmac-key"))
            return {f"{k}": v for k, v in s.execute(select(AdLink.ad_id, AdLink.cluster_id)).tuples()}
    finally:
        engine.dispose()


def test_network_page_draws_ads_and_contacts_masked(db_url, seeded, as_role):
    _link(db_url)
    client = as_role("researcher")
    r = client.get(f"/ads/{seeded.ads['escort_a']}/network", follow_redirects=True)
    assert r.status_code == 200
    html = r.text
    assert 'id="net-size">2<' in html
    assert "dallas, houston" in html
    assert html.count('class="ad-node"') == 2
    assert html.count('class="contact-node"') == 1
    assert "Dallas · " in html and "Houston · " in html
    assert PHONE not in html and PHONE_TEXT not in html and "+1******0147" in html
    assert re.search(r'<svg [^>]*role="img"', html)
    assert [row[0] for row in audit_rows(db_url, "view_network")] == ["researcher"]
    assert client.get(f"/ads/{seeded.ads['job_c']}/network").status_code == 404


def test_cluster_page_and_decision_for_the_whole_cluster(db_url, seeded, as_role):
    _link(db_url, extra=4)
    engine = make_engine(db_url)
    with make_session_factory(engine)() as s:
        members = list(s.scalars(select(AdLink.ad_id).where(AdLink.cluster_id.is_not(None)).order_by(AdLink.ad_id)))
        cid = s.scalar(select(AdLink.cluster_id).where(AdLink.ad_id == members[0]))
    engine.dispose()
    assert len(members) == 4
    researcher = as_role("researcher")
    page = researcher.get(f"/clusters/{cid}")
    assert page.status_code == 200
    assert 'id="cluster-size">4<' in page.text
    assert '<mark class="vary">' in page.text and "Free housing and high pay" in page.text
    assert "cluster-decision-form" not in page.text  # researchers may not decide
    analyst = as_role("analyst")
    page = analyst.get(f"/ads/{members[1]}/cluster", follow_redirects=True)
    r = analyst.post(f"/clusters/{cid}/decision", data={"csrf_token": csrf_of(page.text), "decision": "escalate",
                                                         "reason": "linked_known_case", "note": "same template"},
                     follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/clusters/{cid}?done=4"
    decisions = [row for row in audit_rows(db_url, "decision") if int(row[1]) in members]
    assert sorted(int(t) for _, t, _ in decisions) == members
    assert {d["decision"] for _, _, d in decisions} == {"escalated"}
    bulk = audit_rows(db_url, "cluster_decision")
    assert bulk == [("analyst", str(cid), {"decision": "escalated", "reason": "linked_known_case", "ads": 4,
                                           "only_undecided": True})]
    engine = make_engine(db_url)
    with make_session_factory(engine)() as s:
        assert len(list(s.scalars(select(Decision)))) == 4
    engine.dispose()
    # again: every ad is decided now, so nothing more is recorded
    r = analyst.post(f"/clusters/{cid}/decision", data={"csrf_token": csrf_of(page.text), "decision": "dismiss",
                                                         "reason": "benign_context"}, follow_redirects=False)
    assert r.headers["location"] == f"/clusters/{cid}?done=0"


def test_layout_is_deterministic_and_inside_the_unit_square():
    edges = [(0, 3), (1, 3), (2, 4), (1, 4)]
    a, b = layout(5, edges), layout(5, edges)
    assert (a == b).all() and a.shape == (5, 2)
    assert a.min() >= 0.0 and a.max() <= 1.0


# ---------------------------------------------------------------- trial 8: findings 11-15 --------
def _ids(db_url: str) -> dict[int, tuple[int | None, int | None]]:
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as s:
            return {a: (n, c) for a, n, c in s.execute(select(AdLink.ad_id, AdLink.network_id, AdLink.cluster_id))}
    finally:
        engine.dispose()


def test_queue_shows_and_sorts_by_network_priority(db_url, seeded, api, as_role):
    from linking.risk import linked_risk, network_boost

    _link(db_url)
    a, b, c = seeded.ads["escort_a"], seeded.ads["escort_b"], seeded.ads["job_c"]
    body = api("researcher").get("/api/queue").json()
    boost = network_boost(2, False)  # escort a and b share a phone: two ads, Dallas and Houston (no movement)
    assert round(boost, 6) == 0.005263
    rows = {i["ad_id"]: (i["risk"], i["priority"]) for i in body["items"]}
    assert rows == {c: (0.9, 0.9), a: (0.8, round(linked_risk(0.8, boost), 4)), b: (0.5, round(linked_risk(0.5, boost), 4))}
    assert rows[a] == (0.8, 0.8011) and rows[b] == (0.5, 0.5026)
    assert [i["ad_id"] for i in body["items"]] == [c, a, b]
    assert body["order"].startswith("highest priority first: priority = 1 − (1 − risk)(1 − network boost)")
    html = as_role("researcher").get("/queue").text
    assert '<p id="queue-order">Order: highest priority first' in html
    assert '<th scope="col">Priority</th><th scope="col">Risk</th>' in html
    assert '<td class="priority">0.80 <span class="keys">(network)</span></td><td>0.80</td>' in html
    assert '<td class="priority">0.90</td><td>0.90</td>' in html
    assert "highest risk first" not in html


def test_ad_page_and_api_link_network_and_cluster_only_when_present(db_url, seeded, api, as_role):
    a, c = seeded.ads["escort_a"], seeded.ads["job_c"]
    client = as_role("researcher")
    before = client.get(f"/ads/{a}").text  # not linked yet
    assert 'id="network-link"' not in before and 'id="cluster-link"' not in before
    assert "in no contact network and no template cluster yet (run <code>adwatch link</code>)" in before
    assert api("researcher").get(f"/api/ads/{a}").json()["network_id"] is None
    _link(db_url)
    nid = _ids(db_url)[a][0]
    assert nid is not None and _ids(db_url)[a][1] is None  # a network, no cluster
    body = api("researcher").get(f"/api/ads/{a}").json()
    assert (body["network_id"], body["cluster_id"]) == (nid, None)
    html = client.get(f"/ads/{a}").text
    assert f'<a id="network-link" href="/networks/{nid}?from_ad={a}">Contact network {nid} (graph)</a>' in html
    assert 'id="cluster-link"' not in html
    job = client.get(f"/ads/{c}").text
    assert 'id="network-link"' not in job and 'id="cluster-link"' not in job
    assert '<p class="keys" id="no-links">This ad is in no contact network and no template cluster.</p>' in job
    assert api("researcher").get(f"/api/ads/{c}").json()["network_id"] is None
    # the network page links back to the ad the user came from (and only to a member)
    page = client.get(f"/ads/{a}/network", follow_redirects=True)
    assert str(page.url).endswith(f"/networks/{nid}?from_ad={a}")
    assert f'<a id="back-to-ad" href="/ads/{a}">← back to ad {a}</a>' in page.text
    assert 'id="back-to-ad"' not in client.get(f"/networks/{nid}?from_ad={c}").text


def test_network_and_cluster_json_api_masks_contacts(db_url, seeded, api):
    links = _link(db_url, extra=3)
    a, b = seeded.ads["escort_a"], seeded.ads["escort_b"]
    nid = _ids(db_url)[a][0]
    net = api("researcher").get(f"/api/networks/{nid}")
    assert net.status_code == 200
    data = net.json()
    assert PHONE not in net.text and PHONE_TEXT not in net.text and "hmac" not in net.text
    assert (data["network_id"], data["size"], data["contacts_count"], data["movement"]) == (nid, 2, 1, False)
    assert data["cities"] == ["dallas", "houston"] and data["sites"] == ["demo-classifieds", "other-classifieds"]
    assert sorted(r["ad_id"] for r in data["ads"]) == [a, b]
    assert [(c["type"], c["masked"], c["ads_drawn"]) for c in data["contacts"]] == [("phone", "+1******0147", 2)]
    eid = data["contacts"][0]["entity_id"]
    assert sorted(data["edges"], key=lambda e: e["ad_id"]) == [{"ad_id": a, "entity_id": eid}, {"ad_id": b, "entity_id": eid}]
    assert [t for actor, t, d in audit_rows(db_url, "view_network") if d.get("via") == "api"] == [str(nid)]
    cid = next(v for v in links.values() if v is not None)
    members = sorted(int(k) for k, v in links.items() if v == cid)
    clus = api("researcher").get(f"/api/clusters/{cid}")
    cdata = clus.json()
    assert (cdata["cluster_id"], cdata["size"], cdata["members_compared"], cdata["shared_min"]) == (cid, 3, 2, 0.8)
    assert cdata["representative_ad_id"] in members and sorted(r["ad_id"] for r in cdata["ads"]) == members
    assert "".join(p["text"] for p in cdata["parts"]).startswith("Hiring hostesses for a busy club in")
    assert any(not p["shared"] for p in cdata["parts"]) and any(p["shared"] for p in cdata["parts"])
    assert "+1212555" not in clus.text and "555-01" not in clus.text
    assert api("researcher").get("/api/networks/999999").status_code == 404
    assert api("researcher").get("/api/clusters/999999").json() == {"detail": "no template cluster with id 999999"}
    assert api(None).get(f"/api/networks/{nid}").status_code == 401


def test_cluster_page_wording_for_small_and_cut_samples(db_url, seeded, as_role):
    links = _link(db_url, extra=13)
    cid = next(v for v in links.values() if v is not None)
    members = sorted(int(k) for k, v in links.items() if v == cid)
    assert len(members) == 13
    analyst = as_role("analyst")
    page = analyst.get(f"/ads/{members[2]}/cluster", follow_redirects=True).text
    assert ("Compared with 12 other members: plain text is in at least 80% of them; "
            '<mark class="vary">marked text (dashed underline)</mark> varies between ads.') in page
    assert ('<p class="keys" id="varies-legend">10 of the 12 other members, with up to 8 of its words that are '
            "not in the representative.</p>") in page
    assert f'<a id="back-to-ad" href="/ads/{members[2]}">' in page
    assert "<strong>Undo works per ad:</strong>" in page and "takes N undos" in page
    r = analyst.post(f"/clusters/{cid}/decision", data={"csrf_token": csrf_of(page), "decision": "dismiss",
                                                         "reason": "benign_context"}, follow_redirects=True)
    assert ("Decision recorded for 13 ads (one decision and one audit event each). Undo works one ad at a time: "
            "each undo reverts your newest decision on one ad.") in r.text


def test_cluster_page_wording_with_one_other_member(db_url, seeded, as_role):
    links = _link(db_url, extra=2)
    cid = next(v for v in links.values() if v is not None)
    page = as_role("researcher").get(f"/clusters/{cid}").text
    assert "Compared with the one other member: plain text is in both" in page
    assert "at least 80% of the 1 members" not in page
    assert '<p class="keys" id="varies-legend">Each other member, with up to 8' in page
