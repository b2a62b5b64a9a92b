"""The job-ad risk model: a calibrated scikit-learn text classifier trained on EMSCAD-derived data.

The model ranks job ads for human review by the probability that the ad is fraudulent in the
sense of EMSCAD (Employment Scam Aegean Dataset, 2012-2014 English ads). Fraud is a proxy, not a
finding of trafficking. See ``models/<name>/card.md`` for intended and prohibited uses.

Input frame (built by :func:`ad_frame`): a 2-D ``object`` array, column 0 the cleaned ad text,
columns 1.. the :data:`META_FIELDS` as strings (``"yes"``, ``"no"``, a lower-cased category,
``"none"`` when the source left it blank, ``"unknown"`` when the source does not have it:
DIFrauD rows and most crawled ads). One ``Pipeline``: identity-term filter (off by default) ->
:class:`scoring.features.IndicatorMask` (the words each rule indicator matched removed; at
scoring, the best of the ad's indicator readings, so an added indicator never lowers the risk) -> ``ColumnTransformer`` (word TF-IDF and one-hot metadata;
char TF-IDF is an available block no shipped candidate uses) -> classifier (linear, Naive Bayes, or the nearest-neighbour contrast
:class:`scoring.similarity.TopKSimilarity`), wrapped in ``CalibratedClassifierCV`` (sigmoid, ``ensemble=False``) whose calibrator is
fitted on out-of-fold scores from a grouped split, so it never sees scores of ads the scoring
model trained on.

Public API: :func:`train_model`, :func:`save_model`, :func:`load_model`, :func:`train_cli`,
:class:`JobRiskModel`, :class:`TrainedModel`, :func:`ad_frame`.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import platform
import re
import time
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
import skops
import skops.io as sio
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import PredefinedSplit, StratifiedGroupKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.svm import LinearSVC

from scoring.datasets import (
    DatasetError,
    LabelledAd,
    assign_groups,
    check_trainable,
    file_sha256,
    load_labelled,
)
from scoring.evaluate import MetricCI, paired_bootstrap_diff, pr_auc, summarise
from scoring.extract import DATASET_CONTACT_TOKEN
from scoring.features import (
    IdentityTermFilter,
    IndicatorMask,
    indicator_readings,
)
from scoring.similarity import TopKSimilarity

__all__ = [
    "META_FIELDS",
    "TRUSTED_TYPES",
    "JobRiskModel",
    "ModelError",
    "TrainedModel",
    "ad_frame",
    "clean_text",
    "load_model",
    "save_model",
    "train_cli",
    "train_model",
]

META_FIELDS: tuple[str, ...] = (
    "has_company_logo",
    "has_questions",
    "telecommuting",
    "salary_present",
    "company_profile_present",
    "employment_type",
    "required_experience",
    "required_education",
)
"""Structured fields the model reads (EMSCAD columns; Vidros et al., "Automatic Detection of Online
Recruitment Frauds", Future Internet 2017, found logo, questions, salary and company profile
among the most telling). Missing ones are encoded as ``"unknown"``."""

_FLAG_FIELDS = frozenset({"has_company_logo", "has_questions", "telecommuting", "salary_present",
                          "company_profile_present"})

N_SPLITS = 5
"""Folds of the grouped cross-validation (StratifiedGroupKFold)."""

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.PredefinedSplit",
    "scoring.features.IdentityTermFilter",
    "scoring.features.IndicatorMask",
    "scoring.features.IndicatorSentenceMask",
    "scoring.similarity.TopKSimilarity",
    "scipy.sparse._csr.csr_matrix",
)
"""Types beyond skops' defaults that a job-risk artifact may hold. :func:`load_model` refuses a
file holding any other untrusted type (never trust-all)."""

MODEL_FILE = "model.skops"


class ModelError(RuntimeError):
    """A model artifact is missing, unreadable or not a job-risk model; the message names the file."""


# --------------------------------------------------------------------------- input frame

_URL_RE = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE_RE = re.compile(r"(?<![\w$])\+?\(?\d[\d\s().-]{7,}\d(?!\w)")
_GLUED_RE = re.compile(r"([a-z][.:;!?])([A-Z])")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                         "\u2014": "-", "\u2022": " \u2022 ", "\uf0b7": " \u2022 "})


def _phone_token(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return " phonetoken " if digits >= 9 else match.group(0)


def clean_text(text: str) -> str:
    """Normalise an ad text the way both training and scoring see it.

    HTML entities are decoded, Unicode NFKC-normalised (no-break spaces become spaces), curly quotes
    and dashes made ASCII, sentences glued by stripped HTML split (``"team.We"`` -> ``"team. We"``),
    URLs, e-mails and phone numbers (>= 9 digits) replaced by ``urltoken``, ``emailtoken``,
    ``phonetoken`` (EMSCAD's own ``#URL_<sha>#``-style masks too), whitespace collapsed within each
    line and blank lines dropped; line breaks are kept because they end sentences for the rule
    engine that :class:`scoring.features.IndicatorMask` runs (the word features ignore them). This mirrors
    the cleaning DIFrauD applied to EMSCAD descriptions, so EMSCAD CSV rows and crawled ads look
    like the DIFrauD rows.

    Args:
        text: raw ad text.

    Returns:
        The cleaned text (not lower-cased; the vectorisers do that).
    """
    text = unicodedata.normalize("NFKC", html.unescape(text)).translate(_QUOTES)
    text = DATASET_CONTACT_TOKEN.sub(lambda m: f" {m.group(1).lower()}token ", text)
    text = _URL_RE.sub(" urltoken ", text)
    text = _EMAIL_RE.sub(" emailtoken ", text)
    text = _PHONE_RE.sub(_phone_token, text)
    text = _GLUED_RE.sub(r"\1 \2", text)
    return "\n".join(line for line in (" ".join(part.split()) for part in text.splitlines()) if line)


def _present(value: object) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, str):
        return "yes" if value.strip() else "no"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "unknown" if math.isnan(value) else "yes"
    return "yes" if value else "no"


def _flag(value: object) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("1", "true", "yes", "t", "y"):
            return "yes"
        if v in ("0", "false", "no", "f", "n"):
            return "no"
        return "unknown" if not v else "yes"
    if isinstance(value, float) and math.isnan(value):
        return "unknown"
    return "yes" if value else "no"


def _meta_value(meta: dict[str, Any], name: str) -> str:
    if name == "salary_present" and name not in meta:
        for key in ("salary_range", "salary_raw", "salary", "salary_min", "salary_max"):
            if key in meta:
                return _present(meta[key])
        return "unknown"
    if name == "company_profile_present" and name not in meta:
        return _present(meta["company_profile"]) if "company_profile" in meta else "unknown"
    value = meta.get(name)
    if name in _FLAG_FIELDS:
        return _flag(value)
    if value is None:
        return "unknown"
    text = " ".join(str(value).split()).lower()
    return text or "none"


def ad_frame(texts: Sequence[str], metadata: Sequence[dict[str, Any] | None] | None = None) -> NDArray[np.object_]:
    """Build the model's input frame.

    Args:
        texts: ad texts, length n.
        metadata: optional per-ad dicts, length n (``None`` entries allowed). Keys read:
            :data:`META_FIELDS`; ``salary_present`` may instead come from ``salary_range`` /
            ``salary_raw`` / ``salary`` / ``salary_min`` / ``salary_max``, and
            ``company_profile_present`` from ``company_profile``. Flags accept bool, 0/1 or
            ``"0"/"1"/"true"/"false"``. Absent keys become ``"unknown"``.

    Returns:
        ``object`` array of shape (n, 1 + len(META_FIELDS)): cleaned text, then metadata strings.

    Raises:
        ValueError: ``metadata`` has a different length from ``texts``.
        TypeError: a text is not a str.
    """
    n = len(texts)
    if metadata is not None and len(metadata) != n:
        raise ValueError(f"got {n} texts but {len(metadata)} metadata dicts")
    frame = np.empty((n, 1 + len(META_FIELDS)), dtype=object)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, expected str")
        meta = (metadata[i] if metadata is not None else None) or {}
        frame[i, 0] = clean_text(text)
        for j, name in enumerate(META_FIELDS, start=1):
            frame[i, j] = _meta_value(meta, name)
    return frame


# --------------------------------------------------------------------------- candidates

_META_COLUMNS = list(range(1, 1 + len(META_FIELDS)))


BLOCK_WEIGHTS: dict[str, float] = {"word": 1.0, "word1": 1.0, "char": 0.35, "meta": 0.1}
"""ColumnTransformer weights of the feature blocks. Each TF-IDF row has unit L2 norm; the metadata
one-hot row has norm sqrt(8), so it is scaled down. 0.1 (metadata) and 0.35 (char) were the best of
{0.1, 0.2, 1.0} and {0.2, 0.35, 0.5} in grouped CV on the shipped data (three fold seeds)."""

LR_C = 30.0
"""Inverse L2 strength of the logistic regressions; best of {1, 10, 30, 100} in grouped CV
(differences between 10 and 100 were within noise)."""


def _word_tfidf() -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, max_df=0.9, max_features=40_000, sublinear_tf=True,
        strip_accents="unicode", dtype=np.float32,
    )


def _word1_tfidf() -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, 1), min_df=2, max_df=0.9, sublinear_tf=True, strip_accents="unicode", dtype=np.float32,
    )


def _char_tfidf() -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), min_df=3, max_df=0.9, max_features=30_000,
        sublinear_tf=True, dtype=np.float32,
    )


def _meta_onehot() -> OneHotEncoder:
    return OneHotEncoder(handle_unknown="ignore", min_frequency=3, dtype=np.float32)


_BLOCKS: dict[str, Callable[[], Any]] = {
    "word": _word_tfidf,
    "word1": _word1_tfidf,
    "char": _char_tfidf,
    "meta": _meta_onehot,
}


def _features(blocks: Sequence[str]) -> ColumnTransformer:
    return ColumnTransformer(
        [(b, _BLOCKS[b](), _META_COLUMNS if b == "meta" else 0) for b in blocks],
        sparse_threshold=1.0,
        transformer_weights={b: BLOCK_WEIGHTS[b] for b in blocks},
    )


@dataclass(frozen=True, slots=True)
class _Candidate:
    name: str
    blocks: tuple[str, ...]
    make_clf: Callable[[int], BaseEstimator]
    description: str


def _lr(seed: int) -> LogisticRegression:
    return LogisticRegression(C=LR_C, class_weight="balanced", solver="liblinear", random_state=seed)


def _candidates() -> list[_Candidate]:
    """The model families compared by grouped CV (the first is the plain baseline).

    Every candidate but the baseline reads the ad through
    :class:`~scoring.features.IndicatorMask`: the words each rule indicator matched are removed
    first, so an added indicator can never lower the risk (see :mod:`scoring.scorer`). Rule-category
    counts (a ``"rules"`` block, log1p counts at weight 0.3) were a feature before that; on masked
    text they are all zero, and without masking they changed kNN PR-AUC by 0.003, so they were
    removed. Mean kNN PR-AUC over fold seeds 0-4: 0.395 unmasked, 0.398 with the matched phrases
    masked (shipped), 0.387 with whole indicator sentences masked (0.3.0). The figures below were
    measured before masking, with the rules block, under the candidates' former ``*_rules`` names.

    Left out after grouped CV on the shipped data (three fold seeds, mean OOF PR-AUC against 0.34 for
    word TF-IDF + metadata LR): char_wb 3-5-gram TF-IDF added at weight 0.35 (0.33) or 1.0 (0.29),
    char n-grams alone (0.22), style features such as length and capitals (0.20-0.24), NB-SVM
    (0.24-0.32), HistGradientBoosting on 100 SVD components + metadata (0.20), all-MiniLM-L6-v2
    sentence embeddings alone (0.17) or beside TF-IDF (0.24-0.35; not worth a 110 s encoding
    step and a torch dependency), and an SVM + LR score average (0.35, within noise).

    A second search (grouped CV, fold seeds 0-4, kept only if the mean PR-AUC gain over the SVM was
    >= 0.04 and it led on >= 4 of 5 seeds) found nothing better than ``svm_word_meta_rules``
    (0.346 mean) among group-balanced sample weights, L1 and elastic-net logistic regression, chi2
    feature selection, bagged SVMs, SGD and Ridge classifiers and TF-IDF variants; only
    ``knn_word_meta_rules`` passed (0.421, ahead on 5 of 5 seeds; 0.314 against 0.267 with stricter
    near-duplicate groups; an SVM + kNN score average, 0.313, added nothing). Variants of the kNN
    candidate, same bar, all below it: metadata weight 0.3 (0.412) or rule weight 0.6 (0.367-0.376),
    an added char_wb block (0.409-0.420), soft (log-sum-exp) or similarity-weighted neighbours
    (0.388-0.414), a kNN + SVM rank average (0.397), and word unigrams instead of 1-2-grams (0.432,
    +0.012, ahead on 4 of 5 seeds; +0.043 with stricter groups: worth re-checking on more data).
    A third search on the phrase-masked text (same bar: +0.03 mean PR-AUC over the kNN, ROC-AUC not
    lower, ahead on 4 of 5 seeds) found nothing either: kNN on LSA (200 components) alone 0.295 or
    beside TF-IDF 0.326, stacking kNN + LR 0.399, binary TF 0.412 (ROC lower), BM25 0.404, kNN +
    z-scored LR 0.410, hubness (CSLS) corrections 0.290-0.376, one neighbour per near-duplicate
    group 0.395, against 0.398.
    """
    return [
        _Candidate(
            "baseline_tfidf_lr", ("plain",), lambda seed: LogisticRegression(max_iter=1000),
            "plain TfidfVectorizer() + LogisticRegression(max_iter=1000), otherwise library defaults, whole text",
        ),
        _Candidate(
            "lr_word_meta", ("word", "meta"), _lr,
            "word 1-2-gram TF-IDF + one-hot metadata (x0.1), LogisticRegression(C=30, balanced)",
        ),
        _Candidate(
            "lr_word1_meta", ("word1", "meta"), _lr,
            "word unigram TF-IDF + metadata (x0.1), LogisticRegression(C=30, balanced)",
        ),
        _Candidate(
            "svm_word_meta", ("word", "meta"),
            lambda seed: LinearSVC(C=1.0, class_weight="balanced", random_state=seed),
            "word TF-IDF + metadata (x0.1), LinearSVC(C=1, balanced)",
        ),
        _Candidate(
            "knn_word_meta", ("word", "meta"),
            lambda seed: TopKSimilarity(k_pos=3, k_neg=10),
            "word TF-IDF + metadata (x0.1), TopKSimilarity(k_pos=3, k_neg=10): mean cosine similarity "
            "to the 3 nearest fraudulent training ads minus to the 10 nearest legitimate ones",
        ),
        _Candidate(
            "cnb_word_meta", ("word", "meta"),
            lambda seed: ComplementNB(alpha=0.01),
            "word TF-IDF + metadata (x0.1), ComplementNB(alpha=0.01)",
        ),
    ]


def _pipeline(cand: _Candidate, seed: int, exclude_identity_terms: bool = False) -> Pipeline:
    if cand.blocks == ("plain",):
        features = ColumnTransformer([("word", TfidfVectorizer(), 0)], sparse_threshold=1.0)
    else:
        features = _features(cand.blocks)
    return Pipeline([
        ("identity", IdentityTermFilter(enabled=exclude_identity_terms)),
        ("mask", IndicatorMask(enabled=cand.blocks != ("plain",))),
        ("features", features),
        ("clf", cand.make_clf(seed)),
    ])


def _scores(clf: BaseEstimator, X: Any) -> NDArray[np.float64]:
    if hasattr(clf, "decision_function"):
        return np.asarray(clf.decision_function(X), dtype=float).ravel()
    return np.asarray(clf.predict_proba(X), dtype=float)[:, 1]


def _sigmoid_fit_apply(s_fit: NDArray[np.float64], y_fit: NDArray[np.int_], s_new: NDArray[np.float64],
                       seed: int) -> NDArray[np.float64]:
    """Platt scaling: a 1-D logistic regression of labels on scores, applied to new scores."""
    lr = LogisticRegression(C=1e4, max_iter=1000, random_state=seed)
    lr.fit(s_fit.reshape(-1, 1), y_fit)
    return np.asarray(lr.predict_proba(s_new.reshape(-1, 1))[:, 1], dtype=float)


# --------------------------------------------------------------------------- training


def _compact_vocabularies(estimator: CalibratedClassifierCV) -> None:
    """Store TF-IDF vocabulary indices as Python ints (same values, same behaviour).

    skops writes every ``numpy.int64`` dict value as its own ``.npy`` member of the zip; a
    40,000-term vocabulary then makes an 8.5 MB artifact that loads in 3 s instead of 1.3 MB / 1 s.
    """
    for calibrated in estimator.calibrated_classifiers_:
        features = calibrated.estimator[:-1]
        for _, step in features.steps:
            for _, transformer, _ in getattr(step, "transformers_", []):
                vocab = getattr(transformer, "vocabulary_", None)
                if isinstance(vocab, dict):
                    transformer.vocabulary_ = {term: int(index) for term, index in vocab.items()}


@dataclass
class TrainedModel:
    """A fitted model with what the card and metrics need.

    Attributes:
        estimator: the fitted ``CalibratedClassifierCV`` (input: :func:`ad_frame` output).
        selected: name of the candidate picked by grouped-CV PR-AUC.
        candidates: per candidate: ``description`` and out-of-fold ``metrics`` (each a
            :class:`~scoring.evaluate.MetricCI` as dict: value, low, high, level, n_boot).
        baseline: name of the plain TF-IDF + logistic regression baseline.
        pr_auc_gain: selected minus baseline OOF PR-AUC with a paired group-bootstrap interval.
        data: rows, positives, groups, and per-source counts of the training records.
        cv: description of the cross-validation (splits, seed, grouping).
        seed: the seed used everywhere.
        inputs: training sources (``path``, ``sha256``, ``role``: train, exclude, indicators, or
            database with counts, decision dates and a labels hash), filled by :func:`train_cli`.
        train_seconds: wall time of :func:`train_model` (not written to metrics.json or card.md).
        identity_effect: grouped-CV ROC/PR-AUC of the selected candidate with and without
            nationality/ethnicity terms, and the paired PR-AUC difference (shipped minus other).
        repeats: grouped CV over several fold seeds: ``seeds``, and per candidate ``pr_auc`` and
            ``roc_auc`` lists (one value per seed, the first from the main CV), their ``mean``,
            and ``best`` (how many seeds the candidate had the top PR-AUC). Empty with one seed.
        random_cv: the selected candidate and the baseline under *ungrouped* stratified 5-fold CV
            (fold seeds as :attr:`repeats`; see :func:`_random_cv`): ``seeds``, and per candidate
            ``pr_auc``/``roc_auc`` lists and means. Never used to choose anything.
        rules_effect: how the rule indicators rank these labels, out of fold on the main CV
            (see :func:`_rules_effect`).
        oof_labels: labels in training order (for the plots).
        oof_probability: out-of-fold calibrated probabilities of the selected candidate.
        oof_scores: out-of-fold decision scores of the selected candidate and the baseline (the
            pooled ranking behind the card's PR-AUC).
    """

    estimator: CalibratedClassifierCV
    selected: str
    candidates: dict[str, dict[str, Any]]
    baseline: str
    pr_auc_gain: dict[str, float | int]
    data: dict[str, Any]
    cv: dict[str, Any]
    seed: int
    inputs: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    identity_effect: dict[str, Any] = field(default_factory=dict)
    repeats: dict[str, Any] = field(default_factory=dict)
    random_cv: dict[str, Any] = field(default_factory=dict)
    rules_effect: dict[str, Any] = field(default_factory=dict)
    oof_labels: NDArray[np.int_] | None = None
    oof_probability: NDArray[np.float64] | None = None
    oof_scores: dict[str, NDArray[np.float64]] = field(default_factory=dict)


def _id_key(ad_id: str) -> tuple[str, int, str]:
    """Sort key of a :class:`LabelledAd` id ``"<file>:<row>"``: file name, then row as a number."""
    head, _, tail = ad_id.rpartition(":")
    return (head, int(tail), "") if tail.isdigit() else (head, -1, tail)


def _canonical_order(records: Sequence[LabelledAd]) -> list[LabelledAd]:
    """The records sorted by id (:func:`_id_key`), each group renamed after its smallest member id.

    Folds, bootstrap resamples and so the selected candidate depend on the order of the rows and on
    the group names; ``load_labelled`` gives them in the order of the files on the command line and
    names a group after its first member. Canonical order and names make training independent of
    the order in which files (or analysts' decisions) are given. Returns copies; the input is not
    changed.
    """
    ordered = sorted(records, key=lambda r: _id_key(r.id))
    first: dict[str, str] = {}
    for r in ordered:
        first.setdefault(r.group or r.id, r.id)
    return [dataclasses.replace(r, group=first[r.group or r.id]) for r in ordered]


def _fold_ids(y: NDArray[np.int_], groups: Sequence[str], n_splits: int, seed: int) -> NDArray[np.int_]:
    n_pos_groups = len({g for g, label in zip(groups, y, strict=True) if label == 1})
    n_neg_groups = len({g for g, label in zip(groups, y, strict=True) if label == 0})
    if min(n_pos_groups, n_neg_groups) < n_splits:
        raise ValueError(
            f"grouped {n_splits}-fold CV needs >= {n_splits} groups of each class; got "
            f"{n_pos_groups} with fraudulent ads and {n_neg_groups} with legitimate ones"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    fold = np.full(y.size, -1, dtype=int)
    for k, (_, test) in enumerate(splitter.split(np.zeros(y.size), y, groups)):
        fold[test] = k
    return fold


MIN_TRAIN_CHARS = 20
"""Ads with fewer characters of text left after :class:`~scoring.features.IndicatorMask`
are not used to train the masked candidates (they are still scored). In grouped CV on the shipped
data, with whole indicator sentences masked (0.3.0), 4 legitimate ads were masked down to (almost)
nothing; as metadata-only rows they sat near a great many ads and cost the kNN model 0.09 PR-AUC
(mean of fold seeds 0-4: 0.302 with them, 0.387 without). Phrase masking leaves more text; the
card gives the number of ads left out."""


def _trainable(masked: NDArray[np.object_]) -> NDArray[np.bool_]:
    """Rows of a masked frame with at least :data:`MIN_TRAIN_CHARS` characters of text."""
    return np.array([len(str(t).strip()) >= MIN_TRAIN_CHARS for t in masked[:, 0]], dtype=bool)


def _reading_frame(X: NDArray[np.object_]) -> tuple[NDArray[np.object_], NDArray[np.intp]]:
    """One row per indicator reading of each ad of the frame ``X`` (identity filter already applied;
    :func:`scoring.features.indicator_readings`), metadata repeated, and each row's ad index."""
    readings = indicator_readings([str(t) for t in X[:, 0]])
    owner = np.repeat(np.arange(X.shape[0]), [len(r) for r in readings])
    out = X[owner].copy()
    out[:, 0] = [text for r in readings for text in r]
    return out, owner


def _group_max(scores: NDArray[np.float64], owner: NDArray[np.intp], n: int) -> tuple[NDArray[np.float64],
                                                                                    NDArray[np.intp]]:
    """Per ad (``owner`` = ad index of each row, ads 0..n-1): the highest row score and that row's
    index (the first on ties)."""
    best = np.full(n, -np.inf)
    np.maximum.at(best, owner, scores)
    rows = np.full(n, -1, dtype=np.intp)
    for i in range(scores.size - 1, -1, -1):  # reversed, so the first of equal rows wins
        if scores[i] == best[owner[i]]:
            rows[owner[i]] = i
    return best, rows


def _oof_scores(
    cands: Sequence[_Candidate], X: NDArray[np.object_], y: NDArray[np.int_], folds: NDArray[np.int_],
    seed: int, say: Callable[[str], None] | None,
) -> dict[str, NDArray[np.float64]]:
    """Out-of-fold decision scores of each candidate; feature blocks are fitted once per fold.

    ``X`` is the frame after the identity filter. The plain baseline reads it as it is and trains
    on every training-fold row; the other candidates read it through
    :class:`~scoring.features.IndicatorMask`, as their pipelines do, and train only on rows
    :func:`_trainable` keeps (every held-out row is scored either way).
    """
    oof: dict[str, NDArray[np.float64]] = {c.name: np.zeros(y.size) for c in cands}
    needed = sorted({b for c in cands for b in c.blocks if b != "plain"}, key=list(_BLOCKS).index)
    masked = IndicatorMask().fit(X).transform(X) if needed else X
    keep = _trainable(masked)
    for k in range(int(folds.max()) + 1):
        tr, te = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        if needed:
            tr_kept = np.flatnonzero((folds != k) & keep)
            full = _features(needed)
            Xtr_all = sp.csr_matrix(full.fit_transform(masked[tr_kept]))
            # held-out ads are scored as at inference: the best of their indicator readings
            te_frame, owner = _reading_frame(X[te])
            Xte_all = sp.csr_matrix(full.transform(te_frame))
            slices = full.output_indices_
        for cand in cands:
            if cand.blocks == ("plain",):
                pipe = _pipeline(cand, seed).fit(X[tr], y[tr])
                oof[cand.name][te] = _scores(pipe, X[te])
                continue
            # The cached blocks carry BLOCK_WEIGHTS already (full uses the same weights), so slicing
            # gives exactly what _pipeline(cand) would compute on this fold.
            cols = np.concatenate([np.arange(slices[b].start, slices[b].stop) for b in cand.blocks])
            clf = cand.make_clf(seed).fit(Xtr_all[:, cols], y[tr_kept])
            oof[cand.name][te] = _group_max(_scores(clf, Xte_all[:, cols]), owner, te.size)[0]
        if say is not None:
            say(f"fold {k + 1}: {te.size} held-out ads, {int(y[te].sum())} fraudulent")
    return oof


def _repeat_cv(
    cands: Sequence[_Candidate], X: NDArray[np.object_], y: NDArray[np.int_], groups: Sequence[str],
    folds: NDArray[np.int_], seed: int, n_splits: int, cv_repeats: int,
    oof: dict[str, NDArray[np.float64]], say: Callable[[str], None],
) -> dict[str, Any]:
    """Every candidate's OOF PR-AUC and ROC-AUC over fold seeds ``seed .. seed + cv_repeats - 1``
    (the first from ``oof``, the main CV); see :attr:`TrainedModel.repeats`."""
    if cv_repeats <= 1:
        return {}
    from sklearn.metrics import roc_auc_score

    runs = [oof]
    for r in range(1, cv_repeats):
        say(f"repeat {r + 1}/{cv_repeats}: grouped CV with fold seed {seed + r}")
        runs.append(_oof_scores(cands, X, y, _fold_ids(y, groups, n_splits, seed + r), seed, None))
    out: dict[str, Any] = {"seeds": [seed + r for r in range(cv_repeats)], "candidates": {}}
    prs = {c.name: [round(float(pr_auc(y, run[c.name])), 4) for run in runs] for c in cands}
    for c in cands:
        rocs = [round(float(roc_auc_score(y, run[c.name])), 4) for run in runs]
        best = sum(1 for i in range(cv_repeats) if max(prs, key=lambda n: prs[n][i]) == c.name)
        out["candidates"][c.name] = {
            "pr_auc": prs[c.name], "roc_auc": rocs, "best": best,
            "pr_auc_mean": round(float(np.mean(prs[c.name])), 4), "roc_auc_mean": round(float(np.mean(rocs)), 4),
        }
    return out


def _random_cv(
    cands: Sequence[_Candidate], X: NDArray[np.object_], y: NDArray[np.int_], n_splits: int, seed: int,
    n_seeds: int,
) -> dict[str, Any]:
    """OOF PR-AUC and ROC-AUC of ``cands`` under ungrouped ``StratifiedKFold(n_splits, shuffle=True)``
    with fold seeds ``seed .. seed + n_seeds - 1``.

    Copies and near-duplicates may then straddle folds, as they do in a random train/test split of
    one source. On the shipped data this reproduces the figures issue #4 gives for the plain baseline
    on its unseen EMSCAD-derived set (PR-AUC 0.46, ROC-AUC 0.86 here vs about 0.46 and 0.87 there),
    so it is the better-matched estimate for that set; grouped CV stays the one that chooses the
    model. Returns ``{"seeds": [...], "candidates": {name: {pr_auc, roc_auc, pr_auc_mean, roc_auc_mean}}}``.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    out: dict[str, Any] = {"seeds": [seed + r for r in range(n_seeds)], "candidates": {}}
    runs = []
    for r in range(n_seeds):
        folds = np.zeros(y.size, dtype=int)
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed + r)
        for k, (_, te) in enumerate(splitter.split(np.zeros(y.size), y)):
            folds[te] = k
        runs.append(_oof_scores(cands, X, y, folds, seed, None))
    for c in cands:
        prs = [round(float(pr_auc(y, run[c.name])), 4) for run in runs]
        rocs = [round(float(roc_auc_score(y, run[c.name])), 4) for run in runs]
        out["candidates"][c.name] = {"pr_auc": prs, "roc_auc": rocs, "pr_auc_mean": round(float(np.mean(prs)), 4),
                                     "roc_auc_mean": round(float(np.mean(rocs)), 4)}
    return out


def _rules_effect(records: Sequence[LabelledAd], y: NDArray[np.int_], probability: NDArray[np.float64],
                  groups: Sequence[str], n_boot: int, seed: int) -> dict[str, Any]:
    """How adwatch's job-ad risk ranks these labels compared with the model probability alone.

    ``rule_risk`` (:func:`scoring.scorer.rule_risk`, the indicator weights of ``config/indicators``,
    not fitted to this data) of every training ad, and ``risk = 1 - (1 - p)(1 - rule_risk)`` with
    ``p`` the selected candidate's out-of-fold calibrated probability. Returns PR-AUC and ROC-AUC
    (95% group-bootstrap intervals, as dicts) of ``p``, ``rule_risk`` and ``risk``, and how many
    fraudulent and legitimate ads have at least one indicator hit.
    """
    from scoring.rules import default_engine
    from scoring.scorer import combine, rule_risk

    engine = default_engine()
    rules = np.array([rule_risk(a.indicators) for a in engine.analyze_detailed((r.text, "job") for r in records)])
    risk = np.array([combine(float(p), float(r)) for p, r in zip(probability, rules, strict=True)])
    out: dict[str, Any] = {
        "with_hits": {"fraudulent": int(((rules > 0) & (y == 1)).sum()), "legitimate": int(((rules > 0) & (y == 0)).sum())},
    }
    for name, values in (("model_probability", probability), ("rule_risk", rules), ("risk", risk)):
        ci = summarise(y, values, groups=groups, n_boot=n_boot, seed=seed, metrics=("roc_auc", "pr_auc"))
        out[name] = {k: v.as_dict() for k, v in ci.items()}
    return out


def train_model(
    records: list[LabelledAd],
    seed: int = 0,
    *,
    n_splits: int = N_SPLITS,
    n_boot: int = 1000,
    log: Callable[[str], None] | None = None,
    exclude_identity_terms: bool = False,
    cv_repeats: int = 1,
) -> TrainedModel:
    """Compare model families by grouped CV, then fit and calibrate the best on all records.

    Steps: (0) put the records in a canonical order (:func:`_canonical_order`), so the result does
    not depend on the order of the input files; (1) assign folds with ``StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)``
    over :attr:`LabelledAd.group`; (2) per fold, fit the feature blocks on the training part and
    score the held-out part with every candidate in :func:`_candidates` (the plain TF-IDF + LR
    baseline among them); (3) out-of-fold ROC-AUC, PR-AUC, Brier and ECE with 95% group-bootstrap
    intervals (ROC/PR-AUC on the pooled out-of-fold scores; the probabilities for Brier/ECE from a
    sigmoid fitted on the *other* folds' out-of-fold scores); (4) pick the highest OOF PR-AUC among
    the candidates other than the baseline (the baseline reads the indicator words, so it would break
    the risk's no-decrease guarantee; a warning says when it ranks better);
    (5) fit it on all records inside
    ``CalibratedClassifierCV(method="sigmoid", cv=PredefinedSplit(folds), ensemble=False)``.

    Args:
        records: labelled ads (see :func:`scoring.datasets.load_labelled`); need >= ``n_splits``
            groups holding a fraudulent ad.
        seed: seed for the splits, solvers and bootstrap; equal seeds give identical models.
        n_splits: CV folds (default 5).
        n_boot: bootstrap resamples per interval.
        log: optional callback receiving progress lines.
        exclude_identity_terms: remove nationality and ethnicity terms from the text before any
            feature sees it (:class:`scoring.features.IdentityTermFilter`), in CV and in the
            final model. The selected candidate is also cross-validated with the opposite setting
            and both results are kept in :attr:`TrainedModel.identity_effect`.
        cv_repeats: fold assignments to run (fold seeds ``seed .. seed + cv_repeats - 1``). The
            first one picks the candidate and gives the intervals and the calibration folds; with
            71 positives another fold draw moves PR-AUC by several hundredths, so the others give
            every candidate's mean and range over draws (:attr:`TrainedModel.repeats`).

    Returns:
        The :class:`TrainedModel`.

    Raises:
        scoring.datasets.DatasetError: (a ``ValueError``) no records, a single class, or fewer than
            ``n_splits`` groups of a class (:func:`scoring.datasets.check_trainable`; the message
            names each source with its counts).
    """
    started = time.perf_counter()
    say = log or (lambda _msg: None)
    check_trainable(records, n_splits)
    records = _canonical_order(records)
    y = np.array([r.label for r in records], dtype=int)
    groups = [r.group or r.id for r in records]
    X = ad_frame([r.text for r in records], [r.metadata for r in records])
    folds = _fold_ids(y, groups, n_splits, seed)
    cands = _candidates()
    X_raw = X
    X = IdentityTermFilter(enabled=exclude_identity_terms).fit(X_raw).transform(X_raw)

    oof = _oof_scores(cands, X, y, folds, seed, say)

    results: dict[str, dict[str, Any]] = {}
    oof_prob: dict[str, NDArray[np.float64]] = {}
    for cand in cands:
        s = oof[cand.name]
        prob = np.zeros(y.size)
        for k in range(n_splits):
            other, this = folds != k, folds == k
            prob[this] = _sigmoid_fit_apply(s[other], y[other], s[this], seed)
        ranking = summarise(y, s, groups=groups, n_boot=n_boot, seed=seed, metrics=("roc_auc", "pr_auc"))
        calib = summarise(y, prob, groups=groups, n_boot=n_boot, seed=seed, metrics=("brier", "ece"))
        oof_prob[cand.name] = prob
        metrics = {name: ci.as_dict() for name, ci in {**ranking, **calib}.items()}
        results[cand.name] = {"description": cand.description, "metrics": metrics}
        # Printed as the card and the final table print them (from the rounded dicts).
        say(f"{cand.name}: PR-AUC {_fmt(metrics['pr_auc'])}, ROC-AUC {_fmt(metrics['roc_auc'])}, "
            f"Brier {_fmt(metrics['brier'])}")

    baseline = cands[0].name
    # The plain baseline is the yardstick, never the choice: it reads the indicator words, so with
    # it an added indicator could lower the risk (see IndicatorMask).
    selectable = [c for c in cands if c.name != baseline]
    selected = max(selectable,
                   key=lambda c: (results[c.name]["metrics"]["pr_auc"]["value"], -cands.index(c))).name
    gain: MetricCI = paired_bootstrap_diff(pr_auc, y, oof[selected], oof[baseline], groups=groups,
                                           n_boot=n_boot, seed=seed)
    say(f"selected {selected} (PR-AUC gain over baseline {_fmt(gain.as_dict())})")
    if gain.value < 0.0:
        say(f"warning: the plain baseline ranks this data better than {selected} (PR-AUC gain {gain.value:.3f}); "
            "it is not selectable because it reads the indicator words, so an added indicator could lower "
            "the risk")
    elif gain.low <= 0.0:
        say(f"warning: the 95% interval of {selected}'s PR-AUC gain over the baseline includes 0: on this "
            "data it is not clearly better than plain TF-IDF + logistic regression")
    chosen = next(c for c in cands if c.name == selected)

    repeats = _repeat_cv(cands, X, y, groups, folds, seed, n_splits, cv_repeats, oof, say)
    pair = [c for c in cands if c.name in (baseline, selected)]
    say(f"ungrouped CV over {max(1, cv_repeats)} fold seed(s), {selected} and the baseline (an estimate, not a choice)")
    random_cv = _random_cv(pair, X, y, n_splits, seed, max(1, cv_repeats))
    rules_effect = _rules_effect(records, y, oof_prob[selected], groups, n_boot, seed)

    # The effect of removing identity terms: the selected candidate under the other setting.
    X_other = IdentityTermFilter(enabled=not exclude_identity_terms).fit(X_raw).transform(X_raw)
    s_other = _oof_scores([chosen], X_other, y, folds, seed, None)[chosen.name]
    other = summarise(y, s_other, groups=groups, n_boot=n_boot, seed=seed, metrics=("roc_auc", "pr_auc"))
    diff = paired_bootstrap_diff(pr_auc, y, oof[selected], s_other, groups=groups, n_boot=n_boot, seed=seed)
    with_terms, without_terms = (other, results[selected]["metrics"]) if exclude_identity_terms else (
        results[selected]["metrics"], other)
    identity_effect = {
        "exclude_identity_terms": exclude_identity_terms,
        "with_identity_terms": {k: (v.as_dict() if isinstance(v, MetricCI) else v)
                                for k, v in with_terms.items() if k in ("roc_auc", "pr_auc")},
        "without_identity_terms": {k: (v.as_dict() if isinstance(v, MetricCI) else v)
                                   for k, v in without_terms.items() if k in ("roc_auc", "pr_auc")},
        "pr_auc_shipped_minus_other": diff.as_dict(),
    }
    say(f"identity terms {'removed' if exclude_identity_terms else 'kept'}; other setting: "
        f"PR-AUC {_fmt(other['pr_auc'].as_dict())}, shipped minus other {_fmt(diff.as_dict())}")

    estimator = CalibratedClassifierCV(
        _pipeline(chosen, seed, exclude_identity_terms), method="sigmoid", cv=PredefinedSplit(folds),
        ensemble=False,
    )
    if chosen.blocks == ("plain",):
        fit_rows = np.ones(y.size, dtype=bool)
    else:
        fit_rows = _trainable(IndicatorMask().fit(X).transform(X))
    estimator.cv = PredefinedSplit(folds[fit_rows])
    estimator.fit(X_raw[fit_rows], y[fit_rows])
    if chosen.blocks != ("plain",):
        # CalibratedClassifierCV fitted its sigmoid on out-of-fold scores of the phrase-masked text;
        # adwatch scores an ad by its best indicator reading (JobRiskModel), so refit the sigmoid on
        # the out-of-fold scores computed that way (same folds, same training rows).
        estimator.calibrated_classifiers_[0].calibrators[0].fit(oof[selected][fit_rows], y[fit_rows])
    _compact_vocabularies(estimator)
    say("fitted the selected model on all ads and its sigmoid calibrator on out-of-fold scores")

    by_source: dict[str, dict[str, int]] = {}
    for r in records:
        entry = by_source.setdefault(r.source, {"rows": 0, "fraudulent": 0})
        entry["rows"] += 1
        entry["fraudulent"] += r.label
    data = {
        "rows": int(y.size),
        "not_trained_on": int((~fit_rows).sum()),
        "fraudulent": int(y.sum()),
        "groups": len(set(groups)),
        "fraudulent_groups": len({g for g, label in zip(groups, y, strict=True) if label == 1}),
        "by_source": by_source,
    }
    cv = {
        "splitter": f"StratifiedGroupKFold(n_splits={n_splits}, shuffle=True, random_state={seed})",
        "groups": "scoring.datasets.assign_groups (shared boilerplate / near-duplicate clusters)",
        "bootstrap": f"{n_boot} group-bootstrap resamples, percentile 95% intervals, seed {seed}",
        "calibration_in_cv": "Brier/ECE on OOF scores mapped by a sigmoid fitted on the other folds' OOF scores",
        "fold_sizes": [int((folds == k).sum()) for k in range(n_splits)],
        "fold_fraudulent": [int(y[folds == k].sum()) for k in range(n_splits)],
    }
    return TrainedModel(
        estimator=estimator,
        selected=selected,
        candidates=results,
        baseline=baseline,
        pr_auc_gain=gain.as_dict(),
        data=data,
        cv=cv,
        seed=seed,
        train_seconds=time.perf_counter() - started,
        identity_effect=identity_effect,
        repeats=repeats,
        random_cv=random_cv,
        rules_effect=rules_effect,
        oof_labels=y,
        oof_probability=oof_prob[selected],
        oof_scores={selected: oof[selected], baseline: oof[baseline]},
    )


# --------------------------------------------------------------------------- inference


def _linear_weights(clf: Any) -> NDArray[np.float64]:
    if hasattr(clf, "coef_"):
        return np.asarray(clf.coef_, dtype=float).ravel()
    if hasattr(clf, "feature_log_prob_"):  # ComplementNB: joint log-likelihood is X @ flp.T
        flp: NDArray[np.float64] = np.asarray(clf.feature_log_prob_, dtype=float)
        return np.asarray(flp[1] - flp[0], dtype=float)
    raise ModelError(f"cannot explain a {type(clf).__name__}: no linear weights")


def _contributions(clf: Any, rows: sp.csr_matrix) -> sp.csr_matrix:
    """Per-feature terms of each row's decision score, non-zero only where the row is.

    A linear classifier's term is weight x value; :class:`~scoring.similarity.TopKSimilarity`
    gives its own exact split (:meth:`~scoring.similarity.TopKSimilarity.contributions`). Either
    way a row's terms sum to its decision score (up to an intercept for linear models).

    Raises:
        ModelError: the classifier has neither linear weights nor a ``contributions`` method.
    """
    if hasattr(clf, "contributions"):
        return sp.csr_matrix(clf.contributions(rows))
    return sp.csr_matrix(rows.multiply(_linear_weights(clf)[np.newaxis, :]))


class JobRiskModel:
    """A loaded job-ad risk model.

    Attributes:
        version: the artifact folder name, e.g. ``"job-risk-0.1.0"``.
        path: the ``model.skops`` file it was loaded from (``None`` if built in memory).
    """

    def __init__(self, estimator: CalibratedClassifierCV, version: str, path: Path | None = None) -> None:
        self.estimator = estimator
        self.version = version
        self.path = path
        self._feature_names: NDArray[np.str_] | None = None

    def predict_proba(
        self, texts: Sequence[str], metadata: Sequence[dict[str, Any] | None] | None = None
    ) -> NDArray[np.float64]:
        """Calibrated probability that each ad is fraudulent in the EMSCAD sense.

        The classifier scores every indicator reading of the ad
        (:func:`scoring.features.indicator_readings`: each sentence holding an indicator hidden
        whole or only its matched words) and the highest score is calibrated. So adding an
        indicator, as a phrase or as a sentence, never lowers the probability.

        Args:
            texts: ad texts, length n.
            metadata: optional per-ad dicts, length n (see :func:`ad_frame`).

        Returns:
            ``float64`` array of shape (n,), values in [0, 1]. Empty input gives shape (0,).

        Raises:
            ValueError: lengths differ.
            TypeError: a text is not a str.
        """
        if len(texts) == 0:
            return np.zeros(0, dtype=float)
        calibrated = self.estimator.calibrated_classifiers_
        if len(calibrated) == 1 and len(calibrated[0].calibrators) == 1:
            scores, _rows, _terms = self._best_readings(texts, metadata, with_terms=False)
            proba = np.asarray(calibrated[0].calibrators[0].predict(scores), dtype=float)
        else:  # not how train_model calibrates: the estimator's own averaging
            proba = np.asarray(self.estimator.predict_proba(ad_frame(texts, metadata)), dtype=float)[:, 1]
        clipped: NDArray[np.float64] = np.clip(proba, 0.0, 1.0)
        return clipped

    def predict_explain(
        self, texts: Sequence[str], metadata: Sequence[dict[str, Any] | None] | None = None, k: int = 5
    ) -> tuple[NDArray[np.float64], list[list[tuple[str, float]]]]:
        """:meth:`predict_proba` and :meth:`explain_many` from one feature transform (the transform
        is most of the cost of each; the scorer needs both for every job ad).

        Returns:
            ``(probabilities, explanations)``: shape (n,) in [0, 1], and n lists as :meth:`explain_many`
            (the features of the reading that gave the probability).

        Raises:
            ValueError: ``k < 1``, or the lengths differ.
            TypeError: a text is not a str.
        """
        if k < 1:
            raise ValueError("k must be >= 1")
        if len(texts) == 0:
            return np.zeros(0, dtype=float), []
        scores, rows, terms = self._best_readings(texts, metadata, with_terms=True)
        calibrated = self.estimator.calibrated_classifiers_
        if len(calibrated) == 1 and len(calibrated[0].calibrators) == 1:
            proba = np.asarray(calibrated[0].calibrators[0].predict(scores), dtype=float)
        else:
            proba = self.predict_proba(texts, metadata)
        return np.clip(proba, 0.0, 1.0), self._explain_rows(rows, k, terms)

    def _best_readings(
        self, texts: Sequence[str], metadata: Sequence[dict[str, Any] | None] | None, with_terms: bool
    ) -> tuple[NDArray[np.float64], sp.csr_matrix, sp.csr_matrix | None]:
        """Per ad: the classifier's highest score over its indicator readings, that reading's feature
        row, and (``with_terms`` and a classifier that computes them together) its per-feature terms.

        Pipelines without the phrase mask (the plain baseline, or an artifact that hid whole
        sentences) read each ad once, as their own steps do."""
        pipe, _sign = self._parts()
        meta = None if metadata is None else [m or {} for m in metadata]
        frame = ad_frame(texts, meta)
        clf = pipe[-1]
        mask = pipe.named_steps.get("mask")
        if mask is not None and mask.enabled and getattr(mask, "unit", "sentence") == "phrase":
            expanded, owner = _reading_frame(pipe.named_steps["identity"].transform(frame))
            rows = sp.csr_matrix(pipe.named_steps["features"].transform(expanded))
        else:
            owner = np.arange(len(texts))
            rows = sp.csr_matrix(pipe[:-1].transform(frame))
        terms = None
        if with_terms and hasattr(clf, "decision_and_contributions"):  # one neighbour search for both
            scores, terms = clf.decision_and_contributions(rows)
        else:
            scores = _scores(clf, rows)
        best, idx = _group_max(np.asarray(scores, dtype=float).ravel(), owner, len(texts))
        return best, rows[idx], (None if terms is None else sp.csr_matrix(terms)[idx])

    def _parts(self) -> tuple[Pipeline, float]:
        inner = self.estimator.calibrated_classifiers_[0]
        pipe = inner.estimator
        slope = float(getattr(inner.calibrators[0], "a_", -1.0))
        # sklearn's sigmoid is 1 / (1 + exp(a * f + b)): a < 0 means higher score -> higher risk.
        return pipe, (-1.0 if slope > 0 else 1.0)

    def explain(self, text: str, metadata: dict[str, Any] | None = None, k: int = 5) -> list[tuple[str, float]]:
        """Top ``k`` features behind one ad's score: each feature's term of the decision score.

        For a linear classifier a term is weight x feature value; for
        :class:`~scoring.similarity.TopKSimilarity` it is the normalised feature value x (its mean
        over the ad's nearest fraudulent training ads minus over its nearest legitimate ones).
        Features whose term is 0 are left out.

        Args:
            text: the ad text.
            metadata: optional metadata dict (see :func:`ad_frame`).
            k: number of features to return (fewer if the ad has fewer non-zero terms).

        Returns:
            ``[(feature, contribution), ...]`` sorted by absolute contribution, largest first.
            Feature names are ``"word:<n-gram>"``, ``"char:<n-gram>"`` or ``"meta:<field>_<value>"``;
            a positive contribution raises the risk (in decision-function units, before calibration).

        Raises:
            ValueError: ``k < 1``.
            TypeError: ``text`` is not a str.
        """
        return self.explain_many([text], [metadata or {}], k=k)[0]

    def explain_many(
        self, texts: Sequence[str], metadata: Sequence[dict[str, Any] | None] | None = None, k: int = 5
    ) -> list[list[tuple[str, float]]]:
        """:meth:`explain` for n ads at once: one feature transform for the batch instead of n
        (the transform's fixed cost dominates for one ad; every feature is computed per row, so
        the result for an ad does not depend on the others in the batch).

        Args:
            texts: ad texts, length n.
            metadata: optional per-ad dicts, length n (see :func:`ad_frame`).
            k: features per ad.

        Returns:
            n lists as :meth:`explain` returns them, in input order (``[]`` for empty input).

        Raises:
            ValueError: ``k < 1``, or the lengths differ.
            TypeError: a text is not a str.
        """
        if k < 1:
            raise ValueError("k must be >= 1")
        if len(texts) == 0:
            return []
        _scores_best, rows, terms = self._best_readings(texts, metadata, with_terms=True)
        return self._explain_rows(rows, k, terms)

    def _explain_rows(self, rows: sp.csr_matrix, k: int,
                      terms: sp.csr_matrix | None = None) -> list[list[tuple[str, float]]]:
        """Top ``k`` contributions of each feature row (see :meth:`explain`); ``terms`` are the
        rows' per-feature terms when the caller has them already."""
        pipe, sign = self._parts()
        terms = sp.csr_matrix(_contributions(pipe[-1], rows) if terms is None else terms)
        terms.sort_indices()
        if self._feature_names is None:
            self._feature_names = np.asarray(pipe.named_steps["features"].get_feature_names_out())
        out = []
        for r in range(terms.shape[0]):
            lo, hi = terms.indptr[r], terms.indptr[r + 1]
            indices, contrib = terms.indices[lo:hi], terms.data[lo:hi] * sign
            keep = contrib != 0.0
            indices, contrib = indices[keep], contrib[keep]
            order = np.lexsort((indices, -np.abs(contrib)))[:k]
            out.append([(self._feature_label(int(indices[i])), float(contrib[i])) for i in order])
        return out

    def _feature_label(self, column: int) -> str:
        """``block:name`` of a feature column (``meta`` columns named by their field)."""
        assert self._feature_names is not None
        name = str(self._feature_names[column])
        block, _, rest = name.partition("__")
        if block == "meta":
            # ColumnTransformer names array columns by their index in the frame: x1 is
            # META_FIELDS[0] (column 0 is the text).
            head = rest.split("_", 1)[0]
            idx = int(head[1:]) - 1 if head[:1] == "x" and head[1:].isdigit() else -1
            if 0 <= idx < len(META_FIELDS):
                rest = META_FIELDS[idx] + "_" + rest.split("_", 1)[1]
        return f"{block}:{rest}"


# --------------------------------------------------------------------------- persistence


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
        "spacy": _version_of("spacy"),
        "matplotlib": _version_of("matplotlib"),
    }


def _version_of(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _metrics_doc(model: TrainedModel, name: str) -> dict[str, Any]:
    return {
        "model": name,
        "task": "rank job ads by probability of EMSCAD-style fraud, for human review",
        "selected": model.selected,
        "selection_rule": "highest out-of-fold PR-AUC in grouped CV among the candidates other than the baseline",
        "baseline": model.baseline,
        "metrics": model.candidates[model.selected]["metrics"],
        "baseline_metrics": model.candidates[model.baseline]["metrics"],
        "pr_auc_gain_over_baseline": model.pr_auc_gain,
        "identity_terms": model.identity_effect,
        "candidates": model.candidates,
        "cv": model.cv,
        "cv_repeats": model.repeats,
        "ungrouped_cv": model.random_cv,
        "rules_effect": model.rules_effect,
        "data": model.data,
        "inputs": model.inputs,
        "seed": model.seed,
        "versions": _versions(),
    }


def _fmt(m: dict[str, Any]) -> str:
    return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"


def _card(model: TrainedModel, name: str) -> str:
    sel = model.candidates[model.selected]["metrics"]
    base = model.candidates[model.baseline]["metrics"]
    lines = [
        f"# Model card: {name}",
        "",
        "Job-ad risk model of adwatch: a calibrated text classifier that ranks job ads by the",
        "probability that they are fraudulent in the sense of EMSCAD. Code: `scoring/model.py`;",
        f"artifact: `{MODEL_FILE}` (skops; rebuilt by `make model`, load with `scoring.model.load_model`).",
        "",
        "## Intended use",
        "",
        "- Ranking job ads for **human review** by trained analysts: the probability is one input of the",
        "  risk that orders the queue, and `explain()` shows the words and fields behind a score.",
        "- One signal among several: adwatch combines it with rule indicators (`scoring/rules.py`, lexicons",
        "  in `config/indicators/`) and contact networks.",
        "",
        "## Prohibited uses",
        "",
        "- Automated enforcement, takedown, blocking or reporting of ads or accounts without human review.",
        "- Profiling, scoring or making decisions about people (job seekers, posters, workers).",
        "- Treating a score as evidence of trafficking or of any crime.",
        "",
        "## Limitations",
        "",
        "- Trained on EMSCAD-derived data: English job ads from 2012-2014, mostly from the US, UK and Greece,",
        "  published through one recruiting platform (Workable). Other languages, markets, years and sites",
        "  will degrade it; re-check before relying on it.",
        "- Label = employment **fraud** (scams, fake postings), which is **not** trafficking: most fraudulent",
        "  ads are not trafficking and trafficking recruitment may look legitimate.",
        "- Few positives (see below): intervals are wide. The figures come from grouped cross-validation on",
        "  the training data, which was also used to choose the feature settings and the candidate, so they",
        "  are optimistic; no held-out set was looked at.",
        "- DIFrauD rows hold only the description; EMSCAD rows add title, requirements, benefits and",
        "  metadata. Crawled ads usually lack the metadata (encoded as `unknown`).",
        (
            f"- Calibration targets the training base rate ({model.data['fraudulent']}/{model.data['rows']} "
            f"= {model.data['fraudulent'] / model.data['rows']:.1%});"
        ),
        "  on a feed with another base rate the probabilities shift, the ranking does not.",
        "",
        "## Training data",
        "",
        (
            f"{model.data['rows']} ads, {model.data['fraudulent']} fraudulent, in {model.data['groups']} groups "
            f"({model.data['fraudulent_groups']} holding a fraudulent ad)."
        ),
        "",
        "| file | role | sha256 | rows used | fraudulent |",
        "|---|---|---|---|---|",
    ]
    for inp in model.inputs:
        if inp.get("role") == "exclude":
            lines.append(f"| `{inp['path']}` | ids dropped before combining | `{inp['sha256']}` | - | - |")
            continue
        if inp.get("role") == "indicators":
            lines.append(f"| `{inp['path']}` | rule lexicon (decides the words the model skips) | `{inp['sha256']}` | - | - |")
            continue
        if inp.get("role") == "database":
            lines.append(f"| `{inp['path']}` | analyst decisions (job ads) | labels `{inp['sha256']}` | "
                         f"{inp['rows']} | {inp['fraudulent']} |")
            continue
        counts = model.data["by_source"].get(Path(inp["path"]).name, {})
        lines.append(f"| `{inp['path']}` | training | `{inp['sha256']}` | {counts.get('rows', '-')} | "
                     f"{counts.get('fraudulent', '-')} |")
    lines += _database_lines(model)
    lines += [
        "",
        "Sources: DIFrauD `job_scams` validation split (Boumber, Qachfar, Verma, LREC-COLING 2024; MIT) and a",
        "2% sample of EMSCAD `fake_job_postings.csv` (University of the Aegean). See `data/*/PROVENANCE.txt`.",
        "",
        "## Model",
        "",
        f"Selected: **{model.selected}**: {model.candidates[model.selected]['description']}; sigmoid-calibrated",
        "with `CalibratedClassifierCV(method=\"sigmoid\", cv=PredefinedSplit(grouped folds), ensemble=False)`:",
        "the calibrator is fitted on out-of-fold scores, the classifier on all the ads it trains on.",
        f"Seed {model.seed}; training is deterministic and does not depend on the order of the input files.",
        "",
        "What the model reads: every candidate but the baseline first removes the words each rule indicator",
        "matched (`scoring.features.IndicatorMask`, the same rule engine and lexicons as the scorer) before",
        "training; it scores an ad by the best of its indicator readings (see Risk in adwatch), in CV and in",
        "use, and its sigmoid is fitted on those scores. The rules carry the stated signs (fees, documents, work",
        "abroad, ...) into the risk with their published weights; the model learns the signature of the",
        "rest of the wording and the metadata. "
        + (f"{model.data['not_trained_on']} ad(s) with under {MIN_TRAIN_CHARS} characters of text left after "
           "masking were not trained on (they were still scored in CV)."
           if model.data.get("not_trained_on") else ""),
        *_similarity_lines(model),
        "",
        "## Evaluation (grouped cross-validation, out of fold)",
        "",
        (
            f"{model.cv['splitter']} over groups from {model.cv['groups']}. "
            f"95% intervals: {model.cv['bootstrap']}. {model.cv['calibration_in_cv']}. Percentile"
        ),
        "intervals of Brier and ECE can exclude the full-sample value (both are biased in resamples).",
        "",
        "| metric | selected model | plain TF-IDF + LR baseline |",
        "|---|---|---|",
    ]
    for metric, label in (("pr_auc", "PR-AUC (average precision)"), ("roc_auc", "ROC-AUC"),
                          ("brier", "Brier score"), ("ece", "ECE (10 bins)")):
        lines.append(f"| {label} | {_fmt(sel[metric])} | {_fmt(base[metric])} |")
    lines += [
        "",
        f"PR-AUC gain over the baseline (paired group bootstrap): {_fmt(model.pr_auc_gain)}."
        + (" **Warning**: the plain baseline ranks this data better; it is not selectable because it reads the"
           " indicator words, so an added indicator could lower the risk." if model.pr_auc_gain["value"] < 0 else ""),
        "",
        "Candidates compared (the one with the highest PR-AUC, other than the baseline, is selected: the baseline reads indicator words):",
        "",
        "| candidate | PR-AUC | ROC-AUC | Brier |",
        "|---|---|---|---|",
    ]
    for cname, res in model.candidates.items():
        m = res["metrics"]
        lines.append(
            f"| {cname}: {res['description']} | {_fmt(m['pr_auc'])} | {_fmt(m['roc_auc'])} | {_fmt(m['brier'])} |"
        )
    lines += _repeat_lines(model)
    lines += _target_lines(model)
    eff = model.identity_effect
    if eff:
        w, wo = eff["with_identity_terms"], eff["without_identity_terms"]
        lines += [
            "",
            "## Nationality and ethnicity terms",
            "",
            "Mentions of nationality or ethnicity are common in legitimate ads too, and using them as risk",
            "raises bias concerns (Hundman et al., \"Always Lurking\", AIES 2018). The setting",
            "`ADWATCH_MODEL_EXCLUDE_IDENTITY_TERMS=true` (`AppSettings.model_exclude_identity_terms`) removes",
            "the DIG lexicon terms (`data/memex-dig-lexicons`: nationalities, ethnicities) from the text before",
            "any feature sees it. Effect on the selected candidate, same grouped folds:",
            "",
            "| setting | PR-AUC | ROC-AUC |",
            "|---|---|---|",
            f"| identity terms kept | {_fmt(w['pr_auc'])} | {_fmt(w['roc_auc'])} |",
            f"| identity terms removed | {_fmt(wo['pr_auc'])} | {_fmt(wo['roc_auc'])} |",
            "",
            (
                f"This model was trained with the terms **{'removed' if eff['exclude_identity_terms'] else 'kept'}**; "
                f"PR-AUC of this setting minus the other (paired group bootstrap): "
                f"{_fmt(eff['pr_auc_shipped_minus_other'])}."
            ),
            "`adwatch bias-report` measures flag rate and mean risk by mentioned nationality, ethnicity and",
            "language over stored or scored ads.",
        ]
    lines += [
        "",
        "## Risk in adwatch",
        "",
        "- **Job ads**: `risk = 1 - (1 - p) * (1 - rule_risk)`, where `p` is this model's calibrated",
        "  probability and `rule_risk = 1 - prod_c (1 - w_c)` over the rule-indicator categories found",
        "  (`w_c` = the strongest weight in category `c`, from `config/indicators/*.yml`). The combination is",
        "  monotone in `p` and in the indicators (`scoring/scorer.py`). `p` is the model's highest score over",
        "  the ad's indicator readings (`scoring.features.indicator_readings`: each sentence holding an",
        "  indicator hidden whole, or only the words the indicator matched). Every reading of an ad is also a",
        "  reading of the ad with an indicator such as `document_request` or `recruitment_fee` added, as its",
        "  matched words anywhere or as a sentence of its own, so such an addition never lowers `p` or the",
        "  risk (`tests/model/test_monotone_risk.py`). Other words glued in with it (inside another sentence",
        "  or a title), or an insertion that splits an indicator already there, are read like any edit and",
        "  can move `p` either way. Bands low/medium/high use the thresholds in `AppSettings.bands`.",
        *_rules_lines(model),
        "- **Escort and other ads**: `risk = rule_risk`, an indicator-based score. No public labelled escort",
        "  ads exist, so this score is **not calibrated** and is not a probability; this model is not used.",
        "",
        "## Figures",
        "",
        "Out-of-fold, grouped CV: `pr_curve.png` (precision-recall, selected model and baseline) and",
        "`reliability.png` (reliability diagram of the calibrated out-of-fold probabilities).",
        "",
        "## Software",
        "",
        ", ".join(f"{k} {v}" for k, v in _versions().items()) + ".",
        "",
    ]
    return "\n".join(lines)


def _repeat_lines(model: TrainedModel) -> list[str]:
    """Card table of every candidate's PR-AUC and ROC-AUC over several fold seeds."""
    rep = model.repeats
    if not rep:
        return []
    seeds = rep["seeds"]
    lines = [
        "",
        f"The same comparison over {len(seeds)} fold assignments (fold seeds {seeds[0]}-{seeds[-1]}; the first is the",
        "one above). With so few fraudulent ads, another fold draw moves PR-AUC by several hundredths, so",
        "read these means rather than one draw's figure:",
        "",
        "| candidate | PR-AUC mean [min, max] | ROC-AUC mean [min, max] | best PR-AUC in |",
        "|---|---|---|---|",
    ]
    for cname, r in rep["candidates"].items():
        lines.append(
            f"| {cname} | {r['pr_auc_mean']:.3f} [{min(r['pr_auc']):.3f}, {max(r['pr_auc']):.3f}] | "
            f"{r['roc_auc_mean']:.3f} [{min(r['roc_auc']):.3f}, {max(r['roc_auc']):.3f}] | "
            f"{r['best']} of {len(seeds)} |"
        )
    sel = rep["candidates"].get(model.selected)
    if sel:
        prs = sel["pr_auc"]
        rank = 1 + sum(1 for v in prs[1:] if v > prs[0])
        where = "highest" if rank == 1 else ("lowest" if rank == len(prs) else f"number {rank} from the top")
        lines += [
            "",
            f"The first draw, which chose the model and gives the intervals above, is the {where} of the",
            f"{len(prs)} draws for {model.selected} (PR-AUC {prs[0]:.3f} against a mean of {sel['pr_auc_mean']:.3f}).",
        ]
    return lines


TARGET_PR_AUC, TARGET_ROC_AUC = 0.65, 0.93
"""Issue #4's targets on an unseen EMSCAD-derived held-out set (not shipped)."""
TARGET_BASELINE_PR_AUC, TARGET_BASELINE_ROC_AUC = 0.46, 0.87
"""What issue #4 says a plain TF-IDF + logistic regression trained on the shared data reaches there."""


def _target_lines(model: TrainedModel) -> list[str]:
    """Card section: the targets, that they cannot be measured here, and a projection from CV.

    The projection assumes the cross-validated relative gains carry over: PR-AUC scales by the
    selected/baseline ratio, and ROC-AUC's error (1 - AUC, the share of mis-ordered pairs) by the
    selected/baseline ratio of errors. Means over fold draws when there are several.
    """
    rep = model.repeats.get("candidates", {}) if model.repeats else {}
    if model.selected in rep and model.baseline in rep:
        s, b = rep[model.selected], rep[model.baseline]
        s_pr, b_pr, s_roc, b_roc = s["pr_auc_mean"], b["pr_auc_mean"], s["roc_auc_mean"], b["roc_auc_mean"]
        basis = f"mean over {len(model.repeats['seeds'])} fold draws"
    else:
        sm, bm = model.candidates[model.selected]["metrics"], model.candidates[model.baseline]["metrics"]
        s_pr, b_pr, s_roc, b_roc = (sm["pr_auc"]["value"], bm["pr_auc"]["value"], sm["roc_auc"]["value"],
                                    bm["roc_auc"]["value"])
        basis = "one fold draw"
    if min(b_pr, 1.0 - b_roc) <= 0.0:
        return []
    pr = min(1.0, TARGET_BASELINE_PR_AUC * s_pr / b_pr)
    roc = 1.0 - (1.0 - TARGET_BASELINE_ROC_AUC) * (1.0 - s_roc) / (1.0 - b_roc)
    lines = [
        "",
        "## Targets",
        "",
        f"adwatch's issue #4 sets PR-AUC >= {TARGET_PR_AUC} and ROC-AUC >= {TARGET_ROC_AUC} on an unseen",
        "EMSCAD-derived held-out set, where a plain TF-IDF + logistic regression trained on the same shared",
        (f"data reaches about {TARGET_BASELINE_PR_AUC} and {TARGET_BASELINE_ROC_AUC}. That set is not shipped, "
         "so the targets are **not measured** here."),
        f"If the cross-validated differences from the baseline ({basis}: PR-AUC {s_pr:.3f} vs {b_pr:.3f}, ROC-AUC",
        f"{s_roc:.3f} vs {b_roc:.3f}) carried over, this model would reach about PR-AUC {pr:.2f}",
        f"({s_pr / b_pr:.2f}x the baseline) and ROC-AUC {roc:.2f} ({1 - (1 - s_roc) / (1 - b_roc):.0%} fewer mis-ordered pairs):",
        (f"PR-AUC {_verdict(pr, TARGET_PR_AUC)}, ROC-AUC {_verdict(roc, TARGET_ROC_AUC)}. "
         "A projection, not a measurement."),
    ]
    rnd = model.random_cv.get("candidates", {}) if model.random_cv else {}
    if model.selected in rnd and model.baseline in rnd:
        rs, rb = rnd[model.selected], rnd[model.baseline]
        n = len(model.random_cv["seeds"])

        def span(values: list[float]) -> str:
            return f" [{min(values):.3f}, {max(values):.3f}]" if n > 1 else ""

        lines += [
            "",
            f"A closer estimate: **ungrouped** stratified 5-fold CV ({n} fold seed{'s' if n > 1 else ''}), where copies and",
            "near-duplicates may straddle folds as they do in a random split of one source, gives the baseline",
            (f"PR-AUC {rb['pr_auc_mean']:.3f} and ROC-AUC {rb['roc_auc_mean']:.3f}, close to the issue's figures for that set,"
            f" and this model PR-AUC **{rs['pr_auc_mean']:.3f}**{span(rs['pr_auc'])} and ROC-AUC"),
            (f"**{rs['roc_auc_mean']:.3f}**{span(rs['roc_auc'])}: PR-AUC {_verdict(rs['pr_auc_mean'], TARGET_PR_AUC)}, "
            f"ROC-AUC {_verdict(rs['roc_auc_mean'], TARGET_ROC_AUC)}."),
            "The gains over the baseline shrink where near-copies of the training ads are in the test set, because",
            "the baseline then finds them too. This estimate chose nothing; grouped CV chose the model.",
        ]
    return lines


def _rules_lines(model: TrainedModel) -> list[str]:
    """Card lines: how the combined risk, the rules and the model rank the training labels."""
    eff = model.rules_effect
    if not eff:
        return []
    hits = eff["with_hits"]
    p, r, k = eff["model_probability"], eff["rule_risk"], eff["risk"]
    return [
        "  On these labels (EMSCAD fraud, out of fold, main CV draw) the trafficking indicators fire in",
        (f"  {hits['fraudulent']} of {model.data['fraudulent']} fraudulent and {hits['legitimate']} of "
        f"{model.data['rows'] - model.data['fraudulent']} legitimate ads;"),
        f"  `rule_risk` alone ranks them at PR-AUC {_fmt(r['pr_auc'])}, ROC-AUC {_fmt(r['roc_auc'])}, and the",
        f"  combined risk at PR-AUC {_fmt(k['pr_auc'])}, ROC-AUC {_fmt(k['roc_auc'])}, against",
        f"  {_fmt(p['pr_auc'])} and {_fmt(p['roc_auc'])} for `p` alone. Fraud is not trafficking: the",
        "  indicators are there for the ads this data has no labels for, so the queue's risk is not the",
        ("  figure measured above, and on job fraud it ranks "
         + ("worse than" if k["pr_auc"]["value"] < p["pr_auc"]["value"] else "at least as well as") + " `p` (PR-AUC)."),
        "  (`p` here is the calibrated out-of-fold probability, one sigmoid per fold, so its PR-AUC differs",
        "  slightly from the selected model's raw-score figure in the evaluation table.)",
    ]


def _verdict(value: float, target: float, margin: float = 0.01) -> str:
    """``"above its target"``, ``"below its target"`` or ``"borderline"`` (within ``margin``)."""
    if abs(value - target) < margin:
        return f"borderline (within {margin} of its target)"
    return "above its target" if value > target else "below its target"


def _similarity_lines(model: TrainedModel) -> list[str]:
    """Card paragraph for a nearest-neighbour model: how it scores and what its artifact holds."""
    clf = model.estimator.calibrated_classifiers_[0].estimator[-1]
    if not isinstance(clf, TopKSimilarity):
        return []
    return [
        "",
        (
            f"How it scores: an ad's feature row is compared (cosine similarity) with the stored rows of the "
            f"{clf.positives_.shape[0]} fraudulent and {clf.negatives_.shape[0]} legitimate training ads; the score is the "
            f"mean similarity to its {clf.k_pos} nearest fraudulent ads minus the mean to its {clf.k_neg} nearest "
            "legitimate ones (`scoring/similarity.py`). `explain()` splits that score exactly into one term per "
            "feature: the ad's normalised feature value times (its mean over those fraudulent neighbours minus "
            "over the legitimate ones)."
        ),
        "",
        (
            "What the artifact holds: the normalised feature rows of **every ad it was trained on** (word 1-2-gram TF-IDF "
            "of the cleaned, masked text, with URLs, e-mail addresses and phone numbers replaced by tokens before "
            "any feature is computed, plus metadata). Word pairs of the training ads can be read "
            "back from it, so share the artifact only as widely as its training data may be shared. A model "
            "trained with `--from-db` on analysts' decisions holds the crawled ads' wording and must be kept "
            "like the database itself."
        ),
        "",
        (
            "It ranks best the ads that resemble known frauds. A scam unlike every training fraud is scored only "
            "by its distance from the legitimate ads, so the rule indicators matter most for new schemes."
        ),
    ]


def _database_lines(model: TrainedModel) -> list[str]:
    """Card paragraph on rows labelled by analysts (empty when no database input was used)."""
    lines: list[str] = []
    for inp in model.inputs:
        if inp.get("role") != "database":
            continue
        lines += [
            "",
            (
                f"**Analyst decisions** from `{inp['path']}`: {inp['rows']} job ads ({inp['fraudulent']} labelled 1), "
                f"decided {inp['decided_from']} to {inp['decided_to']}. {inp['label_rule']}"
            ),
            (
                f"{inp['ties_dropped']} ad(s) dropped for a reviewer tie, {inp['not_job']} decided non-job ad(s) "
                f"left out. `labels` is the SHA-256 of the sorted `ad id<TAB>label` lines"
            ),
            "(`scoring.datasets.labels_sha256`); no ad text or contact is recorded here. These labels mean",
            "\"an analyst judged the ad a trafficking concern\", not EMSCAD fraud: the two definitions are mixed.",
        ]
    return lines


def check_model_name(name: str) -> None:
    """Refuse a model folder name that is empty or not a single path component.

    Raises:
        ValueError: ``name`` is empty, ``.``/``..``, or holds a slash or backslash.
    """
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"bad model name {name!r}: give one folder name such as job-risk-1.0.0")


def save_model(model: TrainedModel, out_dir: Path, name: str) -> Path:
    """Write ``out_dir/<name>/model.skops``, ``metrics.json`` and ``card.md``.

    ``metrics.json`` and ``card.md`` hold no timestamps or timings, so equal inputs and seed give
    byte-identical files (on the same library versions).

    Args:
        model: the trained model.
        out_dir: parent folder (created if needed), e.g. ``models``.
        name: artifact folder name, ``<name>-<version>`` (e.g. ``job-risk-0.1.0``).

    Returns:
        The artifact folder.

    Raises:
        ValueError: ``name`` is empty or contains a path separator.
        ModelError: the skops file holds types outside :data:`TRUSTED_TYPES`.
    """
    check_model_name(name)
    folder = Path(out_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    sio.dump(model.estimator, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    unexpected = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelError(f"{path}: holds types not in TRUSTED_TYPES: {unexpected}")
    if model.oof_labels is not None and model.oof_probability is not None:
        from scoring.evaluate import plot_pr_curve, plot_reliability

        if model.oof_scores:
            plot_pr_curve(model.oof_labels, model.oof_scores, folder / "pr_curve.png",
                          title=f"{name}: grouped CV, out of fold")
        plot_reliability(model.oof_labels, model.oof_probability, folder / "reliability.png",
                         title=f"{name}: grouped CV, out of fold")
    doc = _metrics_doc(model, name)
    (folder / "metrics.json").write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    (folder / "card.md").write_text(_card(model, name), encoding="utf-8")
    return folder


def load_model(path: Path) -> JobRiskModel:
    """Load a job-risk model saved by :func:`save_model`.

    Only skops' default types plus :data:`TRUSTED_TYPES` are accepted (checked with
    ``skops.io.get_untrusted_types``), never trust-all.

    Args:
        path: the artifact folder (``models/job-risk-0.1.0``) or its ``model.skops`` file.

    Returns:
        A :class:`JobRiskModel` whose ``version`` is the folder name.

    Raises:
        ModelError: the file is missing, unreadable, holds untrusted types, or is not a
            calibrated job-risk model.
    """
    path = Path(path)
    file = path / MODEL_FILE if path.is_dir() or path.suffix != ".skops" else path
    if not file.is_file():
        raise ModelError(f"{file}: model file not found (run `make model` or `adwatch train`)")
    try:
        untrusted = sio.get_untrusted_types(file=file)
    except Exception as exc:  # skops raises zipfile/json/key errors on damaged files
        raise ModelError(f"{file}: not a readable skops file ({exc})") from exc
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelError(f"{file}: refuses to load untrusted types {unexpected}")
    try:
        estimator = sio.load(file, trusted=list(untrusted))
    except Exception as exc:
        raise ModelError(f"{file}: cannot load model ({exc})") from exc
    if not isinstance(estimator, CalibratedClassifierCV) or not hasattr(estimator, "calibrated_classifiers_"):
        raise ModelError(f"{file}: not a fitted job-risk model (got {type(estimator).__name__})")
    return JobRiskModel(estimator, version=file.parent.name, path=file)


# --------------------------------------------------------------------------- CLI entry


def _display_path(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def train_cli(
    data: list[Path], out_dir: Path, name: str, exclude: Path | None, seed: int = 0,
    exclude_identity_terms: bool | None = None,
    *,
    extra_records: Sequence[LabelledAd] = (),
    extra_inputs: Sequence[dict[str, Any]] = (),
    cv_repeats: int = 1,
) -> Path:
    """Load data, train, save, and print progress and figures (for ``adwatch train``).

    Args:
        data: training files (DIFrauD-style JSONL and/or EMSCAD CSV); may be empty when
            ``extra_records`` are given.
        out_dir: parent folder for the artifact (e.g. ``models``).
        name: artifact folder name (e.g. ``job-risk-0.1.0``).
        exclude: optional file of ids to drop (see :func:`scoring.datasets.load_labelled`).
        seed: seed for splits, solvers and bootstrap.
        exclude_identity_terms: remove nationality/ethnicity terms from the model's features;
            ``None`` reads ``AppSettings.model_exclude_identity_terms`` (env
            ``ADWATCH_MODEL_EXCLUDE_IDENTITY_TERMS``, default False).
        extra_records: labelled ads from elsewhere (the CLI passes analysts' decisions read from
            the database); their ids must not collide with file rows (``"db:<ad id>"``). With any,
            groups are re-assigned over files and extra rows together, so a stored ad that copies
            a file row shares its group.
        extra_inputs: provenance of ``extra_records`` for ``metrics.json`` and the card, e.g.
            ``{"path": URL without password, "role": "database", "sha256": labels hash, "rows",
            "fraudulent", "decided_from", "decided_to", "ties_dropped", "not_job", "label_rule"}``.
        cv_repeats: fold assignments to cross-validate (see :func:`train_model`).

    Returns:
        The artifact folder ``out_dir/name``.

    Raises:
        scoring.datasets.DatasetError: bad input files, no source at all, a single class, or too
            few labelled groups per class (the message names the sources).
        ValueError: ``name`` is not a single folder name (checked before training).
    """
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough for the CV table
        console = Console(width=max(console.width, 120))
    started = time.perf_counter()
    check_model_name(name)  # before minutes of cross-validation, not after
    if (Path(out_dir) / name / MODEL_FILE).exists():
        console.print(f"[yellow]note:[/] {_display_path(Path(out_dir) / name)} exists; it will be replaced")
    records: list[LabelledAd] = []
    if data:
        console.print(f"[bold]Loading[/] {len(data)} file(s)" + (f", excluding ids in {exclude}" if exclude else ""))
        records = load_labelled([Path(p) for p in data], Path(exclude) if exclude else None)
    elif not extra_records:
        raise DatasetError("no training data: give training files, analyst decisions from the database, or both")
    if extra_records:
        seen = {r.id for r in records}
        clash = next((r.id for r in extra_records if r.id in seen), None)
        if clash is not None:
            raise DatasetError(f"duplicate training id {clash!r} between the files and the other source")
        records = [*records, *extra_records]
        assign_groups(records)
        console.print(f"+ {len(extra_records)} labelled ads from {', '.join(i['path'] for i in extra_inputs) or 'another source'}")
    check_trainable(records, N_SPLITS)
    n_pos = sum(r.label for r in records)
    console.print(f"{len(records)} ads, {n_pos} fraudulent, {len({r.group for r in records})} groups")
    if exclude_identity_terms is None:
        from config.settings import get_settings

        exclude_identity_terms = bool(getattr(get_settings(), "model_exclude_identity_terms", False))
    model = train_model(records, seed=seed, log=lambda msg: console.print(f"  {msg}"),
                        exclude_identity_terms=exclude_identity_terms, cv_repeats=cv_repeats)
    model.inputs = [{"path": _display_path(p), "sha256": file_sha256(Path(p)), "role": "train"} for p in data]
    if exclude and data:
        model.inputs.append({"path": _display_path(exclude), "sha256": file_sha256(Path(exclude)), "role": "exclude"})
    model.inputs.extend(dict(i) for i in extra_inputs)
    if model.selected != model.baseline:  # the selected model masks the words these lexicons match
        from config.settings import get_settings

        for yml in sorted(Path(get_settings().indicators_dir).glob("*.en.yml")):  # the lexicons RuleEngine(lang="en") reads
            model.inputs.append({"path": _display_path(yml), "sha256": file_sha256(yml), "role": "indicators"})

    table = Table(title="Grouped 5-fold CV, out of fold (95% group-bootstrap intervals)")
    table.add_column("candidate", no_wrap=True)
    for col in ("PR-AUC", "ROC-AUC", "Brier", "ECE"):
        table.add_column(col, no_wrap=True)
    for cname, res in model.candidates.items():
        m = res["metrics"]
        mark = " *" if cname == model.selected else ""
        table.add_row(cname + mark, _fmt(m["pr_auc"]), _fmt(m["roc_auc"]), _fmt(m["brier"]), _fmt(m["ece"]))
    console.print(table)
    console.print(f"PR-AUC gain of {model.selected} over {model.baseline}: {_fmt(model.pr_auc_gain)}")
    if model.repeats:
        seeds = model.repeats["seeds"]
        rt = Table(title=f"Over {len(seeds)} fold seeds ({seeds[0]}-{seeds[-1]}): mean [min, max]")
        for col in ("candidate", "PR-AUC", "ROC-AUC", "best PR-AUC in"):
            rt.add_column(col, no_wrap=True)
        for cname, r in model.repeats["candidates"].items():
            rt.add_row(cname, f"{r['pr_auc_mean']:.3f} [{min(r['pr_auc']):.3f}, {max(r['pr_auc']):.3f}]",
                       f"{r['roc_auc_mean']:.3f} [{min(r['roc_auc']):.3f}, {max(r['roc_auc']):.3f}]",
                       f"{r['best']} of {len(seeds)}")
        console.print(rt)
    folder = save_model(model, Path(out_dir), name)
    size = (folder / MODEL_FILE).stat().st_size
    console.print(
        f"[green]Saved[/] {folder} (model.skops {size / 1e6:.2f} MB); training {model.train_seconds:.1f} s, "
        f"total {time.perf_counter() - started:.1f} s"
    )
    return folder
