"""Per-network SynapsNet evaluation on simulated networks: parallel, resumable, aggregated.

Used by ``benchmarks/synapsnet_eval.py`` (``--jobs``, ``--results-dir``, ``--aggregate``).
One task = one random network of one generator. A worker process (one torch thread) simulates
it, fits SynapsNet twice -- the default forecaster (``current_lag=1``) and the same-frame-current
variant for connectivity estimation (``current_lag=0``, ``docs/synapsnet.md``) -- computes the
connectivity baselines on the training block, scores every estimate against the true W, scores
one-step forecasts on the held-out test block (SynapsNet, last value and ridge VAR on every
network; the neural baselines on the first ``--forecast-networks`` networks) and writes
``<results-dir>/<generator>/net_<k>.json`` atomically. A rerun skips the networks whose JSON
exists (after checking that it was written with the same settings), so an interrupted run
resumes. :func:`aggregate` reads every JSON below a folder and returns the summary: mean
AUROC (and AUPRC, sign accuracy, Spearman) with 95 % t intervals over networks, paired tests
over networks of SynapsNet against each connectivity baseline, and forecast correlation per
method with paired tests over networks (network means) and across neurons (pooled).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

#: Generators and the seed offset of their networks (network k has seed offset + k).
GENERATORS = {"rate": 1000, "lif": 2000, "calcium": 3000, "rate_sigma1": 5000}
NEURAL = ("lstm", "gru", "neuprint", "netformer")
CHEAP = ("last_value", "ridge_var")
#: Settings that must match for a stored network result to be reused.
SIGNATURE_KEYS = (
    "num_neurons",
    "num_steps",
    "frame_rate",
    "window",
    "epochs",
    "patience",
    "seed",
    "lag0",
)


def signature(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a per-network result depends on (stored in each JSON)."""
    from neurodyn.population import SynapsNetConfig

    sig = {k: getattr(args, k) for k in SIGNATURE_KEYS}
    if json.loads(getattr(args, "synapsnet_config", None) or "{}"):  # only when set: old
        sig["synapsnet_config"] = args.synapsnet_config  # result folders still resume
    elif SynapsNetConfig().linear_init:  # the default since session 9: files written with
        sig["linear_init"] = True  # the earlier default (random start) are not reused
    return sig


def generate(kind: str, seed: int, args: argparse.Namespace):
    """Simulate network ``seed`` of generator ``kind`` (a ``SyntheticNetwork``)."""
    from neurodyn.population.synthetic import calcium_network, lif_network, rate_network

    n, t = args.num_neurons, args.num_steps
    if kind == "rate":
        return rate_network(n, t, seed=seed)
    if kind == "rate_sigma1":
        return rate_network(n, t, seed=seed, noise_std=1.0)
    if kind == "lif":
        return lif_network(n, t, seed=seed)
    return calcium_network(n, t, frame_rate_hz=args.frame_rate, seed=seed)


def forecast_scores(pred: Any, x: np.ndarray, train: slice, test: slice) -> dict[str, Any]:
    """Per-neuron r and z-scored MSE on the test block, first-3-PC correlations."""
    from neurodyn.population.metrics import forecast_correlation, forecast_mse, pc_correlation

    pred = np.asarray(pred, dtype=np.float64)
    std = x[train].std(0)
    std = np.where(std > 0, std, 1.0)
    r = forecast_correlation(pred[test], x[test])
    mse = forecast_mse(pred[test] / std, x[test] / std)
    pcs = pc_correlation(pred[test], x[test], x[train], 3)
    return {
        "r": [float(v) for v in r],
        "mean_r": float(np.nanmean(r)),
        "mean_mse_z": float(mse.mean()),
        "pc_r": [float(v) for v in pcs],
    }


def make_baseline(name: str, window: int, epochs: int, patience: int, seed: int):
    """A forecasting baseline with the benchmark's settings (see docs/synapsnet_evaluation.md)."""
    from neurodyn.population.baselines import (
        BaselineConfig,
        LastValue,
        NetFormerForecaster,
        NeuPRINTForecaster,
        RecurrentForecaster,
        RidgeVAR,
    )

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


def runs_neural_baselines(k: int, args: argparse.Namespace) -> bool:
    """Whether network ``k`` also gets the neural forecasting baselines (expensive)."""
    every = getattr(args, "forecast_every", 0)
    return k < args.forecast_networks or bool(every and k % every == 0)


def evaluate_network(kind: str, k: int, args: argparse.Namespace) -> dict[str, Any]:
    """Everything measured on network ``k`` of generator ``kind`` (JSON-serialisable)."""
    import torch

    from neurodyn.population import SynapsNetConfig, chronological_split, fit_synapsnet
    from neurodyn.population.baselines import (
        lagged_correlation_connectivity,
        partial_correlation_connectivity,
        pearson_connectivity,
        var_connectivity,
    )
    from neurodyn.population.metrics import (
        connectivity_scores,
        current_activity_crosscorrelation,
        shuffled_connectivity,
    )

    torch.set_num_threads(1)
    seed = GENERATORS[kind] + k
    times: dict[str, float] = {}
    tic = time.perf_counter()
    net = generate(kind, seed, args)
    times["simulate"] = time.perf_counter() - tic
    x = net.activity.astype(np.float64)
    train, _, test = chronological_split(len(x))
    cfg = SynapsNetConfig(
        window=args.window, epochs=args.epochs, patience=args.patience, seed=args.seed
    )
    overrides = json.loads(getattr(args, "synapsnet_config", None) or "{}")
    if overrides:  # --synapsnet-config: SynapsNetConfig overrides of both SynapsNet fits
        cfg = SynapsNetConfig.from_dict({**cfg.to_dict(), **overrides})
    tic = time.perf_counter()
    model = fit_synapsnet(x, config=cfg, device="cpu", progress=False)
    times["synapsnet"] = time.perf_counter() - tic
    est = {"synapsnet": model.connectivity().double().numpy()}
    epochs = {"synapsnet": len(model.history["val_loss"])}
    if args.lag0:
        tic = time.perf_counter()
        model0 = fit_synapsnet(
            x,
            config=SynapsNetConfig.from_dict({**cfg.to_dict(), "current_lag": 0}),
            device="cpu",
            progress=False,
        )
        times["synapsnet_lag0"] = time.perf_counter() - tic
        est["synapsnet_lag0"] = model0.connectivity().double().numpy()
        epochs["synapsnet_lag0"] = len(model0.history["val_loss"])
    tic = time.perf_counter()
    est.update(
        pearson=pearson_connectivity(x[train]),
        partial_corr=partial_correlation_connectivity(x[train]),
        lagged_corr=lagged_correlation_connectivity(x[train]),
        var_coef=var_connectivity(x[train]),
    )
    times["connectivity_baselines"] = time.perf_counter() - tic
    forecasts = {"synapsnet": forecast_scores(model.predict(x).numpy(), x, train, test)}
    names = CHEAP + (NEURAL if runs_neural_baselines(k, args) else ())
    for name in names:
        if name not in args.forecasters:
            continue
        tic = time.perf_counter()
        base = make_baseline(name, args.window, args.epochs, args.patience, args.seed).fit(x)
        forecasts[name] = forecast_scores(base.predict(x).numpy(), x, train, test)
        times[name] = time.perf_counter() - tic
        if name == "netformer":
            est["netformer_attention"] = base.connectivity(x[train])
    st = model.stats(0)
    z = (x - st["act_mean"].numpy()) / st["act_std"].numpy()
    xcorr = {}
    for name, m in (
        ("synapsnet", est["synapsnet"]),
        ("correlation", est["pearson"]),
        ("shuffled_synapsnet", shuffled_connectivity(est["synapsnet"], args.seed)),
    ):
        lags, c = current_activity_crosscorrelation(z[test], m, 3)
        xcorr[name] = {"lags": lags.tolist(), "mean": np.nanmean(c, 1).tolist()}
    return {
        "generator": kind,
        "network": k,
        "seed": seed,
        "signature": signature(args),
        "generator_config": {kk: v for kk, v in net.config.items() if kk != "seed"},
        "num_edges": int((net.weights != 0).sum() - (np.diag(net.weights) != 0).sum()),
        "connectivity": {m: connectivity_scores(e, net.weights) for m, e in est.items()},
        "forecast": forecasts,
        "synapsnet_epochs": epochs,
        "input_current_xcorr": xcorr,
        "seconds": times,
    }


def _path(results_dir: Path, kind: str, k: int) -> Path:
    return results_dir / kind / f"net_{k:03d}.json"


def _task(kind: str, k: int, args: argparse.Namespace) -> tuple[str, int, float, str]:
    """Worker: evaluate one network and write its JSON (atomic rename)."""
    tic = time.perf_counter()
    res = evaluate_network(kind, k, args)
    res["seconds"]["total"] = time.perf_counter() - tic
    path = _path(args.results_dir, kind, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(res))
    tmp.replace(path)
    auroc = res["connectivity"]
    msg = "  ".join(
        f"{m}={auroc[m]['auroc']:.3f}"
        for m in ("synapsnet", "synapsnet_lag0", "pearson")
        if m in auroc
    )
    return kind, k, res["seconds"]["total"], msg


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def run_networks(args: argparse.Namespace, log) -> None:
    """Evaluate ``args.networks`` networks per generator in ``args.jobs`` processes (resumes)."""
    todo = []
    first = getattr(args, "first_network", 0)
    # interleave generators: a partial run stays balanced
    for k in range(first, first + args.networks):
        for kind in args.generators:
            path = _path(args.results_dir, kind, k)
            if path.is_file():
                stored = json.loads(path.read_text()).get("signature")
                if stored != signature(args):
                    raise SystemExit(
                        f"{path} was written with other settings ({stored}); use another "
                        f"--results-dir or the same settings ({signature(args)})."
                    )
                continue
            todo.append((kind, k))
    # long tasks (all forecasting baselines) first: better load balance
    todo.sort(key=lambda t: not runs_neural_baselines(t[1], args))
    log(f"{len(todo)} networks to evaluate ({args.jobs} processes) -> {args.results_dir}")
    if not todo:
        return
    if args.jobs <= 1:
        for kind, k in todo:
            _, _, s, msg = _task(kind, k, args)
            log(f"  {kind} {k}: {s:.0f} s  {msg}")
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # no forked torch/numba state
    with ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_init_worker) as pool:
        futures = [pool.submit(_task, kind, k, args) for kind, k in todo]
        for fut in as_completed(futures):
            kind, k, s, msg = fut.result()
            log(f"  {kind} {k}: {s:.0f} s  {msg}")


# --------------------------------------------------------------------------- aggregation
def _ci(values: list[float]) -> dict[str, Any]:
    from neurodyn.population.metrics import mean_ci

    v = np.asarray(values, dtype=np.float64)
    mean, lo, hi = mean_ci(v)
    return {"mean": mean, "ci95": [lo, hi], "num": int(np.isfinite(v).sum())}


def aggregate(results_dir: Path) -> dict[str, Any]:
    """Summary of every ``<generator>/net_*.json`` below ``results_dir``."""
    from neurodyn.population.metrics import paired_test

    out: dict[str, Any] = {"results_dir": str(results_dir), "generators": {}}
    for gen_dir in sorted(p for p in Path(results_dir).iterdir() if p.is_dir()):
        rows = [json.loads(p.read_text()) for p in sorted(gen_dir.glob("net_*.json"))]
        if not rows:
            continue
        sigs = {json.dumps(r["signature"], sort_keys=True) for r in rows}
        if len(sigs) != 1:
            raise SystemExit(f"{gen_dir}: results with different settings: {sorted(sigs)}")
        g: dict[str, Any] = {
            "num_networks": len(rows),
            "signature": rows[0]["signature"],
            "generator_config": rows[0]["generator_config"],
            "seeds": [r["seed"] for r in rows],
        }
        # connectivity: every method present in all networks (netformer only on a subset)
        methods = sorted({m for r in rows for m in r["connectivity"]})
        conn: dict[str, Any] = {}
        for m in methods:
            sub = [r for r in rows if m in r["connectivity"]]
            conn[m] = {
                metric: _ci([r["connectivity"][m][metric] for r in sub])
                for metric in ("auroc", "auprc", "sign_accuracy", "spearman")
            }
        paired: dict[str, Any] = {}
        for syn in ("synapsnet", "synapsnet_lag0"):
            if syn not in methods:
                continue
            for m in methods:
                sub = [r for r in rows if m in r["connectivity"]]
                if m == syn or len(sub) < 2:
                    continue
                a = [r["connectivity"][syn]["auroc"] for r in sub]
                b = [r["connectivity"][m]["auroc"] for r in sub]
                paired[f"{syn}_vs_{m}"] = paired_test(a, b).as_dict()
        g["connectivity"] = conn
        g["connectivity_paired_auroc_over_networks"] = paired
        # forecasts: per method, over the networks where it ran; paired with SynapsNet
        fmethods = sorted({m for r in rows for m in r["forecast"]})
        fc: dict[str, Any] = {}
        for m in fmethods:
            sub = [r for r in rows if m in r["forecast"]]
            fc[m] = {
                "num_networks": len(sub),
                "mean_r": _ci([r["forecast"][m]["mean_r"] for r in sub]),
                "mean_mse_z": _ci([r["forecast"][m]["mean_mse_z"] for r in sub]),
                "pc1_r": _ci([r["forecast"][m]["pc_r"][0] for r in sub]),
                "fit_s": float(np.mean([r["seconds"].get(m, np.nan) for r in sub])),
            }
            if m == "synapsnet":
                continue
            syn_means = [r["forecast"]["synapsnet"]["mean_r"] for r in sub]
            other = [r["forecast"][m]["mean_r"] for r in sub]
            fc[m]["synapsnet_mean_r_same_networks"] = float(np.mean(syn_means))
            if len(sub) >= 2:
                fc[m]["paired_over_networks_synapsnet_minus_this"] = paired_test(
                    syn_means, other
                ).as_dict()
            syn_r = np.concatenate([r["forecast"]["synapsnet"]["r"] for r in sub])
            oth_r = np.concatenate([r["forecast"][m]["r"] for r in sub])
            fc[m]["paired_over_neurons_synapsnet_minus_this"] = paired_test(syn_r, oth_r).as_dict()
        g["forecast"] = fc
        xc = {}
        for name in rows[0]["input_current_xcorr"]:
            vals = np.array([r["input_current_xcorr"][name]["mean"] for r in rows])
            xc[name] = {
                "lags": rows[0]["input_current_xcorr"][name]["lags"],
                "mean_over_networks": np.nanmean(vals, 0).tolist(),
            }
        g["input_current_xcorr"] = xc
        g["synapsnet_epochs_mean"] = {
            m: float(
                np.mean([r["synapsnet_epochs"][m] for r in rows if m in r["synapsnet_epochs"]])
            )
            for m in rows[0]["synapsnet_epochs"]
        }
        g["seconds_mean"] = {
            key: float(np.mean([r["seconds"][key] for r in rows if key in r["seconds"]]))
            for key in sorted({kk for r in rows for kk in r["seconds"]})
        }
        out["generators"][gen_dir.name] = g
    return out


def format_tables(summary: dict[str, Any]) -> str:
    """Markdown tables of an :func:`aggregate` summary."""
    lines: list[str] = []
    for kind, g in summary["generators"].items():
        conn = g["connectivity"]
        lines += [
            f"\n### {kind}: connectivity, {g['num_networks']} networks "
            "(edge AUROC, mean [95 % CI over networks])",
            "",
            "| method | networks | AUROC | AUPRC | sign acc. | Spearman | "
            "Δ AUROC SynapsNet(lag 0) − method, p |",
            "|---|---|---|---|---|---|---|",
        ]
        paired = g["connectivity_paired_auroc_over_networks"]
        for m, s in conn.items():
            a = s["auroc"]
            pt = paired.get(f"synapsnet_lag0_vs_{m}")
            extra = f"{pt['mean_difference']:+.3f}, {pt['p_value']:.1g}" if pt else "—"
            lines.append(
                f"| {m} | {a['num']} | {a['mean']:.3f} [{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}]"
                f" | {s['auprc']['mean']:.3f} | {s['sign_accuracy']['mean']:.3f}"
                f" | {s['spearman']['mean']:.3f} | {extra} |"
            )
        fc = g["forecast"]
        lines += [
            "",
            f"{kind}: one-step forecast on the held-out test block (per-neuron r)",
            "",
            "| method | networks | mean r [95 % CI] | SynapsNet r (same nets) | "
            "Δr over networks, p | Δr over neurons, p |",
            "|---|---|---|---|---|---|",
        ]
        for m, s in fc.items():
            r = s["mean_r"]
            pn = s.get("paired_over_networks_synapsnet_minus_this")
            pu = s.get("paired_over_neurons_synapsnet_minus_this")
            syn = s.get("synapsnet_mean_r_same_networks")
            lines.append(
                f"| {m} | {s['num_networks']} | {r['mean']:.4f} [{r['ci95'][0]:.4f}, "
                f"{r['ci95'][1]:.4f}] | {'—' if syn is None else f'{syn:.4f}'} | "
                + (f"{pn['mean_difference']:+.4f}, {pn['p_value']:.1g}" if pn else "—")
                + " | "
                + (f"{pu['mean_difference']:+.4f}, {pu['p_value']:.1g}" if pu else "—")
                + " |"
            )
        lines.append(
            "\nmean seconds per network: "
            + ", ".join(f"{k} {v:.1f}" for k, v in g["seconds_mean"].items())
        )
    return "\n".join(lines)
