"""Salary normalisation: page text or schema.org ``MonetaryAmount`` to ``{min, max, currency, period}``.

Handles the shapes in ``/work/shared/cases/crawl-04-salary-shapes.json`` (schemaorg/schemaorg#1897):
k-suffixed ranges (``"$120-150k"``), numbers given as strings (``"value": "10000"``) and nested
``QuantitativeValue`` with ``minValue``/``maxValue``/``unitText``; plus thousands separators of either
convention (``"£25,000"``, ``"€1.500"``, ``"25 000"``), Korean ``만``/``억`` units (``"월급 218만원"``),
and pay-period words in English, German, Spanish, French and Korean.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

from price_parser import Price
from price_parser.parser import parse_number

__all__ = ["PERIODS", "Salary", "detect_currency", "detect_period", "normalize_salary", "salary_raw_text"]

PERIODS: tuple[str, ...] = ("hour", "day", "week", "month", "year")
"""The pay periods :func:`normalize_salary` can return (or ``None``)."""


class Salary(TypedDict):
    """Normalised pay: bounds in ``currency`` per ``period``; any key may be ``None``."""

    min: int | float | None
    max: int | float | None
    currency: str | None
    period: str | None


ISO_CURRENCIES: frozenset[str] = frozenset(
    "USD EUR GBP CAD AUD NZD CHF JPY CNY INR KRW SGD HKD MXN BRL ZAR SEK NOK DKK PLN CZK HUF RON "  # noqa: SIM905
    "BGN TRY RUB UAH PHP THB VND IDR MYR NGN KES GHS AED SAR QAR KWD ILS EGP PKR BDT LKR NPR ARS "
    "CLP COP PEN TWD ISK".split()
)

# Currency signs and words as price-parser (or we) find them -> ISO 4217. "$" alone is read as USD
# (the most common on English-language boards); "kr" (SEK/NOK/DKK/ISK) is ambiguous and left None.
_CURRENCY_SIGNS: dict[str, str] = {
    "$": "USD", "us$": "USD", "usd$": "USD", "dollar": "USD", "dollars": "USD",
    "ca$": "CAD", "c$": "CAD", "cad$": "CAD",
    "a$": "AUD", "au$": "AUD", "nz$": "NZD", "hk$": "HKD", "s$": "SGD", "sg$": "SGD",
    "r$": "BRL", "mx$": "MXN", "nt$": "TWD",
    "£": "GBP", "pound": "GBP", "pounds": "GBP",
    "€": "EUR", "euro": "EUR", "euros": "EUR",
    "¥": "JPY", "円": "JPY", "元": "CNY", "rmb": "CNY",
    "₩": "KRW", "원": "KRW", "만원": "KRW",
    "₹": "INR", "rs": "INR", "rs.": "INR", "rupees": "INR",
    "₽": "RUB", "\u0440\u0443\u0431": "RUB", "₱": "PHP", "฿": "THB", "₫": "VND", "₺": "TRY", "₦": "NGN",
    "₴": "UAH", "₪": "ILS", "zł": "PLN", "kč": "CZK", "ft": "HUF", "fr.": "CHF", "chf": "CHF",
    "r": "ZAR", "rm": "MYR", "rp": "IDR",
}
_ISO_RE = re.compile(r"\b(" + "|".join(sorted(ISO_CURRENCIES)) + r")\b")
_WORD_CURRENCY_RE = re.compile(r"(만원|원|円|元|\beuros?\b|\bdollars?\b|\bpounds?\b|\brupees?\b)", re.IGNORECASE)

# Pay-period phrases; the one found first in the text wins.
_PERIOD_PATTERNS: dict[str, str] = {
    "hour": r"(?:/|\bper\s+|\ban\s+|\beach\s+)\s*(?:hour|hr|h)\b|\bhourly\b|\bp/h\b|\bph\b(?=\s*$)"
    r"|/\s*std\b|\bpro\s+stunde\b|\bstundenlohn\b|\bstündlich\b|\b(?:por|la|una)\s+hora\b"
    r"|\bpar\s+heure\b|\bde\s+l'heure\b|\bl'heure\b|\bhoraire\b|시급|시간당",
    "day": r"(?:/|\bper\s+|\ba\s+|\beach\s+)\s*day\b|\bdaily\b|\bp/d\b|\bpro\s+tag\b|/\s*tag\b"
    r"|\btagessatz\b|\btäglich\b|\b(?:por|al)\s+d[ií]a\b|\bdiarios?\b|\bpar\s+jour\b|\bjournalier\b"
    r"|일급|일당",
    "week": r"(?:/|\bper\s+|\ba\s+|\beach\s+)\s*(?:week|wk)\b|\bweekly\b|\bp/w\b|\bpro\s+woche\b"
    r"|\bwöchentlich\b|\bsemanal(?:es)?\b|\bpor\s+semana\b|\ba\s+la\s+semana\b|\bpar\s+semaine\b"
    r"|\bhebdomadaire\b|주급",
    "month": r"(?:/|\bper\s+|\ba\s+|\beach\s+)\s*(?:month|mo|mth|mon)\b|\bmonthly\b|\bp\.?c\.?m\b"
    r"|\bper\s+mensem\b|\bpro\s+monat\b|/\s*monat\b|\bmonatlich\b|\bmonatsgehalt\b"
    r"|\b(?:al|por)\s+mes\b|\bmensual(?:es)?\b|\bpor\s+m[eê]s\b|\bmensais\b|\bpar\s+mois\b"
    r"|\bmensuel(?:le)?\b|월급|월\s*평균|(?:^|[\s(])월(?=\s*\d)",
    "year": r"(?:/|\bper\s+|\ba\s+|\beach\s+)\s*(?:year|yr|annum)\b|\bp\.\s?a\.?(?!\w)|\d\s*k?\s*pa\b"
    r"|\bannual(?:ly)?\b|\byearly\b|\bpro\s+jahr\b|/\s*jahr\b|\bjährlich\b|\bjahresgehalt\b"
    r"|\b(?:al|por)\s+año\b|\banual(?:es)?\b|\bpar\s+an\b|\bannuel(?:le)?\b|\bbrutto\s*/\s*jahr\b"
    r"|연봉|연\s*\d",
}
_PERIOD_RES = {period: re.compile(pattern, re.IGNORECASE) for period, pattern in _PERIOD_PATTERNS.items()}

# schema.org unitText values and UN/CEFACT unitCode values -> period.
_UNIT_WORDS: dict[str, str] = {
    "HOUR": "hour", "HOURS": "hour", "HOURLY": "hour", "HR": "hour", "H": "hour", "HUR": "hour",
    "DAY": "day", "DAYS": "day", "DAILY": "day", "D": "day",
    "WEEK": "week", "WEEKS": "week", "WEEKLY": "week", "WK": "week", "WEE": "week", "W": "week",
    "MONTH": "month", "MONTHS": "month", "MONTHLY": "month", "MO": "month", "MON": "month",
    "YEAR": "year", "YEARS": "year", "YEARLY": "year", "ANNUAL": "year", "ANNUALLY": "year",
    "ANNUM": "year", "YR": "year", "ANN": "year", "Y": "year",
}

# A number: grouped thousands ("25,000", "1.500", "25 000", "5'000", optional 1-2 decimals) or plain
# ("150", "12.50", "1,5"), then an optional multiplier word.
_AMOUNT_RE = re.compile(
    r"(?P<num>\d{1,3}(?:[.,'\u00a0\u202f ]\d{3})+(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d+)?)"
    r"(?:\s*(?P<mult>k(?![a-z])|thousand\b|mn\b|million\b|mio\b\.?|m(?![a-z])|lakhs?\b|lacs?\b"
    r"|crores?\b|천|만|억))?",
    re.IGNORECASE,
)
_MULTIPLIERS: dict[str, int] = {
    "k": 1_000, "thousand": 1_000, "천": 1_000, "만": 10_000, "억": 100_000_000,
    "m": 1_000_000, "mn": 1_000_000, "million": 1_000_000, "mio": 1_000_000, "mio.": 1_000_000,
    "lakh": 100_000, "lakhs": 100_000, "lac": 100_000, "lacs": 100_000,
    "crore": 10_000_000, "crores": 10_000_000,
}
# What may stand between the two numbers of a range once currency signs are removed.
_RANGE_SEP_RE = re.compile(
    r"^\s*(?:-|\u2013|\u2014|~|\u301c|\uff5e|to|bis|a|à|and|und|y|et|hasta|até|through)?\s*$", re.IGNORECASE
)
_CURRENCY_NOISE_RE = re.compile(
    r"[^\w\s~\u301c\uff5e\u2013\u2014-]|\b(?:" + "|".join(sorted(ISO_CURRENCIES)) + r")\b|만원|원|円|元"
)
_UP_TO_RE = re.compile(r"\bup\s+to\b|\bbis\s+zu\b|\bmax(?:imum)?\b\.?|\bhasta\b|\bjusqu'à\b|이하|까지", re.IGNORECASE)
_FROM_RE = re.compile(
    r"\bfrom\b|\bab\b|\bstarting\s+(?:at|from)\b|\bmin(?:imum)?\b\.?|\bat\s+least\b|\bdesde\b"
    r"|\bà\s+partir\s+de\b|이상|\d\s*\+", re.IGNORECASE
)


def _empty() -> Salary:
    return {"min": None, "max": None, "currency": None, "period": None}


def _num(value: Decimal | float) -> int | float:
    """A Decimal/float as ``int`` when whole, else ``float`` rounded to cents."""
    d = Decimal(str(value))
    if d == d.to_integral_value():
        return int(d)
    return float(round(d, 2))


def _currency_code(sign: str | None) -> str | None:
    if not sign:
        return None
    s = sign.strip()
    if s.upper() in ISO_CURRENCIES:
        return s.upper()
    if s.upper() == "RMB":
        return "CNY"
    return _CURRENCY_SIGNS.get(s.lower())


def detect_currency(text: str) -> str | None:
    """ISO 4217 code of the currency written in ``text`` (``"$"`` -> USD, ``"원"`` -> KRW), or ``None``.

    An explicit ISO code (``"EUR"``) wins; otherwise price-parser's currency sign, mapped to ISO;
    otherwise a currency word (``"euros"``, ``"원"``).
    """
    m = _ISO_RE.search(text)
    if m:
        return m.group(1)
    code = _currency_code(Price.fromstring(text).currency)
    if code:
        return code
    w = _WORD_CURRENCY_RE.search(text)
    return _currency_code(w.group(1)) if w else None


def detect_period(text: str) -> str | None:
    """The pay period named in ``text``: ``"hour"``, ``"day"``, ``"week"``, ``"month"``, ``"year"`` or ``None``.

    Recognises ``/hr``, ``per annum``, ``p.a.``, ``monthly``, ``al mes``, ``pro Stunde``,
    ``월급``, ``연봉``... The period whose phrase appears first in the text wins.
    """
    best: tuple[int, str] | None = None
    for period, regex in _PERIOD_RES.items():
        m = regex.search(text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), period)
    return best[1] if best else None


def _unit_period(unit: Any) -> str | None:
    if not isinstance(unit, str) or not unit.strip():
        return None
    key = re.sub(r"^(?:PER[\s_]+)", "", unit.strip().upper()).replace("-", "_")
    if key in _UNIT_WORDS:
        return _UNIT_WORDS[key]
    return detect_period(unit) or detect_period(f"per {unit}")


def _parse_amount(num: str) -> Decimal | None:
    cleaned = num.replace("\u00a0", " ").replace("\u202f", " ")
    if re.fullmatch(r"\d{1,3}(?:[ ']\d{3})+(?:[.,]\d{1,2})?", cleaned):
        cleaned = cleaned.replace(" ", "").replace("'", "")
    try:
        return parse_number(cleaned)
    except (InvalidOperation, ValueError):  # pragma: no cover - parse_number returns None on junk
        return None


def _from_text(text: str) -> Salary:
    result = _empty()
    text = text.strip()
    if not text:
        return result
    result["currency"] = detect_currency(text)
    result["period"] = detect_period(text)
    amounts: list[tuple[Decimal, str | None, int, int]] = []
    for m in _AMOUNT_RE.finditer(text):
        value = _parse_amount(m.group("num"))
        if value is None:
            continue
        mult = m.group("mult")
        amounts.append((value, mult.lower() if mult else None, m.start(), m.end()))
    if not amounts:
        return result

    def scaled(value: Decimal, mult: str | None) -> Decimal:
        return value * _MULTIPLIERS[mult] if mult else value

    first = amounts[0]
    if len(amounts) >= 2:
        second = amounts[1]
        between = _CURRENCY_NOISE_RE.sub(" ", text[first[3]:second[2]])
        if _RANGE_SEP_RE.match(between):
            lo_mult = first[1]
            # "$120-150k": the multiplier written once applies to both ends.
            if lo_mult is None and second[1] is not None and first[0] <= second[0]:
                lo_mult = second[1]
            lo = scaled(first[0], lo_mult)
            hi = scaled(second[0], second[1])
            if lo > hi:
                lo, hi = hi, lo
            result["min"], result["max"] = _num(lo), _num(hi)
            return result
    single = _num(scaled(first[0], first[1]))
    before, after = text[: first[2]], text[first[3]:]
    if _UP_TO_RE.search(before) or re.match(r"\s*\S*\s*(?:이하|까지)", after):
        result["max"] = single
    elif _FROM_RE.search(before) or re.match(r"\s*\S*\s*(?:이상|\+)", after):
        result["min"] = single
    else:
        result["min"] = result["max"] = single
    return result


def _number_or_text(value: Any) -> tuple[int | float | None, int | float | None, Salary | None]:
    """(min, max, parsed-text) of a schema.org ``value``/``minValue``/``maxValue`` given as number or text."""
    if isinstance(value, bool) or value is None:
        return None, None, None
    if isinstance(value, (int, float)):
        return _num(value), _num(value), None
    if isinstance(value, str):
        parsed = _from_text(value)
        return parsed["min"], parsed["max"], parsed
    return None, None, None


def _from_dict(data: dict[str, Any]) -> Salary:
    result = _empty()
    result["currency"] = _currency_code(
        next((data[k] for k in ("currency", "salaryCurrency", "priceCurrency") if isinstance(data.get(k), str)), None)
    )
    result["period"] = _unit_period(data.get("unitText")) or _unit_period(data.get("unitCode"))
    value = data.get("value")
    if isinstance(value, list):
        value = next((v for v in value if v not in (None, "", {})), None)
    if isinstance(value, dict):
        inner = _from_dict(value)
        result["min"], result["max"] = inner["min"], inner["max"]
        result["currency"] = result["currency"] or inner["currency"]
        result["period"] = result["period"] or inner["period"]
    elif value is not None:
        lo, hi, parsed = _number_or_text(value)
        result["min"], result["max"] = lo, hi
        if parsed:
            result["currency"] = result["currency"] or parsed["currency"]
            result["period"] = result["period"] or parsed["period"]
    # minValue/maxValue on a QuantitativeValue (or, loosely, on the MonetaryAmount itself).
    lo, _, _ = _number_or_text(data.get("minValue"))
    _, hi, _ = _number_or_text(data.get("maxValue"))
    if lo is not None:
        result["min"] = lo
    if hi is not None:
        result["max"] = hi
    if result["min"] is not None and result["max"] is not None and result["min"] > result["max"]:
        result["min"], result["max"] = result["max"], result["min"]
    return result


def normalize_salary(value: str | dict[str, Any] | list[Any] | float | None) -> Salary:
    """Normalise a salary given as page text or as schema.org JSON-LD.

    Args:
        value: ``None``; page text such as ``"$120-150k"``, ``"55000-75000"``,
            ``"£25,000 - £30,000 per annum"``, ``"$20/hr"``, ``"€1.500 al mes"``, ``"월급 218만원"``;
            a number; a schema.org ``MonetaryAmount`` dict whose ``value`` is a number, a numeric
            string or a nested ``QuantitativeValue`` (``minValue``/``maxValue``/``value``/
            ``unitText``/``unitCode``); or a list of those (the first usable one is taken).

    Returns:
        ``{"min", "max", "currency", "period"}``. ``min``/``max`` are ``int`` when whole, else
        ``float``, in units of ``currency`` (ISO 4217, ``"$"`` read as USD) per ``period``
        (one of :data:`PERIODS`). A single figure gives ``min == max``; ``"up to X"`` gives only
        ``max``, ``"from X"`` / ``"X 이상"`` only ``min``. Multipliers ``k``, ``m``, ``만`` (10^4),
        ``억`` (10^8), ``lakh``, ``crore`` are applied; one written on the upper bound only applies
        to both (``"$120-150k"`` -> 120000-150000). Unknown parts are ``None``; nothing raises.
    """
    if value is None or isinstance(value, bool):
        return _empty()
    if isinstance(value, (int, float)):
        return {"min": _num(value), "max": _num(value), "currency": None, "period": None}
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, dict):
        return _from_dict(value)
    if isinstance(value, list):
        for entry in value:
            result = normalize_salary(entry)
            if result["min"] is not None or result["max"] is not None:
                return result
        return _empty()
    return _empty()


def salary_raw_text(value: Any) -> str | None:
    """The raw form of a salary for ``AdItem.salary_raw``: text as is, JSON-LD as compact sorted JSON."""
    if value is None or value == "" or value == {} or value == []:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
