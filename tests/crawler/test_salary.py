"""crawler.salary: text and schema.org MonetaryAmount to {min, max, currency, period}."""

from __future__ import annotations

from typing import Any

import pytest

from crawler.salary import detect_period, normalize_salary, salary_raw_text
from tests.crawler.support import load_case


@pytest.mark.parametrize("key", ["a", "b", "c"])
def test_case_crawl_04_salary_shapes(key: str) -> None:
    case = load_case("crawl-04-salary-shapes")
    value = next(v for k, v in case["input"].items() if k.startswith(f"{key}_"))
    assert normalize_salary(value) == case["expected"][key]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$120-150k", (120000, 150000, "USD", None)),
        ("55000-75000", (55000, 75000, None, None)),
        ("£25,000 - £30,000 per annum", (25000, 30000, "GBP", "year")),
        ("$20/hr", (20, 20, "USD", "hour")),
        ("€1.500 al mes", (1500, 1500, "EUR", "month")),
        ("$45K - $55K a year", (45000, 55000, "USD", "year")),
        ("$50,000-60k", (50000, 60000, "USD", None)),
        ("$18.50/hour", (18.5, 18.5, "USD", "hour")),
        ("15,50 € pro Stunde", (15.5, 15.5, "EUR", "hour")),
        ("£400 per week", (400, 400, "GBP", "week")),
        ("USD 3,000 - 4,000 monthly", (3000, 4000, "USD", "month")),
        ("CHF 5'000 / Monat", (5000, 5000, "CHF", "month")),
        ("1.5k\u20132k EUR/mo", (1500, 2000, "EUR", "month")),
        ("R$ 2.500,00 por mês", (2500, 2500, "BRL", "month")),
        ("Up to $25 an hour", (None, 25, "USD", "hour")),
        ("From €2,000 per month", (2000, None, "EUR", "month")),
        # 고용24 (work24) pay lines: 월급 = monthly pay, 만 = 10,000, 원 = won, 이상 = "or more".
        ("월급 218만원 ~ 218만원", (2180000, 2180000, "KRW", "month")),
        ("월 2,185,890원 이상", (2185890, None, "KRW", "month")),
        ("Competitive", (None, None, None, None)),
        ("", (None, None, None, None)),
    ],
)
def test_text_salaries(text: str, expected: tuple[Any, ...]) -> None:
    result = normalize_salary(text)
    assert (result["min"], result["max"], result["currency"], result["period"]) == expected


def test_monetary_amount_variants() -> None:
    assert normalize_salary(
        {"@type": "MonetaryAmount", "currency": "EUR",
         "value": {"@type": "QuantitativeValue", "value": 3000, "unitText": "MONTH"}}
    ) == {"min": 3000, "max": 3000, "currency": "EUR", "period": "month"}
    assert normalize_salary(
        {"@type": "MonetaryAmount", "currency": "USD",
         "value": {"@type": "QuantitativeValue", "minValue": "40,000", "maxValue": "50000", "unitText": "YEAR"}}
    ) == {"min": 40000, "max": 50000, "currency": "USD", "period": "year"}
    # minValue/maxValue straight on the MonetaryAmount, UN/CEFACT unit code.
    assert normalize_salary(
        {"@type": "MonetaryAmount", "currency": "gbp", "minValue": 11.5, "maxValue": 12, "unitCode": "HUR"}
    ) == {"min": 11.5, "max": 12, "currency": "GBP", "period": "hour"}
    # a list: the first usable amount wins
    assert normalize_salary([{"@type": "MonetaryAmount"}, {"currency": "USD", "value": 12}]) == {
        "min": 12, "max": 12, "currency": "USD", "period": None,
    }


def test_missing_and_odd_values() -> None:
    empty = {"min": None, "max": None, "currency": None, "period": None}
    assert normalize_salary(None) == empty
    assert normalize_salary({}) == empty
    assert normalize_salary(True) == empty
    assert normalize_salary(50000) == {"min": 50000, "max": 50000, "currency": None, "period": None}


def test_periods() -> None:
    assert detect_period("per annum") == "year"
    assert detect_period("p.a.") == "year"
    assert detect_period("연봉 3000만원") == "year"
    assert detect_period("3월 18일") is None  # a date, not "monthly"
    assert detect_period("9am to 5pm") is None


def test_salary_raw_text() -> None:
    assert salary_raw_text("  $20/hr ") == "$20/hr"
    assert salary_raw_text({"value": 5, "currency": "USD"}) == '{"currency":"USD","value":5}'
    assert salary_raw_text(None) is None
    assert salary_raw_text({}) is None
