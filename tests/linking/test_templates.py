"""Template clusters: MinHash LSH near-duplicates, joined incrementally across runs and sessions."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

import linking
from linking.templates import (
    TemplateIndex,
    cluster_ids,
    cluster_texts,
    decode_signature,
    encode_signature,
    shingles,
    template_parts,
    varying_words,
)
from storage.models import AdLink, TemplateCluster
from tests.linking.conftest import make_ad, store

TEMPLATE = ("Hiring hostesses for a busy club in {city}. Free housing and high pay, no experience needed. "
            "Travel is paid by the agency and the manager keeps your passport safe. Ask for {name} today.")
OTHER = "Experienced accountant wanted for a mid-size firm, three years of audit work and a degree required."


def _t(i: int) -> str:
    return TEMPLATE.format(city=["Dallas", "Houston", "Austin", "Denver"][i % 4], name=["Anna", "Maria", "Lia"][i % 3])


def test_shingles_fold_case_and_digits():
    assert shingles("Call 212 555 0147 NOW", 3) == {b"call 000 000", b"000 000 0000", b"000 0000 now"}
    assert shingles("two words", 3) == {b"two words"}
    assert shingles("", 3) == set()


def test_in_memory_clusters_group_templates_only():
    texts = [(i, _t(i)) for i in range(6)] + [(10, OTHER), (11, OTHER.replace("mid-size", "large")), (12, "Bike for sale")]
    out = cluster_texts(texts, TemplateIndex())
    assert {out[i] for i in range(6)} == {0}
    assert out[10] == out[11] == 10
    assert 12 not in out


def test_signature_round_trip():
    idx = TemplateIndex()
    sig = idx.signature(_t(1))
    assert sig is not None and sig.dtype == np.uint32 and sig.shape == (128,)
    assert np.array_equal(decode_signature(encode_signature(sig)), sig)
    assert idx.signature("too short") is None


def test_nightly_ads_join_the_existing_cluster_after_a_new_session(session, settings):
    ids = store(session, *(make_ad(i, _t(i)) for i in range(3)), make_ad(9, OTHER))
    stats = linking.update(session, settings=settings)
    assert stats.clusters_created == 1
    first = cluster_ids(session)
    cid = first[ids[0]]
    assert first[ids[1]] == first[ids[2]] == cid and ids[9] not in first
    session.expire_all()  # the next night: the LSH index is rebuilt from ad_link.minhash
    ids |= store(session, make_ad(3, _t(3)), make_ad(4, _t(4)), day=1)
    stats = linking.update(session, settings=settings)
    assert stats.ads == 2 and stats.index_size == 6 and stats.clusters_created == 0
    assert cluster_ids(session, [ids[3], ids[4]]) == {ids[3]: cid, ids[4]: cid}
    cluster = session.get(TemplateCluster, cid)
    assert cluster.size == 5
    assert cluster.representative_ad_id in {ids[i] for i in range(5)}
    assert session.scalar(select(AdLink.minhash).where(AdLink.ad_id == ids[3])) is not None


def test_a_changed_ad_leaves_its_cluster_and_a_pair_dissolves(session, settings):
    ids = store(session, make_ad(1, _t(1)), make_ad(2, _t(2)))
    linking.update(session, settings=settings)
    cid = cluster_ids(session)[ids[1]]
    store(session, make_ad(2, OTHER))  # ad 2 rewritten: no longer the template
    stats = linking.update(session, settings=settings)
    assert stats.ads == 1 and stats.clusters_deleted == 1
    assert cluster_ids(session) == {}
    assert session.get(TemplateCluster, cid) is None


def test_two_clusters_merge_through_a_bridging_ad():
    a = "one two three four five six seven eight nine ten eleven twelve"
    b = "seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen"
    bridge = "four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    idx = TemplateIndex(threshold=0.3)
    out = cluster_texts([(1, a), (2, a + " x"), (3, b), (4, b + " y"), (5, bridge)], idx)
    assert len(set(out.values())) == 1


def test_shared_and_varying_parts():
    rep = "Hiring hostesses in Dallas. Ask for Anna today."
    others = ["Hiring hostesses in Houston. Ask for Maria today.", "Hiring hostesses in Austin. Ask for Lia today."]
    parts = template_parts(rep, others)
    assert "".join(p.text for p in parts) == rep
    assert [(p.text.strip(), p.shared) for p in parts] == [
        ("Hiring hostesses in", True), ("Dallas.", False), ("Ask for", True), ("Anna", False), ("today.", True)]
    assert varying_words(rep, others[0]) == ["Houston.", "Maria"]
    assert template_parts(rep, []) == [type(parts[0])(rep, True)]


def test_changed_num_perm_asks_for_a_rebuild(session, settings):
    store(session, make_ad(1, _t(1)))
    linking.update(session, settings=settings)
    store(session, make_ad(2, _t(2)))
    other = settings.model_copy(update={"linking": settings.linking.model_copy(update={"num_perm": 64})})
    with pytest.raises(linking.LinkingError, match="--rebuild"):
        linking.update(session, settings=other)
    stats = linking.rebuild(session, settings=other)
    assert stats.ads == 2 and stats.clusters_created == 1
