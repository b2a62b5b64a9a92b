"""Sentence selection: tokenise only the sentences of an ad that can hold a match.

Tokenising a whole ad costs more than every rule run on it (``bench/scoring_rules.py``), and most
sentences of a job ad ("You will join a friendly team.") can hold no indicator. One Aho-Corasick
pass (pyahocorasick) over the lower-cased text of an ad (:meth:`SentenceSelector.scan`) finds:

- every indicator and exception phrase (its first four tokens, in every spacing consecutive tokens
  can have: nothing or one space); their sentences are kept;
- for every token pattern (``Matcher``), the runs of consecutive literal words it needs ("new in",
  "ask for") and its other required word sets (stop words aside). A match holds one hit of each and
  spans at most ``L`` tokens, so around the hits of the rarest set a block of sentences reaching
  ``L`` whitespace-separated chunks (each at least one token) on both sides is kept, if the other
  sets, and a digit where a ``REGEX`` token needs one, occur inside it;
- the ad-type cues and gazetteer places of the whole text, each confirmed token by token with the
  pipeline's tokenizer on its chunk (so they equal the ``PhraseMatcher`` matches on the whole doc);
- the number words and platform names the contact extractor would otherwise look for with two
  whole-text regex scans (passed to it as ``hints``).

The rule engine then tokenises the kept sentences only, joined in their original order, and maps
offsets back through :class:`SelectedText`. The result is the same as matching the whole text,
because ``adwatch_indicators`` looks no further than the sentence of a match (negation windows and
``suppress`` rules stop at its boundary) and a token pattern no further than its ``L`` tokens.

Sentence boundaries are placed only where the component's own rule (:func:`scoring.indicators._sent_start`)
sees one in the whole text: after a whitespace run holding a line break, or after ``. ``/``! ``/``? ``/
``… `` when the tokenizer ends that chunk with the punctuation as a token (cached per chunk). They
fall after whitespace, where spaCy's tokenizer splits anyway, so each kept sentence is tokenised
exactly as inside the whole text. ``tests/scoring/test_segments.py`` checks that the engine's output
is identical with and without selection on the gold set, the phone fixtures, the demo board's ads,
DIFrauD ads and edge cases, for every ad type.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from scoring.normalize import NormalizedText

__all__ = ["SelectedText", "Selection", "SentenceSelector", "select_text"]

_SENT_END = frozenset({".", "!", "?", "...", "…"})
"""Tokens after which a boundary is placed here: those of ``scoring.indicators._SENT_END`` that close a
sentence (not ``¡``/``¿``); fewer boundaries only make kept spans longer, never different."""
_CACHE_LIMIT = 200_000
_MAX_PREFIX = 4
_MAX_SEQUENCES = 64
"""A run of consecutive pattern tokens is looked for as whole sequences up to this many."""
"""Phrases longer than this many tokens are looked for by their first tokens (a necessary condition)."""

_SELECT, _ANCHOR, _CUE, _PLACE, _SEED, _PLATFORM = 0, 1, 2, 3, 4, 5
_DIGIT = re.compile(r"[0-9]")


def _char_class(ch: str) -> int:
    return 1 if ch.isalpha() else 2 if ch.isdigit() else 0


class _CharClasses(dict):  # type: ignore[type-arg]
    """``{char: 1 letter, 2 digit, 0 other}``, filled on first look-up."""

    def __missing__(self, ch: str) -> int:
        self[ch] = value = _char_class(ch)
        return value


_SPACE_OR_HYPHEN = "-" + "".join(chr(c) for c in range(0x3000 + 1) if re.match(r"\s", chr(c)))
"""Every character ``[\\s-]`` matches , for names whose words a regex joins so."""


def _variants(tokens: tuple[str, ...]) -> list[str]:
    """Every string the token sequence can occupy in a text: consecutive tokens of a doc are
    separated by nothing or by one space (more whitespace is a token of its own)."""
    out = [tokens[0]]
    for tok in tokens[1:]:
        out = [v + sep + tok for v in out for sep in ("", " ")]
    return out


@dataclass(slots=True)
class Selection:
    """What :meth:`SentenceSelector.scan` found in one text.

    Attributes:
        ranges: ``[start, end)`` character ranges to tokenise, in order and disjoint (``[]``: none);
            ``None``: tokenise the whole text.
        cues: the distinct ad-type cue matches ``(cue label key, matched text lower-cased)``, the
            same pairs ``IndicatorMatcher.ad_type_scores`` counts on a whole doc.
        places: gazetteer places ``(start, end, value)`` after ``filter_spans`` (longest first),
            ordered by start; offsets index the scanned text.
        extraction_hints: ``(seed word starts, platform word starts)`` for
            :meth:`scoring.extract.ContactExtractor.extract` (``hints``), valid for the text as
            scanned; ``None`` when the text was not scanned for them.
    """

    ranges: list[tuple[int, int]] | None
    cues: set[tuple[int, str]] = field(default_factory=set)
    places: list[tuple[int, int, str]] = field(default_factory=list)
    extraction_hints: tuple[list[int], list[int]] | None = None


class SentenceSelector:
    """Find the sentences of a text that the indicator matchers can match in, and the ad-type cues
    and gazetteer places of the whole text, without tokenising it.

    Args:
        tokenizer: the pipeline's tokenizer (``nlp.tokenizer``). It is run on single chunks only
            (cached): to confirm that a ``.``/``!``/``?`` ends a token, and to confirm cue and place
            matches token by token, so they are exactly the ``PhraseMatcher`` matches on the whole doc.
        phrases: token sequences (lower-cased token texts) whose sentences must be kept: indicator
            and exception phrases.
        patterns: per Matcher token pattern, ``(L, runs, needs digit)``: its longest match in
            tokens, its runs of consecutive required literal tokens as lower-case word sets (a match
            holds one word of each set, a run's words one after the other; see
            ``scoring.indicators._required_runs``), and whether a match must hold a digit
            (``IndicatorMatcher.pattern_requirements``).
        cues: ``(label key, token sequence lower-cased)`` of the ad-type cue phrases.
        places: ``{surface name: value}`` of the gazetteer (case-sensitive, words split on spaces).
        extraction_words: ``(seed words, platform words)`` of
            :meth:`scoring.extract.ContactExtractor.candidate_words`, whose occurrences the same scan
            reports for the extractor.
        stopwords: common words (``matching.anchor_stopwords`` of the indicator files); a pattern's
            word set holding one is not looked for (it would be found in nearly every sentence).
        max_fraction: if the kept sentences cover more than this fraction of the text (0 to 1), the
            whole text is tokenised instead.
    """

    def __init__(
        self,
        tokenizer: Any,
        phrases: Iterable[tuple[str, ...]],
        patterns: Iterable[tuple[int, list[list[set[str]]], bool]],
        cues: Iterable[tuple[int, tuple[str, ...]]] = (),
        places: dict[str, str] | None = None,
        extraction_words: tuple[list[str], list[str]] | None = None,
        stopwords: Iterable[str] = (),
        max_fraction: float = 0.95,
    ) -> None:
        self.tokenizer = tokenizer
        self.max_fraction = max_fraction
        # token texts that special cases split out of a letter run ("can|not", "do|n't", "gon|na"):
        # a match may start or end there without a non-letter beside it
        self._glue: frozenset[str] = frozenset()
        rules = getattr(tokenizer, "rules", None) or {}
        self._rules = frozenset(rules)
        glue = set()
        for pieces in rules.values():
            if len(pieces) > 1:
                for piece in pieces:
                    orth = piece.get(65) or piece.get("ORTH") or ""  # 65 = spacy.attrs.ORTH
                    glue.add(str(orth).lower())
        self._glue = frozenset(glue)
        lower: dict[str, list[tuple[Any, ...]]] = {}
        for seq in phrases:
            seq = tuple(t for t in seq if t)
            if seq:
                self._add(lower, seq[:_MAX_PREFIX], (_SELECT, 0))
        # a token pattern is looked for by its required word sets; sets holding a stop word would
        # hit everywhere and are not checked (unless the pattern has no other)
        self._patterns: list[tuple[int, int, bool]] = []  # (L, number of checked sets, needs digit)
        stop = {w.lower() for w in stopwords}
        for length, runs, digit in patterns:
            # a run of consecutive required tokens is looked for whole ("new in", "new to") when its
            # word sets make few sequences; a sequence of stop words alone is not looked for
            units: list[list[tuple[str, ...]]] = []
            singles: list[set[str]] = []
            for run in runs:
                run = [ws for ws in run if ws]
                if not run:
                    continue
                size = 1
                for ws in run:
                    size *= len(ws)
                if len(run) > 1 and size <= _MAX_SEQUENCES and any(self._useful(ws, stop) for ws in run):
                    seqs: list[tuple[str, ...]] = [()]
                    for ws in run:
                        seqs = [q + (w,) for q in seqs for w in sorted(ws)]
                    units.append(seqs)
                else:
                    singles.extend(run)
            units.extend([(w,) for w in sorted(ws)] for ws in singles if self._useful(ws, stop))
            if not units:
                smallest = min((ws for run in runs for ws in run if ws), key=len, default=None)
                if smallest is None:
                    raise ValueError("a token pattern without a required literal token cannot be selected for")
                units = [[(w,) for w in sorted(smallest)]]
            p_idx = len(self._patterns)
            self._patterns.append((int(length), len(units), bool(digit)))
            for s_idx, seqs in enumerate(units):
                for seq in seqs:
                    if all(t.strip() for t in seq):
                        self._add(lower, seq, (_ANCHOR, p_idx, s_idx))
        for key, seq in cues:
            if seq:
                self._add(lower, seq, (_CUE, key, seq))
        # place names go in lower-cased too (one pass over the text); the case is checked on confirming
        for name, value in (places or {}).items():
            words = tuple(name.split())
            if words:
                self._add(lower, tuple(w.lower() for w in words), (_PLACE, value, words, words[0][0]))
        seed_words, platform_words = extraction_words or ([], [])
        for word in seed_words:
            lower.setdefault(word, []).append((len(word), 0, 0, _SEED))
        for name in platform_words:
            words = name.split()
            if len(words) == 1:
                lower.setdefault(words[0], []).append((len(words[0]), 0, 0, _PLATFORM, True))
            elif words:
                # "we chat": the regex lets any run of whitespace or hyphens join the words, so the
                # first word is looked for with each character such a run can start with
                for sep in _SPACE_OR_HYPHEN:
                    key = words[0] + sep
                    lower.setdefault(key, []).append((len(key), 0, 0, _PLATFORM, False))
        self._lower = self._automaton(lower)
        self._ends: dict[str, bool] = {}
        self._classes = _CharClasses()
        self._tokens: dict[str, list[tuple[int, int, str, str]]] = {}
        self.triggers = len(lower)
        """Number of distinct strings looked for."""

    @staticmethod
    def _useful(words: set[str], stop: set[str]) -> bool:
        """A word set worth looking for: no stop word in it, and not punctuation only."""
        return not (words & stop) and any(w.isalnum() for w in words)

    def _add(self, table: dict[str, list[tuple[Any, ...]]], seq: tuple[str, ...], payload: tuple[Any, ...]) -> None:
        # payload: (length, class of its first char to check on the left or 0, same on the right, ...)
        for v in _variants(seq):
            left = _char_class(v[0]) if seq[0] not in self._glue else 0
            right = _char_class(v[-1]) if seq[-1] not in self._glue else 0
            table.setdefault(v, []).append((len(v), left, right) + payload)

    @staticmethod
    def _automaton(table: dict[str, list[tuple[Any, ...]]]) -> Any:
        auto = ahocorasick.Automaton()
        for word, payloads in table.items():
            auto.add_word(word, payloads)
        auto.make_automaton()
        return auto

    # ------------------------------------------------------------------ tokenizer, cached

    def _cached_tokens(self, chunk: str) -> list[tuple[int, int, str, str]]:
        toks = self._tokens.get(chunk)
        if toks is None:
            if len(self._tokens) > _CACHE_LIMIT:
                self._tokens.clear()
            toks = [(t.idx, t.idx + len(t.text), t.lower_, t.text) for t in self.tokenizer(chunk)]
            self._tokens[chunk] = toks
        return toks

    def _ends_sentence(self, chunk: str) -> bool:
        """True when the pipeline's tokenizer ends ``chunk`` (no whitespace) with a sentence end."""
        hit = self._ends.get(chunk)
        if hit is None:
            if len(self._ends) > _CACHE_LIMIT:
                self._ends.clear()
            toks = self._cached_tokens(chunk)
            hit = bool(toks) and toks[-1][3] in _SENT_END
            self._ends[chunk] = hit
        return hit

    def _confirm(self, text: str, start: int, end: int, seq: tuple[str, ...], cased: bool) -> bool:
        """True when tokens ``seq`` (lower-cased, or exact with ``cased``) occupy exactly
        ``text[start:end]`` in the whole text's tokenisation."""
        if (start == 0 or text[start - 1].isspace()) and (end == len(text) or text[end].isspace()):
            words = text[start:end].split(" ")
            rules = self._rules
            if len(words) == len(seq) and all(w.isalpha() and w not in rules for w in words):
                # chunks of letters only, without a tokenizer special case, are one token each
                return all((w if cased else w.lower()) == x for w, x in zip(words, seq))
        cs = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start), text.rfind("\t", 0, start)) + 1
        ce = len(text)
        for ws in (" ", "\n", "\t"):
            j = text.find(ws, end, ce)
            if j != -1:
                ce = j
        chunk = text[cs:ce]
        # chunks are tokenised independently of their context; the slice may hold other whitespace
        # (no-break space), which the tokenizer splits on as well
        toks = self._cached_tokens(chunk)
        rel, k = start - cs, len(seq)
        for i, tok in enumerate(toks):
            if tok[0] == rel:
                if i + k > len(toks) or toks[i + k - 1][1] != end - cs:
                    return False
                col = 3 if cased else 2
                return all(toks[i + j][col] == seq[j] for j in range(k))
            if tok[0] > rel:
                return False
        return False

    # ------------------------------------------------------------------ scanning

    def sentences(self, text: str) -> list[int]:
        """Start offsets of sentences of ``text`` (the first is 0), in order.

        A boundary is placed after the whitespace following a line break, or following ``. ``,
        ``! ``, ``? `` or ``… `` when the tokenizer ends that chunk with the punctuation as a token.
        Boundaries this misses (a tab after a full stop) only make a sentence span two: a kept
        span is still a run of whole sentences.
        """
        n = len(text)
        ends: list[int] = []
        for pat in (". ", "! ", "? ", "… ", "\n"):
            i = text.find(pat)
            while i != -1:
                j = i + len(pat)
                while j < n and text[j].isspace():
                    j += 1
                if j < n:
                    if pat == "\n":
                        ends.append(j)
                    else:
                        chunk_start = max(text.rfind(" ", 0, i), text.rfind("\n", 0, i)) + 1
                        # the chunk's last token is the same whatever other whitespace the slice holds
                        if self._ends_sentence(text[chunk_start:i + 1]):
                            ends.append(j)
                i = text.find(pat, j)
        return [0] + sorted(set(ends))

    def scan(self, text: str) -> Selection:
        """Sentences to tokenise, cues and places of ``text``.

        Args:
            text: the text the pipeline would tokenise (normalised and folded).
        """
        n = len(text)
        if n == 0:
            return Selection([], extraction_hints=([], []))
        low = text.lower()
        if len(low) != n:  # a character whose lower case is longer ("İ"): offsets would shift
            return Selection(None)
        select: list[tuple[int, int]] = []
        seeds: list[int] = []
        platforms: list[int] = []
        req: dict[int, dict[int, list[tuple[int, int]]]] = {}  # pattern -> checked set -> hits
        cues: set[tuple[int, str]] = set()
        found: list[tuple[int, int, int, str]] = []
        cls = self._classes  # char -> 1 letter, 2 digit, 0 other (filled on demand)
        for last, payloads in self._lower.iter(low):
            end = last + 1
            after = -1
            for p in payloads:
                kind = p[3]
                start = end - p[0]
                if kind == _SEED:
                    seeds.append(start)
                    continue
                if kind == _PLATFORM:
                    # the extractor's regex ends a platform name at a word boundary
                    if p[4] and end < n and (low[end].isalnum() or low[end] == "_"):
                        continue
                    platforms.append(start)
                    continue
                # a letter (digit) glued to a letter (digit) is inside a token: not a match
                if p[2]:
                    if after < 0:
                        after = cls[low[end]] if end < n else 0
                    if after == p[2]:
                        continue
                if p[1] and start > 0 and cls[low[start - 1]] == p[1]:
                    continue
                if kind == _SELECT:
                    select.append((start, end))
                elif kind == _ANCHOR:
                    req.setdefault(p[4], {}).setdefault(p[5], []).append((start, end))
                elif kind == _CUE:
                    cue = (p[4], low[start:end])
                    if cue not in cues and self._confirm(text, start, end, p[5], cased=False):
                        cues.add(cue)
                elif text[start] == p[6] and self._confirm(text, start, end, p[5], cased=True):
                    found.append((len(p[5]), start, end, p[4]))
        places: list[tuple[int, int, str]] = []
        if found:
            # spacy.util.filter_spans: longest (tokens) first, then earliest; no overlaps
            found.sort(key=lambda f: (-f[0], f[1]))
            for _k, s, e, value in found:
                if all(e <= ps or s >= pe for ps, pe, _v in places):
                    places.append((s, e, value))
            places.sort()
        hints = (seeds, platforms)
        if not select and not req:
            return Selection([], cues, places, hints)
        starts = self.sentences(text)
        count = len(starts)
        bounds = starts + [n]
        keep = bytearray(count)
        for s, _e in select:
            keep[bisect_right(starts, s) - 1] = 1
        for p_idx, by_set in req.items():
            length, n_sets, digit = self._patterns[p_idx]
            if len(by_set) < n_sets:
                continue  # a required word is missing from the whole text
            anchor = min(by_set, key=lambda i: len(by_set[i]))
            for s, e in by_set[anchor]:
                k = bisect_right(starts, s) - 1
                # a match holds this anchor and reaches at most length - 1 tokens either side of it;
                # a whitespace-separated chunk is at least one token
                lo, seen = k, len(text[bounds[k]:s].split())
                while seen < length and lo > 0:
                    lo -= 1
                    seen += len(text[bounds[lo]:bounds[lo + 1]].split())
                hi, seen = k, len(text[e:bounds[k + 1]].split())
                while seen < length and hi < count - 1:
                    hi += 1
                    seen += len(text[bounds[hi]:bounds[hi + 1]].split())
                a, b = bounds[lo], bounds[hi + 1]
                if digit and _DIGIT.search(text, a, b) is None:
                    continue
                if all(any(a <= hs and he <= b for hs, he in hits) for i, hits in by_set.items() if i != anchor):
                    for j in range(lo, hi + 1):
                        keep[j] = 1
        ranges: list[tuple[int, int]] = []
        for k in range(count):
            if keep[k]:
                a, b = bounds[k], bounds[k + 1]
                if ranges and ranges[-1][1] == a:
                    ranges[-1] = (ranges[-1][0], b)
                else:
                    ranges.append((a, b))
        if sum(b - a for a, b in ranges) > self.max_fraction * n:
            return Selection(None, cues, places, hints)
        return Selection(ranges, cues, places, hints)


class SelectedText:
    """Some character ranges of a :class:`~scoring.normalize.NormalizedText` joined, with the way
    back to the caller's offsets (the same ``text`` / ``original`` / ``span_to_original`` interface).

    Args:
        norm: the normalised text the ranges index.
        ranges: disjoint ``[start, end)`` ranges of ``norm.text``, in order and non-empty.
    """

    __slots__ = ("_norm", "_offsets", "_ranges", "original", "text")

    def __init__(self, norm: NormalizedText, ranges: list[tuple[int, int]]) -> None:
        self._norm = norm
        self._ranges = ranges
        self.original = norm.original
        self.text = "".join(norm.text[a:b] for a, b in ranges)
        offsets, pos = [], 0
        for a, b in ranges:
            offsets.append(pos)
            pos += b - a
        self._offsets = offsets

    def _to_norm(self, i: int) -> int:
        k = bisect_right(self._offsets, i) - 1
        return self._ranges[k][0] + i - self._offsets[k]

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map ``[start, end)`` of :attr:`text` to the smallest span of :attr:`original` covering it
        (see :meth:`scoring.normalize.NormalizedText.span_to_original`)."""
        if start >= end:
            s = self._to_norm(start) if start < len(self.text) else len(self._norm.text)
            return self._norm.span_to_original(s, s)
        s = self._to_norm(start)
        e = self._to_norm(end - 1) + 1
        return self._norm.span_to_original(s, e)


def select_text(norm: NormalizedText, ranges: list[tuple[int, int]]) -> NormalizedText | SelectedText:
    """The parts ``ranges`` of ``norm.text`` joined, with offsets mapped to ``norm.original``
    (``norm`` itself when one range covers all of it).

    Args:
        norm: a normalised text.
        ranges: disjoint ``[start, end)`` ranges of ``norm.text``, in order (from
            :meth:`SentenceSelector.scan`).
    """
    if len(ranges) == 1 and ranges[0] == (0, len(norm.text)):
        return norm
    return SelectedText(norm, [(a, b) for a, b in ranges if b > a])
