"""Evidence for SynapsNet's default learning rate and L1 penalty (small, one seed per network).

Fits SynapsNet with several (lr, l1) settings to a rate network and a LIF network of the
evaluation generators (``neurodyn.population.synthetic``; N = 100, 6 000 steps, seed 1) and
reports the best validation loss (the quantity a user can see) and, against the known wiring,
edge AUROC and sign accuracy. Window 8, at most 30 epochs, patience 5, MSE loss.

With ``--m1`` it instead fits the M1 reaching recording (171 units, 50-ms counts; window 16,
8 epochs, patience 3, batch 128, MSE) with lr 1e-3 / l1 0 and with the defaults, each with and
without hand velocity as behaviour, and scores one-step forecasts on the held-out test block.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/synapsnet_settings.py [--m1]

Writes ``benchmarks/results/synapsnet_settings.json``. This is a sanity check on one network
per generator, not the 50-network comparison of ``benchmarks/synapsnet_eval.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from neurodyn.population import SynapsNetConfig, fit_synapsnet
from neurodyn.population.metrics import edge_auroc, sign_accuracy
from neurodyn.population.synthetic import lif_network, rate_network

SETTINGS = ((1e-3, 0.0), (3e-3, 0.0), (3e-3, 1e-2))


def m1() -> list[dict]:
    from neurodyn.io import read_npz
    from neurodyn.population import chronological_split
    from neurodyn.population.metrics import forecast_correlation, forecast_mse

    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    rec = read_npz(path / "m1_reach_stevenson2011_50ms.npz")
    x = rec.activity.astype(np.float32)
    vel = rec.behaviour[:, 2:].astype(np.float32)  # hand_vel_0, hand_vel_1
    _, _, test = chronological_split(len(x))
    rows = []
    for lr, l1 in ((2e-3, 0.0), (3e-3, 1e-2)):
        for beh in (vel, None):
            cfg = SynapsNetConfig(window=16, epochs=8, patience=3, batch_size=128, lr=lr, l1=l1)
            tic = time.perf_counter()
            model = fit_synapsnet(x, beh, cfg, device="cpu", progress=False)
            lo = test.start - 16
            pred = model.predict(x[lo:], None if beh is None else beh[lo:]).numpy()[16:]
            keep = x[test].std(0) > 0
            row = {
                "lr": lr,
                "l1": l1,
                "behaviour": beh is not None,
                "best_val_loss": min(model.history["val_loss"]),
                "test_mse": float(np.mean(forecast_mse(pred, x[test]))),
                "test_mean_r": float(
                    np.nanmean(forecast_correlation(pred[:, keep], x[test][:, keep]))
                ),
                "fit_s": time.perf_counter() - tic,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    torch.set_num_threads(1)
    if "--m1" in sys.argv:
        out = Path(__file__).parent / "results" / "synapsnet_settings_m1.json"
        out.write_text(
            json.dumps({"machine": "2-core CPU (shared, noisy)", "rows": m1()}, indent=2)
        )
        print(f"wrote {out}")
        return
    rows = []
    print(
        f"{'network':>8} {'lr':>7} {'l1':>7} {'best_val':>9} {'epochs':>6} {'AUROC':>6} "
        f"{'sign':>6} {'fit_s':>6}"
    )
    for kind in ("rate", "lif"):
        net = (rate_network if kind == "rate" else lif_network)(100, 6000, seed=1)
        x = net.activity.astype(np.float32)
        for lr, l1 in SETTINGS:
            cfg = SynapsNetConfig(window=8, epochs=30, patience=5, lr=lr, l1=l1)
            tic = time.perf_counter()
            model = fit_synapsnet(x, config=cfg, device="cpu", progress=False)
            a = model.connectivity().numpy()
            row = {
                "network": kind,
                "lr": lr,
                "l1": l1,
                "best_val_loss": min(model.history["val_loss"]),
                "epochs": len(model.history["val_loss"]),
                "auroc": edge_auroc(a, net.weights),
                "sign_accuracy": sign_accuracy(a, net.weights),
                "fit_s": time.perf_counter() - tic,
            }
            rows.append(row)
            print(
                f"{kind:>8} {lr:>7.0e} {l1:>7.0e} {row['best_val_loss']:>9.4f} "
                f"{row['epochs']:>6} {row['auroc']:>6.3f} {row['sign_accuracy']:>6.3f} "
                f"{row['fit_s']:>6.0f}",
                flush=True,
            )
    out = Path(__file__).parent / "results" / "synapsnet_settings.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": "2-core CPU (shared, noisy)", "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
