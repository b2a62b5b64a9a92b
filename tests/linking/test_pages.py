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
