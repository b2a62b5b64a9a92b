"""Rule engine facade: indicators (spaCy) and contact entities for many ads at once.

Usage::

    engine = RuleEngine()                      # config/indicators from settings, region "US"
    for hits, entities in engine.analyze([(text, "job"), (text2, None)]):
        ...

The spaCy pipeline (``spacy.blank(lang)`` + ``sentencizer`` + ``adwatch_indicators``) and the
contact extractor are built once in ``__init__``; :meth:`RuleEngine.analyze` streams items through
``nlp.pipe(..., as_tuples=True)``. Texts are folded by :func:`scoring.normalize.normalize_text`
(zero-width characters, NFKC, typographic quotes) before matching; every offset returned is a
character offset into the caller's text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from scoring.extract import ContactExtractor, load_extraction_lexicon
from scoring.indicators import (
    IndicatorMatcher,
    IndicatorSet,
    build_pipeline,
    infer_ad_type_from_scores,
)
from scoring.normalize import NormalizedText, normalize_text
from scoring.types import AD_TYPES, Entity, IndicatorHit

__all__ = ["Analysis", "RuleEngine", "default_engine", "infer_ad_type"]


@dataclass(slots=True)
class Analysis:
    """Rule results for one ad.

    Attributes:
        ad_type: the ad type used: the one given, or the inferred one.
        ad_type_inferred: True when ``ad_type`` was inferred from the text.
        indicators: indicator hits that fire for ``ad_type``, in text order.
        entities: phones, e-mails, handles and ages, in text order.
        dropped: matches cancelled by negation, an exception phrase or a context rule (for audit;
            same ad-type filter).
        ad_type_scores: cue scores behind the inference (``{"job": 3.0}``); empty when the ad type
            was given.
    """

    ad_type: str
    ad_type_inferred: bool
    indicators: list[IndicatorHit] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    dropped: list[IndicatorHit] = field(default_factory=list)
    ad_type_scores: dict[str, float] = field(default_factory=dict)


class RuleEngine:
    """Indicator matching and entity extraction for ads.

    Args:
        indicators_dir: folder of ``*.yml`` indicator and extraction lexicons; ``None`` uses
            ``config.settings.get_settings().indicators_dir`` (``config/indicators``).
        default_region: ISO 3166-1 alpha-2 region for phone numbers without a country code.
        lang: language of the indicator files to load (``job.<lang>.yml`` ...).
        batch_size: ``nlp.pipe`` batch size.

    Raises:
        scoring.indicators.IndicatorConfigError: indicator YAML missing or malformed.
        scoring.extract.ExtractionConfigError: extraction YAML missing or malformed.
    """

    def __init__(
        self,
        indicators_dir: Path | None = None,
        default_region: str = "US",
        *,
        lang: str = "en",
        batch_size: int = 64,
    ) -> None:
        if indicators_dir is None:
            from config.settings import get_settings

            indicators_dir = get_settings().indicators_dir
        self.indicators_dir = Path(indicators_dir)
        self.default_region = default_region
        self.lang = lang
        self.batch_size = batch_size
        self.nlp: Language = build_pipeline(self.indicators_dir, lang)
        component = self.nlp.get_pipe("adwatch_indicators")
        if not isinstance(component, IndicatorMatcher) or component.indicator_set is None:
            raise TypeError("adwatch_indicators component missing or without patterns")
        self.indicator_set: IndicatorSet = component.indicator_set
        self._component = component
        self._spans_key = component.spans_key
        self._negated_key = component.negated_key
        self.extractor = ContactExtractor(load_extraction_lexicon(self.indicators_dir))

    # ---------------------------------------------------------------- public API

    def analyze(
        self, items: Iterable[tuple[str, str | None]], region: str | None = None
    ) -> Iterator[tuple[list[IndicatorHit], list[Entity]]]:
        """Indicator hits and entities for each ``(text, ad_type)`` item, in input order.

        Args:
            items: ``(text, ad_type)`` pairs; ``ad_type`` is ``"job"``, ``"escort"``, ``"other"``
                or ``None`` (inferred with :meth:`infer_ad_type`). Only indicators whose
                ``ad_types`` include the ad type fire.
            region: phone region for this call (default: ``default_region``).

        Yields:
            ``(hits, entities)`` per item; offsets index the item's text.

        Raises:
            ValueError: an item's ad type is not one of ``scoring.types.AD_TYPES`` (raised when that
                item is reached).
        """
        for a in self.analyze_detailed(items, region):
            yield a.indicators, a.entities

    def analyze_detailed(
        self, items: Iterable[tuple[str, str | None]], region: str | None = None
    ) -> Iterator[Analysis]:
        """Like :meth:`analyze` but yields an :class:`Analysis` (ad type used, dropped matches)."""
        reg = region or self.default_region

        def feed() -> Iterator[tuple[str, tuple[NormalizedText, str | None]]]:
            for text, ad_type in items:
                if ad_type is not None and ad_type not in AD_TYPES:
                    raise ValueError(f"unknown ad_type {ad_type!r}; expected one of {AD_TYPES} or None")
                norm = normalize_text(text)
                yield norm.text, (norm, ad_type)

        for doc, (norm, given) in self.nlp.pipe(feed(), as_tuples=True, batch_size=self.batch_size):
            yield self._analysis(doc, norm, given, reg)

    def analyze_one(self, text: str, ad_type: str | None = None, region: str | None = None) -> Analysis:
        """:meth:`analyze_detailed` for a single text."""
        return next(self.analyze_detailed([(text, ad_type)], region))

    def infer_ad_type(self, text: str) -> str:
        """``"job"``, ``"escort"`` or ``"other"`` for ``text`` by the cue lexicon in ``common.<lang>.yml``.

        Each distinct cue phrase adds its weight to its type, and each distinct indicator category
        found adds ``ad_type.indicator_weight`` to the types its indicators serve; the best type wins
        if it reaches ``ad_type.min_score`` (ties follow ``ad_type.order``), else ``"other"``.
        """
        doc = self.nlp(normalize_text(text).text)
        return infer_ad_type_from_scores(self._component.ad_type_scores(doc), self.indicator_set.ad_type)

    def indicator_catalog(self) -> dict[str, dict[str, Any]]:
        """``{indicator id: {category, weight, description, source, ad_types, language}}``."""
        return self.indicator_set.catalog()

    # ---------------------------------------------------------------- internals

    def _hits(self, doc: Doc, key: str, norm: NormalizedText, ad_type: str) -> list[IndicatorHit]:
        inds = self.indicator_set.indicators
        out = []
        for span in doc.spans[key]:
            ind = inds[span.label_]
            if ad_type not in ind.ad_types:
                continue
            s, e = norm.span_to_original(span.start_char, span.end_char)
            out.append(IndicatorHit(ind.id, ind.category, s, e, norm.original[s:e], ind.weight))
        return out

    def _analysis(self, doc: Doc, norm: NormalizedText, given: str | None, region: str) -> Analysis:
        scores = self._component.ad_type_scores(doc) if given is None else {}
        ad_type = given or infer_ad_type_from_scores(scores, self.indicator_set.ad_type)
        return Analysis(
            ad_type=ad_type,
            ad_type_inferred=given is None,
            indicators=self._hits(doc, self._spans_key, norm, ad_type),
            entities=self.extractor.extract(norm, region),
            dropped=self._hits(doc, self._negated_key, norm, ad_type),
            ad_type_scores=scores,
        )


@lru_cache(maxsize=4)
def default_engine(indicators_dir: Path | None = None, lang: str = "en") -> RuleEngine:
    """A shared :class:`RuleEngine` for ``indicators_dir`` (default: settings), built on first use."""
    return RuleEngine(indicators_dir, lang=lang)


def infer_ad_type(text: str, indicators_dir: Path | None = None) -> str:
    """``"job"``, ``"escort"`` or ``"other"`` for ``text`` (see :meth:`RuleEngine.infer_ad_type`).

    Uses :func:`default_engine`; a caller that already holds a :class:`RuleEngine` should call its
    method, or pass ``ad_type=None`` to :meth:`RuleEngine.analyze_detailed`, which infers the type
    from the same tokenisation.
    """
    return default_engine(indicators_dir).infer_ad_type(text)
