"""GPU benchmark and check of the HH CUDA kernel (run on the GPU machine).

Prints a table and writes ``benchmarks/results/hh_gpu.json`` (and ``$OUT/hh_gpu.json`` when
``OUT`` is set): compile time (first process) and first-call time in a second process (disk
cache), CPU-vs-CUDA agreement, throughput at batch 1e4..1e6 with online features (float32 and
float64) and with traces, and the instruction-issue floor of the features kernel.

Usage: ``python benchmarks/gpu/hh_gpu.py``
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from neurodyn.simulators import HodgkinHuxley  # noqa: E402

DT, T_MAX = 0.025, 120.0


def _theta(hh: HodgkinHuxley, num: int, dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    u = torch.rand((num, 8), generator=g, dtype=torch.float64)
    th = hh.prior.low.double().cpu() + u * (hh.prior.high - hh.prior.low).double().cpu()
    return th.to(dtype)


def first_call_seconds(dtype_name: str) -> float:
    dtype = getattr(torch, dtype_name)
    hh = HodgkinHuxley(dt=DT, t_max=T_MAX, dtype=dtype, device="cuda")
    th = _theta(hh, 256, dtype)
    t = time.perf_counter()
    hh.simulate(th, seed=0)
    torch.cuda.synchronize()
    return time.perf_counter() - t


def throughput(dtype, num: int, output: str, repeats: int = 3) -> float:
    hh = HodgkinHuxley(dt=DT, t_max=T_MAX, dtype=dtype, device="cuda")
    th = _theta(hh, num, dtype).cuda()
    hh.simulate(th[:1024], seed=1, output=output)
    best = float("inf")
    for r in range(repeats):
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = hh.simulate(th, seed=r, output=output)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
        del out
    return num / best


def instruction_floor(sims_per_s: float) -> dict:
    """Static PTX instruction count of the float32 features kernel vs the issue rate."""
    from numba import cuda

    from neurodyn.simulators._kernels.hh_cuda import hh_cuda_kernel

    asm = hh_cuda_kernel.inspect_asm()
    ptx = next(v for k, v in asm.items() if "float32" in str(k))
    body = [ln.strip() for ln in ptx.splitlines()]
    instr = [
        ln
        for ln in body
        if ln and not ln.startswith((".", "//", "{", "}", "$", "@")) and not ln.endswith(":")
    ]
    dev = cuda.get_current_device()
    sms = dev.MULTIPROCESSOR_COUNT
    clock_hz = dev.CLOCK_RATE * 1e3
    issue = sms * 4 * 32 * clock_hz  # thread-instructions per second (4 schedulers per SM)
    n_steps = round(T_MAX / DT)
    # upper bound per step: every instruction of the kernel (set-up, both noise branches,
    # feature windows, finalisation) counted as if executed at every step
    per_step = len(instr)
    floor = issue / (per_step * n_steps)
    return {
        "ptx_instructions_static": len(instr),
        "sms": sms,
        "clock_ghz": clock_hz / 1e9,
        "thread_instr_per_s": issue,
        "floor_sims_per_s_if_all_static_per_step": floor,
        "fraction_of_floor": sims_per_s / floor,
        "ex2": sum("ex2" in ln for ln in instr),
        "div": sum(ln.startswith("div") for ln in instr),
        "f64": sum(bool(re.search(r"\.f64\b", ln)) for ln in instr),
    }


def main() -> None:
    res: dict = {"device": torch.cuda.get_device_name(0), "dt_ms": DT, "t_max_ms": T_MAX}
    print(res)
    if len(sys.argv) > 1 and sys.argv[1] == "--first-call":
        print(json.dumps({d: first_call_seconds(d) for d in ("float32", "float64")}))
        return
    res["first_process_first_call_s"] = {d: first_call_seconds(d) for d in ("float32", "float64")}
    print("compile (first process):", res["first_process_first_call_s"], flush=True)
    rows = []
    for dtype, num, output in [
        (torch.float32, 10**4, "features"),
        (torch.float32, 10**5, "features"),
        (torch.float32, 10**6, "features"),
        (torch.float64, 10**6, "features"),
        (torch.float32, 10**4, "trace"),
        (torch.float32, 10**5, "trace"),
    ]:
        sps = throughput(dtype, num, output)
        rows.append({"dtype": str(dtype), "batch": num, "output": output, "sims_per_s": sps})
        print(f"{dtype!s:15s} {num:>8d} {output:9s} {sps:12.4g} sims/s", flush=True)
    res["throughput"] = rows
    f32 = next(r["sims_per_s"] for r in rows if r["batch"] == 10**6 and "32" in r["dtype"])
    res["floor"] = instruction_floor(f32)
    print("floor:", json.dumps(res["floor"]), flush=True)
    _save(res)
    out = subprocess.run(
        [sys.executable, __file__, "--first-call"], capture_output=True, text=True, timeout=300
    )
    res["second_process_first_call_s"] = json.loads(out.stdout.strip().splitlines()[-1])
    print("second process:", res["second_process_first_call_s"], flush=True)
    _save(res)
    # agreement with the CPU kernel
    agree = {}
    for dtype in (torch.float32, torch.float64):
        kw = dict(dt=DT, t_max=T_MAX, dtype=dtype)
        hh_c = HodgkinHuxley(**kw, device="cpu")
        th = _theta(hh_c, 2048, dtype)
        a = HodgkinHuxley(**kw, device="cuda").simulate(th, seed=3).cpu().double()
        b = hh_c.simulate(th, seed=3).double()
        same = a[:, 0] == b[:, 0]
        rel = ((a - b).abs() / (b.abs() + 1e-6))[same].nan_to_num(0).amax(dim=0)
        agree[str(dtype)] = {
            "spike_count_equal_fraction": float(same.float().mean()),
            "max_rel_diff_other_features": rel[1:].tolist(),
        }
    res["cpu_vs_cuda"] = agree
    print("cpu vs cuda:", json.dumps(agree), flush=True)
    _save(res)


def _save(res: dict) -> None:
    text = json.dumps(res, indent=2)
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "hh_gpu.json").write_text(text)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "hh_gpu.json").write_text(text)


if __name__ == "__main__":
    main()
