"""Rule engine facade: indicators (spaCy) and contact entities for many ads at once.

Usage::

    engine = RuleEngine()                      # config/indicators from settings, region "US"
    for hits, entities in engine.analyze([(text, "job"), (text2, None)]):
        ...

Each ad's language is taken from the item or detected (py3langid, restricted to the languages that
have indicator files); one spaCy pipeline per language (``spacy.blank(lang)`` +
``adwatch_indicators``, no sentencizer) is built on first use, and :meth:`RuleEngine.analyze` streams
items through it in batches, grouped by language, results in input order (each text is tokenised
once; the components are called directly, without ``nlp.pipe``). Texts are folded by
:func:`scoring.normalize.normalize_text` (ftfy, zero-width characters, NFKC, digits, quotes) and,
for indicators only, :func:`scoring.normalize.fold_obfuscation` (spaced-out letters, leetspeak);
every offset returned is a character offset into the caller's text.
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
    IndicatorConfigError,
    IndicatorMatcher,
    IndicatorSet,
    build_pipeline,
    infer_ad_type_from_scores,
)
from scoring.langid import LanguageDetector, supported_languages
from scoring.normalize import NormalizedText, fold_obfuscation, normalize_text
from scoring.segments import SelectedText, Selection, SentenceSelector, select_text
from scoring.types import AD_TYPES, Entity, IndicatorHit

__all__ = ["Analysis", "RuleEngine", "default_engine", "infer_ad_type"]


@dataclass(slots=True)
class Analysis:
    """Rule results for one ad.

    Attributes:
        ad_type: the ad type used: the one given, or the inferred one.
        ad_type_inferred: True when ``ad_type`` was inferred from the text.
        indicators: indicator hits that fire for ``ad_type``, in text order.
        entities: phones, e-mails, handles, ages, prices and places, in text order.
        dropped: matches cancelled by negation, an exception phrase or a context rule (for audit;
            same ad-type filter).
        overlapped: kept matches that overlap a reported hit of their category (same ad-type
            filter); not evidence of their own, but their words are indicator wording
            (:class:`scoring.features.IndicatorMask` hides them from the model).
        ad_type_scores: cue scores behind the inference (``{"job": 3.0}``); empty when the ad type
            was given.
        lang: ISO 639-1 code of the ad: the one given, or the detected one (the lexicon used is this
            language's, or the main language's when it has no files).
        lang_detected: True when ``lang`` was detected from the text.
    """

    ad_type: str
    ad_type_inferred: bool
    indicators: list[IndicatorHit] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    dropped: list[IndicatorHit] = field(default_factory=list)
    overlapped: list[IndicatorHit] = field(default_factory=list)
    ad_type_scores: dict[str, float] = field(default_factory=dict)
    lang: str = "en"
    lang_detected: bool = False


class RuleEngine:
    """Indicator matching and entity extraction for ads, per language.

    Args:
        indicators_dir: folder of ``*.yml`` indicator and extraction lexicons; ``None`` uses
            ``config.settings.get_settings().indicators_dir`` (``config/indicators``).
        default_region: ISO 3166-1 alpha-2 region for phone numbers without a country code.
        lang: force one language for every ad (no detection); ``None`` (default) detects each ad's
            language among the languages that have indicator files (:mod:`scoring.langid`), unless
            the item gives one.
        batch_size: ads read ahead and grouped by language before they are processed.
        select_sentences: tokenise only the sentences that can hold a match (default; same results,
            see :mod:`scoring.segments`); ``False`` tokenises every ad whole.

    One ``spacy.blank(lang)`` + ``adwatch_indicators`` pipeline per language, built on first use.

    Raises:
        scoring.indicators.IndicatorConfigError: indicator YAML missing or malformed.
        scoring.extract.ExtractionConfigError: extraction YAML missing or malformed.
    """

    def __init__(
        self,
        indicators_dir: Path | None = None,
        default_region: str = "US",
        *,
        lang: str | None = None,
        batch_size: int = 64,
        select_sentences: bool = True,
    ) -> None:
        self.select_sentences = select_sentences
        if indicators_dir is None:
            from config.settings import get_settings

            indicators_dir = get_settings().indicators_dir
        self.indicators_dir = Path(indicators_dir)
        self.default_region = default_region
        self.batch_size = batch_size
        self.forced_lang = lang
        self.languages: list[str] = [lang] if lang else supported_languages(self.indicators_dir)
        if not self.languages:
            raise IndicatorConfigError(f"no indicator files (job|escort|common.<lang>.yml) in {self.indicators_dir}")
        self.lang = lang or ("en" if "en" in self.languages else self.languages[0])
        self._pipes: dict[str, tuple[Language, IndicatorMatcher]] = {}
        self._selectors: dict[str, SentenceSelector] = {}
        self._detector: LanguageDetector | None = None
        self.extractor = ContactExtractor(load_extraction_lexicon(self.indicators_dir))
        self._pipe(self.lang)  # fail early on bad YAML for the main language

    # ---------------------------------------------------------------- pipelines

    def _pipe(self, lang: str) -> tuple[Language, IndicatorMatcher]:
        if lang not in self._pipes:
            nlp = build_pipeline(self.indicators_dir, lang, places=True)
            component = nlp.get_pipe("adwatch_indicators")
            if not isinstance(component, IndicatorMatcher) or component.indicator_set is None:
                raise TypeError("adwatch_indicators component missing or without patterns")
            self._pipes[lang] = (nlp, component)
            places = nlp.get_pipe("adwatch_places") if "adwatch_places" in nlp.pipe_names else None
            self._selectors[lang] = SentenceSelector(
                nlp.tokenizer, component.trigger_phrases, component.pattern_requirements,
                cues=component.cue_sequences(), places=places.names if places is not None else None,
                extraction_words=self.extractor.candidate_words(),
                stopwords=component.indicator_set.anchor_stopwords if component.indicator_set else (),
            )
        return self._pipes[lang]

    @property
    def nlp(self) -> Language:
        """The pipeline of the main language (``lang``, else English)."""
        return self._pipe(self.lang)[0]

    @property
    def indicator_set(self) -> IndicatorSet:
        """The indicator set of the main language."""
        iset = self._pipe(self.lang)[1].indicator_set
        assert iset is not None
        return iset

    def detect_language(self, text: str) -> str:
        """The language of ``text`` among :attr:`languages` (the forced ``lang`` if one was given)."""
        if self.forced_lang or len(self.languages) == 1:
            return self.lang
        if self._detector is None:
            self._detector = LanguageDetector(self.languages, default=self.lang)
        return self._detector.detect(text)

    # ---------------------------------------------------------------- public API

    def analyze(
        self, items: Iterable[tuple[Any, ...]], region: str | None = None
    ) -> Iterator[tuple[list[IndicatorHit], list[Entity]]]:
        """Indicator hits and entities for each ``(text, ad_type)`` item, in input order.

        Args:
            items: ``(text, ad_type)`` or ``(text, ad_type, lang)`` tuples; ``ad_type`` is ``"job"``,
                ``"escort"``, ``"other"`` or ``None`` (inferred); ``lang`` an ISO 639-1 code or
                ``None`` (detected). Only indicators whose ``ad_types`` include the ad type fire.
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
        self, items: Iterable[tuple[Any, ...]], region: str | None = None
    ) -> Iterator[Analysis]:
        """Like :meth:`analyze` but yields an :class:`Analysis` (ad type and language used, dropped
        matches). A given ``lang`` without indicator files is reported as given and matched with the
        main language's lexicon."""
        reg = region or self.default_region
        batch: list[tuple[NormalizedText, str | None, str, bool]] = []
        for item in items:
            text, ad_type = item[0], item[1]
            given_lang = item[2] if len(item) > 2 else None
            if ad_type is not None and ad_type not in AD_TYPES:
                raise ValueError(f"unknown ad_type {ad_type!r}; expected one of {AD_TYPES} or None")
            norm = normalize_text(text)
            if given_lang:
                batch.append((norm, ad_type, str(given_lang), False))
            else:
                batch.append((norm, ad_type, self.detect_language(norm.text), True))
            if len(batch) >= self.batch_size:
                yield from self._run_batch(batch, reg)
                batch = []
        if batch:
            yield from self._run_batch(batch, reg)

    def _run_batch(
        self, batch: list[tuple[NormalizedText, str | None, str, bool]], region: str
    ) -> list[Analysis]:
        out: list[Analysis | None] = [None] * len(batch)
        by_lang: dict[str, list[int]] = {}
        for i, (_n, _t, lang, _d) in enumerate(batch):
            by_lang.setdefault(lang if lang in self.languages else self.lang, []).append(i)
        for lang, idx in by_lang.items():
            nlp, component = self._pipe(lang)
            # the components are called directly (same docs as nlp.pipe, without its generator and
            # error-handler layers per ad)
            make_doc = nlp.make_doc
            procs = [proc for _name, proc in nlp.pipeline]
            selector = self._selectors[lang] if self.select_sentences else None
            if selector is not None:  # places and cues come from the selector's scan of the whole text
                procs = [proc for name, proc in nlp.pipeline if name != "adwatch_places"]
            for i in idx:
                norm, given, used_lang, detected = batch[i]
                mnorm = fold_obfuscation(norm)
                found = None
                doc_norm = mnorm
                if selector is not None:
                    found = selector.scan(mnorm.text)
                    if found.ranges is not None:
                        doc_norm = select_text(mnorm, found.ranges)
                doc = make_doc(doc_norm.text)
                for proc in procs:
                    doc = proc(doc)
                out[i] = self._analysis(doc, component, norm, mnorm, doc_norm, found, given, region,
                                        used_lang, detected)
        return [a for a in out if a is not None]

    def analyze_one(
        self, text: str, ad_type: str | None = None, region: str | None = None, lang: str | None = None
    ) -> Analysis:
        """:meth:`analyze_detailed` for a single text."""
        return next(self.analyze_detailed([(text, ad_type, lang)], region))

    def sentence_starts(self, text: str, lang: str | None = None) -> list[int]:
        """Start offsets of the sentences of ``text`` (the first is 0), as the indicator matchers
        split it: no negation window, suppressor or token pattern looks past a sentence, so a hit
        always lies inside one (see :meth:`scoring.segments.SentenceSelector.sentences`).

        Args:
            text: the text.
            lang: ISO 639-1 code of its lexicon (default, or one without files: the main language).
        """
        code = lang if lang in self.languages else self.lang
        self._pipe(code)
        return self._selectors[code].sentences(text)

    def infer_ad_type(self, text: str, lang: str | None = None) -> str:
        """``"job"``, ``"escort"`` or ``"other"`` for ``text`` by the cue lexicon in ``common.<lang>.yml``.

        Each distinct cue phrase adds its weight to its type, and each distinct indicator category
        found adds ``ad_type.indicator_weight`` to the types its indicators serve; the best type wins
        if it reaches ``ad_type.min_score`` (ties follow ``ad_type.order``), else ``"other"``.
        """
        norm = fold_obfuscation(normalize_text(text)).text
        use = lang if lang in self.languages else self.detect_language(norm)
        nlp, component = self._pipe(use)
        iset = component.indicator_set
        assert iset is not None
        return infer_ad_type_from_scores(component.ad_type_scores(nlp(norm)), iset.ad_type)

    def indicator_catalog(self) -> dict[str, dict[str, Any]]:
        """``{indicator id: {category, weight, description, source, ad_types, language}}`` for all languages."""
        out: dict[str, dict[str, Any]] = {}
        for lang in self.languages:
            iset = self._pipe(lang)[1].indicator_set
            if iset is not None:
                out.update(iset.catalog())
        return out

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _hits(
        doc: Doc, key: str, iset: IndicatorSet, norm: NormalizedText, ad_type: str
    ) -> list[IndicatorHit]:
        inds = iset.indicators
        out = []
        for span in doc.spans[key]:
            ind = inds[span.label_]
            if ad_type not in ind.ad_types:
                continue
            s, e = norm.span_to_original(span.start_char, span.end_char)
            out.append(IndicatorHit(ind.id, ind.category, s, e, norm.original[s:e], ind.weight))
        return out

    def _analysis(
        self, doc: Doc, component: IndicatorMatcher, norm: NormalizedText, mnorm: NormalizedText,
        doc_norm: NormalizedText | SelectedText, found: Selection | None, given: str | None, region: str, lang: str,
        lang_detected: bool,
    ) -> Analysis:
        """``doc`` is the tokenised ``doc_norm.text``: ``mnorm`` (the folded text) whole, or the
        sentences of it ``found`` selected; ``found`` also holds the whole text's cues and places."""
        iset = component.indicator_set
        assert iset is not None
        scores = component.ad_type_scores(doc, found.cues if found else None) if given is None else {}
        ad_type = given or infer_ad_type_from_scores(scores, iset.ad_type)
        # the selector scanned the folded text; its extraction hints hold for the normalised text
        # the extractor reads when folding changed nothing (nearly every ad)
        hints = found.extraction_hints if found is not None and mnorm.text == norm.text else None
        entities = self.extractor.extract(norm, region, hints)
        if found is not None:
            places = [(s, e, value) for s, e, value in found.places]
        else:
            places = [(span.start_char, span.end_char, span.label_) for span in doc.spans.get("places", [])]
        if places:
            for ps, pe, value in places:
                s, e = mnorm.span_to_original(ps, pe)
                entities.append(Entity("place", value, s, e, mnorm.original[s:e]))
            entities.sort(key=lambda x: (x.start, x.end, x.type))
        return Analysis(
            ad_type=ad_type,
            ad_type_inferred=given is None,
            indicators=self._hits(doc, component.spans_key, iset, doc_norm, ad_type),
            entities=entities,
            dropped=self._hits(doc, component.negated_key, iset, doc_norm, ad_type),
            overlapped=self._hits(doc, getattr(component, "overlap_key", "indicators_overlapped"), iset, doc_norm,
                                  ad_type),
            ad_type_scores=scores,
            lang=lang,
            lang_detected=lang_detected,
        )


@lru_cache(maxsize=4)
def default_engine(indicators_dir: Path | None = None, lang: str | None = None) -> RuleEngine:
    """A shared :class:`RuleEngine` for ``indicators_dir`` (default: settings), built on first use."""
    return RuleEngine(indicators_dir, lang=lang)


def infer_ad_type(text: str, indicators_dir: Path | None = None) -> str:
    """``"job"``, ``"escort"`` or ``"other"`` for ``text`` (see :meth:`RuleEngine.infer_ad_type`).

    Uses :func:`default_engine`; a caller that already holds a :class:`RuleEngine` should call its
    method, or pass ``ad_type=None`` to :meth:`RuleEngine.analyze_detailed`, which infers the type
    from the same tokenisation.
    """
    return default_engine(indicators_dir).infer_ad_type(text)
