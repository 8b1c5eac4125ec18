"""The amortised posterior returned by :meth:`NPE.build_posterior`.

:class:`Posterior` calls like an ``sbi`` posterior (``sample((n,), x=x_o)``,
``log_prob(theta, x=x_o)``, ``set_default_x``, ``map``), restricts samples to the prior's
support by rejection (reporting the acceptance rate and raising instead of looping when almost
all mass leaks out), evaluates many observations at once (``sample_batched``,
``log_prob_batched``) and saves to safetensors + JSON.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

import neurodyn
from neurodyn._runtime import resolve_device
from neurodyn._validation import check_positive, check_probability, check_tensor, fail
from neurodyn.inference.config import NPEConfig, config_from_dict
from neurodyn.inference.estimator import ConditionalDensity
from neurodyn.inference.priors_io import (
    box_bounds,
    in_support,
    prior_from_dict,
    prior_to_dict,
)
from neurodyn.inference.restriction import AcceptRejectPrior

__all__ = ["FORMAT", "LeakageError", "Posterior"]

FORMAT = "neurodyn.posterior/1"


class LeakageError(RuntimeError):
    """Almost all posterior mass lies outside the prior support."""


def read_saved_meta(path: Path, name: str, fmt: str, writer: str, hint: str) -> dict[str, Any]:
    """The JSON file ``path / name`` of a saved folder, checked to exist and to be ``fmt``.

    Raises ``FileNotFoundError`` (naming ``writer``, e.g. ``"Posterior.save"``, and ``hint``)
    when the file is missing, and ``ValueError`` when its ``format`` is not ``fmt``.
    """
    meta_file = path / name
    if not meta_file.is_file():
        fail(
            "path",
            f"a folder written by {writer} (with {name})",
            str(path),
            hint,
            exc=FileNotFoundError,
        )
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != fmt:
        fail("path", f"a file in format {fmt!r}", meta.get("format"))
    return meta


class Posterior:
    """Amortised posterior ``q(theta | x)`` restricted to the prior support.

    Args:
        estimator: the trained conditional density.
        prior: the prior (its support restricts the samples).
        config: the estimator settings (saved with the weights).
        min_acceptance: sampling raises :class:`LeakageError` when the fraction of samples
            inside the support falls below this (after at least 10 000 proposals).
        max_sampling_batch: most flow samples drawn at once.

    Attributes:
        acceptance_rate: fraction of flow samples inside the support in the last
            ``sample`` call (a float, or a tensor ``(B,)`` after ``sample_batched``).

    Example:
        >>> from neurodyn.inference import NPE, NPEConfig
        >>> from neurodyn.priors import BoxUniform
        >>> prior = BoxUniform([-2.0], [2.0])
        >>> theta = prior.sample((500,)); x = theta + 0.1 * torch.randn(500, 1)
        >>> npe = NPE(prior, NPEConfig(num_transforms=1, max_epochs=5))
        >>> post = npe.append_simulations(theta, x).train_and_build()
        >>> post.sample((10,), x=torch.tensor([0.5])).shape
        torch.Size([10, 1])
        >>> post.log_prob(torch.zeros(3, 1), x=torch.tensor([0.5])).shape
        torch.Size([3])
    """

    def __init__(
        self,
        estimator: ConditionalDensity,
        prior: Any,
        *,
        config: NPEConfig,
        min_acceptance: float = 1e-3,
        max_sampling_batch: int = 100_000,
    ) -> None:
        self.estimator = estimator.eval()
        self.prior = prior
        self.config = config
        self.num_params = estimator.num_params
        self.x_shape = estimator.x_shape
        self.min_acceptance = check_probability("min_acceptance", min_acceptance)
        self.max_sampling_batch = check_positive(
            "max_sampling_batch", max_sampling_batch, integer=True
        )
        self.default_x: Tensor | None = None
        self.acceptance_rate: float | Tensor = math.nan
        self._norm_cache: dict[bytes, float] = {}
        self.param_names = tuple(
            getattr(prior, "param_names", ()) or (f"theta_{i}" for i in range(self.num_params))
        )

    @property
    def device(self) -> torch.device:
        """Device of the estimator's weights."""
        return self.estimator.theta_mean.device

    # ---------------------------------------------------------------- inputs
    def _x(self, x: Any, *, batched: bool) -> Tensor:
        if x is None:
            if self.default_x is None:
                fail(
                    "x",
                    "an observation (or set_default_x first)",
                    None,
                    "Pass x=x_o or call posterior.set_default_x(x_o).",
                )
            x = self.default_x
        name = "x"
        x = check_tensor(name, x, finite=False, dtype=torch.get_default_dtype(), device=self.device)
        shape = self.x_shape
        if tuple(x.shape) == shape:
            x = x[None]
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            fail(
                name,
                f"shape {shape} (or (num_x, *{shape}))",
                x,
                "Pass the observation with the feature layout used in training.",
            )
        if not batched and x.shape[0] != 1:
            fail(
                name,
                f"one observation of shape {shape}",
                x,
                "Use sample_batched/log_prob_batched for several observations.",
            )
        if not bool(torch.isfinite(x).all()):
            fail(
                name,
                "finite values",
                f"{int((~torch.isfinite(x)).sum())} NaN/inf entries",
                "An invalid observation has no posterior; check the features.",
            )
        return x

    def set_default_x(self, x: Any) -> Posterior:
        """Store ``x`` as the observation used when ``x=None``; returns ``self``."""
        self.default_x = self._x(x, batched=False)
        return self

    def _theta(self, theta: Any) -> Tensor:
        theta = check_tensor(
            "theta",
            theta,
            ndim=(1, 2, 3),
            last_dim=self.num_params,
            finite=False,
            dtype=torch.get_default_dtype(),
            device=self.device,
        )
        return theta

    # -------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_batched(self, sample_shape: tuple[int, ...] | torch.Size, x: Any) -> Tensor:
        """Samples for each of several observations.

        Args:
            sample_shape: samples per observation, e.g. ``(1000,)``.
            x: observations ``(num_x, *x_shape)``.

        Returns:
            ``(*sample_shape, num_x, num_params)``, all inside the prior support.
        """
        x = self._x(x, batched=True)
        num = math.prod(sample_shape)
        b = x.shape[0]
        out = torch.empty(num, b, self.num_params, device=self.device)
        have = torch.zeros(b, dtype=torch.long)
        drawn = torch.zeros(b, dtype=torch.long)
        accepted = torch.zeros(b, dtype=torch.long)
        todo = torch.arange(b)
        while num and todo.numel():
            rate = (accepted[todo].double() / drawn[todo].clamp_min(1)).where(
                drawn[todo] > 0, torch.ones(todo.numel(), dtype=torch.float64)
            )
            need = float(((num - have[todo]).double() / rate.clamp_min(self.min_acceptance)).max())
            per_x = max(1, min(math.ceil(1.1 * need) + 8, self.max_sampling_batch // todo.numel()))
            cand = self.estimator.sample(per_x, x[todo.to(self.device)])  # (per_x, T, D)
            ok = in_support(self.prior, cand).cpu()
            for col, j in enumerate(todo.tolist()):
                good = cand[ok[:, col], col]
                take = min(good.shape[0], num - int(have[j]))
                out[have[j] : have[j] + take, j] = good[:take]
                have[j] += take
                drawn[j] += per_x
                accepted[j] += int(ok[:, col].sum())
            rate_now = accepted.double() / drawn.clamp_min(1)
            leaking = (drawn >= 10_000) & (rate_now < self.min_acceptance) & (have < num)
            if bool(leaking.any()):
                j = int(torch.nonzero(leaking)[0, 0])
                self.acceptance_rate = rate_now
                raise LeakageError(
                    f"posterior: only {int(accepted[j])} of {int(drawn[j])} samples "
                    f"({float(rate_now[j]):.2e}) for observation {j} lie inside the prior "
                    f"support (min_acceptance={self.min_acceptance:g}). The density estimator "
                    "puts almost all mass outside the prior: check that x_o is within the "
                    "range of the simulations, or train with more simulations." + self._logit_hint()
                )
            todo = torch.nonzero(have < num).flatten()
        self.acceptance_rate = accepted.double() / drawn.clamp_min(1)
        low = float(self.acceptance_rate.min()) if b else 1.0
        if num and low < 0.1:
            warnings.warn(
                f"posterior: only {low:.1%} of samples were inside the prior "
                "support (acceptance rate)." + self._logit_hint(),
                stacklevel=2,
            )
        return out.reshape(*sample_shape, b, self.num_params)

    def _logit_hint(self) -> str:
        """Advice appended to leakage messages when the logit transform would remove it."""
        if self.config.theta_transform == "logit" or box_bounds(self.prior) is None:
            return ""
        return (
            ' The prior is a box: NPEConfig(theta_transform="logit") models theta inside it '
            "(no leakage; benchmarks/RESULTS.md compares both)."
        )

    def sample(self, sample_shape: tuple[int, ...] | torch.Size = (), x: Any = None) -> Tensor:
        """Samples ``(*sample_shape, num_params)`` from ``q(theta | x)`` within the prior support.

        Args:
            sample_shape: e.g. ``(1000,)``.
            x: the observation ``x_shape`` or ``(1, *x_shape)``; ``None`` uses the default.
        """
        x = self._x(x, batched=False)
        samples = self.sample_batched(sample_shape, x)[..., 0, :]
        self.acceptance_rate = float(self.acceptance_rate[0])
        return samples

    # ----------------------------------------------------------- densities
    @torch.no_grad()
    def _log_norm(self, x: Tensor, num_samples: int = 10_000) -> Tensor:
        """``log P(theta in support | x)`` per observation ``(B,)`` (cached)."""
        out = torch.empty(x.shape[0], device=self.device)
        for i in range(x.shape[0]):
            key = x[i].cpu().numpy().tobytes()
            if key not in self._norm_cache:
                with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
                    torch.manual_seed(0)  # log_prob must not depend on the global RNG
                    cand = self.estimator.sample(num_samples, x[i : i + 1])[:, 0]
                rate = float(in_support(self.prior, cand).double().mean())
                self._norm_cache[key] = math.log(max(rate, 1.0 / num_samples))
            out[i] = self._norm_cache[key]
        return out

    @torch.no_grad()
    def log_prob_batched(self, theta: Any, x: Any, *, normalize: bool = True) -> Tensor:
        """``log q(theta | x)`` for parameters ``(num, num_x, D)`` and ``x`` ``(num_x, ...)``.

        Returns ``(num, num_x)``; ``-inf`` outside the prior support. With ``normalize`` the
        density is divided by the in-support mass (estimated from 10 000 samples per x).
        """
        x = self._x(x, batched=True)
        theta = self._theta(theta)
        if theta.ndim == 2:
            theta = theta[:, None] if x.shape[0] == 1 else theta[None]
        lp = self.estimator.log_prob_context(theta, self.estimator.context(x))
        if normalize:
            lp = lp - self._log_norm(x)
        return torch.where(in_support(self.prior, theta), lp, torch.full_like(lp, -torch.inf))

    @torch.no_grad()
    def log_prob(self, theta: Any, x: Any = None, *, normalize: bool = True) -> Tensor:
        """``log q(theta | x)`` for ``theta`` ``(num, num_params)`` -> ``(num,)``.

        ``-inf`` outside the prior support; ``normalize`` corrects for the mass the flow puts
        outside the support (estimated once per observation from 10 000 samples).
        """
        x = self._x(x, batched=False)
        theta = self._theta(theta)
        squeeze = theta.ndim == 1
        theta = theta.reshape(-1, self.num_params)
        lp = self.log_prob_batched(theta[:, None], x, normalize=normalize)[:, 0]
        return lp[0] if squeeze else lp

    def map(
        self,
        x: Any = None,
        *,
        num_init: int = 1000,
        num_steps: int = 300,
        learning_rate: float = 0.01,
    ) -> Tensor:
        """Maximum of ``q(theta | x)`` within the prior support, shape ``(num_params,)``.

        Gradient ascent (Adam) from the 10 most probable of ``num_init`` posterior samples,
        in unconstrained coordinates of the prior support.
        """
        x = self._x(x, batched=False)
        init = self.sample((num_init,), x)
        with torch.no_grad():
            lp = self.estimator.log_prob(init, x.expand(num_init, *self.x_shape))
        start = init[lp.topk(min(10, num_init)).indices]
        support = getattr(self.prior, "support", None)
        bij = torch.distributions.biject_to(support) if support is not None else None
        if bij is not None:
            start = (
                start.clamp(*_bounds(self.prior, start)) if hasattr(self.prior, "low") else start
            )
        u = (bij.inv(start) if bij is not None else start).detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([u], lr=learning_rate)
        ctx = self.estimator.context(x).detach().expand(u.shape[0], -1)
        for _ in range(num_steps):
            theta = bij(u) if bij is not None else u
            loss = -self.estimator.log_prob_context(theta, ctx).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            theta = bij(u) if bij is not None else u
            lp = self.estimator.log_prob_context(theta, ctx)
            lp = torch.where(torch.isfinite(lp), lp, torch.full_like(lp, -torch.inf))
            return theta[int(lp.argmax())].detach()

    def truncated_prior(
        self, x: Any = None, *, quantile: float = 1e-4, num_samples: int = 10_000
    ) -> AcceptRejectPrior:
        """Prior truncated to the ``1 - quantile`` highest-probability region at ``x`` (TSNPE).

        The region is ``{theta : log q(theta|x) >= tau}``, ``tau`` the ``quantile`` of
        ``log q`` over ``num_samples`` posterior samples.
        """
        check_probability("quantile", quantile)
        x = self._x(x, batched=False)
        with torch.no_grad():
            samples = self.sample((num_samples,), x)
            lp = self.estimator.log_prob(samples, x.expand(num_samples, *self.x_shape))
            tau = float(torch.quantile(lp.double().cpu(), quantile))
        # a frozen copy: later training rounds must not move the region of this proposal
        frozen = copy.deepcopy(self.estimator).eval()

        def accept(theta: Tensor) -> Tensor:
            with torch.no_grad():
                th = theta.to(self.device, torch.get_default_dtype())
                out = [
                    frozen.log_prob(c, x.expand(c.shape[0], *self.x_shape)) for c in th.split(65536)
                ]
                return (torch.cat(out) >= tau).to(theta.device)

        return AcceptRejectPrior(self.prior, accept, min_acceptance=1e-5)

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path) -> Path:
        """Write ``path/posterior.json`` and ``path/weights.safetensors`` (no pickle)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "neurodyn_version": neurodyn.__version__,
            "config": self.config.to_dict(),
            "num_params": self.num_params,
            "x_shape": list(self.x_shape),
            "prior": prior_to_dict(self.prior),
            "param_names": list(self.param_names),
            "min_acceptance": self.min_acceptance,
            "default_x": None
            if self.default_x is None
            else self.default_x[0].cpu().reshape(-1).tolist(),
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.estimator.state_dict().items()}
        save_file(tensors, str(path / "weights.safetensors"))
        (path / "posterior.json").write_text(json.dumps(meta, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> Posterior:
        """Load a posterior written by :meth:`save`."""
        path = Path(path)
        meta = read_saved_meta(path, "posterior.json", FORMAT, "Posterior.save", "Check the path.")
        dev = resolve_device(device)
        config = config_from_dict(meta["config"])
        est = ConditionalDensity(config, int(meta["num_params"]), tuple(meta["x_shape"]))
        est.load_state_dict(load_file(str(path / "weights.safetensors")))
        post = cls(
            est.to(dev),
            prior_from_dict(meta["prior"], device=dev),
            config=config,
            min_acceptance=float(meta["min_acceptance"]),
        )
        if meta.get("default_x") is not None:
            post.set_default_x(torch.tensor(meta["default_x"]).reshape(post.x_shape))
        return post

    def __repr__(self) -> str:
        return (
            f"Posterior(estimator={self.config.estimator!r}, num_params={self.num_params}, "
            f"x_shape={self.x_shape})"
        )


def _bounds(prior: Any, like: Tensor) -> tuple[Tensor, Tensor]:
    low = prior.low.to(like)
    high = prior.high.to(like)
    eps = 1e-6 * (high - low)
    return low + eps, high - eps
