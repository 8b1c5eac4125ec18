"""Hodgkin–Huxley fits to 10 Allen Cell Types recordings (eLife 2020, Fig 6).

For every cell: the HH model is driven by the recorded current (converted to µA/cm² with the
cell's soma area, as in the eLife code), started at the first recorded potential (with the
−14 mV junction correction), simulated from the 8-parameter prior, and a posterior is trained
on the 7 eLife features and conditioned on the recording's features. Reported per cell:
posterior predictive features against the observed ones (fraction valid, z-scores, relative
error of the median), and a posterior predictive trace beside the recording.

Run: ``neurodyn study hh-allen --out DIR [--num-simulations N]`` (N per cell).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodyn._runtime import resolve_device
from neurodyn._validation import check_file, check_positive, fail

__all__ = ["JUNCTION_MV", "HHAllenConfig", "HHAllenResult", "load_allen_cells", "run_hh_allen"]

_FILE = "elife2020_allen_cells_10sweeps.npz"
#: liquid junction potential added to the recorded voltages by the eLife code (mV)
JUNCTION_MV = -14.0


@dataclass(frozen=True)
class HHAllenConfig:
    """Settings of :func:`run_hh_allen`.

    Args:
        num_simulations: prior simulations per cell (eLife: 2 rounds × 125 000, SNPE-B).
        num_cells: fit the first ``num_cells`` of the 10 recordings.
        num_posterior_samples: posterior samples per cell.
        num_predictive: posterior predictive simulations per cell.
        estimator: ``"mdn"`` (eLife: one Gaussian component), ``"maf"`` or ``"nsf"``.
        num_components: mixture components of the MDN (eLife: 1).
        hidden_features: width of the networks (eLife: 100).
        max_epochs: training epochs at most.
        batch_size: minibatch size.
        seed: seed of draws, simulations and training.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        data_dir: folder with the eLife reference data (``None``: ``NEURODYN_SHARED_DATA`` or
            ``../shared/data``).
    """

    num_simulations: int = 10_000
    num_cells: int = 10
    num_posterior_samples: int = 1_000
    num_predictive: int = 100
    estimator: str = "mdn"
    num_components: int = 1
    hidden_features: int = 100
    max_epochs: int = 200
    batch_size: int = 500
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "num_simulations",
            "num_cells",
            "num_posterior_samples",
            "num_predictive",
            "num_components",
            "hidden_features",
            "max_epochs",
            "batch_size",
        ):
            check_positive(name, getattr(self, name), integer=True)


@dataclass(frozen=True)
class HHAllenResult:
    """Numbers of the study (also in ``report.json``).

    Attributes:
        cell_ids: the fitted cells.
        observed: observed features ``(num_cells, 7)``.
        predicted_median: median posterior predictive features ``(num_cells, 7)``.
        zscores: ``(observed − median) / sd`` of the predictive features ``(num_cells, 7)``.
        fraction_valid: valid posterior predictive simulations per cell.
        posterior_mean: posterior means ``(num_cells, 8)``.
        report: the HTML report.
        seconds: wall time.
    """

    cell_ids: list[str]
    observed: np.ndarray
    predicted_median: np.ndarray
    zscores: np.ndarray
    fraction_valid: np.ndarray
    posterior_mean: np.ndarray
    report: Path
    seconds: float


def load_allen_cells(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The 10 eLife Allen recordings: voltage, current, area, windows and features.

    Returns:
        one dict per cell with ``cell_id``, ``sweep``, ``V_mV`` ``(num_steps,)`` (junction
        corrected), ``I_nA`` ``(num_steps,)``, ``area_cm2``, ``dt_ms``, ``t_on_ms``,
        ``t_off_ms`` and ``x_o`` ``(7,)`` (the eLife features of the corrected trace).
    """
    if data_dir is None:
        env = os.environ.get("NEURODYN_SHARED_DATA")
        data_dir = Path(env) if env else Path.cwd().parent / "shared" / "data"
    path = check_file("data_dir", Path(data_dir) / _FILE)
    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    cells = []
    for i, (cid, sw) in enumerate(zip(d["cell_id"], d["sweep"], strict=True)):
        key = f"{int(cid)}_{int(sw)}"
        cells.append(
            {
                "cell_id": str(int(cid)),
                "sweep": int(sw),
                "V_mV": d[f"V_mV_{key}"].astype(np.float64) + JUNCTION_MV,
                "I_nA": d[f"I_uA_{key}"].astype(np.float64) * 1e3,
                "area_cm2": float(d["A_soma_cm2"][i]),
                "dt_ms": float(d["dt_ms"][i]),
                "t_on_ms": float(d["t_on_ms"][i]),
                "t_off_ms": float(d["t_off_ms"][i]),
                "x_o": d["stats7_with_junction_minus14mV"][i].astype(np.float64),
            }
        )
    return cells


def _default_factory(device: torch.device) -> Callable[[dict[str, Any]], Any]:
    from neurodyn.simulators import HodgkinHuxley

    def make(cell: dict[str, Any]) -> Any:
        return HodgkinHuxley(
            dt=cell["dt_ms"],
            t_max=None,
            current=cell["I_nA"],
            soma_area_cm2=cell["area_cm2"],
            t_on=cell["t_on_ms"],
            t_off=cell["t_off_ms"],
            v0=float(cell["V_mV"][0]),
            device=device,
        )

    return make


def _trace_figure(cells, traces, dt_ms):
    from matplotlib.figure import Figure

    n = len(cells)
    cols = 2
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(12, 2.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, cell, tr in zip(axes, cells, traces, strict=False):
        t = np.arange(cell["V_mV"].size) * cell["dt_ms"]
        ax.plot(t, cell["V_mV"], color="k", lw=0.5, label="recording")
        if tr is not None:
            ax.plot(
                np.arange(tr.size) * dt_ms,
                tr,
                color="#d62728",
                lw=0.5,
                alpha=0.8,
                label="posterior sample",
            )
        ax.set_title(f"cell {cell['cell_id']} sweep {cell['sweep']}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[n:]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7, frameon=False, loc="upper right")
    return fig


def run_hh_allen(
    config: HHAllenConfig | None = None,
    *,
    out: str | Path,
    simulator_factory: Callable[[dict[str, Any]], Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> HHAllenResult:
    """Fit every cell and write ``report.html``/``report.json`` into ``out``.

    Args:
        config: study settings.
        out: output folder (created; nothing is written elsewhere).
        simulator_factory: ``factory(cell) -> simulator`` (protocol of
            :class:`~neurodyn.simulators.HodgkinHuxley`); ``None`` builds the HH model driven
            by the cell's recorded current.
        progress: called with a short message at each stage.

    Returns:
        An :class:`HHAllenResult`.
    """
    from neurodyn.inference import NPE, NPEConfig
    from neurodyn.plot.report import Report

    config = config or HHAllenConfig()
    if not isinstance(config, HHAllenConfig):
        fail("config", "an HHAllenConfig", type(config).__name__, exc=TypeError)
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    out = Path(out)
    device = resolve_device(config.device)
    cells = load_allen_cells(config.data_dir)[: config.num_cells]
    factory = simulator_factory or _default_factory(device)
    observed, medians, zs, fracs, means, traces, ids = [], [], [], [], [], [], []
    feature_names: tuple[str, ...] = ()
    param_names: tuple[str, ...] = ()
    dt_ms = cells[0]["dt_ms"]
    for c, cell in enumerate(cells):
        sim = factory(cell)
        feature_names, param_names = tuple(sim.feature_names), tuple(sim.param_names)
        prior = sim.prior
        say(f"cell {c + 1}/{len(cells)} ({cell['cell_id']}): {config.num_simulations} sims")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed + c)
            theta = prior.sample((config.num_simulations,)).cpu().float()
        x = sim.simulate(theta.to(sim.device), seed=config.seed + 1000 * c).cpu().float()
        npe_cfg = NPEConfig(
            estimator=config.estimator,
            num_components=config.num_components,
            activation="relu",  # the setting the study was measured with
            hidden_features=config.hidden_features,
            max_epochs=config.max_epochs,
            batch_size=config.batch_size,
            seed=config.seed + c,
            device=str(device),
        )
        post = NPE(prior, npe_cfg).append_simulations(theta, x).train_and_build(show_progress=False)
        x_o = torch.as_tensor(cell["x_o"], dtype=torch.float32)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed + 500 + c)
            samples = post.sample((config.num_posterior_samples,), x=x_o.to(post.device)).cpu()
        pred = (
            sim.simulate(
                samples[: config.num_predictive].to(sim.device), seed=config.seed + 1000 * c + 1
            )
            .cpu()
            .double()
        )
        ok = torch.isfinite(pred).all(1)
        pv = pred[ok]
        med = pv.median(0).values.numpy() if pv.shape[0] else np.full(x_o.numel(), np.nan)
        z = (
            ((x_o.double() - pv.median(0).values) / pv.std(0).clamp_min(1e-12)).numpy()
            if pv.shape[0] > 1
            else np.full(x_o.numel(), np.nan)
        )
        try:
            tr = (
                sim.simulate(samples[:1].to(sim.device), seed=config.seed + 7, output="trace")
                .cpu()
                .numpy()[0]
            )
        except (ValueError, TypeError):
            tr = None
        observed.append(cell["x_o"])
        medians.append(med)
        zs.append(z)
        fracs.append(float(ok.double().mean()))
        means.append(samples.double().mean(0).numpy())
        traces.append(tr)
        ids.append(cell["cell_id"])
    observed_a, medians_a, zs_a = np.stack(observed), np.stack(medians), np.stack(zs)
    fracs_a, means_a = np.array(fracs), np.stack(means)
    seconds = time.perf_counter() - t0

    say("writing report")
    rep = Report("neurodyn — Hodgkin–Huxley fits to Allen Cell Types recordings (eLife Fig 6)")
    rep.text(
        f"{len(cells)} recordings; per cell {config.num_simulations} prior simulations "
        f"driven by the recorded current, {config.estimator.upper()} posterior on the "
        "7 eLife features (junction potential −14 mV applied)."
    )
    within = np.abs(zs_a) <= 2
    rep.heading("Summary")
    rep.status(
        "posterior predictive features within 2 sd of the recording",
        bool(within.mean() >= 0.8),
        f"{within.mean():.0%} of cell×feature pairs; median |z| "
        f"{np.nanmedian(np.abs(zs_a)):.2f}; mean valid fraction {fracs_a.mean():.2f}",
    )
    rep.heading("Observed vs posterior predictive median", 3)
    rows = []
    for c, cid in enumerate(ids):
        rows.append([f"{cid} observed", *[float(v) for v in observed_a[c]], ""])
        rows.append([f"{cid} predicted", *[float(v) for v in medians_a[c]], fracs_a[c]])
    rep.table(rows, header=["cell", *feature_names, "valid"])
    rep.heading("z-scores (observed − median) / sd", 3)
    rep.table(
        [[cid, *[float(v) for v in zs_a[c]]] for c, cid in enumerate(ids)],
        header=["cell", *feature_names],
    )
    rep.heading("Posterior means", 3)
    rep.table(
        [[cid, *[float(v) for v in means_a[c]]] for c, cid in enumerate(ids)],
        header=["cell", *param_names],
    )
    rep.figure(
        _trace_figure(cells, traces, dt_ms),
        "recording (black) and one posterior predictive simulation (red) per cell",
    )
    rep.heading("Reproduce", 3)
    rep.code(
        f"neurodyn study hh-allen --out {out} --num-simulations {config.num_simulations}"
        f" --seed {config.seed}\nwall time {seconds:.0f} s on {device}"
    )
    for k, v in asdict(config).items():
        rep.record(f"config.{k}", v)
    rep.record("cell_ids", ids)
    rep.record("fraction_within_2sd", float(within.mean()))
    rep.record("median_abs_z", float(np.nanmedian(np.abs(zs_a))))
    rep.record("fraction_valid", fracs_a.tolist())
    rep.record("zscores", zs_a.tolist())
    rep.record("seconds", seconds)
    report = rep.save(out / "report.html")
    return HHAllenResult(
        cell_ids=ids,
        observed=observed_a,
        predicted_median=medians_a,
        zscores=zs_a,
        fraction_valid=fracs_a,
        posterior_mean=means_a,
        report=report,
        seconds=seconds,
    )
