"""TopKSimilarity: exact scores on hand-checked vectors, exact explanations, errors, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import skops.io as sio
from sklearn.exceptions import NotFittedError

from scoring.model import TRUSTED_TYPES, JobRiskModel, ad_frame, load_model
from scoring.similarity import TopKSimilarity

# Four training rows in 3-D. Positives: rows 0 and 1; negatives: rows 2 and 3.
TRAIN = np.array([
    [1.0, 0.0, 0.0],   # positive, unit already
    [3.0, 4.0, 0.0],   # positive, normalised to (0.6, 0.8, 0)
    [0.0, 0.0, 2.0],   # negative, normalised to (0, 0, 1)
    [0.0, 1.0, 1.0],   # negative, normalised to (0, 0.7071, 0.7071)
])
LABELS = np.array([1, 1, 0, 0])


def test_scores_match_hand_computed_cosines() -> None:
    clf = TopKSimilarity(k_pos=1, k_neg=1).fit(sp.csr_matrix(TRAIN), LABELS)
    # x = (1, 1, 0)/sqrt2: cos to positives 0.7071 and 0.9899, to negatives 0 and 0.5.
    # k=1: 0.9899 - 0.5 = 0.4899.
    x = sp.csr_matrix([[2.0, 2.0, 0.0]])
    assert clf.decision_function(x)[0] == pytest.approx(1.4 / np.sqrt(2) - 0.5, abs=1e-6)
    both = TopKSimilarity(k_pos=2, k_neg=2).fit(TRAIN, LABELS)
    # k=2: mean(0.7071, 0.9899) - mean(0, 0.5) = 0.8485 - 0.25.
    assert both.decision_function(x)[0] == pytest.approx((1 / np.sqrt(2) + 1.4 / np.sqrt(2)) / 2 - 0.25, abs=1e-6)
    # Scale does not matter (cosine); a row with no feature scores exactly 0.
    np.testing.assert_allclose(both.decision_function(np.array([[20.0, 20.0, 0.0], [0.0, 0.0, 0.0]])),
                               [both.decision_function(x)[0], 0.0], atol=1e-6)
    assert both.predict(np.array([[1.0, 0.1, 0.0], [0.0, 0.1, 1.0]])).tolist() == [1, 0]


def test_k_is_capped_at_the_class_size_and_ties_go_to_the_lower_index() -> None:
    clf = TopKSimilarity(k_pos=3, k_neg=10).fit(TRAIN, LABELS)
    pos, neg = clf.neighbours(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    assert pos.shape == (2, 2) and neg.shape == (2, 2)
    assert pos[0].tolist() == [0, 1] and neg[0].tolist() == [0, 1]  # all similarities 0: index order
    assert neg[1].tolist() == [0, 1]  # (0,0,1) is nearest to negative 0, then negative 1
    assert clf.decision_function(np.array([[0.0, 0.0, 1.0]]))[0] == pytest.approx(0.0 - (1.0 + 0.70710678) / 2)


def test_contributions_sum_to_the_score_and_name_the_shared_features() -> None:
    x = sp.csr_matrix([[2.0, 2.0, 0.0]])
    clf = TopKSimilarity(k_pos=1, k_neg=1).fit(TRAIN, LABELS)
    terms = clf.contributions(x).toarray()[0]
    # x_hat = (0.7071, 0.7071, 0); nearest positive (0.6, 0.8, 0), nearest negative (0, 0.7071, 0.7071):
    # terms = x_hat * (0.6, 0.8 - 0.7071, 0 - 0.7071) = (0.4243, 0.0657, 0).
    np.testing.assert_allclose(terms, [0.6 / np.sqrt(2), (0.8 - 1 / np.sqrt(2)) / np.sqrt(2), 0.0], atol=1e-6)
    assert clf.contributions(x).nnz == 2  # only where the row is non-zero

    rng = np.random.default_rng(3)
    X = sp.random(200, 300, density=0.05, format="csr", random_state=4, dtype=np.float32)
    y = (rng.random(200) < 0.15).astype(int)
    big = TopKSimilarity().fit(X[:150], y[:150])
    scores, terms_all = big.decision_and_contributions(X[150:])
    np.testing.assert_allclose(np.asarray(terms_all.sum(axis=1)).ravel(), scores, atol=1e-6)
    np.testing.assert_array_equal(scores, big.decision_function(X[150:]))
    assert (terms_all != big.contributions(X[150:])).nnz == 0
    assert big.decision_function(X[:0]).shape == (0,) and big.contributions(X[:0]).shape == (0, 300)


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="both classes"):
        TopKSimilarity().fit(TRAIN, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="0 or 1"):
        TopKSimilarity().fit(TRAIN, [1, 2, 0, 0])
    with pytest.raises(ValueError, match="4 rows but y has 3"):
        TopKSimilarity().fit(TRAIN, [1, 0, 0])
    with pytest.raises(ValueError, match="k_pos and k_neg must be >= 1"):
        TopKSimilarity(k_pos=0).fit(TRAIN, LABELS)
    with pytest.raises(NotFittedError):
        TopKSimilarity().decision_function(TRAIN)
    with pytest.raises(ValueError, match="2 features; the model was fitted on 3"):
        TopKSimilarity().fit(TRAIN, LABELS).decision_function(np.ones((1, 2)))


def test_skops_round_trip_needs_only_the_listed_types() -> None:
    clf = TopKSimilarity(k_pos=2, k_neg=1).fit(sp.csr_matrix(TRAIN), LABELS)
    blob = sio.dumps(clf)
    untrusted = sio.get_untrusted_types(data=blob)
    assert set(untrusted) <= set(TRUSTED_TYPES)
    back = sio.loads(blob, trusted=untrusted)
    x = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, 0.1]])
    np.testing.assert_array_equal(back.decision_function(x), clf.decision_function(x))


def test_shipped_model_explanations_sum_to_its_score() -> None:
    """The shipped artifact's explanation terms add up to the score the calibrator maps."""
    path = Path(__file__).resolve().parents[2] / "models"
    shipped: JobRiskModel = load_model(max(path.glob("job-risk-*/model.skops")))
    pipe = shipped.estimator.calibrated_classifiers_[0].estimator
    if not isinstance(pipe[-1], TopKSimilarity):
        pytest.fail(f"shipped model {shipped.version} is not the TopKSimilarity candidate; update this test")
    text = ("Work from home as a data entry clerk. Weekly pay, flexible hours, start today. Send a copy of "
            "your passport to hr@example.org.")
    # the ad is scored by its best indicator reading: here the passport sentence hidden whole
    # beats hiding only "Send a copy of your passport" (which leaves "to hr@example.org")
    rows = pipe[:-1].transform(ad_frame([text]))
    phrase_only = pipe[-1].decision_function(rows)[0]
    score = shipped._best_readings([text], None, with_terms=False)[0][0]
    assert score >= phrase_only
    terms = shipped.explain(text, k=100_000)
    assert sum(w for _, w in terms) == pytest.approx(score, abs=1e-5)
    assert terms[0] == ("word:entry clerk", pytest.approx(0.0340, abs=1e-4))  # pushes the risk up
    # "Send a copy of your passport" is an indicator's match: the model never reads it (IndicatorMask)
    assert not any("passport" in f or "copy" in f for f, _ in terms)
