"""Posterior predictive checks.

Simulate from posterior samples given ``x_o`` and ask, feature by feature, where ``x_o`` falls
in the posterior predictive distribution. A two-sided predictive p-value
``2 min(P(x_pred < x_o), P(x_pred > x_o))`` below ``alpha / num_features`` (Bonferroni) means
the posterior cannot reproduce that feature of the observation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neurodyn._validation import check_positive, check_probability, check_tensor, fail

__all__ = ["PPCResult", "posterior_predictive_check"]


@dataclass(frozen=True)
class PPCResult:
    """Posterior predictive check of one observation.

    Attributes:
        x_pred: predictive simulations ``(num_samples, num_features)`` (NaN rows = invalid).
        pvalues: two-sided predictive p-value per feature ``(num_features,)``.
        zscores: ``(x_o - median) / std`` of the valid predictive simulations per feature.
        fraction_valid: fraction of predictive simulations without NaN/inf.
        alpha: family-wise significance level.
        passed: every p-value above ``alpha / num_features``.
    """

    x_pred: np.ndarray
    pvalues: np.ndarray
    zscores: np.ndarray
    fraction_valid: float
    alpha: float
    passed: bool


def posterior_predictive_check(
    posterior: Any,
    simulator: Callable[[torch.Tensor], torch.Tensor],
    x_o: Any,
    *,
    num_samples: int = 1000,
    alpha: float = 0.05,
) -> PPCResult:
    """Simulate ``num_samples`` posterior draws and compare them with ``x_o``.

    Args:
        posterior: object with ``sample((n,), x=x_o)`` (neurodyn or sbi).
        simulator: ``simulator(theta (n, D)) -> x (n, num_features)``; e.g.
            ``lambda t: hh.simulate(t, seed=1)``.
        x_o: the observation ``(num_features,)``.
        num_samples: posterior predictive simulations.
        alpha: family-wise significance level.

    Returns:
        A :class:`PPCResult`.

    Example:
        >>> class Exact:
        ...     def sample(self, shape, x):
        ...         return x / 2 + 0.5**0.5 * torch.randn(*shape, 1)
        >>> sim = lambda t: t + torch.randn_like(t)
        >>> posterior_predictive_check(Exact(), sim, torch.tensor([0.3])).passed
        True
    """
    if not callable(simulator):
        fail("simulator", "a callable theta -> x", type(simulator).__name__, exc=TypeError)
    x_o = check_tensor("x_o", x_o, ndim=(1, 2)).reshape(-1).float()
    num_samples = check_positive("num_samples", num_samples, integer=True)
    alpha = check_probability("alpha", alpha)
    theta = torch.as_tensor(posterior.sample((num_samples,), x=x_o))
    x_pred = torch.as_tensor(simulator(theta)).float().cpu().reshape(num_samples, -1)
    if x_pred.shape[1] != x_o.numel():
        fail("simulator", f"outputs with {x_o.numel()} features (as x_o)", x_pred)
    valid = torch.isfinite(x_pred).all(1)
    if int(valid.sum()) < 2:
        fail(
            "simulator",
            "at least 2 valid predictive simulations",
            int(valid.sum()),
            "The posterior predicts invalid simulations only.",
        )
    xv = x_pred[valid].double()
    below = (xv < x_o.double()).double().mean(0) + 0.5 * (xv == x_o.double()).double().mean(0)
    p = torch.minimum(2 * below, 2 * (1 - below)).clamp(max=1.0).numpy()
    std = xv.std(0)
    z = ((x_o.double() - xv.median(0).values) / torch.where(std > 0, std, 1.0)).numpy()
    return PPCResult(
        x_pred=x_pred.numpy(),
        pvalues=p,
        zscores=z,
        fraction_valid=float(valid.double().mean()),
        alpha=alpha,
        passed=bool((p > alpha / x_o.numel()).all()),
    )
