"""How the float32 HH CPU kernel compares with the multiply/FMA throughput of this CPU.

The float32 step loop (one exponential-Euler step of :data:`LANES` simulations) compiles to
SIMD code dominated by multiply/FMA instructions (the ten ``exp`` polynomials, the rate
functions, the Newton steps of the reciprocals). This script

1. compiles afresh (numba cannot show the assembly of cached code) the model step alone as one
   lane loop (``hh_step`` per lane) and finds its hot loop: the innermost loop with the most
   floating-point multiply/FMA instructions, one exponential-Euler step of 16 lanes (the kernel
   runs the same arithmetic as three lane loops, see ``hh_cpu.py``);
2. counts its multiply/FMA-class vector instructions (zmm = 16 float32 lanes);
3. measures the core's FMA throughput: 12 independent chains of 32 FMAs per element (a single
   chain per element measures latency, not throughput: that mistake gave a floor twice too
   high in this script's first version);
4. measures the same loop on every CPU of the affinity mask at once (SMT siblings share the
   FMA units: on the 2-vCPU development VM each then gets about half);
5. times the model step alone as one loop (``hh_step`` over 32 lanes) and as the kernel's three
   loops over 64 lanes (no noise, features or trace), and the kernel (one thread, noise-free
   and noisy, features and traces);

and prints ``throughput floor = FMA-class instructions per lane-step / FMA rate`` against the
measured times. The step is a chain of dependent ``exp`` evaluations (V, then the rates at
the new V, then each gate's relaxation): as one loop it is bound by that chain's latency; as
three loops (the kernel's form) it comes closer to the floor.

Usage: ``taskset -c 1 env NUMBA_NUM_THREADS=1 python benchmarks/hh_cpu_floor.py [--out PATH]``
(writes ``benchmarks/results/hh_cpu_floor.json``); run it without ``taskset`` to see the
concurrent rates of all CPUs.
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


_CHAINS = 12  # independent FMA chains per element: enough to cover the FMA latency


def _fma_kernel():
    """A loop of ``_CHAINS`` independent chains of 32 FMAs per element, vectorised over the
    elements (``contract`` only: reassociation would fold the chains into a polynomial)."""
    body = "\n".join(f"        y{c} = x[{c}, j]" for c in range(_CHAINS))
    for _ in range(32):
        body += "\n        " + "; ".join(f"y{c} = y{c} * a + b" for c in range(_CHAINS))
    body += "\n        out[j] = " + " + ".join(f"y{c}" for c in range(_CHAINS))
    src = f"def k(x, out, a, b):\n    for j in range(x.shape[1]):\n{body}\n"
    ns: dict = {}
    exec(src, ns)  # generated source: the unrolled chains, nothing external
    return njit(fastmath={"contract"})(ns["k"])


def fma_rate(seconds: float = 0.0) -> float:
    """Sustained zmm (16 x float32) FMA instructions per ns on one core (best of 7 rounds);
    with ``seconds > 0``, keep measuring for that long and return the median round."""
    k = _fma_kernel()
    x = np.random.default_rng(0).random((_CHAINS, 4096)).astype(np.float32)
    out = np.empty(4096, dtype=np.float32)
    a, b = np.float32(0.999), np.float32(1e-3)
    k(x, out, a, b)
    rates = []
    t_end = time.perf_counter() + seconds
    while len(rates) < 7 or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for _ in range(100):
            k(x, out, a, b)
        rates.append(100 * x.size * 32 / (time.perf_counter() - t0) / 1e9 / 16)
    return float(np.median(rates)) if seconds > 0 else float(max(rates))


def _rate_worker(cpu: int, seconds: float, queue) -> None:
    os.sched_setaffinity(0, {cpu})
    queue.put(fma_rate(seconds))


def concurrent_fma_rates(seconds: float = 3.0) -> list[float]:
    """FMA rate of each CPU this process may use while all of them run the FMA loop at once
    (equal to the one-core rate on separate physical cores; about half of it on two SMT
    threads of one core, as on the 2-vCPU development VM)."""
    import multiprocessing as mp

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return []
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rate_worker, args=(c, seconds, queue)) for c in cpus[:8]]
    for proc in procs:
        proc.start()
    rates = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return rates


def pure_step_ns(lanes: int = 32, steps: int = 48_000, split: bool = False) -> tuple[float, str]:
    """ns per simulation-step of the model step alone over ``lanes`` float32 lanes (parameters
    from the middle of the eLife prior box, a step current): ``hh_step`` in one lane loop, or
    (``split``) the kernel's three lane loops (V; rates at the new V; gates). Also returns the
    assembly of the compiled loop function."""
    from neurodyn.simulators._kernels.hh_model import (
        hh_gate_relax,
        hh_p_relax,
        hh_rates,
        hh_steady_state,
        hh_step,
        hh_v_update,
    )

    @njit(fastmath=True, error_model="numpy")
    def run(par, n_steps, dt):
        f = np.float32
        v = np.full(lanes, f(-70.0))
        m = np.empty(lanes, np.float32)
        h = np.empty(lanes, np.float32)
        n = np.empty(lanes, np.float32)
        p = np.empty(lanes, np.float32)
        for j in range(lanes):
            m[j], h[j], n[j], p[j] = hh_steady_state(v[j], par[5, j], par[4, j])
        rates = np.empty((8, lanes), np.float32)
        inv_tau = np.empty(lanes, np.float32)
        for j in range(lanes):
            inv_tau[j] = f(1.0) / par[4, j]
        for i in range(n_steps):
            ik = f(0.5) if i > 400 else f(0.0)
            if split:
                for j in range(lanes):
                    v[j] = hh_v_update(
                        v[j], m[j], h[j], n[j], p[j], par[0, j], par[1, j], par[2, j],
                        par[3, j], par[7, j], ik, f(dt),
                    )  # fmt: skip
                for j in range(lanes):
                    a_m, b_m, a_h, b_h, a_n, b_n, p_inf, r_p = hh_rates(v[j], par[5, j], inv_tau[j])
                    rates[0, j], rates[1, j] = a_m, a_m + b_m
                    rates[2, j], rates[3, j] = a_h, a_h + b_h
                    rates[4, j], rates[5, j] = a_n, a_n + b_n
                    rates[6, j], rates[7, j] = p_inf, r_p
                for j in range(lanes):
                    m[j] = hh_gate_relax(m[j], rates[0, j], rates[1, j], f(dt))
                    h[j] = hh_gate_relax(h[j], rates[2, j], rates[3, j], f(dt))
                    n[j] = hh_gate_relax(n[j], rates[4, j], rates[5, j], f(dt))
                    p[j] = hh_p_relax(p[j], rates[6, j], rates[7, j], f(dt))
                continue
            for j in range(lanes):
                v[j], m[j], h[j], n[j], p[j] = hh_step(
                    v[j],
                    m[j],
                    h[j],
                    n[j],
                    p[j],
                    par[0, j],
                    par[1, j],
                    par[2, j],
                    par[3, j],
                    par[7, j],
                    par[5, j],
                    par[4, j],
                    ik,
                    f(dt),
                )
        return v

    rng = np.random.default_rng(0)
    lo = np.array([0.5, 1e-4, 1e-4, 1e-4, 50.0, -90.0, 0.0, -100.0], dtype=np.float32)
    hi = np.array([80.0, 15.0, 0.6, 0.6, 3000.0, -40.0, 0.0, -35.0], dtype=np.float32)
    par = (lo[:, None] + rng.random((8, lanes), dtype=np.float32) * (hi - lo)[:, None]).astype(
        np.float32
    )
    run(par, 10, DT)
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        run(par, steps, DT)
        best = min(best, time.perf_counter() - t0)
    return best / steps / lanes * 1e9, run.inspect_asm(run.signatures[0])


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

    HodgkinHuxley(dt=DT, t_max=T_MAX).simulate(torch.rand(2, 8) * 0.1 + 1, seed=0)
    compile_s = time.perf_counter() - t0
    # the model step's multiply/FMA count, from its one-loop form (the kernel runs the same
    # arithmetic as three loops, of which the hot-loop finder would see one)
    step_ns, step_asm = pure_step_ns()
    split_ns, _ = pure_step_ns(lanes=64, split=True)
    loop = hot_loop(step_asm)
    # one iteration of the hot loop steps 16 lanes (one zmm register of float32)
    per_lane_step = loop["zmm"] / 16  # zmm multiply/FMA instructions per simulation-step
    rate = fma_rate()  # zmm FMAs per ns, one core
    floor_ns = per_lane_step / rate
    measured = kernel_ns_per_step()
    concurrent = concurrent_fma_rates()
    res = {
        "compile_s": compile_s,
        "hot_loop": loop,
        "fma_class_zmm_per_16_lanes": loop["zmm"],
        "fma_zmm_per_ns_one_core": rate,
        "fma_zmm_per_ns_all_cpus_at_once": concurrent,
        "throughput_floor_ns_per_sim_step": floor_ns,
        "pure_step_ns_per_sim_step": step_ns,
        "pure_step_three_loops_64_lanes_ns_per_sim_step": split_ns,
        "kernel_ns_per_sim_step": measured,
        "fraction_of_fma_throughput": {"pure_step": floor_ns / step_ns}
        | {"pure_step_three_loops": floor_ns / split_ns}
        | {k: floor_ns / v for k, v in measured.items()},
        "threads": 1,
    }
    print(
        f"hot loop: {loop['instructions']} instructions, {loop['zmm']} zmm multiply/FMA "
        f"(+{loop['ymm']} ymm, {loop['xmm']} scalar) per 16 lanes"
    )
    print(f"FMA throughput, one core: {rate:.2f} zmm FMAs per ns")
    if concurrent:
        print(
            "FMA throughput with every CPU of the mask busy: "
            + ", ".join(f"{r:.2f}" for r in concurrent)
            + " zmm FMAs per ns"
        )
    print(f"throughput floor of the step loop: {floor_ns:.2f} ns per simulation-step")
    share = floor_ns / step_ns
    print(f"  {'model step, one loop':24s} {step_ns:5.2f} ns ({share:4.0%} of FMA throughput)")
    print(
        f"  {'model step, three loops':24s} {split_ns:5.2f} ns "
        f"({floor_ns / split_ns:4.0%} of FMA throughput; the kernel's form, 64 lanes)"
    )
    for k, v in measured.items():
        print(f"  {k:24s} {v:5.2f} ns ({floor_ns / v:4.0%} of FMA throughput)")
    out = ROOT / "benchmarks" / "results" / "hh_cpu_floor.json"
    if "--out" in sys.argv:
        out = Path(sys.argv[sys.argv.index("--out") + 1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
