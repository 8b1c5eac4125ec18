"""Batched posterior sampling and evaluation that works for neurodyn and sbi posteriors."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["batched_log_prob", "batched_samples"]


def batched_samples(posterior: Any, num_samples: int, x: Tensor) -> Tensor:
    """``(num_samples, num_x, D)`` samples for observations ``x`` ``(num_x, ...)``.

    Uses ``posterior.sample_batched`` when present (neurodyn, sbi >= 0.23), else loops over
    ``posterior.sample((n,), x=x_i)``.
    """
    if callable(getattr(posterior, "sample_batched", None)):
        try:
            out = posterior.sample_batched((num_samples,), x=x, show_progress_bars=False)
        except TypeError:
            out = posterior.sample_batched((num_samples,), x=x)
        return torch.as_tensor(out).float().cpu()
    outs = []
    for i in range(x.shape[0]):
        outs.append(torch.as_tensor(posterior.sample((num_samples,), x=x[i])).float().cpu())
    return torch.stack(outs, dim=1)


def batched_log_prob(posterior: Any, theta: Tensor, x: Tensor) -> Tensor:
    """``log q(theta[:, i] | x_i)``: theta ``(n, num_x, D)``, x ``(num_x, ...)`` -> ``(n, num_x)``.

    Uses ``log_prob_batched`` when present, else loops over observations.
    """
    if callable(getattr(posterior, "log_prob_batched", None)):
        try:
            return torch.as_tensor(posterior.log_prob_batched(theta, x=x)).float().cpu()
        except (TypeError, NotImplementedError, ValueError, RuntimeError):
            pass
    cols = []
    for i in range(x.shape[0]):
        cols.append(torch.as_tensor(posterior.log_prob(theta[:, i], x=x[i])).float().cpu())
    return torch.stack(cols, dim=1)
