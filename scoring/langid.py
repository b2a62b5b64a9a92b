"""Per-ad language identification with py3langid (offline, ~4.5 MB model shipped in the wheel).

py3langid is the maintained fork of langid.py (Lui and Baldwin, "langid.py: An Off-the-shelf
Language Identification Tool", ACL 2012): a multinomial naive Bayes over byte n-grams, 97 languages,
no download at run time. adwatch restricts it to the languages it has indicator lexicons for
(``config/indicators/*.<lang>.yml``), which makes short ads far more reliable: an ad is scored with
the lexicon of the closest supported language. Adding a language means adding its YAML files; the
identifier picks it up from the file names.

Only the first :data:`MAX_CHARS` characters are read (language does not change within an ad, and this
bounds the cost: py3langid walks its byte DFA in Python, ~0.5 µs a byte).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

__all__ = ["MAX_CHARS", "LanguageDetector", "supported_languages"]

MAX_CHARS = 200
"""Characters of an ad read for identification."""

_EN_ONLY = (" the ", " and ", " with ", " you ", " your ", " to ", " for ", " our ", " will ", " is ",
            " are ", " we ", " this ", " have ", " be ")
"""Function words that are English and neither Spanish nor Portuguese. When English is a candidate
and an ASCII sample holds at least :data:`EN_FAST_MIN` of them, the ad is English without running
the model (a fast path: most crawled job ads are English; the model decides every other ad)."""
EN_FAST_MIN = 3
"""Distinct English-only function words needed for the fast path (three, so an English brand name
or a quoted phrase in a Spanish or Portuguese ad does not take it)."""

_LANG_FILE = re.compile(r"^(?:job|escort|common)\.([a-z]{2,3})\.yml$")


def supported_languages(indicators_dir: Path | str) -> list[str]:
    """ISO 639-1 codes that have indicator files (``job.<lang>.yml`` ...) in ``indicators_dir``, sorted."""
    langs = {m.group(1) for p in Path(indicators_dir).glob("*.yml") if (m := _LANG_FILE.match(p.name))}
    return sorted(langs)


@lru_cache(maxsize=1)
def _model():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=False)


class LanguageDetector:
    """Identify an ad's language among ``languages``.

    Args:
        languages: ISO 639-1 codes to choose from (e.g. ``["en", "es", "pt"]``); each must be one of
            py3langid's 97 languages.
        default: returned for text with no letters.

    Raises:
        ValueError: ``languages`` is empty or names a language py3langid does not know.
    """

    def __init__(self, languages: Iterable[str], default: str = "en") -> None:
        import copy

        self.languages = sorted(set(languages))
        if not self.languages:
            raise ValueError("LanguageDetector needs at least one language")
        self.default = default
        base = _model()
        unknown = set(self.languages) - set(base.nb_classes)
        if unknown:
            raise ValueError(f"py3langid does not know languages {sorted(unknown)}")
        # a shallow copy shares the large model arrays; set_languages only replaces small ones
        self._ident = copy.copy(base)
        self._en_fast = "en" in self.languages
        if len(self.languages) > 1:
            self._ident.set_languages(self.languages)

    def detect(self, text: str) -> str:
        """The language code of ``text`` (one of ``languages``; ``default`` when there is no letter)."""
        if len(self.languages) == 1:
            return self.languages[0]
        sample = text[:MAX_CHARS]
        if self._en_fast and sample.isascii():
            low = sample.lower()
            found = 0
            for w in _EN_ONLY:  # stop at the EN_FAST_MIN-th word (most English ads reach it early)
                if w in low:
                    found += 1
                    if found >= EN_FAST_MIN:
                        return "en"
        if not any(c.isalpha() for c in sample):
            return self.default
        return str(self._ident.classify(sample)[0])
