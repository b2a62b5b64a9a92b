"""crawler.dates: posting dates to ISO dates."""

from __future__ import annotations

from datetime import datetime

import pytest

from crawler.dates import normalize_date
from tests.crawler.support import NOW


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-01", "2026-11-01"),
        ("2026-11-01T23:30:00-05:00", "2026-11-01"),
        ("2026-11-01T10:00:00Z", "2026-11-01"),
        ("2026.03.18 00:00:00", "2026-03-18"),  # work24 "채용공고 등록일시"
        ("2026.04.01 (수)\u00a024:00", "2026-04-01"),  # work24 "접수 마감일"
        ("2026년 3월 18일", "2026-03-18"),
        ("20260318", "2026-03-18"),
        ("March 18, 2026", "2026-03-18"),
        ("18 Mar 2026", "2026-03-18"),
        ("18. März 2026", "2026-03-18"),
        ("12 de marzo de 2026", "2026-03-12"),
        ("Wed, 18 Mar 2026 10:00:00 GMT", "2026-03-18"),
        ("18-Mar-2026", "2026-03-18"),
        ("18.03.2026", "2026-03-18"),
        ("03/18/2026", "2026-03-18"),
        ("18/03/2026", "2026-03-18"),
        ("1774000000", "2026-03-20"),
        ("Mar 18", "2026-03-18"),
        ("Dec 25", "2025-12-25"),  # no year: the latest such day not after now
    ],
)
def test_absolute_dates(raw: str, expected: str) -> None:
    assert normalize_date(raw, NOW) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("      2 days ago\n  ", "2026-06-30"),  # LinkedIn's posted-time-ago text
        ("Posted 3 days ago", "2026-06-29"),
        ("2 weeks ago", "2026-06-18"),
        ("30+ days ago", "2026-06-02"),
        ("an hour ago", "2026-07-02"),
        ("13 hours ago", "2026-07-01"),
        ("5d ago", "2026-06-27"),
        ("1 month ago", "2026-06-02"),
        ("2 years ago", "2024-07-02"),
        ("today", "2026-07-02"),
        ("Just posted", "2026-07-02"),
        ("yesterday", "2026-07-01"),
        ("vor 2 Wochen", "2026-06-18"),
        ("vor einem Tag", "2026-07-01"),
        ("hace 3 días", "2026-06-29"),
        ("il y a 2 jours", "2026-06-30"),
        ("3일 전", "2026-06-29"),
    ],
)
def test_relative_dates(raw: str, expected: str) -> None:
    assert normalize_date(raw, NOW) == expected


def test_month_arithmetic_clamps_the_day() -> None:
    assert normalize_date("1 month ago", datetime(2026, 3, 31)) == "2026-02-28"


@pytest.mark.parametrize("raw", [None, "", "   ", "garbage", "2026-02-30", "1066-10-14"])
def test_unreadable_dates(raw: str | None) -> None:
    assert normalize_date(raw, NOW) is None
