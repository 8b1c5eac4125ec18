"""Metrics for population forecasts and recovered connectivity.

Forecasts: per-neuron Pearson correlation and MSE, correlation of the leading principal
components (PCA fitted on training data), paired tests across neurons or sessions and a t
confidence interval of a mean. Connectivity: edge detection AUROC / AUPRC on ``|A|`` against
``1[W != 0]``, sign accuracy on true edges and Spearman correlation with the true weights (all
off-diagonal), plus the cross-correlation between the input currents ``I = A x`` and the
activity (SynapsNet Fig 4b) with a shuffled-``A`` control.

All functions accept numpy arrays or tensors (time first, ``(num_steps, num_neurons)``;
connectivity ``(N, N)`` with ``A[i, j]`` the weight of ``j -> i``) and return numpy values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from neurodyn._validation import as_tensor, check_probability, fail

__all__ = [
    "PairedTest",
    "connectivity_scores",
    "current_activity_crosscorrelation",
    "edge_auprc",
    "edge_auroc",
    "forecast_correlation",
    "forecast_mse",
    "input_currents",
    "mean_ci",
    "paired_test",
    "pc_correlation",
    "shuffled_connectivity",
    "sign_accuracy",
    "weight_spearman",
]


def _array(name: str, value: Any, ndim: int, *, allow_nan: bool = False) -> np.ndarray:
    t = as_tensor(name, value)
    if t.ndim != ndim:
        fail(name, f"a {ndim}-D array", t)
    a = t.detach().cpu().double().numpy()
    bad = np.isinf(a) if allow_nan else ~np.isfinite(a)
    if bad.any():
        what = "finite or NaN values" if allow_nan else "finite values"
        fail(name, what, f"{int(bad.sum())} invalid entries in array of shape {a.shape}")
    return a


def _pair(prediction: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows where both are finite everywhere (e.g. skip the NaN warm-up rows)."""
    p = _array("prediction", prediction, 2, allow_nan=True)
    y = _array("target", target, 2, allow_nan=True)
    if p.shape != y.shape:
        fail("prediction", f"the shape of target {y.shape}", p, "Align the time axes.")
    keep = np.isfinite(p).all(1) & np.isfinite(y).all(1)
    if keep.sum() < 2:
        fail(
            "prediction",
            "at least 2 rows where prediction and target are finite",
            int(keep.sum()),
            "Predictions start after the context window; pass longer data.",
        )
    return p[keep], y[keep]


def _columnwise_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    den = np.sqrt((a**2).sum(0) * (b**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(0) / den
    return np.where(den > 0, r, np.nan)


def forecast_correlation(prediction: Any, target: Any) -> np.ndarray:
    """Pearson correlation between predicted and true activity of each neuron over time.

    Rows with a NaN in ``prediction`` or ``target`` (e.g. the first ``window`` rows of a
    teacher-forced prediction) are dropped.

    Args:
        prediction: ``(num_steps, num_neurons)`` predicted activity.
        target: ``(num_steps, num_neurons)`` true activity.

    Returns:
        ``(num_neurons,)`` correlations; NaN for a neuron whose prediction or target is constant.

    Example:
        >>> y = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 2.0]])
        >>> forecast_correlation(2 * y + 1, y)
        array([1., 1.])
    """
    p, y = _pair(prediction, target)
    return _columnwise_corr(p, y)


def forecast_mse(prediction: Any, target: Any) -> np.ndarray:
    """Mean squared error of each neuron over the rows where both are finite.

    Args:
        prediction: ``(num_steps, num_neurons)``.
        target: ``(num_steps, num_neurons)``.

    Returns:
        ``(num_neurons,)`` mean squared errors (units of the activity squared).

    Example:
        >>> forecast_mse([[np.nan], [1.0], [3.0]], [[0.0], [0.0], [1.0]])
        array([2.5])
    """
    p, y = _pair(prediction, target)
    return ((p - y) ** 2).mean(0)


def pc_correlation(
    prediction: Any, target: Any, activity_train: Any, num_components: int = 3
) -> np.ndarray:
    """Correlation of the leading principal components of predicted and true activity.

    PCA (centred, not scaled) is fitted on ``activity_train``; prediction and target are
    projected on the same components and correlated over time (SynapsNet Fig 2b).

    Args:
        prediction: ``(num_steps, num_neurons)``.
        target: ``(num_steps, num_neurons)``.
        activity_train: ``(num_train_steps, num_neurons)`` training activity.
        num_components: number of leading components (<= num_neurons).

    Returns:
        ``(num_components,)`` Pearson correlations.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(100, 5))
        >>> pc_correlation(x, x, x, 2)
        array([1., 1.])
    """
    p, y = _pair(prediction, target)
    train = _array("activity_train", activity_train, 2)
    if train.shape[1] != p.shape[1]:
        fail("activity_train", f"{p.shape[1]} neurons (columns)", train)
    if isinstance(num_components, bool) or not isinstance(num_components, (int, np.integer)):
        fail("num_components", "an integer", num_components, exc=TypeError)
    if not 1 <= num_components <= p.shape[1]:
        fail("num_components", f"an integer in [1, {p.shape[1]}]", num_components)
    mean = train.mean(0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    comps = vt[:num_components].T
    return _columnwise_corr((p - mean) @ comps, (y - mean) @ comps)


@dataclass(frozen=True)
class PairedTest:
    """Result of :func:`paired_test` (``a`` minus ``b``)."""

    num: int
    mean_a: float
    mean_b: float
    mean_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_value: float
    wilcoxon_p: float

    def as_dict(self) -> dict[str, float]:
        """JSON-friendly dictionary."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def mean_ci(values: Any, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the mean (NaN entries dropped).

    Args:
        values: 1-D values (e.g. a metric over networks).
        level: confidence level in (0, 1).

    Returns:
        ``(mean, low, high)``; ``low == high == mean`` for a single value.

    Example:
        >>> mean_ci([1.0, 2.0, 3.0])
        (2.0, -0.484..., 4.484...)
    """
    level = check_probability("level", level)
    v = _array("values", values, 1, allow_nan=True)
    v = v[np.isfinite(v)]
    if v.size == 0:
        fail("values", "at least one finite value", "none")
    m = float(v.mean())
    if v.size == 1:
        return m, m, m
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, m - half, m + half


def paired_test(a: Any, b: Any, level: float = 0.95) -> PairedTest:
    """Paired comparison of two metrics over the same neurons or sessions.

    Pairs with a NaN on either side are dropped. Reports the paired t-test and the Wilcoxon
    signed-rank test (two-sided) and a t confidence interval of the mean difference.

    Args:
        a: ``(num,)`` metric of method A (e.g. per-neuron forecast correlation).
        b: ``(num,)`` metric of method B for the same units.
        level: confidence level of the interval.

    Returns:
        A :class:`PairedTest`.

    Example:
        >>> res = paired_test([0.5, 0.6, 0.7, 0.8], [0.4, 0.45, 0.6, 0.6])
        >>> round(res.mean_difference, 3), res.num
        (0.138, 4)
    """
    x = _array("a", a, 1, allow_nan=True)
    y = _array("b", b, 1, allow_nan=True)
    if x.shape != y.shape:
        fail("b", f"the shape of a {x.shape}", y)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        fail("a", "at least 2 pairs with finite values", int(keep.sum()))
    x, y = x[keep], y[keep]
    d = x - y
    mean, lo, hi = mean_ci(d, level)
    if np.all(d == d[0]):
        t_stat, p = (np.nan, np.nan) if d[0] == 0 else (np.copysign(np.inf, d[0]), 0.0)
    else:
        res = stats.ttest_rel(x, y)
        t_stat, p = float(res.statistic), float(res.pvalue)
    w_p = float(stats.wilcoxon(x, y).pvalue) if np.any(d != 0) else np.nan
    return PairedTest(
        num=int(x.size),
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        mean_difference=mean,
        ci_low=lo,
        ci_high=hi,
        t_statistic=float(t_stat),
        p_value=float(p),
        wilcoxon_p=w_p,
    )


# --------------------------------------------------------------------------- connectivity


def _square_pair(estimate: Any, weights: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = _array("estimate", estimate, 2)
    w = _array("weights", weights, 2)
    if w.shape[0] != w.shape[1] or w.shape[0] < 2:
        fail("weights", "a square (N, N) matrix with N >= 2", w)
    if a.shape != w.shape:
        fail("estimate", f"the shape of weights {w.shape}", a)
    off = ~np.eye(w.shape[0], dtype=bool)
    return a[off], w[off], off


def _edge_labels(w: np.ndarray) -> np.ndarray:
    labels = w != 0
    if labels.all() or not labels.any():
        fail(
            "weights",
            "both edges (W != 0) and non-edges off the diagonal",
            f"{int(labels.sum())} edges of {labels.size}",
        )
    return labels


def edge_auroc(estimate: Any, weights: Any) -> float:
    """Area under the ROC curve for detecting edges from ``|estimate|`` (off-diagonal).

    The probability that a random true edge (``weights != 0``) has a larger ``|estimate|``
    than a random non-edge, ties counting one half (Mann–Whitney U / (n_pos n_neg)).

    Args:
        estimate: ``(N, N)`` estimated connectivity.
        weights: ``(N, N)`` true weights.

    Returns:
        AUROC in [0, 1]; 0.5 is chance.

    Example:
        >>> w = np.array([[0, 1, 0], [0, 0, 0], [2, 0, 0]])
        >>> a = np.array([[9, 0.9, 0.1], [0.2, 9, 0.3], [-0.5, 0.4, 9]])
        >>> edge_auroc(a, w)
        1.0
    """
    a, w, _ = _square_pair(estimate, weights)
    labels = _edge_labels(w)
    ranks = stats.rankdata(np.abs(a))
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def edge_auprc(estimate: Any, weights: Any) -> float:
    """Average precision for detecting edges from ``|estimate|`` (off-diagonal).

    ``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds in decreasing order
    (tied scores enter together); chance level is the edge density.

    Args:
        estimate: ``(N, N)`` estimated connectivity.
        weights: ``(N, N)`` true weights.

    Returns:
        AUPRC (average precision) in [0, 1].

    Example:
        >>> w = np.array([[0, 1, 0], [0, 0, 0], [2, 0, 0]])
        >>> a = np.array([[0, 0.9, 0.5], [0.2, 0, 0.3], [0.1, 0.4, 0]])
        >>> round(edge_auprc(a, w), 4)
        0.6667
    """
    a, w, _ = _square_pair(estimate, weights)
    labels = _edge_labels(w)
    score = np.abs(a)
    order = np.argsort(-score, kind="stable")
    score, labels = score[order], labels[order]
    tp = np.cumsum(labels)
    last = np.r_[np.nonzero(np.diff(score))[0], score.size - 1]  # end of each tie group
    tp = tp[last]
    precision = tp / (last + 1)
    recall = tp / labels.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def sign_accuracy(estimate: Any, weights: Any) -> float:
    """Fraction of true edges whose estimated sign matches the true sign (0 counts as wrong).

    Args:
        estimate: ``(N, N)`` estimated connectivity.
        weights: ``(N, N)`` true weights.

    Returns:
        Accuracy in [0, 1]; 0.5 is chance for balanced signs.

    Example:
        >>> sign_accuracy([[0, -1], [2, 0]], [[0, -0.5], [-1, 0]])
        0.5
    """
    a, w, _ = _square_pair(estimate, weights)
    edges = w != 0
    if not edges.any():
        fail("weights", "at least one edge (W != 0) off the diagonal", "none")
    return float(np.mean(np.sign(a[edges]) == np.sign(w[edges])))


def weight_spearman(estimate: Any, weights: Any) -> float:
    """Spearman rank correlation between estimated and true weights (all off-diagonal pairs).

    Args:
        estimate: ``(N, N)`` estimated connectivity.
        weights: ``(N, N)`` true weights (zeros included).

    Returns:
        Spearman's rho; NaN if either is constant off the diagonal.

    Example:
        >>> weight_spearman([[0, 1], [3, 0]], [[0, -1], [5, 0]])
        1.0
    """
    a, w, _ = _square_pair(estimate, weights)
    if np.all(a == a[0]) or np.all(w == w[0]):
        return float("nan")
    return float(stats.spearmanr(a, w).statistic)


def connectivity_scores(estimate: Any, weights: Any) -> dict[str, float]:
    """All connectivity scores: ``auroc``, ``auprc``, ``sign_accuracy``, ``spearman``.

    Example:
        >>> w = np.array([[0, 1, 0], [0, 0, 0], [2, 0, 0]])
        >>> connectivity_scores(w, w)["auroc"]
        1.0
    """
    return {
        "auroc": edge_auroc(estimate, weights),
        "auprc": edge_auprc(estimate, weights),
        "sign_accuracy": sign_accuracy(estimate, weights),
        "spearman": weight_spearman(estimate, weights),
    }


# --------------------------------------------------------------------------- input currents


def input_currents(activity: Any, connectivity: Any) -> np.ndarray:
    """Input currents ``I[t, i] = sum_k A[i, k] x[t, k]`` (SynapsNet's ``I_t = A x_t``).

    Args:
        activity: ``(num_steps, N)``.
        connectivity: ``(N, N)``, ``A[i, k]`` the weight of ``k -> i``.

    Returns:
        ``(num_steps, N)`` currents.

    Example:
        >>> input_currents([[1.0, 2.0]], [[0.0, 1.0], [0.5, 0.0]])
        array([[2. , 0.5]])
    """
    x = _array("activity", activity, 2)
    a = _array("connectivity", connectivity, 2)
    if a.shape != (x.shape[1], x.shape[1]):
        fail("connectivity", f"shape ({x.shape[1]}, {x.shape[1]})", a)
    return x @ a.T


def shuffled_connectivity(connectivity: Any, seed: int | None = None) -> np.ndarray:
    """Randomly permute the off-diagonal entries of ``connectivity`` (diagonal kept).

    Args:
        connectivity: ``(N, N)``.
        seed: seed of the permutation.

    Returns:
        ``(N, N)`` matrix with the same off-diagonal values in random positions.

    Example:
        >>> a = np.arange(9.0).reshape(3, 3)
        >>> s = shuffled_connectivity(a, seed=0)
        >>> sorted(s[~np.eye(3, dtype=bool)]) == sorted(a[~np.eye(3, dtype=bool)])
        True
    """
    a = _array("connectivity", connectivity, 2)
    if a.shape[0] != a.shape[1]:
        fail("connectivity", "a square (N, N) matrix", a)
    off = ~np.eye(a.shape[0], dtype=bool)
    out = a.copy()
    out[off] = np.random.default_rng(seed).permutation(a[off])
    return out


def current_activity_crosscorrelation(
    activity: Any, connectivity: Any, max_lag: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation between each neuron's input current and its own activity.

    ``C[k, i] = corr(I_i[t], x_i[t + lag_k])`` over the overlapping ``t`` for lags
    ``-max_lag .. max_lag``; a positive lag means the current leads the activity (the part a
    one-step forecaster can use).

    Args:
        activity: ``(num_steps, N)``.
        connectivity: ``(N, N)``.
        max_lag: largest lag in steps (>= 0, < num_steps - 1).

    Returns:
        ``(lags (2 max_lag + 1,), C (2 max_lag + 1, N))``; NaN for constant series.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(200, 2))
        >>> x[1:, 1] = x[:-1, 0]  # neuron 1 copies neuron 0 one step later
        >>> lags, c = current_activity_crosscorrelation(x, [[0, 0], [1, 0]], 1)
        >>> round(float(c[2, 1]), 6)  # lag +1, neuron 1
        1.0
    """
    x = _array("activity", activity, 2)
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)):
        fail("max_lag", "an integer", max_lag, exc=TypeError)
    if not 0 <= max_lag < x.shape[0] - 1:
        fail("max_lag", f"an integer in [0, {x.shape[0] - 2}]", max_lag)
    current = input_currents(x, connectivity)
    lags = np.arange(-max_lag, max_lag + 1)
    out = np.empty((lags.size, x.shape[1]))
    n = x.shape[0]
    for k, lag in enumerate(lags):
        if lag >= 0:
            out[k] = _columnwise_corr(current[: n - lag], x[lag:])
        else:
            out[k] = _columnwise_corr(current[-lag:], x[: n + lag])
    return lags, out
