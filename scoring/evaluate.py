"""Metrics for the job-ad risk model: ranking (ROC-AUC, PR-AUC), calibration (Brier, ECE) and
bootstrap confidence intervals that resample whole groups (copies of one ad move together).

All functions take ``y_true`` (0/1 labels, shape (n,)) and ``y_prob`` (scores or probabilities,
shape (n,)); they raise :class:`ValueError` on mismatched shapes or when a metric is undefined
(for example ROC-AUC with a single class).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

__all__ = [
    "METRICS",
    "MetricCI",
    "bootstrap_ci",
    "brier",
    "ece",
    "paired_bootstrap_diff",
    "pr_auc",
    "roc_auc",
    "summarise",
]

Metric = Callable[[NDArray[np.int_], NDArray[np.float64]], float]


def _check(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[NDArray[np.int_], NDArray[np.float64]]:
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(y_prob, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.shape[0]} values but y_prob has {p.shape[0]}")
    if y.size == 0:
        raise ValueError("no samples")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 and 1")
    return y, p


def _two_classes(y: NDArray[np.int_], name: str) -> None:
    if y.min() == y.max():
        raise ValueError(f"{name} is undefined when y_true holds a single class")


def roc_auc(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Area under the ROC curve (0.5 = chance, 1 = perfect ranking); ties count one half.

    Computed as the Mann-Whitney U statistic; equals ``sklearn.metrics.roc_auc_score`` but is
    fast enough for thousands of bootstrap resamples.
    """
    y, p = _check(y_true, y_prob)
    _two_classes(y, "ROC-AUC")
    ranks = rankdata(p)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def pr_auc(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Area under the precision-recall curve as average precision (chance = positive rate).

    ``sum_k (R_k - R_{k-1}) P_k`` over distinct score thresholds, as
    ``sklearn.metrics.average_precision_score`` computes it (no interpolation).
    """
    y, p = _check(y_true, y_prob)
    _two_classes(y, "PR-AUC")
    order = np.argsort(-p, kind="mergesort")
    p_sorted, y_sorted = p[order], y[order]
    last_of_block = np.r_[np.flatnonzero(np.diff(p_sorted)), y.size - 1]
    tp = np.cumsum(y_sorted)[last_of_block]
    fp = (last_of_block + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Brier score: mean squared error of probabilities in [0, 1] (lower is better)."""
    y, p = _check(y_true, y_prob)
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError("Brier score needs probabilities in [0, 1]")
    return float(np.mean((p - y) ** 2))


def ece(y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error with ``n_bins`` equal-width bins over [0, 1].

    The weighted mean over non-empty bins of ``|mean(y) - mean(p)|``, weights = bin share of
    samples (Naeini, Cooper & Hauskrecht, AAAI 2015). Lower is better.

    Raises:
        ValueError: probabilities outside [0, 1] or ``n_bins < 1``.
    """
    y, p = _check(y_true, y_prob)
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError("ECE needs probabilities in [0, 1]")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(total)


METRICS: dict[str, Metric] = {"roc_auc": roc_auc, "pr_auc": pr_auc, "brier": brier, "ece": ece}
"""Metric name -> function, in the order reported."""


@dataclass(frozen=True, slots=True)
class MetricCI:
    """A metric value with a bootstrap confidence interval.

    Attributes:
        value: the metric on the full sample.
        low: lower bound of the interval.
        high: upper bound of the interval.
        level: interval level, e.g. 0.95.
        n_boot: resamples that gave a defined value.
    """

    value: float
    low: float
    high: float
    level: float
    n_boot: int

    def as_dict(self, digits: int = 4) -> dict[str, float | int]:
        """Return the fields as a dict, floats rounded to ``digits`` (stable across platforms)."""
        out = asdict(self)
        return {k: round(v, digits) if isinstance(v, float) else v for k, v in out.items()}

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _resample_indices(
    groups: NDArray[np.int_], n_boot: int, rng: np.random.Generator
) -> list[NDArray[np.int_]]:
    """Cluster bootstrap: draw groups with replacement; return row indices per resample."""
    order = np.argsort(groups, kind="stable")
    uniq, starts = np.unique(groups[order], return_index=True)
    bounds = np.append(starts, len(order))
    members = [order[bounds[k] : bounds[k + 1]] for k in range(len(uniq))]
    out = []
    for _ in range(n_boot):
        picks = rng.integers(0, len(uniq), size=len(uniq))
        out.append(np.concatenate([members[k] for k in picks]))
    return out


def _group_codes(groups: Sequence[object] | None, n: int) -> NDArray[np.int_]:
    if groups is None:
        return np.arange(n)
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} values but y_true has {n}")
    _, codes = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    return codes.astype(int)


def bootstrap_ci(
    metric: Metric,
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    groups: Sequence[object] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> MetricCI:
    """Percentile bootstrap interval for ``metric(y_true, y_prob)``.

    Args:
        metric: a function ``(y_true, y_prob) -> float`` such as :func:`pr_auc`.
        y_true: 0/1 labels, shape (n,).
        y_prob: scores or probabilities, shape (n,).
        groups: optional group label per row, shape (n,); whole groups are resampled (cluster
            bootstrap), so copies of one ad do not narrow the interval. ``None``: rows.
        n_boot: resamples; those where the metric is undefined (one class) are skipped.
        level: interval level in (0, 1).
        seed: seed of the ``numpy`` random generator (results are deterministic).

    Raises:
        ValueError: bad shapes, ``level`` outside (0, 1), or no resample gave a defined value.
    """
    y, p = _check(y_true, y_prob)
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    value = metric(y, p)
    rng = np.random.default_rng(seed)
    stats = []
    for idx in _resample_indices(_group_codes(groups, y.size), n_boot, rng):
        try:
            stats.append(metric(y[idx], p[idx]))
        except ValueError:
            continue
    if not stats:
        raise ValueError("no bootstrap resample gave a defined metric")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(stats), [alpha, 1.0 - alpha])
    return MetricCI(float(value), float(low), float(high), level, len(stats))


def paired_bootstrap_diff(
    metric: Metric,
    y_true: ArrayLike,
    y_prob_a: ArrayLike,
    y_prob_b: ArrayLike,
    *,
    groups: Sequence[object] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> MetricCI:
    """Bootstrap interval for ``metric(y, a) - metric(y, b)`` on the same resamples.

    Arguments as :func:`bootstrap_ci`; ``y_prob_a`` and ``y_prob_b`` are two models' scores for the
    same rows. An interval that excludes 0 means a difference that the resampling supports.
    """
    y, a = _check(y_true, y_prob_a)
    _, b = _check(y_true, y_prob_b)
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    value = metric(y, a) - metric(y, b)
    rng = np.random.default_rng(seed)
    stats = []
    for idx in _resample_indices(_group_codes(groups, y.size), n_boot, rng):
        try:
            stats.append(metric(y[idx], a[idx]) - metric(y[idx], b[idx]))
        except ValueError:
            continue
    if not stats:
        raise ValueError("no bootstrap resample gave a defined metric")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(stats), [alpha, 1.0 - alpha])
    return MetricCI(float(value), float(low), float(high), level, len(stats))


def summarise(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    groups: Sequence[object] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    metrics: Sequence[str] = ("roc_auc", "pr_auc", "brier", "ece"),
) -> dict[str, MetricCI]:
    """Compute the named :data:`METRICS` with group-bootstrap intervals (see :func:`bootstrap_ci`).

    Raises:
        KeyError: an unknown metric name.
        ValueError: as :func:`bootstrap_ci`.
    """
    return {
        name: bootstrap_ci(
            METRICS[name], y_true, y_prob, groups=groups, n_boot=n_boot, level=level, seed=seed
        )
        for name in metrics
    }
