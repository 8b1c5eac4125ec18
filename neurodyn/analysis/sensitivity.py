"""Active subspaces: directions in parameter space along which a quantity changes most.

``M = E_{theta ~ q(theta | x_o)}[ ∇f(theta) ∇f(theta)ᵀ ]`` estimated by Monte Carlo over
posterior samples, with each gradient multiplied by the prior standard deviation (so ``M`` and
its eigenvectors live in z-scored prior space and broad priors do not dominate). ``f`` is the
posterior log-density (the sensitivity of the posterior itself: for a Gaussian posterior
``M`` is its precision matrix in z-space) or any differentiable function of ``theta``, e.g. a
regression network predicting energy consumption (Deistler et al., PNAS 2022).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from neurodyn._validation import check_positive, check_tensor, fail
from neurodyn.analysis._density import ZDensity, prior_moments

__all__ = ["ActiveSubspaceResult", "sensitivity"]


@dataclass(frozen=True)
class ActiveSubspaceResult:
    """Result of :func:`sensitivity`.

    Attributes:
        eigenvalues: ``(num_params,)``, largest first.
        eigenvectors: ``(num_params, num_params)``; column ``k`` is the unit z-space direction
            of ``eigenvalues[k]``. Sign: the direction along which ``f`` increases on average
            (positive projection on the mean gradient) when that mean projection differs from
            0 by more than 3 standard errors; otherwise the entry of largest magnitude is made
            positive (for ``f = log q`` the mean gradient vanishes in expectation).
        matrix: the estimated ``M`` ``(num_params, num_params)`` (z-space).
        mean_gradient: mean z-space gradient ``(num_params,)``.
        gradients: per-sample z-space gradients ``(num_samples, num_params)``.
        theta: the samples ``(num_samples, num_params)``.
        scale: the prior standard deviations used to scale the gradients ``(num_params,)``.
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    matrix: torch.Tensor
    mean_gradient: torch.Tensor
    gradients: torch.Tensor
    theta: torch.Tensor
    scale: torch.Tensor

    def theta_direction(self, k: int = 0) -> torch.Tensor:
        """Eigenvector ``k`` mapped to parameter units (``scale * v_k``; not normalised)."""
        return self.scale * self.eigenvectors[:, k]


def _function_gradients(function: Callable, theta: torch.Tensor) -> torch.Tensor:
    th = theta.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = function(th)
        if not isinstance(out, torch.Tensor):
            fail(
                "function", "a callable returning a torch.Tensor", type(out).__name__, exc=TypeError
            )
        out = out.reshape(-1) if out.numel() == theta.shape[0] else out
        if out.shape != (theta.shape[0],):
            fail(
                "function",
                f"a callable returning shape ({theta.shape[0]},) for "
                f"theta of shape {tuple(theta.shape)}",
                f"shape {tuple(out.shape)}",
            )
        if not out.requires_grad:
            fail(
                "function",
                "a differentiable torch function of theta",
                "an output without gradient",
                "Write f with torch operations (no numpy, no .detach()).",
            )
        (grad,) = torch.autograd.grad(out.sum(), th)
    return grad


def sensitivity(
    posterior: Any,
    x_o: Any = None,
    *,
    function: Callable[[torch.Tensor], torch.Tensor] | None = None,
    theta: Any = None,
    num_samples: int = 1000,
    prior: Any = None,
    scale_by_prior: bool = True,
    gradient: str = "auto",
) -> ActiveSubspaceResult:
    """Active subspace of ``f`` under the posterior (sensitivity analysis).

    Args:
        posterior: object with ``sample``/``log_prob`` (neurodyn, ``sbi`` or torch).
        x_o: observation ``(num_features,)``; ``None`` uses the posterior's default.
        function: ``f(theta (n, num_params)) -> (n,)``, differentiable with torch autograd;
            ``None`` analyses ``f = log q(theta | x_o)`` (``gradient`` selects autograd or
            finite differences for it).
        theta: samples ``(num_samples, num_params)`` to average over; ``None`` draws
            ``num_samples`` from ``posterior.sample((num_samples,), x=x_o)``.
        num_samples: Monte Carlo samples when ``theta`` is ``None`` (PNAS: 1000).
        prior: prior whose standard deviations scale the gradients; ``None`` uses
            ``posterior.prior``.
        scale_by_prior: multiply gradients by the prior sd (z-space, the sbi/PNAS default).
        gradient: ``"auto"``, ``"autograd"`` or ``"finite_difference"`` (log q only).

    Returns:
        An :class:`ActiveSubspaceResult` with eigenvalues in descending order.

    Example:
        >>> from torch.distributions import MultivariateNormal
        >>> from neurodyn.priors import BoxUniform
        >>> q = MultivariateNormal(torch.zeros(2), torch.diag(torch.tensor([0.01, 1.0])))
        >>> prior = BoxUniform([-3.0, -3.0], [3.0, 3.0])
        >>> res = sensitivity(q, prior=prior, num_samples=2000)
        >>> res.eigenvectors[:, 0].abs().round().tolist()  # the narrow direction is sensitive
        [1.0, 0.0]
    """
    need_sample = theta is None
    if function is None:
        dens = ZDensity(posterior, x_o, prior, gradient=gradient, need_sample=need_sample)
        prior, dim = dens.prior, dens.dim
        dtype, device = dens.dtype, dens.device
    else:
        if not callable(function):
            fail("function", "a callable f(theta) -> (n,)", type(function).__name__, exc=TypeError)
        if need_sample and not callable(getattr(posterior, "sample", None)):
            fail(
                "posterior",
                "an object with a sample(sample_shape, x=...) method",
                type(posterior).__name__,
                exc=TypeError,
            )
        if prior is None:
            prior = getattr(posterior, "prior", None)
            if prior is None and scale_by_prior:
                fail(
                    "prior",
                    "a prior distribution",
                    None,
                    "The posterior has no .prior attribute; pass prior=... explicitly.",
                )
        dens = None
    if prior is not None:
        mean, sd = prior_moments(prior)
        dim, dtype, device = mean.numel(), sd.dtype, sd.device
    if theta is None:
        num_samples = check_positive("num_samples", num_samples, integer=True)
        if dens is not None:
            x = dens.x_o
        else:
            x = None if x_o is None else check_tensor("x_o", x_o, ndim=(1, 2))
        with torch.no_grad():
            samples = (
                posterior.sample((num_samples,), x=x)
                if x is not None
                else posterior.sample((num_samples,))
            )
        theta = torch.as_tensor(samples).reshape(num_samples, -1)
    theta = check_tensor("theta", theta, ndim=2)
    if prior is not None:
        if theta.shape[1] != dim:
            fail("theta", f"samples of {dim} parameters (the prior's dimension)", theta)
        theta = theta.to(device, dtype)
        sd = sd.to(device, dtype)
    else:
        sd = torch.ones(theta.shape[1], dtype=theta.dtype, device=theta.device)
    if theta.shape[0] < 2:
        fail("theta", "at least 2 samples", theta)

    if dens is not None:
        _, gz = dens.value_and_grad(dens.to_z(theta))  # gradient w.r.t. z = sd * grad_theta
        grads = gz if scale_by_prior else gz / sd
    else:
        g = _function_gradients(function, theta)
        grads = g * sd if scale_by_prior else g
    grads = grads.detach().to(torch.float64)
    if not bool(torch.isfinite(grads).all()):
        bad = int((~torch.isfinite(grads).all(-1)).sum())
        fail(
            "theta",
            "points where f has a finite gradient",
            f"{bad} samples with NaN/inf gradients",
            "Check f (or log_prob) at the samples.",
        )
    matrix = grads.T @ grads / grads.shape[0]
    evals, evecs = torch.linalg.eigh(matrix)
    evals, evecs = evals.flip(0), evecs.flip(1)
    mean_grad = grads.mean(0)
    proj = grads @ evecs  # (n, d): projections of each gradient on each eigenvector
    mean_proj = proj.mean(0)
    stderr = proj.std(0) / grads.shape[0] ** 0.5
    significant = mean_proj.abs() > 3 * stderr
    largest = evecs.gather(0, evecs.abs().argmax(0, keepdim=True))[0]
    sign = torch.where(significant, torch.sign(mean_proj), torch.sign(largest))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    evecs = evecs * sign
    return ActiveSubspaceResult(
        eigenvalues=evals,
        eigenvectors=evecs,
        matrix=matrix,
        mean_gradient=mean_grad,
        gradients=grads,
        theta=theta.detach(),
        scale=sd.to(torch.float64),
    )
