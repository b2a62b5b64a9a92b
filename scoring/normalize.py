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
4. typographic quotes -> ``'`` / ``"``, dashes and minus signs -> ``-``.

Case is *not* folded: the spaCy matchers compare ``LOWER`` and the extractors decide case themselves
(``I`` is a look-alike for 1, ``i`` is not).
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["NormalizedText", "normalize_text"]

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
    return ch


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
