"""How close the float32 HH CPU kernel runs to the floor its arithmetic sets on this CPU.

The float32 step loop (one exponential-Euler step of :data:`LANES` simulations) compiles to
SIMD code whose cost is dominated by multiply/FMA instructions (the ten ``exp`` polynomials,
the rate functions, the Newton steps of the reciprocals). This script

1. compiles the kernel afresh (numba cannot show the assembly of cached code; ~25 s) and finds
   the hot loop: the innermost loop with the most floating-point multiply/FMA instructions;
2. counts its multiply/FMA-class vector instructions and their width (zmm = 16 float32 lanes);
3. measures the CPU's sustained rate of such instructions on independent data (a long
   array, 32 FMAs per element: throughput-bound);
4. times the kernel (one thread, noise-free and noisy, features and traces);

and prints ``floor = FMA-class instructions per lane-step / measured rate`` against the
measured time per simulation-step. It is a floor for *this* instruction mix: doing fewer
multiplies (lower-degree ``exp`` polynomials, fewer rate-function terms) would lower it, at a
cost in float32 accuracy.

Usage: ``taskset -c 1 env NUMBA_NUM_THREADS=1 python benchmarks/hh_cpu_floor.py [--out PATH]``
(writes ``benchmarks/results/hh_cpu_floor.json``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if "NUMBA_CACHE_DIR" not in os.environ:  # fresh compile: numba hides the asm of cached code
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="neurodyn_floor_")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from numba import njit  # noqa: E402

torch.set_num_threads(1)

FMA_CLASS = re.compile(r"^\s+(v(?:f[n]?m(?:add|sub)\d+ps|mulps))\s+(.*)$")
DT, T_MAX = 0.025, 120.0


def hot_loop(asm: str) -> dict:
    """Innermost loop (label .. backward jump to it, no other loop inside) with the most
    multiply/FMA-class vector instructions; returns its counts by register width."""
    lines = asm.splitlines()
    labels = {m.group(1): i for i, ln in enumerate(lines) if (m := re.match(r"^(\.LBB\S+):", ln))}
    loops = []
    for i, ln in enumerate(lines):
        m = re.match(r"^\s+j\w+\s+(\.LBB\S+)", ln)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            loops.append((labels[m.group(1)], i))
    inner = [
        (a, b) for a, b in loops if not any(a < c and d <= b and (c, d) != (a, b) for c, d in loops)
    ]
    best = None
    for a, b in inner:
        counts = {"zmm": 0, "ymm": 0, "xmm": 0, "instructions": 0}
        for ln in lines[a : b + 1]:
            if re.match(r"^\s+[a-z]", ln):
                counts["instructions"] += 1
            m = FMA_CLASS.match(ln)
            if m:
                width = re.findall(r"%([xyz]mm)", m.group(2))
                counts[width[-1] if width else "xmm"] += 1
        if best is None or counts["zmm"] > best["zmm"]:
            best = {**counts, "first_line": a, "last_line": b}
    return best or {}


@njit(fastmath=True)
def _fma_chain(x, out, a, b):
    for j in range(x.shape[0]):
        y = x[j]
        for _ in range(32):  # unrolled by LLVM: 32 dependent FMAs, elements independent
            y = y * a + b
        out[j] = y


def fma_rate() -> float:
    """Sustained zmm (16 x float32) FMA instructions per ns on one core."""
    x = np.random.default_rng(0).random(4096).astype(np.float32)
    out = np.empty_like(x)
    a, b = np.float32(0.999), np.float32(1e-3)
    _fma_chain(x, out, a, b)
    best = np.inf
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(2000):
            _fma_chain(x, out, a, b)
        best = min(best, time.perf_counter() - t0)
    return 2000 * x.size * 32 / best / 1e9 / 16


def kernel_ns_per_step(num: int = 4096) -> dict:
    from neurodyn.simulators import HodgkinHuxley

    hh = HodgkinHuxley(dt=DT, t_max=T_MAX)
    g = torch.Generator().manual_seed(0)
    th = hh.prior.low + torch.rand((num, 8), generator=g) * (hh.prior.high - hh.prior.low)
    steps = round(T_MAX / DT)
    res = {}
    for noise in (False, True):
        t = th.clone()
        if not noise:
            t[:, 6] = 0.0
        for output in ("features", "trace"):
            hh.simulate(t[:64], seed=0, output=output)
            best = np.inf
            for _ in range(5):
                t0 = time.perf_counter()
                hh.simulate(t, seed=0, output=output)
                best = min(best, time.perf_counter() - t0)
            res[f"{output}_noise={noise}"] = best / num / steps * 1e9
    return res


def main() -> None:
    t0 = time.perf_counter()
    from neurodyn.simulators import HodgkinHuxley
    from neurodyn.simulators._kernels import hh_cpu

    HodgkinHuxley(dt=DT, t_max=T_MAX).simulate(torch.rand(2, 8) * 0.1 + 1, seed=0)
    compile_s = time.perf_counter() - t0
    sig = next(s for s in hh_cpu._hh_blocks.signatures if "float32" in str(s[2]))
    loop = hot_loop(hh_cpu._hh_blocks.inspect_asm(sig))
    # one iteration of the hot loop steps 16 lanes (one zmm register of float32)
    per_lane_step = loop["zmm"] / 16  # zmm multiply/FMA instructions per simulation-step
    rate = fma_rate()  # zmm FMAs per ns
    floor_ns = per_lane_step / rate
    measured = kernel_ns_per_step()
    res = {
        "compile_s": compile_s,
        "hot_loop": loop,
        "fma_class_zmm_per_16_lanes": loop["zmm"],
        "measured_zmm_fma_per_ns": rate,
        "floor_ns_per_sim_step": floor_ns,
        "measured_ns_per_sim_step": measured,
        "fraction_of_floor": {k: floor_ns / v for k, v in measured.items()},
        "threads": 1,
    }
    print(
        f"hot loop: {loop['instructions']} instructions, {loop['zmm']} zmm multiply/FMA "
        f"(+{loop['ymm']} ymm, {loop['xmm']} scalar) per {16} lanes"
    )
    print(f"measured FMA rate: {rate:.2f} zmm FMAs per ns ({rate * 16:.1f} lane-FMAs per ns)")
    print(f"floor of the step loop: {floor_ns:.2f} ns per simulation-step")
    for k, v in measured.items():
        print(f"  {k:24s} {v:5.2f} ns per simulation-step ({floor_ns / v:4.0%} of floor speed)")
    out = ROOT / "benchmarks" / "results" / "hh_cpu_floor.json"
    if "--out" in sys.argv:
        out = Path(sys.argv[sys.argv.index("--out") + 1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
