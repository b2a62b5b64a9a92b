"""RuleEngine facade: batch analysis, ad-type inference, and the English gold set."""

from __future__ import annotations

import json

import pytest

from scoring.rules import RuleEngine, infer_ad_type
from scoring.types import Entity, IndicatorHit

from .conftest import DATA

JOB_AD = ("We are hiring warehouse workers for full-time positions. Salary $18 per hour plus benefits. "
          "Apply now with your resume.")
ESCORT_AD = "Sexy new girl in town, incall and outcall, 100 roses hh, no blocked calls. Kisses xoxo"
OTHER_AD = "Solid oak dining table and 6 chairs for sale, $300 OBO, pick up only. Text 212-555-0147."


def test_infer_ad_type(engine: RuleEngine):
    assert engine.infer_ad_type(JOB_AD) == "job"
    assert engine.infer_ad_type(ESCORT_AD) == "escort"
    assert engine.infer_ad_type(OTHER_AD) == "other"
    assert [infer_ad_type(t) for t in (JOB_AD, ESCORT_AD, OTHER_AD)] == ["job", "escort", "other"]
    # indicator vocabulary counts as evidence of the type: a two-line scam is still a job ad
    assert engine.infer_ad_type("Send a copy of your passport and pay the $300 placement fee.") == "job"


def test_analyze_streams_in_order_and_infers_missing_types(engine: RuleEngine):
    items = [
        ("Placement fee of $200 payable before departure. WhatsApp +1 212 555 0147", "job"),
        (ESCORT_AD, None),
        (OTHER_AD, None),
    ]
    results = list(engine.analyze(items))
    assert len(results) == 3
    (hits0, ents0), (hits1, _), (hits2, ents2) = results
    assert all(isinstance(h, IndicatorHit) for h in hits0)
    assert [h.id for h in hits0] == ["job.fee.placement", "job.contact.app_named"]
    assert [(e.type, e.value) for e in ents0] == [
        ("price", "200 USD"), ("handle", "whatsapp:+12125550147"), ("phone", "+12125550147"),
    ]
    assert {h.category for h in hits1} == {"new_in_town"}  # inferred escort
    assert hits2 == []  # "other": no indicator fires, entities still extracted
    start = OTHER_AD.index("212")
    p = OTHER_AD.index("$300")
    assert ents2 == [
        Entity("price", "300 USD", p, p + 4, "$300"),
        Entity("phone", "+12125550147", start, start + 12, "212-555-0147"),
    ]


def test_analyze_detailed_reports_the_ad_type_used(engine: RuleEngine):
    analysis = engine.analyze_one(ESCORT_AD)
    assert analysis.ad_type == "escort" and analysis.ad_type_inferred
    assert analysis.ad_type_scores["escort"] >= 2


def test_unknown_ad_type_is_an_error(engine: RuleEngine):
    with pytest.raises(ValueError, match="unknown ad_type"):
        list(engine.analyze([("text", "car")]))


def test_region_is_used_for_phones(engine: RuleEngine):
    (_, ents), = engine.analyze([("Ruf an: 030 1234567", None)], region="DE")
    assert [e.value for e in ents] == ["+49301234567"]


def test_default_construction_reads_settings():
    engine = RuleEngine()
    assert engine.indicators_dir.name == "indicators"
    assert engine.default_region == "US"


def micro_f1(engine: RuleEngine) -> tuple[float, float, float]:
    """Micro precision, recall and F1 over (ad, category) pairs of the gold set."""
    gold = [json.loads(line) for line in (DATA / "indicator_gold_v0.jsonl").read_text().splitlines()]
    tp = fp = fn = 0
    analyses = engine.analyze((g["text"], g["ad_type"]) for g in gold)
    for g, (hits, _) in zip(gold, analyses, strict=True):
        pred, true = {h.category for h in hits}, set(g["categories"])
        tp += len(pred & true)
        fp += len(pred - true)
        fn += len(true - pred)
    p, r = tp / (tp + fp), tp / (tp + fn)
    return p, r, 2 * p * r / (p + r)


def test_gold_set_micro_f1(engine: RuleEngine):
    """40 short English ads (26 job, 14 escort; 14 with no indicator, most of them benign
    look-alikes), 74 (ad, category) labels covering all 20 categories. Measured P 1.00, R 0.99,
    F1 0.99 (one miss: "Caregivers for Canada" is not read as work abroad). The set was written
    together with the patterns, so this is an optimistic, regression figure; on the 50 demo
    classifieds (labelled by someone else, ad type "escort") the rules reach F1 0.94."""
    gold = [json.loads(line) for line in (DATA / "indicator_gold_v0.jsonl").read_text().splitlines()]
    assert len(gold) == 40
    _, _, f1 = micro_f1(engine)
    assert f1 >= 0.85
