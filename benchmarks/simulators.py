"""Simulator benchmark (CPU): neurodyn HH vs jaxley and brian2, same run, same protocol.

HH at 120 ms, dt 0.025 ms (4801 samples), float32, parameters from the eLife prior (noise
sigma from the prior, i.e. noisy simulations) and the noise-free variant; batch 1e4 and 1e5;
online features and full traces (traces of 1e5 in chunks of 1e4). Prints a table and writes
``benchmarks/results/simulators.json``. A pyloric section is added when
``benchmarks/simulators_pyloric.py`` exists (its ``run()`` or ``run_pyloric_cpu()``,
returning a dict).

Usage: ``python benchmarks/simulators.py [--quick] [--hh-only] [--rounds R] [--out PATH]
[--brian2-python PYTHON]``.

Baselines (optional extras; a missing one is skipped with a message):

* jaxley (``pip install jaxley``): the same Pospischil channels on a compartment of the eLife
  soma's area, jit+vmap, noise-free and noisy (per-simulation ``jax.random`` normals in the
  stimulus, the same ``sigma * xi / sqrt(dt)`` current as neurodyn's), at each neurodyn batch
  size (10^5 as ten calls of 10^4, like the traces). Each neurodyn row's ``x jaxley`` is
  against jaxley with the same noise setting (like for like); ``x jaxley-noise-free`` compares
  every row, noisy ones included, with noise-free jaxley (the stricter reading).
* brian2 C++ standalone (``benchmarks/_brian2_hh.py``; brian2 2.9 does not import with
  NumPy >= 2.4, so it can run in its own environment: ``--brian2-python`` or
  ``NEURODYN_BRIAN2_PYTHON`` names that interpreter, see the worker's docstring), traces at
  batch 10^4 (about 3 s per run), once per benchmark; ``x brian2`` is against it at the same
  noise setting, for every neurodyn batch.

Each tool runs in its own fresh process (``--worker jaxley|neurodyn``), and jaxley and neurodyn
alternate ``R`` times (default 2): jaxley, neurodyn, jaxley, neurodyn. Session 10 found that
neurodyn rows timed in the process that had just run jaxley were slower (2 threads, quiet VM:
10^4 features 69-84k sims/s right after jaxley vs 105k for traces a few seconds later), so one
process per tool keeps XLA's thread pool and allocations out of the other tool's timing. A
row's ratio is the median over rounds of (neurodyn / jaxley) from adjacent processes; the
range over rounds is printed too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
torch.set_num_threads(1)

from neurodyn.simulators import HodgkinHuxley  # noqa: E402
from neurodyn.simulators.stimuli import ELIFE_SOMA_AREA_CM2  # noqa: E402

DT, T_MAX = 0.025, 120.0


def _theta(hh: HodgkinHuxley, num: int, noise: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    u = torch.rand((num, 8), generator=g)
    th = hh.prior.low + u * (hh.prior.high - hh.prior.low)
    if not noise:
        th[:, 6] = 0.0
    return th


def bench_neurodyn(
    num: int, output: str, noise: bool, chunk: int = 10**4, repeats: int = 5
) -> dict:
    """Median of ``repeats`` timed runs after one warm-up call of the same variant at
    ``min(num, chunk)`` simulations, as jaxley's compile call (the warm-up loads the kernel
    from numba's disk cache: that cost is reported separately by :func:`compile_times`, and in
    the first version of this benchmark it landed in the first timed row, making 1e4 with
    noise look 2.4x slower than 1e5; a full-size call also faults in the trace buffer)."""
    hh = HodgkinHuxley(dt=DT, t_max=T_MAX)
    th = _theta(hh, num, noise)
    hh.simulate(th[: min(num, chunk)], seed=0, output=output)  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        c0 = time.process_time()
        for a in range(0, num, chunk if output == "trace" else num):
            sl = th[a : a + chunk] if output == "trace" else th
            out = hh.simulate(sl, seed=a, output=output)
            del out
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall, cpu = float(np.median(walls)), float(np.median(cpus))
    return {
        "tool": "neurodyn",
        "batch": num,
        "output": output,
        "noise": noise,
        "sims_per_s": num / wall,
        "sims_per_cpu_s": num / cpu,
        "wall_s_runs": walls,
    }


def bench_jaxley(
    num: int, noise: bool = False, repeats: int = 5, chunk: int = 10**4
) -> dict | None:
    """Median of ``repeats`` timed runs after the jit compile; batches above ``chunk`` run as
    ``num / chunk`` calls of ``chunk`` (as neurodyn's traces: 10^5 traces at once would be
    1.9 GB). jaxley is faster per simulation at 10^4 than at 10^3 (21-22k vs 17k sims/s on
    the 2-core VM, session 9), so each neurodyn row is compared with jaxley at its own batch.

    The compartment has the eLife soma's membrane area (a 70 µm long cylinder of radius 35 µm:
    pi * (70 µm)^2) and gets the 0.5 nA step from 10 to 110 ms. ``noise=True`` runs the noisy
    model as a jaxley user would write it: per simulation, ``jax.random.normal`` draws one
    standard normal per step inside the jitted function and the stimulus is the step plus
    ``sigma * xi / sqrt(dt)`` (µA/cm², converted to nA by the area) through
    ``data_stimulate``, with ``sigma`` uniform on the eLife prior's range: the same noise term
    as neurodyn's. jaxley's conductances are its defaults times U(0.5, 1.5)."""
    try:
        import jax
        import jax.numpy as jnp
        import jaxley as jx
        from jaxley.channels.pospischil import K, Km, Leak, Na
    except ImportError as err:
        print(f"jaxley not available ({err}); compare with the issue's 3.5-4k sims/s")
        return None
    comp = jx.Compartment()
    for ch in (Na(), K(), Leak(), Km()):
        comp.insert(ch)
    comp.set("radius", 35.0)
    comp.set("length", 70.0)
    step = jx.step_current(i_delay=10.0, i_dur=100.0, i_amp=0.5, delta_t=DT, t_max=T_MAX)
    if not noise:
        comp.stimulate(step, verbose=False)
    comp.record("v", verbose=False)
    for name in ("Na_gNa", "K_gK", "Leak_gLeak", "Km_gKm"):
        comp.make_trainable(name, verbose=False)
    params = comp.get_parameters()
    # sigma * xi / sqrt(dt) in µA/cm² -> nA on the soma (the cylinder's lateral area)
    na_per_sigma = ELIFE_SOMA_AREA_CM2 * 1e3 / np.sqrt(DT)
    step_j = jnp.asarray(step, dtype=jnp.float32)

    def sim(p):
        return jx.integrate(comp, params=p, delta_t=DT)

    def sim_noisy(p, sigma, key):
        xi = jax.random.normal(key, step_j.shape, dtype=jnp.float32)
        stim = comp.data_stimulate(step_j + (sigma * na_per_sigma) * xi)
        return jx.integrate(comp, params=p, data_stimuli=stim, delta_t=DT)

    rng = np.random.default_rng(0)
    size = min(num, chunk)
    batch = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x * rng.uniform(0.5, 1.5, (size, *x.shape)), dtype=x.dtype), params
    )
    if noise:
        vsim = jax.jit(jax.vmap(sim_noisy))
        sigma = jnp.asarray(rng.uniform(1e-4, 0.15, size), dtype=jnp.float32)
        keys = jax.random.split(jax.random.PRNGKey(0), size)
        args = (batch, sigma, keys)
    else:
        vsim = jax.jit(jax.vmap(sim))
        args = (batch,)
    vsim(*args).block_until_ready()  # compile
    walls, cpus = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        c0 = time.process_time()
        for _ in range(0, num, size):
            out = vsim(*args).block_until_ready()
            del out
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {
        "tool": "jaxley " + jx.__version__,
        "batch": num,
        "output": "trace",
        "noise": noise,
        "sims_per_s": num / float(np.median(walls)),
        "sims_per_cpu_s": num / float(np.median(cpus)),
        "wall_s_runs": walls,
    }


def compile_times() -> dict:
    """First-call time in a fresh process (loads the disk cache after the first ever run)."""
    code = (
        "import time, torch; t=time.perf_counter();"
        "from neurodyn.simulators import HodgkinHuxley;"
        "HodgkinHuxley(dt=0.025).simulate(torch.rand(2, 8) * 0.1 + 1, seed=0);"
        "print(time.perf_counter()-t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=900
    )
    return {"fresh_process_first_call_s": float(out.stdout.strip().splitlines()[-1])}


def _worker(tool: str, sizes: tuple[int, ...]) -> list[dict]:
    """Run one tool's rows in this process (``--worker``); prints them as one JSON line."""
    rows: list[dict] = []
    if tool == "jaxley":
        for num in sizes:
            for noise in (False, True):
                row = bench_jaxley(num, noise)
                if row is None:
                    return rows
                rows.append(row)
    else:
        for num in sizes:
            for output in ("features", "trace"):
                for noise in (True, False):
                    rows.append(bench_neurodyn(num, output, noise))
    return rows


def _spawn(tool: str, sizes: tuple[int, ...]) -> list[dict]:
    cmd = [sys.executable, __file__, "--worker", tool, "--sizes", *map(str, sizes)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"{tool} worker failed:\n{out.stderr[-3000:]}")
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("ROWS "):
            return json.loads(line[5:])
    return []


def _spawn_brian2(num: int = 10**4) -> list[dict]:
    """brian2 rows (noise-free and noisy traces at ``num``) from ``_brian2_hh.py`` run by the
    interpreter of ``--brian2-python`` / ``NEURODYN_BRIAN2_PYTHON`` (default: this one)."""
    py = os.environ.get("NEURODYN_BRIAN2_PYTHON", sys.executable)
    if "--brian2-python" in sys.argv:
        py = sys.argv[sys.argv.index("--brian2-python") + 1]
    env = dict(os.environ)
    env["NEURODYN_BENCH_THREADS"] = str(numba_threads())
    worker = ROOT / "benchmarks" / "_brian2_hh.py"
    cmd = [py, str(worker), "--num", str(num)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800, env=env)
    except (OSError, subprocess.TimeoutExpired) as err:
        print(f"brian2 skipped: {err}")
        return []
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("ROWS "):
            rows = json.loads(line[5:])
            if not rows:
                print("brian2 skipped:", out.stdout.strip().splitlines()[0])
            return rows
    print(f"brian2 skipped (worker failed):\n{out.stderr[-2000:]}")
    return []


def numba_threads() -> int:
    """The thread count every tool is given (``NUMBA_NUM_THREADS``, default all cores)."""
    return int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))


def _key(r: dict) -> tuple:
    return (r["tool"], r["batch"], r["output"], r["noise"])


def main() -> None:
    if "-h" in sys.argv or "--help" in sys.argv:
        print(__doc__)
        return
    if "--worker" in sys.argv:
        tool = sys.argv[sys.argv.index("--worker") + 1]
        i = sys.argv.index("--sizes")
        sizes = tuple(int(a) for a in sys.argv[i + 1 :] if a.isdigit())
        print("ROWS " + json.dumps(_worker(tool, sizes)), flush=True)
        return
    quick = "--quick" in sys.argv
    sizes = (10**3,) if quick else (10**4, 10**5)
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 2
    res: dict = {
        "machine": os.environ.get("NEURODYN_MACHINE", "2-core CPU (shared, noisy)"),
        "dt_ms": DT,
        "t_max_ms": T_MAX,
        "dtype": "float32",
        "numba_threads": numba_threads(),
        "protocol": "one fresh process per tool, alternating jaxley/neurodyn, "
        f"{rounds} rounds; ratio = median over rounds of adjacent-process ratios",
    }
    res["compile"] = compile_times()
    print("first call in a fresh process:", res["compile"], flush=True)
    per_round: list[dict] = []
    for k in range(rounds):
        jx = _spawn("jaxley", sizes)
        nd = _spawn("neurodyn", sizes)
        jx_by = {(r["batch"], r["noise"]): r for r in jx}
        for r in nd:
            same = jx_by.get((r["batch"], r["noise"]))  # like for like: same noise term
            clean = jx_by.get((r["batch"], False))  # strict: jaxley without noise
            if same is not None:
                r["ratio_vs_jaxley"] = r["sims_per_s"] / same["sims_per_s"]
                r["ratio_vs_jaxley_cpu_s"] = r["sims_per_cpu_s"] / same["sims_per_cpu_s"]
            if clean is not None:
                r["ratio_vs_jaxley_noise_free"] = r["sims_per_s"] / clean["sims_per_s"]
        for r in jx + nd:
            r["round"] = k
            print(
                f"round {k} {r['tool']:16s} {r['batch']:>7d} {r['output']:9s} "
                f"noise={r['noise']!s:5s} {r['sims_per_s']:9.0f} sims/s",
                flush=True,
            )
        per_round.extend(jx + nd)
    rows = []
    for key in dict.fromkeys(_key(r) for r in per_round):
        rs = [r for r in per_round if _key(r) == key]
        row = {
            "tool": key[0],
            "batch": key[1],
            "output": key[2],
            "noise": key[3],
            "sims_per_s": float(np.median([r["sims_per_s"] for r in rs])),
            "sims_per_cpu_s": float(np.median([r["sims_per_cpu_s"] for r in rs])),
        }
        for name in ("ratio_vs_jaxley", "ratio_vs_jaxley_cpu_s", "ratio_vs_jaxley_noise_free"):
            vals = [r[name] for r in rs if name in r]
            if vals:
                row[name] = float(np.median(vals))
                row[name + "_range"] = [float(min(vals)), float(max(vals))]
        rows.append(row)
    if not quick:
        b2 = _spawn_brian2()
        b2_by = {r["noise"]: r for r in b2}
        for r in b2:
            print(
                f"{r['tool']:16s} {r['batch']:>7d} {r['output']:9s} noise={r['noise']!s:5s} "
                f"{r['sims_per_s']:9.0f} sims/s (build {r.get('build_s', float('nan')):.1f} s)"
            )
        for r in rows:
            if r["tool"] == "neurodyn" and r["noise"] in b2_by:
                r["ratio_vs_brian2"] = r["sims_per_s"] / b2_by[r["noise"]]["sims_per_s"]
        res["brian2"] = b2
    res["rows"] = rows
    res["rounds"] = per_round
    print(
        f"\n{'tool':16s} {'batch':>7s} {'output':9s} {'noise':5s} {'sims/s':>9s} "
        f"{'/cpu-s':>8s} {'x jaxley':>8s} {'(range)':>11s} {'x /cpu-s':>8s} "
        f"{'x jaxley-noise-free (range)':>27s} {'x brian2':>8s}"
    )
    nan2 = (float("nan"), float("nan"))
    for r in rows:
        lo, hi = r.get("ratio_vs_jaxley_range", nan2)
        clo, chi = r.get("ratio_vs_jaxley_noise_free_range", nan2)
        print(
            f"{r['tool']:16s} {r['batch']:>7d} {r['output']:9s} {r['noise']!s:5s} "
            f"{r['sims_per_s']:9.0f} {r['sims_per_cpu_s']:8.0f} "
            f"{r.get('ratio_vs_jaxley', float('nan')):8.2f} {lo:5.2f}-{hi:<5.2f} "
            f"{r.get('ratio_vs_jaxley_cpu_s', float('nan')):8.2f} "
            f"{r.get('ratio_vs_jaxley_noise_free', float('nan')):14.2f} {clo:5.2f}-{chi:<5.2f} "
            f"{r.get('ratio_vs_brian2', float('nan')):8.1f}"
        )
    pyl = ROOT / "benchmarks" / "simulators_pyloric.py"
    if pyl.is_file() and "--hh-only" not in sys.argv:
        spec = importlib.util.spec_from_file_location("simulators_pyloric", pyl)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fn = getattr(mod, "run", None) or getattr(mod, "run_pyloric_cpu", None)
        if fn is not None:
            res["pyloric"] = fn()
            print("pyloric:", res["pyloric"])
    name = "simulators_hh.json" if "--hh-only" in sys.argv else "simulators.json"
    out = ROOT / "benchmarks" / "results" / name
    if "--out" in sys.argv:
        out = Path(sys.argv[sys.argv.index("--out") + 1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
