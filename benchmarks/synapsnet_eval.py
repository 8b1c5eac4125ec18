"""Evaluate SynapsNet against baselines on simulated networks and on real recordings.

Synthetic part (ground truth known; seed Fig 5): for each generator (rate, LIF, calcium) and
each of ``--networks`` random networks: fit SynapsNet on the train/val blocks, score its
connectivity (AUROC, AUPRC, sign accuracy, Spearman vs the true W) against Pearson, partial
correlation, lag-1 cross-correlation and VAR(1) coefficients (all computed on the training
block), and, on the first ``--forecast-networks`` networks, its one-step forecasts on the held-out
test block against every forecasting baseline.

Real part: M1 (Stevenson 2011, 171 units, 50-ms counts, hand velocity as behaviour) and the two
zebrafish tectum calcium sessions (ΔF/F at 2.2 Hz; SynapsNet fitted on both sessions jointly):
per-neuron one-step forecast correlation on the test block vs each baseline (paired tests across
neurons), the behaviour ablation on M1, and the input-current cross-correlation (seed Fig 4b)
with SynapsNet's A, the correlation matrix and a shuffled A.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/synapsnet_eval.py --networks 3 --forecast-networks 1

Writes ``benchmarks/results/synapsnet_eval.json`` (after every part) and prints tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodyn.population import SynapsNetConfig, chronological_split, fit_synapsnet
from neurodyn.population.baselines import (
    BaselineConfig,
    LastValue,
    NetFormerForecaster,
    NeuPRINTForecaster,
    RecurrentForecaster,
    RidgeVAR,
    lagged_correlation_connectivity,
    partial_correlation_connectivity,
    pearson_connectivity,
    var_connectivity,
)
from neurodyn.population.metrics import (
    connectivity_scores,
    current_activity_crosscorrelation,
    forecast_correlation,
    forecast_mse,
    mean_ci,
    paired_test,
    pc_correlation,
    shuffled_connectivity,
)
from neurodyn.population.synthetic import calcium_network, lif_network, rate_network

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent.parent / "shared" / "data"
FORECASTERS = ("last_value", "ridge_var", "lstm", "gru", "neuprint", "netformer")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def make_baseline(name: str, window: int, epochs: int, patience: int, seed: int):
    cfg = BaselineConfig(window=window, epochs=epochs, patience=patience, seed=seed)
    rnn_cfg = BaselineConfig(
        window=window, epochs=epochs, patience=patience, seed=seed, hidden_dim=128, num_layers=1
    )
    return {
        "last_value": LastValue,
        "ridge_var": RidgeVAR,
        "lstm": lambda: RecurrentForecaster("lstm", rnn_cfg),
        "gru": lambda: RecurrentForecaster("gru", rnn_cfg),
        "neuprint": lambda: NeuPRINTForecaster(cfg),
        # lr 1e-2: at 1e-3 the linear attention was still far from converged after 15 epochs
        "netformer": lambda: NetFormerForecaster(
            BaselineConfig(window=window, epochs=epochs, patience=patience, seed=seed, lr=1e-2)
        ),
    }[name]()


def forecast_scores(pred: Any, x: np.ndarray, train: slice, test: slice) -> dict[str, Any]:
    """Per-neuron r and z-scored MSE on the test block, PC correlations."""
    pred = np.asarray(pred, dtype=np.float64)
    std = x[train].std(0)
    std = np.where(std > 0, std, 1.0)
    r = forecast_correlation(pred[test], x[test])
    mse = forecast_mse(pred[test] / std, x[test] / std)
    pcs = pc_correlation(pred[test], x[test], x[train], 3)
    return {
        "r": r,
        "mean_r": float(np.nanmean(r)),
        "mean_mse_z": float(mse.mean()),
        "pc_r": [float(v) for v in pcs],
    }


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
    return SynapsNetConfig(
        window=args.window, epochs=args.epochs, patience=args.patience, seed=args.seed
    )


def generate(kind: str, seed: int, args: argparse.Namespace):
    n, t = args.num_neurons, args.num_steps
    if kind == "rate":
        return rate_network(n, t, seed=seed)
    if kind == "lif":
        return lif_network(n, t, seed=seed)
    return calcium_network(n, t, frame_rate_hz=args.frame_rate, seed=seed)


def synthetic_part(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for kind in args.generators:
        log(f"generator {kind}")
        conn: dict[str, list[dict[str, float]]] = {}
        fc: dict[str, list[dict[str, Any]]] = {}
        xcorr = None
        for k in range(args.networks):
            seed = 1000 * (1 + ["rate", "lif", "calcium"].index(kind)) + k
            tic = time.perf_counter()
            net = generate(kind, seed, args)
            x = net.activity.astype(np.float64)
            train, _, test = chronological_split(len(x))
            log(f"  network {k} (seed {seed}) simulated in {time.perf_counter() - tic:.1f} s")
            tic = time.perf_counter()
            model = fit_synapsnet(x, config=synapsnet_config(args), device="cpu", progress=False)
            fit_s = time.perf_counter() - tic
            a = model.connectivity().double().numpy()
            est = {
                "synapsnet": a,
                "pearson": pearson_connectivity(x[train]),
                "partial_corr": partial_correlation_connectivity(x[train]),
                "lagged_corr": lagged_correlation_connectivity(x[train]),
                "var_coef": var_connectivity(x[train]),
            }
            fsyn = forecast_scores(model.predict(x).numpy(), x, train, test)
            fsyn["fit_s"] = fit_s
            log(
                f"    synapsnet  r={fsyn['mean_r']:.4f}  ({fit_s:.0f} s, "
                f"{len(model.history['val_loss'])} epochs)"
            )
            if k < args.forecast_networks:
                base = run_forecasters(x, None, args.forecasters, args, args.window, train, test)
                est["netformer_attention"] = base["netformer"].pop("_model").connectivity(x[train])
                row = {"synapsnet": fsyn, **base}
                fc.setdefault("_per_network", []).append(
                    {m: {kk: vv for kk, vv in v.items() if kk != "r"} for m, v in row.items()}
                )
                for m, v in row.items():
                    fc.setdefault(m, []).append(v)
            else:
                fc.setdefault("synapsnet_only", []).append(fsyn)
            for m, e in est.items():
                conn.setdefault(m, []).append(connectivity_scores(e, net.weights))
            log("    AUROC " + "  ".join(f"{m}={conn[m][-1]['auroc']:.3f}" for m in est))
            if xcorr is None:
                xcorr = current_xcorr(model, x, test, args.seed)
        results[kind] = {
            "generator_config": {kk: v for kk, v in net.config.items() if kk != "seed"},
            "num_networks": args.networks,
            "connectivity": summarise_connectivity(conn),
            "forecast": summarise_forecasts(fc),
            "input_current_xcorr": xcorr,
        }
    return results


def summarise_connectivity(conn: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m, rows in conn.items():
        out[m] = {}
        for metric in rows[0]:
            vals = np.array([r[metric] for r in rows])
            mean, lo, hi = mean_ci(vals)
            out[m][metric] = {"mean": mean, "ci95": [lo, hi], "values": vals.tolist()}
    syn = np.array([r["auroc"] for r in conn["synapsnet"]])
    out["paired_auroc_vs_synapsnet"] = {}
    for m in conn:
        other = np.array([r["auroc"] for r in conn[m]])
        if m == "synapsnet" or len(syn) < 2 or len(other) != len(syn):
            continue
        out["paired_auroc_vs_synapsnet"][m] = paired_test(syn, other).as_dict()
    return out


def summarise_forecasts(fc: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "synapsnet" not in fc:
        rows = fc.get("synapsnet_only", [])
        return {"synapsnet_only_mean_r": [r["mean_r"] for r in rows]}
    syn_r = np.concatenate([r["r"] for r in fc["synapsnet"]])
    for m, rows in fc.items():
        if m.startswith("_") or m == "synapsnet_only":
            continue
        r_all = np.concatenate([r["r"] for r in rows])
        out[m] = {
            "mean_r": float(np.nanmean(r_all)),
            "mean_mse_z": float(np.mean([r["mean_mse_z"] for r in rows])),
            "pc_r": np.mean([r["pc_r"] for r in rows], 0).tolist(),
            "fit_s": float(np.mean([r["fit_s"] for r in rows])),
            "num_networks": len(rows),
        }
        if m != "synapsnet":
            out[m]["paired_r_synapsnet_minus_this_across_neurons"] = paired_test(
                syn_r, r_all
            ).as_dict()
    out["per_network"] = fc.get("_per_network", [])
    if "synapsnet_only" in fc:
        out["synapsnet_extra_networks_mean_r"] = [r["mean_r"] for r in fc["synapsnet_only"]]
    return out


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
            per.setdefault(m, []).append(v["r"])
        sessions.append(
            {
                "num_steps": len(x),
                "num_neurons": x.shape[1],
                "methods": {
                    m: {k: (v.tolist() if k == "r" else v) for k, v in d.items()}
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


def print_tables(res: dict[str, Any]) -> None:
    for kind, r in res.get("synthetic", {}).items():
        print(f"\n## {kind}: connectivity over {r['num_networks']} networks (mean [95% CI])")
        print(f"{'method':22s} {'AUROC':>22s} {'AUPRC':>8s} {'sign':>6s} {'Spearman':>9s}")
        for m, s in r["connectivity"].items():
            if m.startswith("paired"):
                continue
            lo, hi = s["auroc"]["ci95"]
            print(
                f"{m:22s} {s['auroc']['mean']:.3f} [{lo:.3f}, {hi:.3f}]   "
                f"{s['auprc']['mean']:.3f} {s['sign_accuracy']['mean']:.3f} "
                f"{s['spearman']['mean']:9.3f}"
            )
        f = r["forecast"]
        if "synapsnet" in f:
            print(f"forecast (test block, {f['synapsnet']['num_networks']} network(s))")
            print(f"{'method':22s} {'mean r':>7s} {'MSE(z)':>7s} {'Δr (Syn-this)':>14s} {'p':>9s}")
            for m, s in f.items():
                if m in ("per_network", "synapsnet_extra_networks_mean_r"):
                    continue
                pt = s.get("paired_r_synapsnet_minus_this_across_neurons")
                extra = f"{pt['mean_difference']:+14.4f} {pt['p_value']:9.2g}" if pt else ""
                print(f"{m:22s} {s['mean_r']:7.4f} {s['mean_mse_z']:7.4f} {extra}")
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
        help="networks per generator on which all forecasting baselines run",
    )
    p.add_argument("--forecasters", nargs="*", default=list(FORECASTERS), choices=FORECASTERS)
    p.add_argument("--generators", nargs="*", default=["rate", "lif", "calcium"])
    p.add_argument("--datasets", nargs="*", default=["m1", "zebrafish"])
    p.add_argument("--num-neurons", type=int, default=100)
    p.add_argument("--num-steps", type=int, default=8000)
    p.add_argument("--frame-rate", type=float, default=10.0)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="keep SynapsNet checkpoints of the real-data fits here (resume)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "results" / "synapsnet_eval.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    res: dict[str, Any] = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s)",
        "git_commit": _git_commit(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def dump() -> None:
        args.out.write_text(json.dumps(res, indent=1, default=_json_default))

    tic = time.perf_counter()
    if args.generators and args.networks > 0:
        res["synthetic"] = synthetic_part(args)
        dump()
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
