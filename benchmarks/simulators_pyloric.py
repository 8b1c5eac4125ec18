"""CPU benchmark of the pyloric network simulator (11-s simulations, features computed online).

Standalone::

    OMP_NUM_THREADS=1 python benchmarks/simulators_pyloric.py --num 8 --threads 1

or ``from simulators_pyloric import run_pyloric_cpu`` (used by ``benchmarks/simulators.py``).
Prints a table and writes ``benchmarks/results/simulators_pyloric.json``. The authors' Cython
simulator is not packaged here; the comparison uses its measured 1.35 s per 11-s simulation on
one core of the same kind of 2-core machine (issue 4).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numba
import torch

AUTHORS_S_PER_SIM = 1.35  # Cython reference, one core, 11 s simulated (issue 4)
TARGET_S_PER_SIM = 0.05


def run_pyloric_cpu(num: int = 8, threads: int = 1, t_max: float = 11000.0) -> dict:
    """Seconds of CPU time per 11-s simulation and per core, for float32/float64, noise on/off."""
    from neurodyn.simulators.pyloric import PyloricNetwork, pyloric_prior

    numba.set_num_threads(threads)
    torch.manual_seed(0)
    theta = pyloric_prior().sample((num,))
    rows = []
    for dtype in (torch.float32, torch.float64):
        for noise in (True, False):
            net = PyloricNetwork(t_max=t_max, noise=noise, dtype=dtype)
            net.simulate(theta[:1], seed=0)  # compile or load the cache
            c0, w0 = time.process_time(), time.perf_counter()
            x = net.simulate(theta, seed=1)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            per_core = cpu / num * 11000.0 / t_max
            rows.append(
                {
                    "dtype": str(dtype).replace("torch.", ""),
                    "noise": noise,
                    "num": num,
                    "threads": threads,
                    "cpu_s_per_sim_per_core": per_core,
                    "wall_s": wall,
                    "valid_fraction": float(torch.isfinite(x).all(1).float().mean()),
                    "speedup_vs_authors": AUTHORS_S_PER_SIM / per_core,
                    "gap_to_target": per_core / TARGET_S_PER_SIM,
                }
            )
    return {"machine": "2-core CPU (shared, noisy)", "rows": rows, "sanity": _sanity(t_max)}


def _sanity(t_max: float) -> dict | None:
    """Valid rhythms of the 6 authors' reference sets x 4 seeds in float32 and float64 (needs
    the shared data; ``None`` without). Prior samples are ~1 % valid, so the timed rows say
    nothing about correctness: this caught float32 CPU outputs that were all NaN (numba 0.68)
    while the timings looked normal."""
    import os

    import numpy as np

    from neurodyn.simulators.pyloric import PyloricNetwork

    root = Path(os.environ.get("NEURODYN_SHARED_DATA", Path(__file__).parents[2] / "shared/data"))
    f = root / "pyloric_reference_outputs.npz"
    if not f.is_file():
        return None
    with np.load(f, allow_pickle=False) as ref:
        theta = torch.tensor(np.repeat(ref["theta"], 4, 0))
    out = {}
    for dtype in (torch.float32, torch.float64):
        x = PyloricNetwork(t_max=t_max, dtype=dtype).simulate(theta.to(dtype), seed=3)
        out[str(dtype).replace("torch.", "")] = float(torch.isfinite(x).all(1).float().mean())
    return {"reference_sets_valid_fraction": out}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--t-max", type=float, default=11000.0)
    parser.add_argument("--out", default="benchmarks/results/simulators_pyloric.json")
    args = parser.parse_args()
    res = run_pyloric_cpu(args.num, args.threads, args.t_max)
    print(f"{'dtype':8s} {'noise':6s} {'s/sim/core':>10s} {'x authors':>9s} {'x target':>8s}")
    for r in res["rows"]:
        print(
            f"{r['dtype']:8s} {r['noise']!s:6s} {r['cpu_s_per_sim_per_core']:10.3f} "
            f"{r['speedup_vs_authors']:9.2f} {r['gap_to_target']:8.1f}"
        )
    if res["sanity"] is not None:
        print("valid rhythms, 6 reference sets x 4 seeds:", res["sanity"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
