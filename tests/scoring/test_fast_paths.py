"""Fast paths of the rule engine give the results of the slow ones they replace: the Matcher
windows skipped by the required-word check, the ad-type cues collected in the component's one
PhraseMatcher scan, and the pipeline components called without ``nlp.pipe``."""

from __future__ import annotations

import json

import pytest

from scoring.indicators import _required_words, build_pipeline
from scoring.rules import RuleEngine

from .conftest import DATA, INDICATORS_DIR

TEXTS = [
    "Sweet young girl, new in town, $40 special for the first hour, incall only.",
    "Earn $500 per day cleaning offices, weekly cash payments, paid daily.",
    "Two new girls just arrived, staff available all day, documents kept by the agency.",
    "Hotel staff needed in Qatar! Salary 2,500 USD per month. Free accommodation and air ticket.",
    "Chica joven nueva en la ciudad, solo 40 dolares.",
    "Garota nova na cidade, apenas 50 reais, atendimento só em local próprio.",
]


def _gold_texts() -> list[str]:
    with (DATA / "indicator_gold.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def _spans(doc, key):
    return [(s.label_, s.start, s.end) for s in doc.spans[key]]


@pytest.mark.parametrize("lang", ["en", "es", "pt"])
def test_required_word_check_skips_only_windows_without_a_match(lang):
    nlp = build_pipeline(INDICATORS_DIR, lang)
    comp = nlp.get_pipe("adwatch_indicators")
    texts = TEXTS + _gold_texts()
    fast = [nlp(t) for t in texts]
    assert comp._required, "the shipped lexicons have anchored token patterns"
    comp._required = {k: [[]] for k in comp._required}  # no required words: every window is matched
    slow = [nlp(t) for t in texts]
    for a, b in zip(fast, slow, strict=True):
        assert _spans(a, "indicators") == _spans(b, "indicators")
        assert _spans(a, "indicators_negated") == _spans(b, "indicators_negated")
    assert any(_spans(d, "indicators") for d in fast)


def test_required_words_of_a_pattern():
    pattern = [
        {"LOWER": "new"},
        {"LOWER": {"IN": ["in", "to"]}},
        {"LOWER": "the", "OP": "?"},
        {"IS_DIGIT": True},
        {"LOWER": "town", "OP": "+"},
        {"LOWER": "x", "OP": "{0,2}"},
        {"LOWER": "y", "OP": "{2,3}"},
        {"LOWER": "z", "OP": "!"},
        {"LOWER": {"REGEX": "^a"}},
    ]
    assert _required_words(pattern) == [{"new"}, {"in", "to"}, {"town"}, {"y"}]


def test_ad_type_scores_without_the_components_cue_matches():
    nlp = build_pipeline(INDICATORS_DIR, "en")
    comp = nlp.get_pipe("adwatch_indicators")
    for text in TEXTS + _gold_texts():
        doc = nlp(text)
        stored = comp.ad_type_scores(doc)
        del doc.user_data[comp._cue_user_key]  # as for a doc this component did not process
        assert comp.ad_type_scores(doc) == stored


def test_ad_type_scores_count_each_distinct_cue_text_once():
    nlp = build_pipeline(INDICATORS_DIR, "en")
    comp = nlp.get_pipe("adwatch_indicators")
    once = comp.ad_type_scores(nlp("Salary paid monthly. Apply now."))
    twice = comp.ad_type_scores(nlp("Salary paid monthly. Apply now. SALARY paid monthly. Apply now."))
    assert once == twice
    assert once.get("job", 0) >= 2


def test_engine_matches_nlp_pipe(engine: RuleEngine):
    nlp, comp = engine._pipe("en")
    inds = comp.indicator_set.indicators
    fired = 0
    for text in TEXTS[:4]:
        for ad_type in ("job", "escort"):
            a = engine.analyze_one(text, ad_type, lang="en")
            doc = next(nlp.pipe([text]))
            expected = [
                (s.label_, s.start_char, s.end_char) for s in doc.spans["indicators"]
                if ad_type in inds[s.label_].ad_types
            ]
            assert [(h.id, h.start, h.end) for h in a.indicators] == expected
            fired += len(expected)
    assert fired >= 6


def test_pattern_phrases_are_tokenised_like_ads():
    nlp = build_pipeline(INDICATORS_DIR, "en")
    comp = nlp.get_pipe("adwatch_indicators")
    phrases = ["don't send", "U.S. visa", "e-mail us", "$500/day", "24/7 (incall)", "can't", "Mr. X's agency"]
    assert [[t.text for t in d] for d in comp._docs(phrases)] == [[t.text for t in nlp.make_doc(p)] for p in phrases]


def test_place_prefilter_agrees_with_the_matcher():
    from spacy.util import filter_spans

    nlp = build_pipeline(INDICATORS_DIR, "en", places=True)
    places = nlp.get_pipe("adwatch_places")
    texts = TEXTS + _gold_texts() + ["Work in New York City or São Paulo", "Paris", "no place named here"]
    found = 0
    for text in texts:
        doc = nlp(text)
        expected = [(s.label_, s.start, s.end) for s in filter_spans(places._matcher(doc, as_spans=True))]
        assert [(s.label_, s.start, s.end) for s in doc.spans["places"]] == expected
        found += len(expected)
    assert found >= 5
    assert list(nlp("no place named here").spans["places"]) == []


def test_ascii_seed_scan_agrees_with_the_unicode_one(extractor):
    with (DATA / "obfuscated_phone_fixtures.jsonl").open(encoding="utf-8") as fh:
        texts = [json.loads(line)["input"] for line in fh if line.strip()]
    texts += TEXTS + _gold_texts() + ["call five five five, 0ne two three, zer0 ofive lten", "tw0 thousand"]
    lows = [t.lower() for t in texts if t.isascii()]
    assert len(lows) > 100
    seeds = 0
    for low in lows:
        fast = [m.span() for m in extractor._seed_ascii_re.finditer(low)]
        assert fast == [m.span() for m in extractor._seed_re.finditer(low)]
        seeds += len(fast)
    assert seeds > 30
