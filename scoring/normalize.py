"""Text normalisation for rule matching, with a map back to the caller's character offsets.

Ads hide words and digits behind Unicode tricks: zero-width characters inside words
(``pass\u200bport``), fullwidth or mathematical letters (``ｃａｌｌ``, ``𝐜𝐚𝐥𝐥``), keycap digits
(``4\ufe0f\u20e3``), Arabic-Indic digits, curly apostrophes (``don’t``). :func:`normalize_text` folds
these so that the spaCy patterns and the extraction regexes see plain text, and keeps a map from every
normalised character back to the original string, so every offset adwatch reports is an offset into
the text the caller gave (``Ad.text``).

Folding, in order, per character (ASCII text is returned unchanged, without a map):

1. drop format/invisible characters: zero-width space/joiners, word joiner, BOM, soft hyphen,
   left-to-right/right-to-left marks, variation selectors and the combining keycap (U+20E3);
2. Unicode decimal digits of any script -> ASCII ``0``-``9``;
3. NFKC compatibility folding (fullwidth, ligatures, mathematical alphanumerics, circled digits,
   no-break spaces);
4. typographic quotes -> ``'`` / ``"``, dashes and minus signs -> ``-``;
5. before all that, runs that look like mojibake (UTF-8 read as Windows-1252: ``donâ€™t``) are
   repaired with ftfy, run by run.

:func:`fold_obfuscation` goes further for indicator matching only: spaced-out letters
(``p a s s p o r t``) and leetspeak (``p4ssp0rt``). Look-alike letters for digits (O for 0, l and I
for 1) are read by the phone extractor inside digit runs (``scoring.extract``), where they are
unambiguous.

Case is *not* folded: the spaCy matchers compare ``LOWER`` and the extractors decide case themselves
(``I`` is a look-alike for 1, ``i`` is not).
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["NormalizedText", "compose", "fold_obfuscation", "looks_like_mojibake", "normalize_text"]

_DROP = frozenset(
    "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u20e3"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
)
_QUOTES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
}
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """Return the replacement for one non-ASCII character (possibly empty or several characters)."""
    if ch in _DROP:
        return ""
    if ch in _QUOTES:
        return _QUOTES[ch]
    if ch in _DASHES:
        return "-"
    dec = unicodedata.decimal(ch, None)
    if dec is not None:
        return str(dec)
    out = unicodedata.normalize("NFKC", ch)
    if out != ch:
        # NFKC may produce characters that need folding again (e.g. U+FE63 small hyphen-minus).
        return "".join(_fold_char(c) if not c.isascii() else c for c in out)
    dig = unicodedata.digit(ch, None)  # dingbat negative circled digits (U+2776..) NFKC leaves alone
    if dig is not None:
        return str(dig)
    return ch


_MOJIBAKE = re.compile(
    r"[\u00c2-\u00c3\u00e2\u00c5\u00ce\u00cf\u00d0\u00d1]"
    r"[\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]+"
)


def looks_like_mojibake(text: str) -> bool:
    """True when ``text`` holds a run that looks like UTF-8 read as Windows-1252 or Latin-1
    (``Ã©``, ``â€™``, ``Ð¿``): a lead-byte character followed by continuation-like characters. A
    C-speed pre-check before asking ftfy, whose own check costs about 0.3 ms per text."""
    return _MOJIBAKE.search(text) is not None


def _fix_mojibake(text: str) -> str:
    """Let ftfy repair UTF-8 read as Windows-1252/Latin-1 (``donâ€™t`` -> ``don't``), run by run.

    Each suspicious run (a lead byte character followed by continuation-like characters) is fixed
    on its own, so the offset map stays a per-run map; text without such runs is untouched.
    """
    import ftfy

    return _MOJIBAKE.sub(lambda m: ftfy.fix_text(m.group(), normalization="NFC"), text)


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A normalised string and the way back to the caller's offsets.

    Attributes:
        text: the normalised text (what matchers and regexes see).
        original: the caller's text; every reported offset indexes into this string.
        starts: ``None`` when ``text`` and ``original`` align one to one (same length, so offsets
            are shared); otherwise ``starts[i]`` is the original offset where normalised character
            ``i`` begins.
        ends: like ``starts``, the original offset just past normalised character ``i``.
    """

    text: str
    original: str
    starts: array[int] | None = None
    ends: array[int] | None = None

    @property
    def identity(self) -> bool:
        """True when normalised offsets equal original offsets."""
        return self.starts is None

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span ``[start, end)`` of :attr:`text` to one of :attr:`original`.

        Args:
            start: start offset into the normalised text (0 <= start <= end <= len(text)).
            end: end offset (exclusive).

        Returns:
            ``(orig_start, orig_end)``: the smallest original span covering every original character
            the normalised span came from (invisible characters inside it are included).
        """
        if self.starts is None or self.ends is None:
            return start, end
        if start >= end:
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


def normalize_text(text: str) -> NormalizedText:
    """Fold ``text`` for matching (see the module docstring) and keep an offset map.

    Args:
        text: the caller's text (any Unicode string).

    Returns:
        A :class:`NormalizedText`. For ASCII input, or when folding keeps every character's length,
        no map is built and offsets are shared.

    Runs in C-speed passes for ASCII text; only non-ASCII characters are inspected in Python.
    """
    if text.isascii():
        return NormalizedText(text, text)
    if _MOJIBAKE.search(text):
        fixed = _fix_runs(text)
        if fixed is not None:
            inner = normalize_text(fixed.text)
            return compose(fixed, inner)
    pieces: list[str] = []
    changes: list[tuple[int, str]] = []  # (original index, replacement) where length changes
    last = 0
    same_length = True
    for m in _NON_ASCII.finditer(text):
        ch = m.group()
        rep = _fold_char(ch)
        if rep == ch:
            continue
        i = m.start()
        pieces.append(text[last:i])
        pieces.append(rep)
        last = i + 1
        if len(rep) != 1:
            same_length = False
            changes.append((i, rep))
    pieces.append(text[last:])
    norm = "".join(pieces)
    if same_length:
        return NormalizedText(norm, text)
    starts: array[int] = array("i")
    ends: array[int] = array("i")
    prev = 0
    for i, rep in changes:
        starts.extend(range(prev, i))
        ends.extend(range(prev + 1, i + 1))
        for _ in rep:
            starts.append(i)
            ends.append(i + 1)
        prev = i + 1
    starts.extend(range(prev, len(text)))
    ends.extend(range(prev + 1, len(text) + 1))
    return NormalizedText(norm, text, starts, ends)


def _from_replacements(text: str, reps: list[tuple[int, int, str]]) -> NormalizedText:
    """Apply non-overlapping, sorted ``(start, end, replacement)`` edits to ``text`` with an offset map;
    every character of a replacement maps to the whole replaced span."""
    pieces: list[str] = []
    starts: array[int] = array("i")
    ends: array[int] = array("i")
    last = 0
    for a, b, rep in reps:
        pieces.append(text[last:a])
        starts.extend(range(last, a))
        ends.extend(range(last + 1, a + 1))
        pieces.append(rep)
        for _ in rep:
            starts.append(a)
            ends.append(b)
        last = b
    pieces.append(text[last:])
    starts.extend(range(last, len(text)))
    ends.extend(range(last + 1, len(text) + 1))
    return NormalizedText("".join(pieces), text, starts, ends)


def _fix_runs(text: str) -> NormalizedText | None:
    reps = []
    for m in _MOJIBAKE.finditer(text):
        fixed = _fix_mojibake(m.group())
        if fixed != m.group():
            reps.append((m.start(), m.end(), fixed))
    return _from_replacements(text, reps) if reps else None


def compose(outer: NormalizedText, inner: NormalizedText) -> NormalizedText:
    """Chain two foldings: ``inner`` folds ``outer.text``; the result maps ``inner.text`` straight
    back to ``outer.original``."""
    if inner.identity:
        return NormalizedText(inner.text, outer.original, outer.starts, outer.ends)
    starts: array[int] = array("i")
    ends: array[int] = array("i")
    for i in range(len(inner.text)):
        a, b = outer.span_to_original(inner.starts[i], inner.ends[i])  # type: ignore[index]
        starts.append(a)
        ends.append(b)
    return NormalizedText(inner.text, outer.original, starts, ends)


# ---- obfuscation folding for indicator matching (not for contact extraction, which reads digits)

_SPACED = re.compile(r"(?<![\w])(?:[A-Za-z][ .\-_*]){3,}[A-Za-z](?![\w])")
"""Four or more single letters separated by one space or symbol: ``p a s s p o r t``, ``f.e.e``."""
_LEET_WORD = re.compile(r"(?<![\w@$])[A-Za-z]+(?:[013457@$]+[A-Za-z]+)+(?![\w@$])")
"""A word with look-alike digits or symbols *between* letters: ``p4ssp0rt``, ``s3x``, ``m@ssage``."""
_LEET_HINT = re.compile(r"[013457@$]+[A-Za-z]")
_SPACED_HINT = re.compile(r" [A-Za-z][ .\-_*][A-Za-z][ .\-_*][A-Za-z][ .\-_*]")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


def fold_obfuscation(norm: NormalizedText) -> NormalizedText:
    """Undo spaced-out letters and common leetspeak in ``norm.text`` for indicator matching.

    ``p a s s p o r t`` -> ``passport`` (4+ single letters joined), ``p4ssp0rt`` -> ``passport``,
    ``fr3e`` -> ``free`` (look-alikes 0 1 3 4 5 7 @ $ only *between* letters, so ``24/7``, ``5pm``,
    ``3rd`` and phone numbers are untouched). Contact extraction does not use this text: it reads
    digits (and maps O/l/I to 0/1 only inside digit runs itself).

    Returns:
        ``norm`` itself when nothing needs folding (C-speed checks), else a :class:`NormalizedText`
        whose map leads back to ``norm.original``.
    """
    t = norm.text
    # cheap hints first (regexes that start on rare characters); most ads stop here
    has_leet = any(m.start() and t[m.start() - 1].isalpha() for m in _LEET_HINT.finditer(t))
    has_leet = has_leet and _LEET_WORD.search(t) is not None
    spaced_hint = _SPACED_HINT.search(t) is not None or _SPACED_HINT.match(" " + t[:8]) is not None
    spaced = list(_SPACED.finditer(t)) if spaced_hint else []
    if not has_leet and not spaced:
        return norm
    if has_leet:
        t = _LEET_WORD.sub(lambda m: m.group().translate(_LEET), t)  # same length: offsets kept
    if not spaced:
        return NormalizedText(t, norm.original, norm.starts, norm.ends)
    reps = [(m.start(), m.end(), re.sub(r"[ .\-_*]", "", m.group())) for m in spaced]
    inner = _from_replacements(t, reps)
    return compose(NormalizedText(t, norm.original, norm.starts, norm.ends), inner)
