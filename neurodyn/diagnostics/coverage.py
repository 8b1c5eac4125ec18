"""Expected coverage of highest-density regions and TARP.

* :func:`expected_coverage` — for test pairs ``(theta_i, x_i)`` from the prior and simulator,
  ``f_i`` is the fraction of posterior samples with a higher density than ``theta_i``; the
  true parameter lies in the ``a``-highest-density region iff ``f_i < a``. For a calibrated
  posterior ``f`` is uniform, so the empirical coverage equals the credibility level at every
  level. Needs ``log_prob``.
* :func:`tarp` — Tests of Accuracy with Random Points (Lemos et al., 2023): ``f_i`` is the
  fraction of posterior samples closer to a random reference point than ``theta_i``; needs
  samples only. Distances use parameters standardised by the test parameters' mean/std.

Both return a :class:`CoverageResult` whose ``passed`` is a KS test of ``f`` against the
uniform distribution at level ``alpha``; over-confident posteriors give too little coverage,
under-confident ones too much, biased ones both fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats

from neurodyn._validation import check_positive, check_probability, check_tensor, fail
from neurodyn.diagnostics._sampling import batched_log_prob, batched_samples

__all__ = ["CoverageResult", "expected_coverage", "tarp"]


@dataclass(frozen=True)
class CoverageResult:
    """Empirical coverage per credibility level.

    Attributes:
        levels: credibility levels ``(K,)`` in ``[0, 1]``.
        coverage: fraction of tests whose true parameter lies in the region, ``(K,)``.
        statistic: ``f_i`` per test ``(num_tests,)`` (uniform when calibrated).
        ks_pvalue: KS test of ``statistic`` against uniform.
        max_deviation: ``max |coverage - levels|``.
        alpha: significance level.
        passed: ``ks_pvalue > alpha``.
        method: ``"hpd"`` or ``"tarp"``.
    """

    levels: np.ndarray
    coverage: np.ndarray
    statistic: np.ndarray
    ks_pvalue: float
    max_deviation: float
    alpha: float
    passed: bool
    method: str


def _result(f: np.ndarray, alpha: float, method: str, num_levels: int = 101) -> CoverageResult:
    levels = np.linspace(0.0, 1.0, num_levels)
    coverage = (f[None, :] < levels[:, None]).mean(1)
    p = float(stats.kstest(f, "uniform").pvalue)
    return CoverageResult(
        levels=levels,
        coverage=coverage,
        statistic=f,
        ks_pvalue=p,
        max_deviation=float(np.abs(coverage - levels).max()),
        alpha=alpha,
        passed=p > alpha,
        method=method,
    )


def _inputs(theta: Any, x: Any, num_posterior_samples: int, alpha: float):
    theta = check_tensor("theta", theta, ndim=2)
    x = check_tensor("x", x, finite=False)
    if x.ndim < 2 or x.shape[0] != theta.shape[0]:
        fail("x", f"{theta.shape[0]} rows (one per row of theta)", x)
    check_positive("num_posterior_samples", num_posterior_samples, integer=True)
    check_probability("alpha", alpha)
    ok = torch.isfinite(x.reshape(x.shape[0], -1)).all(1)
    if int(ok.sum()) < 2:
        fail("x", "at least 2 valid test simulations", int(ok.sum()))
    return theta[ok].float(), x[ok]


def expected_coverage(
    posterior: Any,
    theta: Any,
    x: Any,
    *,
    num_posterior_samples: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
    batch_size: int = 100,
) -> CoverageResult:
    """Expected coverage of the posterior's highest-density regions.

    Args:
        posterior: object with ``sample`` and ``log_prob`` (neurodyn or sbi).
        theta: test parameters ``(num_tests, num_params)`` from the prior.
        x: their simulations ``(num_tests, *x_shape)``.
        num_posterior_samples: samples per observation.
        alpha: KS significance level.
        seed: seed of the tie-breaking jitter.
        batch_size: observations evaluated at once.

    Returns:
        A :class:`CoverageResult` (``method="hpd"``).
    """
    theta, x = _inputs(theta, x, num_posterior_samples, alpha)
    rng = np.random.default_rng(seed)
    fs = []
    for start in range(0, theta.shape[0], batch_size):
        xb, tb = x[start : start + batch_size], theta[start : start + batch_size]
        s = batched_samples(posterior, num_posterior_samples, xb)  # (L, B, D)
        lp_s = batched_log_prob(posterior, s, xb)  # (L, B)
        lp_t = batched_log_prob(posterior, tb[None], xb)  # (1, B)
        higher = (lp_s > lp_t).sum(0).numpy()
        fs.append((higher + rng.uniform(size=higher.shape)) / (num_posterior_samples + 1))
    return _result(np.concatenate(fs), alpha, "hpd")


def tarp(
    posterior: Any,
    theta: Any,
    x: Any,
    *,
    num_posterior_samples: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
    batch_size: int = 100,
) -> CoverageResult:
    """TARP expected coverage from samples only (random reference points).

    Reference points are drawn uniformly in the bounding box of the standardised test
    parameters (one per test observation).

    Args:
        posterior: object with ``sample`` (neurodyn or sbi).
        theta: test parameters ``(num_tests, num_params)`` from the prior.
        x: their simulations ``(num_tests, *x_shape)``.
        num_posterior_samples: samples per observation.
        alpha: KS significance level.
        seed: seed of the reference points and jitter.
        batch_size: observations sampled at once.

    Returns:
        A :class:`CoverageResult` (``method="tarp"``).
    """
    theta, x = _inputs(theta, x, num_posterior_samples, alpha)
    mean, std = theta.mean(0), theta.std(0).clamp_min(1e-12)
    z_theta = (theta - mean) / std
    lo, hi = z_theta.min(0).values, z_theta.max(0).values
    # reference points from a stream independent of torch generators seeded by the caller
    u = np.random.default_rng([seed, 0x7A49]).uniform(size=tuple(theta.shape))
    refs = lo + (hi - lo) * torch.as_tensor(u, dtype=z_theta.dtype)
    rng = np.random.default_rng(seed)
    fs = []
    for start in range(0, theta.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        s = (batched_samples(posterior, num_posterior_samples, x[sl]) - mean) / std
        d_s = (s - refs[sl][None]).norm(dim=-1)  # (L, B)
        d_t = (z_theta[sl] - refs[sl]).norm(dim=-1)  # (B,)
        closer = (d_s < d_t[None]).sum(0).numpy()
        fs.append((closer + rng.uniform(size=closer.shape)) / (num_posterior_samples + 1))
    return _result(np.concatenate(fs), alpha, "tarp")
