"""Restricted priors: a prior times an accept/reject indicator.

* :class:`AcceptRejectPrior` — ``p(theta) 1[accept(theta)]`` sampled by rejection from the prior.
  Used for the truncated proposals of TSNPE (``Posterior.truncated_prior``) and for the
  restriction classifier.
* :class:`RestrictionClassifier` — a residual classifier of valid vs invalid simulations
  (e.g. a pyloric network that does not burst gives NaN features). Its restricted prior
  rejects parameters whose predicted validity is below a threshold chosen so that a given
  fraction of *valid* held-out simulations is rejected (1 % by default, as in the PNAS
  pyloric study), so simulation budget goes to parameters that give valid simulations.

Training NPE on simulations from a restricted prior with the plain NPE loss, together with the
earlier prior simulations, keeps the posterior of valid observations unchanged (the excluded
region produces invalid simulations only).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from neurodyn._runtime import cpu_threads, resolve_device
from neurodyn._validation import check_positive, check_probability, check_tensor, fail
from neurodyn.inference.config import RestrictionConfig
from neurodyn.inference.data import InMemorySource
from neurodyn.inference.priors_io import check_prior, prior_log_prob
from neurodyn.inference.training import TrainingSummary, fit

__all__ = ["AcceptRejectPrior", "RestrictionClassifier"]


class AcceptRejectPrior:
    """The prior restricted to ``{theta : accept(theta)}``, sampled by rejection.

    Args:
        prior: the base prior.
        accept: ``accept(theta (N, D)) -> bool tensor (N,)``.
        min_acceptance: raise ``RuntimeError`` instead of looping when fewer than this
            fraction of prior samples are accepted.
        max_batch: prior samples drawn per rejection round.

    ``log_prob`` is the base prior's log density inside the region (not renormalised) and
    ``-inf`` outside; ``acceptance_rate`` is the fraction accepted by the last ``sample``.

    Example:
        >>> from neurodyn.priors import BoxUniform
        >>> half = AcceptRejectPrior(BoxUniform([0.0], [1.0]), lambda t: t[:, 0] < 0.5)
        >>> bool((half.sample((100,)) < 0.5).all())
        True
    """

    def __init__(
        self,
        prior: Any,
        accept: Callable[[Tensor], Tensor],
        *,
        min_acceptance: float = 1e-4,
        max_batch: int = 100_000,
    ) -> None:
        self.num_params = check_prior(prior)
        self.prior = prior
        self.accept = accept
        self.min_acceptance = check_probability("min_acceptance", min_acceptance)
        self.max_batch = check_positive("max_batch", max_batch, integer=True)
        self.acceptance_rate = math.nan
        self.event_shape = torch.Size([self.num_params])
        self.support = getattr(prior, "support", None)

    @torch.no_grad()
    def sample(self, sample_shape: tuple[int, ...] | torch.Size = ()) -> Tensor:
        """Samples ``(*sample_shape, num_params)`` from the restricted prior."""
        num = math.prod(sample_shape)
        kept: list[Tensor] = []
        have = drawn = accepted = 0
        while have < num:
            rate = accepted / drawn if drawn else 1.0
            want = min(self.max_batch, max(16, math.ceil(1.2 * (num - have) / max(rate, 1e-3))))
            cand = self.prior.sample((want,))
            ok = self.accept(cand).to(cand.device).bool()
            kept.append(cand[ok])
            drawn += want
            accepted += int(ok.sum())
            have += int(ok.sum())
            if drawn >= 10_000 and accepted / drawn < self.min_acceptance:
                self.acceptance_rate = accepted / drawn
                fail(
                    "restricted prior",
                    f"an acceptance rate >= {self.min_acceptance:g}",
                    f"{accepted} of {drawn} prior samples accepted",
                    "The region is almost empty: loosen the threshold or check the classifier.",
                    exc=RuntimeError,
                )
        self.acceptance_rate = accepted / max(drawn, 1)
        out = torch.cat(kept)[:num] if kept else self.prior.sample((0,))
        return out.reshape(*sample_shape, self.num_params)

    def log_prob(self, theta: Tensor) -> Tensor:
        """Base-prior log density inside the region, ``-inf`` outside; shape ``(...,)``."""
        theta = torch.as_tensor(theta)
        lp = prior_log_prob(self.prior, theta)
        ok = self.accept(theta.reshape(-1, self.num_params)).reshape(lp.shape).to(lp.device)
        return torch.where(ok.bool(), lp, torch.full_like(lp, -torch.inf))


class _ResidualClassifier(nn.Module):
    def __init__(self, num_params: int, hidden: int, blocks: int, dropout: float) -> None:
        super().__init__()
        self.inp = nn.Linear(num_params, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(hidden),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, hidden),
                nn.GELU(),
                nn.Linear(hidden, hidden),
            )
            for _ in range(blocks)
        )
        self.out = nn.Linear(hidden, 1)
        self.register_buffer("mean", torch.zeros(num_params))
        self.register_buffer("std", torch.ones(num_params))

    def forward(self, theta: Tensor) -> Tensor:
        h = self.inp((theta - self.mean) / self.std)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).squeeze(-1)


class RestrictionClassifier:
    """Classifier of valid vs invalid simulations and the restricted prior it defines.

    Args:
        prior: the prior the simulations were drawn from.
        config: training settings.

    Example:
        >>> from neurodyn.priors import BoxUniform
        >>> prior = BoxUniform([-1.0, -1.0], [1.0, 1.0])
        >>> theta = prior.sample((2000,))
        >>> x = torch.where(theta[:, :1] > 0, theta, torch.nan)  # invalid for theta_0 <= 0
        >>> rc = RestrictionClassifier(prior, RestrictionConfig(max_epochs=30)).train(theta, x)
        >>> restricted = rc.restrict_prior(allowed_false_negatives=0.01)
        >>> float((restricted.sample((500,))[:, 0] > 0).float().mean()) > 0.9
        True
    """

    def __init__(self, prior: Any, config: RestrictionConfig | None = None) -> None:
        self.num_params = check_prior(prior)
        self.prior = prior
        self.config = config if config is not None else RestrictionConfig()
        if not isinstance(self.config, RestrictionConfig):
            fail("config", "a RestrictionConfig", type(self.config).__name__, exc=TypeError)
        self.device = resolve_device(self.config.device)
        self.net: _ResidualClassifier | None = None
        self.summary: TrainingSummary | None = None
        self.threshold: float | None = None
        self._val: tuple[Tensor, Tensor] | None = None

    def train(
        self, theta: Tensor, x: Tensor, *, show_progress: bool | None = None
    ) -> RestrictionClassifier:
        """Fit on simulations ``theta`` ``(N, D)`` and outputs ``x`` ``(N, ...)`` (NaN = invalid).

        Returns:
            ``self``.
        """
        cfg = self.config
        theta = check_tensor("theta", theta, ndim=2, last_dim=self.num_params)
        x = check_tensor("x", x, finite=False)
        if x.ndim < 2 or x.shape[0] != theta.shape[0]:
            fail("x", f"{theta.shape[0]} rows (one per row of theta)", x)
        valid = torch.isfinite(x.reshape(x.shape[0], -1)).all(1).to(theta.dtype)
        n_valid = int(valid.sum())
        if n_valid in (0, theta.shape[0]):
            fail(
                "x",
                "both valid and invalid simulations to train a restriction classifier",
                f"{n_valid} valid of {theta.shape[0]}",
                "Without invalid simulations no restriction is needed.",
            )
        w_invalid = n_valid / (theta.shape[0] - n_valid) if cfg.reweight else 1.0
        source = InMemorySource(
            theta,
            valid[:, None],
            validation_fraction=cfg.validation_fraction,
            seed=cfg.seed,
            device=self.device,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            net = _ResidualClassifier(
                self.num_params, cfg.hidden_features, cfg.num_blocks, cfg.dropout
            )
        t_mean, t_std, _, _ = source.moments()
        net.mean.copy_(t_mean)
        net.std.copy_(torch.where(t_std > 0, t_std, torch.ones_like(t_std)))
        net = net.to(self.device)
        bce = nn.BCEWithLogitsLoss(reduction="none")

        def loss_fn(t: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
            y = y[:, 0]
            weight = torch.where(y > 0.5, 1.0, w_invalid)
            return (bce(net(t), y) * weight).sum() / weight.sum()

        with cpu_threads(cfg.num_threads):
            self.summary = fit(
                net,
                loss_fn,
                source,
                batch_size=cfg.batch_size,
                learning_rate=cfg.learning_rate,
                max_epochs=cfg.max_epochs,
                patience=cfg.patience,
                clip_grad_norm=5.0,
                seed=cfg.seed,
                device=self.device,
                show_progress=show_progress,
                description="restriction classifier",
            )
        self.net = net
        self._val = next(source.val_batches(10**9, self.device), (theta, valid[:, None]))
        return self

    @torch.no_grad()
    def predict(self, theta: Tensor) -> Tensor:
        """Predicted probability ``(N,)`` that ``theta`` ``(N, D)`` gives a valid simulation."""
        if self.net is None:
            fail(
                "RestrictionClassifier",
                "a trained classifier",
                "an untrained one",
                "Call train(theta, x) first.",
            )
        theta = check_tensor("theta", theta, ndim=2, last_dim=self.num_params)
        out = []
        for chunk in theta.split(65536):
            out.append(torch.sigmoid(self.net(chunk.to(self.device))).to(theta.device))
        return torch.cat(out)

    def restrict_prior(self, allowed_false_negatives: float = 0.01) -> AcceptRejectPrior:
        """The prior restricted to parameters predicted valid.

        Args:
            allowed_false_negatives: fraction of held-out *valid* simulations whose parameters
                the restricted prior rejects (sets the threshold).

        Returns:
            An :class:`AcceptRejectPrior`; ``self.threshold`` holds the chosen threshold.
        """
        check_probability("allowed_false_negatives", allowed_false_negatives)
        if self.net is None or self._val is None:
            fail(
                "RestrictionClassifier",
                "a trained classifier",
                "an untrained one",
                "Call train(theta, x) first.",
            )
        theta_val, y_val = self._val
        probs = self.predict(theta_val[y_val[:, 0] > 0.5])
        if probs.numel() == 0:
            fail(
                "validation_fraction",
                "valid simulations in the validation split",
                0,
                "Use more simulations or a larger validation_fraction.",
            )
        self.threshold = float(torch.quantile(probs.double(), allowed_false_negatives))
        thr = self.threshold
        return AcceptRejectPrior(self.prior, lambda t: self.predict(t) >= thr)
