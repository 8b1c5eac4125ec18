"""``neurodyn demo``: end-to-end demos that write a small report into one folder.

``"hh"``: the eLife 2020 synthetic Hodgkin-Huxley observation. Simulates the model at the
true parameters with the eLife noise stream (``RandomState(1791095845)``, the seed delfi drew
from seed 1), prints its 7 summary features (the published x_o), then runs the main job of
:mod:`neurodyn.studies.hh_pipeline` (prior simulations, neural posterior estimation, posterior
predictive check, SBC, sensitivity / conditional correlations / high-probability path) and
writes ``hh_traces.png``, ``report.html`` and ``report.json`` into ``out``. Nothing is written
outside ``out``. Defaults take a few minutes on 2 CPU cores; ``quick`` uses tiny budgets.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from neurodyn._validation import fail

__all__ = ["DEMOS", "run_demo"]

DEMOS = ("hh",)
#: The eLife synthetic observation as published (rounded).
ELIFE_XO = (5.0, -70.188, 0.0615, -56.392, 374.64, 3.7018, 18.322)


def run_demo(
    name: str = "hh", *, out: str | Path = "neurodyn_out", device: str = "auto", quick: bool = False
) -> Path:
    """Run demo ``name`` and return the path of its ``report.html``.

    Args:
        name: one of :data:`DEMOS`.
        out: output folder (created).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` for the simulator.
        quick: smaller extra batches (the eLife observation itself is always simulated).

    Returns:
        Path of the HTML report inside ``out``.
    """
    if name not in DEMOS:
        fail(
            "name",
            "one of the available demos: " + ", ".join(repr(d) for d in DEMOS),
            name,
            "Run `neurodyn demo hh`.",
        )
    return _demo_hh(Path(out), device=device, quick=quick)


def _demo_hh(out: Path, *, device: str, quick: bool) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from neurodyn.plot.report import Report
    from neurodyn.plot.traces import plot_traces
    from neurodyn.simulators import HH_TRUE_THETA, HodgkinHuxley

    out.mkdir(parents=True, exist_ok=True)
    hh = HodgkinHuxley(dtype=torch.float64, device=device)
    theta = torch.tensor([HH_TRUE_THETA], dtype=torch.float64)
    noise = np.random.RandomState(1791095845).randn(hh.num_steps)[None, : hh.num_steps - 1]
    t0 = time.perf_counter()
    x_o = hh.simulate(theta, noise=noise).cpu().numpy()[0]
    v_o = hh.simulate(theta, noise=noise, output="trace").cpu().numpy()[0]
    n_extra = 2 if quick else 8
    v_extra = hh.simulate(theta.repeat(n_extra, 1), seed=0, output="trace").cpu().numpy()
    elapsed = time.perf_counter() - t0
    print("eLife synthetic observation x_o (HH, true parameters, eLife noise):")
    for nm, val, pub in zip(hh.feature_names, x_o, ELIFE_XO, strict=True):
        print(f"  {nm:10s} {val:12.5g}   (published {pub:g})")
    shown = v_extra[:3]
    fig = plot_traces(
        np.vstack([v_o, shown]),
        dt=hh.dt,
        current=hh.current,
        labels=["x_o (eLife noise)"] + [f"seed {k}" for k in range(len(shown))],
        title="Hodgkin-Huxley, eLife true parameters",
    )
    png = out / "hh_traces.png"
    fig.savefig(png, dpi=100)
    report = Report("neurodyn demo: Hodgkin-Huxley (eLife 2020 synthetic observation)")
    report.text(
        "Simulated at the true parameters with the eLife noise stream; features "
        "computed online in the kernel. Published values from Gonçalves et al. 2020."
    )
    report.table(
        [
            [nm, f"{val:.5g}", f"{pub:g}"]
            for nm, val, pub in zip(hh.feature_names, x_o, ELIFE_XO, strict=True)
        ],
        header=["feature", "neurodyn", "published"],
    )
    report.status("x_o reproduced (rtol 1e-3)", bool(np.allclose(x_o, ELIFE_XO, rtol=1e-3)))
    report.figure(fig, "x_o trace and traces with other noise seeds")
    report.text(
        f"{1 + n_extra} simulations in {elapsed:.2f} s on {hh.device} "
        f"(dt {hh.dt} ms, {hh.num_steps} samples, float64)."
    )
    report.record("x_o", [float(v) for v in x_o])
    report.record("feature_names", list(hh.feature_names))
    # the main job: simulate -> train -> posterior -> SBC/PPC -> analysis (hh_pipeline)
    from neurodyn.studies.hh_pipeline import PipelineConfig, run_hh_pipeline

    run_hh_pipeline(
        report, device=device, config=PipelineConfig.quick() if quick else PipelineConfig()
    )
    return report.save(out / "report.html")
