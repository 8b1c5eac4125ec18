"""Pyloric posterior study (issue #5, eLife Figs 8-9 / PNAS) as one GPU command.

Runs :func:`neurodyn.studies.pyloric_posterior.run_pyloric_posterior_study` within a wall-clock
budget (numba compilation included) in a scratch folder and copies at most 8 files into
``OUT/pyloric_posterior/``: ``result.json`` (every number), ``rounds.csv``, ``report.html``
(figures embedded), ``figures.tgz``, ``arrays.npz`` (samples, predictive features, paths,
matrices), ``posterior.json`` + ``weights.safetensors`` (the trained posterior) and ``log.txt``.
Prints a summary table and also writes ``OUT/pyloric_posterior/result.json``.

Needs the observation ``stg_xo_845_082_0044_elife_order.csv`` (and, for the comparison,
``elife2020_stg_cond_corr_500samples_50res.npz``) in ``NEURODYN_SHARED_DATA`` (or
``--data-dir``). On the GPU machine::

    python benchmarks/gpu/pyloric_posterior.py --out $OUT --budget-s 400 --device cuda

Locally, a toy run on the CPU (poor posterior, checks the plumbing)::

    python benchmarks/gpu/pyloric_posterior.py --out /tmp/pp --device cpu --budget-s 90 \\
        --toy
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
import time
from pathlib import Path


def _config(args: argparse.Namespace):
    from neurodyn.studies.pyloric_posterior import PyloricPosteriorConfig

    kw = {"budget_s": args.budget_s, "device": args.device, "seed": args.seed}
    if args.data_dir:
        kw["data_dir"] = args.data_dir
    if args.num_ppc:
        kw["num_ppc"] = args.num_ppc
    if args.sim_batch:
        kw["sim_batch"] = args.sim_batch
    if args.toy:  # tiny networks and short simulations: plumbing only
        kw |= dict(
            max_simulations=(1500, 300, 300), sim_batch=args.sim_batch or 300, min_valid=5,
            hidden_features=32, num_transforms=2, max_epochs=40, num_ppc=args.num_ppc or 100,
            num_path_points=20, num_path_sims=5, ortho_start_index=5, path_max_iter=5,
            num_conditions=3, resolution=10, t_max=3000.0, t_burn_in=1000.0,
        )  # fmt: skip
    return PyloricPosteriorConfig(**kw)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder; results go to OUT/pyloric_posterior")
    p.add_argument("--budget-s", type=float, default=400.0, help="study budget (s)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--num-ppc", type=int, default=None)
    p.add_argument("--sim-batch", type=int, default=None)
    p.add_argument("--work", default="/tmp/neurodyn_pyloric_posterior", help="scratch folder")
    p.add_argument("--toy", action="store_true", help="tiny CPU-sized settings")
    args = p.parse_args()

    t0 = time.perf_counter()
    import torch

    from neurodyn.studies.pyloric_posterior import run_pyloric_posterior_study

    dest = Path(args.out) / "pyloric_posterior"
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    log = (dest / "log.txt").open("w")

    def echo(msg: str) -> None:
        line = f"[{time.perf_counter() - t0:7.1f} s] {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    cfg = _config(args)
    echo(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}, config {cfg}")
    if torch.cuda.is_available():
        echo(f"GPU: {torch.cuda.get_device_name(0)}")
    try:
        res = run_pyloric_posterior_study(cfg, out=work, echo=echo)
    finally:
        log.flush()
    n = res.numbers
    n["wall_seconds_including_imports"] = time.perf_counter() - t0
    (work / "result.json").write_text(json.dumps(n, indent=1, default=str))
    for name in ("result.json", "rounds.csv", "report.html", "arrays.npz"):
        shutil.copy(work / name, dest / name)
    for name in ("posterior.json", "weights.safetensors"):
        shutil.copy(work / "posterior" / name, dest / name)
    with tarfile.open(dest / "figures.tgz", "w:gz") as tar:
        tar.add(work / "figures", arcname="figures")

    ppc, path, ortho = n["ppc"], n["path"], n["ortho"]
    cc = n["conditional_correlation"]
    vs = cc.get("vs_elife", {})
    rows = [
        ("round", "proposal", "simulated", "valid", "valid %", "sim s", "train s", "epochs"),
        *[
            (r["round"], r["proposal"], r["simulated"], r["valid"],
             f"{100 * r['valid_fraction']:.2f}", f"{r['sim_seconds']:.0f}",
             f"{r.get('train_seconds', 0):.0f}", r.get("epochs"))
            for r in n["rounds"]
        ],
    ]  # fmt: skip
    for row in rows:
        echo(" | ".join(f"{c!s:>16}" for c in row))
    secs = (n["compile_seconds"], n["seconds"], n["wall_seconds_including_imports"])
    echo("compile {:.1f} s; study {:.1f} s; total {:.1f} s".format(*secs))
    echo(f"PPC valid {ppc['fraction_valid']:.3f} of {ppc['num_samples']} (eLife 0.792, PNAS 0.851)")
    echo(
        f"path valid {path['fraction_valid']:.2f} ({path['num_simulated']} points), "
        f"straight line {path['straight_fraction_valid']:.2f}"
    )
    echo(
        f"orthogonal path valid {ortho['fraction_valid']:.2f}, first invalid "
        f"{ortho['first_invalid']} at arc length {ortho['break_arc_length_z']}"
    )
    echo(
        f"conditional correlation ({cc['num_conditions']} conditions) vs eLife: "
        f"r = {vs.get('pearson_r')}, sign agreement = {vs.get('sign_agreement')}"
    )
    log.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
