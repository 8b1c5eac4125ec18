"""The main job behind ``neurodyn demo hh``: simulate → train → posterior → diagnose → analyse.

For the eLife 2020 synthetic Hodgkin–Huxley observation: prior simulations, a neural spline
flow posterior, posterior summaries, a posterior predictive check (features and traces),
simulation-based calibration, and the posterior analyses of :mod:`neurodyn.analysis`
(sensitivity directions, conditional correlations, a high-probability path between two
disparate posterior samples). Every section is appended to a
:class:`~neurodyn.plot.report.Report`; figures are embedded, so the only files written are the
report's (into the output folder).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from neurodyn._validation import check_positive

__all__ = ["PipelineConfig", "run_hh_pipeline"]


@dataclass(frozen=True)
class PipelineConfig:
    """Budgets of :func:`run_hh_pipeline` (defaults: ≤ 5 minutes on 2 CPU cores).

    Args:
        num_simulations: prior simulations for training.
        max_epochs: training epochs at most (early stopping on 10 % validation data).
        num_posterior_samples: samples at x_o for summaries and plots.
        num_ppc: posterior predictive simulations.
        num_sbc: SBC test simulations (each with ``sbc_samples`` posterior samples).
        sbc_samples: posterior samples per SBC test.
        num_sensitivity: posterior samples for the active subspace.
        num_conditions: conditioning samples for the conditional correlations.
        cc_resolution: grid cells per axis of the conditional densities.
        path_iterations: BFGS iterations per stage of the high-probability path.
        hidden_features: width of the flow's conditioners.
        num_transforms: spline transforms of the flow.
        seed: seed of every random step.
    """

    num_simulations: int = 10_000
    max_epochs: int = 40
    num_posterior_samples: int = 2_000
    num_ppc: int = 200
    num_sbc: int = 100
    sbc_samples: int = 100
    num_sensitivity: int = 500
    num_conditions: int = 10
    cc_resolution: int = 25
    path_iterations: int = 15
    hidden_features: int = 50
    num_transforms: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            if k != "seed":
                check_positive(k, v, integer=True)

    @classmethod
    def quick(cls) -> PipelineConfig:
        """Tiny budgets for smoke tests (seconds)."""
        return cls(
            num_simulations=300,
            max_epochs=2,
            num_posterior_samples=100,
            num_ppc=10,
            num_sbc=10,
            sbc_samples=20,
            num_sensitivity=10,
            num_conditions=1,
            cc_resolution=5,
            path_iterations=1,
            hidden_features=16,
            num_transforms=1,
        )


def _matrix_figure(matrix: np.ndarray, names: tuple[str, ...], title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 4.4), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=10)
    return fig


def _traces_figure(dt: float, observed: np.ndarray, predicted: np.ndarray):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.0), layout="constrained")
    ax = fig.subplots()
    t = np.arange(observed.size) * dt
    for k, v in enumerate(predicted):
        ax.plot(
            t, v, color="#d62728", lw=0.6, alpha=0.7, label="posterior samples" if k == 0 else None
        )
    ax.plot(t, observed, color="k", lw=0.9, label="x_o (eLife observation)")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("V (mV)")
    ax.legend(fontsize=8, frameon=False)
    return fig


def _ppc_figure(x_pred: np.ndarray, x_o: np.ndarray, names: tuple[str, ...]):
    from matplotlib.figure import Figure

    d = len(names)
    fig = Figure(figsize=(2.2 * d, 2.3), layout="constrained")
    axes = fig.subplots(1, d, squeeze=False)[0]
    ok = np.isfinite(x_pred).all(1)
    for i, ax in enumerate(axes):
        ax.hist(x_pred[ok, i], bins=25, color="#1f77b4", alpha=0.8)
        ax.axvline(x_o[i], color="k", lw=1.5)
        ax.set_title(names[i], fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    return fig


def run_hh_pipeline(
    report: Any,
    *,
    device: str | torch.device = "auto",
    config: PipelineConfig | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the HH main job and append its sections to ``report``.

    Args:
        report: a :class:`~neurodyn.plot.report.Report`.
        device: ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``.
        config: budgets; ``None`` uses the defaults.
        say: progress messages (stage and elapsed seconds); ``None`` prints them (flushed).

    Returns:
        dict of the headline numbers (also recorded in the report).
    """
    from neurodyn._runtime import resolve_device
    from neurodyn.analysis import conditional_correlation, high_probability_path, sensitivity
    from neurodyn.diagnostics.ppc import posterior_predictive_check
    from neurodyn.diagnostics.sbc import sbc
    from neurodyn.inference import NPE, NPEConfig
    from neurodyn.plot.conditional import path_profile
    from neurodyn.plot.diagnostics import plot_sbc_ranks
    from neurodyn.plot.pairplot import pairplot
    from neurodyn.simulators import HH_TRUE_THETA, HodgkinHuxley
    from neurodyn.studies.hh_synthetic import elife_observation, posterior_summary

    cfg = config or PipelineConfig()
    say = say or (lambda msg: print(msg, flush=True))
    dev = resolve_device(device)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def stage(msg: str) -> None:
        say(f"[{time.perf_counter() - t0:6.1f} s] {msg}")

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = now - since
        return now

    hh = HodgkinHuxley(device=dev)
    prior, names = hh.prior, tuple(hh.param_names)
    theta_true = torch.tensor(HH_TRUE_THETA)
    x_o, trace_o = elife_observation(hh, theta_true)
    g = torch.Generator().manual_seed(cfg.seed)

    def draw(n: int) -> torch.Tensor:
        u = torch.rand(n, len(names), generator=g)
        return (prior.low.cpu() + u * (prior.high - prior.low).cpu()).float()

    t = time.perf_counter()
    stage(f"simulating {cfg.num_simulations} Hodgkin-Huxley neurons on {hh.device}")
    theta = draw(cfg.num_simulations)
    x = hh.simulate(theta.to(hh.device), seed=cfg.seed).cpu().float()
    num_valid = int(torch.isfinite(x).all(1).sum())
    t = lap("simulate", t)

    stage(f"training a neural spline flow on {num_valid} valid simulations")
    npe = NPE(
        prior,
        NPEConfig(
            estimator="nsf",
            hidden_features=cfg.hidden_features,
            num_transforms=cfg.num_transforms,
            batch_size=256,
            max_epochs=cfg.max_epochs,
            seed=cfg.seed,
            device=str(dev),
        ),
    )
    post = npe.append_simulations(theta, x).train_and_build()
    t = lap("train", t)
    summary = npe.summary

    stage("sampling the posterior at the eLife observation")
    xo_dev = x_o.to(post.device)
    samples = post.sample((cfg.num_posterior_samples,), x=xo_dev).cpu()
    summ = posterior_summary(samples, prior, theta_true)
    t = lap("sample", t)

    stage(f"posterior predictive check ({cfg.num_ppc} simulations)")
    ppc = posterior_predictive_check(
        post,
        lambda th: hh.simulate(th.to(hh.device), seed=cfg.seed + 1).cpu(),
        xo_dev,
        num_samples=cfg.num_ppc,
    )
    pred_traces = (
        hh.simulate(samples[:5].to(hh.device), seed=cfg.seed + 2, output="trace").cpu().numpy()
    )
    t = lap("ppc", t)

    stage(f"simulation-based calibration ({cfg.num_sbc} tests)")
    theta_sbc = draw(cfg.num_sbc)
    x_sbc = hh.simulate(theta_sbc.to(hh.device), seed=cfg.seed + 3).cpu().float()
    sbc_res = sbc(post, theta_sbc, x_sbc, num_posterior_samples=cfg.sbc_samples, seed=cfg.seed)
    t = lap("sbc", t)

    stage("posterior analysis: sensitivity, conditional correlations, high-probability path")
    sens = sensitivity(post, xo_dev, theta=samples[: cfg.num_sensitivity])
    cc = conditional_correlation(
        post, samples[: cfg.num_conditions], xo_dev, resolution=cfg.cc_resolution
    )
    # two posterior samples far apart in z-space (among the first 200)
    z = (samples[:200].double() - (prior.low + prior.high).cpu() / 2) / (
        (prior.high - prior.low).cpu() / 12**0.5
    )
    i, j = divmod(int(torch.cdist(z, z).argmax()), z.shape[0])
    path = high_probability_path(
        post, samples[i], samples[j], xo_dev, num_points=30, max_iter=cfg.path_iterations
    )
    t = lap("analysis", t)
    stage("writing the report")

    corr_marg = np.corrcoef(samples.numpy().T)
    rep = report
    rep.heading("Posterior at the eLife observation")
    rep.text(
        f"{cfg.num_simulations} prior simulations ({num_valid} valid); neural spline flow "
        f"trained for {summary.epochs} epochs (best validation loss "
        f"{summary.best_val_loss:.3f}) on {dev}."
    )
    rep.status(
        "true parameters inside the 95 % central interval",
        bool(summ["covered"].all()),
        f"{int(summ['covered'].sum())}/{len(names)} parameters",
    )
    rep.table(
        [
            [
                n,
                float(theta_true[k]),
                float(summ["mean"][k]),
                float(summ["sd"][k]),
                float(summ["lower"][k]),
                float(summ["upper"][k]),
                "yes" if summ["covered"][k] else "NO",
            ]
            for k, n in enumerate(names)
        ],
        header=["parameter", "true", "mean", "sd / prior sd", "2.5 %", "97.5 %", "covered"],
    )
    rep.figure(
        pairplot(
            samples,
            points={"true θ": theta_true},
            paths={"high-probability path": path.theta},
            labels=list(names),
            limits=torch.stack([prior.low, prior.high], 1).cpu(),
            bins=30,
        ),
        "posterior samples; red: true parameters; green: high-probability path",
    )
    rep.heading("Posterior predictive check")
    rep.status(
        "x_o inside the posterior predictive distribution",
        ppc.passed,
        f"valid fraction {ppc.fraction_valid:.2f}; |z| max {np.nanmax(np.abs(ppc.zscores)):.2f}",
    )
    rep.table(
        [
            [
                n,
                float(x_o[k]),
                float(np.nanmedian(ppc.x_pred[:, k])),
                float(ppc.zscores[k]),
                float(ppc.pvalues[k]),
            ]
            for k, n in enumerate(hh.feature_names)
        ],
        header=["feature", "x_o", "predictive median", "z", "p"],
    )
    rep.figure(
        _ppc_figure(ppc.x_pred, x_o.numpy(), tuple(hh.feature_names)),
        "posterior predictive features (histograms) and x_o (black)",
    )
    rep.figure(
        _traces_figure(hh.dt, trace_o.numpy(), pred_traces),
        "observed trace and posterior predictive traces",
    )
    rep.heading("Simulation-based calibration")
    rep.status(
        "SBC ranks uniform (KS, Bonferroni)",
        sbc_res.passed,
        f"{cfg.num_sbc} tests × {cfg.sbc_samples} samples; min p "
        f"{float(sbc_res.ks_pvalues.min()):.3g}",
    )
    rep.figure(plot_sbc_ranks(sbc_res), "SBC rank histograms (grey: 99 % band)")
    rep.heading("Posterior analysis")
    rep.text(
        "Sensitivity (active subspace of log q, gradients in prior-sd units): "
        "eigenvalues "
        + ", ".join(f"{v:.3g}" for v in sens.eigenvalues.numpy())
        + ". Most sensitive direction: "
        + ", ".join(
            f"{n} {v:+.2f}" for n, v in zip(names, sens.eigenvectors[:, 0].numpy(), strict=True)
        )
        + "."
    )
    rep.figure(
        _matrix_figure(
            cc.matrix.numpy(), names, f"conditional correlations ({cfg.num_conditions} conditions)"
        ),
        "conditional correlations (eLife Fig 9 method)",
    )
    rep.figure(
        _matrix_figure(corr_marg, names, "marginal correlations"),
        "marginal correlations of the posterior samples, for contrast",
    )
    rep.text(
        f"High-probability path between two disparate posterior samples: length "
        f"{path.length:.2f} vs straight line {path.straight_length:.2f} (z-units); "
        f"lowest log q on the path {float(path.log_prob.min()):.2f} vs straight line "
        f"{float(path.straight_log_prob.min()):.2f}; prior violation "
        f"{path.max_prior_violation:.1e}."
    )
    rep.figure(path_profile(path), "log q along the path and the straight line")
    seconds = time.perf_counter() - t0
    rep.heading("Run", 3)
    rep.table(
        [[k, v] for k, v in timings.items()] + [["total", seconds]], header=["stage", "seconds"]
    )
    numbers = {
        "num_valid": num_valid,
        "epochs": summary.epochs,
        "covered": int(summ["covered"].sum()),
        "sd_over_prior_sd": summ["sd"].tolist(),
        "ppc_passed": ppc.passed,
        "ppc_fraction_valid": ppc.fraction_valid,
        "sbc_passed": sbc_res.passed,
        "sbc_min_p": float(sbc_res.ks_pvalues.min()),
        "sensitivity_eigenvalues": sens.eigenvalues.tolist(),
        "path_length": path.length,
        "path_straight_length": path.straight_length,
        "timings_s": timings,
        "seconds": seconds,
        "device": str(dev),
    }
    for k, v in {**{f"config.{a}": b for a, b in asdict(cfg).items()}, **numbers}.items():
        rep.record(k, v)
    return numbers
