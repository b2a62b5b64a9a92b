"""Sentence selection (scoring.segments) changes nothing but speed: the rule engine gives the same
indicators, dropped matches, ad types, ad-type scores and entities with and without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoring.indicators import _pattern_needs_digit, _regex_needs_digit
from scoring.normalize import normalize_text
from scoring.rules import RuleEngine
from scoring.segments import select_text

ROOT = Path(__file__).resolve().parents[2]

TRICKY = [
    # abbreviations whose full stop is not a token of its own, then an indicator after them
    "Contact Dr. Smith etc. for details. We will keep your passport during the contract.",
    "Work in the U.S. with visa sponsorship! No fees. Housing provided.",
    # negation right before a sentence boundary and a coordinated match after it
    "Do not send passport copies. Or ID. We never ask for a fee.",
    # token patterns around line breaks and short sentences
    "NEW\nIN\nTOWN\nask for Candy\n\n$60 special",
    "Several\nyoung\ngirls. New in town. 2 girls available.",
    # glued contractions, units and numbers
    "You cannot leave the house. Pay 300 per day, 2,500/week, 80hr. 10am-5pm.",
    "Sign-up fee of $50. No experience needed! High salary with no experience!!",
    # places, cased and multi-word, next to punctuation
    "Moving to New York next week, then Los Angeles. (London) Madrid, Spain.",
    "Trabajo en España: te pagamos el vuelo y el alojamiento. No cobramos comisión.",
    "Vaga em Portugal, passagem paga, sem experiência. Envie cópia do passaporte.",
    # contacts hidden in words and symbols; a platform name glued to words
    "call me: five five five, zero one four seven... whatsapp +1 212 555 0147 or tg @candy_x",
    "onlinewhatsapp wa.me/12125550147 instagram.com/someone sc: candy",
    "",
    "   \n\n  ",
    "İstanbul İŞ ilanı: pasaport gerekli. Passport needed.",
]


def _texts(path: Path, key: str = "text", limit: int | None = None) -> list[str]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                value = row.get(key) or row.get("input") or row.get("body")
                if isinstance(value, str):
                    out.append(value)
    return out[:limit] if limit else out


@pytest.fixture(scope="module")
def engines() -> tuple[RuleEngine, RuleEngine]:
    return (RuleEngine(ROOT / "config/indicators", select_sentences=True),
            RuleEngine(ROOT / "config/indicators", select_sentences=False))


@pytest.mark.parametrize(
    "source",
    ["tricky", "tests/data/indicator_gold.jsonl", "tests/data/obfuscated_phone_fixtures.jsonl",
     "demo/data/classifieds.jsonl", "data/difraud-job-scams/job_scams_validation.jsonl"],
)
def test_selection_gives_the_same_analysis(engines, source):
    selecting, whole = engines
    texts = TRICKY if source == "tricky" else _texts(ROOT / source, limit=400)
    assert len(texts) >= 15
    for ad_type in (None, "job", "escort"):
        items = [(t, ad_type) for t in texts]
        got = list(selecting.analyze_detailed(items))
        want = list(whole.analyze_detailed(items))
        for text, g, w in zip(texts, got, want, strict=True):
            assert g == w, text[:200]
    # the comparison is not empty: the corpora produce hits, drops and places
    assert sum(len(a.indicators) for a in want) > 0


def test_selection_tokenises_less_than_the_whole_text(engines):
    selecting, _ = engines
    selector = selecting._selectors["en"]
    texts = _texts(ROOT / "data/difraud-job-scams/job_scams_validation.jsonl", limit=300)
    kept = total = 0
    for t in texts:
        norm = normalize_text(t)
        found = selector.scan(norm.text)
        total += len(norm.text)
        kept += len(norm.text) if found.ranges is None else sum(b - a for a, b in found.ranges)
    # about an eighth of the characters of these job ads (measured 0.12 on all 1,429)
    assert 0.03 < kept / total < 0.3


def test_sentence_starts(engines):
    selector = engines[0]._selectors["en"]
    text = "Call Dr. Smith now. We pay!  Apply\nhere etc. and more? Yes"
    starts = selector.sentences(text)
    # the tokenizer keeps "Dr." whole (no boundary after it) but splits "etc." into "etc" + "."
    assert [text[s:s + 5] for s in starts] == ["Call ", "We pa", "Apply", "here ", "and m", "Yes"]


def test_selected_text_maps_offsets_back():
    norm = normalize_text("Ａｂ cd. ef gh. ij")  # fullwidth letters: a non-identity map
    sel = select_text(norm, [(0, 7), (11, 14)])
    assert norm.text == "Ab cd. ef gh. ij"
    assert sel.text == "Ab cd. h. "
    assert sel.span_to_original(0, 2) == (0, 2)  # the fullwidth "Ａｂ"
    s, e = sel.span_to_original(3, 5)  # "cd"
    assert norm.original[s:e] == "cd"
    k = sel.text.index("h.")
    s, e = sel.span_to_original(k, k + 1)
    assert norm.original[s:e] == "h"


def test_extraction_hints_give_the_same_entities(engines):
    selecting, _ = engines
    selector = selecting._selectors["en"]
    extractor = selecting.extractor
    texts = TRICKY + _texts(ROOT / "tests/data/obfuscated_phone_fixtures.jsonl")
    used = 0
    for t in texts:
        norm = normalize_text(t)
        hints = selector.scan(norm.text).extraction_hints
        if hints is None:
            continue
        used += 1
        assert extractor.extract(norm, "US", hints) == extractor.extract(norm, "US"), t
    assert used >= len(texts) - 2


@pytest.mark.parametrize(
    ("regex", "needs"),
    [
        (r"^(?:[3-9][0-9]{2}|[1-9],?[0-9]{3})(?:\.[0-9]+)?$", True),
        (r"^(?:[1-7][0-9]|80)(?:hh|qv)?$", True),
        (r"^1\d", True),
        (r"^[a-z]+$", False),
        (r"^(?:ab|[0-9])$", False),
        (r"^(?:[0-9])?x$", False),
        (r"[0-9]", False),
    ],
)
def test_regex_needs_digit(regex, needs):
    assert _regex_needs_digit(regex) is needs


def test_pattern_needs_digit_only_for_required_tokens():
    assert _pattern_needs_digit([{"LOWER": "$"}, {"LOWER": {"REGEX": "^[0-9]+$"}}]) is True
    assert _pattern_needs_digit([{"LOWER": {"REGEX": "^[0-9]+$"}, "OP": "?"}, {"LOWER": "x"}]) is False
    assert _pattern_needs_digit([{"IS_DIGIT": True, "OP": "{1,2}"}]) is True
