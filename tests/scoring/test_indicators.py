"""Indicators: every category fires on a realistic ad with exact offsets; negated and benign
look-alikes stay silent; the spaCy component loads, serialises and validates its data."""

from __future__ import annotations

import json
import shutil

import pytest
import spacy

from scoring.indicators import (
    CATEGORIES,
    IndicatorConfigError,
    build_pipeline,
    expand_phrase,
    load_indicator_set,
)
from scoring.rules import RuleEngine

from .conftest import INDICATORS_DIR

POSITIVES = [
    # (ad type, text, category, exact span text)
    ("job", "A registration fee of $150 is required before your interview.", "recruitment_fee",
     "registration fee"),
    ("job", "Please send a scanned copy of your passport to our HR manager.", "document_request",
     "send a scanned copy of your passport"),
    ("job", "Staff must hand over their passport on arrival.", "document_request", "hand over their passport"),
    ("job", "Free air tickets and visa processing for all selected candidates.", "travel_provided",
     "Free air tickets"),
    ("job", "Accommodation provided in a shared staff house near the farm.", "housing_provided",
     "Accommodation provided"),
    ("job", "Earn $500 per day cleaning offices, weekly cash payments.", "unrealistic_pay", "$500 per day"),
    ("job", "No experience required, training on site.", "no_requirements", "No experience required"),
    ("job", "Interested candidates contact us on WhatsApp for details.", "messaging_contact", "contact us on WhatsApp"),
    ("job", "Hotel jobs in Dubai with good salary for hardworking people.", "work_abroad", "jobs in Dubai"),
    ("job", "We need attractive girls for hostess work at our lounge.", "appearance_requirement", "attractive girls"),
    ("job", "Urgently hiring 20 warehouse packers, start immediately.", "urgency", "start immediately"),
    ("job", "Your flight ticket will be deducted from your first salary.", "debt_advance",
     "flight ticket will be deducted from your first salary"),
    ("job", "Company name will be disclosed after the interview.", "vague_employer",
     "Company name will be disclosed after"),
    ("escort", "Barely legal sweet girl waiting for you", "youth", "Barely legal"),
    ("escort", "Just arrived in Miami for a few days", "new_in_town", "Just arrived"),
    ("escort", "new girl in town, call now", "new_in_town", "new girl in town"),
    ("escort", "Call to book her, our girls are the best", "third_party", "our girls"),
    ("escort", "Three girls available tonight", "multiple_providers", "Three girls"),
    ("escort", "Incall only, discreet location", "restricted_movement", "Incall only"),
    ("escort", "Sweet Thai girl, speaks little English", "foreign_origin", "little English"),
    ("escort", "BBFS available for generous gents", "risky_services", "BBFS"),
    ("escort", "$60 specials all day", "low_price", "$60"),
]


@pytest.mark.parametrize(("ad_type", "text", "category", "span"), POSITIVES)
def test_category_fires_with_exact_offsets(engine: RuleEngine, ad_type, text, category, span):
    hits, _ = next(engine.analyze([(text, ad_type)]))
    matching = [h for h in hits if h.category == category]
    assert matching, f"{category} did not fire on {text!r}: {hits}"
    hit = next(h for h in matching if h.text == span)
    assert hit.start == text.index(span)
    assert hit.end == hit.start + len(span)
    assert text[hit.start : hit.end] == hit.text
    assert 0 < hit.weight <= 1


def test_every_category_is_covered_by_the_positives():
    covered = {c for _, _, c, _ in POSITIVES}
    assert covered == set(CATEGORIES["job"]) | set(CATEGORIES["escort"])


BENIGN = [
    # the brief's negated and benign look-alikes
    ("job", "do not send passport copies"),
    ("job", "we never ask for fees"),
    ("job", "no fees are charged to applicants"),
    ("job", "right to work will be verified on your first day"),
    ("escort", "mature, independent, screening required"),
    ("job", "we will never ask for your bank details"),
    # more of the same kinds
    ("job", "We will never ask for your bank details or passport copies."),
    ("job", "Placement fee: none."),
    ("job", "Passport copy not required at this stage."),
    ("job", "The employer pays all recruitment fees and travel costs."),
    ("job", "Beware of fake recruiters asking for a registration fee."),
    ("job", "Candidates must have the right to work in the UK."),
    ("job", "We do not offer free accommodation."),
    ("job", "Never pay a deposit to anyone claiming to represent us."),
    ("escort", "No BBFS, no bareback, safe fun only."),
    ("escort", "French kiss and Swedish massage on the menu."),
    ("escort", "Outcall and incall available, independent provider."),
]


@pytest.mark.parametrize(("ad_type", "text"), BENIGN)
def test_negated_and_benign_lookalikes_fire_nothing(engine: RuleEngine, ad_type, text):
    hits, _ = next(engine.analyze([(text, ad_type)]))
    assert hits == []


def test_negated_matches_are_kept_for_audit(engine: RuleEngine):
    analysis = engine.analyze_one("do not send passport copies", "job")
    assert analysis.indicators == []
    assert {h.id for h in analysis.dropped} == {"job.docs.send_id", "job.docs.passport_copy"}


def test_pseudo_negation_does_not_negate(engine: RuleEngine):
    hits, _ = next(engine.analyze([("Do not hesitate to send your passport copy today.", "job")]))
    assert [h.category for h in hits] == ["document_request"]


def test_negation_stops_at_a_clause_break(engine: RuleEngine):
    hits, _ = next(engine.analyze([("No experience needed, send a copy of your passport", "job")]))
    assert {h.category for h in hits} == {"no_requirements", "document_request"}


@pytest.mark.parametrize(("text", "categories"), [
    # a new user added indicators to a fee ad and the fee vanished: the added indicator's own
    # wording ("No", "free of charge") negated or suppressed it
    ("No experience needed and a registration fee of $80 is required.", {"no_requirements", "recruitment_fee"}),
    ("Factory work. No experience needed we keep your passport for safekeeping.",
     {"no_requirements", "document_request"}),
    ("A registration fee of $80 is required before you start and accommodation is free of charge.",
     {"recruitment_fee", "housing_provided"}),
    ("A registration fee of $80 is required before you start, flights free of charge.",
     {"recruitment_fee", "travel_provided"}),
    ("Application fee required accommodation free of charge", {"recruitment_fee", "housing_provided"}),
])
def test_a_cue_inside_another_indicator_cancels_nothing_else(engine: RuleEngine, text, categories):
    analysis = engine.analyze_one(text, "job")
    assert {h.category for h in analysis.indicators} == categories
    assert analysis.dropped == []


def test_plain_negation_and_suppression_still_cancel(engine: RuleEngine):
    for text in ["No registration fee or passport copy needed.", "Registration is free of charge.",
                 "The employer pays the placement fee.", "We pay all fees, no registration fee."]:
        assert engine.analyze_one(text, "job").indicators == [], text


def test_overlapping_matches_of_a_category_are_kept_for_masking(engine: RuleEngine):
    analysis = engine.analyze_one("Data Entry Clerk. A placement fee is charged.", "job")
    assert [h.text for h in analysis.indicators] == ["fee is charged"]
    assert [h.text for h in analysis.overlapped] == ["placement fee"]


def test_ad_type_filter(engine: RuleEngine):
    results = list(engine.analyze([("Incall only", "job"), ("Placement fee required", "other"),
                                   ("Incall only", "escort")]))
    assert results[0][0] == [] and results[1][0] == []
    assert [h.id for h in results[2][0]] == ["esc.restrict.incall_only"]


def test_offsets_index_the_callers_text_after_normalisation(engine: RuleEngine):
    text = "Please send a copy of your pass\u200bport \u2013 placement fee \uff04200"
    hits, _ = next(engine.analyze([(text, "job")]))
    assert hits
    for h in hits:
        assert text[h.start : h.end] == h.text
    assert any(h.text == "send a copy of your pass\u200bport" for h in hits)


def test_catalog_describes_every_indicator(engine: RuleEngine):
    catalog = engine.indicator_catalog()
    assert len(catalog) >= 14
    job = [i for i, c in catalog.items() if "job" in c["ad_types"]]
    escort = [i for i, c in catalog.items() if "escort" in c["ad_types"]]
    assert len(job) >= 8 and len(escort) >= 6
    for c in catalog.values():
        assert set(c) >= {"category", "weight", "description", "source"}
        assert 0 < c["weight"] <= 1
        assert c["description"] and c["source"]
    strong_cats = ("document_request", "recruitment_fee", "debt_advance")
    weak_cats = ("messaging_contact", "urgency", "no_requirements")
    strong = [c["weight"] for c in catalog.values() if c["category"] in strong_cats]
    weak = [c["weight"] for c in catalog.values() if c["category"] in weak_cats]
    assert min(strong) >= 0.6 and max(weak) <= 0.3


# ------------------------------------------------------------------ the spaCy component


def test_component_writes_labelled_spans():
    nlp = build_pipeline(INDICATORS_DIR, "en")
    assert nlp.pipe_names == ["adwatch_indicators"]
    doc = nlp("Placement fee of $200. Send your passport copy.")
    assert [(s.label_, s.text) for s in doc.spans["indicators"]] == [
        ("job.fee.placement", "Placement fee"),
        ("job.docs.send_id", "Send your passport"),
    ]


def test_component_initialize_from_registry_and_roundtrip(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("adwatch_indicators")
    with pytest.raises(ValueError):
        nlp("placement fee")
    nlp.config["initialize"]["components"]["adwatch_indicators"] = {
        "patterns": {"@misc": "adwatch.indicator_patterns.v1", "path": str(INDICATORS_DIR), "language": "en"}
    }
    nlp.initialize()
    doc = nlp("placement fee")
    assert [s.label_ for s in doc.spans["indicators"]] == ["job.fee.placement"]
    nlp.to_disk(tmp_path / "pipe")
    loaded = spacy.load(tmp_path / "pipe")  # patterns come from the saved pipeline, not the YAML
    doc = loaded("placement fee")
    assert [s.label_ for s in doc.spans["indicators"]] == ["job.fee.placement"]


def test_expand_phrase():
    assert expand_phrase("{placement|agency} {fee|fees}") == [
        "placement fee", "placement fees", "agency fee", "agency fees",
    ]
    assert expand_phrase("pay {|a }fee") == ["pay fee", "pay a fee"]
    with pytest.raises(IndicatorConfigError):
        expand_phrase("bad {brace")


def _copy_config(tmp_path):
    folder = tmp_path / "indicators"
    shutil.copytree(INDICATORS_DIR, folder)
    # lexicon paths are relative to the YAML files: point them back at the shipped data
    for yml in folder.glob("*.yml"):
        yml.write_text(yml.read_text().replace("../../data/", str(INDICATORS_DIR.parent.parent / "data") + "/"))
    return folder


def test_yaml_boolean_word_is_reported(tmp_path):
    folder = _copy_config(tmp_path)
    (folder / "extra.en.yml").write_text(
        "kind: indicators\nlanguage: en\nindicators:\n"
        "  - {id: job.x.y, category: urgency, ad_types: [job], language: en, weight: 0.2,\n"
        "     description: d, source: s, phrases: [hurry, no]}\n"
    )
    with pytest.raises(IndicatorConfigError, match="no/yes/on/off"):
        load_indicator_set(folder, "en")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("category", "made_up", "unknown category"), ("weight", 1.5, "weight"), ("ad_types", ["car"], "ad_types")],
)
def test_malformed_indicator_is_reported(tmp_path, field, value, message):
    folder = _copy_config(tmp_path)
    ind = {"id": "job.x.y", "category": "urgency", "ad_types": ["job"], "language": "en", "weight": 0.2,
           "description": "d", "source": "s", "phrases": ["hurry up"]}
    ind[field] = value
    (folder / "extra.en.yml").write_text(json.dumps({"kind": "indicators", "language": "en", "indicators": [ind]}))
    with pytest.raises(IndicatorConfigError, match=message):
        load_indicator_set(folder, "en")


def test_adding_a_language_is_adding_files(tmp_path):
    folder = _copy_config(tmp_path)
    context = {"kind": "context", "language": "xx", "negation": {"cues_before": ["nein"]}}
    (folder / "common.xx.yml").write_text(json.dumps(context))
    (folder / "job.xx.yml").write_text(json.dumps({"kind": "indicators", "language": "xx", "indicators": [
        {"id": "job.fee.xx", "category": "recruitment_fee", "ad_types": ["job"], "language": "xx", "weight": 0.7,
         "description": "d", "source": "s", "phrases": ["gebuhr"]}]}))
    engine = RuleEngine(folder, lang="xx")
    assert [h.id for h in engine.analyze_one("eine gebuhr", "job").indicators] == ["job.fee.xx"]
    assert engine.analyze_one("nein gebuhr", "job").indicators == []
