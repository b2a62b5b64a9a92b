"""Rule indicators as a spaCy component: patterns from YAML, NegEx-style context, character offsets.

The indicators are data in ``config/indicators/*.yml`` (see the header of ``job.en.yml`` for the
fields). This module

* loads and validates them into an :class:`IndicatorSet` (:func:`load_indicator_set`, also
  registered as ``adwatch.indicator_patterns.v1`` in ``spacy.registry.misc``);
* registers the ``adwatch_indicators`` pipeline component (:class:`IndicatorMatcher`), which runs a
  ``PhraseMatcher(attr="LOWER")`` and a ``Matcher`` over the doc, drops matches that are negated
  (NegEx window), cancelled by an exception phrase or suppressed by a sentence-level context rule
  (a negation cue or suppressor inside another indicator's match belongs to that match and cancels
  nothing else), keeps one span per overlapping group within a category, and writes
  ``doc.spans["indicators"]`` (label = indicator id), ``doc.spans["indicators_negated"]`` (what
  was dropped, for audit) and ``doc.spans["indicators_overlapped"]`` (kept matches merged into an
  overlapping one of their category);
  the ad-type cue matches found by the same scan are kept in ``doc.user_data`` and
  :meth:`IndicatorMatcher.ad_type_scores` scores them on demand (only ads whose type is unknown
  need it);
* builds the standard pipeline: :func:`build_pipeline` = ``spacy.blank(lang)`` + ``adwatch_indicators``
  (no sentencizer: sentence boundaries are checked cheaply where negation needs them).

Patterns are loaded on construction when the component config names ``indicators_dir``, or in
``nlp.initialize()`` from ``[initialize.components.adwatch_indicators.patterns]``, e.g.
``{"@misc": "adwatch.indicator_patterns.v1", "path": "config/indicators", "language": "en"}``.
They are serialised with the pipeline (``to_disk``/``from_disk``), so a saved pipeline does not need
the YAML files.

Sources of the indicators are given per indicator in the YAML (``source``) and listed in
``/work/shared/INDICATOR-SOURCES.md``; the negation method is NegEx (Chapman et al., J. Biomed.
Inform. 2001).
"""

import bisect
import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy
import spacy
import yaml
from spacy.attrs import IS_SPACE, LOWER, ORTH
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span
from spacy.util import registry

from scoring.types import AD_TYPES

__all__ = [
    "CATEGORIES",
    "AdTypeRules",
    "Indicator",
    "IndicatorConfigError",
    "IndicatorMatcher",
    "IndicatorSet",
    "NegationRules",
    "SuppressRule",
    "build_pipeline",
    "expand_phrase",
    "infer_ad_type_from_scores",
    "load_indicator_set",
]

CATEGORIES: dict[str, tuple[str, ...]] = {
    "job": (
        "recruitment_fee", "document_request", "travel_provided", "housing_provided",
        "unrealistic_pay", "no_requirements", "messaging_contact", "work_abroad",
        "appearance_requirement", "urgency", "debt_advance", "vague_employer",
    ),
    "escort": (
        "youth", "new_in_town", "third_party", "multiple_providers", "restricted_movement",
        "foreign_origin", "risky_services", "low_price",
    ),
}
"""Indicator categories by ad type (the schema; every indicator's category must be one of these)."""

_ALL_CATEGORIES = frozenset(c for cats in CATEGORIES.values() for c in cats)
_MAX_EXPANSION = 5000
_BRACES = re.compile(r"\{([^{}]*)\}")


_SENT_END = frozenset({".", "!", "?", "...", "…", "¡", "¿"})


def _inside(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    """True when tokens ``start:end`` overlap one of ``spans`` (token index pairs)."""
    return any(s < end and start < e for s, e in spans)


def _sent_start(doc: Doc, i: int) -> bool:
    """True when token ``i`` starts a sentence: the first token, or one after ``.``/``!``/``?``/``¡``/``¿``
    or a line break. A cheap stand-in for a sentencizer, evaluated only where negation looks."""
    if i == 0:
        return True
    prev = doc[i - 1].text
    return prev in _SENT_END or "\n" in prev


class IndicatorConfigError(ValueError):
    """An indicator YAML file is unreadable or malformed; the message names the file and field."""


# --------------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator, as loaded from YAML (phrases already expanded, lexicons already read).

    Attributes:
        id: unique id, ``<ad type>.<topic>.<name>`` (e.g. ``job.fee.placement``).
        category: one of :data:`CATEGORIES`.
        ad_types: ad types on which it fires.
        language: ISO 639-1 code of its patterns.
        weight: in (0, 1]: how strongly it alone suggests risk (rationale in the YAML header).
        description: analyst-facing explanation.
        source: reference (title and section) it is drawn from.
        phrases: literal phrases, matched case-insensitively on whole tokens.
        patterns: spaCy ``Matcher`` token patterns.
        exceptions: phrases that cancel a match they overlap.
        negatable: whether negation cues cancel a match.
    """

    id: str
    category: str
    ad_types: tuple[str, ...]
    language: str
    weight: float
    description: str
    source: str
    phrases: tuple[str, ...] = ()
    patterns: tuple[Any, ...] = ()
    exceptions: tuple[str, ...] = ()
    negatable: bool = True


@dataclass(slots=True)
class NegationRules:
    """NegEx-style negation settings (see ``common.<lang>.yml``).

    Attributes:
        window_before: tokens searched before a match for a cue.
        window_after: tokens searched after a match for a post-negation cue.
        cues_before / cues_after / pseudo: cue phrases (pseudo-negations cancel cues they overlap).
        breakers: tokens that end the search window (punctuation, "but"...).
        after_skip: tokens skipped at the start of the post window (``:`` in ``Fee: none``).
        coordinators: a match that follows a negated match across one of these (plus at most one
            more token, "or *your* passport") is negated too.
    """

    window_before: int = 6
    window_after: int = 4
    cues_before: list[str] = field(default_factory=list)
    cues_after: list[str] = field(default_factory=list)
    pseudo: list[str] = field(default_factory=list)
    breakers: list[str] = field(default_factory=list)
    after_skip: list[str] = field(default_factory=list)
    coordinators: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SuppressRule:
    """Drop matches of ``categories`` in any sentence that contains one of ``phrases``."""

    categories: list[str]
    phrases: list[str]
    reason: str = ""


@dataclass(slots=True)
class AdTypeRules:
    """Lexicon rule for inferring an ad's type (see :func:`infer_ad_type_from_scores`).

    Attributes:
        min_score: score an ad type needs to be chosen.
        order: tie-break order of ad types.
        cues: ``(ad_type, weight, phrases)`` groups; each distinct phrase found adds its weight.
        indicator_weight: added to an ad type for each distinct indicator category found whose
            indicators list that ad type ("placement fee" is job vocabulary).
        indicator_min_weight: only indicators at least this heavy count as such evidence.
    """

    min_score: float = 2.0
    order: list[str] = field(default_factory=lambda: ["escort", "job"])
    cues: list[tuple[str, float, list[str]]] = field(default_factory=list)
    indicator_weight: float = 1.0
    indicator_min_weight: float = 0.5


@dataclass(slots=True)
class IndicatorSet:
    """Everything the component needs for one language; JSON-serialisable via :meth:`to_dict`."""

    language: str
    indicators: dict[str, Indicator]
    negation: NegationRules = field(default_factory=NegationRules)
    suppress: list[SuppressRule] = field(default_factory=list)
    ad_type: AdTypeRules = field(default_factory=AdTypeRules)
    anchor_stopwords: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (used by ``to_disk``)."""
        return {
            "language": self.language,
            "indicators": [asdict(i) for i in self.indicators.values()],
            "negation": asdict(self.negation),
            "suppress": [asdict(s) for s in self.suppress],
            "ad_type": {
                "min_score": self.ad_type.min_score,
                "order": self.ad_type.order,
                "cues": [list(c) for c in self.ad_type.cues],
                "indicator_weight": self.ad_type.indicator_weight,
                "indicator_min_weight": self.ad_type.indicator_min_weight,
            },
            "anchor_stopwords": self.anchor_stopwords,
            "files": self.files,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "IndicatorSet":
        """Inverse of :meth:`to_dict`."""
        inds = {}
        for d in data["indicators"]:
            d = dict(d)
            for key in ("ad_types", "phrases", "patterns", "exceptions"):
                d[key] = tuple(d.get(key, ()))
            inds[d["id"]] = Indicator(**d)
        at = data.get("ad_type", {})
        return cls(
            language=data["language"],
            indicators=inds,
            negation=NegationRules(**data.get("negation", {})),
            suppress=[SuppressRule(**s) for s in data.get("suppress", [])],
            ad_type=AdTypeRules(
                min_score=at.get("min_score", 2.0),
                order=list(at.get("order", ["escort", "job"])),
                cues=[(c[0], float(c[1]), list(c[2])) for c in at.get("cues", [])],
                indicator_weight=float(at.get("indicator_weight", 1.0)),
                indicator_min_weight=float(at.get("indicator_min_weight", 0.5)),
            ),
            anchor_stopwords=list(data.get("anchor_stopwords", [])),
            files=list(data.get("files", [])),
        )

    def catalog(self) -> dict[str, dict[str, Any]]:
        """``{id: {category, weight, description, source, ad_types, language}}`` for the UI."""
        return {
            i.id: {
                "category": i.category,
                "weight": i.weight,
                "description": i.description,
                "source": i.source,
                "ad_types": list(i.ad_types),
                "language": i.language,
            }
            for i in self.indicators.values()
        }


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def expand_phrase(phrase: str) -> list[str]:
    """Expand ``{a|b}`` alternations in a phrase; ``{|x}`` makes ``x`` optional.

    Args:
        phrase: e.g. ``"{placement|agency} {fee|fees}"``.

    Returns:
        The distinct expansions with whitespace collapsed (``["placement fee", "placement fees",
        "agency fee", "agency fees"]``), in order.

    Raises:
        IndicatorConfigError: unbalanced braces or more than 5,000 expansions.
    """
    parts: list[list[str]] = []
    pos = 0
    for m in _BRACES.finditer(phrase):
        parts.append([phrase[pos : m.start()]])
        parts.append(m.group(1).split("|"))
        pos = m.end()
    parts.append([phrase[pos:]])
    if "{" in phrase[pos:] or "}" in phrase[pos:] or any("{" in p[0] or "}" in p[0] for p in parts[::2]):
        raise IndicatorConfigError(f"unbalanced braces in phrase {phrase!r}")
    total = 1
    for p in parts:
        total *= len(p)
    if total > _MAX_EXPANSION:
        raise IndicatorConfigError(f"phrase {phrase!r} expands to {total} phrases (max {_MAX_EXPANSION})")
    out: list[str] = []
    seen: set[str] = set()
    for combo in itertools.product(*parts):
        text = " ".join("".join(combo).split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return out


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad = [v for v in value] if isinstance(value, list) else value
        raise IndicatorConfigError(
            f"{where}: expected a list of strings, got {bad!r} (quote YAML words like no/yes/on/off)"
        )
    return value


def _read_lexicon(spec: Any, base: Path, where: str) -> list[str]:
    """Read a lexicon file (JSON list, or text with one term a line) with include/exclude filters."""
    if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
        raise IndicatorConfigError(f"{where}: a lexicon needs a 'path' string")
    path = (base / spec["path"]).resolve()
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IndicatorConfigError(f"{where}: cannot read lexicon {path}: {exc}") from exc
    if path.suffix == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise IndicatorConfigError(f"{where}: lexicon {path} is not JSON: {exc}") from exc
        if isinstance(data, dict):
            data = list(data)
        terms = [t for t in data if isinstance(t, str)]
    else:
        terms = [line.strip().strip(",").strip().strip('"').strip() for line in raw.splitlines()]
    terms = [t for t in terms if t]
    include = {t.lower() for t in _str_list(spec.get("include"), f"{where}: lexicon include")}
    exclude = {t.lower() for t in _str_list(spec.get("exclude"), f"{where}: lexicon exclude")}
    min_len = int(spec.get("min_length", 1))
    if include:
        missing = include - {t.lower() for t in terms}
        if missing:
            raise IndicatorConfigError(f"{where}: lexicon {path} lacks included terms {sorted(missing)}")
        terms = [t for t in terms if t.lower() in include]
    return [t for t in terms if t.lower() not in exclude and len(t) >= min_len]


def _lower_pattern(pattern: Any, where: str) -> list[dict[str, Any]]:
    """Validate a Matcher token pattern and make it case-insensitive (ORTH/TEXT -> LOWER)."""
    if not isinstance(pattern, list) or not pattern or not all(isinstance(t, dict) for t in pattern):
        raise IndicatorConfigError(f"{where}: a token pattern must be a non-empty list of mappings")
    out = []
    for tok in pattern:
        tok = dict(tok)
        for key in ("ORTH", "TEXT"):
            if key in tok:
                if "LOWER" in tok:
                    raise IndicatorConfigError(f"{where}: token has both {key} and LOWER")
                tok["LOWER"] = tok.pop(key)
        if "LOWER" in tok:
            val = tok["LOWER"]
            if isinstance(val, str):
                tok["LOWER"] = val.lower()
            elif isinstance(val, dict):
                val = dict(val)
                for op in ("IN", "NOT_IN"):
                    if op in val:
                        val[op] = [v.lower() for v in _str_list(val[op], f"{where}: LOWER.{op}")]
                tok["LOWER"] = val
            else:
                raise IndicatorConfigError(f"{where}: LOWER must be a string or a mapping, got {val!r}")
        out.append(tok)
    return out


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise IndicatorConfigError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise IndicatorConfigError(f"{path}: top level must be a mapping")
    return data


def _parse_indicator(d: Any, path: Path, file_lang: str) -> Indicator:
    if not isinstance(d, dict) or not isinstance(d.get("id"), str):
        raise IndicatorConfigError(f"{path}: every indicator needs an 'id' string, got {d!r}")
    where = f"{path}: {d['id']}"
    for key in ("category", "description", "source"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise IndicatorConfigError(f"{where}: '{key}' must be a non-empty string")
    category = d["category"]
    if category not in _ALL_CATEGORIES:
        raise IndicatorConfigError(f"{where}: unknown category {category!r}; known: {sorted(_ALL_CATEGORIES)}")
    ad_types = tuple(_str_list(d.get("ad_types"), f"{where}: ad_types"))
    if not ad_types or not set(ad_types) <= set(AD_TYPES):
        raise IndicatorConfigError(f"{where}: ad_types must be a non-empty subset of {AD_TYPES}")
    lang = d.get("language", file_lang)
    if lang != file_lang:
        raise IndicatorConfigError(f"{where}: language {lang!r} differs from the file's {file_lang!r}")
    weight = d.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1:
        raise IndicatorConfigError(f"{where}: weight must be a number in (0, 1], got {weight!r}")
    phrases: list[str] = []
    for p in _str_list(d.get("phrases"), f"{where}: phrases"):
        phrases.extend(expand_phrase(p))
    for spec in d.get("lexicons") or []:
        phrases.extend(_read_lexicon(spec, path.parent, f"{where}: lexicons"))
    unique: dict[str, str] = {}
    for p in phrases:
        unique.setdefault(p.lower(), p)
    phrases = list(unique.values())
    patterns = [_lower_pattern(p, f"{where}: patterns") for p in (d.get("patterns") or [])]
    if not phrases and not patterns:
        raise IndicatorConfigError(f"{where}: needs phrases, lexicons or patterns")
    exceptions: list[str] = []
    for p in _str_list(d.get("exceptions"), f"{where}: exceptions"):
        exceptions.extend(expand_phrase(p))
    negatable = d.get("negatable", True)
    if not isinstance(negatable, bool):
        raise IndicatorConfigError(f"{where}: negatable must be true or false")
    unknown = set(d) - {
        "id", "category", "ad_types", "language", "weight", "description", "source", "phrases",
        "patterns", "lexicons", "exceptions", "negatable",
    }
    if unknown:
        raise IndicatorConfigError(f"{where}: unknown fields {sorted(unknown)}")
    return Indicator(
        id=d["id"], category=category, ad_types=ad_types, language=lang, weight=float(weight),
        description=" ".join(d["description"].split()), source=d["source"].strip(),
        phrases=tuple(phrases), patterns=tuple(patterns), exceptions=tuple(exceptions),
        negatable=negatable,
    )


def load_indicator_set(indicators_dir: Path | str, language: str = "en") -> IndicatorSet:
    """Load and validate the indicator YAML files of one language.

    Reads every ``*.yml`` in ``indicators_dir`` whose top-level ``language`` equals ``language``:
    ``kind: indicators`` files contribute indicators, ``kind: context`` files negation, suppression
    and ad-type rules; other kinds (``extraction``) are skipped.

    Args:
        indicators_dir: folder of YAML files (normally ``config/indicators``).
        language: ISO 639-1 code.

    Returns:
        The :class:`IndicatorSet`.

    Raises:
        IndicatorConfigError: no indicators for the language, duplicate ids, or a malformed file.
    """
    folder = Path(indicators_dir)
    if not folder.is_dir():
        raise IndicatorConfigError(f"indicators folder {folder} does not exist")
    iset = IndicatorSet(language=language, indicators={})
    context_seen = False
    for path in sorted(folder.glob("*.yml")):
        data = _load_yaml(path)
        kind = data.get("kind")
        if kind not in ("indicators", "context", "extraction"):
            raise IndicatorConfigError(f"{path}: 'kind' must be indicators, context or extraction, got {kind!r}")
        if kind == "extraction" or data.get("language") != language:
            continue
        iset.files.append(path.name)
        if kind == "indicators":
            items = data.get("indicators")
            if not isinstance(items, list):
                raise IndicatorConfigError(f"{path}: 'indicators' must be a list")
            for d in items:
                ind = _parse_indicator(d, path, language)
                if ind.id in iset.indicators:
                    raise IndicatorConfigError(f"{path}: duplicate indicator id {ind.id!r}")
                iset.indicators[ind.id] = ind
        else:
            context_seen = True
            _parse_context(data, path, iset)
    if not iset.indicators:
        raise IndicatorConfigError(f"no indicators for language {language!r} in {folder}")
    if not context_seen:
        raise IndicatorConfigError(f"no context file (kind: context) for language {language!r} in {folder}")
    return iset


def _parse_context(data: dict[str, Any], path: Path, iset: IndicatorSet) -> None:
    neg = data.get("negation") or {}
    iset.negation = NegationRules(
        window_before=int(neg.get("window_before", 6)),
        window_after=int(neg.get("window_after", 4)),
        cues_before=_str_list(neg.get("cues_before"), f"{path}: negation.cues_before"),
        cues_after=_str_list(neg.get("cues_after"), f"{path}: negation.cues_after"),
        pseudo=_str_list(neg.get("pseudo"), f"{path}: negation.pseudo"),
        breakers=_str_list(neg.get("breakers"), f"{path}: negation.breakers"),
        after_skip=_str_list(neg.get("after_skip"), f"{path}: negation.after_skip"),
        coordinators=_str_list(neg.get("coordinators"), f"{path}: negation.coordinators"),
    )
    for i, rule in enumerate(data.get("suppress") or []):
        where = f"{path}: suppress[{i}]"
        cats = _str_list(rule.get("categories"), f"{where}.categories")
        if not set(cats) <= _ALL_CATEGORIES:
            raise IndicatorConfigError(f"{where}: unknown categories {sorted(set(cats) - _ALL_CATEGORIES)}")
        phrases = [e for p in _str_list(rule.get("phrases"), f"{where}.phrases") for e in expand_phrase(p)]
        iset.suppress.append(SuppressRule(cats, phrases, str(rule.get("reason", ""))))
    at = data.get("ad_type") or {}
    order = _str_list(at.get("order"), f"{path}: ad_type.order") or ["escort", "job"]
    rules = AdTypeRules(
        min_score=float(at.get("min_score", 2)),
        order=order,
        indicator_weight=float(at.get("indicator_weight", 1)),
        indicator_min_weight=float(at.get("indicator_min_weight", 0.5)),
    )
    for i, group in enumerate(at.get("cues") or []):
        where = f"{path}: ad_type.cues[{i}]"
        ad_type = group.get("ad_type")
        if ad_type not in AD_TYPES:
            raise IndicatorConfigError(f"{where}: ad_type must be one of {AD_TYPES}")
        phrases = [e for p in _str_list(group.get("phrases"), f"{where}.phrases") for e in expand_phrase(p)]
        for spec in group.get("lexicons") or []:
            phrases.extend(_read_lexicon(spec, path.parent, f"{where}.lexicons"))
        rules.cues.append((ad_type, float(group.get("weight", 1)), phrases))
    iset.ad_type = rules
    matching = data.get("matching") or {}
    iset.anchor_stopwords = _str_list(matching.get("anchor_stopwords"), f"{path}: matching.anchor_stopwords")


_OP_RANGE = re.compile(r"\{(\d*)(,?)(\d*)\}")


def _pattern_anchor(pattern: list[dict[str, Any]], stop: set[str]) -> tuple[set[str] | None, int | None]:
    """The anchor words and the longest match length (tokens) of a Matcher token pattern.

    The anchor is the set of lower-case words of a *required* token (no optional ``OP``) given as
    ``LOWER: "word"`` or ``LOWER: {IN: [...]}``; among several, the smallest set that avoids
    ``stop`` words is chosen. Returns ``(None, ...)`` without such a token and ``(..., None)`` when
    the pattern is unbounded (``*``/``+``/``{n,}``); such patterns run over the whole doc.
    """
    length: int | None = 0
    candidates: list[set[str]] = []
    for tok in pattern:
        op = tok.get("OP", "1")
        if op == "!":
            lo, hi = 0, 0
        elif op == "?":
            lo, hi = 0, 1
        elif op in ("*", "+"):
            lo, hi = (0 if op == "*" else 1), None
        elif op == "1":
            lo, hi = 1, 1
        else:
            m = _OP_RANGE.fullmatch(op)
            if m is None:
                lo, hi = 0, None
            else:
                a, comma, b = m.groups()
                lo = int(a) if a else 0
                hi = (int(b) if b else None) if comma else lo
        if length is not None:
            length = None if hi is None else length + hi
        if lo >= 1:
            lower = tok.get("LOWER")
            words: set[str] = set()
            if isinstance(lower, str):
                words = {lower}
            elif isinstance(lower, dict) and set(lower) == {"IN"}:
                words = set(lower["IN"])
            if words:
                candidates.append(words)
    if not candidates:
        return None, length
    clean = [c for c in candidates if not (c & stop)]
    return min(clean or candidates, key=len), length


def _required_words(pattern: list[dict[str, Any]]) -> list[set[str]]:
    """For each *required* token of a Matcher pattern (no optional ``OP``) given as ``LOWER: "word"``
    or ``LOWER: {IN: [...]}``, the set of lower-case words it accepts. A match needs one word of
    every set; tokens with other constraints are not listed (they cannot be checked by a set)."""
    out: list[set[str]] = []
    for tok in pattern:
        op = tok.get("OP", "1")
        if op in ("!", "?", "*"):
            continue
        if op not in ("1", "+"):
            m = _OP_RANGE.fullmatch(op)
            if m is None or not m.group(1) or int(m.group(1)) < 1:
                continue
        lower = tok.get("LOWER")
        if isinstance(lower, str):
            out.append({lower})
        elif isinstance(lower, dict) and set(lower) == {"IN"}:
            out.append(set(lower["IN"]))
    return out


_DIGIT_START = re.compile(r"(?:[0-9]|\[[0-9\-]+\])")


def _regex_needs_digit(regex: str) -> bool:
    """True when every string ``regex`` matches in full starts with a digit, judged conservatively
    from its form: ``^`` then a digit or a digit class (``[0-9]``, ``[3-9]``), or a non-optional
    group ``(?:...)`` each of whose top-level alternatives starts so. Anything else: False."""
    if not regex.startswith("^"):
        return False
    body = regex[1:]
    if _DIGIT_START.match(body):
        return True
    if not body.startswith("(?:"):
        return False
    depth, alts, cur, i = 0, [], [], 3
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            cur.append(body[i:i + 2])
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                break
            depth -= 1
        elif ch == "|" and depth == 0:
            alts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    else:
        return False
    alts.append("".join(cur))
    if body[i + 1:i + 2] in ("?", "*", "{"):
        return False
    return all(_DIGIT_START.match(a) for a in alts)


def _pattern_needs_digit(pattern: list[dict[str, Any]]) -> bool:
    """True when a match of the Matcher ``pattern`` must hold a digit: a required token (no
    optional ``OP``) with ``IS_DIGIT: true`` or a ``REGEX`` that :func:`_regex_needs_digit`."""
    for tok in pattern:
        op = tok.get("OP", "1")
        if op not in ("1", "+"):
            m = _OP_RANGE.fullmatch(op) if op not in ("!", "?", "*") else None
            if m is None or not m.group(1) or int(m.group(1)) < 1:
                continue
        if tok.get("IS_DIGIT") is True:
            return True
        for attr in ("LOWER", "ORTH", "TEXT", "NORM"):
            val = tok.get(attr)
            if isinstance(val, dict) and isinstance(val.get("REGEX"), str) and _regex_needs_digit(val["REGEX"]):
                return True
    return False


def _required_runs(pattern: list[dict[str, Any]]) -> list[list[set[str]]]:
    """The required literal tokens of a Matcher ``pattern`` grouped into runs of consecutive
    tokens: each run is a list of lower-case word sets, one per token, where every token is given
    as ``LOWER: "word"`` or ``LOWER: {IN: [...]}`` with no ``OP``, so a match holds one word of each
    set, in that order, one after the other. A required token that repeats (``OP: "+"``,
    ``"{2,3}"``) is a run of its own with one set; optional tokens and tokens given otherwise end a
    run."""
    runs: list[list[set[str]]] = []
    current: list[set[str]] = []

    def words_of(tok: dict[str, Any]) -> set[str] | None:
        lower = tok.get("LOWER")
        if isinstance(lower, str):
            return {lower}
        if isinstance(lower, dict) and set(lower) == {"IN"}:
            return set(lower["IN"])
        return None

    for tok in pattern:
        op = tok.get("OP", "1")
        words = words_of(tok)
        if op == "1" and words:
            current.append(words)
            continue
        if current:
            runs.append(current)
            current = []
        if words and op not in ("!", "?", "*", "1"):
            m = _OP_RANGE.fullmatch(op)
            if op == "+" or (m is not None and m.group(1) and int(m.group(1)) >= 1):
                runs.append([words])
    if current:
        runs.append(current)
    return runs


@registry.misc("adwatch.indicator_patterns.v1")
def indicator_patterns_v1(path: str, language: str = "en") -> dict[str, Any]:
    """spaCy registry entry: the indicator set of ``path`` in JSON form, for
    ``[initialize.components.adwatch_indicators.patterns]`` (see :func:`load_indicator_set`)."""
    return load_indicator_set(Path(path), language).to_dict()


def infer_ad_type_from_scores(scores: dict[str, float], rules: AdTypeRules) -> str:
    """Pick ``"job"``, ``"escort"`` or ``"other"`` from cue scores.

    The highest-scoring type wins if its score reaches ``rules.min_score``; ties follow
    ``rules.order``; below the threshold the ad is ``"other"``.
    """
    best, best_score = "other", 0.0
    for ad_type in rules.order:
        s = scores.get(ad_type, 0.0)
        if s >= rules.min_score and s > best_score:
            best, best_score = ad_type, s
    return best


# --------------------------------------------------------------------------------------------------
# spaCy component
# --------------------------------------------------------------------------------------------------


class IndicatorMatcher:
    """The ``adwatch_indicators`` component (see the module docstring for what it writes).

    Args:
        nlp: the pipeline (its vocab and tokenizer are used for the patterns).
        name: component name.
        indicator_set: patterns to use now; ``None`` to wait for :meth:`initialize` or
            :meth:`from_disk`.
        spans_key: ``doc.spans`` key for kept matches (label = indicator id).
        negated_key: ``doc.spans`` key for matches dropped by negation, exceptions or suppression.
        overlap_key: ``doc.spans`` key for kept matches that overlap a heavier (or longer) match of
            the same category and so are not reported separately ("placement fee" inside "placement
            fee is charged"); :class:`scoring.features.IndicatorMask` hides their words too.

    Raises:
        ValueError: called on a doc before patterns were loaded.
    """

    def __init__(
        self,
        nlp: Language,
        name: str = "adwatch_indicators",
        indicator_set: IndicatorSet | None = None,
        *,
        spans_key: str = "indicators",
        negated_key: str = "indicators_negated",
        overlap_key: str = "indicators_overlapped",
    ) -> None:
        self.nlp = nlp
        self.name = name
        self.spans_key = spans_key
        self.negated_key = negated_key
        self.overlap_key = overlap_key
        self.indicator_set: IndicatorSet | None = None
        if indicator_set is not None:
            self.set_indicators(indicator_set)

    # ---------------------------------------------------------------- building

    def _docs(self, phrases: Iterable[str]) -> list[Doc]:
        """Pattern docs, tokenised like ads but by a copy of the pipeline's tokenizer: the phrases
        would otherwise fill the pipeline tokenizer's cache with thousands of entries, which slows
        tokenising every ad afterwards (about 10% in ``bench/scoring_rules.py``)."""
        tokenizer = getattr(self, "_pattern_tokenizer", None)
        if tokenizer is None:
            tokenizer = self.nlp.make_doc
            if isinstance(self.nlp.tokenizer, Tokenizer):
                copy = Tokenizer(self.nlp.vocab)
                copy.from_bytes(self.nlp.tokenizer.to_bytes(exclude=["vocab"]), exclude=["vocab"])
                tokenizer = copy
            self._pattern_tokenizer = tokenizer
        return [tokenizer(p) for p in phrases]

    def _seqs(self, phrases: Iterable[str]) -> list[tuple[str, ...]]:
        return [tuple(t.lower_ for t in d) for d in self._docs(phrases) if len(d)]

    def set_indicators(self, indicator_set: IndicatorSet) -> None:
        """Compile ``indicator_set`` into matchers (replaces any previous patterns).

        Everything literal (indicator phrases, exception phrases, suppressors, ad-type cues and the
        *anchor* words of token patterns) goes into one ``PhraseMatcher(attr="LOWER")``, so a doc
        is scanned once. Token patterns run in a ``Matcher`` only on small windows around their
        anchors: the rarest required literal token of each pattern (common words listed in
        ``matching.anchor_stopwords`` are avoided). Running a ``Matcher`` over whole docs costs more
        than tokenising them; the windows keep the component cheap, and a window that lacks one of
        a pattern's required literal words (:func:`_required_words`) for every pattern is skipped.
        """
        vocab = self.nlp.vocab
        self.indicator_set = indicator_set
        self._phrase = PhraseMatcher(vocab, attr="LOWER")
        self._matchers: dict[str, Matcher] = {}
        # per anchored indicator, per pattern: the LOWER hashes each required literal token allows;
        # a window lacking any one of them cannot hold a match, so its Matcher call is skipped
        self._required: dict[str, list[list[frozenset[int]]]] = {}
        self._full_matcher = Matcher(vocab, validate=True)
        self._has_full = False
        self._key: dict[int, str] = {}
        self._exc_key: dict[int, str] = {}
        # indicator and exception phrases: a sentence holding one must be tokenised (scoring.segments)
        self.trigger_phrases: list[tuple[str, ...]] = []
        # per anchored token pattern: (longest match in tokens, its runs of consecutive required
        # literal tokens (_required_runs), whether a match must hold a digit); see scoring.segments
        self.pattern_requirements: list[tuple[int, list[list[set[str]]], bool]] = []
        stop = {w.lower() for w in indicator_set.anchor_stopwords}
        # anchor word -> {indicator id: radius in tokens (longest pattern anchored on that word)}
        self._anchors: dict[str, dict[str, int]] = {}
        for ind in indicator_set.indicators.values():
            self._key[vocab.strings.add(ind.id)] = ind.id
            if ind.phrases:
                docs = self._docs(ind.phrases)
                self._phrase.add(ind.id, docs)
                self.trigger_phrases.extend(tuple(t.lower_ for t in d) for d in docs)
            anchored, full = [], []
            required: list[list[frozenset[int]]] = []
            for pat in ind.patterns:
                words, length = _pattern_anchor(pat, stop)
                if words is None or length is None:
                    full.append(list(pat))
                    continue
                anchored.append(list(pat))
                self.pattern_requirements.append((length, _required_runs(pat), _pattern_needs_digit(pat)))
                required.append([frozenset(vocab.strings.add(x) for x in req) for req in _required_words(pat)])
                for w in words:
                    by_ind = self._anchors.setdefault(w, {})
                    by_ind[ind.id] = max(by_ind.get(ind.id, 0), length)
            try:
                if anchored:
                    matcher = Matcher(vocab, validate=True)
                    matcher.add(ind.id, anchored, greedy="LONGEST")
                    self._matchers[ind.id] = matcher
                    self._required[ind.id] = required
                if full:
                    self._full_matcher.add(ind.id, full, greedy="LONGEST")
                    self._has_full = True
            except Exception as exc:  # spaCy raises MatchPatternError / ValueError
                raise IndicatorConfigError(f"{ind.id}: invalid token pattern: {exc}") from exc
            if ind.exceptions:
                label = f"__exception__{ind.id}"
                docs = self._docs(ind.exceptions)
                self._phrase.add(label, docs)
                self.trigger_phrases.extend(tuple(t.lower_ for t in d) for d in docs)
                self._exc_key[vocab.strings.add(label)] = ind.id
        anchors = set(self._anchors)
        self._anchor_key = vocab.strings.add("__anchor__")
        if anchors:
            self._phrase.add("__anchor__", self._docs(sorted(anchors)))
        self._suppress_cats: dict[int, frozenset[str]] = {}
        for i, rule in enumerate(indicator_set.suppress):
            label = f"__suppress_{i}"
            self._phrase.add(label, self._docs(rule.phrases))
            self._suppress_cats[vocab.strings.add(label)] = frozenset(rule.categories)
        # ad-type cues share the one PhraseMatcher scan; __call__ keeps their matches on the doc
        self._cue_info: dict[int, tuple[str, float]] = {}
        self._cue_phrases: list[tuple[str, list[Doc]]] = []
        for i, (ad_type, weight, phrases) in enumerate(indicator_set.ad_type.cues):
            label = f"__adtype_{i}"
            docs = self._docs(phrases)
            self._phrase.add(label, docs)
            self._cue_phrases.append((label, docs))
            self._cue_info[vocab.strings.add(label)] = (ad_type, weight)
            vocab.strings.add(ad_type)
        self._cues: PhraseMatcher | None = None  # built only for docs this component did not process
        self._cue_user_key = f"{self.name}.ad_type_cues"
        neg = indicator_set.negation
        self._neg = neg
        self._cues_before = self._seqs(neg.cues_before)
        self._cues_after = self._seqs(neg.cues_after)
        self._pseudo = self._seqs(neg.pseudo)
        self._breakers = frozenset(b.lower() for b in neg.breakers)
        self._after_skip = frozenset(b.lower() for b in neg.after_skip)
        self._coordinators = self._seqs(neg.coordinators)
        self._pattern_tokenizer = None  # built again (from the current tokenizer) if patterns change
        self._sent_end_orth = numpy.array([vocab.strings.add(x) for x in sorted(_SENT_END)], dtype=numpy.uint64)

    def cue_sequences(self) -> list[tuple[int, tuple[str, ...]]]:
        """``(label key, lower-cased tokens)`` of every ad-type cue phrase (see :meth:`ad_type_scores`)."""
        strings = self.nlp.vocab.strings
        return [(strings[label], tuple(t.lower_ for t in d)) for label, docs in self._cue_phrases for d in docs if len(d)]

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Any]] | None = None,
        *,
        nlp: Language | None = None,
        patterns: dict[str, Any] | None = None,
    ) -> None:
        """Load ``patterns`` (from ``[initialize.components.<name>]``) if given.

        Args:
            patterns: an indicator set in its JSON form (:meth:`IndicatorSet.to_dict`), as returned
                by the registered loader ``adwatch.indicator_patterns.v1``.

        Raises:
            ValueError: no patterns given and none loaded at construction.
        """
        if patterns is not None:
            self.set_indicators(IndicatorSet.from_dict(patterns))
        elif self.indicator_set is None:
            raise ValueError(
                f"{self.name}: no indicator patterns; set 'indicators_dir' in the component config or "
                "'patterns' (adwatch.indicator_patterns.v1) in [initialize.components]"
            )

    # ---------------------------------------------------------------- matching

    @staticmethod
    def _find(tokens: list[str], seqs: list[tuple[str, ...]]) -> list[tuple[int, int]]:
        found = []
        n = len(tokens)
        for seq in seqs:
            m = len(seq)
            for i in range(n - m + 1):
                if tokens[i] == seq[0] and tuple(tokens[i : i + m]) == seq:
                    found.append((i, i + m))
        return found

    def _has_cue(self, tokens: list[str], cues: list[tuple[str, ...]]) -> bool:
        if not tokens:
            return False
        hits = self._find(tokens, cues)
        if not hits:
            return False
        pseudo = self._find(tokens, self._pseudo)
        return any(not any(ps < e and s < pe for ps, pe in pseudo) for s, e in hits)

    def _negated(self, doc: Doc, start: int, end: int, owned: Sequence[tuple[int, int]] = ()) -> bool:
        """NegEx: cue within the window before (or a post-cue after), same sentence, no breaker.

        ``owned``: token spans of the doc's other indicator matches. A cue inside one of them is
        that indicator's wording ("No" in "No experience needed"), not a negation of this match.
        """
        neg = self._neg
        before: list[str] = []
        if not _sent_start(doc, start):
            k = start - 1
            while k >= 0 and len(before) < neg.window_before:
                tok = doc[k]
                low = tok.lower_
                if low in self._breakers:
                    break
                before.append(low)
                if _sent_start(doc, k):
                    break
                k -= 1
            before.reverse()
        if before:
            first = start - len(before)
            hits = [(cs, ce) for cs, ce in self._find(before, self._cues_before)
                    if not _inside(first + cs, first + ce, owned)]
            if hits:
                # a pseudo-negation may run into the match ("not" + "only passport"): look across
                ext = before + [t.lower_ for t in doc[start:end]]
                pseudo = self._find(ext, self._pseudo)
                if any(not any(ps < e and s < pe for ps, pe in pseudo) for s, e in hits):
                    return True
        after: list[str] = []
        k = end
        n = len(doc)
        while k < n and doc[k].lower_ in self._after_skip and not _sent_start(doc, k):
            k += 1
        first = k
        while k < n and len(after) < neg.window_after:
            tok = doc[k]
            if _sent_start(doc, k):
                break
            low = tok.lower_
            if low in self._breakers:
                break
            after.append(low)
            k += 1
        if owned and after:  # cut the window at the first token another indicator owns
            for i in range(len(after)):
                if _inside(first + i, first + i + 1, owned):
                    after = after[:i]
                    break
        return self._has_cue(after, self._cues_after)

    def ad_type_scores(self, doc: Doc, cues: set[tuple[int, str]] | None = None) -> dict[str, float]:
        """``{ad_type: score}`` for a processed ``doc`` (see ``ad_type`` in ``common.<lang>.yml``).

        The cue matches are ``cues`` when given (distinct ``(label key, matched text lower-cased)``
        pairs, e.g. found in the whole text by :class:`scoring.segments.SentenceSelector` while
        ``doc`` holds only some sentences), else those this component stored on ``doc``
        (``doc.user_data``); a doc it did not process is scanned for the cues here.

        Each distinct cue phrase adds its weight once; each distinct category of an indicator at least
        ``indicator_min_weight`` heavy found in ``doc.spans[spans_key]`` (whatever the ad type) adds
        ``indicator_weight`` to the ad types its indicators list.
        """
        if self.indicator_set is None:
            raise ValueError(f"{self.name}: no indicator patterns loaded (call nlp.initialize())")
        scores: dict[str, float] = {}
        inds = self.indicator_set.indicators
        bonus = self.indicator_set.ad_type.indicator_weight
        min_weight = self.indicator_set.ad_type.indicator_min_weight
        seen_cats: set[tuple[str, str]] = set()
        for span in doc.spans.get(self.spans_key, []):
            ind = inds[span.label_]
            if ind.weight < min_weight:
                continue
            for ad_type in ind.ad_types:
                if (ad_type, ind.category) not in seen_cats:
                    seen_cats.add((ad_type, ind.category))
                    scores[ad_type] = scores.get(ad_type, 0.0) + bonus
        if cues is not None:
            for key, text in cues:
                ad_type, weight = self._cue_info[key]
                scores[ad_type] = scores.get(ad_type, 0.0) + weight
            return scores
        stored = doc.user_data.get(self._cue_user_key)
        if stored is not None and stored[0] == len(doc):
            cue_matches = stored[1]
        else:  # the doc did not pass through this component: scan for the cues now
            if self._cues is None:
                self._cues = PhraseMatcher(self.nlp.vocab, attr="LOWER")
                for label, docs in self._cue_phrases:
                    self._cues.add(label, docs)
            cue_matches = self._cues(doc)
        seen: set[tuple[int, str]] = set()
        for key, s, e in cue_matches:
            ad_type, weight = self._cue_info[key]
            # a token's LOWER is its text lower-cased, so one token needs no Span
            cue = (key, doc[s].lower_ if e - s == 1 else doc[s:e].text.lower())
            if cue not in seen:
                seen.add(cue)
                scores[ad_type] = scores.get(ad_type, 0.0) + weight
        return scores

    def _coordinated(self, doc: Doc, start: int, negated_ends: list[int]) -> bool:
        """True when the match at ``start`` follows a negated match across a coordinator."""
        if not negated_ends or not self._coordinators:
            return False
        for end in negated_ends:
            if not 0 < start - end <= 4:
                continue
            between = [t.lower_ for t in doc[end:start]]
            for seq in self._coordinators:
                m = len(seq)
                if tuple(between[:m]) == seq and len(between) - m <= 1:
                    return True
        return False

    def __call__(self, doc: Doc) -> Doc:
        """Match, filter and store indicator spans on ``doc`` (see the module docstring)."""
        if self.indicator_set is None:
            raise ValueError(f"{self.name}: no indicator patterns loaded (call nlp.initialize())")
        inds = self.indicator_set.indicators
        raw: set[tuple[str, int, int]] = set()
        exc: dict[str, list[tuple[int, int]]] = {}
        suppressors: list[tuple[frozenset[str], int, int]] = []
        windows: dict[str, list[tuple[int, int]]] = {}
        cue_matches: list[tuple[int, int, int]] = []
        cue_info = self._cue_info
        n = len(doc)
        for key, s, e in self._phrase(doc):
            ind_id = self._key.get(key)
            if ind_id is not None:
                raw.add((ind_id, s, e))
            elif key in cue_info:
                cue_matches.append((key, s, e))
            elif key == self._anchor_key:
                for a_id, radius in self._anchors.get(doc[s].lower_, {}).items():
                    windows.setdefault(a_id, []).append((max(0, s - radius + 1), min(n, e + radius - 1)))
            elif key in self._exc_key:
                exc.setdefault(self._exc_key[key], []).append((s, e))
            elif key in self._suppress_cats:
                suppressors.append((self._suppress_cats[key], s, e))
        lowers = None
        for a_id, spans in windows.items():
            matcher = self._matchers[a_id]
            spans.sort()
            merged = [spans[0]]
            for a, b in spans[1:]:
                if a <= merged[-1][1]:
                    if b > merged[-1][1]:
                        merged[-1] = (merged[-1][0], b)
                else:
                    merged.append((a, b))
            required = self._required[a_id]
            if lowers is None:
                lowers = doc.to_array(LOWER)  # one array instead of a Token object per window token
            for a, b in merged:
                present = set(lowers[a:b].tolist())
                if not any(all(not req.isdisjoint(present) for req in reqs) for reqs in required):
                    continue
                span = doc[a:b]
                for _key, s, e in matcher(span):
                    raw.add((a_id, a + s, a + e))
        if self._has_full:
            for key, s, e in self._full_matcher(doc):
                raw.add((self._key[key], s, e))

        kept: list[tuple[str, int, int]] = []
        dropped: list[tuple[str, int, int]] = []
        bounds: list[int] = []
        if suppressors:
            # cheap sentence boundaries (no sentencizer): token indices that start a sentence; read
            # from arrays (a Token object per token costs more than the rest of this component)
            orth, space = doc.to_array([ORTH, IS_SPACE]).T
            cand = numpy.flatnonzero(numpy.isin(orth, self._sent_end_orth) | (space == 1))
            bounds = [0] + [int(i) + 1 for i in cand if doc[int(i)].text in _SENT_END or "\n" in doc[int(i)].text]

        def sent_of(i: int) -> tuple[int, int]:
            k = bisect.bisect_right(bounds, i)
            return bounds[k - 1], (bounds[k] if k < len(bounds) else n)

        if suppressors:
            # A suppressor inside another category's match is that indicator's wording
            # ("accommodation is free of charge", "flights free of charge"): it does not cancel the
            # registration fee earlier in the sentence.
            suppressors = [(cats, ps, pe) for cats, ps, pe in suppressors
                           if not any(inds[i].category not in cats and ms < pe and ps < me for i, ms, me in raw)]
        ordered = sorted(raw, key=lambda m: (m[1], m[2], m[0]))
        negated_ends: list[int] = []
        for ind_id, s, e in ordered:
            ind = inds[ind_id]
            if any(xs < e and s < xe for xs, xe in exc.get(ind_id, ())):
                dropped.append((ind_id, s, e))
                continue
            if ind.negatable:
                # other matches' spans: a negation cue inside one belongs to it (see _negated)
                owned = [(ms, me) for i, ms, me in ordered if (ms, me) != (s, e) and not (ms <= s and e <= me)]
                if self._negated(doc, s, e, owned) or self._coordinated(doc, s, negated_ends):
                    dropped.append((ind_id, s, e))
                    negated_ends.append(e)
                    continue
            if suppressors:
                ss, se = sent_of(s)
                if any(ind.category in cats and ss <= pos < se for cats, pos, _ in suppressors):
                    dropped.append((ind_id, s, e))
                    continue
            kept.append((ind_id, s, e))

        # within a category keep one span per overlapping group: heavier, then longer, then earlier
        kept.sort(key=lambda m: (-inds[m[0]].weight, -(m[2] - m[1]), m[1], m[0]))
        chosen: list[tuple[str, int, int]] = []
        overlapped: list[tuple[str, int, int]] = []
        for ind_id, s, e in kept:
            cat = inds[ind_id].category
            if any(inds[c].category == cat and cs < e and s < ce for c, cs, ce in chosen):
                overlapped.append((ind_id, s, e))
                continue
            chosen.append((ind_id, s, e))
        chosen.sort(key=lambda m: (m[1], m[2], m[0]))
        overlapped.sort(key=lambda m: (m[1], m[2], m[0]))
        dropped.sort(key=lambda m: (m[1], m[2], m[0]))
        doc.user_data[self._cue_user_key] = (n, cue_matches)
        doc.spans[self.spans_key] = [Span(doc, s, e, label=i) for i, s, e in chosen]
        doc.spans[self.negated_key] = [Span(doc, s, e, label=i) for i, s, e in dropped]
        doc.spans[getattr(self, "overlap_key", "indicators_overlapped")] = [
            Span(doc, s, e, label=i) for i, s, e in overlapped]
        return doc

    # ---------------------------------------------------------------- serialisation

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        """Serialise the loaded indicator set (JSON)."""
        if self.indicator_set is None:
            return b"null"
        return json.dumps(self.indicator_set.to_dict(), ensure_ascii=False).encode("utf-8")

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> "IndicatorMatcher":
        """Load an indicator set serialised by :meth:`to_bytes`."""
        obj = json.loads(data.decode("utf-8"))
        if obj is not None:
            self.set_indicators(IndicatorSet.from_dict(obj))
        return self

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write ``indicator_set.json`` into the folder ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "indicator_set.json").write_bytes(self.to_bytes())

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "IndicatorMatcher":
        """Read ``indicator_set.json`` from the folder ``path``."""
        return self.from_bytes((Path(path) / "indicator_set.json").read_bytes())


@Language.factory(
    "adwatch_indicators",
    assigns=["doc.spans"],
    default_config={
        "indicators_dir": None,
        "language": None,
        "spans_key": "indicators",
        "negated_key": "indicators_negated",
    },
)
def make_adwatch_indicators(
    nlp: Language,
    name: str,
    indicators_dir: str | None,
    language: str | None,
    spans_key: str,
    negated_key: str,
) -> IndicatorMatcher:
    """Factory for ``nlp.add_pipe("adwatch_indicators", config={...})``.

    Args:
        indicators_dir: folder of indicator YAML; if set, patterns load now, else in ``initialize``.
        language: language of the patterns (default: ``nlp.lang``).
        spans_key / negated_key: ``doc.spans`` keys written.
    """
    lang = language or str(nlp.lang)
    iset = load_indicator_set(Path(indicators_dir), lang) if indicators_dir else None
    return IndicatorMatcher(
        nlp, name, iset, spans_key=spans_key, negated_key=negated_key
    )


def build_pipeline(indicators_dir: Path | str, language: str = "en", places: bool = False) -> Language:
    """``spacy.blank(language)`` + ``adwatch_indicators`` loaded from ``indicators_dir``.

    No sentencizer: a sentencizer costs about as much as tokenising. The component finds sentence
    boundaries itself, only where negation windows and suppress rules need them (a token after
    ``.``, ``!``, ``?`` or a line break starts a sentence; see :func:`_sent_start`). With ``places``
    the gazetteer component ``adwatch_places`` (:class:`scoring.extract.PlaceMatcher`) follows.

    Raises:
        IndicatorConfigError: the YAML files are missing or malformed.
    """
    nlp = spacy.blank(language)
    folder = str(Path(indicators_dir).resolve())
    nlp.add_pipe("adwatch_indicators", config={"indicators_dir": folder, "language": language})
    if places:
        import scoring.extract  # noqa: F401  (registers the adwatch_places factory)

        nlp.add_pipe("adwatch_places", config={"indicators_dir": folder})
    return nlp
