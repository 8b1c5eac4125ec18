"""Pyloric study (eLife 2020, Fig 8): does the rhythm survive along the high-probability path
and break along a short orthogonal perturbation?

The eLife posterior itself is not available (its training set and network are not in the
authors' repository snapshot), so this study re-simulates the published paths — the
high-probability path between two disparate parameter sets (``sample_pair_3``) and the
orthogonal perturbation path, both saved in z-space in ``elife2020_stg_paths_extracted.npz`` —
with neurodyn's :class:`~neurodyn.simulators.pyloric.PyloricNetwork` and classifies each
simulation with :func:`neurodyn.analysis.circuit_breakdown`. The same simulation/breakdown code
applies to paths computed with :func:`neurodyn.analysis.high_probability_path` on a posterior
trained with neurodyn (the inference budget for 31 parameters — eLife used ~18 M prior
simulations — needs a GPU campaign, see ``docs/compute.md``).

Run: ``neurodyn study pyloric --out DIR`` (about 45 simulations of 11 s network time).
"""

from __future__ import annotations

import csv
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodyn._validation import check_file, check_positive, fail
from neurodyn.analysis import BreakdownResult, circuit_breakdown

__all__ = ["PyloricStudyConfig", "PyloricStudyResult", "run_pyloric_study"]

_PATHS_FILE = "elife2020_stg_paths_extracted.npz"
_XO_FILE = "stg_xo_845_082_0044_elife_order.csv"


@dataclass(frozen=True)
class PyloricStudyConfig:
    """Settings of :func:`run_pyloric_study`.

    Args:
        num_path_points: points simulated on the 80-point high-probability path, equally
            spaced in arc length (eLife: 20).
        num_ortho_points: points simulated on the orthogonal path (``None``: all 25).
        seed: simulation seed (one per point, ``derive_seeds(seed, num)``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        data_dir: folder with the eLife reference files; ``None`` uses ``NEURODYN_SHARED_DATA``
            or ``../shared/data`` beside the working directory.
    """

    num_path_points: int = 20
    num_ortho_points: int | None = None
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None

    def __post_init__(self) -> None:
        check_positive("num_path_points", self.num_path_points, integer=True)
        if self.num_ortho_points is not None:
            check_positive("num_ortho_points", self.num_ortho_points, integer=True)


@dataclass(frozen=True)
class PyloricStudyResult:
    """Numbers of :func:`run_pyloric_study` (also saved as ``report.json``).

    Attributes:
        path: breakdown along the high-probability path.
        ortho: breakdown along the orthogonal path.
        path_distance: mean |x − x_o| / population sd over the 15 timing features, per
            simulated path point (NaN where invalid).
        report: path of the HTML report.
        seconds: wall time.
    """

    path: BreakdownResult
    ortho: BreakdownResult
    path_distance: np.ndarray
    report: Path
    seconds: float


def _data_dir(config: PyloricStudyConfig) -> Path:
    if config.data_dir is not None:
        return Path(config.data_dir)
    env = os.environ.get("NEURODYN_SHARED_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data"


def _load_xo(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = list(csv.DictReader(path.open()))
    xo = np.array([float(r["xo_prep845_082_0044"]) for r in rows])
    mean = np.array([float(r["hardcoded_pop_mean"] or "nan") for r in rows])
    sd = np.array([float(r["hardcoded_pop_std"] or "nan") for r in rows])
    return xo, mean, sd


def run_pyloric_study(
    config: PyloricStudyConfig | None = None,
    *,
    out: str | Path,
    simulate: Callable[[torch.Tensor], Any] | None = None,
    prior: Any = None,
) -> PyloricStudyResult:
    """Simulate along the eLife high-probability and orthogonal paths; write a report.

    Args:
        config: study settings.
        out: output folder (created; nothing is written elsewhere).
        simulate: ``simulate(theta (m, 31)) -> features (m, 18)``; ``None`` builds a
            :class:`~neurodyn.simulators.pyloric.PyloricNetwork` (eLife feature order).
        prior: the 31-parameter prior defining the z-scoring; ``None`` uses
            :func:`~neurodyn.simulators.pyloric.pyloric_prior`.

    Returns:
        A :class:`PyloricStudyResult`.
    """
    from neurodyn.plot.report import Report

    config = config or PyloricStudyConfig()
    if not isinstance(config, PyloricStudyConfig):
        fail("config", "a PyloricStudyConfig", type(config).__name__, exc=TypeError)
    t0 = time.perf_counter()
    out = Path(out)
    data = _data_dir(config)
    paths_file = check_file("data_dir", data / _PATHS_FILE)
    xo, _, pop_sd = _load_xo(check_file("data_dir", data / _XO_FILE))
    with np.load(paths_file, allow_pickle=False) as f:
        ref = {k: f[k] for k in f.files}
    if prior is None or simulate is None:
        from neurodyn.simulators.pyloric import PyloricNetwork, pyloric_prior

        prior = prior if prior is not None else pyloric_prior()
        if simulate is None:
            net = PyloricNetwork(device=config.device)

            def simulate(th: torch.Tensor) -> torch.Tensor:
                return net.simulate(th, seed=config.seed).cpu()

    low, high = prior.low.double().cpu(), prior.high.double().cpu()
    mean, sd = (low + high) / 2, (high - low) / 12**0.5

    def to_theta(z: np.ndarray) -> torch.Tensor:
        return (mean + sd * torch.as_tensor(z, dtype=torch.float64)).float()

    path_theta = to_theta(ref["high_p_path_coords"])
    ortho_theta = to_theta(ref["ortho_path_coords"])
    path_arc = torch.as_tensor(ref["high_p_path_dists"])
    ortho_arc = torch.as_tensor(ref["ortho_path_dists"])
    n_ortho = config.num_ortho_points or ortho_theta.shape[0]
    path = circuit_breakdown(
        path_theta, simulate, num_evaluations=config.num_path_points, arc_length=path_arc
    )
    ortho = circuit_breakdown(
        ortho_theta,
        simulate,
        num_evaluations=min(n_ortho, ortho_theta.shape[0]),
        arc_length=ortho_arc,
    )
    feats = path.outputs.double().cpu().numpy()[:, :15]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of invalid points
        dist = np.nanmean(np.abs(feats - xo[:15]) / pop_sd[:15], axis=1)
    dist[~path.valid.numpy()] = np.nan
    seconds = time.perf_counter() - t0

    rep = Report("neurodyn — pyloric network: high-probability path and perturbation")
    rep.text(
        "Parameter sets along the eLife 2020 (Fig 8) high-probability path between two "
        "disparate posterior samples (sample_pair_3) and along the orthogonal "
        "perturbation path, re-simulated with neurodyn's pyloric simulator "
        f"(seed {config.seed}). A simulation is valid when all 18 rhythm features are "
        "defined (triphasic bursting)."
    )
    rep.heading("Result")
    rep.status(
        "high-probability path keeps the rhythm",
        path.fraction_valid == 1.0,
        f"{int(path.valid.sum())}/{path.valid.numel()} valid",
    )
    rep.status(
        "orthogonal perturbation breaks the rhythm",
        ortho.first_invalid is not None,
        f"{int(ortho.valid.sum())}/{ortho.valid.numel()} valid; first invalid at arc "
        f"length {ortho.break_arc_length}",
    )
    rows = [
        [int(i), f"{float(s):.3f}", "yes" if v else "no", d]
        for i, s, v, d in zip(path.indices, path.arc_length, path.valid, dist, strict=True)
    ]
    rep.heading("Along the high-probability path", 3)
    rep.table(rows, header=["index", "arc length (z)", "valid", "mean |x−x_o|/sd"])
    rep.heading("Along the orthogonal path", 3)
    rep.table(
        [
            [int(i), f"{float(s):.3f}", "yes" if v else "no"]
            for i, s, v in zip(ortho.indices, ortho.arc_length, ortho.valid, strict=True)
        ],
        header=["index", "arc length (z)", "valid"],
    )

    rep.figure(
        _validity_figure(path, ortho),
        "simulated points; 1 = valid triphasic rhythm, 0 = rhythm broken",
    )
    rep.heading("Reproduce", 3)
    rep.code(f"neurodyn study pyloric --out {out}")
    for k, v in asdict(config).items():
        rep.record(f"config.{k}", v)
    rep.record("path_fraction_valid", path.fraction_valid)
    rep.record("ortho_fraction_valid", ortho.fraction_valid)
    rep.record("ortho_break_arc_length", ortho.break_arc_length)
    rep.record("path_mean_feature_distance", float(np.nanmean(dist)))
    rep.record("seconds", seconds)
    report = rep.save(out / "report.html")
    return PyloricStudyResult(
        path=path, ortho=ortho, path_distance=dist, report=report, seconds=seconds
    )


def _validity_figure(path: BreakdownResult, ortho: BreakdownResult):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 2.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, res, title in (
        (axes[0], path, "high-probability path"),
        (axes[1], ortho, "orthogonal path"),
    ):
        v = res.valid.numpy().astype(float)
        ax.step(res.arc_length.numpy(), v, where="mid", color="0.6")
        ax.scatter(res.arc_length.numpy(), v, c=np.where(v > 0, "#2ca02c", "#d62728"))
        ax.set_ylim(-0.15, 1.15)
        ax.set_yticks([0, 1], ["broken", "valid"])
        ax.set_xlabel("arc length (z-units)")
        ax.set_title(title, fontsize=10)
    return fig
