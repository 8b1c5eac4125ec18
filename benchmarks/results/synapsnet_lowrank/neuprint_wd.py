"""NeuPRINT-style with Adam weight decay (a one-off check; ``BaselineConfig`` has no such field).

The baseline's module-level ``torch`` is swapped for a namespace whose ``optim.Adam`` adds
``weight_decay`` (on all its parameters), so the library code runs unchanged otherwise.
Benchmark settings (window 16, 30 epochs / patience 10, seed 0). Writes ``neuprint_wd<wd>.json``.

    OMP_NUM_THREADS=1 python benchmarks/results/synapsnet_lowrank/neuprint_wd.py 0.001 \
        calcium:0 calcium:1 rate:0 lif:0
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from synapsnet_networks import GENERATORS, forecast_scores, generate  # noqa: E402

import neurodyn.population.baselines.neural as neural  # noqa: E402
from neurodyn.population import chronological_split  # noqa: E402
from neurodyn.population.baselines import BaselineConfig, NeuPRINTForecaster  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    wd = float(sys.argv[1])

    class _Adam(torch.optim.Adam):
        def __init__(self, params, lr):
            super().__init__(params, lr=lr, weight_decay=wd)

    patched = types.SimpleNamespace(**{k: getattr(torch, k) for k in dir(torch) if k[:2] != "__"})
    patched.optim = types.SimpleNamespace(Adam=_Adam)
    neural.torch = patched
    a = argparse.Namespace(num_neurons=100, num_steps=6000, frame_rate=10.0)
    out = {}
    for spec in sys.argv[2:]:
        g, k = spec.split(":")[0], int(spec.split(":")[1])
        x = generate(g, GENERATORS[g] + k, a).activity.astype(np.float64)
        train, _, test = chronological_split(len(x))
        cfg = BaselineConfig(window=16, epochs=30, patience=10, seed=0)
        m = NeuPRINTForecaster(cfg).fit(x)
        r = forecast_scores(m.predict(x).numpy(), x, train, test)["mean_r"]
        out[f"{g}_{k}"] = r
        print(g, k, f"neuprint wd={wd:g} r={r:.5f} epochs={len(m.history['val_loss'])}", flush=True)
    (HERE / f"neuprint_wd{wd:g}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
