"""Contact networks in the database: built, merged, split and measured incrementally."""

from __future__ import annotations

from itertools import pairwise

import pytest
from sqlalchemy import func, select

import linking
from linking.networks import find_movement, network_ids, normalize_city
from linking.risk import linked_risk, network_boost
from storage.models import ContactNetwork, ReviewItem
from tests.linking.conftest import make_ad, store

P1, P2 = "+12125550147", "+14155550132"
E1 = "lena@example.org"
TEXT = "Sweet girl available tonight, discreet place, call any time"


def test_shared_contacts_form_networks_with_sites_cities_dates(session, settings):
    ids = store(session,
                make_ad(1, TEXT, contacts=[("phone", P1)], city="Dallas, TX", day=0),
                make_ad(2, "Other words entirely here", contacts=[("phone", P1), ("email", E1)], city="Houston, TX", day=5,
                        site="other-classifieds"),
                make_ad(3, "Third ad text is here too", contacts=[("email", E1)], city="houston", day=9),
                make_ad(4, "A lone ad with its own phone", contacts=[("phone", P2)], city="Boston"),
                make_ad(5, "An ad with no contact at all"))
    stats = linking.update(session, settings=settings)
    assert stats.ads == 5
    nets = network_ids(session)
    assert nets[ids[1]] == nets[ids[2]] == nets[ids[3]]
    assert nets[ids[4]] != nets[ids[1]]
    assert ids[5] not in nets
    net = session.get(ContactNetwork, nets[ids[1]])
    assert (net.size, net.contacts) == (3, 2)
    assert net.sites == ["demo-classifieds", "other-classifieds"]
    assert net.cities == ["dallas", "houston"]
    assert net.movement is False  # P1: 2 cities, E1: 1 city
    assert net.boost == pytest.approx(network_boost(3, False))
    # nothing new: nothing done
    assert linking.update(session, settings=settings).ads == 0


def test_movement_appears_when_a_contact_reaches_n_cities_within_t_days(session, settings):
    ids = store(session, make_ad(1, TEXT, contacts=[("phone", P1)], city="Dallas", day=0),
                make_ad(2, TEXT + " now", contacts=[("phone", P1)], city="Houston", day=10))
    linking.update(session, settings=settings)
    first = network_ids(session)[ids[1]]
    assert session.get(ContactNetwork, first).movement is False
    # a city 40 days after the first: outside the 30-day window with Dallas, inside with Houston (2 cities)
    ids |= store(session, make_ad(3, TEXT + " later", contacts=[("phone", P1)], city="Austin", day=40), day=40)
    stats = linking.update(session, settings=settings)
    assert stats.ads == 1
    net = session.get(ContactNetwork, network_ids(session)[ids[3]])
    assert net.id == first and net.size == 3 and net.movement is False
    ids |= store(session, make_ad(4, TEXT + " again", contacts=[("phone", P1)], city="El Paso", day=20), day=20)
    linking.update(session, settings=settings)
    session.expire_all()
    net = session.get(ContactNetwork, first)
    assert net.movement is True
    assert net.movement_detail["cities"] == ["dallas", "el paso", "houston"]  # the first window: days 0, 10, 20
    assert (net.movement_detail["from"], net.movement_detail["to"]) == ("2026-11-01", "2026-11-21")
    assert net.movement_detail["masked"] == "+1******0147"
    assert net.size == 4
    assert net.boost == pytest.approx(1 - (1 - 0.1 * 3 / 19) * (1 - 0.2))


def test_a_bridging_ad_merges_networks_and_its_change_splits_them(session, settings):
    ids = store(session, make_ad(1, TEXT, contacts=[("phone", P1)]), make_ad(2, "Second", contacts=[("phone", P2)]))
    linking.update(session, settings=settings)
    before = network_ids(session)
    assert before[ids[1]] != before[ids[2]]
    ids |= store(session, make_ad(3, "Bridge ad", contacts=[("phone", P1), ("phone", P2)]))
    stats = linking.update(session, settings=settings)
    merged = network_ids(session)
    assert merged[ids[1]] == merged[ids[2]] == merged[ids[3]] == min(before.values())
    assert stats.networks_deleted == 1
    assert session.scalar(select(func.count()).select_from(ContactNetwork)) == 1
    # the bridge ad changes and keeps only P2: the network splits again
    store(session, make_ad(3, "Bridge ad, edited", contacts=[("phone", P2)]))
    stats = linking.update(session, settings=settings)
    assert stats.ads == 1
    after = network_ids(session)
    assert after[ids[2]] == after[ids[3]] != after[ids[1]]
    sizes = sorted(n.size for n in session.scalars(select(ContactNetwork)))
    assert sizes == [1, 2]


def test_network_feeds_the_review_priority_monotonically(session, settings):
    ids = store(session, make_ad(1, TEXT, contacts=[("phone", P1)], risk=0.5),
                make_ad(2, "Another", contacts=[("phone", P1)], risk=0.2))
    from webapp.services import sync_review_items

    sync_review_items(session)
    linking.update(session, settings=settings)
    item = session.scalar(select(ReviewItem).where(ReviewItem.ad_id == ids[1]))
    assert item.priority == pytest.approx(linked_risk(0.5, network_boost(2, False)))
    assert item.priority > 0.5


def test_risk_boost_is_monotone_and_documented_values():
    assert network_boost(1, False) == 0.0
    assert network_boost(20, False) == pytest.approx(0.1)
    assert network_boost(500, False) == pytest.approx(0.1)
    assert network_boost(1, True) == pytest.approx(0.2)
    assert network_boost(20, True) == pytest.approx(1 - 0.9 * 0.8)
    sizes = [network_boost(n, m) for m in (False, True) for n in range(1, 30)]
    assert all(a <= b for a, b in pairwise(sizes[:29]))
    assert linked_risk(0.3, None) == 0.3
    assert linked_risk(0.3, 0.28) == pytest.approx(1 - 0.7 * 0.72)
    assert linked_risk(0.0, network_boost(10_000, True)) < 0.35  # a network alone never reaches the medium band
    with pytest.raises(ValueError, match="size_cap"):
        network_boost(3, False, size_cap=1)


def test_find_movement_windows_and_city_keys():
    from datetime import date

    d = date(2026, 1, 1)
    pts = [(d, "dallas"), (date(2026, 1, 20), "houston"), (date(2026, 3, 1), "austin")]
    assert find_movement(pts, 3, 30) is None
    assert find_movement(pts, 3, 60) is not None and find_movement(pts, 3, 60).cities == ["austin", "dallas", "houston"]
    assert find_movement(pts, 2, 30).end == date(2026, 1, 20)
    assert normalize_city("  Houston ,  TX") == "houston"
    assert normalize_city("") is None
