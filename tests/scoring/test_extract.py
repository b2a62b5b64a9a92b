"""Contact extraction: phones (cases, obfuscations, non-phones), e-mails, handles, ages."""

from __future__ import annotations

import json

import phonenumbers
import pytest

from scoring.extract import (
    ContactExtractor,
    extract_ages,
    extract_emails,
    extract_entities,
    extract_handles,
    extract_phones,
)

from .conftest import DATA


def values(ents):
    return [e.value for e in ents]


def assert_offsets(text, ents):
    for e in ents:
        assert text[e.start : e.end] == e.text


# ------------------------------------------------------------------ shared cases


def test_case_extract_01_dates_never_become_phones():
    case = json.loads((DATA / "extract-01-dates-not-phones.json").read_text(encoding="utf-8"))
    for key, inp in case["input"].items():
        assert values(extract_phones(inp["text"], inp["region"])) == case["expected"][key]["phones"], key


def test_case_extract_02_glued_words():
    case = json.loads((DATA / "extract-02-glued-words.json").read_text(encoding="utf-8"))
    text = case["input"]["text"]
    ents = extract_phones(text, case["input"]["region"])
    assert values(ents) == ["+14155550132"] == case["expected"]["phones"]
    assert ents[0].text == "for15 5fivefive zero1threetwo"  # the stray 4 and the 90 stay out
    assert_offsets(text, ents)


# ------------------------------------------------------------------ phones


@pytest.mark.parametrize(
    ("text", "expected", "span"),
    [
        ("Call (415) 555-0132 today", ["+14155550132"], "(415) 555-0132"),
        ("txt +1 212 555 0147", ["+12125550147"], "+1 212 555 0147"),
        ("reach me at 212.555.0147.", ["+12125550147"], "212.555.0147"),
        ("2125550147", ["+12125550147"], "2125550147"),
        ("two one two five five five zero one four seven", ["+12125550147"], None),
        ("TWO ONE TWO fIvE FiVe FIVE zero ONE four SEVEN", ["+12125550147"], None),
        ("call twoonetwo fivefivefive zeroonefourseven", ["+12125550147"], None),
        ("4l5 555 Ol32", ["+14155550132"], "4l5 555 Ol32"),  # l and I/O look-alikes
        ("2 1 2 5 5 5 0 1 4 7", ["+12125550147"], "2 1 2 5 5 5 0 1 4 7"),
        ("[2][1][2] {555} ((0147))", ["+12125550147"], None),
        ("2*1*2~5*5*5~o147", ["+12125550147"], None),
        ("UK office +44 20 7946 0958", ["+442079460958"], "+44 20 7946 0958"),
        ("Ｃａｌｌ ２１２\u200b５５５０１４７", ["+12125550147"], "２１２\u200b５５５０１４７"),
    ],
)
def test_phone_formats_and_obfuscations(text, expected, span):
    ents = extract_phones(text)
    assert values(ents) == expected
    assert_offsets(text, ents)
    if span is not None:
        assert ents[0].text == span


@pytest.mark.parametrize(
    "text",
    [
        "Measurements 34-24-36, height 5'6\", 120 lbs",
        "Rates: $150/hr, $250 for 2 hours, 1000 per night",
        "Card 4111 1111 1111 1111 and tracking 1Z999AA10123456784",
        "Job ID 2125550147 - apply online",
        "Ref #2125550147",
        "Order number 98765432101234567",
        "Posted 2024-03-05 10:30, closes 03/04/2025",
        "Open 9:00-17:00, Mon-Fri, 24/7 support line",
        "Salary 45,000-55,000 per year",
        "Call me anytime, I'm 5'10\" and 24 years old",
        "Oh I love long walks on the beach, one or two drinks",
    ],
)
def test_non_phones(text):
    assert extract_phones(text) == []


def test_same_number_twice_is_two_entities():
    text = "602-648-5857 or 6026485857"
    assert values(extract_phones(text)) == ["+16026485857", "+16026485857"]


def test_region_parameter():
    assert values(extract_phones("Ruf mich an: 030 1234567", region="DE")) == ["+49301234567"]
    assert extract_phones("Ruf mich an: 030 1234567", region="US") == []


def _digits(e164: str) -> tuple[str, str]:
    num = phonenumbers.parse(e164)
    return e164.lstrip("+"), str(num.national_number)


def phone_fixture_accuracy(extractor: ContactExtractor) -> tuple[float, int, int]:
    """Exact-match accuracy per fixture row (region US): same number of phones, each equal to the
    expected digits as full E.164 digits or as national digits."""
    rows = [json.loads(line) for line in (DATA / "obfuscated_phone_fixtures.jsonl").read_text().splitlines()]
    correct = false_positive_rows = 0
    for row in rows:
        got = [_digits(e.value) for e in extractor.phones(row["input"], "US")]
        exp = row["expected_phone_numbers"]
        if len(got) == len(exp) and all(x in g for g, x in zip(got, exp, strict=True)):
            correct += 1
        elif not exp:
            false_positive_rows += 1
    return correct / len(rows), false_positive_rows, len(rows)


def test_obfuscated_phone_fixture_accuracy(extractor):
    """DIG phone-number-matcher fixtures (anonymised). Measured 55/62 = 88.7%: all 48 test.txt rows
    are right; the 7 misses are Indian numbers in URLs (trunk prefix 0, or digits the anonymisation
    made impossible under the US numbering plan), which region "US" rightly refuses."""
    accuracy, false_positive_rows, n = phone_fixture_accuracy(extractor)
    assert n == 62
    assert accuracy >= 0.87
    assert false_positive_rows == 0


# ------------------------------------------------------------------ e-mails


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to Jenny.Doe@Example.ORG for details", ["jenny.doe@example.org"]),
        ("email jenny at example dot org", ["jenny@example.org"]),
        ("JENNY [at] example [dot] org", ["jenny@example.org"]),
        ("jenny(at)mail(dot)example(dot)org", ["jenny@mail.example.org"]),
        ("jenny @ example . org? no: jenny@example dot org", ["jenny@example.org"]),
        ("we meet at noon dot", []),
        ("look at example dot website", []),
    ],
)
def test_emails(text, expected):
    ents = extract_emails(text)
    assert values(ents) == expected
    assert_offsets(text, ents)


# ------------------------------------------------------------------ handles


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Telegram: @Jenny_X", ["telegram:@jenny_x"]),
        ("add my snap id jennysnap", ["snapchat:@jennysnap"]),
        ("kik - jenny.k", ["kik:@jenny.k"]),
        ("IG @jenny.ig and t.me/jenny_tg", ["instagram:@jenny.ig", "telegram:@jenny_tg"]),
        ("WeChat ID: jenny2024", ["wechat:@jenny2024"]),
        ("Line ID: jennyline", ["line:@jennyline"]),
        ("Signal: jsig", ["signal:@jsig"]),
        ("WhatsApp +1 (212) 555-0147", ["whatsapp:+12125550147"]),
        ("wa.me/12125550147", ["whatsapp:+12125550147"]),
        ("Line cook wanted, we signal our values online", []),
        ("WhatsApp only, Telegram available", []),
        # "Platform (@name)" and "Platform: (@name)" (trial 8, finding 3); Twitter and Facebook are strict
        ("Instagram (@alonzo_gregory) or Twitter (@EURODYN_Careers)",
         ["instagram:@alonzo_gregory", "twitter:@eurodyn_careers"]),
        ("Instagram: (@alonzo_gregory).", ["instagram:@alonzo_gregory"]),
        ("Find us on Facebook: @acme.jobs or fb @acme_jobs", ["facebook:@acme.jobs", "facebook:@acme_jobs"]),
        ("IG (lola) and Telegram (see below)", []),  # a bracket without "@" is no handle
        ("twitter is great, facebook page coming", []),
    ],
)
def test_handles(text, expected):
    ents = extract_handles(text)
    assert values(ents) == expected
    assert_offsets(text, ents)


def test_bracketed_handle_span_includes_the_closing_bracket():
    text = "Follow Instagram (@alonzo_gregory) today"
    (ent,) = extract_handles(text)
    assert (ent.start, ent.end, ent.text) == (7, 34, "Instagram (@alonzo_gregory)")


# ------------------------------------------------------------------ ages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm 19 and new here", ["19"]),
        ("sweet 19 years old brunette", ["19"]),
        ("Age: 18", ["18"]),
        ("aged 21, 5'6\"", ["21"]),
        ("19yo, 20 y/o", ["19", "20"]),
        ("I am nineteen", ["19"]),
        ("Applicants age 18-35, must be 21+", []),
        ("I'm 20 minutes from downtown", []),
        ("10 years experience, 24/7", []),
    ],
)
def test_ages(text, expected):
    ents = extract_ages(text)
    assert values(ents) == expected
    assert_offsets(text, ents)


def test_extract_entities_sorted_with_offsets():
    text = "Jenny, 21 years old. Kik: jennyk or text 212-555-0147, jenny at example dot org"
    ents = extract_entities(text)
    assert [(e.type, e.value) for e in ents] == [
        ("age", "21"),
        ("handle", "kik:@jennyk"),
        ("phone", "+12125550147"),
        ("email", "jenny@example.org"),
    ]
    assert_offsets(text, ents)
