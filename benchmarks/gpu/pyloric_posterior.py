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

or in two calls of at most 10 minutes each. The first stops once round K is simulated
(``--stop-after-round K``): the study's ``state`` folder (valid pairs of rounds 1..K, ~196 bytes
per valid simulation, and the posteriors of rounds 1..K-1) comes back as a tar archive cut into
parts of at most 15 MB (``OUT/pyloric_posterior/state.tar.part00`` ...; the device returns at
most 8 files of 16 MB: cap the valid pairs with ``--max-valid``); the second continues from
them (``--resume DIR``, DIR holding the parts, or the two ``round_0`` files of an older run)::

    python benchmarks/gpu/pyloric_posterior.py --out $OUT --budget-s 555 --stop-after-round 2 \\
        --simulation-shares 0.40,0.44,0.01 --training-shares 0.06,0.01,0.01 \\
        --max-valid 20000000,240000,3000000
    python benchmarks/gpu/pyloric_posterior.py --out $OUT --budget-s 550 --resume DIR \\
        --simulation-shares 0.01,0.01,0.22 --training-shares 0.01,0.12,0.50

(the H200 runs 4-5 of ``benchmarks/RESULTS.md``; the shares of phases already done are
ignored when resuming, the budget is spread over the phases left, but all shares together
must stay below 1, the rest going to the analysis). ``--probe-training`` times training steps
of a few estimator/batch settings on the saved pairs after a ``--stop-after-round`` call (a
GPU measurement for choosing the next call's).

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
    for name in ("estimator", "hidden_features", "num_transforms", "batch_size",
                 "learning_rate", "patience", "lr_decay", "max_epochs"):  # fmt: skip
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
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
    if args.max_valid is not None:
        kw["max_valid"] = tuple(int(float(v)) for v in args.max_valid.split(","))
    if args.stop_after_round is not None:
        kw["stop_after_round"] = args.stop_after_round
    if args.toy:  # tiny networks and short simulations: plumbing only
        kw |= dict(
            max_simulations=(8000, *[300] * (kw.get("num_rounds", 3) - 1)),
            sim_batch=args.sim_batch or 1000, min_valid=5,
            hidden_features=32, num_transforms=2, max_epochs=40, num_ppc=args.num_ppc or 100,
            num_path_points=20, num_path_sims=5, ortho_start_index=5, path_max_iter=5,
            num_conditions=3, resolution=10, t_max=3000.0, t_burn_in=1000.0,
        )  # fmt: skip
    return PyloricPosteriorConfig(**kw)


_PART_BYTES = 15_000_000


def _pack_state(work: Path, dest: Path) -> list[Path]:
    """``work/state`` (rounds and posteriors, no training checkpoints) as a tar archive cut
    into parts of at most 15 MB in ``dest``."""
    buf = work / "state.tar"
    with tarfile.open(buf, "w") as tar:
        for item in sorted((work / "state").iterdir()):
            if not item.name.startswith("train_"):
                tar.add(item, arcname=item.name)
    data, parts = buf.read_bytes(), []
    for k in range(0, len(data), _PART_BYTES):
        part = dest / f"state.tar.part{k // _PART_BYTES:02d}"
        part.write_bytes(data[k : k + _PART_BYTES])
        parts.append(part)
    return parts


def _unpack_state(src: Path, work: Path) -> list[str]:
    """Restore ``work/state`` from the parts of :func:`_pack_state` (or old round_0 files)."""
    parts = sorted(src.glob("state.tar.part*"))
    if not parts:
        for name in ("round_0.safetensors", "round_0.json"):
            shutil.copy(src / name, work / "state" / name)
        return ["round_0"]
    buf = work / "state_in.tar"
    buf.write_bytes(b"".join(q.read_bytes() for q in parts))
    with tarfile.open(buf) as tar:
        names = tar.getnames()
        for m in tar.getmembers():  # only plain files and folders inside state/
            if not (m.isfile() or m.isdir()) or m.name.startswith(("/", "..")) or ".." in m.name:
                raise SystemExit(f"refusing tar member {m.name!r}")
        tar.extractall(work / "state", filter="data")
    return sorted({q.split("/")[0] for q in names})


def _probe_training(work: Path, cfg, echo) -> list[dict]:
    """Milliseconds per training step (median of 20 after 5 warm-up steps) of a few estimator
    and batch settings, on the valid pairs in ``work/state`` (GPU measurement)."""
    import torch
    from safetensors.torch import load_file

    from neurodyn.inference import NPEConfig
    from neurodyn.inference.estimator import ConditionalDensity
    from neurodyn.simulators.pyloric import pyloric_prior

    dev = torch.device(cfg.device if cfg.device != "auto" else "cuda")
    th, xs = [], []
    for f in sorted((work / "state").glob("round_*.safetensors")):
        t = load_file(str(f))
        th.append(t["theta"])
        xs.append(t["x"])
    theta, x = torch.cat(th).to(dev), torch.cat(xs).to(dev)
    prior = pyloric_prior()
    bounds = (prior.low.cpu(), prior.high.cpu())
    moments = (theta.mean(0), theta.std(0), x.mean(0), x.std(0))
    rows = []
    settings = [("maf", 5, 128, 4096), ("maf", 5, 128, 16384), ("maf", 5, 128, 32768),
                ("maf", 5, 256, 16384), ("maf", 5, 256, 32768), ("maf", 10, 256, 16384),
                ("nsf", 5, 128, 16384)]  # fmt: skip
    for est, nt, hid, bs in settings:
        c = NPEConfig(estimator=est, num_transforms=nt, hidden_features=hid,
                      theta_transform="logit", device=str(dev))  # fmt: skip
        q = ConditionalDensity(c, 31, (18,), moments, bounds=bounds).to(dev)
        opt = torch.optim.Adam(q.parameters(), lr=1e-3, fused=dev.type == "cuda")
        times = []
        for step in range(25):
            idx = torch.randint(0, theta.shape[0], (bs,), device=dev)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            loss = -q.log_prob(theta[idx], x[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(q.parameters(), 5.0)
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if step >= 5:
                times.append(time.perf_counter() - t0)
        ms = 1e3 * sorted(times)[len(times) // 2]
        rows.append({"estimator": est, "num_transforms": nt, "hidden": hid, "batch": bs,
                     "ms_per_step": ms, "pairs_per_s": bs / ms * 1e3})  # fmt: skip
        echo(f"probe {est} {nt}x{hid} batch {bs}: {ms:.2f} ms/step ({bs / ms * 1e3:.3g} pairs/s)")
    return rows


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
        "--stop-after-round", type=int, default=None,
        help="stop once this round is simulated; its state comes back as tar parts",
    )  # fmt: skip
    p.add_argument("--max-valid", default=None, help="comma list: valid cap per round")
    p.add_argument(
        "--resume", default=None,
        help="folder with the state.tar.part* of a --stop-after-round call (or round_0 files)",
    )  # fmt: skip
    p.add_argument("--estimator", default=None, choices=("maf", "nsf"))
    p.add_argument("--hidden-features", type=int, default=None)
    p.add_argument("--num-transforms", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--lr-decay", type=float, default=None)
    p.add_argument("--max-epochs", type=int, default=None, help="epoch cap per round")
    p.add_argument(
        "--probe-training", action="store_true",
        help="after --stop-after-round: time training steps of a few settings on the GPU",
    )  # fmt: skip
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
        got = _unpack_state(Path(args.resume), work)
        echo(f"resuming from {args.resume}: {', '.join(got)}")
    echo(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}, config {cfg}")
    if torch.cuda.is_available():
        echo(f"GPU: {torch.cuda.get_device_name(0)}")
    try:
        res = run_pyloric_posterior_study(cfg, out=work, echo=echo)
    finally:
        log.flush()
    n = res.numbers
    n["wall_seconds_including_imports"] = time.perf_counter() - t0
    if res.posterior is None:  # --stop-after-round: return the state folder
        parts = _pack_state(work, dest)
        for r in n["rounds"]:
            echo(
                f"round {r['round']} ({r['proposal']}): {r['valid']} valid of "
                f"{r['simulated']} in {r['sim_seconds']:.0f} s ({r['sims_per_s']:.0f} sims/s)"
            )
        echo(f"state: {len(parts)} parts, {sum(q.stat().st_size for q in parts) / 1e6:.1f} MB")
        if args.probe_training:
            n["training_probe"] = _probe_training(work, cfg, echo)
        (dest / "result.json").write_text(json.dumps(n, indent=1, default=str))
        echo(f"total {time.perf_counter() - t0:.0f} s")
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
