"""Why is SynapsNet's one-step calcium forecast barely better than the last value?

For a few networks per generator (the evaluation's generators and seeds,
``benchmarks/synapsnet_networks.py``), fits SynapsNet with the benchmark's settings and with
variants given as ``SynapsNetConfig`` overrides, and reports the held-out one-step forecast
(per-neuron r, test block), edge AUROC of A, and for calcium the references that bound what
any forecaster can reach:

* ``last_value`` and ``ar2``: per-neuron AR(2) least squares on the training block (the best
  linear predictor from the neuron's own history is close to AR(2) here); ``pooled_ar2`` and
  ``pooled_ar16``: one AR for all neurons on z-scored activity (the start of
  ``linear_init=True``);
* ``oracle_past_spikes``: the noise-free calcium of every *past* frame's spikes (true kernel,
  true spike counts), propagated one frame, plus the mean count of the frame in progress:
  the best forecast of a model that knew the past exactly but not the spikes of the current
  frame (they are not visible before the next frame: the sampled kernel is 0 at lag 0);
* ``deconv_round``: a nonlinear forecaster from the noisy ΔF/F alone that knows the kernel:
  frame by frame, the newest spike count is the rounded jump of ΔF/F above what the counts
  recovered so far predict; the forecast is then built from the recovered counts as in the
  oracle. It shows how much of the oracle's gain a nonlinear own-history model can reach;
* ``spike_r2_from_past``: test-block R² (mean over neurons) of the current frame's spike count
  predicted from the counts of *all* neurons in the three previous frames (ridge, λ = 1e4,
  fitted on the training block): how much the network could tell about the frame in progress.

``--neuprint`` adds NeuPRINT-style baselines (``neurodyn.population.baselines``) as JSON
dicts: ``"pop"`` selects its population inputs (``"both"``: mean and std, the baseline;
``"mean"``, ``"std"`` or ``"none"``: the other window zeroed), every other key is a
``BaselineConfig`` override (e.g. ``{"pop": "both", "lr": 0.003}``). With a SynapsNet variant of
``low_rank > 0`` the AUROC of the full ``A = S + U V^T`` is reported beside that of ``S``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/synapsnet_calcium_forecast.py --generators calcium \
        --networks 2 --variants '{}' '{"residual": true}' --out results/x.json

Writes JSON (``--out``) and prints one row per (generator, network, variant).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.signal import lfilter
from synapsnet_networks import GENERATORS, forecast_scores, generate

from neurodyn.population import SynapsNetConfig, chronological_split, fit_synapsnet
from neurodyn.population.baselines import BaselineConfig, NeuPRINTForecaster
from neurodyn.population.baselines.neural import _PerNeuronMLP
from neurodyn.population.metrics import edge_auroc, forecast_correlation

ROOT = Path(__file__).resolve().parent


def ar_forecast(x: np.ndarray, train: slice, order: int) -> np.ndarray:
    """Per-neuron AR(order) + intercept, least squares on the training block -> (T, N)."""
    t_len, n = x.shape
    out = np.full_like(x, np.nan)
    for i in range(n):
        lagged = np.stack([x[order - 1 - k : t_len - 1 - k, i] for k in range(order)], 1)
        design = np.c_[lagged, np.ones(len(lagged))]
        m = train.stop - order
        coef = np.linalg.lstsq(design[:m], x[order:, i][:m], rcond=None)[0]
        out[order:, i] = design @ coef
    return out


def pooled_ar_forecast(x: np.ndarray, train: slice, order: int) -> np.ndarray:
    """One AR(order) + intercept for all neurons (z-scored with the training block), least
    squares on the training block -> (T, N) in data units: the forecaster that
    ``SynapsNetConfig(linear_init=True)`` starts from."""
    mu, sd = x[train].mean(0), x[train].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x - mu) / sd
    t_len = len(x)
    lagged = np.stack([z[order - 1 - k : t_len - 1 - k] for k in range(order)], -1)  # (T', N, o)
    m = train.stop - order
    design = np.c_[lagged[:m].reshape(-1, order), np.ones(m * x.shape[1])]
    coef = np.linalg.lstsq(design, z[order:][:m].reshape(-1), rcond=None)[0]
    out = np.full_like(x, np.nan)
    out[order:] = (lagged @ coef[:order] + coef[order]) * sd + mu
    return out


def _kernel(net) -> tuple[float, float, float]:
    """``(a, b, scale)``: per-frame decay factors and amplitude/peak of ``calcium_network``."""
    cfg = net.config
    td, tr_ = cfg["tau_decay_s"], cfg["tau_rise_s"]
    t_peak = np.log(td / tr_) * tr_ * td / (td - tr_)
    peak = np.exp(-t_peak / td) - np.exp(-t_peak / tr_)
    return np.exp(-net.dt / td), np.exp(-net.dt / tr_), cfg["spike_amplitude"] / peak


def deconv_round(net, train: slice) -> np.ndarray:
    """Forecast from ΔF/F only: recover counts by rounding, then forecast as the oracle."""
    a, b, scale = _kernel(net)
    y = net.activity.astype(np.float64)
    t_len, n = y.shape
    mu = net.spikes[train].mean(0)
    slow = np.zeros(n)  # recovered slow/fast states at frame t-1 (counts up to t-1)
    fast = np.zeros(n)
    out = np.full((t_len, n), np.nan)
    jump = scale * (a - b)  # ΔF/F of one spike of frame t-1 seen at frame t
    for t in range(1, t_len):
        # frame t: a * slow - b * fast from counts <= t-2, plus jump * s[t-1]
        base = scale * (a * a * slow - b * b * fast) if t > 1 else np.zeros(n)
        s_prev = np.maximum(0.0, np.round((y[t] - base) / jump)) if t > 1 else np.zeros(n)
        slow = a * slow + s_prev
        fast = b * fast + s_prev
        if t + 1 < t_len:
            out[t + 1] = scale * (a * (a * slow + mu) - b * (b * fast + mu))
    return out


def spike_r2_from_past(net, train: slice, test: slice, lags: int = 3, lam: float = 1e4) -> float:
    """Mean test R² of s[t] from s[t-1 .. t-lags] of all neurons (ridge on the training block)."""
    s = net.spikes.astype(np.float64)
    t_len = len(s)
    design = np.concatenate([s[lags - 1 - k : t_len - 1 - k] for k in range(lags)], 1)
    target = s[lags:]
    m = train.stop - lags
    dmean, tmean = design[:m].mean(0), target[:m].mean(0)
    dc = design - dmean
    coef = np.linalg.solve(
        dc[:m].T @ dc[:m] + lam * np.eye(dc.shape[1]), dc[:m].T @ (target[:m] - tmean)
    )
    pred = dc @ coef + tmean
    rows = slice(test.start - lags, None)
    err = ((target[rows] - pred[rows]) ** 2).sum(0)
    tot = ((target[rows] - target[rows].mean(0)) ** 2).sum(0)
    keep = tot > 0
    return float(np.mean(1.0 - err[keep] / tot[keep]))


def oracle_past_spikes(net, train: slice) -> np.ndarray:
    """Noise-free forecast from all past spike counts and the mean count of the current frame.

    ``conv[t+1] = amp/peak * (a slow[t] - b fast[t])`` with ``slow[t] = a slow[t-1] + s[t]``
    (``fast`` likewise); ``s[t]`` is replaced by its training mean. Exact for the generator's
    kernel (``calcium_network``), up to the burn-in spikes that are not stored (a transient of
    the first ~20 frames, outside the test block).
    """
    a, b, scale = _kernel(net)
    s = net.spikes.astype(np.float64)
    slow = lfilter([1.0], [1.0, -a], s, axis=0)
    fast = lfilter([1.0], [1.0, -b], s, axis=0)
    mu = s[train].mean(0)
    out = np.full(s.shape, np.nan)
    out[2:] = scale * (a * (a * slow[:-2] + mu) - b * (b * fast[:-2] + mu))
    return out


class _MaskedPopMLP(_PerNeuronMLP):
    """NeuPRINT-style decoder with the population mean and/or std window zeroed."""

    def __init__(self, *args, pop: str) -> None:
        super().__init__(*args)
        self.use = (pop in ("both", "mean"), pop in ("both", "std"))

    def forward(self, xw: torch.Tensor, bw: torch.Tensor | None) -> torch.Tensor:
        own = xw.transpose(1, 2)  # (B, N, W)
        mean, std = xw.mean(2), xw.std(2)  # (B, W) each
        pop = torch.cat([mean * self.use[0], std * self.use[1]], 1)
        h = self.in_x(own) + self.in_pop(pop)[:, None]
        if self.emb is not None:
            h = h + self.in_e(self.emb)[None]
        return self.body(h).squeeze(-1) + self.skip(own).squeeze(-1)


class MaskedNeuPRINT(NeuPRINTForecaster):
    """:class:`NeuPRINTForecaster` whose population inputs are ``pop`` (no behaviour)."""

    def __init__(self, config: BaselineConfig, pop: str) -> None:
        super().__init__(config)
        if pop not in ("both", "mean", "std", "none"):
            raise ValueError(f"pop: expected both, mean, std or none, got {pop!r}")
        self.pop = pop

    def _build(self) -> torch.nn.Module:
        c = self.config
        args = (self.num_neurons, 0, c.window, c.hidden_dim, c.num_layers, c.embedding_dim)
        return _MaskedPopMLP(*args, pop=self.pop)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generators", nargs="*", default=["calcium"], choices=list(GENERATORS))
    p.add_argument("--networks", type=int, default=1)
    p.add_argument("--first-network", type=int, default=0)
    p.add_argument("--num-neurons", type=int, default=100)
    p.add_argument("--num-steps", type=int, default=6000)
    p.add_argument("--frame-rate", type=float, default=10.0)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--variants", nargs="*", default=["{}"], help="JSON dicts of SynapsNetConfig overrides"
    )
    p.add_argument(
        "--neuprint",
        nargs="*",
        default=[],
        help='NeuPRINT-style variants, JSON dicts: "pop" (both/mean/std/none) + BaselineConfig '
        "overrides",
    )
    p.add_argument("--out", type=Path, default=ROOT / "results" / "synapsnet_calcium_forecast.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    variants = [json.loads(v) for v in args.variants]
    rows = []
    for kind in args.generators:
        for k in range(args.first_network, args.first_network + args.networks):
            net = generate(kind, GENERATORS[kind] + k, args)
            x = net.activity.astype(np.float64)
            train, _, test = chronological_split(len(x))
            refs = {"last_value": np.vstack([np.full((1, x.shape[1]), np.nan), x[:-1]])}
            refs["ar2"] = ar_forecast(x, train, 2)
            for order in (2, 16):
                refs[f"pooled_ar{order}"] = pooled_ar_forecast(x, train, order)
            if kind == "calcium":
                refs["oracle_past_spikes"] = oracle_past_spikes(net, train)
                refs["deconv_round"] = deconv_round(net, train)
            row = {
                "generator": kind,
                "network": k,
                "references": {},
                "variants": [],
                "neuprint": [],
            }
            for name, pred in refs.items():
                r = float(np.nanmean(forecast_correlation(pred[test], x[test])))
                row["references"][name] = r
            if kind in ("calcium", "lif"):
                row["references"]["spike_r2_from_past"] = spike_r2_from_past(net, train, test)
            print(
                f"{kind} {k}: " + "  ".join(f"{n}={v:.4f}" for n, v in row["references"].items()),
                flush=True,
            )
            for over in variants:
                cfg = SynapsNetConfig.from_dict(
                    {
                        **SynapsNetConfig(
                            window=args.window,
                            epochs=args.epochs,
                            patience=args.patience,
                            seed=args.seed,
                        ).to_dict(),
                        **over,
                    }
                )
                tic = time.perf_counter()
                model = fit_synapsnet(x, config=cfg, device="cpu", progress=False)
                fit_s = time.perf_counter() - tic
                sc = forecast_scores(model.predict(x).numpy(), x, train, test)
                auroc = edge_auroc(model.connectivity().double().numpy(), net.weights)
                v = {
                    "overrides": over,
                    "mean_r": sc["mean_r"],
                    "r": sc["r"],
                    "mean_mse_z": sc["mean_mse_z"],
                    "auroc": float(auroc),
                    "epochs": len(model.history["val_loss"]),
                    "best_val_loss": float(min(model.history["val_loss"])),
                    "fit_s": fit_s,
                }
                if cfg.low_rank:
                    v["auroc_full"] = float(
                        edge_auroc(model.connectivity(part="full").double().numpy(), net.weights)
                    )
                row["variants"].append(v)
                print(
                    f"  {json.dumps(over):40s} r={v['mean_r']:.4f} mse_z={v['mean_mse_z']:.4f} "
                    f"auroc={v['auroc']:.3f} val={v['best_val_loss']:.4f} "
                    f"epochs={v['epochs']} ({fit_s:.0f} s)",
                    flush=True,
                )
            for spec in args.neuprint:
                over = json.loads(spec)
                pop = over.pop("pop", "both")
                bcfg = BaselineConfig(
                    **{
                        "window": args.window,
                        "epochs": args.epochs,
                        "patience": args.patience,
                        "seed": args.seed,
                        **over,
                    }
                )
                tic = time.perf_counter()
                base = MaskedNeuPRINT(bcfg, pop).fit(x)
                fit_s = time.perf_counter() - tic
                sc = forecast_scores(base.predict(x).numpy(), x, train, test)
                v = {
                    "pop": pop,
                    "overrides": over,
                    "mean_r": sc["mean_r"],
                    "r": sc["r"],
                    "mean_mse_z": sc["mean_mse_z"],
                    "epochs": len(base.history["val_loss"]),
                    "best_val_loss": float(min(base.history["val_loss"])),
                    "fit_s": fit_s,
                }
                row["neuprint"].append(v)
                print(
                    f"  neuprint pop={pop:4s} {json.dumps(over):28s} r={v['mean_r']:.4f} "
                    f"mse_z={v['mean_mse_z']:.4f} val={v['best_val_loss']:.4f} "
                    f"epochs={v['epochs']} ({fit_s:.0f} s)",
                    flush=True,
                )
            rows.append(row)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(
                json.dumps({"args": {**vars(args), "out": str(args.out)}, "rows": rows}, indent=1)
            )


if __name__ == "__main__":
    main()
