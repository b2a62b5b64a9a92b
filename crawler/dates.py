"""Posting dates to ISO dates: ISO strings, common written formats and relative dates.

No third-party date parser is used (``dateutil`` is not a dependency); the formats below are the ones
job boards and classified sites print. Everything is a pure function of the text and ``now``.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta

__all__ = ["normalize_date"]

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "january jan januar jänner janvier enero ene",
        "february feb februar février fevrier febrero",
        "march mar märz maerz mär mars marzo",
        "april apr avril abril abr",
        "may mai mayo",
        "june jun juni juin junio",
        "july jul juli juillet julio",
        "august aug août aout agosto ago",
        "september sep sept septembre septiembre setiembre",
        "october oct oktober okt octobre octubre",
        "november nov novembre noviembre",
        "december dec dezember dez décembre decembre diciembre dic",
    ],
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))

_YMD_RE = re.compile(r"(?<!\d)(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})(?!\d)")
_KO_RE = re.compile(r"(\d{4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일")
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_EPOCH_RE = re.compile(r"^\d{10}(?:\d{3})?$")
_DMY_NUM_RE = re.compile(r"(?<!\d)(\d{1,2})\s*([./-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})(?!\d)")
_D_MON_Y_RE = re.compile(
    rf"(?<![\w])(\d{{1,2}})(?:st|nd|rd|th|er|\.)?(?:\s+de)?[\s\-/]*({_MONTH_ALT})\.?(?:\s+de)?[\s\-/,]*(\d{{4}})?(?!\w)",
    re.IGNORECASE,
)
_MON_D_Y_RE = re.compile(
    rf"(?<![\w])({_MONTH_ALT})\.?\s*(\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:,?\s*(\d{{4}}))?",
    re.IGNORECASE,
)

_TODAY_RE = re.compile(
    r"\b(?:today|just\s+now|just\s+posted|moments?\s+ago|now|heute|gerade\s+eben|hoy|aujourd'hui)\b|오늘|방금",
    re.IGNORECASE,
)
_YESTERDAY_RE = re.compile(r"\b(?:yesterday|gestern|ayer|hier)\b|어제", re.IGNORECASE)

_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "ein": 1, "einem": 1, "einer": 1, "eine": 1, "un": 1,
                 "una": 1, "une": 1, "two": 2, "zwei": 2, "dos": 2, "deux": 2, "few": 3}
_NUM = r"(\d+|a|an|one|two|few|ein|einem|einer|eine|zwei|un|una|une|dos|deux)"

# (regex, unit-name group index) for "N units ago" in English, German, Spanish, French and Korean.
_RELATIVE_RES: list[re.Pattern[str]] = [
    re.compile(
        _NUM + r"\s*\+?\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w"
        r"|months?|mos?|years?|yrs?|y)\s+ago\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bvor\s+" + _NUM + r"\s+(sekunden?|minuten?|stunden?|tage?n?|wochen?|monate?n?|jahre?n?)\b", re.IGNORECASE
    ),
    re.compile(r"\bhace\s+" + _NUM + r"\s+(segundos?|minutos?|horas?|d[ií]as?|semanas?|mes(?:es)?|años?)\b", re.IGNORECASE),
    re.compile(
        r"\bil\s+y\s+a\s+" + _NUM + r"\s+(secondes?|minutes?|heures?|jours?|semaines?|mois|ans?|années?)\b", re.IGNORECASE
    ),
    re.compile(r"(\d+)\s*(초|분|시간|일|주|개월|달|년)\s*전"),
]

_UNIT_PREFIXES: list[tuple[tuple[str, ...], str]] = [
    (("sec", "sek", "seg", "초"), "second"),
    (("min", "분"), "minute"),
    (("h", "std", "stund", "hora", "heure", "시간"), "hour"),
    (("d", "tag", "día", "dia", "jour", "일"), "day"),
    (("w", "sem", "주"), "week"),
    (("mo", "mes", "mois", "개월", "달"), "month"),
    (("y", "jahr", "año", "an", "anné", "년"), "year"),
]


def _unit(word: str) -> str | None:
    w = word.lower()
    if w == "m":
        return "minute"
    if w == "s":
        return "second"
    if w.startswith("monat"):
        return "month"
    if w.startswith("minut"):
        return "minute"
    for prefixes, unit in _UNIT_PREFIXES:
        if w.startswith(prefixes):
            return unit
    return None


def _shift_months(day: date, months: int) -> date:
    """``day`` moved back by ``months`` calendar months (day clamped to the month's length)."""
    total = day.year * 12 + (day.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _make(year: int, month: int, day: int) -> str | None:
    if not 1990 <= year <= 2100:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _year(text: str) -> int:
    y = int(text)
    return 2000 + y if y < 100 else y


def _relative(text: str, now: datetime) -> str | None:
    for regex in _RELATIVE_RES:
        m = regex.search(text)
        if not m:
            continue
        count_word, unit_word = m.group(1).lower(), m.group(2)
        count = int(count_word) if count_word.isdigit() else _WORD_NUMBERS.get(count_word, 1)
        unit = _unit(unit_word)
        if unit is None:
            continue
        if unit in ("month", "year"):
            return _shift_months(now.date(), count * (12 if unit == "year" else 1)).isoformat()
        seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}[unit]
        return (now - timedelta(seconds=count * seconds)).date().isoformat()
    if _YESTERDAY_RE.search(text):
        return (now.date() - timedelta(days=1)).isoformat()
    if _TODAY_RE.search(text):
        return now.date().isoformat()
    return None


def _without_year(month: int, day: int, now: datetime) -> str | None:
    """A day and month with no year: this year, or last year if that would be in the future."""
    candidate = _make(now.year, month, day)
    if candidate and candidate > (now.date() + timedelta(days=1)).isoformat():
        return _make(now.year - 1, month, day)
    return candidate


def normalize_date(raw: str | None, now: datetime) -> str | None:
    """Read a posting date as an ISO date (``YYYY-MM-DD``).

    Understood, in this order:

    * epoch seconds or milliseconds (10 or 13 digits, alone);
    * ISO 8601 and other year-first dates anywhere in the text: ``2026-11-01``,
      ``2026-11-01T10:00:00Z`` (the date as written, no time-zone shift), ``2026.03.18 00:00:00``,
      ``2026/3/18``, ``20260318``; Korean ``2026년 3월 18일``;
    * relative dates against ``now``: ``today``, ``yesterday``, ``just now``, ``3 days ago``,
      ``30+ days ago``, ``an hour ago``, ``2 weeks ago``, ``1 month ago`` (calendar months),
      ``vor 2 Wochen``, ``hace 3 días``, ``il y a 2 jours``, ``3일 전``;
    * month names (English, German, French, Spanish): ``March 18, 2026``, ``18 Mar 2026``,
      ``18. März 2026``, ``Wed, 18 Mar 2026 10:00:00 GMT``, ``18-Mar-26``; without a year
      (``Mar 18``) the most recent such day not after ``now`` is taken;
    * numeric day/month/year: ``18.03.2026`` and ``18-03-2026`` are day-first; ``03/18/2026``
      is month-first unless the first number is over 12 (``18/03/2026``).

    Args:
        raw: the date text, or ``None``.
        now: the reference time for relative dates (naive or aware; used as given).

    Returns:
        The ISO date, or ``None`` when ``raw`` is empty, unreadable or not a real date
        (years outside 1990-2100 are rejected).
    """
    if raw is None:
        return None
    text = " ".join(str(raw).split())
    if not text:
        return None

    if _EPOCH_RE.match(text):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        try:
            stamp = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return _make(stamp.year, stamp.month, stamp.day)

    m = _YMD_RE.search(text) or _KO_RE.search(text) or _COMPACT_RE.match(text)
    if m:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))

    rel = _relative(text, now)
    if rel:
        return rel

    m = _D_MON_Y_RE.search(text)
    if m:
        month = _MONTHS[m.group(2).lower()]
        if m.group(3):
            return _make(int(m.group(3)), month, int(m.group(1)))
        return _without_year(month, int(m.group(1)), now)
    m = _MON_D_Y_RE.search(text)
    if m:
        month = _MONTHS[m.group(1).lower()]
        if m.group(3):
            return _make(int(m.group(3)), month, int(m.group(2)))
        return _without_year(month, int(m.group(2)), now)

    m = _DMY_NUM_RE.search(text)
    if m:
        a, sep, b, y = int(m.group(1)), m.group(2), int(m.group(3)), _year(m.group(4))
        if sep == "/":
            month, day = (a, b) if a <= 12 else (b, a)
        else:
            day, month = (a, b) if b <= 12 else (b, a)
        return _make(y, month, day)
    return None
