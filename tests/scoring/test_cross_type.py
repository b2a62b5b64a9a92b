"""Forced-labour indicators (ILO: retention of identity documents, debt bondage, recruitment fees)
fire on escort/hostess ads too, not only on job ads."""

from __future__ import annotations

import pytest

from scoring.rules import RuleEngine


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine()


@pytest.mark.parametrize(
    "text, category, span",
    [
        ("Hostesses wanted for a private club. Girls 18-25 only. We hold your documents for safe keeping.",
         "document_request", "hold your documents"),
        ("New girls wanted, travel advanced by us and repaid from your earnings.", "debt_advance", None),
    ],
)
def test_labour_indicators_fire_on_escort_ads(engine, text, category, span):
    result = engine.analyze_one(text, ad_type="escort")
    hits = [h for h in result.indicators if h.category == category]
    assert hits, [(h.category, h.text) for h in result.indicators]
    if span:
        assert hits[0].text == span
    for h in hits:
        assert text[h.start:h.end] == h.text


def test_job_only_cues_still_do_not_fire_on_escort_ads(engine):
    result = engine.analyze_one("Sweet girl, no experience needed, urgent, apply today on WhatsApp.", ad_type="escort")
    assert {h.category for h in result.indicators} & {"no_requirements", "urgency"} == set()
