"""A phone number next to a price is still a phone (an unmasked number would leak to every role)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoring.extract import extract_phones

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "text",
    ["Ask for her: 857-555-0131. $80", "Call 857-555-0131 $80", "857.555.0131, $80 special"],
)
def test_phone_followed_by_a_price(text):
    assert [e.value for e in extract_phones(text, "US")] == ["+18575550131"]


def test_amount_with_trailing_currency_is_still_not_a_phone():
    assert extract_phones("only 80$ tonight, 150 usd for two", "US") == []


def test_every_demo_classified_phone_is_found_in_its_ad():
    """The demo board's ads show their phone in many written forms; each must be extracted (masking
    in the review app depends on it)."""
    missed = []
    for line in (ROOT / "demo" / "data" / "classifieds.jsonl").read_text(encoding="utf-8").splitlines():
        ad = json.loads(line)
        text = f"{ad['title']}\n\n{ad['body']}\n\n{ad['phone']}"
        values = {e.value for e in extract_phones(text, "US")}
        if "+1" + ad["phone_digits"] not in values:
            missed.append((ad["id"], ad["phone"]))
    assert missed == []
