"""Neural posterior estimation: amortised NPE, SNPE-C/APT (atomic loss) and truncated SNPE.

Round 1 (simulations from the prior) minimises ``-log q(theta_i | x_i)``. Later rounds:

* simulations from a :class:`~neurodyn.inference.Posterior` proposal (SNPE-C/APT) switch all
  training to the atomic loss ``-log[ (q(theta_i|x_i)/p(theta_i)) /
  sum_j q(theta_j|x_i)/p(theta_j) ]`` over ``num_atoms`` parameters of the minibatch;
* simulations from a truncated prior (``posterior.truncated_prior(x_o)``, TSNPE) or a
  restricted prior (``RestrictionClassifier.restrict_prior()``) keep the plain loss, because
  such proposals are the prior restricted to a region that contains the posterior.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from neurodyn._runtime import cpu_threads, resolve_device
from neurodyn._validation import check_positive, check_tensor, fail
from neurodyn.inference.config import NPEConfig
from neurodyn.inference.data import BatchSource, InMemorySource
from neurodyn.inference.ensemble import EnsemblePosterior
from neurodyn.inference.estimator import ConditionalDensity
from neurodyn.inference.posterior import Posterior
from neurodyn.inference.priors_io import box_bounds, check_prior, prior_log_prob
from neurodyn.inference.restriction import AcceptRejectPrior
from neurodyn.inference.training import TrainingSummary, fit

__all__ = ["NPE"]


class NPE:
    """Neural posterior estimation with zuko density estimators.

    Args:
        prior: any distribution over ``theta`` vectors with ``sample``/``log_prob``
            (``neurodyn.priors.BoxUniform``, an ``sbi`` prior, a torch distribution).
        config: estimator and training settings.

    Attributes:
        num_invalid: invalid simulations (NaN/inf in ``x``) excluded from the last training.
        summary: :class:`~neurodyn.inference.training.TrainingSummary` of the last training.
        resolved_config: the settings of the last training with the automatic choices
            made (:meth:`NPEConfig.resolve`); saved with the posterior.
        ensemble_summaries: training summaries of the members of the last
            :meth:`train_ensemble` (an empty list before).

    Example:
        >>> from neurodyn.priors import BoxUniform
        >>> prior = BoxUniform([-2.0, -2.0], [2.0, 2.0])
        >>> theta = prior.sample((1000,))
        >>> x = theta + 0.1 * torch.randn(1000, 2)
        >>> npe = NPE(prior, NPEConfig(num_transforms=2, max_epochs=10))
        >>> posterior = npe.append_simulations(theta, x).train_and_build()
        >>> posterior.sample((100,), x=torch.tensor([0.5, -0.5])).shape
        torch.Size([100, 2])
    """

    def __init__(self, prior: Any, config: NPEConfig | None = None) -> None:
        self.num_params = check_prior(prior)
        self.prior = prior
        self.config = config if config is not None else NPEConfig()
        if not isinstance(self.config, NPEConfig):
            fail("config", "an NPEConfig", type(self.config).__name__, exc=TypeError)
        self.device = resolve_device(self.config.device)
        self._bounds()  # a logit transform needs a box prior: fail at construction
        self._rounds: list[tuple[Tensor, Tensor, str]] = []
        self._estimator: ConditionalDensity | None = None
        self.num_invalid = 0
        self.summary: TrainingSummary | None = None
        self.resolved_config: NPEConfig | None = None
        self.ensemble_summaries: list[TrainingSummary] = []

    def append_simulations(self, theta: Any, x: Any, proposal: Any = None) -> NPE:
        """Add simulations ``theta`` ``(N, num_params)``, ``x`` ``(N, *x_shape)``.

        Args:
            theta: parameters.
            x: simulator outputs (rows with NaN/inf are invalid and excluded from training).
            proposal: what ``theta`` was drawn from: ``None`` or the prior (plain NPE), a
                :class:`Posterior` (SNPE-C/APT atomic loss), or a truncated/restricted prior
                (plain loss).

        Returns:
            ``self``.
        """
        theta = check_tensor("theta", theta, ndim=2, last_dim=self.num_params)
        x = check_tensor("x", x, finite=False)
        if x.ndim < 2:
            fail(
                "x",
                "an array of shape (num_simulations, num_features)",
                x,
                "Add the batch axis first, e.g. x[None] for one simulation.",
            )
        if x.shape[0] != theta.shape[0]:
            fail(
                "x",
                f"{theta.shape[0]} rows (one per row of theta)",
                x,
                "theta and x must hold the same number of simulations.",
            )
        if self._rounds and tuple(x.shape[1:]) != tuple(self._rounds[0][1].shape[1:]):
            fail(
                "x",
                f"simulations of shape (*, {tuple(self._rounds[0][1].shape[1:])})",
                x,
                "All rounds must use the same features.",
            )
        if proposal is None or proposal is self.prior or isinstance(proposal, AcceptRejectPrior):
            kind = "prior"
        elif isinstance(proposal, Posterior):
            kind = "atomic"
        else:
            fail(
                "proposal",
                "None, the prior, a Posterior or a truncated/restricted prior",
                type(proposal).__name__,
                exc=TypeError,
            )
        self._rounds.append((theta, x, kind))
        return self

    def _bounds(self) -> tuple[Tensor, Tensor] | None:
        if self.config.theta_transform != "logit":
            return None
        bounds = box_bounds(self.prior)
        if bounds is None:
            fail(
                "config.theta_transform",
                "a box-uniform prior (finite low/high) for the logit transform",
                type(self.prior).__name__,
                'Use theta_transform="none" for this prior.',
            )
        return bounds

    def _source(self) -> InMemorySource:
        if not self._rounds:
            fail(
                "append_simulations",
                "simulations appended before train()",
                "no simulations",
                "Call npe.append_simulations(theta, x) or pass source=.",
            )
        theta = torch.cat([r[0] for r in self._rounds])
        x = torch.cat([r[1] for r in self._rounds])
        return InMemorySource(
            theta,
            x,
            validation_fraction=self.config.validation_fraction,
            seed=self.config.seed,
            device=self.device,
        )

    def train(
        self,
        source: BatchSource | None = None,
        *,
        checkpoint_dir: Any = None,
        show_progress: bool | None = None,
        retrain: bool = False,
        time_limit_s: float | None = None,
    ) -> ConditionalDensity:
        """Train the density estimator on all appended simulations (or on ``source``).

        Args:
            source: a :class:`~neurodyn.inference.data.BatchSource` used instead of the
                appended simulations.
            checkpoint_dir: folder for per-epoch checkpoints; training resumes from it.
            show_progress: progress bar (``None``: automatic).
            retrain: start from fresh weights even after an earlier round.
            time_limit_s: wall-clock limit of this training (s): no epoch starts that would
                end past it (see :func:`neurodyn.inference.training.fit`); ``None``: none.

        Returns:
            The trained :class:`ConditionalDensity` (in eval mode).
        """
        if source is None:
            source = self._source()
            self.num_invalid = source.num_invalid
        elif not isinstance(source, BatchSource):
            fail(
                "source",
                "a BatchSource (see neurodyn.inference.data)",
                type(source).__name__,
                exc=TypeError,
            )
        else:
            self.num_invalid = int(getattr(source, "num_invalid", 0))
        if source.num_params != self.num_params:
            fail("source", f"num_params={self.num_params} (the prior's)", source.num_params)
        x_shape = tuple(getattr(source, "x_shape", (source.num_features,)))
        cfg = self.config.resolve(source.num_train, self.num_params)
        prev = self.resolved_config
        if prev is not None and self._estimator is not None and not retrain:
            if self._estimator.x_shape == x_shape:  # later rounds keep the trained estimator
                cfg = replace(cfg, estimator=prev.estimator, num_transforms=prev.num_transforms)
        self.resolved_config = cfg
        atomic = any(r[2] == "atomic" for r in self._rounds)
        with cpu_threads(cfg.num_threads):
            est = self._estimator
            if est is None or retrain or est.x_shape != x_shape:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(cfg.seed)
                    est = ConditionalDensity(
                        cfg, self.num_params, x_shape, source.moments(), bounds=self._bounds()
                    )
                est = est.to(self.device)
            loss_fn = self._atomic_loss(est) if atomic else self._plain_loss(est)
            settings = {
                k: v
                for k, v in cfg.to_dict().items()
                if k not in ("max_epochs", "patience", "device", "num_threads")
            }
            fingerprint = hashlib.sha256(
                json.dumps(
                    [settings, source.num_train, source.num_val, atomic, len(self._rounds)]
                ).encode()
            ).hexdigest()
            self.summary = fit(
                est,
                loss_fn,
                source,
                batch_size=cfg.batch_size,
                learning_rate=cfg.learning_rate,
                max_epochs=cfg.max_epochs,
                patience=cfg.patience,
                clip_grad_norm=cfg.clip_grad_norm,
                lr_decay=cfg.lr_decay,
                lr_patience=cfg.lr_patience,
                lr_schedule=cfg.lr_schedule,
                warmup_epochs=cfg.warmup_epochs,
                anneal_fraction=cfg.anneal_fraction,
                seed=cfg.seed + len(self._rounds) - 1,
                device=self.device,
                checkpoint_dir=checkpoint_dir,
                fingerprint=fingerprint,
                show_progress=show_progress,
                description="NPE (atomic)" if atomic else "NPE",
                time_limit_s=time_limit_s,
            )
        self._estimator = est
        return est

    @staticmethod
    def _plain_loss(est: ConditionalDensity):
        def loss(theta: Tensor, x: Tensor, gen: torch.Generator) -> Tensor:
            return -est.log_prob(theta, x).mean()

        return loss

    def _atomic_loss(self, est: ConditionalDensity):
        num_atoms = self.config.num_atoms
        prior = self.prior

        def loss(theta: Tensor, x: Tensor, gen: torch.Generator) -> Tensor:
            b = theta.shape[0]
            a = min(num_atoms, b)
            if a < 2:
                return -est.log_prob(theta, x).mean()
            # contrasting atoms: other parameters of the minibatch (never the sample itself)
            offset = torch.randint(1, b, (b, a - 1), generator=gen).to(theta.device)
            idx = (torch.arange(b, device=theta.device)[:, None] + offset) % b
            atoms = torch.cat([theta[None], theta[idx].transpose(0, 1)])  # (a, b, D)
            logits = est.log_prob_context(atoms, est.context(x))
            logits = logits - prior_log_prob(prior, atoms).clamp_min(-1e30)
            return -(logits[0] - torch.logsumexp(logits, dim=0)).mean()

        return loss

    def build_posterior(
        self, estimator: ConditionalDensity | None = None, *, min_acceptance: float = 1e-3
    ) -> Posterior:
        """Posterior from the trained (or given) estimator, restricted to the prior support."""
        est = estimator if estimator is not None else self._estimator
        if est is None:
            fail(
                "train",
                "a trained estimator before build_posterior()",
                "none",
                "Call npe.train() first.",
            )
        config = self.resolved_config if estimator is None else None
        if config is None:
            config = self.config.resolve(None, self.num_params)
        return Posterior(est, self.prior, config=config, min_acceptance=min_acceptance)

    def train_and_build(self, *, show_progress: bool | None = None) -> Posterior:
        """``train()`` then ``build_posterior()``."""
        self.train(show_progress=show_progress)
        return self.build_posterior()

    def train_ensemble(
        self,
        num_members: int,
        *,
        weights: Any = None,
        checkpoint_dir: Any = None,
        show_progress: bool | None = None,
        min_acceptance: float = 1e-3,
    ) -> EnsemblePosterior:
        """Train ``num_members`` estimators on the appended simulations; return their mixture.

        Member ``k`` is a fresh NPE with this prior and ``config`` except ``seed =
        config.seed + k`` (initial weights, minibatch order and the validation split differ),
        trained on all appended rounds with their losses. Member 0 is the estimator
        :meth:`train` would give. This NPE's own estimator is left as it was.

        Args:
            num_members: ensemble size ``K >= 1``.
            weights: mixture weights ``(K,)``; ``None``: uniform.
            checkpoint_dir: folder with one checkpoint subfolder ``member_<k>`` per member
                (an interrupted ensemble resumes member by member).
            show_progress: progress bars (``None``: automatic).
            min_acceptance: passed to each member :class:`Posterior`.

        Returns:
            An :class:`~neurodyn.inference.EnsemblePosterior`; the members' training
            summaries are in ``self.ensemble_summaries``.

        Example:
            >>> from neurodyn.priors import BoxUniform
            >>> prior = BoxUniform([-2.0], [2.0])
            >>> theta = prior.sample((300,)); x = theta + 0.1 * torch.randn(300, 1)
            >>> npe = NPE(prior, NPEConfig(num_transforms=1, max_epochs=3))
            >>> len(npe.append_simulations(theta, x).train_ensemble(2).members)
            2
        """
        num_members = check_positive("num_members", num_members, integer=True)
        self._source()  # fail early without simulations
        members: list[Posterior] = []
        summaries: list[TrainingSummary] = []
        for k in range(num_members):
            member = NPE(self.prior, replace(self.config, seed=self.config.seed + k))
            member._rounds = list(self._rounds)
            ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / f"member_{k}"
            member.train(checkpoint_dir=ckpt, show_progress=show_progress)
            members.append(member.build_posterior(min_acceptance=min_acceptance))
            summaries.append(member.summary)
            self.num_invalid = member.num_invalid
        self.ensemble_summaries = summaries
        return EnsemblePosterior(members, weights=weights)
