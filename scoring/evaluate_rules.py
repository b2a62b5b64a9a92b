"""Evaluation of the rule engine: phone extraction on fixtures, indicator categories on a gold set.

Two file formats (JSON Lines, one object a line):

* phone fixtures (the DIG phone-number-matcher fixtures in ``data/obfuscated-phone-patterns``):
  ``{"id": ..., "input": "<text>", "expected_phone_numbers": ["5134612299", ...]}``. A fixture is an
  exact match when the phones found pair one to one with the expected digit strings, where a found
  phone matches a digit string equal to its national significant number (``5134612299``) or its
  E.164 digits (``15134612299``), the two ways the fixtures write numbers.
* indicator gold set: ``{"id": ..., "text": ..., "categories": [...], "ad_type": "job"|"escort"|null,
  "lang": "en"|null}``. Categories are compared per ad (an ad either has a category or not), so
  precision, recall and F1 count ads: true positive = labelled and found. Micro-F1 pools every
  (ad, category) decision; ``lang`` is not passed to the engine (the engine detects it) but is used to
  report figures per language and the language-identification accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

from scoring.extract import ContactExtractor
from scoring.rules import RuleEngine
from scoring.types import AD_TYPES

__all__ = [
    "PRF",
    "EvaluationInputError",
    "ExtractionReport",
    "IndicatorReport",
    "evaluate_extraction",
    "evaluate_indicators",
    "load_jsonl",
    "phone_digit_forms",
]


class EvaluationInputError(ValueError):
    """An evaluation file is missing, not JSON Lines, or a row lacks a field (message names the row)."""


def load_jsonl(path: Path | str, required: Iterable[str]) -> list[dict[str, Any]]:
    """Read a JSON Lines file whose objects all have the ``required`` keys.

    Raises:
        EvaluationInputError: unreadable file, a line that is not a JSON object, a missing key, or
            no rows at all.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvaluationInputError(f"{path}: cannot read: {exc}") from exc
    rows = []
    need = list(required)
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluationInputError(f"{path}:{no}: not JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise EvaluationInputError(f"{path}:{no}: expected a JSON object")
        missing = [k for k in need if k not in row]
        if missing:
            raise EvaluationInputError(f"{path}:{no}: missing {missing}")
        rows.append(row)
    if not rows:
        raise EvaluationInputError(f"{path}: no rows")
    return rows


# --------------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------------


def phone_digit_forms(e164: str) -> set[str]:
    """The digit strings a found phone (E.164) may be written as in fixtures: national significant
    number and country code + national significant number (``{"2125550147", "12125550147"}``)."""
    num = phonenumbers.parse(e164, None)
    nsn = phonenumbers.national_significant_number(num)
    return {nsn, f"{num.country_code}{nsn}"}


@dataclass(slots=True)
class ExtractionReport:
    """Exact-match accuracy of phone extraction on fixtures.

    Attributes:
        total: fixtures read.
        exact: fixtures whose phones match the expected digit strings one to one.
        region: default region used.
        failures: ``{"id", "input", "expected", "found"}`` for each miss (found as E.164).
    """

    total: int
    exact: int
    region: str
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """``exact / total`` (0 when there are no fixtures)."""
        return self.exact / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"total": self.total, "exact": self.exact, "accuracy": round(self.accuracy, 4),
                "region": self.region, "failures": self.failures}


def _phones_match(found: list[str], expected: list[str]) -> bool:
    if len(found) != len(expected):
        return False
    left = [phone_digit_forms(f) for f in found]
    for digits in expected:
        k = next((i for i, forms in enumerate(left) if digits in forms), None)
        if k is None:
            return False
        left.pop(k)
    return True


def evaluate_extraction(
    fixtures: Path | str | list[dict[str, Any]], extractor: ContactExtractor, region: str = "US"
) -> ExtractionReport:
    """Exact-match accuracy of :meth:`ContactExtractor.phones` on phone fixtures.

    Args:
        fixtures: a JSON Lines path (see the module docstring) or its rows.
        extractor: the extractor to test.
        region: default ISO 3166-1 alpha-2 region.

    Raises:
        EvaluationInputError: bad file or rows (``input`` and ``expected_phone_numbers`` required).
    """
    rows = fixtures if isinstance(fixtures, list) else load_jsonl(fixtures, ("input", "expected_phone_numbers"))
    report = ExtractionReport(total=0, exact=0, region=region)
    for i, row in enumerate(rows):
        expected = [str(d) for d in row["expected_phone_numbers"]]
        found = [e.value for e in extractor.phones(str(row["input"]), region)]
        report.total += 1
        if _phones_match(found, expected):
            report.exact += 1
        else:
            report.failures.append({"id": row.get("id", i), "input": row["input"], "expected": expected, "found": found})
    return report


# --------------------------------------------------------------------------------------------------
# Indicators
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PRF:
    """True positives, false positives and false negatives, with precision, recall and F1.

    Precision (recall) is 1.0 when nothing was predicted (labelled), by convention, so a category
    absent from both sides does not drag averages down; F1 is their harmonic mean.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)``."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """``tp / (tp + fn)``."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, gold: set[str], pred: set[str]) -> None:
        """Count one ad's labelled and predicted category sets."""
        self.tp += len(gold & pred)
        self.fp += len(pred - gold)
        self.fn += len(gold - pred)

    def to_dict(self) -> dict[str, float | int]:
        """Plain-JSON form with rounded figures."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


@dataclass(slots=True)
class IndicatorReport:
    """Per-category and micro-averaged figures of the rule engine on a gold set.

    Attributes:
        ads: ads read.
        micro: pooled counts over every (ad, category).
        per_category: counts per category (categories seen in labels or predictions).
        per_language: pooled counts per gold ``lang``.
        lang_total / lang_correct: ads with a gold ``lang``, and those detected correctly.
        errors: ``{"id", "missed", "spurious"}`` for each ad with a mistake.
    """

    ads: int = 0
    micro: PRF = field(default_factory=PRF)
    per_category: dict[str, PRF] = field(default_factory=dict)
    per_language: dict[str, PRF] = field(default_factory=dict)
    lang_total: int = 0
    lang_correct: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lang_accuracy(self) -> float | None:
        """Language-identification accuracy, or None without gold languages."""
        return self.lang_correct / self.lang_total if self.lang_total else None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "ads": self.ads,
            "micro": self.micro.to_dict(),
            "per_category": {c: v.to_dict() for c, v in sorted(self.per_category.items())},
            "per_language": {c: v.to_dict() for c, v in sorted(self.per_language.items())},
            "lang_accuracy": None if self.lang_accuracy is None else round(self.lang_accuracy, 4),
            "errors": self.errors,
        }


def evaluate_indicators(gold: Path | str | list[dict[str, Any]], engine: RuleEngine) -> IndicatorReport:
    """Per-category precision, recall and micro-F1 of ``engine`` on a gold set.

    Args:
        gold: a JSON Lines path (see the module docstring) or its rows.
        engine: the rule engine (language detected per ad; ``ad_type`` from the row when given).

    Raises:
        EvaluationInputError: bad file, a row without ``text``/``categories``, or a bad ``ad_type``.
    """
    rows = gold if isinstance(gold, list) else load_jsonl(gold, ("text", "categories"))
    items = []
    for i, row in enumerate(rows):
        ad_type = row.get("ad_type")
        if ad_type is not None and ad_type not in AD_TYPES:
            raise EvaluationInputError(f"gold row {row.get('id', i)}: unknown ad_type {ad_type!r}")
        if not isinstance(row["categories"], list):
            raise EvaluationInputError(f"gold row {row.get('id', i)}: categories must be a list")
        items.append((str(row["text"]), ad_type))
    report = IndicatorReport()
    for i, (row, analysis) in enumerate(zip(rows, engine.analyze_detailed(items), strict=True)):
        gold_cats = set(row["categories"])
        pred = {h.category for h in analysis.indicators}
        report.ads += 1
        report.micro.add(gold_cats, pred)
        for cat in gold_cats | pred:
            report.per_category.setdefault(cat, PRF()).add({cat} & gold_cats, {cat} & pred)
        lang = row.get("lang")
        if lang:
            report.per_language.setdefault(lang, PRF()).add(gold_cats, pred)
            report.lang_total += 1
            report.lang_correct += analysis.lang == lang
        if gold_cats != pred:
            report.errors.append({"id": row.get("id", i), "lang": analysis.lang,
                                  "missed": sorted(gold_cats - pred), "spurious": sorted(pred - gold_cats)})
    return report
