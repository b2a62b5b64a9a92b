"""Metric helpers: values against hand-computed and scikit-learn results, bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from scoring.evaluate import (
    bootstrap_ci,
    brier,
    ece,
    paired_bootstrap_diff,
    pr_auc,
    roc_auc,
    summarise,
)

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_ranking_metrics_known_values() -> None:
    assert roc_auc(Y, P) == pytest.approx(0.75)
    assert pr_auc(Y, P) == pytest.approx(0.8333333333)
    assert roc_auc([0, 1], [0.2, 0.9]) == 1.0


def test_ranking_metrics_match_sklearn_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random(200), 1)  # many ties
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert pr_auc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_brier_and_ece() -> None:
    assert brier(Y, P) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    # one ad per bin (bins 1, 4, 3, 8): mean |y - p| = (0.1 + 0.4 + 0.65 + 0.2) / 4
    assert ece(Y, P) == pytest.approx(0.3375)
    # two ads in bin 3: |mean(y) - mean(p)| = |0.5 - 0.325|, weight 2/3; bin 8: |1 - 0.8|, weight 1/3
    assert ece([1, 0, 1], [0.3, 0.35, 0.8], n_bins=10) == pytest.approx(
        (2 / 3) * abs(0.5 - 0.325) + (1 / 3) * 0.2)


def test_undefined_metrics_raise() -> None:
    with pytest.raises(ValueError, match="single class"):
        roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier([0, 1], [0.2, 1.3])
    with pytest.raises(ValueError, match="3 values but y_prob has 2"):
        pr_auc([0, 1, 1], [0.2, 0.3])


def test_bootstrap_interval_is_deterministic_and_brackets_value() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(int)
    p = np.clip(0.5 * y + rng.random(300) * 0.6, 0, 1)
    groups = [i // 3 for i in range(300)]
    a = bootstrap_ci(pr_auc, y, p, groups=groups, n_boot=200, seed=1)
    b = bootstrap_ci(pr_auc, y, p, groups=groups, n_boot=200, seed=1)
    assert a == b
    assert a.low <= a.value <= a.high
    assert a.n_boot == 200 and a.level == 0.95
    diff = paired_bootstrap_diff(pr_auc, y, p, p, groups=groups, n_boot=50)
    assert (diff.value, diff.low, diff.high) == (0.0, 0.0, 0.0)
    table = summarise(y, p, groups=groups, n_boot=50)
    assert list(table) == ["roc_auc", "pr_auc", "brier", "ece"]
    assert table["roc_auc"].as_dict()["value"] == round(roc_auc(y, p), 4)
