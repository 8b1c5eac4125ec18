"""Pyloric posterior study (eLife 2020 Figs 8-9, PNAS 2022): sequential NPE for the STG
preparation 845_082_0044, posterior predictive check, paths and conditional correlations.

Method (everything runs inside one wall-clock budget, ``budget_s``, split into phases):

* **Round 1** simulates prior samples in batches (``sim_batch``) until the round's share of the
  budget is spent. Simulations without a triphasic rhythm have NaN features (invalid). They are
  *counted* (per rhythm class: not bursting / irregular, ``rounds.csv``) and excluded from
  density training, as in eLife 2020: for a valid observation ``x_o``,
  ``p(theta | x_o) = p(theta | x_o, x valid)``, so training on the valid pairs only is exact.
* **Rounds >= 2** (``proposal="truncated"``, the default: TSNPE, Deistler et al. 2022) draw
  parameters from the prior truncated to the ``1 - truncation_quantile`` highest-probability
  region of the current posterior at ``x_o`` (rejection from the prior box with the flow density
  as the test, :meth:`~neurodyn.inference.Posterior.truncated_prior`) and retrain the same
  network (warm start) on all valid simulations of all rounds with the plain NPE loss. Inside the
  region every round's proposal is the prior up to a constant, so the pooled valid data have
  density ``p(theta) p(x | theta)`` there, the exact target for an ``x_o`` whose posterior lies
  in the region. Before each round the rejection cost is measured on one batch of prior
  samples; when a truncated sample would cost more than ``max_proposal_cost`` simulations (or
  fewer than 1e-5 of the prior samples are accepted) the round draws from the prior instead
  (also exact), which is recorded in ``rounds.csv``. The cap is deliberately loose (30): a
  truncated sample that costs ``c`` simulations still lands in the region with probability 1,
  a prior sample with probability ``a`` (the acceptance), so truncation yields
  ``1 / (a (1 + c))`` times more in-region simulations per second (``c = 4.3``, ``a = 2.2e-4``
  in the third H200 round: ~860x); the cap only guards against rounds with almost no samples.
  (A cap of 3 sent that round back to the prior; ``benchmarks/RESULTS.md``.)

  ``proposal="posterior-apt"`` (the first GPU run, kept to reproduce it) draws from the
  posterior at ``x_o`` and trains with the SNPE-C/APT atomic loss. It is **biased here**: with
  the invalid simulations left out, the atomic loss learns ``q ∝ p(theta) p(x | theta, valid) =
  p(theta) p(x | theta) / P(valid | theta)``, i.e. it favours parameters that rarely give a
  rhythm, and it does not control the density outside the atoms (the logit flow piles mass at
  the box edges). Measured: posterior-predictive valid fraction 27.6 % after the prior round,
  2.9 % after the APT round (H200, ``benchmarks/RESULTS.md``); the same bias on a toy task with
  a known posterior: ``benchmarks/sequential_npe_invalid_toy.py``.

  With ``num_rounds=1`` the study is the eLife approach: NPE on the valid prior simulations.
* **Training** is capped in time: the network is trained one epoch at a time from the
  per-epoch checkpoint of :func:`neurodyn.inference.training.fit` until early stopping, the
  epoch cap or the phase deadline.
* **Analysis** of the final posterior at ``x_o``: posterior predictive check (``num_ppc``
  simulations: fraction valid = all 18 features finite, which for neurodyn's features means a
  triphasic rhythm; distances of the 15 timing features to ``x_o`` in units of the population
  sd of the eLife code); two disparate parameter sets with activity close to ``x_o`` (among
  the ``num_candidates`` closest, those valid under each of ``num_ortho_seeds`` new noise
  seeds; ``benchmarks/pyloric_paths_pairs.py`` repeats the path analysis over many pairs); the
  high-probability path between them (:func:`~neurodyn.analysis.high_probability_path`, 80
  points) simulated at ``num_path_sims`` points; the orthogonal path from point 23
  (:func:`~neurodyn.analysis.orthogonal_path`, eLife length = path length / 27) simulated at
  every point; the 31x31 conditional-correlation matrix (resolution 50 over the prior box, as
  the eLife file ``elife2020_stg_cond_corr_500samples_50res.npz``; up to 500 conditioning
  posterior samples, fewer when the budget runs out) compared with the eLife matrix. Controls of
  the orthogonal path (with ``elife2020_stg_paths_extracted.npz``): the eLife orthogonal path
  itself simulated with ``num_ortho_seeds`` noise seeds (does *this simulator* lose the rhythm
  along it, as eLife's did?), and this posterior's orthogonal path started from point 23 of the
  eLife high-probability path.

Outputs in ``out``: ``result.json`` (every number), ``rounds.csv``, ``posterior/``
(safetensors + JSON), ``arrays.npz`` (samples, predictive features, paths, matrices),
``figures/*.png``, ``report.html``; ``state/`` holds per-round checkpoints: re-running the same
call resumes after the last finished round. With ``stop_after_round=k`` the study stops once
round ``k`` is simulated and saved (``state/round_{k-1}.safetensors`` + ``.json``, the valid
pairs only: ~13 MB for 7e4 valid simulations; the posteriors of the earlier rounds are in
``state/posterior_*``): a second call (e.g. on another machine, with ``state`` copied into
its ``out``) continues from there.

Run: ``neurodyn study pyloric-posterior --out DIR --device cuda --budget-s 420``.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodyn._runtime import progress, resolve_device
from neurodyn._validation import check_file, check_positive, fail
from neurodyn.studies._pyloric_posterior_analysis import (
    compare_matrices,
    feature_distance,
    is_valid,
    seeds_for,
    select_disparate_pair,
    split_output,
)

__all__ = [
    "PyloricPosteriorConfig",
    "PyloricPosteriorResult",
    "compare_matrices",
    "feature_distance",
    "run_pyloric_posterior_study",
    "select_disparate_pair",
]

_XO_FILE = "stg_xo_845_082_0044_elife_order.csv"
#: a simulate callable: ``(theta (m, 31), seeds (m,) int64) -> features (m, 18)`` or
#: ``(m, 26)`` with the ``extras`` columns (last column = rhythm class)
Simulate = Callable[[torch.Tensor, np.ndarray], torch.Tensor]
#: proposals of rounds >= 2
PROPOSALS = ("truncated", "posterior-apt")


@dataclass(frozen=True)
class PyloricPosteriorConfig:
    """Settings of :func:`run_pyloric_posterior_study`.

    Args:
        budget_s: wall-clock budget (s) of the whole study, compilation included.
        num_rounds: simulation rounds (1: prior only).
        max_simulations: cap on the simulations of each round (one entry per round).
        max_valid: cap on the valid simulations of each round (one entry per round; a round
            stops after the batch that reaches it); ``None``: no cap. It bounds the size of
            the saved rounds (~196 bytes per valid simulation).
        simulation_shares: fraction of ``budget_s`` for each round's simulations.
        training_shares: fraction of ``budget_s`` for the training after each round; what
            remains of the budget goes to the analysis (14 % by default: the analysis took
            40 s of a 525-s H200 run, which had left it 32 %).
        sim_batch: simulations per simulator call (GPU: ~1e5).
        min_valid: fewest valid simulations to train on (else a ``RuntimeError``).
        estimator: ``"maf"`` (eLife) or ``"nsf"`` (PNAS).
        hidden_features: width of the flow's conditioners.
        num_transforms: flow transforms.
        batch_size: largest training minibatch (smaller when data are few: >= 20 steps/epoch).
            16 384: on an H200 a MAF step costs the same 9.5 ms from batch 4 096 to 32 768
            (launch-bound), so the large batch trains 4x the pairs per second.
        learning_rate: Adam learning rate.
        max_epochs: epoch cap per round (5000: in practice the phase's time share or early
            stopping ends training; a 300-epoch cap cut the last training of H200 run 4 at 90
            of its 275 s, predictive validity 79.7 % vs 81.0 % without the cap).
        patience: early-stopping patience (epochs).
        lr_decay: learning-rate decay factor on 5-epoch validation plateaus (``None``:
            constant; see :class:`~neurodyn.inference.NPEConfig`); with ``patience=20`` the rate
            is halved 3 times before training stops.
        num_atoms: atoms of the APT loss (``proposal="posterior-apt"``).
        proposal: proposal of rounds >= 2: ``"truncated"`` (TSNPE, plain loss) or
            ``"posterior-apt"`` (posterior at ``x_o``, atomic loss; biased, see the module
            docstring).
        truncation_quantile: the truncated prior keeps ``{theta: log q(theta | x_o) >= tau}``,
            ``tau`` this quantile of ``log q`` over posterior samples (TSNPE: 1e-4).
        max_proposal_cost: largest cost of one truncated-prior sample (rejection sampling), in
            units of one simulation; above it a round draws from the prior.
        stop_after_round: stop once this round (1-based) is simulated and saved, before its
            training (first of two calls; the result then holds only ``rounds``); ``None``:
            run the whole study.
        num_ppc: posterior predictive simulations.
        num_path_points: points of the high-probability path (eLife 80).
        num_path_sims: simulated path points, equally spaced in arc length (eLife 20).
        path_max_iter: BFGS iterations of the path optimisation.
        ortho_start_index: start of the orthogonal path on the path (eLife 23).
        num_ortho_seeds: noise seeds per point of the orthogonal paths (eLife: 1).
        num_conditions: most conditioning samples of the conditional correlation (eLife 500).
        resolution: grid cells per axis of the conditional densities (eLife 50).
        num_candidates: closest predictive samples searched for the disparate pair.
        t_max: simulated time (ms) per network (11 000 in the papers).
        t_burn_in: discarded transient (ms).
        seed: seed of draws, simulations and training.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (simulator and network).
        data_dir: folder with the eLife reference files; ``None``: ``NEURODYN_SHARED_DATA`` or
            ``../shared/data``.
    """

    budget_s: float = 420.0
    num_rounds: int = 3
    max_simulations: tuple[int, ...] = (20_000_000, 3_000_000, 3_000_000)
    max_valid: tuple[int, ...] | None = None
    simulation_shares: tuple[float, ...] = (0.36, 0.16, 0.16)
    training_shares: tuple[float, ...] = (0.05, 0.05, 0.08)
    sim_batch: int = 100_000
    min_valid: int = 50
    estimator: str = "maf"
    hidden_features: int = 128
    num_transforms: int = 5
    batch_size: int = 16_384
    learning_rate: float = 1e-3
    max_epochs: int = 5000
    patience: int = 20
    lr_decay: float | None = 0.5
    num_atoms: int = 10
    proposal: str = "truncated"
    truncation_quantile: float = 1e-4
    max_proposal_cost: float = 30.0
    stop_after_round: int | None = None
    num_ppc: int = 30_000
    num_path_points: int = 80
    num_path_sims: int = 20
    path_max_iter: int = 60
    ortho_start_index: int = 23
    num_ortho_seeds: int = 3
    num_conditions: int = 500
    resolution: int = 50
    num_candidates: int = 200
    t_max: float = 11000.0
    t_burn_in: float = 1000.0
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None

    def __post_init__(self) -> None:
        check_positive("budget_s", self.budget_s)
        for name in (
            "num_rounds", "sim_batch", "min_valid", "hidden_features", "num_transforms",
            "batch_size", "max_epochs", "patience", "num_atoms", "num_ppc", "num_path_sims",
            "path_max_iter", "num_conditions", "resolution", "num_candidates", "num_ortho_seeds",
        ):  # fmt: skip
            check_positive(name, getattr(self, name), integer=True)
        for name in ("max_simulations", "max_valid", "simulation_shares", "training_shares"):
            value = getattr(self, name)
            if name == "max_valid" and value is None:
                continue
            if not isinstance(value, tuple) or len(value) != self.num_rounds:
                fail(name, f"a tuple of {self.num_rounds} entries (one per round)", value)
            for v in value:
                check_positive(name, v, integer=name in ("max_simulations", "max_valid"))
        total = sum(self.simulation_shares) + sum(self.training_shares)
        if total >= 1:
            fail(
                "simulation_shares",
                "simulation and training shares summing to less than 1",
                round(total, 4),
                "Leave a share of the budget for the analysis.",
            )
        if self.num_path_points < 5:
            fail("num_path_points", "at least 5 points", self.num_path_points)
        if self.num_path_sims > self.num_path_points:
            fail(
                "num_path_sims",
                f"at most num_path_points={self.num_path_points}",
                self.num_path_sims,
            )
        if not 1 <= self.ortho_start_index <= self.num_path_points - 2:
            fail(
                "ortho_start_index",
                f"an index in [1, {self.num_path_points - 2}]",
                self.ortho_start_index,
            )
        if self.estimator not in ("maf", "nsf"):
            fail("estimator", 'one of ("maf", "nsf")', self.estimator)
        if self.lr_decay is not None and not 0 < self.lr_decay < 1:
            fail("lr_decay", "a factor in (0, 1) or None", self.lr_decay)
        if self.stop_after_round is not None and (
            isinstance(self.stop_after_round, bool)
            or not isinstance(self.stop_after_round, int)
            or not 1 <= self.stop_after_round <= self.num_rounds
        ):
            fail(
                "stop_after_round",
                f"None or a round number in [1, num_rounds={self.num_rounds}]",
                self.stop_after_round,
            )
        if self.proposal not in PROPOSALS:
            fail("proposal", f"one of {PROPOSALS}", self.proposal)
        if not 0 < self.truncation_quantile < 1:
            fail("truncation_quantile", "a quantile in (0, 1)", self.truncation_quantile)
        check_positive("max_proposal_cost", self.max_proposal_cost)
        check_positive("t_max", self.t_max)
        check_positive("t_burn_in", self.t_burn_in, strict=False)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            fail("seed", "an int", self.seed, exc=TypeError)


@dataclass(frozen=True)
class PyloricPosteriorResult:
    """Numbers of :func:`run_pyloric_posterior_study` (all saved in ``result.json``).

    Attributes:
        numbers: the JSON-serialisable results.
        posterior: the trained :class:`~neurodyn.inference.Posterior` (``None`` after
            ``stop_after_round``).
        out: the output folder; ``report``: the HTML report (``None`` likewise).
    """

    numbers: dict[str, Any]
    posterior: Any
    out: Path
    report: Path | None


# -------------------------------------------------------------------------------- helpers
class _Clock:
    """Phase deadlines: cumulative shares of the budget, rescaled over the phases left."""

    def __init__(self, budget_s: float, phases: list[tuple[str, float]]) -> None:
        self.start = time.perf_counter()
        self.budget_s = budget_s
        total = sum(s for _, s in phases)
        acc, self.deadlines = 0.0, {}
        for name, share in phases:
            acc += share / total
            self.deadlines[name] = self.start + budget_s * acc
        self.deadlines["total"] = self.start + budget_s

    def left(self, phase: str) -> float:
        return self.deadlines[phase] - time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class _GradPosterior:
    """``log_prob`` of a neurodyn posterior at ``x_o`` with autograd (the public
    ``Posterior.log_prob`` runs under ``no_grad``, which forces finite differences)."""

    def __init__(self, posterior: Any, x_o: torch.Tensor) -> None:
        self.posterior = posterior
        self.prior = posterior.prior
        self.x_o = x_o.to(posterior.device).reshape(1, -1)
        self.num_features = int(self.x_o.shape[1])
        probe = posterior.sample((1,), x=self.x_o[0])
        norm = posterior.log_prob(probe, x=self.x_o[0], normalize=True)
        raw = posterior.log_prob(probe, x=self.x_o[0], normalize=False)
        self.offset = float((norm - raw)[0])

    def log_prob(self, theta: torch.Tensor, x: Any = None, track_gradients: bool = False):
        est = self.posterior.estimator
        th = theta.to(self.posterior.device, torch.get_default_dtype())
        with torch.set_grad_enabled(track_gradients):
            ctx = est.context(self.x_o)
            lp = est.log_prob_context(th.reshape(-1, th.shape[-1])[:, None], ctx)[:, 0]
        return lp.reshape(th.shape[:-1]) + self.offset

    def sample(self, sample_shape: tuple[int, ...], x: Any = None) -> torch.Tensor:
        return self.posterior.sample(sample_shape, x=self.x_o[0])


def _data_dir(data_dir: str | None) -> Path:
    from neurodyn.studies.pyloric import PyloricStudyConfig
    from neurodyn.studies.pyloric import _data_dir as base

    return base(PyloricStudyConfig(data_dir=data_dir))


def _load_observation(data: Path) -> tuple[np.ndarray, np.ndarray]:
    from neurodyn.studies.pyloric import _load_xo

    xo, _, sd = _load_xo(check_file("data_dir", data / _XO_FILE))
    if xo.shape != (18,) or not np.isfinite(xo).all():
        fail("data_dir", f"18 finite eLife-order features in {_XO_FILE}", xo)
    return xo, sd


def _save_round(path: Path, theta: torch.Tensor, x: torch.Tensor, info: dict) -> None:
    from safetensors.torch import save_file

    tmp = path.with_suffix(".tmp")
    save_file({"theta": theta.contiguous(), "x": x.contiguous()}, str(tmp))
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(info, indent=1))


def _load_round(path: Path) -> tuple[torch.Tensor, torch.Tensor, dict] | None:
    from safetensors.torch import load_file

    meta = path.with_suffix(".json")
    if not (path.is_file() and meta.is_file()):
        return None
    t = load_file(str(path))
    return t["theta"], t["x"], json.loads(meta.read_text())


def _make_simulator(cfg: PyloricPosteriorConfig, device: torch.device):
    """Real simulator callables ``(features, traces)`` and the compile/warm-up seconds."""
    from neurodyn.simulators.pyloric import PyloricNetwork

    net = PyloricNetwork(
        t_max=cfg.t_max, t_burn_in=cfg.t_burn_in, device=device, dtype=torch.float32, extras=True
    )

    def simulate(theta: torch.Tensor, seeds: np.ndarray) -> torch.Tensor:
        return net.simulate(theta, seed=seeds)

    def traces(theta: torch.Tensor, seeds: np.ndarray) -> torch.Tensor:
        return net.simulate(theta, seed=seeds, output="trace")

    t0 = time.perf_counter()
    simulate(net.prior.sample((2,)).cpu(), np.arange(2))  # compiles the kernel
    return simulate, traces, time.perf_counter() - t0, net.dt


def _simulate_round(
    r: int,
    sample: Callable[[int, int], torch.Tensor],
    simulate: Simulate,
    cfg: PyloricPosteriorConfig,
    clock: _Clock,
    have: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Simulate batches until the round's deadline or cap; keep the valid pairs, count all.

    ``have`` is the number of valid simulations of earlier rounds.
    """
    phase, cap = f"sim{r}", cfg.max_simulations[r]
    valid_cap = cfg.max_valid[r] if cfg.max_valid is not None else None
    kept_t, kept_x = [], []
    info = {"round": r + 1, "simulated": 0, "valid": 0, "not_bursting": 0, "irregular": 0}
    t0, last = time.perf_counter(), 0.0
    num_batches = math.ceil(cap / cfg.sim_batch)
    for b in progress(range(num_batches), total=num_batches, description=f"round {r + 1}"):
        left = clock.left(phase)
        # past the round's deadline, go on only while the study lacks min_valid valid
        # simulations and the whole budget allows another batch
        short = have + info["valid"] < cfg.min_valid and last < clock.left("total")
        if b > 0 and (left <= 0 or last > left) and not short:
            break
        if valid_cap is not None and info["valid"] >= valid_cap:
            break
        tb = time.perf_counter()
        n = min(cfg.sim_batch, cap - info["simulated"])
        theta = sample(n, b).float().cpu()
        x, cls = split_output(simulate(theta, seeds_for(cfg.seed, r, b, num=n)))
        ok = is_valid(x)
        kept_t.append(theta[ok])
        kept_x.append(x[ok])
        info["simulated"] += n
        info["valid"] += int(ok.sum())
        if cls is not None:
            info["not_bursting"] += int((cls == 1).sum())
            info["irregular"] += int((cls == 2).sum())
        last = time.perf_counter() - tb
    info["invalid"] = info["simulated"] - info["valid"]
    info["valid_fraction"] = info["valid"] / max(info["simulated"], 1)
    info["sim_seconds"] = time.perf_counter() - t0
    info["sims_per_s"] = info["simulated"] / max(info["sim_seconds"], 1e-9)
    return torch.cat(kept_t), torch.cat(kept_x), info


def _train(npe: Any, base: Any, cfg: PyloricPosteriorConfig, r: int, clock: _Clock, ckpt: Path):
    """Train until early stopping, the epoch cap or the phase deadline (one ``fit`` call with
    a time limit; per-epoch checkpoints in ``ckpt``, so a killed run resumes there)."""
    n_valid = sum(int(is_valid(x).sum()) for _, x, _ in npe._rounds)
    bs = int(min(cfg.batch_size, max(128, n_valid // 20)))
    t0 = time.perf_counter()
    npe.config = replace(base, batch_size=bs, max_epochs=cfg.max_epochs)
    npe.train(
        checkpoint_dir=ckpt, show_progress=False, time_limit_s=max(clock.left(f"train{r}"), 1e-3)
    )
    s = npe.summary
    return {
        "train_seconds": time.perf_counter() - t0,
        "epochs": s.epochs,
        "best_epoch": s.best_epoch,
        "best_val_loss": s.best_val_loss,
        "stopped_early": s.stopped_early,
        "stopped_by_time": s.stopped_by_time,
        "num_steps": s.num_steps,
        "batch_size": bs,
        "loss": "atomic (APT)"
        if any(kind == "atomic" for *_, kind in npe._rounds)
        else "maximum likelihood",
    }


def _truncated_proposal(
    posterior: Any,
    xo_t: torch.Tensor,
    cfg: PyloricPosteriorConfig,
    device: torch.device,
    r: int,
    sim_seconds: float,
) -> tuple[Any, dict[str, Any]]:
    """TSNPE proposal for round ``r`` and its measured rejection cost.

    Returns ``(proposal, info)``: the :class:`~neurodyn.inference.restriction.AcceptRejectPrior`
    or ``None`` when one accepted sample would cost more than ``cfg.max_proposal_cost``
    simulations of ``sim_seconds`` each (or when almost nothing is accepted): the round then
    draws from the prior.
    """
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(seeds_for(cfg.seed, r, 5, num=1)[0]))
        trunc = posterior.truncated_prior(xo_t, quantile=cfg.truncation_quantile)
        trunc.max_batch = 1_000_000 if device.type == "cuda" else 100_000
        t1 = time.perf_counter()
        cand = trunc.prior.sample((trunc.max_batch,))
        accepted = int(trunc.accept(cand).sum())
        if device.type == "cuda":
            torch.cuda.synchronize()
    probe = time.perf_counter() - t1
    rate = accepted / trunc.max_batch
    cost = probe / max(accepted, 1) / max(sim_seconds, 1e-12)  # in simulations per sample
    info = {
        "truncation_acceptance_probe": rate,
        "truncation_cost_in_simulations": cost,
        "truncation_setup_seconds": time.perf_counter() - t0,
    }
    if accepted < 10 or cost > cfg.max_proposal_cost:
        return None, info
    return trunc, info


def run_pyloric_posterior_study(
    config: PyloricPosteriorConfig | None = None,
    *,
    out: str | Path,
    simulate: Simulate | None = None,
    traces: Simulate | None = None,
    prior: Any = None,
    echo: Callable[[str], None] = print,
) -> PyloricPosteriorResult:
    """Sequential NPE for prep 845_082_0044 and the eLife Fig 8-9 analyses (module docstring).

    Args:
        config: study settings.
        out: output folder (created); an earlier run's ``out/state`` is resumed.
        simulate: ``simulate(theta (m, 31), seeds (m,)) -> features (m, 18)`` (eLife order,
            NaN = invalid; ``(m, 26)`` with the extras, last column the rhythm class);
            ``None`` builds a :class:`~neurodyn.simulators.pyloric.PyloricNetwork`.
        traces: ``traces(theta (k, 31), seeds (k,)) -> voltages (k, steps, 3)`` for the trace
            figure; ``None`` with the real simulator, skipped with a custom ``simulate``.
        prior: the 31-parameter box prior (``None``: the eLife/PNAS prior).
        echo: progress messages.

    Returns:
        A :class:`PyloricPosteriorResult`.
    """
    from neurodyn.inference import NPE, NPEConfig, Posterior

    cfg = config if config is not None else PyloricPosteriorConfig()
    if not isinstance(cfg, PyloricPosteriorConfig):
        fail("config", "a PyloricPosteriorConfig", type(cfg).__name__, exc=TypeError)
    out = Path(out)
    state = out / "state"
    state.mkdir(parents=True, exist_ok=True)
    data = _data_dir(cfg.data_dir)
    xo, pop_sd = _load_observation(data)
    device = resolve_device(cfg.device)
    done_sims = [(state / f"round_{r}.safetensors").is_file() for r in range(cfg.num_rounds)]
    done_post = [
        (state / f"posterior_{r}" / "posterior.json").is_file() for r in range(cfg.num_rounds)
    ]
    phases = []
    for r in range(cfg.num_rounds):
        phases.append((f"sim{r}", 0.0 if done_sims[r] else cfg.simulation_shares[r]))
        phases.append((f"train{r}", 0.0 if done_post[r] else cfg.training_shares[r]))
    phases.append(("analysis", 1.0 - sum(cfg.simulation_shares) - sum(cfg.training_shares)))
    clock = _Clock(cfg.budget_s, phases)
    compile_s, dt = 0.0, 0.025
    if simulate is None:
        echo("compiling the pyloric kernel")
        simulate, traces, compile_s, dt = _make_simulator(cfg, device)
    if prior is None:
        from neurodyn.simulators.pyloric import pyloric_prior

        prior = pyloric_prior()
    prior = prior.to(device) if hasattr(prior, "to") else prior
    low, high = prior.low.detach().cpu().double(), prior.high.detach().cpu().double()
    z_mean, z_sd = (low + high) / 2, (high - low) / 12**0.5
    xo_t = torch.as_tensor(xo, dtype=torch.float32)
    base = NPEConfig(
        estimator=cfg.estimator,
        activation="relu",  # the setting the study was measured with
        hidden_features=cfg.hidden_features,
        num_transforms=cfg.num_transforms,
        theta_transform="logit",
        learning_rate=cfg.learning_rate,
        max_epochs=cfg.max_epochs,
        patience=cfg.patience,
        lr_decay=cfg.lr_decay,
        num_atoms=cfg.num_atoms,
        seed=cfg.seed,
        device=str(device),
    )
    npe = NPE(prior, base)
    rounds: list[dict[str, Any]] = []
    posterior = None
    for r in range(cfg.num_rounds):
        path = state / f"round_{r}.safetensors"
        loaded = _load_round(path)
        proposal, prop_info = None, {}
        if loaded is None:
            kind = "prior"
            if r == 0:

                def sample(n: int, b: int) -> torch.Tensor:
                    g = torch.Generator().manual_seed(int(seeds_for(cfg.seed, 0, b, 7, num=1)[0]))
                    return (
                        low
                        + (high - low)
                        * torch.rand(n, low.numel(), generator=g, dtype=torch.float64)
                    ).float()
            elif cfg.proposal == "posterior-apt":
                kind, proposal = "posterior", posterior

                def sample(n: int, b: int, post: Any = posterior, r: int = r) -> torch.Tensor:
                    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                        torch.manual_seed(int(seeds_for(cfg.seed, r, b, 7, num=1)[0]))
                        return post.sample((n,), x=xo_t).cpu()
            else:
                sim_s = 1.0 / max(rounds[0]["sims_per_s"], 1e-9)
                proposal, prop_info = _truncated_proposal(posterior, xo_t, cfg, device, r, sim_s)
                kind = "truncated" if proposal is not None else "prior"
                stats = {"drawn": 0.0, "accepted": 0, "seconds": 0.0}

                def sample(
                    n: int, b: int, prop: Any = proposal, r: int = r, stats: dict = stats
                ) -> torch.Tensor:
                    t0 = time.perf_counter()
                    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                        torch.manual_seed(int(seeds_for(cfg.seed, r, b, 7, num=1)[0]))
                        if prop is None:
                            th = prior.sample((n,))
                        else:
                            th = prop.sample((n,))
                            stats["drawn"] += n / max(prop.acceptance_rate, 1e-300)
                            stats["accepted"] += n
                    stats["seconds"] += time.perf_counter() - t0
                    return th.cpu()

            have = sum(int(is_valid(x).sum()) for _, x, _ in npe._rounds)
            theta_v, x_v, info = _simulate_round(r, sample, simulate, cfg, clock, have)
            info["proposal"] = {
                "prior": "prior",
                "posterior": "posterior at x_o",
                "truncated": "truncated prior (TSNPE)",
            }[kind]
            info["proposal_kind"] = kind
            info.update(prop_info)
            if r > 0 and cfg.proposal == "truncated":
                info["proposal_seconds"] = stats["seconds"]
                if stats["accepted"]:
                    info["truncation_acceptance"] = stats["accepted"] / stats["drawn"]
            echo(
                f"round {r + 1}: {info['valid']} valid of {info['simulated']} "
                f"({info['valid_fraction']:.2%}) in {info['sim_seconds']:.0f} s, "
                f"proposal {info['proposal']}"
            )
            _save_round(path, theta_v, x_v, info)
        else:
            theta_v, x_v, info = loaded
            kind = info.get("proposal_kind", "prior" if r == 0 else "posterior")
            proposal = posterior if kind == "posterior" else None
            echo(f"round {r + 1}: resumed ({info['valid']} valid of {info['simulated']})")
        if cfg.stop_after_round == r + 1:
            numbers = {"rounds": [*rounds, info], "config": asdict(cfg), "device": str(device)}
            numbers |= {"compile_seconds": compile_s, "seconds": clock.elapsed()}
            (out / "result.json").write_text(json.dumps(numbers, indent=1, default=_json_default))
            return PyloricPosteriorResult(numbers=numbers, posterior=None, out=out, report=None)
        # truncated/prior rounds: plain loss (a Posterior proposal switches NPE to APT)
        npe.append_simulations(theta_v, x_v, proposal=proposal if kind == "posterior" else None)
        total_valid = sum(int(is_valid(x).sum()) for _, x, _ in npe._rounds)
        if total_valid < cfg.min_valid:
            fail(
                "simulations",
                f"at least min_valid={cfg.min_valid} valid simulations to train on",
                total_valid,
                "Increase budget_s or the round's share, or lower min_valid.",
                exc=RuntimeError,
            )
        post_dir = state / f"posterior_{r}"
        if done_post[r] and (post_dir / "posterior.json").is_file():
            posterior = Posterior.load(post_dir, device=device)
            info.update(json.loads((post_dir / "training.json").read_text()))
            saved = posterior.config
            if (saved.estimator, saved.hidden_features, saved.num_transforms) == (
                cfg.estimator,
                cfg.hidden_features,
                cfg.num_transforms,
            ):  # warm start of the next round from the saved network (no public setter)
                npe._estimator, npe.resolved_config = posterior.estimator, posterior.config
            else:
                echo(
                    f"round {r + 1}: the saved posterior is a {saved.estimator} "
                    f"{saved.num_transforms}x{saved.hidden_features}; the next training "
                    f"starts a fresh {cfg.estimator} {cfg.num_transforms}x{cfg.hidden_features}"
                )
        else:
            info.update(_train(npe, base, cfg, r, clock, state / f"train_{r}"))
            posterior = npe.build_posterior()
            posterior.save(post_dir)
            (post_dir / "training.json").write_text(
                json.dumps(
                    {
                        k: info[k]
                        for k in info
                        if k.startswith(
                            ("train_", "epochs", "best_", "stopped", "batch", "loss", "num_steps")
                        )
                    }
                )
            )
            echo(f"round {r + 1}: trained {info['epochs']} epochs in {info['train_seconds']:.0f} s")
        rounds.append(info)
        posterior.set_default_x(xo_t)
    _write_rounds_csv(out / "rounds.csv", rounds)
    posterior.save(out / "posterior")

    from neurodyn.studies._pyloric_posterior_analysis import analyse, write_report

    numbers = analyse(
        posterior,
        cfg=cfg,
        clock=clock,
        simulate=simulate,
        traces=traces,
        prior=prior,
        xo=xo,
        pop_sd=pop_sd,
        z_mean=z_mean,
        z_sd=z_sd,
        dt=dt,
        data=data,
        out=out,
        echo=echo,
        grad_posterior=_GradPosterior(posterior, xo_t),
        fallback=(torch.cat([r[0] for r in npe._rounds]), torch.cat([r[1] for r in npe._rounds])),
    )
    numbers["config"] = asdict(cfg)
    numbers["device"] = str(device)
    numbers["compile_seconds"] = compile_s
    numbers["rounds"] = rounds
    numbers["num_valid_total"] = sum(r["valid"] for r in rounds)
    numbers["num_simulated_total"] = sum(r["simulated"] for r in rounds)
    numbers["seconds"] = clock.elapsed()
    (out / "result.json").write_text(json.dumps(numbers, indent=1, default=_json_default))
    report = write_report(numbers, out)
    return PyloricPosteriorResult(numbers=numbers, posterior=posterior, out=out, report=report)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return np.asarray(value).tolist()
    return str(value)


def _write_rounds_csv(path: Path, rounds: list[dict[str, Any]]) -> None:
    cols = [
        "round", "proposal", "simulated", "valid", "invalid", "not_bursting", "irregular",
        "valid_fraction", "sim_seconds", "sims_per_s", "loss", "train_seconds", "epochs",
        "best_epoch", "best_val_loss", "batch_size", "truncation_acceptance",
        "truncation_cost_in_simulations", "proposal_seconds",
    ]  # fmt: skip
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rounds:
            w.writerow(r)
