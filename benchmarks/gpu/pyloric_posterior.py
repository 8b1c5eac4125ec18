"""Pyloric posterior study (issue #5, eLife Figs 8-9 / PNAS) as one GPU command.

Runs :func:`neurodyn.studies.pyloric_posterior.run_pyloric_posterior_study` within a wall-clock
budget (numba compilation included) in a scratch folder and copies at most 8 files into
``OUT/pyloric_posterior/``: ``result.json`` (every number), ``rounds.csv``, ``report.html``
(figures embedded), ``figures.tgz``, ``arrays.npz`` (samples, predictive features, paths,
matrices), ``posterior.json`` + ``weights.safetensors`` (the trained posterior) and ``log.txt``.
Prints a summary table and also writes ``OUT/pyloric_posterior/result.json``.

Needs the observation ``stg_xo_845_082_0044_elife_order.csv`` (and, for the comparison,
``elife2020_stg_cond_corr_500samples_50res.npz``) in ``NEURODYN_SHARED_DATA`` (or
``--data-dir``). On the GPU machine, in one call::

    python benchmarks/gpu/pyloric_posterior.py --out $OUT --budget-s 540 --device cuda

or in two calls of at most 10 minutes each: first only the prior round (``--stage sims1``:
the whole budget simulates prior samples; the valid pairs come back as
``OUT/pyloric_posterior/round_0.safetensors`` + ``round_0.json``, ~13 MB for 7e4 valid), then
the rest of the study from those files (``--resume DIR``, DIR holding the two files)::

    python benchmarks/gpu/pyloric_posterior.py --out $OUT --budget-s 540 --stage sims1
    python benchmarks/gpu/pyloric_posterior.py --out $OUT --budget-s 540 --resume DIR

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
    kw["proposal"] = args.proposal
    if args.max_proposal_cost is not None:
        kw["max_proposal_cost"] = args.max_proposal_cost
    if args.num_rounds == 1:  # NPE on valid prior simulations only (the eLife approach)
        kw |= dict(
            num_rounds=1, max_simulations=(50_000_000,), simulation_shares=(0.72,),
            training_shares=(0.12,),
        )  # fmt: skip
    elif args.num_rounds is not None:
        n = args.num_rounds
        kw |= dict(
            num_rounds=n, max_simulations=(20_000_000, *[3_000_000] * (n - 1)),
            simulation_shares=(0.36, *[0.32 / (n - 1)] * (n - 1)),
            training_shares=(0.05, *[0.13 / (n - 1)] * (n - 1)),
        )  # fmt: skip
    if (args.simulation_shares is None) != (args.training_shares is None):
        p_err = "--simulation-shares and --training-shares go together"
        raise SystemExit(p_err)
    if args.simulation_shares is not None:
        sim = tuple(float(v) for v in args.simulation_shares.split(","))
        train = tuple(float(v) for v in args.training_shares.split(","))
        kw |= dict(simulation_shares=sim, training_shares=train)
    if args.stage == "sims1":  # the prior round only, with the whole budget
        kw |= dict(
            num_rounds=1, max_simulations=(50_000_000,), simulation_shares=(0.97,),
            training_shares=(0.01,), stop_after_round1_simulations=True,
        )  # fmt: skip
    if args.toy:  # tiny networks and short simulations: plumbing only
        kw |= dict(
            max_simulations=(1500, *[300] * (kw.get("num_rounds", 3) - 1)),
            sim_batch=args.sim_batch or 300, min_valid=5,
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
    p.add_argument("--proposal", default="truncated", choices=("truncated", "posterior-apt"))
    p.add_argument(
        "--max-proposal-cost", type=float, default=None,
        help="largest truncated-prior cost (simulations per sample) before a prior round",
    )  # fmt: skip
    p.add_argument(
        "--simulation-shares", default=None,
        help="comma list, one budget share per round's simulations (with --training-shares)",
    )  # fmt: skip
    p.add_argument(
        "--training-shares", default=None,
        help="comma list, one budget share per round's training; the rest goes to the analysis",
    )  # fmt: skip
    p.add_argument("--num-rounds", type=int, default=None, help="1: NPE on prior sims only")
    p.add_argument(
        "--stage", default="all", choices=("all", "sims1"), help="sims1: prior round only"
    )
    p.add_argument(
        "--resume", default=None, help="folder with round_0.safetensors/.json of a sims1 call"
    )
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
    if args.resume:
        (work / "state").mkdir(parents=True, exist_ok=True)
        for name in ("round_0.safetensors", "round_0.json"):
            shutil.copy(Path(args.resume) / name, work / "state" / name)
        echo(f"resuming from the prior round in {args.resume}")
    echo(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}, config {cfg}")
    if torch.cuda.is_available():
        echo(f"GPU: {torch.cuda.get_device_name(0)}")
    try:
        res = run_pyloric_posterior_study(cfg, out=work, echo=echo)
    finally:
        log.flush()
    n = res.numbers
    n["wall_seconds_including_imports"] = time.perf_counter() - t0
    if res.posterior is None:  # --stage sims1: return the valid prior simulations
        for name in ("round_0.safetensors", "round_0.json"):
            shutil.copy(work / "state" / name, dest / name)
        (dest / "result.json").write_text(json.dumps(n, indent=1, default=str))
        r = n["rounds"][0]
        echo(
            f"prior round: {r['valid']} valid of {r['simulated']} in {r['sim_seconds']:.0f} s "
            f"({r['sims_per_s']:.0f} sims/s); total {n['wall_seconds_including_imports']:.0f} s"
        )
        log.close()
        return
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
        ("round", "proposal", "simulated", "valid", "valid %", "sim s", "train s", "epochs",
         "trunc. acc."),
        *[
            (r["round"], r["proposal"], r["simulated"], r["valid"],
             f"{100 * r['valid_fraction']:.2f}", f"{r['sim_seconds']:.0f}",
             f"{r.get('train_seconds', 0):.0f}", r.get("epochs"),
             r.get("truncation_acceptance", r.get("truncation_acceptance_probe")))
            for r in n["rounds"]
        ],
    ]  # fmt: skip
    for row in rows:
        echo(" | ".join(f"{c!s:>16}" for c in row))
    secs = (n["compile_seconds"], n["seconds"], n["wall_seconds_including_imports"])
    echo("compile {:.1f} s; study {:.1f} s; total {:.1f} s".format(*secs))
    echo(f"PPC valid {ppc['fraction_valid']:.3f} of {ppc['num_samples']} (eLife 0.792, PNAS 0.851)")
    echo(f"PPC samples at the box edge {ppc['fraction_at_box_edge']:.3f} (prior 0.060)")
    echo(
        f"path valid {path['fraction_valid']:.2f} ({path['num_simulated']} points), "
        f"straight line {path['straight_fraction_valid']:.2f}"
    )
    echo(
        f"orthogonal path valid {ortho['fraction_valid']:.2f}, first invalid "
        f"{ortho['first_invalid']} at arc length {ortho['break_arc_length_z']}; over "
        f"{ortho['num_seeds']} seeds {ortho['seeds_fraction_valid']:.2f}; eLife ortho path "
        f"here {ortho.get('elife_reference_fraction_valid')}; ours from eLife point 23 "
        f"{ortho.get('from_elife_path_fraction_valid')}"
    )
    echo(
        f"conditional correlation ({cc['num_conditions']} conditions) vs eLife: "
        f"r = {vs.get('pearson_r')}, sign agreement = {vs.get('sign_agreement')}"
    )
    log.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
