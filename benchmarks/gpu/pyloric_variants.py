"""Pyloric CUDA kernel variants timed in ONE run on one GPU (ratios, not absolute rates).

Variants are built from the current source of ``_kernels/pyloric_cuda.py`` in a scratch folder:
``current``; ``rNN`` (``max_registers=NN``); ``nofeat`` (online features compiled out: model +
noise only); and, with ``--baseline REF``, ``baseline``: the kernel modules of git revision
REF (``pyloric_cuda``, ``pyloric_model``, ``pyloric_online``, ``mathfn``, ``rng``, ``_cuda``,
extracted with ``git show`` into a private package). Each variant runs in its own process
(compiled in parallel first, then timed one after the other), on the same prior samples.

Run on the GPU machine from the repository root (session 4 used this method). The device's
copy of the tree has no git history, so save the baseline here first and carry the folder::

    python benchmarks/gpu/pyloric_variants.py --baseline 574d5ef --save-baseline .carry/base
    # on the GPU machine:
    python benchmarks/gpu/pyloric_variants.py --baseline .carry/base --registers 128,96 \
        --num 100000 --t-max 3000 --out $OUT/pyloric_variants.json

Prints a table (rates scaled to 11-s simulations) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KDIR = "neurodyn/simulators/_kernels"
SRC = ROOT / KDIR / "pyloric_cuda.py"
DEC = "@cuda.jit(fastmath=True, cache=True)"
BASE_MODULES = ("pyloric_cuda", "pyloric_model", "pyloric_online", "mathfn", "rng", "_cuda")


def _baseline_source(baseline: str, module: str) -> str:
    """Source of kernel ``module`` at git revision ``baseline``, or from folder ``baseline``."""
    folder = Path(baseline)
    if folder.is_dir():
        return (folder / f"{module}.py").read_text()
    return subprocess.run(
        ["git", "show", f"{baseline}:{KDIR}/{module}.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def build(work: Path, registers: list[int], baseline: str | None) -> list[str]:
    s = SRC.read_text()
    if DEC not in s:
        raise SystemExit(f"kernel decorator {DEC!r} not found in {SRC}")
    mods = {"current": s}
    for r in registers:
        mods[f"r{r}"] = s.replace(DEC, f"@cuda.jit(fastmath=True, cache=True, max_registers={r})")
    nofeat = s.replace("if want_features and w >= 0:", "if False:").replace(
        "if want_features and i0 == 0:", "if False:"
    )
    if nofeat != s:
        mods["nofeat"] = nofeat
    for name, text in mods.items():
        (work / f"pk_{name}.py").write_text(text)
    names = list(mods)
    if baseline:
        pkg = work / "pk_base"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        pattern = re.compile(r"neurodyn\.simulators\._kernels\.(" + "|".join(BASE_MODULES) + ")")
        for m in BASE_MODULES:
            text = _baseline_source(baseline, m)
            (pkg / f"{m}.py").write_text(pattern.sub(r"pk_base.\1", text))
        names.insert(0, "baseline")
    return names


def run_one(name: str, num: int, t_max: float, work: Path) -> dict:
    """Child process: time variant ``name`` (prints one JSON line)."""
    import torch

    sys.path.insert(0, str(work))
    import importlib

    import neurodyn.simulators._kernels.pyloric_cuda as pc
    from neurodyn.simulators.pyloric import PyloricNetwork

    mod = importlib.import_module("pk_base.pyloric_cuda" if name == "baseline" else f"pk_{name}")
    pc.cuda_kernel = mod.cuda_kernel  # PyloricNetwork._run_cuda imports it at call time
    net = PyloricNetwork(device="cuda", t_max=t_max)
    torch.manual_seed(0)  # the same prior samples in every variant's process
    theta = net.prior.sample((num,)).cuda()
    t0 = time.perf_counter()
    net.simulate(theta[:64], seed=0)
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = net.simulate(theta, seed=1)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    regs = mod.cuda_kernel.get_regs_per_thread()
    return {
        "variant": name,
        "registers": list(regs.values()) if isinstance(regs, dict) else regs,
        "first_call_s": first,
        "seconds": dt,
        "sims_per_s": num / dt,
        "sims_per_s_11s": num / dt * round(t_max / 0.025) / 440_000,
        "valid_fraction": float(torch.isfinite(x).all(1).float().mean()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--baseline",
        default=None,
        help="git revision to compare against, or a folder written by --save-baseline",
    )
    p.add_argument(
        "--save-baseline",
        type=Path,
        default=None,
        help="write the --baseline revision's kernel modules into this folder and exit (the "
        "device machine's copy of the tree has no git history: carry the folder)",
    )
    p.add_argument("--registers", default="128", help="comma list of max_registers variants")
    p.add_argument("--num", type=int, default=100_000)
    p.add_argument("--t-max", type=float, default=3000.0, help="simulated ms per network")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/pyloric_variants.json")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.save_baseline:
        a.save_baseline.mkdir(parents=True, exist_ok=True)
        for m in BASE_MODULES:
            (a.save_baseline / f"{m}.py").write_text(_baseline_source(a.baseline, m))
        print(f"wrote {len(BASE_MODULES)} modules of {a.baseline} to {a.save_baseline}")
        return
    if a.child:
        print("RESULT " + json.dumps(run_one(a.child, a.num, a.t_max, a.work)), flush=True)
        return
    regs = [int(r) for r in a.registers.split(",") if r]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        names = build(work, regs, a.baseline)
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

        def child(name: str, num: int) -> dict | None:
            cmd = [sys.executable, __file__, "--child", name, "--num", str(num)]
            cmd += ["--t-max", str(a.t_max), "--work", str(work)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            for line in out.stdout.splitlines():
                if line.startswith("RESULT "):
                    return json.loads(line[7:])
            print(f"{name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            return None

        t0 = time.time()
        with ThreadPoolExecutor(len(names)) as pool:  # compile every variant (disk cache)
            list(pool.map(lambda n: child(n, 64), names))
        print(f"compiled {len(names)} variants in {time.time() - t0:.0f} s")
        rows = [r for r in (child(n, a.num) for n in names) if r]
    ref = next((r for r in rows if r["variant"] == "baseline"), rows[0] if rows else None)
    print(f"{'variant':10s} {'registers':>10s} {'sims/s (11 s)':>14s} {'ratio':>6s} {'valid':>6s}")
    for r in rows:
        ratio = r["sims_per_s"] / ref["sims_per_s"]
        print(
            f"{r['variant']:10s} {r['registers']!s:>10s} {r['sims_per_s_11s']:14.0f} "
            f"{ratio:6.2f} {r['valid_fraction']:6.3f}"
        )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"num": a.num, "t_max": a.t_max, "rows": rows}, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
