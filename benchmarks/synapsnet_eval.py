"""Evaluate SynapsNet against baselines on simulated networks and on real recordings.

Synthetic part (ground truth known; seed Fig 5), ``benchmarks/synapsnet_networks.py``: for each
generator (rate, LIF, calcium; optionally ``rate_sigma1``, the rate network with noise 1) and
each of ``--networks`` random networks, one worker process (``--jobs``, one torch thread each)
fits SynapsNet (default, lag-1 current: forecasting and connectivity) and SynapsNet with a
same-frame current (``current_lag=0``: connectivity), scores the connectivity against the true W
next to Pearson, partial correlation, lag-1 cross-correlation and VAR(1) coefficients, and the
one-step forecasts on the held-out test block against last value and ridge VAR (every network)
and the neural baselines (first ``--forecast-networks`` networks). One JSON per network under
``--results-dir`` (a rerun resumes); the summary (means with 95 % CI over networks, paired
tests) goes to ``--out``. ``--aggregate DIR`` only summarises existing per-network JSONs.

Real part: M1 (Stevenson 2011, 171 units, 50-ms counts, hand velocity as behaviour) and the two
zebrafish tectum calcium sessions (ΔF/F at 2.2 Hz; SynapsNet fitted on both sessions jointly):
per-neuron one-step forecast correlation on the test block vs each baseline (paired tests across
neurons), the behaviour ablation on M1, and the input-current cross-correlation (seed Fig 4b)
with SynapsNet's A, the correlation matrix and a shuffled A.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/synapsnet_eval.py --networks 50 --jobs 16 \
        --forecast-networks 10 --datasets --results-dir OUT/nets --out OUT/summary.json
    python benchmarks/synapsnet_eval.py --aggregate OUT/nets   # table + results JSON

Several seeds (``--seeds 1 2 3``: every network is fitted once per seed, SynapsNet and the
neural baselines alike, into ``<results-dir>/seed_<s>/``). With one seed every network of a
generator gets the *same* initialisation and batch order (same shapes, same seed), so a paired
test over networks compares one pair of initialisations, not the models; the seed average
removes that. ``--aggregate-seeds DIR`` summarises ``DIR/seed_*/`` (network means averaged over
the seeds, then paired over networks)::

    OMP_NUM_THREADS=1 python benchmarks/synapsnet_eval.py --datasets --generators calcium \
        --networks 23 --seeds 1 2 3 --forecast-every 1 --no-lag0 --jobs 16 \
        --forecasters last_value ridge_var neuprint netformer --results-dir OUT/seeds
    python benchmarks/synapsnet_eval.py --aggregate-seeds OUT/seeds

Imports only numpy, scipy, torch, numba and neurodyn's population code (no zuko/zarr/dask/pynwb).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from synapsnet_networks import (
    GENERATORS,
    aggregate,
    forecast_scores,
    format_tables,
    make_baseline,
    run_networks,
)

from neurodyn.population import SynapsNetConfig, chronological_split, fit_synapsnet
from neurodyn.population.baselines import pearson_connectivity
from neurodyn.population.metrics import (
    current_activity_crosscorrelation,
    paired_test,
    shuffled_connectivity,
)

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent.parent / "shared" / "data"
FORECASTERS = ("last_value", "ridge_var", "lstm", "gru", "neuprint", "netformer")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_forecasters(
    x: np.ndarray,
    b: np.ndarray | None,
    names: tuple[str, ...],
    args: argparse.Namespace,
    window: int,
    train: slice,
    test: slice,
) -> dict[str, Any]:
    out = {}
    for name in names:
        tic = time.perf_counter()
        model = make_baseline(name, window, args.epochs, args.patience, args.seed).fit(x, b)
        pred = model.predict(x, b).numpy()
        out[name] = forecast_scores(pred, x, train, test)
        out[name]["fit_s"] = time.perf_counter() - tic
        if name == "netformer":
            out[name]["_model"] = model
        log(f"    {name:10s} r={out[name]['mean_r']:.4f}  ({out[name]['fit_s']:.0f} s)")
    return out


def synapsnet_config(args: argparse.Namespace) -> SynapsNetConfig:
    """The benchmark's SynapsNet settings plus the ``--synapsnet-config`` overrides."""
    cfg = SynapsNetConfig(
        window=args.window, epochs=args.epochs, patience=args.patience, seed=args.seed
    )
    overrides = json.loads(getattr(args, "synapsnet_config", None) or "{}")
    return SynapsNetConfig.from_dict({**cfg.to_dict(), **overrides}) if overrides else cfg


def check_synapsnet_config(args: argparse.Namespace) -> None:
    """Validate ``--synapsnet-config``; exit if the network runner cannot apply it."""
    try:
        overrides = json.loads(args.synapsnet_config)
    except json.JSONDecodeError as err:
        raise SystemExit(f"--synapsnet-config: not JSON ({err})") from None
    if not isinstance(overrides, dict):
        raise SystemExit("--synapsnet-config: expected a JSON object of SynapsNetConfig fields")
    synapsnet_config(args)  # unknown fields / invalid values raise here
    if overrides and args.generators and args.networks > 0:
        import inspect

        import synapsnet_networks

        if "synapsnet_config" not in inspect.getsource(synapsnet_networks.evaluate_network):
            raise SystemExit(
                "--synapsnet-config with synthetic networks needs synapsnet_networks.py to apply "
                "it: git apply benchmarks/results/synapsnet_lowrank/"
                "synapsnet_networks_config.patch (or use --generators with no generator)"
            )


def current_xcorr(model, x: np.ndarray, test: slice, seed: int, session: int = 0) -> dict:
    """Fig 4b: corr(I_i[t], x_i[t + lag]) averaged over neurons, in z-scored units."""
    st = model.stats(session)
    z = (x - st["act_mean"].cpu().numpy()) / st["act_std"].cpu().numpy()
    a = model.connectivity(session).double().numpy()
    train = slice(0, test.start)
    mats = {
        "synapsnet": a,
        "correlation": pearson_connectivity(x[train]),
        "shuffled_synapsnet": shuffled_connectivity(a, seed),
    }
    out: dict[str, Any] = {}
    for name, m in mats.items():
        lags, c = current_activity_crosscorrelation(z[test], m, 5)
        out[name] = {
            "lags": lags.tolist(),
            "mean": np.nanmean(c, 1).tolist(),
            "std": np.nanstd(c, 1).tolist(),
        }
    return out


def real_part(args: argparse.Namespace, dump: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m1 = DATA / "m1_reach_stevenson2011_50ms.npz"
    if "m1" in args.datasets and m1.is_file():
        with np.load(m1, allow_pickle=False) as f:
            x = f["spikes"].T.astype(np.float64)
            b = f["hand_vel"].T.astype(np.float64)
        log(f"M1: activity {x.shape}, behaviour {b.shape}")
        out["m1"] = real_dataset("m1", [x], [b], args, ablate_behaviour=True)
        if dump is not None:
            dump(out)
    fish = [DATA / f"zebrafish_tectum_spont_triplett2018_{s}.npz" for s in ("f1", "f3")]
    if "zebrafish" in args.datasets and all(p.is_file() for p in fish):
        xs = []
        for p in fish:
            with np.load(p, allow_pickle=False) as f:
                xs.append(f["dff"].T.astype(np.float64))
        log(f"zebrafish: sessions {[x.shape for x in xs]}")
        out["zebrafish"] = real_dataset("zebrafish", xs, None, args, ablate_behaviour=False)
    return out


def real_dataset(
    name: str,
    xs: list[np.ndarray],
    bs: list[np.ndarray] | None,
    args: argparse.Namespace,
    *,
    ablate_behaviour: bool,
) -> dict[str, Any]:
    cfg = synapsnet_config(args)
    tic = time.perf_counter()
    acts = xs if len(xs) > 1 else xs[0]
    behs = None if bs is None else (bs if len(bs) > 1 else bs[0])
    ckpt = None if args.checkpoint_dir is None else args.checkpoint_dir / f"{name}_synapsnet"
    model = fit_synapsnet(acts, behs, config=cfg, device="cpu", checkpoint_dir=ckpt, progress=False)
    fit_s = time.perf_counter() - tic
    log(f"  synapsnet fitted in {fit_s:.0f} s ({len(model.history['val_loss'])} epochs)")
    ablation = None
    if ablate_behaviour:
        tic = time.perf_counter()
        ckpt = None if args.checkpoint_dir is None else args.checkpoint_dir / f"{name}_no_beh"
        ablation = fit_synapsnet(
            acts, None, config=cfg, device="cpu", checkpoint_dir=ckpt, progress=False
        )
        log(f"  synapsnet without behaviour fitted in {time.perf_counter() - tic:.0f} s")
    per: dict[str, list[np.ndarray]] = {}
    sessions = []
    for s, x in enumerate(xs):
        b = None if bs is None else bs[s]
        train, _, test = chronological_split(len(x))
        row = {"synapsnet": forecast_scores(model.predict(x, b, session=s).numpy(), x, train, test)}
        if ablation is not None:
            row["synapsnet_no_behaviour"] = forecast_scores(
                ablation.predict(x, session=s).numpy(), x, train, test
            )
        row.update(run_forecasters(x, b, args.forecasters, args, args.window, train, test))
        row.get("netformer", {}).pop("_model", None)
        for m, v in row.items():
            per.setdefault(m, []).append(np.asarray(v["r"], dtype=float))
        sessions.append(
            {
                "num_steps": len(x),
                "num_neurons": x.shape[1],
                "methods": {
                    m: {k: (np.asarray(v).tolist() if k == "r" else v) for k, v in d.items()}
                    for m, d in row.items()
                },
                "input_current_xcorr": current_xcorr(model, x, test, args.seed, s),
            }
        )
        log(f"  session {s}: " + "  ".join(f"{m}={d['mean_r']:.3f}" for m, d in row.items()))
    syn = np.concatenate(per["synapsnet"])
    summary: dict[str, Any] = {}
    for m, rs in per.items():
        r = np.concatenate(rs)
        summary[m] = {"mean_r": float(np.nanmean(r)), "num_neurons": int(np.isfinite(r).sum())}
        if m != "synapsnet":
            summary[m]["paired_r_synapsnet_minus_this_across_neurons"] = paired_test(
                syn, r
            ).as_dict()
    return {"synapsnet_fit_s": fit_s, "summary": summary, "sessions": sessions}


def aggregate_seeds(root: Path) -> dict[str, Any]:
    """Seed-averaged forecast comparison of the per-network JSONs in ``root/seed_*/``.

    For each generator and method, a network's mean test r is averaged over the seeds in which
    both SynapsNet and the method were evaluated on it (networks missing from a seed are left
    out of that seed); then SynapsNet minus the method is tested over networks (paired t and
    Wilcoxon), with the number of networks SynapsNet wins and, per seed, the mean difference.

    Args:
        root: folder holding ``seed_<s>/<generator>/net_<k>.json`` (``--seeds`` runs).

    Returns:
        ``{"root", "seeds", "generators": {gen: {method: {...}}}}`` (JSON-serialisable).
    """
    seed_dirs = sorted(
        (d for d in Path(root).glob("seed_*") if d.is_dir()), key=lambda d: int(d.name[5:])
    )
    if not seed_dirs:
        raise SystemExit(f"{root}: no seed_<s> folders (write them with --seeds)")
    # per (generator, network): {seed: forecast dict}
    table: dict[str, dict[int, dict[int, dict[str, Any]]]] = {}
    for d in seed_dirs:
        seed = int(d.name[5:])
        for path in sorted(d.glob("*/net_*.json")):
            row = json.loads(path.read_text())
            if row["signature"]["seed"] != seed:
                raise SystemExit(f"{path}: written with seed {row['signature']['seed']}")
            by_net = table.setdefault(row["generator"], {}).setdefault(row["network"], {})
            by_net[seed] = row["forecast"]
    out: dict[str, Any] = {
        "root": str(root),
        "seeds": [int(d.name[5:]) for d in seed_dirs],
        "generators": {},
    }
    for gen, nets in table.items():
        methods = sorted({m for per in nets.values() for fc in per.values() for m in fc})
        res: dict[str, Any] = {}
        for m in methods:
            syn, oth, count = [], [], []
            per_seed: dict[int, list[float]] = {}
            for per in nets.values():
                seeds = [s for s, fc in per.items() if m in fc and "synapsnet" in fc]
                if not seeds:
                    continue
                a = [per[s]["synapsnet"]["mean_r"] for s in seeds]
                b = [per[s][m]["mean_r"] for s in seeds]
                syn.append(float(np.mean(a)))
                oth.append(float(np.mean(b)))
                count.append(len(seeds))
                for s, x, y in zip(seeds, a, b, strict=True):
                    per_seed.setdefault(s, []).append(x - y)
            entry: dict[str, Any] = {
                "num_networks": len(syn),
                "seeds_per_network": [min(count), max(count)] if count else [0, 0],
                "mean_r": float(np.mean(oth)) if oth else float("nan"),
                "synapsnet_mean_r": float(np.mean(syn)) if syn else float("nan"),
                "per_seed_mean_difference": {
                    str(s): {"mean": float(np.mean(v)), "num_networks": len(v)}
                    for s, v in sorted(per_seed.items())
                },
            }
            if m != "synapsnet" and len(syn) >= 2:
                entry["paired_over_networks_synapsnet_minus_this"] = paired_test(syn, oth).as_dict()
                entry["synapsnet_wins"] = int(np.sum(np.asarray(syn) > np.asarray(oth)))
            res[m] = entry
        out["generators"][gen] = res
    return out


def format_seed_tables(summary: dict[str, Any]) -> str:
    """Markdown table of :func:`aggregate_seeds`."""
    lines = []
    seeds = summary["seeds"]
    for gen, res in summary["generators"].items():
        lines += [
            f"\n### {gen}: one-step forecast r, averaged over seeds {seeds}",
            "",
            "| method | networks | seeds/network | mean r | SynapsNet r | Δr over networks, "
            "p (t), p (Wilcoxon), SynapsNet wins | Δr per seed |",
            "|---|---|---|---|---|---|---|",
        ]
        for m, e in res.items():
            pt = e.get("paired_over_networks_synapsnet_minus_this")
            cell = (
                f"{pt['mean_difference']:+.5f}, {pt['p_value']:.2g}, {pt['wilcoxon_p']:.2g}, "
                f"{e['synapsnet_wins']}/{e['num_networks']}"
                if pt
                else "—"
            )
            per = ", ".join(
                f"{s}: {v['mean']:+.5f}" for s, v in e["per_seed_mean_difference"].items()
            )
            lo, hi = e["seeds_per_network"]
            lines.append(
                f"| {m} | {e['num_networks']} | {lo}–{hi} | {e['mean_r']:.5f} | "
                f"{e['synapsnet_mean_r']:.5f} | {cell} | {per if m != 'synapsnet' else '—'} |"
            )
    return "\n".join(lines)


def print_tables(res: dict[str, Any]) -> None:
    for name, r in res.get("real", {}).items():
        print(f"\n## {name}: one-step forecast r on the test block (paired across neurons)")
        for m, s in r["summary"].items():
            pt = s.get("paired_r_synapsnet_minus_this_across_neurons")
            extra = f"Δr={pt['mean_difference']:+.4f} p={pt['p_value']:.2g}" if pt else ""
            print(f"{m:24s} r={s['mean_r']:.4f} (n={s['num_neurons']}) {extra}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--networks", type=int, default=3, help="networks per generator (issue: 50)")
    p.add_argument(
        "--forecast-networks",
        type=int,
        default=1,
        help="networks per generator on which the neural forecasting baselines also run "
        "(last value and ridge VAR run on every network)",
    )
    p.add_argument(
        "--forecast-every",
        type=int,
        default=0,
        metavar="M",
        help="also run the neural forecasting baselines on every network k with k %% M == 0",
    )
    p.add_argument(
        "--first-network",
        type=int,
        default=0,
        help="index of the first network (shards: networks first .. first + networks - 1)",
    )
    p.add_argument("--forecasters", nargs="*", default=list(FORECASTERS), choices=FORECASTERS)
    p.add_argument(
        "--generators", nargs="*", default=["rate", "lif", "calcium"], choices=list(GENERATORS)
    )
    p.add_argument("--datasets", nargs="*", default=["m1", "zebrafish"])
    p.add_argument(
        "--synapsnet-config",
        default="{}",
        metavar="JSON",
        help="SynapsNetConfig overrides of every SynapsNet fit, e.g. '{\"weight_decay\": 0.001}' "
        "(stored in each network's signature)",
    )
    p.add_argument("--num-neurons", type=int, default=100)
    p.add_argument("--num-steps", type=int, default=8000)
    p.add_argument("--frame-rate", type=float, default=10.0)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="evaluate the networks once per seed into <results-dir>/seed_<s>/ (synthetic "
        "part only; overrides --seed), then print the seed-averaged comparison",
    )
    p.add_argument(
        "--aggregate-seeds",
        type=Path,
        default=None,
        metavar="DIR",
        help="only summarise DIR/seed_*/ (seed-averaged paired tests; writes --out)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1, help="worker processes for the networks")
    p.add_argument(
        "--no-lag0",
        dest="lag0",
        action="store_false",
        help="skip the same-frame-current SynapsNet fit (current_lag=0)",
    )
    p.add_argument(
        "--results-dir",
        type=Path,
        default=ROOT / "results" / "synapsnet_eval_networks",
        help="one JSON per network (resume: existing ones are skipped)",
    )
    p.add_argument(
        "--aggregate",
        type=Path,
        default=None,
        metavar="DIR",
        help="only summarise the per-network JSONs in DIR (print tables, write --out)",
    )
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="keep SynapsNet checkpoints of the real-data fits here (resume)",
    )
    p.add_argument("--out", type=Path, default=None, help="summary JSON (default per mode)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    check_synapsnet_config(args)
    if args.aggregate_seeds is not None or args.aggregate is not None:
        if args.aggregate_seeds is not None:
            out = args.out or args.aggregate_seeds / "seed_summary.json"
            summary, tables = aggregate_seeds(args.aggregate_seeds), format_seed_tables
        else:
            out = args.out or ROOT / "results" / "synapsnet_eval_50.json"
            summary, tables = aggregate(args.aggregate), format_tables
        summary["git_commit"] = _git_commit()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=1, default=_json_default))
        print(tables(summary))
        log(f"wrote {out}")
        return
    args.out = args.out or ROOT / "results" / "synapsnet_eval.json"
    res: dict[str, Any] = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.jobs} process(es) x 1 thread, {os.cpu_count()} CPUs",
        "git_commit": _git_commit(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def dump() -> None:
        args.out.write_text(json.dumps(res, indent=1, default=_json_default))

    tic = time.perf_counter()
    if args.generators and args.networks > 0 and args.seeds:
        root = args.results_dir
        # the seeds run side by side, each with its share of the --jobs worker processes
        jobs = max(1, args.jobs // len(args.seeds))
        runs = [
            argparse.Namespace(
                **{**vars(args), "seed": seed, "jobs": jobs, "results_dir": root / f"seed_{seed}"}
            )
            for seed in args.seeds
        ]

        def seed_log(seed: int):
            return lambda msg: log(f"[seed {seed}] {msg}")

        if args.jobs <= 1:
            for run in runs:
                run_networks(run, seed_log(run.seed))
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(len(runs)) as pool:
                futures = [pool.submit(run_networks, r, seed_log(r.seed)) for r in runs]
                for fut in futures:
                    fut.result()
        res["synthetic_seeds"] = aggregate_seeds(root)
        res["synthetic_s"] = time.perf_counter() - tic
        dump()
        print(format_seed_tables(res["synthetic_seeds"]))
    elif args.generators and args.networks > 0:
        run_networks(args, log)
        res["synthetic"] = aggregate(args.results_dir)
        res["synthetic_s"] = time.perf_counter() - tic
        dump()
        print(format_tables(res["synthetic"]))
    if args.datasets:

        def dump_real(real: dict[str, Any]) -> None:
            res["real"] = real
            dump()

        res["real"] = real_part(args, dump_real)
    res["total_s"] = time.perf_counter() - tic
    dump()
    print_tables(res)
    log(f"wrote {args.out} ({res['total_s']:.0f} s)")


def _git_commit() -> str:
    import subprocess

    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(type(o).__name__)


if __name__ == "__main__":
    main()
