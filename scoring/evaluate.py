"""Metrics for the job-ad risk model: ranking (ROC-AUC, PR-AUC), calibration (Brier, ECE) and
bootstrap confidence intervals that resample whole groups (copies of one ad move together).

All functions take ``y_true`` (0/1 labels, shape (n,)) and ``y_prob`` (scores or probabilities,
shape (n,)); they raise :class:`ValueError` on mismatched shapes or when a metric is undefined
(for example ROC-AUC with a single class).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

__all__ = [
    "METRICS",
    "REPORT_METRICS",
    "MetricCI",
    "bootstrap_ci",
    "brier",
    "ece",
    "f1_best",
    "paired_bootstrap_diff",
    "plot_pr_curve",
    "plot_reliability",
    "pr_auc",
    "recall_at_precision",
    "report",
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


def _pr_points(y: NDArray[np.int_], p: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Precision and recall at each distinct score threshold, highest threshold first."""
    order = np.argsort(-p, kind="mergesort")
    p_sorted, y_sorted = p[order], y[order]
    last_of_block = np.r_[np.flatnonzero(np.diff(p_sorted)), y.size - 1]
    tp = np.cumsum(y_sorted)[last_of_block].astype(float)
    precision = tp / (last_of_block + 1)
    recall = tp / max(tp[-1], 1.0)
    return precision, recall


def f1_best(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Best F1 over all score thresholds (flag every ad scoring >= t), in [0, 1].

    Raises:
        ValueError: bad shapes, or no positive in ``y_true``.
    """
    y, p = _check(y_true, y_prob)
    if y.sum() == 0:
        raise ValueError("F1 is undefined without positives")
    precision, recall = _pr_points(y, p)
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1.0), 0.0)
    return float(f1.max())


def recall_at_precision(y_true: ArrayLike, y_prob: ArrayLike, min_precision: float = 0.9) -> float:
    """Highest recall reached at a score threshold whose precision is >= ``min_precision`` (0 if none).

    Raises:
        ValueError: bad shapes, no positive, or ``min_precision`` outside (0, 1].
    """
    y, p = _check(y_true, y_prob)
    if not 0.0 < min_precision <= 1.0:
        raise ValueError("min_precision must be in (0, 1]")
    if y.sum() == 0:
        raise ValueError("recall is undefined without positives")
    precision, recall = _pr_points(y, p)
    ok = precision >= min_precision
    return float(recall[ok].max()) if ok.any() else 0.0


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
    return _percentile_bootstrap(lambda idx: metric(y[idx], p[idx]), y.size, groups, n_boot, level, seed)


def _percentile_bootstrap(
    statistic: Callable[[Any], float], n: int, groups: Sequence[object] | None, n_boot: int,
    level: float, seed: int,
) -> MetricCI:
    """``statistic`` on all ``n`` rows and on ``n_boot`` (group) resamples; percentile interval.

    Resamples where ``statistic`` raises ValueError (undefined on one class) are skipped.
    """
    value = statistic(slice(None))
    rng = np.random.default_rng(seed)
    stats = []
    for idx in _resample_indices(_group_codes(groups, n), n_boot, rng):
        try:
            stats.append(statistic(idx))
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
    return _percentile_bootstrap(
        lambda idx: metric(y[idx], a[idx]) - metric(y[idx], b[idx]), y.size, groups, n_boot, level, seed
    )


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


REPORT_METRICS: tuple[str, ...] = (
    "roc_auc", "pr_auc", "f1_best", "recall_at_precision_0_9", "brier", "ece",
)
"""Keys of :func:`report` after ``n`` and ``n_pos``."""


def report(y_true: ArrayLike, y_prob: ArrayLike, digits: int = 4) -> dict[str, float | int | None]:
    """All evaluation figures for one set of probabilities (``adwatch evaluate``).

    Args:
        y_true: 0/1 labels, shape (n,).
        y_prob: probabilities in [0, 1], shape (n,).
        digits: rounding of the floats.

    Returns:
        ``{"n", "n_pos", "roc_auc", "pr_auc", "f1_best", "recall_at_precision_0_9", "brier", "ece"}``;
        a ranking metric that is undefined (one class only) is ``None``.

    Raises:
        ValueError: bad shapes or probabilities outside [0, 1].
    """
    y, p = _check(y_true, y_prob)
    out: dict[str, float | int | None] = {"n": int(y.size), "n_pos": int(y.sum())}
    funcs: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
        "roc_auc": roc_auc, "pr_auc": pr_auc, "f1_best": f1_best,
        "recall_at_precision_0_9": lambda a, b: recall_at_precision(a, b, 0.9),
        "brier": brier, "ece": ece,
    }
    for name in REPORT_METRICS:
        try:
            out[name] = round(float(funcs[name](y, p)), digits)
        except ValueError:
            if name in ("brier", "ece"):
                raise
            out[name] = None
    return out


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curve(y_true: ArrayLike, curves: Mapping[str, ArrayLike], path: Path | str, title: str = "") -> None:
    """Draw precision-recall curves (step plots, one per model) with the chance level to a PNG.

    Args:
        y_true: 0/1 labels, shape (n,).
        curves: model name -> scores, each shape (n,); the legend shows each PR-AUC.
        path: PNG file to write (overwritten).
        title: plot title.
    """
    plt = _pyplot()
    y = np.asarray(y_true).astype(int)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    for name, scores in curves.items():
        yy, pp = _check(y, scores)
        precision, recall = _pr_points(yy, pp)
        ax.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="post",
                label=f"{name} (PR-AUC {pr_auc(yy, pp):.3f})")
    ax.axhline(y.mean(), color="grey", linestyle=":", label=f"chance ({y.mean():.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), format="png", metadata={"Software": None})
    plt.close(fig)


def plot_reliability(y_true: ArrayLike, y_prob: ArrayLike, path: Path | str, n_bins: int = 10,
                     title: str = "") -> None:
    """Draw a reliability diagram (observed fraud rate vs mean probability per equal-width bin) to a PNG.

    Bins with no samples are left out; marker area grows with the bin's sample count, and the ECE
    (:func:`ece`) is in the legend.
    """
    plt = _pyplot()
    y, p = _check(y_true, y_prob)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    xs, ys, ns = [], [], []
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            xs.append(p[mask].mean())
            ys.append(y[mask].mean())
            ns.append(int(mask.sum()))
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    ax.plot(xs, ys, marker="o", label=f"model (ECE {ece(y, p, n_bins):.3f})")
    ax.scatter(xs, ys, s=[10 + 3 * np.sqrt(n) for n in ns], alpha=0.4)
    ax.set(xlabel="mean predicted probability", ylabel="observed fraction fraudulent", xlim=(0, 1),
           ylim=(0, 1), title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), format="png", metadata={"Software": None})
    plt.close(fig)
