"""Priors with parameter names and units, as :mod:`torch.distributions` objects.

Any ``torch.distributions.Distribution`` with ``sample``/``log_prob`` is a valid prior in
neurodyn; these classes add ``param_names``/``units`` and box bounds (``low``/``high``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.distributions import Independent, TransformedDistribution, Uniform, constraints
from torch.distributions.transforms import ExpTransform

from neurodyn._validation import check_tensor, fail

__all__ = ["BoxUniform", "LogUniform"]


def _names(name: str, values: Sequence[str] | None, n: int, default: str) -> tuple[str, ...]:
    if values is None:
        return tuple(f"{default}{i}" for i in range(n)) if default != "" else ("",) * n
    values = tuple(values)
    if len(values) != n:
        fail(name, f"{n} entries (one per parameter)", f"{len(values)} entries")
    return values


def _bounds(low, high, device) -> tuple[torch.Tensor, torch.Tensor]:
    low = check_tensor("low", low, ndim=1, dtype=torch.get_default_dtype(), device=device)
    high = check_tensor("high", high, ndim=1, dtype=low.dtype, device=device)
    if low.shape != high.shape:
        fail("high", f"the same shape as low {tuple(low.shape)}", high)
    if not bool((high > low).all()):
        i = int(torch.nonzero(high <= low)[0, 0])
        fail(
            "high",
            "high > low in every dimension",
            f"low[{i}]={float(low[i])}, high[{i}]={float(high[i])}",
        )
    return low, high


class BoxUniform(Independent):
    """Uniform distribution on a box ``[low, high]`` (event shape ``(num_params,)``).

    Args:
        low: lower bounds, shape ``(num_params,)``.
        high: upper bounds, shape ``(num_params,)``.
        param_names: one name per parameter.
        units: one unit string per parameter.
        device: torch device of the bounds (and of samples).

    Example:
        >>> prior = BoxUniform([0.0, 1.0], [1.0, 3.0], param_names=["a", "b"])
        >>> prior.sample((5,)).shape
        torch.Size([5, 2])
        >>> float(prior.log_prob(torch.tensor([0.5, 2.0])))  # -log(1 * 2)
        -0.6931...
    """

    def __init__(
        self,
        low,
        high,
        *,
        param_names: Sequence[str] | None = None,
        units: Sequence[str] | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        low, high = _bounds(low, high, device)
        super().__init__(Uniform(low, high, validate_args=False), 1, validate_args=False)
        self.low, self.high = low, high
        self.param_names = _names("param_names", param_names, low.numel(), "theta_")
        self.units = _names("units", units, low.numel(), "")

    @property
    def support(self):
        return constraints.independent(constraints.interval(self.low, self.high), 1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log density; ``-inf`` outside the box (no error), shape ``value.shape[:-1]``."""
        value = torch.as_tensor(value, dtype=self.low.dtype, device=self.low.device)
        inside = ((value >= self.low) & (value <= self.high)).all(-1)
        lp = -torch.log(self.high - self.low).sum()
        return torch.where(inside, lp, torch.full_like(inside, -torch.inf, dtype=lp.dtype))

    def to(self, device: torch.device | str) -> BoxUniform:
        """Copy of the prior on ``device``."""
        return BoxUniform(
            self.low, self.high, param_names=self.param_names, units=self.units, device=device
        )

    def __repr__(self) -> str:
        return f"BoxUniform(num_params={self.low.numel()})"


class LogUniform(Independent):
    """Log-uniform distribution on ``[low, high]`` (``log θ`` uniform), ``0 < low < high``.

    Example:
        >>> prior = LogUniform([1e-3], [1.0])
        >>> bool((prior.sample((100,)) >= 1e-3).all())
        True
    """

    def __init__(
        self,
        low,
        high,
        *,
        param_names: Sequence[str] | None = None,
        units: Sequence[str] | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        low, high = _bounds(low, high, device)
        if not bool((low > 0).all()):
            fail("low", "strictly positive bounds for a log-uniform prior", low)
        base = Uniform(low.log(), high.log(), validate_args=False)
        super().__init__(
            TransformedDistribution(base, [ExpTransform()], validate_args=False),
            1,
            validate_args=False,
        )
        self.low, self.high = low, high
        self.param_names = _names("param_names", param_names, low.numel(), "theta_")
        self.units = _names("units", units, low.numel(), "")

    @property
    def support(self):
        return constraints.independent(constraints.interval(self.low, self.high), 1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log density; ``-inf`` outside the bounds."""
        value = torch.as_tensor(value, dtype=self.low.dtype, device=self.low.device)
        inside = ((value >= self.low) & (value <= self.high)).all(-1)
        safe = torch.where(inside[..., None], value, self.low)
        lp = -(safe.log() + torch.log(self.high.log() - self.low.log())).sum(-1)
        return torch.where(inside, lp, torch.full_like(lp, -torch.inf))
