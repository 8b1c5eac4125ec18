"""SynapsNet with and without decoder weight decay on M1 and the zebrafish tectum sessions.

Same protocol as ``benchmarks/synapsnet_eval.py``'s real part (window 16, chronological
70/10/20 split, test-block per-neuron r; M1 with hand velocity as behaviour, zebrafish's two
sessions fitted jointly), 30 epochs / patience 10, seed 0. Writes ``real_wd.json`` here.

    OMP_NUM_THREADS=1 python benchmarks/results/synapsnet_lowrank/real_wd.py [zebrafish] [m1]
        [--wd 0 0.001 0.01]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from synapsnet_networks import forecast_scores  # noqa: E402

from neurodyn.population import SynapsNetConfig, chronological_split, fit_synapsnet  # noqa: E402

DATA = HERE.parents[3] / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("datasets", nargs="*", default=["zebrafish", "m1"])
    p.add_argument("--wd", type=float, nargs="+", default=[0.0, 1e-3])
    args = p.parse_args()
    torch.set_num_threads(1)
    with np.load(DATA / "m1_reach_stevenson2011_50ms.npz", allow_pickle=False) as f:
        m1 = ([f["spikes"].T.astype(np.float64)], [f["hand_vel"].T.astype(np.float64)])
    fish = []
    for s in ("f1", "f3"):
        with np.load(DATA / f"zebrafish_tectum_spont_triplett2018_{s}.npz") as f:
            fish.append(f["dff"].T.astype(np.float64))
    path = HERE / "real_wd.json"
    out = json.loads(path.read_text()) if path.is_file() else {}
    data = {"m1": m1, "zebrafish": (fish, None)}
    for name in args.datasets:
        xs, bs = data[name]
        for wd in args.wd:
            cfg = SynapsNetConfig(window=16, epochs=30, patience=10, weight_decay=wd)
            tic = time.perf_counter()
            acts = xs if len(xs) > 1 else xs[0]
            behs = None if bs is None else bs[0]
            model = fit_synapsnet(acts, behs, config=cfg, device="cpu", progress=False)
            rs = []
            for s, x in enumerate(xs):
                train, _, test = chronological_split(len(x))
                b = None if bs is None else bs[s]
                pred = model.predict(x, b, session=s).numpy()
                rs += forecast_scores(pred, x, train, test)["r"]
            r = float(np.nanmean(rs))
            out[f"{name}_wd{wd:g}"] = {
                "mean_r": r,
                "r": rs,
                "epochs": len(model.history["val_loss"]),
                "best_val_loss": float(min(model.history["val_loss"])),
                "fit_s": time.perf_counter() - tic,
            }
            print(
                f"{name} weight_decay={wd:g}: r={r:.4f} epochs={out[f'{name}_wd{wd:g}']['epochs']}"
                f" ({time.perf_counter() - tic:.0f} s)",
                flush=True,
            )
            path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
