"""Training from a store, and sequential (truncated) rounds with one store group per round.

:func:`train_from_store` trains NPE on a :class:`~neurodyn.compute.ZarrSource` and saves the
posterior (safetensors + JSON). :func:`simulate_rounds` runs a TSNPE campaign: round 0 from
the prior, round ``r`` from the prior truncated to the highest-probability region of the
round ``r - 1`` posterior at ``x_o``. Each round is written to the group ``round_<r>`` of one
store and each round's posterior to ``out/round_<r>``; re-running the same call resumes
(finished rounds are loaded, an interrupted round's campaign resumes chunk by chunk).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodyn._validation import check_positive, fail
from neurodyn.compute.campaign import simulate
from neurodyn.compute.sources import ZarrSource
from neurodyn.compute.store import SimulationStore

__all__ = ["prior_from_store", "simulate_rounds", "train_from_store"]


def prior_from_store(store: str | Path, group: str | None = None) -> Any:
    """The prior recorded in a store's provenance (box or log-uniform bounds and names).

    Raises a ``ValueError`` when the campaign's proposal was not a box/log-uniform prior.
    """
    from neurodyn.priors import BoxUniform, LogUniform

    prov = SimulationStore.open(store, group).provenance
    kind = str(prov.get("proposal", "")).split("(")[0]
    low, high = prov.get("prior_low"), prov.get("prior_high")
    cls = {"BoxUniform": BoxUniform, "LogUniform": LogUniform}.get(kind)
    if cls is None or low is None or high is None:
        fail(
            "store",
            "a campaign drawn from a BoxUniform or LogUniform prior",
            f"proposal {prov.get('proposal')!r}",
            "Pass prior= explicitly.",
        )
    units = prov.get("units") or None
    return cls(
        low,
        high,
        param_names=prov["param_names"],
        units=units if units and len(units) == len(low) else None,
    )


def train_from_store(
    store: str | Path,
    out: str | Path | None = None,
    *,
    group: str | Sequence[str] | None = None,
    prior: Any = None,
    config: Any = None,
    shuffle_buffer: int = 100_000,
    checkpoint_dir: str | Path | None = None,
    show_progress: bool | None = None,
    ensemble: int = 1,
) -> Any:
    """Train NPE on a simulation store (streamed; the store may exceed memory).

    Args:
        store: path of a finished campaign.
        out: folder for the posterior (``posterior.json``, ``weights.safetensors``) and
            ``training.json`` (store provenance, counts, training summary); ``None``: not saved.
        group: group(s) of the store to train on (``None``: the root campaign).
        prior: the prior (``None``: rebuilt from the store's provenance).
        config: an :class:`~neurodyn.inference.NPEConfig` (``None``: defaults).
        shuffle_buffer: rows in the shuffle buffer of the :class:`ZarrSource`.
        checkpoint_dir: per-epoch checkpoints (training resumes from them).
        show_progress: progress bar (``None``: automatic).
        ensemble: number of estimators ``K``; ``K > 1`` trains member ``k`` with
            ``config.seed + k`` (initialisation, batch order and validation split) and returns
            their :class:`~neurodyn.inference.EnsemblePosterior` (saved as one folder per member
            plus ``ensemble.json``; checkpoints in ``checkpoint_dir/member_<k>``, so an
            interrupted ensemble resumes member by member).

    Returns:
        The trained :class:`~neurodyn.inference.Posterior` (or ``EnsemblePosterior``).
    """
    from neurodyn.inference import NPE, EnsemblePosterior, NPEConfig

    ensemble = check_positive("ensemble", ensemble, integer=True)
    first = group if group is None or isinstance(group, str) else group[0]
    if prior is None:
        prior = prior_from_store(store, first)
    config = config if config is not None else NPEConfig()
    members, records = [], []
    for k in range(ensemble):
        cfg = dataclasses.replace(config, seed=config.seed + k)
        source = ZarrSource(
            store,
            group,
            validation_fraction=cfg.validation_fraction,
            shuffle_buffer=shuffle_buffer,
            split_seed=cfg.seed,
        )
        ckpt = checkpoint_dir
        if ckpt is not None and ensemble > 1:
            ckpt = Path(ckpt) / f"member_{k}"
        npe = NPE(prior, cfg)
        npe.train(source=source, checkpoint_dir=ckpt, show_progress=show_progress)
        members.append(npe.build_posterior())
        summary = npe.summary
        records.append(
            dataclasses.asdict(summary) if dataclasses.is_dataclass(summary) else str(summary)
        )
    posterior = members[0] if ensemble == 1 else EnsemblePosterior(members)
    if out is not None:
        out = Path(out)
        posterior.save(out)
        info = {
            "store": str(store),
            "group": group,
            "provenance": source.provenance,
            "num_train": source.num_train,
            "num_val": source.num_val,
            "num_invalid": source.num_invalid,
            "summary": records[0] if ensemble == 1 else records,
            "ensemble": ensemble,
        }
        (out / "training.json").write_text(json.dumps(info, indent=1, default=str))
    return posterior


def _round_seed(seed: int, r: int) -> int:
    if r == 0:
        return seed
    return int(
        np.random.SeedSequence(seed, spawn_key=(r,)).generate_state(1, np.uint64)[0] >> np.uint64(1)
    )


def simulate_rounds(
    simulator: Any,
    x_o: Any,
    store: str | Path,
    out: str | Path,
    *,
    num_rounds: int,
    num_per_round: int | Sequence[int],
    config: Any = None,
    prior: Any = None,
    quantile: float = 1e-4,
    scheduler: Any = None,
    chunk: int = 10_000,
    seed: int = 0,
    workers: int | None = None,
    show_progress: bool | None = None,
) -> list[Any]:
    """Sequential truncated NPE (TSNPE) rounds, resumable round by round.

    Args:
        simulator: a Simulator.
        x_o: the observation, shape ``(num_features,)``.
        store: one zarr store; round ``r`` is its group ``round_<r>``.
        out: folder; round ``r``'s posterior is saved to ``out/round_<r>``.
        num_rounds: number of rounds.
        num_per_round: simulations per round (one int or one per round).
        config: NPE settings (``NPEConfig``); training uses all rounds so far.
        prior: the prior (``None``: ``simulator.prior``).
        quantile: truncation quantile of the posterior's log density (TSNPE).
        scheduler, chunk, seed, workers, show_progress: as in :func:`simulate` (round ``r``
            uses a seed derived from ``(seed, r)``).

    Returns:
        The posterior of every round (the last one is the result).
    """
    from neurodyn.inference import NPEConfig, Posterior

    num_rounds = check_positive("num_rounds", num_rounds, integer=True)
    sizes = [num_per_round] * num_rounds if isinstance(num_per_round, int) else list(num_per_round)
    if len(sizes) != num_rounds:
        fail("num_per_round", f"one int or {num_rounds} ints (one per round)", num_per_round)
    prior = prior if prior is not None else simulator.prior
    config = config if config is not None else NPEConfig()
    x_o = torch.as_tensor(x_o, dtype=torch.get_default_dtype()).reshape(-1)
    out = Path(out)
    posteriors: list[Any] = []
    proposal = prior
    for r in range(num_rounds):
        group = f"round_{r}"
        simulate(
            simulator,
            proposal,
            sizes[r],
            store,
            scheduler=scheduler,
            chunk=chunk,
            seed=_round_seed(seed, r),
            workers=workers,
            group=group,
            show_progress=show_progress,
        )
        saved = out / group
        if (saved / "posterior.json").is_file():
            posterior = Posterior.load(saved)
        else:
            groups = [f"round_{i}" for i in range(r + 1)]
            posterior = train_from_store(
                store, saved, group=groups, prior=prior, config=config, show_progress=show_progress
            )
        posterior.set_default_x(x_o)
        posteriors.append(posterior)
        if r + 1 < num_rounds:
            # the truncation threshold draws posterior samples: seed it so that a resumed
            # campaign rebuilds the identical proposal (its θ fingerprint is checked)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_round_seed(seed, r + 1) % 2**63)
                proposal = posterior.truncated_prior(x_o, quantile=quantile)
    return posteriors
