"""Feature transformers of the job-ad risk model that scikit-learn does not provide.

* :class:`IdentityTermFilter`: removes mentions of nationalities and ethnicities (the DIG lexicons in
  ``data/memex-dig-lexicons``) from the ad text before any other feature sees it, so the model
  cannot use them (Hundman et al., "Always Lurking: Understanding and Mitigating Bias in Online
  Human Trafficking Detection", AIES 2018). Switched on by
  ``AppSettings.model_exclude_identity_terms``.
* :class:`IndicatorMask`: removes the words each rule indicator matched, so the model reads only
  the wording no indicator covers and an added indicator can never lower the risk
  (:func:`mask_indicators`).
* :func:`identity_lexicon`: the nationality and ethnicity terms, shared with :mod:`scoring.bias`.

Both transformers take the model's input frame (:func:`scoring.model.ad_frame`: a 2-D ``object``
array whose column 0 is the cleaned text) or a 1-D array of texts, and keep only plain parameters
and fitted lists, so skops can store them. (A former ``RuleCategoryCounts`` feature block counted
the indicator categories; once indicator words are masked those counts are all zero, so it was
removed.)
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "IdentityLexicon",
    "IdentityTermFilter",
    "IndicatorMask",
    "IndicatorSentenceMask",
    "default_lexicon_dir",
    "identity_lexicon",
    "indicator_readings",
    "mask_indicators",
]


def default_lexicon_dir() -> Path:
    """The shipped DIG lexicons: ``<project>/data/memex-dig-lexicons``."""
    from config.settings import PROJECT_ROOT

    return PROJECT_ROOT / "data" / "memex-dig-lexicons"


# --------------------------------------------------------------------------- identity lexicon


class IdentityLexicon:
    """Nationality and ethnicity terms from the DIG lexicons (USC ISI, MIT licence).

    Attributes:
        nationalities: nationality adjectives from ``nationalities/nationality.json`` (199, e.g.
            ``"Brazilian"``), lower case.
        ethnicities: ethnicity terms from ``ethnicities/ethnicities.txt`` and the category names of
            ``ethnicities/ethnicity-nationality-reference.json`` that are not nationalities
            (``"asian"``, ``"latina"``, ``"caucasian"``...), lower case. Misspelling variants
            (``expanded-dictionaries.json``) are left out: they are escort-ad spellings.
    """

    def __init__(self, nationalities: Iterable[str], ethnicities: Iterable[str]) -> None:
        self.nationalities: tuple[str, ...] = tuple(sorted({_norm(t) for t in nationalities if _norm(t)}))
        nat = set(self.nationalities)
        self.ethnicities: tuple[str, ...] = tuple(sorted({_norm(t) for t in ethnicities if _norm(t)} - nat))

    @property
    def terms(self) -> tuple[str, ...]:
        """All terms, nationalities and ethnicities, sorted."""
        return tuple(sorted({*self.nationalities, *self.ethnicities}))


def _norm(term: str) -> str:
    return " ".join(str(term).lower().split())


@lru_cache(maxsize=4)
def identity_lexicon(lexicon_dir: Path | None = None) -> IdentityLexicon:
    """Load the nationality and ethnicity terms from ``lexicon_dir`` (default: :func:`default_lexicon_dir`).

    Raises:
        FileNotFoundError: a lexicon file is missing (the message names it).
        ValueError: a lexicon file is not the expected JSON list / text list.
    """
    root = Path(lexicon_dir) if lexicon_dir is not None else default_lexicon_dir()
    nat_file = root / "nationalities" / "nationality.json"
    eth_file = root / "ethnicities" / "ethnicities.txt"
    ref_file = root / "ethnicities" / "ethnicity-nationality-reference.json"
    for f in (nat_file, eth_file, ref_file):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: identity lexicon file not found")
    nationalities = json.loads(nat_file.read_text(encoding="utf-8"))
    if not isinstance(nationalities, list):
        raise ValueError(f"{nat_file}: expected a JSON list of terms")  # noqa: TRY004 - bad file content
    ethnicities = [ln.strip() for ln in eth_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    reference = json.loads(ref_file.read_text(encoding="utf-8"))
    if not isinstance(reference, list):
        raise ValueError(f"{ref_file}: expected a JSON list of {{category, entries}}")  # noqa: TRY004
    for entry in reference:
        ethnicities.extend(entry.get("category", []))
    return IdentityLexicon(nationalities, ethnicities)


@lru_cache(maxsize=8)
def _term_regex(terms: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so "south african" wins over "african"; whole words only; plural "s" allowed.
    alts = sorted(terms, key=lambda t: (-len(t), t))
    body = "|".join(re.escape(t).replace(r"\ ", r"[\s-]+") for t in alts)
    return re.compile(rf"(?<![\w-])(?:{body})s?(?![\w-])", re.IGNORECASE)


class IdentityTermFilter(TransformerMixin, BaseEstimator):
    """Remove nationality and ethnicity mentions from the text column of the model's input frame.

    Args:
        enabled: if False the transformer passes its input through unchanged (the default model).
        lexicon_dir: folder of the DIG lexicons (``None``: :func:`default_lexicon_dir`), read in
            :meth:`fit`; the terms are then stored in ``terms_`` so a saved model does not need
            the folder.

    Fitted attributes:
        terms_: list of lower-case terms removed (empty when ``enabled`` is False).

    Input: a 2-D ``object`` array (column 0 = text, other columns passed through) or a 1-D array
    / list of texts. Output: the same shape and type, texts with each term replaced by one space.
    """

    def __init__(self, enabled: bool = True, lexicon_dir: str | None = None) -> None:
        self.enabled = enabled
        self.lexicon_dir = lexicon_dir

    def fit(self, X: Any, y: Any = None) -> IdentityTermFilter:
        """Read the lexicon (when enabled). Returns ``self``."""
        if self.enabled:
            lex = identity_lexicon(Path(self.lexicon_dir) if self.lexicon_dir else None)
            self.terms_ = list(lex.terms)
        else:
            self.terms_ = []
        return self

    def transform(self, X: Any) -> Any:
        """Return ``X`` with the terms removed from its texts (a copy; ``X`` is not changed)."""
        check_is_fitted(self, "terms_")
        if not self.terms_:
            return X
        regex = _term_regex(tuple(self.terms_))
        arr = np.asarray(X, dtype=object)
        out = arr.copy()
        if out.ndim == 1:
            for i, t in enumerate(out):
                out[i] = regex.sub(" ", str(t))
        else:
            for i in range(out.shape[0]):
                out[i, 0] = regex.sub(" ", str(out[i, 0]))
        return out

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


# --------------------------------------------------------------------------- indicator sentences

_MASK_CACHE: dict[tuple[Any, ...], str] = {}

MASK_MAX_PASSES = 4
"""Rounds of :func:`mask_indicators`: joining the neighbours of a removed phrase or sentence can,
in rare cases, make a new hit, so the engine runs again on the result until it finds none."""


def _mask_one(text: str, hits: list[tuple[int, int]], starts: list[int]) -> str:
    """``text`` with every sentence (``starts``: start offsets) that overlaps a hit span replaced
    by one space."""
    bounds = [*starts, len(text)]
    out: list[str] = []
    for a, b in itertools.pairwise(bounds):
        if b <= a:
            continue
        touched = any(a < max(he, hs + 1) and hs < b for hs, he in hits)
        out.append(" " if touched else text[a:b])
    return "".join(out)


MASK_UNITS = ("sentence", "phrase")
"""What :func:`mask_indicators` removes around a hit: its whole sentence, or only the
words the indicator matched."""


def mask_indicators(texts: list[str], indicators_dir: str | None = None, unit: str = "phrase") -> list[str]:
    """Remove the words of every job-ad rule-indicator hit (or every sentence holding one).

    The rule engine (:class:`scoring.rules.RuleEngine`, ad type ``"job"``, language detected per
    text) finds the hits. With ``unit="phrase"`` the characters of each hit (the tokens its phrase or
    pattern matched) become a single space; with ``unit="sentence"`` each sentence
    (:meth:`scoring.rules.RuleEngine.sentence_starts`) that overlaps one does. Repeated up to
    :data:`MASK_MAX_PASSES` times until no hit is left. Results are memoised per text and unit, so
    the folds of a cross-validation share them.

    Args:
        texts: ad texts (the model's cleaned text column), length n.
        indicators_dir: folder of indicator YAML files (``None``: the settings' ``indicators_dir``).
        unit: ``"phrase"`` or ``"sentence"`` (:data:`MASK_UNITS`).

    Returns:
        n masked texts, in order (a text without hits is returned unchanged).

    Raises:
        ValueError: an unknown ``unit``.
    """
    if unit not in MASK_UNITS:
        raise ValueError(f"unit must be one of {MASK_UNITS}, not {unit!r}")
    return _memoised(_MASK_CACHE, (indicators_dir or "", unit), texts,
                     lambda missing: _mask_all(_engine(indicators_dir), missing, unit))


def _memoised(cache: dict[tuple[Any, ...], Any], key: tuple[Any, ...], texts: list[str],
              compute: Callable[[list[str]], list[Any]]) -> list[Any]:
    """``compute(texts)`` per distinct text not yet in ``cache`` under ``key``, then every text's
    value in order; the cache is emptied when it would pass :data:`_CACHE_MAX` entries."""
    missing = [t for t in dict.fromkeys(texts) if (*key, t) not in cache]
    if missing:
        if len(cache) + len(missing) > _CACHE_MAX:
            cache.clear()
        for text, value in zip(missing, compute(missing), strict=True):
            cache[(*key, text)] = value
    return [cache[(*key, t)] for t in texts]


def _mask_all(engine: Any, texts: list[str], unit: str = "phrase") -> list[str]:
    """:func:`mask_indicators` without the cache."""
    current = {t: t for t in texts}
    todo = list(texts)
    for _ in range(MASK_MAX_PASSES):
        if not todo:
            break
        again = []
        for original, analysis in zip(todo, engine.analyze_detailed((current[t], "job") for t in todo), strict=True):
            if not analysis.indicators:
                continue
            text = current[original]
            hits = [(h.start, h.end) for h in (*analysis.indicators, *analysis.overlapped)]
            if unit == "phrase":
                current[original] = _mask_phrases(text, hits)
            else:
                current[original] = _mask_one(text, hits, engine.sentence_starts(text, analysis.lang))
            again.append(original)
        todo = again
    return [current[t] for t in texts]


def _mask_phrases(text: str, hits: list[tuple[int, int]]) -> str:
    """``text`` with the characters of every hit span (start, end offsets) replaced by one space
    per span (overlapping spans merged)."""
    out: list[str] = []
    pos = 0
    for hs, he in sorted(hits):
        if he <= pos:
            continue
        out.append(text[pos:max(hs, pos)])
        out.append(" ")
        pos = he
    out.append(text[pos:])
    return "".join(out)


class IndicatorMask(TransformerMixin, BaseEstimator):
    """Hide the words a rule indicator matched from the model (text column of the frame).

    adwatch's job-ad risk is ``1 - (1 - p)(1 - rule_risk)`` (:mod:`scoring.scorer`). If the model
    read the indicator's words too, adding "registration fee" to an ad could move its probability
    ``p`` down by more than ``rule_risk`` moves up, so an indicator could lower the risk (a new user
    found exactly that). With this step first in the model's pipeline, at training and at scoring,
    the model never trains on the matched words, and :class:`scoring.model.JobRiskModel` scores an
    ad by the best of its :func:`indicator_readings` (this mask is the first of them), so an added
    indicator phrase, or an added sentence holding one, can only raise the risk. The rules carry the
    stated signs (ILO, Employer Pays Principle, ...; ``config/indicators``); the model carries the
    statistical signature of the rest of the wording.

    ``unit="sentence"`` removes each whole sentence holding a hit instead (adwatch 0.3.0 models).
    That covers only indicators added as sentences of their own: one glued into an existing
    sentence hid that sentence's other words too and could lower ``p`` (0.86 -> 0.42 in a trial;
    490 risk decreases in 4,740 insertions with the 0.3.0 model, 0 with ``"phrase"``), and it cost
    0.011 mean grouped-CV PR-AUC (0.387 vs 0.398, fold seeds 0-4).

    Args:
        enabled: if False the input passes through unchanged.
        indicators_dir: folder of indicator YAML files (``None``: the settings' ``indicators_dir``).
        unit: ``"phrase"`` (default) or ``"sentence"``, see :func:`mask_indicators`.

    Input: a 2-D ``object`` array (column 0 = text, other columns passed through) or a 1-D array /
    list of texts. Output: the same shape, a copy, texts masked by :func:`mask_indicators`.
    Stateless: :meth:`fit` only records ``n_features_in_``.
    """

    def __init__(self, enabled: bool = True, indicators_dir: str | None = None, unit: str = "phrase") -> None:
        self.enabled = enabled
        self.indicators_dir = indicators_dir
        self.unit = unit

    def fit(self, X: Any, y: Any = None) -> IndicatorMask:
        """Nothing to learn. Returns ``self``."""
        arr = np.asarray(X, dtype=object)
        self.n_features_in_ = 1 if arr.ndim == 1 else int(arr.shape[1])
        return self

    def transform(self, X: Any) -> Any:
        """Return ``X`` with the indicator sentences of its texts removed (a copy)."""
        check_is_fitted(self, "n_features_in_")
        if not self.enabled:
            return X
        arr = np.asarray(X, dtype=object)
        out = arr.copy()
        unit = getattr(self, "unit", "sentence")  # loaded from a 0.3.0 artifact (IndicatorSentenceMask)
        if out.ndim == 1:
            out[:] = mask_indicators([str(t) for t in arr], self.indicators_dir, unit)
        else:
            out[:, 0] = mask_indicators([str(t) for t in arr[:, 0]], self.indicators_dir, unit)
        return out

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        return tags


MAX_READING_SENTENCES = 10
"""Indicator sentences per ad that :func:`indicator_readings` varies (2**10 = 1,024 readings at
most, far fewer in practice: equal readings are merged; an ad with 10 such sentences took 54 ms);
those after the tenth are always hidden whole, so the no-decrease guarantee holds for ads with at
most 10 indicator sentences after the addition. (A cap of 6 let a new user lower the risk of an
ad with 6 indicator sentences from 0.99 to 0.78 by adding one before them.)"""

_READINGS_CACHE: dict[tuple[Any, ...], tuple[str, ...]] = {}
_SPACES = re.compile(r"[ \t]+")


def indicator_readings(texts: list[str], indicators_dir: str | None = None,
                       max_sentences: int = MAX_READING_SENTENCES) -> list[tuple[str, ...]]:
    """Every way of hiding each indicator sentence of each text: whole, or only its matched words.

    The job-ad model's probability is its highest over these readings
    (:meth:`scoring.model.JobRiskModel.predict_proba`). Adding an indicator to an ad, as a phrase
    inside any sentence or as a sentence of its own, then never lowers that probability: every
    reading of the shorter ad is also a reading of the longer one (the added sentence hidden whole,
    or the added phrase's words hidden), and the maximum over a larger set cannot be smaller.

    For a text with indicator hits in ``k`` sentences there are ``2 ** min(k, max_sentences)``
    readings; sentences after the ``max_sentences``-th (in text order) are always hidden whole.
    Each reading is then masked again by :func:`mask_indicators` (a join can form a new hit) and
    its runs of spaces and tabs collapsed (line breaks kept), so equal word sequences give equal
    strings. The first reading hides only the matched words everywhere. Memoised per text.

    Args:
        texts: ad texts (the model's cleaned text column), length n.
        indicators_dir: folder of indicator YAML files (``None``: the settings' ``indicators_dir``).
        max_sentences: indicator sentences varied per text (>= 0).

    Returns:
        n tuples of readings; a text without hits gives ``(text,)`` (spaces collapsed).

    Raises:
        ValueError: ``max_sentences`` < 0.
    """
    if max_sentences < 0:
        raise ValueError("max_sentences must be >= 0")

    def compute(missing: list[str]) -> list[tuple[str, ...]]:
        engine = _engine(indicators_dir)
        variants: list[list[str] | None] = []
        for text, analysis in zip(missing, engine.analyze_detailed((t, "job") for t in missing), strict=True):
            hits = [(h.start, h.end) for h in (*analysis.indicators, *analysis.overlapped)]
            variants.append(_readings(text, hits, engine.sentence_starts(text, analysis.lang), max_sentences)
                            if hits else None)
        # only readings of texts with hits can hold a new hit; a hit-free text is its own reading
        flat = list(dict.fromkeys(v for vs in variants if vs for v in vs))
        cleaned = dict(zip(flat, mask_indicators(flat, indicators_dir), strict=True))
        return [(_collapse(text),) if vs is None else tuple(dict.fromkeys(_collapse(cleaned[v]) for v in vs))
                for text, vs in zip(missing, variants, strict=True)]

    return _memoised(_READINGS_CACHE, (indicators_dir or "", max_sentences), texts, compute)


def _collapse(text: str) -> str:
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def _readings(text: str, hits: list[tuple[int, int]], starts: list[int], max_sentences: int) -> list[str]:
    """The readings of one text with ``hits``, before the second masking pass (see
    :func:`indicator_readings`)."""
    bounds = [*starts, len(text)]
    sentences = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    with_hits = [(a, b) for a, b in sentences if any(a < max(he, hs + 1) and hs < b for hs, he in hits)]
    varied, fixed = with_hits[:max_sentences], with_hits[max_sentences:]
    out = []
    for choice in itertools.product((False, True), repeat=len(varied)):
        whole = [span for span, w in zip(varied, choice, strict=True) if w] + fixed
        parts, pos = [], 0
        for a, b in whole:
            parts += [text[pos:a], " "]
            pos = b
        parts.append(text[pos:])
        kept_text = "".join(parts)
        # the hits outside the hidden sentences, shifted to the shortened text
        shifted = []
        for hs, he in hits:
            if any(a < max(he, hs + 1) and hs < b for a, b in whole):
                continue
            shift = sum((b - a) - 1 for a, b in whole if b <= hs)
            shifted.append((hs - shift, he - shift))
        out.append(_mask_phrases(kept_text, shifted))
    return out


IndicatorSentenceMask = IndicatorMask
"""Former name (adwatch 0.3.0 artifacts store it; loaded without ``unit``, they mask sentences)."""


# --------------------------------------------------------------------------- rule engine

_CACHE_MAX = 100_000
"""Most texts memoised per cache (:func:`mask_indicators`, :func:`indicator_readings`); a cache is
emptied beyond this."""


def _engine(indicators_dir: str | None) -> Any:
    from scoring.rules import default_engine

    return default_engine(Path(indicators_dir) if indicators_dir else None)
