"""Text folding keeps a map back to the caller's offsets."""

from __future__ import annotations

from scoring.extract import extract_entities
from scoring.normalize import normalize_text


def test_ascii_is_returned_unchanged_without_a_map():
    norm = normalize_text("Call 212-555-0147")
    assert norm.text == norm.original and norm.identity
    assert norm.span_to_original(5, 17) == (5, 17)


def test_folding_and_offset_map():
    text = "pass\u200bport \ufb01ne \u201cdon\u2019t\u201d 4\ufe0f\u20e3 \u0662\u0663 \uff21\u2013B"
    norm = normalize_text(text)
    assert norm.text == 'passport fine "don\'t" 4 23 A-B'
    i = norm.text.index("passport")
    s, e = norm.span_to_original(i, i + len("passport"))
    assert text[s:e] == "pass\u200bport"
    i = norm.text.index("fine")
    s, e = norm.span_to_original(i, i + 4)
    assert text[s:e] == "\ufb01ne"  # the ligature maps back whole
    i = norm.text.index("4")
    s, e = norm.span_to_original(i, i + 1)
    assert text[s:e] == "4"


def test_entities_map_back_when_lower_changes_length():
    text = "\u0130stanbul: Telegram: @Jenny, jenny at example dot org, call 212 555 0147"
    ents = extract_entities(text)
    assert [(e.type, e.value) for e in ents] == [
        ("handle", "telegram:@jenny"),
        ("email", "jenny@example.org"),
        ("phone", "+12125550147"),
    ]
    for e in ents:
        assert text[e.start : e.end] == e.text
