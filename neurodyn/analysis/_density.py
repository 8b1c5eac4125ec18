"""Posterior log-densities in z-scored prior space, with gradients (internal).

Every analysis function works in the z-scored parameter space of the eLife paper,
``z = (theta - prior mean) / prior sd``, where a uniform prior maps to ``[-sqrt(3), sqrt(3)]``
per dimension. :class:`ZDensity` wraps any object with ``log_prob`` (and ``sample``): a
neurodyn ``Posterior``, an ``sbi`` posterior, or a plain :mod:`torch.distributions` object.
"""

from __future__ import annotations

from typing import Any

import torch

from neurodyn._runtime import accepts_keyword
from neurodyn._validation import check_choice, check_positive, check_tensor, fail

__all__ = ["ZDensity", "prior_box", "prior_moments"]

#: Distance (z-units) kept from the box faces when a point is clipped into the prior box, so
#: that posteriors returning ``-inf`` on the closed upper face (torch ``Uniform``) stay finite.
CLIP_MARGIN = 1e-6


def prior_moments(prior: Any, dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of ``prior`` (each ``(num_params,)``).

    Uses the analytic ``prior.mean``/``prior.stddev`` when the distribution provides them, the
    closed form for :class:`neurodyn.priors.LogUniform`, and otherwise 100 000 samples drawn
    under a fixed seed.
    """
    from neurodyn.priors import LogUniform

    if isinstance(prior, LogUniform):
        lo, hi = prior.low.double(), prior.high.double()
        span = hi.log() - lo.log()
        mean = (hi - lo) / span
        second = (hi**2 - lo**2) / (2 * span)
        sd = (second - mean**2).clamp_min(0).sqrt()
        return mean.to(prior.low.dtype), sd.to(prior.low.dtype)
    try:
        mean = torch.as_tensor(prior.mean)
        sd = torch.as_tensor(prior.stddev)
        analytic = bool(torch.isfinite(mean).all() and torch.isfinite(sd).all())
    except (NotImplementedError, AttributeError):  # torch raises it for unknown moments
        analytic = False
    if not analytic:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            samples = prior.sample((100_000,))
        mean, sd = samples.mean(0), samples.std(0)
    mean, sd = mean.reshape(-1), sd.reshape(-1)
    if dim is not None and mean.numel() != dim:
        fail("prior", f"a distribution over {dim} parameters", f"{mean.numel()} parameters")
    if not bool((sd > 0).all()):
        fail("prior", "a positive standard deviation in every dimension", sd)
    return mean, sd


def prior_box(prior: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Lower/upper bounds ``(num_params,)`` of a box-shaped prior, or ``None``.

    Reads ``prior.low``/``prior.high`` (neurodyn priors) or the interval constraint of
    ``prior.support`` (``sbi``'s ``BoxUniform``, ``torch`` ``Independent(Uniform)``).
    Unbounded directions get ``-inf``/``inf``.
    """
    low, high = getattr(prior, "low", None), getattr(prior, "high", None)
    if not (isinstance(low, torch.Tensor) and isinstance(high, torch.Tensor)):
        try:
            c = prior.support
        except (NotImplementedError, AttributeError):
            return None
        while hasattr(c, "base_constraint"):
            c = c.base_constraint
        low, high = getattr(c, "lower_bound", None), getattr(c, "upper_bound", None)
        if low is None or high is None:
            return None
    low, high = torch.as_tensor(low).reshape(-1), torch.as_tensor(high).reshape(-1)
    return low, high


def _num_features(posterior: Any) -> int | None:
    n = getattr(posterior, "num_features", None)
    if isinstance(n, int):
        return n
    shape = getattr(posterior, "_x_shape", None)  # sbi posteriors
    if shape is not None and len(shape) > 0:
        return int(shape[-1])
    est = getattr(posterior, "posterior_estimator", None)  # sbi >= 0.23
    shape = getattr(est, "condition_shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[-1])
    default = getattr(posterior, "default_x", None)
    if isinstance(default, torch.Tensor):
        return int(default.shape[-1])
    return None


class ZDensity:
    """``log q(z | x_o)`` of a posterior in z-scored prior space.

    ``log q_z(z) = log q(theta | x_o) + sum(log sd)`` with ``theta = mean + sd * z``.

    Args:
        posterior: object with ``log_prob(theta, x=...)`` (and ``sample`` when needed).
        x_o: observation ``(num_features,)`` or ``(1, num_features)``; ``None`` uses the
            posterior's default observation (or, for a plain distribution, no observation).
        prior: prior; ``None`` uses ``posterior.prior``.
        gradient: ``"auto"`` (autograd when the log-density is differentiable, else central
            finite differences), ``"autograd"`` or ``"finite_difference"``.
        fd_step: finite-difference step in z-units; ``None`` uses the cube root of the
            machine epsilon of the posterior's dtype (the optimal step for central
            differences: 6e-6 in float64, 5e-3 in float32).
        need_sample: require a ``sample`` method.
    """

    def __init__(
        self,
        posterior: Any,
        x_o: Any = None,
        prior: Any = None,
        *,
        gradient: str = "auto",
        fd_step: float | None = None,
        need_sample: bool = False,
    ) -> None:
        if not callable(getattr(posterior, "log_prob", None)):
            fail(
                "posterior",
                "an object with a log_prob(theta, x=...) method (a neurodyn or "
                "sbi posterior, or a torch Distribution)",
                type(posterior).__name__,
                exc=TypeError,
            )
        if need_sample and not callable(getattr(posterior, "sample", None)):
            fail(
                "posterior",
                "an object with a sample(sample_shape, x=...) method",
                type(posterior).__name__,
                exc=TypeError,
            )
        self.posterior = posterior
        self.gradient = check_choice(
            "gradient", gradient, ("auto", "autograd", "finite_difference")
        )
        if prior is None:
            prior = getattr(posterior, "prior", None)
            if prior is None:
                fail(
                    "prior",
                    "a prior distribution",
                    None,
                    "The posterior has no .prior attribute; pass prior=... explicitly.",
                )
        if not callable(getattr(prior, "log_prob", None)):
            fail("prior", "a distribution with log_prob", type(prior).__name__, exc=TypeError)
        self.prior = prior
        mean, sd = prior_moments(prior)
        self.dtype = mean.dtype if mean.is_floating_point() else torch.get_default_dtype()
        self.device = mean.device
        self.mean, self.sd = mean.to(self.dtype), sd.to(self.dtype)
        if fd_step is None:
            fd_step = torch.finfo(self.dtype).eps ** (1 / 3)
        self.fd_step = check_positive("fd_step", fd_step)
        self.dim = int(mean.numel())
        self.log_sd_sum = float(self.sd.double().log().sum())
        box = prior_box(prior)
        if box is None:
            self.low_z = self.high_z = None
        else:
            lo, hi = (b.to(self.device, self.dtype).expand(self.dim) for b in box)
            self.low_z, self.high_z = (lo - self.mean) / self.sd, (hi - self.mean) / self.sd
        self._takes_x = accepts_keyword(posterior.log_prob, "x", unknown=True)
        self._takes_track = accepts_keyword(posterior.log_prob, "track_gradients", unknown=True)
        self.x_o = self._check_x_o(x_o)
        # sbi posteriors re-estimate their leakage normalisation (thousands of samples) on
        # every log_prob call at a non-default x: estimate it once and add it as a constant
        self._norm_offset: float | None = None
        self._takes_norm = self.x_o is not None and accepts_keyword(
            posterior.log_prob, "norm_posterior", unknown=True
        )
        self._autograd_ok: bool | None = None if gradient == "auto" else gradient == "autograd"

    # ----------------------------------------------------------------------------- inputs
    def _check_x_o(self, x_o: Any) -> torch.Tensor | None:
        if x_o is None:
            return None
        if not self._takes_x:
            fail(
                "x_o",
                "None for a posterior whose log_prob takes no observation",
                x_o,
                "Pass x_o=None or a posterior conditioned on observations.",
            )
        x = check_tensor("x_o", x_o, ndim=(1, 2), dtype=self.dtype, device=self.device)
        if x.ndim == 2 and x.shape[0] != 1:
            fail(
                "x_o",
                "one observation of shape (num_features,) or (1, num_features)",
                x,
                "Analyse one observation at a time.",
            )
        x = x.reshape(-1)
        n = _num_features(self.posterior)
        if n is not None and x.numel() != n:
            fail("x_o", f"{n} features (the posterior's observation size)", x)
        return x

    def check_theta(self, name: str, theta: Any, *, inside: bool = True) -> torch.Tensor:
        """Validate a parameter vector ``(num_params,)``; optionally inside the prior."""
        t = check_tensor(name, theta, ndim=(1, 2), dtype=self.dtype, device=self.device)
        if t.ndim == 2:
            if t.shape[0] != 1:
                fail(name, "one parameter vector of shape (num_params,)", t)
            t = t[0]
        if t.numel() != self.dim:
            fail(name, f"{self.dim} parameters (the prior's dimension)", t)
        if inside and not bool(self.inside_theta(t[None])[0]):
            fail(
                name,
                "a point inside the prior support",
                t.tolist(),
                "Use a posterior sample, or a point within the prior bounds.",
            )
        return t

    def inside_theta(self, theta: torch.Tensor) -> torch.Tensor:
        """Boolean ``(num,)``: inside the prior support (box and ``log_prob > -inf``)."""
        ok = torch.isfinite(self.prior.log_prob(theta))
        if self.low_z is not None:
            z = self.to_z(theta)
            ok = ok & ((z >= self.low_z) & (z <= self.high_z)).all(-1)
        return ok

    # ------------------------------------------------------------------------- transforms
    def to_z(self, theta: torch.Tensor) -> torch.Tensor:
        return (theta - self.mean) / self.sd

    def to_theta(self, z: torch.Tensor) -> torch.Tensor:
        return self.mean + self.sd * z

    def clip(self, z: torch.Tensor) -> torch.Tensor:
        """Project ``z`` into the prior box (kept ``CLIP_MARGIN`` inside the faces)."""
        if self.low_z is None:
            return z
        return torch.maximum(torch.minimum(z, self.high_z - CLIP_MARGIN), self.low_z + CLIP_MARGIN)

    def box_distance(self, z: torch.Tensor) -> torch.Tensor:
        """Euclidean distance ``(num,)`` of each point to the prior box (0 inside)."""
        if self.low_z is None:
            return torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
        out = torch.relu(z - self.high_z) + torch.relu(self.low_z - z)
        return torch.sqrt((out**2).sum(-1))

    # -------------------------------------------------------------------------- densities
    def log_prob_theta(self, theta: torch.Tensor, *, track: bool = False) -> torch.Tensor:
        """``posterior.log_prob(theta, x=x_o)`` as a ``(num,)`` tensor."""
        kwargs: dict[str, Any] = {}
        if self.x_o is not None:
            kwargs["x"] = self.x_o
        if track and self._takes_track:
            kwargs["track_gradients"] = True
        if self._takes_norm:
            if self._norm_offset is None:
                probe = self.mean[None]
                normed = self.posterior.log_prob(probe, x=self.x_o, norm_posterior=True)
                raw = self.posterior.log_prob(probe, x=self.x_o, norm_posterior=False)
                self._norm_offset = float(torch.as_tensor(normed - raw).reshape(-1)[0])
                if not torch.isfinite(torch.tensor(self._norm_offset)):
                    self._norm_offset = 0.0
            kwargs["norm_posterior"] = False
        theta = theta.to(self.device, self.dtype)
        with torch.set_grad_enabled(track):
            out = self.posterior.log_prob(theta, **kwargs)
        out = torch.as_tensor(out)
        if self._takes_norm:
            out = out + self._norm_offset
        if out.shape != theta.shape[:-1]:
            if out.numel() == theta.shape[0]:
                out = out.reshape(theta.shape[:-1])
            else:
                fail(
                    "posterior",
                    f"log_prob returning shape {tuple(theta.shape[:-1])}",
                    f"shape {tuple(out.shape)}",
                )
        return out

    def log_prob(self, z: torch.Tensor, *, track: bool = False) -> torch.Tensor:
        """z-space log density ``(num,)`` of points ``z`` ``(num, num_params)``."""
        return self.log_prob_theta(self.to_theta(z), track=track) + self.log_sd_sum

    def log_prob_batched(self, z: torch.Tensor, batch_size: int = 65_536) -> torch.Tensor:
        """:meth:`log_prob` without gradients, evaluated in chunks of ``batch_size`` points."""
        parts = [self.log_prob(c).detach() for c in torch.split(z, batch_size)]
        return torch.cat(parts) if parts else z.new_zeros(0)

    def value_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``log q(z)`` ``(num,)`` and its gradient ``(num, num_params)`` in z-space."""
        if self._autograd_ok is not False:
            zz = z.detach().clone().requires_grad_(True)
            lp = self.log_prob(zz, track=True)
            if lp.requires_grad:
                self._autograd_ok = True
                (grad,) = torch.autograd.grad(lp.sum(), zz)
                return lp.detach(), grad
            if self._autograd_ok:
                fail(
                    "gradient",
                    '"autograd" only for a differentiable posterior log_prob',
                    "autograd",
                    'Use gradient="finite_difference" or "auto".',
                )
            self._autograd_ok = False
        return self.log_prob(z).detach(), self.fd_grad(z)

    def fd_grad(self, z: torch.Tensor) -> torch.Tensor:
        """Finite-difference gradient ``(num, num_params)`` with step ``fd_step``.

        Central differences; one-sided where a perturbed point leaves the support (e.g. a
        sample next to a prior face), NaN where both sides do.
        """
        n, d = z.shape
        eye = torch.eye(d, dtype=z.dtype, device=z.device) * self.fd_step
        pts = torch.cat([z[:, None, :] + eye, z[:, None, :] - eye, z[:, None, :]], dim=1)
        lp = self.log_prob_batched(pts.reshape(-1, d)).reshape(n, 2 * d + 1)
        up, down, mid = lp[:, :d], lp[:, d : 2 * d], lp[:, 2 * d :]
        central = (up - down) / (2 * self.fd_step)
        forward = (up - mid) / self.fd_step
        backward = (mid - down) / self.fd_step
        ok_up, ok_down = torch.isfinite(up), torch.isfinite(down)
        nan = torch.full_like(central, float("nan"))
        return torch.where(
            ok_up & ok_down,
            central,
            torch.where(ok_up, forward, torch.where(ok_down, backward, nan)),
        )
