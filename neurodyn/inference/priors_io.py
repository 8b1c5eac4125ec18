"""Priors as plain JSON, and prior helpers used by NPE and posteriors.

Supported for saving: :class:`~neurodyn.priors.BoxUniform`, :class:`~neurodyn.priors.LogUniform`,
``Independent(Uniform)``, ``Independent(Normal)`` and ``MultivariateNormal`` (sbi's
``BoxUniform`` is an ``Independent(Uniform)``). Any other prior still works for training and
sampling; only :meth:`Posterior.save` refuses it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Independent, MultivariateNormal, Normal, Uniform

from neurodyn._validation import fail
from neurodyn.priors import BoxUniform, LogUniform

__all__ = [
    "box_bounds",
    "check_prior",
    "in_support",
    "prior_from_dict",
    "prior_log_prob",
    "prior_to_dict",
]


def check_prior(prior: Any) -> int:
    """Check that ``prior`` is a distribution over vectors; return ``num_params``.

    Example:
        >>> check_prior(BoxUniform([0.0, 0.0], [1.0, 1.0]))
        2
    """
    if not (
        callable(getattr(prior, "sample", None)) and callable(getattr(prior, "log_prob", None))
    ):
        fail(
            "prior",
            "a distribution with sample() and log_prob() (e.g. a "
            "torch.distributions.Distribution or neurodyn.priors.BoxUniform)",
            type(prior).__name__,
            exc=TypeError,
        )
    event = getattr(prior, "event_shape", None)
    if event is not None and len(event) == 1:
        return int(event[0])
    sample = prior.sample((2,))
    if not isinstance(sample, Tensor) or sample.ndim != 2:
        fail(
            "prior",
            "samples of shape (num, num_params)",
            sample if isinstance(sample, Tensor) else type(sample).__name__,
            "Wrap a scalar distribution with torch.distributions.Independent "
            "or use neurodyn.priors.BoxUniform.",
        )
    return int(sample.shape[1])


def box_bounds(prior: Any) -> tuple[Tensor, Tensor] | None:
    """``(low, high)`` (each ``(num_params,)``, on the CPU) of a box-uniform prior, else ``None``.

    Recognises ``neurodyn.priors.BoxUniform`` (``low``/``high``), ``sbi``'s ``BoxUniform`` and
    ``Independent(Uniform)`` (``base_dist.low``/``base_dist.high``).

    Example:
        >>> box_bounds(BoxUniform([0.0, -1.0], [1.0, 1.0]))[1]
        tensor([1., 1.])
    """
    for holder in (prior, getattr(prior, "base_dist", None)):
        low, high = getattr(holder, "low", None), getattr(holder, "high", None)
        if isinstance(low, Tensor) and isinstance(high, Tensor):
            low, high = low.detach().cpu().flatten(), high.detach().cpu().flatten()
            if low.shape == high.shape and bool((high > low).all()):
                if bool(torch.isfinite(low).all() and torch.isfinite(high).all()):
                    return low, high
    return None


def prior_log_prob(prior: Any, theta: Tensor) -> Tensor:
    """``prior.log_prob(theta)`` on ``theta``'s device and dtype (``-inf`` outside support)."""
    dev = theta.device
    low = getattr(prior, "low", None)
    if isinstance(low, Tensor) and low.device != dev and hasattr(prior, "to"):
        prior = prior.to(dev)
        return prior.log_prob(theta).to(theta.dtype)
    p_dev = low.device if isinstance(low, Tensor) else dev
    try:
        try:
            lp = prior.log_prob(theta.to(p_dev))
        except RuntimeError:  # prior parameters on another device (e.g. CPU prior, CUDA data)
            p_dev = torch.device("cpu")
            lp = prior.log_prob(theta.to(p_dev))
    except ValueError:  # torch distributions with validate_args reject out-of-support values
        inside = in_support(prior, theta.to(p_dev))
        safe = torch.where(inside[..., None], theta.to(p_dev), prior.sample(()).to(p_dev))
        lp = torch.where(
            inside, prior.log_prob(safe), torch.full_like(inside, -torch.inf, dtype=theta.dtype)
        )
    return lp.to(device=dev, dtype=theta.dtype)


def in_support(prior: Any, theta: Tensor) -> Tensor:
    """Boolean mask ``(...,)``: is ``theta`` ``(..., num_params)`` inside the prior's support.

    Works when the prior lives on another device than ``theta`` (the check then runs on the
    prior's device, or on the CPU).
    """
    support = getattr(prior, "support", None)
    if support is not None:
        low = getattr(prior, "low", None)
        for t in (theta.to(low.device) if isinstance(low, Tensor) else theta, theta.cpu()):
            try:
                ok = support.check(t)
            except (NotImplementedError, RuntimeError, AttributeError):
                continue
            if ok.shape == theta.shape:
                ok = ok.all(-1)
            if ok.shape == theta.shape[:-1]:
                return ok.to(theta.device)
    with torch.no_grad():
        return torch.isfinite(prior_log_prob(prior, theta))


def _floats(t: Tensor) -> list[float]:
    return [float(v) for v in t.detach().cpu().reshape(-1)]


def prior_to_dict(prior: Any) -> dict[str, Any]:
    """JSON description of a supported prior (``TypeError`` for others).

    Example:
        >>> prior_to_dict(BoxUniform([0.0], [2.0]))["type"]
        'BoxUniform'
    """
    if isinstance(prior, (BoxUniform, LogUniform)):
        return {
            "type": type(prior).__name__,
            "low": _floats(prior.low),
            "high": _floats(prior.high),
            "param_names": list(prior.param_names),
            "units": list(prior.units),
        }
    if isinstance(prior, Independent) and isinstance(prior.base_dist, Uniform):
        return {
            "type": "IndependentUniform",
            "low": _floats(prior.base_dist.low),
            "high": _floats(prior.base_dist.high),
            "reinterpreted": prior.reinterpreted_batch_ndims,
        }
    if isinstance(prior, Independent) and isinstance(prior.base_dist, Normal):
        return {
            "type": "IndependentNormal",
            "loc": _floats(prior.base_dist.loc),
            "scale": _floats(prior.base_dist.scale),
        }
    if isinstance(prior, MultivariateNormal):
        n = prior.loc.shape[-1]
        return {
            "type": "MultivariateNormal",
            "loc": _floats(prior.loc),
            "covariance": _floats(prior.covariance_matrix),
            "dim": n,
        }
    fail(
        "prior",
        "BoxUniform, LogUniform, Independent(Uniform|Normal) or MultivariateNormal to be saved",
        type(prior).__name__,
        "Save the weights with another prior type by rebuilding it yourself.",
        exc=TypeError,
    )


def prior_from_dict(data: dict[str, Any], device: torch.device | str = "cpu") -> Any:
    """Inverse of :func:`prior_to_dict`."""
    kind = data.get("type")
    t = lambda key: torch.tensor(data[key], dtype=torch.get_default_dtype(), device=device)  # noqa: E731
    if kind == "BoxUniform":
        return BoxUniform(
            t("low"), t("high"), param_names=data["param_names"], units=data["units"], device=device
        )
    if kind == "LogUniform":
        return LogUniform(
            t("low"), t("high"), param_names=data["param_names"], units=data["units"], device=device
        )
    if kind == "IndependentUniform":
        return Independent(Uniform(t("low"), t("high")), int(data["reinterpreted"]))
    if kind == "IndependentNormal":
        return Independent(Normal(t("loc"), t("scale")), 1)
    if kind == "MultivariateNormal":
        n = int(data["dim"])
        return MultivariateNormal(t("loc"), covariance_matrix=t("covariance").reshape(n, n))
    fail(
        "prior",
        "a known prior type in the saved file",
        kind,
        "The file was written by an unknown version.",
    )
