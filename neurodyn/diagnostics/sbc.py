"""Simulation-based calibration (Talts et al., 2018).

For test pairs ``(theta_i, x_i)`` drawn from the prior and the simulator, the rank of
``theta_i`` among posterior samples given ``x_i`` is uniform for every parameter when the
posterior is calibrated. Ranks get a uniform jitter in their bin so that they are exactly
continuous-uniform under the null, and each parameter's ranks are KS-tested against the
uniform distribution; the check passes when every p-value exceeds ``alpha / num_params``
(Bonferroni). A biased or over-confident posterior piles ranks at the edges and fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats

from neurodyn._validation import check_positive, check_probability, check_tensor, fail
from neurodyn.diagnostics._sampling import batched_samples

__all__ = ["SBCResult", "rank_band", "sbc"]


@dataclass(frozen=True)
class SBCResult:
    """Ranks and KS tests of simulation-based calibration.

    Attributes:
        ranks: ``(num_tests, num_params)`` integer ranks in ``[0, num_posterior_samples]``.
        ks_pvalues: ``(num_params,)`` KS-test p-values against uniform ranks.
        num_posterior_samples: posterior samples per test observation.
        alpha: family-wise significance level.
        passed: all p-values above ``alpha / num_params``.
        param_names: parameter names (for plots).
    """

    ranks: np.ndarray
    ks_pvalues: np.ndarray
    num_posterior_samples: int
    alpha: float
    passed: bool
    param_names: tuple[str, ...]

    def summary(self) -> str:
        """One line per parameter with its KS p-value."""
        lines = [
            f"SBC ({self.ranks.shape[0]} tests, {self.num_posterior_samples} samples): "
            + ("PASSED" if self.passed else "FAILED")
        ]
        for name, p in zip(self.param_names, self.ks_pvalues, strict=True):
            lines.append(f"  {name}: KS p = {p:.3g}")
        return "\n".join(lines)


def sbc(
    posterior: Any,
    theta: Any,
    x: Any,
    *,
    num_posterior_samples: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    batch_size: int = 100,
) -> SBCResult:
    """Simulation-based calibration of ``posterior`` (neurodyn or sbi).

    Args:
        posterior: object with ``sample((n,), x=...)`` (``sample_batched`` is used if present).
        theta: test parameters from the prior, ``(num_tests, num_params)``.
        x: their simulations, ``(num_tests, *x_shape)`` (rows with NaN are skipped).
        num_posterior_samples: samples per test observation (ranks range over ``0..L``).
        alpha: family-wise significance level of the KS tests.
        seed: seed of the rank jitter.
        batch_size: observations sampled at once.

    Returns:
        An :class:`SBCResult`.

    Example:
        >>> class Exact:  # posterior of theta ~ N(0,1), x ~ N(theta, 1): N(x/2, 1/2)
        ...     def sample(self, shape, x):
        ...         return x / 2 + 0.5**0.5 * torch.randn(*shape, 1)
        >>> _ = torch.manual_seed(0)  # an exact posterior fails at rate alpha: fix the draw
        >>> theta = torch.randn(300, 1); x = theta + torch.randn(300, 1)
        >>> sbc(Exact(), theta, x, num_posterior_samples=100).passed
        True
    """
    theta = check_tensor("theta", theta, ndim=2)
    x = check_tensor("x", x, finite=False)
    if x.ndim < 2 or x.shape[0] != theta.shape[0]:
        fail("x", f"{theta.shape[0]} rows (one per row of theta)", x)
    num_posterior_samples = check_positive(
        "num_posterior_samples", num_posterior_samples, integer=True
    )
    alpha = check_probability("alpha", alpha)
    ok = torch.isfinite(x.reshape(x.shape[0], -1)).all(1)
    theta, x = theta[ok], x[ok]
    if theta.shape[0] < 2:
        fail("x", "at least 2 valid test simulations", int(theta.shape[0]))
    ranks = []
    for start in range(0, theta.shape[0], batch_size):
        xb, tb = x[start : start + batch_size], theta[start : start + batch_size]
        s = batched_samples(posterior, num_posterior_samples, xb)  # (L, B, D)
        ranks.append((s < tb[None].float()).sum(0))
    r = torch.cat(ranks).numpy().astype(np.int64)
    rng = np.random.default_rng(seed)
    u = (r + rng.uniform(size=r.shape)) / (num_posterior_samples + 1)
    pvalues = np.array([stats.kstest(u[:, d], "uniform").pvalue for d in range(r.shape[1])])
    names = tuple(
        getattr(posterior, "param_names", ())
        or getattr(getattr(posterior, "prior", None), "param_names", ())
        or (f"theta_{i}" for i in range(r.shape[1]))
    )
    return SBCResult(
        ranks=r,
        ks_pvalues=pvalues,
        num_posterior_samples=num_posterior_samples,
        alpha=alpha,
        passed=bool((pvalues > alpha / r.shape[1]).all()),
        param_names=names,
    )


def rank_band(num_tests: int, num_bins: int, level: float = 0.99) -> tuple[float, float]:
    """Central ``level`` interval of a uniform rank histogram's bin counts (binomial).

    Example:
        >>> lo, hi = rank_band(1000, 10); lo < 100 < hi
        True
    """
    dist = stats.binom(num_tests, 1.0 / num_bins)
    return float(dist.ppf((1 - level) / 2)), float(dist.ppf(1 - (1 - level) / 2))
