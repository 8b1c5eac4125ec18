"""Mixtures of independently trained posteriors (deep ensembles of density estimators).

:class:`EnsemblePosterior` combines ``K`` posteriors ``q_k(theta | x)`` with the same prior
into ``q(theta | x) = sum_k w_k q_k(theta | x)``. Members trained on the same simulations with
different seeds differ mostly where each flow's approximation error lies; the mixture averages
those errors out and is, if anything, wider than its members (a mixture of unbiased members
is never more confident than the average member). It calls like
:class:`~neurodyn.inference.Posterior` (``sample``, ``log_prob``, ``sample_batched``,
``log_prob_batched``, ``map``, ``set_default_x``, ``acceptance_rate``), so the diagnostics
(``sbc``, ``expected_coverage``, ``tarp``) and the analysis tools accept it, and saves to one
folder (each member as :meth:`Posterior.save` writes it, plus ``ensemble.json``; no pickle).

Train one with :meth:`neurodyn.inference.NPE.train_ensemble`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import neurodyn
from neurodyn._runtime import accepts_keyword, resolve_device
from neurodyn._validation import check_tensor, fail
from neurodyn.inference.posterior import Posterior, _bounds, read_saved_meta
from neurodyn.inference.priors_io import box_bounds, check_prior, prior_to_dict

__all__ = ["ENSEMBLE_FORMAT", "EnsemblePosterior"]

ENSEMBLE_FORMAT = "neurodyn.ensemble/1"


def _same_prior(a: Any, b: Any) -> bool:
    """Are two priors the same distribution (same object, same description or same box)?"""
    if a is b:
        return True
    try:
        return prior_to_dict(a) == prior_to_dict(b)
    except TypeError:
        pass
    box_a, box_b = box_bounds(a), box_bounds(b)
    if box_a is not None or box_b is not None:
        return (
            box_a is not None
            and box_b is not None
            and type(a) is type(b)
            and all(torch.equal(u, v) for u, v in zip(box_a, box_b, strict=True))
        )
    # other priors: same type and the same density at a few of a's samples
    if type(a) is not type(b):
        return False
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        t = a.sample((16,))
        return bool(torch.allclose(a.log_prob(t), b.log_prob(t.to(t)), rtol=1e-5, atol=1e-6))


class EnsemblePosterior:
    """Mixture ``q(theta | x) = sum_k w_k q_k(theta | x)`` of ``K`` posteriors.

    Args:
        posteriors: the members: :class:`~neurodyn.inference.Posterior` objects, or any
            posteriors with ``sample(sample_shape, x=...)``, ``log_prob(theta, x=...)`` and a
            ``prior`` attribute; all with the same prior and parameter dimension.
        weights: ``K`` non-negative mixture weights (normalised here); ``None``: uniform.

    Attributes:
        members: the member posteriors (a tuple).
        weights: normalised mixture weights ``(K,)`` (float64, CPU).
        prior: the common prior (the first member's).
        num_params: parameter dimension ``D``.
        x_shape: observation shape of the members (``None`` when they do not say).
        param_names: parameter names.
        acceptance_rate: fraction of all member proposals that fell inside the prior support
            in the last ``sample`` call (a float, or ``(num_x,)`` after ``sample_batched``);
            ``nan`` when a member does not report one.

    Sampling draws the component of every sample from ``Multinomial(weights)`` with torch's
    global generator (``torch.manual_seed`` makes it reproducible, as for the members), then
    member ``k`` supplies the samples assigned to it, placed at their drawn positions: each
    observation gets exactly the requested number of samples in random component order,
    whatever else is in the batch. ``log_prob`` is ``logsumexp_k(log w_k + log q_k)`` with
    each member's density normalised inside the prior support.

    Example:
        >>> from neurodyn.inference import NPE, NPEConfig
        >>> from neurodyn.priors import BoxUniform
        >>> prior = BoxUniform([-2.0], [2.0])
        >>> theta = prior.sample((500,)); x = theta + 0.1 * torch.randn(500, 1)
        >>> npe = NPE(prior, NPEConfig(num_transforms=1, max_epochs=5))
        >>> ens = npe.append_simulations(theta, x).train_ensemble(2)
        >>> ens.sample((10,), x=torch.tensor([0.5])).shape
        torch.Size([10, 1])
        >>> ens.log_prob(torch.zeros(3, 1), x=torch.tensor([0.5])).shape
        torch.Size([3])
    """

    def __init__(self, posteriors: Sequence[Any], weights: Any = None) -> None:
        if isinstance(posteriors, (str, bytes)) or not isinstance(posteriors, Sequence):
            fail(
                "posteriors",
                "a list of posteriors",
                type(posteriors).__name__,
                "Pass EnsemblePosterior([post_a, post_b, ...]).",
                exc=TypeError,
            )
        members = tuple(posteriors)
        if not members:
            fail("posteriors", "at least one posterior", "an empty list")
        for i, m in enumerate(members):
            if isinstance(m, EnsemblePosterior):
                fail(
                    f"posteriors[{i}]",
                    "a single posterior",
                    "an EnsemblePosterior",
                    "Pass its members (ensemble.members) instead of nesting ensembles.",
                    exc=TypeError,
                )
            if not (
                callable(getattr(m, "sample", None)) and callable(getattr(m, "log_prob", None))
            ):
                fail(
                    f"posteriors[{i}]",
                    "a posterior with sample() and log_prob()",
                    type(m).__name__,
                    exc=TypeError,
                )
            if getattr(m, "prior", None) is None:
                fail(
                    f"posteriors[{i}]",
                    "a posterior with a .prior attribute",
                    type(m).__name__,
                    "Set member.prior to the prior it was trained with.",
                    exc=TypeError,
                )
        self.members = members
        self.prior = members[0].prior
        dims = [int(getattr(m, "num_params", 0) or check_prior(m.prior)) for m in members]
        for i, (m, d) in enumerate(zip(members, dims, strict=True)):
            if d != dims[0]:
                fail(
                    f"posteriors[{i}]",
                    f"{dims[0]} parameters (as posteriors[0])",
                    f"{d} parameters",
                    "All members must describe the same parameters.",
                )
            if not _same_prior(self.prior, m.prior):
                fail(
                    f"posteriors[{i}].prior",
                    "the same prior as posteriors[0]",
                    m.prior,
                    "Mix only posteriors trained with the same prior.",
                )
        self.num_params = dims[0]
        shapes = {tuple(m.x_shape) for m in members if getattr(m, "x_shape", None) is not None}
        if len(shapes) > 1:
            fail(
                "posteriors",
                "members with the same observation shape",
                sorted(shapes),
                "Mix only posteriors trained on the same features.",
            )
        self.x_shape: tuple[int, ...] | None = shapes.pop() if shapes else None
        devices = {str(m.device) for m in members if getattr(m, "device", None) is not None}
        if len(devices) > 1:
            fail(
                "posteriors",
                "members on one device",
                sorted(devices),
                "Load or move all members to the same device.",
            )
        self.weights = self._weights(weights, len(members))
        names = getattr(members[0], "param_names", ()) or getattr(self.prior, "param_names", ())
        self.param_names = tuple(names) or tuple(f"theta_{i}" for i in range(self.num_params))
        self.default_x: Tensor | None = None
        self.acceptance_rate: float | Tensor = math.nan

    @staticmethod
    def _weights(weights: Any, k: int) -> Tensor:
        if weights is None:
            return torch.full((k,), 1.0 / k, dtype=torch.float64)
        w = check_tensor("weights", weights, ndim=1, dtype=torch.float64).cpu()
        if w.numel() != k:
            fail("weights", f"{k} weights (one per posterior)", w)
        if bool((w < 0).any()) or not float(w.sum()) > 0:
            fail(
                "weights",
                "non-negative weights with a positive sum",
                w.tolist(),
                "Weights are normalised to sum to 1; pass e.g. [1, 1, 2].",
            )
        return w / w.sum()

    @property
    def num_members(self) -> int:
        """Number of members ``K``."""
        return len(self.members)

    @property
    def device(self) -> torch.device:
        """Device of the members (the CPU when they do not say)."""
        dev = getattr(self.members[0], "device", None)
        return torch.device(dev) if dev is not None else torch.device("cpu")

    @property
    def num_features(self) -> int | None:
        """Number of features of a 1-D observation (``None`` otherwise)."""
        return self.x_shape[0] if self.x_shape is not None and len(self.x_shape) == 1 else None

    def __len__(self) -> int:
        return len(self.members)

    # ---------------------------------------------------------------- inputs
    def _x(self, x: Any, *, batched: bool) -> Tensor:
        """Observations as ``(num_x, *x_shape)`` (one row unless ``batched``)."""
        if x is None:
            if self.default_x is None:
                fail(
                    "x",
                    "an observation (or set_default_x first)",
                    None,
                    "Pass x=x_o or call ensemble.set_default_x(x_o).",
                )
            return self.default_x
        x = check_tensor("x", x, finite=False, dtype=torch.get_default_dtype(), device=self.device)
        shape = self.x_shape
        if shape is None:  # members that do not declare their observation shape: vectors
            x = x[None] if x.ndim <= 1 else x
        else:
            if tuple(x.shape) == shape:
                x = x[None]
            if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
                fail(
                    "x",
                    f"shape {shape} (or (num_x, *{shape}))",
                    x,
                    "Pass the observation with the feature layout used in training.",
                )
        if not batched and x.shape[0] != 1:
            fail(
                "x",
                "one observation",
                x,
                "Use sample_batched/log_prob_batched for several observations.",
            )
        if not bool(torch.isfinite(x).all()):
            fail(
                "x",
                "finite values",
                f"{int((~torch.isfinite(x)).sum())} NaN/inf entries",
                "An invalid observation has no posterior; check the features.",
            )
        return x

    def set_default_x(self, x: Any) -> EnsemblePosterior:
        """Store ``x`` as the observation used when ``x=None`` (also on the members)."""
        self.default_x = self._x(x, batched=False)
        for m in self.members:
            if callable(getattr(m, "set_default_x", None)):
                m.set_default_x(self.default_x if self.x_shape is not None else self.default_x[0])
        return self

    def _theta(self, theta: Any) -> Tensor:
        return check_tensor(
            "theta",
            theta,
            ndim=(1, 2, 3),
            last_dim=self.num_params,
            finite=False,
            dtype=torch.get_default_dtype(),
            device=self.device,
        )

    def _member_x(self, x: Tensor, j: int) -> Tensor:
        """Observation ``j`` as a member's ``sample``/``log_prob`` takes it."""
        return x[j : j + 1] if self.x_shape is not None else x[j]

    # -------------------------------------------------------------- sampling
    def _member_samples(self, member: Any, num: int, x: Tensor) -> tuple[Tensor, Tensor]:
        """``num`` samples per observation ``(num, B, D)`` and the acceptance rates ``(B,)``."""
        b = x.shape[0]
        if callable(getattr(member, "sample_batched", None)):
            s = member.sample_batched((num,), x)
            rate = member.acceptance_rate
        else:
            cols, rates = [], []
            for j in range(b):
                cols.append(torch.as_tensor(member.sample((num,), x=self._member_x(x, j))))
                rates.append(getattr(member, "acceptance_rate", math.nan))
            s, rate = torch.stack(cols, dim=1), rates
        rate = torch.as_tensor(rate, dtype=torch.float64).reshape(-1).cpu()
        rate = rate.expand(b) if rate.numel() == 1 else rate
        return s.to(self.device, torch.get_default_dtype()).reshape(num, b, self.num_params), rate

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
        num, b, k = math.prod(sample_shape), x.shape[0], self.num_members
        out = torch.empty(num, b, self.num_params, device=self.device)
        if k == 1:  # no component draw: an ensemble of one samples exactly like its member
            comp = torch.zeros(num, b, dtype=torch.long)
        else:
            comp = torch.multinomial(self.weights, num * b, replacement=True).reshape(num, b)
        drawn = torch.zeros(b, dtype=torch.float64)
        for i, member in enumerate(self.members):
            mask = comp == i  # (num, B)
            counts = mask.sum(0)
            need = int(counts.max()) if num else 0
            if need == 0:
                continue
            s, rate = self._member_samples(member, need, x)
            # the r-th sample assigned to member i at observation j is its sample r at j
            rank = (mask.cumsum(0) - 1)[mask]
            col = torch.nonzero(mask)[:, 1]
            out[mask.to(self.device)] = s[rank.to(self.device), col.to(self.device)]
            drawn += counts.double() / rate
        self.acceptance_rate = num / drawn if num else torch.full((b,), math.nan)
        return out.reshape(*sample_shape, b, self.num_params)

    def sample(self, sample_shape: tuple[int, ...] | torch.Size = (), x: Any = None) -> Tensor:
        """Samples ``(*sample_shape, num_params)`` from the mixture at one observation.

        Args:
            sample_shape: e.g. ``(1000,)``.
            x: the observation ``x_shape`` or ``(1, *x_shape)``; ``None`` uses the default.
        """
        x = self._x(x, batched=False)
        samples = self.sample_batched(sample_shape, x)[..., 0, :]
        self.acceptance_rate = float(self.acceptance_rate[0])
        return samples

    # ----------------------------------------------------------- densities
    def _member_kwargs(self, member: Any, normalize: bool) -> dict[str, bool]:
        if normalize:
            return {}
        if not accepts_keyword(member.log_prob, "normalize", unknown=False):
            fail(
                "normalize",
                "True for members whose log_prob has no normalize option",
                False,
                f"{type(member).__name__}.log_prob is always normalised.",
            )
        return {"normalize": False}

    def _log_weights(self) -> Tensor:
        return self.weights.log().to(self.device, torch.get_default_dtype())

    @torch.no_grad()
    def log_prob_batched(self, theta: Any, x: Any, *, normalize: bool = True) -> Tensor:
        """``log q(theta | x)`` for parameters ``(num, num_x, D)`` and ``x`` ``(num_x, ...)``.

        A 2-D ``theta`` ``(num, D)`` is evaluated at every observation. Returns
        ``(num, num_x)``; ``-inf`` outside the prior support. ``normalize=False`` mixes the
        members' unnormalised densities, which equals the mixture only when no member puts
        mass outside the support (e.g. ``theta_transform="logit"``).
        """
        x = self._x(x, batched=True)
        theta = self._theta(theta)
        b = x.shape[0]
        if theta.ndim == 2:
            theta = theta[:, None] if b == 1 else theta[None]
        if theta.ndim == 1 or theta.shape[1] not in (1, b):
            fail("theta", f"shape (num, {b}, {self.num_params}) for {b} observations", theta)
        theta = theta.expand(theta.shape[0], b, self.num_params)
        parts = []
        for m in self.members:
            kwargs = self._member_kwargs(m, normalize)
            if callable(getattr(m, "log_prob_batched", None)):
                lp = m.log_prob_batched(theta, x, **kwargs)
            else:
                cols = [
                    torch.as_tensor(m.log_prob(theta[:, j], x=self._member_x(x, j), **kwargs))
                    for j in range(b)
                ]
                lp = torch.stack(cols, dim=1)
            parts.append(lp.to(self.device, torch.get_default_dtype()).reshape(-1, b))
        lw = self._log_weights()[:, None, None]
        return torch.logsumexp(torch.stack(parts) + lw, dim=0)

    @torch.no_grad()
    def log_prob(self, theta: Any, x: Any = None, *, normalize: bool = True) -> Tensor:
        """``log q(theta | x)`` for ``theta`` ``(num, num_params)`` -> ``(num,)``.

        ``(num_params,)`` gives a scalar; ``-inf`` outside the prior support. See
        :meth:`log_prob_batched` for ``normalize``.
        """
        x = self._x(x, batched=False)
        theta = self._theta(theta)
        if theta.ndim == 3:
            fail("theta", "shape (num, num_params)", theta, "Use log_prob_batched.")
        squeeze = theta.ndim == 1
        theta = theta.reshape(-1, self.num_params)
        parts = []
        for m in self.members:
            lp = m.log_prob(theta, x=self._member_x(x, 0), **self._member_kwargs(m, normalize))
            parts.append(torch.as_tensor(lp).to(self.device, torch.get_default_dtype()).reshape(-1))
        lp = torch.logsumexp(torch.stack(parts) + self._log_weights()[:, None], dim=0)
        return lp[0] if squeeze else lp

    def map(
        self,
        x: Any = None,
        *,
        num_init: int = 1000,
        num_steps: int = 300,
        learning_rate: float = 0.01,
    ) -> Tensor:
        """Maximum of the mixture density within the prior support, shape ``(num_params,)``.

        Starts from the 10 most probable of ``num_init`` ensemble samples. When every member
        is a :class:`Posterior`, these are refined by gradient ascent (Adam) on the mixture
        log-density in unconstrained coordinates of the prior support (as
        :meth:`Posterior.map`); other members give the best sample.
        """
        x = self._x(x, batched=False)
        init = self.sample((num_init,), x)
        lp = self.log_prob(init, x)
        start = init[lp.topk(min(10, num_init)).indices]
        if not all(isinstance(m, Posterior) for m in self.members):
            return start[0]
        support = getattr(self.prior, "support", None)
        bij = torch.distributions.biject_to(support) if support is not None else None
        if bij is not None and hasattr(self.prior, "low"):
            start = start.clamp(*_bounds(self.prior, start))
        u = (bij.inv(start) if bij is not None else start).detach().clone().requires_grad_(True)
        with torch.no_grad():
            ctxs = [m.estimator.context(x).detach().expand(u.shape[0], -1) for m in self.members]
            offsets = torch.stack([m._log_norm(x)[0] for m in self.members])
            offsets = self._log_weights() - offsets.to(self._log_weights())

        def mixture(theta: Tensor) -> Tensor:
            parts = [
                m.estimator.log_prob_context(theta, c)
                for m, c in zip(self.members, ctxs, strict=True)
            ]
            return torch.logsumexp(torch.stack(parts) + offsets[:, None], dim=0)

        opt = torch.optim.Adam([u], lr=learning_rate)
        for _ in range(num_steps):
            loss = -mixture(bij(u) if bij is not None else u).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            theta = bij(u) if bij is not None else u
            lp = mixture(theta)
            lp = torch.where(torch.isfinite(lp), lp, torch.full_like(lp, -torch.inf))
            return theta[int(lp.argmax())].detach()

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path) -> Path:
        """Write ``path/ensemble.json`` and each member to ``path/member_<k>/`` (no pickle).

        Only ensembles of :class:`~neurodyn.inference.Posterior` members can be saved.
        """
        for i, m in enumerate(self.members):
            if not isinstance(m, Posterior):
                fail(
                    f"members[{i}]",
                    "a neurodyn Posterior to be saved",
                    type(m).__name__,
                    "Save the members yourself, or build them with NPE.",
                    exc=TypeError,
                )
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        names = [f"member_{i}" for i in range(self.num_members)]
        for name, m in zip(names, self.members, strict=True):
            m.save(path / name)
        meta = {
            "format": ENSEMBLE_FORMAT,
            "neurodyn_version": neurodyn.__version__,
            "members": names,
            "weights": self.weights.tolist(),
            "default_x": None
            if self.default_x is None
            else self.default_x[0].cpu().reshape(-1).tolist(),
        }
        (path / "ensemble.json").write_text(json.dumps(meta, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> EnsemblePosterior:
        """Load an ensemble written by :meth:`save`."""
        path = Path(path)
        meta = read_saved_meta(
            path,
            "ensemble.json",
            ENSEMBLE_FORMAT,
            "EnsemblePosterior.save",
            "Check the path (a single posterior loads with Posterior.load).",
        )
        dev = resolve_device(device)
        members = [Posterior.load(path / name, device=dev) for name in meta["members"]]
        for m in members[1:]:
            m.prior = members[0].prior  # one prior object for the whole ensemble
        ens = cls(members, weights=meta["weights"])
        if meta.get("default_x") is not None:
            ens.set_default_x(torch.tensor(meta["default_x"]).reshape(ens.x_shape or (-1,)))
        return ens

    def __repr__(self) -> str:
        kinds = sorted({type(m).__name__ for m in self.members})
        return (
            f"EnsemblePosterior(num_members={self.num_members}, members={'/'.join(kinds)}, "
            f"num_params={self.num_params}, x_shape={self.x_shape})"
        )
