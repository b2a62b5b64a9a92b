"""Bias report: flag rate and mean risk by the nationality, ethnicity and language an ad mentions.

Mentions of nationality or ethnicity are common in legitimate ads too, and detectors that use them
flag some groups more often (Hundman et al., "Always Lurking: Understanding and Mitigating Bias in
Online Human Trafficking Detection", AIES 2018). This module measures, for each group mentioned,
how many ads mention it, what share of them is flagged (band medium or high) and their mean risk,
beside the same figures for all ads and for ads that mention no group of that dimension.

Groups come from the DIG lexicons (USC ISI, ``data/memex-dig-lexicons``, via
:func:`scoring.features.identity_lexicon`):

* ``nationality``: a term of ``nationalities/nationality.json`` (``"Brazilian"``);
* ``ethnicity``: a term of ``ethnicities/ethnicities.txt`` or a category name of
  ``ethnicity-nationality-reference.json`` that is not a nationality (``"Asian"``, ``"Latina"``);
* ``language``: a nationality adjective or ethnicity term used as a language: followed by
  ``speaking``, ``speaker(s)``, ``language(s)``, ``skills``, ``proficiency``, ``fluency``,
  ``translator``, ``teacher``, ``communication``, ``writing``, ``level`` or ``(as a) mother
  tongue``, or preceded by ``speak(s)``, ``fluent (in)``, ``fluency (in)``, ``proficient (in)``,
  ``speaker(s) of``, ``knowledge of``, ``command of (the)``, ``native``, ``bilingual``, ``written``, ``spoken``,
  ``verbal``, ``oral``, ``good``, ``excellent``, ``strong``, ``basic``, ``little``, ``some``,
  ``conversational``, ``perfect``, ``business``, ``in`` or ``than`` (``"Spanish-speaking"``, ``"fluent
  English"``, ``"excellent written English"``, ``"CV in English"``, ``"speaks little English"``). A mention used
  as a language counts for the language only, not as a nationality or ethnicity: "fluent English
  required" says nothing about who the ad is for. A list of such terms followed by "would be an
  advantage", "is a plus" or "an asset" is a language too (``"Italian or French would be an
  advantage"``).

A term followed by a noun for a thing (:data:`THING_NOUNS`, :data:`THING_PHRASES`: "German
shepherd", "Swiss cheese", "Swedish massage", "Full English breakfast") is not a mention, nor is the lower-case word
"polish" ("nail polish").

Ethnicity terms that are also everyday words (:func:`everyday_sense`: ``white``, ``black``,
``caramel`` and the lexicon's spellings of ``chocolate``) count only next to a word for a person or
their skin (``"white girl"``, ``"caramel skin"``, :data:`PERSON_NOUNS`), so "white papers" and "black
box testing" are not ethnicity mentions. (A new user found both counted in the demo's job ads.)

Scoring never imports storage: callers pass ``(text, risk, band)`` triples; ``cli/modeling.py``
reads them from the database or a scored JSONL file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from scoring.features import IdentityLexicon, identity_lexicon

__all__ = ["DIMENSIONS", "FLAGGED_BANDS", "BiasReport", "GroupStats", "bias_report", "mentioned_groups"]

DIMENSIONS: tuple[str, ...] = ("nationality", "ethnicity", "language")
"""The dimensions reported, in order."""

FLAGGED_BANDS = frozenset({"medium", "high"})
"""Bands that count as flagged (the ad enters the analyst queue; see ``config.settings.Bands``)."""

_LANG_AFTER = (
    r"(?:[\s-]+(?:speaking|speakers?|languages?|skills|proficiency|fluency|translators?|teachers?|"
    r"communication|writing|level|(?:as\s+(?:a\s+)?)?mother\s+tongue)"
    r"|(?=\s*\)))"  # "skills (English)Strong ..."
)
_LANG_BEFORE = (
    r"(?:(?:speaks?|speaking|speakers?\s+of|fluent(?:ly)?|fluency|proficient|proficiency|"
    r"(?:knowledge|command)\s+of(?:\s+the)?|native|bilingual|written|spoken|verbal|oral|good|excellent|"
    r"strong|basic|little|some|conversational|"
    r"perfect|business|in|than)\s+(?:(?:in|and|or|both|written|spoken|verbal|oral)\s+)*)"
)
_LIST_SEP = r"(?:\s*(?:,|/|&|\band\b|\bor\b)\s*)"
_LANG_MERIT = (r"(?:\s+(?:(?:is|are|would\s+be|will\s+be)\s+)?(?:considered\s+)?(?:an?\s+)?"
               r"(?:advantage|plus|asset|bonus))")

THING_NOUNS: tuple[str, ...] = (
    "shepherd", "shepherds", "bulldog", "bulldogs", "terrier", "terriers", "ocean", "sea", "express", "airlines",
    "fries", "door", "doors", "toast", "cheese", "pastry", "pastries", "coffee", "tea", "yogurt", "yoghurt",
    "oven", "ovens", "pub", "pubs", "restaurant", "restaurants", "cuisine", "food",
    "foods", "dish", "dishes", "wax", "waxing", "breakfast", "dressing", "bread", "salad", "sausage",
    "press", "horn", "knot", "braid", "braids", "manicure", "blinds", "style", "roast",
)
"""Nouns after which a nationality or ethnicity term names a thing, not people ("German
shepherd", "French fries", "Full English breakfast"): not a mention. "Massage" is not one of them:
"Asian massage" or "Thai massage" in an ad usually describes the workers, so only the technique
"Swedish massage" is exempt (:data:`THING_PHRASES`)."""

THING_PHRASES: tuple[str, ...] = ("swedish massage",)
"""Whole phrases that name a thing although their noun can describe people elsewhere."""

PERSON_NOUNS: tuple[str, ...] = (
    "girl", "woman", "women", "lady", "ladies", "man", "men", "guy", "boy", "female", "male", "people",
    "person", "applicant", "candidate", "worker", "model", "escort", "babe", "beauty", "beauties", "chick",
    "gentleman", "gentlemen", "client", "skin", "skinned", "complexion", "teen", "student", "staff",
)
"""Words after which an everyday-sense ethnicity term (:func:`everyday_sense`) means a person's
ethnicity (plural ``s`` allowed), e.g. "white girls", "chocolate skin"."""


def everyday_sense(term: str) -> bool:
    """True for an ethnicity lexicon term that is also an everyday word: ``white``, ``black``,
    ``caramel`` and the DIG lexicon's spellings of ``chocolate`` (``choclate``, ``ch0colate``, ...)."""
    t = term.lower()
    return t in {"white", "black", "caramel"} or (t[:1] == "c" and any(x in t for x in ("lat", "loat", "oate")))


@lru_cache(maxsize=8)
def _patterns(nationalities: tuple[str, ...], ethnicities: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """Regexes: nationality, ethnicity, a language mention (group 1: one term or a list of terms
    joined by and/or/commas/slashes, in a language context), and any single term."""
    def alt(terms: tuple[str, ...]) -> str:
        return "|".join(re.escape(t).replace(r"\ ", r"[\s-]+") for t in sorted(terms, key=lambda t: (-len(t), t)))

    nat, eth = alt(nationalities), alt(ethnicities)
    both = alt(tuple(sorted(set(nationalities) | set(ethnicities))))
    word = r"(?<![\w-]){body}s?(?![\w])"
    terms = rf"(?:{both})(?:{_LIST_SEP}(?:{both}))*"
    return (
        re.compile(word.format(body=f"({nat})"), re.IGNORECASE),
        re.compile(word.format(body=f"({eth})"), re.IGNORECASE),
        re.compile(rf"(?<![\w-])({terms})(?:{_LANG_AFTER}|(?<=\w){_LANG_MERIT})(?![\w])"
                   rf"|(?<![\w-]){_LANG_BEFORE}({terms})(?![\w]|-\w)", re.IGNORECASE),
        re.compile(rf"(?<![\w-])({both})(?![\w-])", re.IGNORECASE),
    )


def mentioned_groups(text: str, lexicon: IdentityLexicon | None = None) -> dict[str, set[str]]:
    """The groups ``text`` mentions, per dimension.

    Args:
        text: an ad text.
        lexicon: the terms (default: :func:`scoring.features.identity_lexicon` of the shipped folder).

    Returns:
        ``{"nationality": {...}, "ethnicity": {...}, "language": {...}}``; each group is the lexicon
        term in title case (``"South African"``); matching is case-insensitive, whole words, plural
        ``s`` allowed.
    """
    lex = lexicon or identity_lexicon()
    nat_re, eth_re, lang_re, term_re = _patterns(lex.nationalities, lex.ethnicities)

    def canon(term: str) -> str:
        t = " ".join(re.split(r"[\s-]+", term.lower()))
        return t.title()

    out: dict[str, set[str]] = {d: set() for d in DIMENSIONS}
    lang_spans = []
    for m in lang_re.finditer(text):
        g = 1 if m.group(1) else 2
        lo, hi = m.span(g)
        lang_spans.append((lo, hi))
        out["language"].update(canon(t.group(1)) for t in term_re.finditer(text, lo, hi))

    def inside(m: re.Match[str], spans: list[tuple[int, int]]) -> bool:
        return any(s <= m.start(1) and m.end(1) <= e for s, e in spans)

    def thing(m: re.Match[str]) -> bool:
        """The term names a thing ("Swiss cheese"), or is the lower-case word "polish"."""
        if m.group(1) == "polish" or _THING_AFTER.match(text, m.end()):
            return True
        rest = " ".join(text[m.start(1):m.start(1) + 40].lower().split())
        return any(rest.startswith(p) for p in THING_PHRASES)

    nat_matches = [m for m in nat_re.finditer(text) if not thing(m)]
    out["nationality"] = {canon(m.group(1)) for m in nat_matches if not inside(m, lang_spans)}
    nat_spans = [m.span(1) for m in nat_matches]
    out["ethnicity"] = {  # "African" inside "South African" is the nationality, not another mention
        canon(m.group(1)) for m in eth_re.finditer(text)
        if not inside(m, nat_spans) and not inside(m, lang_spans) and not thing(m)
        and (not everyday_sense(m.group(1)) or _PERSON_AFTER.match(text, m.end()))
    }
    return out


_THING_AFTER = re.compile(r"[\s-]+(?:" + "|".join(THING_NOUNS) + r")\b", re.IGNORECASE)
"""After a nationality or ethnicity term: a :data:`THING_NOUNS` noun."""

_PERSON_AFTER = re.compile(
    r"[\s-]+(?:(?:and|or|&|/)\s*\w+[\s-]+)?(?:" + "|".join(PERSON_NOUNS) + r")s?\b", re.IGNORECASE)
"""After an everyday-sense term: a person noun, also across a pair ("black and white girls")."""


@dataclass(slots=True)
class GroupStats:
    """Figures for the ads of one group.

    Attributes:
        n: ads in the group.
        flagged: ads whose band is medium or high.
        risk_sum: sum of their risks (for the mean).
    """

    n: int = 0
    flagged: int = 0
    risk_sum: float = 0.0

    def add(self, risk: float, flagged: bool) -> None:
        """Count one ad."""
        self.n += 1
        self.flagged += int(flagged)
        self.risk_sum += float(risk)

    def as_dict(self, digits: int = 4) -> dict[str, float | int | None]:
        """``{"n", "flagged", "flag_rate", "flag_rate_low", "flag_rate_high", "mean_risk"}``.

        ``flag_rate_low``/``flag_rate_high`` bound a 95% Wilson score interval of the flag rate
        (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``), so a group of 2 ads with
        flag rate 1.0 shows [0.34, 1.0]. All rates are ``None`` for an empty group.
        """
        low = high = None
        if self.n:
            from scipy.stats import binomtest

            ci = binomtest(self.flagged, self.n).proportion_ci(confidence_level=0.95, method="wilson")
            low, high = round(float(ci.low), digits), round(float(ci.high), digits)
        return {
            "n": self.n,
            "flagged": self.flagged,
            "flag_rate": round(self.flagged / self.n, digits) if self.n else None,
            "flag_rate_low": low,
            "flag_rate_high": high,
            "mean_risk": round(self.risk_sum / self.n, digits) if self.n else None,
        }


@dataclass
class BiasReport:
    """Flag rate and mean risk overall and per mentioned group.

    Attributes:
        overall: all ads.
        groups: dimension -> group -> stats; an ad mentioning two groups counts in both.
        none: dimension -> stats of the ads that mention no group of that dimension.
        source: what was read (a database URL without password, or a file path).
    """

    overall: GroupStats = field(default_factory=GroupStats)
    groups: dict[str, dict[str, GroupStats]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})
    none: dict[str, GroupStats] = field(default_factory=lambda: {d: GroupStats() for d in DIMENSIONS})
    source: str = ""

    def as_dict(self, min_n: int = 1) -> dict[str, object]:
        """JSON-ready dict: ``source``, ``overall``, and per dimension ``none`` plus ``groups``
        (``[{group, n, flagged, flag_rate, flag_rate_low, flag_rate_high, mean_risk}]``, by
        descending ``n`` then name; groups with fewer than ``min_n`` ads left out, and counted in
        ``left_out``: ``{"groups": ..., "ads": ...}``, ads counted once per group)."""
        dims: dict[str, object] = {}
        for d in DIMENSIONS:
            ordered = sorted(self.groups[d].items(), key=lambda kv: (-kv[1].n, kv[0]))
            rows = [{"group": g, **s.as_dict()} for g, s in ordered if s.n >= min_n]
            small = [s.n for _, s in ordered if s.n < min_n]
            dims[d] = {"none": self.none[d].as_dict(), "groups": rows,
                       "left_out": {"groups": len(small), "ads": sum(small)}}
        return {"source": self.source, "overall": self.overall.as_dict(), **dims}


def bias_report(
    items: Iterable[tuple[str, float, str]],
    *,
    lexicon: IdentityLexicon | None = None,
    lexicon_dir: Path | None = None,
    source: str = "",
) -> BiasReport:
    """Compute the bias report over scored ads.

    Args:
        items: ``(text, risk, band)`` per ad; ``risk`` in [0, 1], ``band`` ``"low"``, ``"medium"``
            or ``"high"`` (medium and high count as flagged, :data:`FLAGGED_BANDS`).
        lexicon: the identity terms (default: loaded from ``lexicon_dir``).
        lexicon_dir: the DIG lexicon folder (default: the shipped ``data/memex-dig-lexicons``).
        source: label stored in the report.

    Returns:
        The :class:`BiasReport`.

    Raises:
        ValueError: a risk outside [0, 1] or an unknown band.
    """
    lex = lexicon or identity_lexicon(lexicon_dir)
    report = BiasReport(source=source)
    for i, (text, risk, band) in enumerate(items):
        r = float(risk)
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"ad {i}: risk {risk!r} outside [0, 1]")
        if band not in ("low", "medium", "high"):
            raise ValueError(f"ad {i}: unknown band {band!r}")
        flagged = band in FLAGGED_BANDS
        report.overall.add(r, flagged)
        for d, groups in mentioned_groups(text or "", lex).items():
            if not groups:
                report.none[d].add(r, flagged)
            for g in groups:
                report.groups[d].setdefault(g, GroupStats()).add(r, flagged)
    return report
