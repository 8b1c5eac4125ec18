"""Circuit breakdown: simulate along a path or perturbation and find where the rhythm breaks.

Simulator and classifier are plain callables, so this works with any simulator (e.g.
``PyloricNetwork(...).simulate``) and any validity rule (e.g. "triphasic pyloric rhythm").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neurodyn._validation import check_positive, check_tensor, fail

__all__ = ["BreakdownResult", "all_finite", "circuit_breakdown", "equally_spaced_indices"]


def all_finite(outputs: torch.Tensor) -> torch.Tensor:
    """Default classifier: a simulation is valid when all its outputs are finite.

    Simulators return NaN features for invalid simulations (e.g. no triphasic rhythm).

    Example:
        >>> all_finite(torch.tensor([[1.0, 2.0], [1.0, float("nan")]]))
        tensor([ True, False])
    """
    out = torch.as_tensor(outputs)
    return torch.isfinite(out.reshape(out.shape[0], -1)).all(-1)


def equally_spaced_indices(arc_length: Any, num: int) -> torch.Tensor:
    """Indices ``(num,)`` of the path points nearest to ``num`` equally spaced arc lengths.

    With eLife's 80-point path and ``num = 20`` this gives the points simulated in the paper.

    Example:
        >>> equally_spaced_indices(torch.linspace(0, 1, 11), 3)
        tensor([ 0,  5, 10])
    """
    s = check_tensor("arc_length", arc_length, ndim=1, dtype=torch.float64)
    num = check_positive("num", num, integer=True)
    if num > s.numel():
        fail("num", f"at most {s.numel()} (the number of path points)", num)
    targets = torch.linspace(float(s[0]), float(s[-1]), num, dtype=torch.float64)
    return torch.argmin((s[None, :] - targets[:, None]).abs(), dim=1)


@dataclass(frozen=True)
class BreakdownResult:
    """Result of :func:`circuit_breakdown`.

    Attributes:
        indices: evaluated point indices on the path ``(m,)``.
        theta: evaluated parameters ``(m, num_params)``.
        valid: classifier output per evaluated point ``(m,)`` bool.
        arc_length: arc length of the evaluated points ``(m,)`` (NaN when not given).
        outputs: simulator outputs ``(m, ...)``.
        first_invalid: position (in the evaluated list) of the first invalid point, or None.
    """

    indices: torch.Tensor
    theta: torch.Tensor
    valid: torch.Tensor
    arc_length: torch.Tensor
    outputs: torch.Tensor
    first_invalid: int | None

    @property
    def fraction_valid(self) -> float:
        """Fraction of evaluated points that are valid."""
        return float(self.valid.double().mean())

    @property
    def break_arc_length(self) -> float | None:
        """Arc length of the first invalid point (None when the rhythm never breaks)."""
        if self.first_invalid is None:
            return None
        return float(self.arc_length[self.first_invalid])


def circuit_breakdown(
    path: Any,
    simulate: Callable[[torch.Tensor], Any],
    classify: Callable[[torch.Tensor], Any] | None = None,
    *,
    num_evaluations: int | None = None,
    arc_length: Any = None,
) -> BreakdownResult:
    """Simulate along a path and report where the simulated behaviour becomes invalid.

    Args:
        path: a path result (anything with ``.theta`` and ``.arc_length``, e.g. from
            :func:`~neurodyn.analysis.high_probability_path` or
            :func:`~neurodyn.analysis.orthogonal_path`) or points ``(num_points, num_params)``
            in parameter units.
        simulate: ``simulate(theta (m, num_params)) -> outputs (m, ...)``, e.g.
            ``lambda th: simulator.simulate(th, seed=1)`` (fix the seed for comparability).
        classify: ``classify(outputs) -> bool (m,)`` (True = valid); ``None`` uses
            :func:`all_finite` (NaN features mark invalid simulations).
        num_evaluations: simulate only this many points equally spaced in arc length
            (eLife: 20 of 80); ``None`` simulates every point.
        arc_length: cumulative arc length ``(num_points,)`` for plain point arrays; ``None``
            uses the Euclidean arc length of the points.

    Returns:
        A :class:`BreakdownResult`.

    Example:
        >>> pts = torch.linspace(0, 1, 11)[:, None]
        >>> res = circuit_breakdown(pts, lambda th: th, lambda out: out[:, 0] < 0.55)
        >>> res.first_invalid, round(res.break_arc_length, 2)
        (6, 0.6)
    """
    if not callable(simulate):
        fail(
            "simulate",
            "a callable simulate(theta) -> outputs",
            type(simulate).__name__,
            exc=TypeError,
        )
    classify = all_finite if classify is None else classify
    if not callable(classify):
        fail(
            "classify",
            "a callable classify(outputs) -> bool (m,)",
            type(classify).__name__,
            exc=TypeError,
        )
    if hasattr(path, "theta") and hasattr(path, "arc_length"):
        theta, s = torch.as_tensor(path.theta), torch.as_tensor(path.arc_length)
    else:
        theta = check_tensor("path", path, ndim=2)
        if arc_length is None:
            steps = torch.linalg.vector_norm(torch.diff(theta.double(), dim=0), dim=-1)
            s = torch.cat([steps.new_zeros(1), torch.cumsum(steps, 0)])
        else:
            s = check_tensor("arc_length", arc_length, ndim=1)
            if s.numel() != theta.shape[0]:
                fail("arc_length", f"{theta.shape[0]} values (one per path point)", s)
    s = s.to(torch.float64).cpu()
    if num_evaluations is None:
        idx = torch.arange(theta.shape[0])
    else:
        idx = equally_spaced_indices(s, num_evaluations)
    th = theta[idx.to(theta.device)]
    out = simulate(th)
    outputs = out if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))
    valid = torch.as_tensor(classify(outputs)).reshape(-1).to(torch.bool).cpu()
    if valid.numel() != idx.numel():
        fail(
            "classify",
            f"a callable returning {idx.numel()} booleans (one per point)",
            f"{valid.numel()} values",
        )
    bad = torch.nonzero(~valid)
    first = int(bad[0, 0]) if bad.numel() else None
    return BreakdownResult(
        indices=idx, theta=th, valid=valid, arc_length=s[idx], outputs=outputs, first_invalid=first
    )
