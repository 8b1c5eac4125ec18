"""Connectivity baselines: ``(N, N)`` matrices, ``C[i, j]`` scoring ``j -> i``, zero diagonal."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurodyn._validation import check_choice, check_positive, fail
from neurodyn.population.baselines.forecasting import _inputs

__all__ = [
    "lagged_correlation_connectivity",
    "partial_correlation_connectivity",
    "pearson_connectivity",
    "var_connectivity",
]


def _activity(activity: Any) -> np.ndarray:
    x, _ = _inputs(activity, None)
    if x.shape[0] < 3:
        fail("activity", "at least 3 time steps", tuple(x.shape))
    return x.double().numpy()


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def pearson_connectivity(activity: Any) -> np.ndarray:
    """Zero-lag Pearson correlation matrix with a zero diagonal (constant neurons give 0).

    Args:
        activity: ``(num_steps, N)``.

    Returns:
        ``(N, N)`` symmetric correlations.

    Example:
        >>> pearson_connectivity([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
        array([[0., 1.],
               [1., 0.]])
    """
    z = _standardise(_activity(activity))
    c = z.T @ z / z.shape[0]
    np.fill_diagonal(c, 0.0)
    return c


def partial_correlation_connectivity(activity: Any, shrinkage: float = 1e-3) -> np.ndarray:
    """Partial correlations ``-P_ij / sqrt(P_ii P_jj)`` from the (shrunk) precision matrix.

    The correlation matrix is shrunk towards the identity, ``(1 - s) R + s I``, before
    inversion so that it stays invertible for short recordings.

    Args:
        activity: ``(num_steps, N)``.
        shrinkage: ``s`` in [0, 1).

    Returns:
        ``(N, N)`` symmetric partial correlations, zero diagonal.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(2, 5000))
        >>> x = np.stack([a, a + b, b], 1)  # 0 and 2 independent, but not given 1
        >>> round(float(partial_correlation_connectivity(x)[0, 2]), 1)
        -1.0
    """
    s = check_positive("shrinkage", shrinkage, strict=False)
    if s >= 1:
        fail("shrinkage", "a number in [0, 1)", shrinkage)
    z = _standardise(_activity(activity))
    r = z.T @ z / z.shape[0]
    r = (1 - s) * r + s * np.eye(r.shape[0])
    p = np.linalg.pinv(r, hermitian=True)
    d = np.sqrt(np.clip(np.diag(p), 1e-12, None))
    c = -p / d[:, None] / d[None, :]
    np.fill_diagonal(c, 0.0)
    return c


def lagged_correlation_connectivity(activity: Any, lag: int = 1) -> np.ndarray:
    """Lagged cross-correlation ``C[i, j] = corr(x_i[t + lag], x_j[t])`` (j leads i).

    Args:
        activity: ``(num_steps, N)``.
        lag: lag in steps (>= 1, < num_steps - 1).

    Returns:
        ``(N, N)`` directed correlations, zero diagonal.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(500, 2))
        >>> x[1:, 0] = x[:-1, 1]
        >>> c = lagged_correlation_connectivity(x)
        >>> round(float(c[0, 1]), 3), bool(abs(c[1, 0]) < 0.1)
        (1.0, True)
    """
    x = _activity(activity)
    lag = check_positive("lag", lag, integer=True)
    if lag >= x.shape[0] - 1:
        fail("lag", f"an integer < {x.shape[0] - 1}", lag)
    post, pre = _standardise(x[lag:]), _standardise(x[:-lag])
    c = post.T @ pre / post.shape[0]
    np.fill_diagonal(c, 0.0)
    return c


def var_connectivity(activity: Any, alpha: float = 1.0, statistic: str = "coef") -> np.ndarray:
    """VAR(1)/Granger connectivity from a ridge regression ``z[t] = A z[t-1] + c``.

    Args:
        activity: ``(num_steps, N)`` (z-scored internally).
        alpha: ridge penalty (>= 0).
        statistic: ``"coef"`` (the coefficients ``A[i, j]``, ``j -> i``) or ``"tstat"``
            (coefficient / standard error: the Wald statistic of the Granger test of
            ``j -> i`` given all other neurons).

    Returns:
        ``(N, N)`` matrix, zero diagonal.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> x = np.zeros((3000, 2))
        >>> for t in range(1, 3000):
        ...     x[t] = [[0.5, 0.4], [0.0, 0.5]] @ x[t - 1] + rng.normal(size=2)
        >>> c = var_connectivity(x, alpha=0.0)
        >>> bool(c[0, 1] > 0.3 and abs(c[1, 0]) < 0.05)
        True
    """
    alpha = check_positive("alpha", alpha, strict=False)
    check_choice("statistic", statistic, ("coef", "tstat"))
    z = _standardise(_activity(activity))
    xp = np.hstack([z[:-1], np.ones((z.shape[0] - 1, 1))])
    y = z[1:]
    gram_inv = np.linalg.pinv(xp.T @ xp + alpha * np.eye(xp.shape[1]), hermitian=True)
    beta = gram_inv @ xp.T @ y  # (N + 1, N)
    a = beta[:-1].T.copy()
    if statistic == "tstat":
        resid_var = ((y - xp @ beta) ** 2).sum(0) / max(1, y.shape[0] - xp.shape[1])
        se = np.sqrt(resid_var[:, None] * np.diag(gram_inv)[None, :-1])
        a = a / se
    np.fill_diagonal(a, 0.0)
    return a
