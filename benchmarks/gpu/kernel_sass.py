"""Offline GPU kernel inspection: registers, spills and the main loop's SASS, without a GPU.

Compiles a neurodyn CUDA kernel to PTX for sm_90 on this machine (numba-cuda with the driver
query patched out), assembles it with ``ptxas -v`` and disassembles it with ``cuobjdump
-sass``, then counts the instructions of the largest loop (the time-step loop) by opcode.
Device time is scarce; this shows the effect of a kernel edit on registers (occupancy) and on
the per-step instruction count (issue-bound kernels) in a minute, before a GPU run.

Needs: numba-cuda, libNVVM (a CUDA toolkit), ``ptxas`` on PATH, and ``cuobjdump`` (PATH, or
``--cuobjdump``; pip wheel ``nvidia-cuda-cuobjdump`` ships one). Example::

    python benchmarks/gpu/kernel_sass.py --kernel pyloric --dtype float32
    python benchmarks/gpu/kernel_sass.py --kernel hh --dtype float32 --maxrreg 128

Prints a table and writes JSON (``--out``, default ``benchmarks/results/kernel_sass.json``).
Measured with it (session 4, pyloric float32, model only): 1 016 -> 866 SASS instructions per
neuron step after ``mathfn.fdiv`` and the GPU ``expm1``; registers 223 -> 168 (full kernel;
ptxas 13.0 here reports 176 before). Counts are static (a loop body with branches is counted
whole), so compare variants, not absolute cost.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path


def _patch_driverless() -> None:
    """numba-cuda asks the driver for the compute capability; pretend sm_90 without a GPU."""
    import numba.cuda.dispatcher as dispatcher

    from neurodyn.simulators._kernels._cuda import numba_cuda

    class _Device:
        compute_capability = (9, 0)

    if not numba_cuda().is_available():
        dispatcher.get_current_device = lambda: _Device()


def _signature(kernel: str, dtype: str) -> tuple:
    from numba import types

    def arr(t, n):
        return types.Array(t, n, "C")

    ft = getattr(types, dtype)
    f8, i8, b1 = types.float64, types.int64, types.boolean
    if kernel == "pyloric":
        return (
            arr(f8, 2), arr(f8, 1), arr(ft, 1), arr(types.uint64, 1), f8, arr(f8, 3), i8, i8,
            arr(f8, 2), f8, f8, b1, b1, b1, arr(ft, 3), arr(f8, 3), arr(f8, 3), arr(f8, 3),
            arr(f8, 2), arr(f8, 2),
        )  # fmt: skip
    return (
        arr(ft, 2), arr(types.uint64, 1), arr(ft, 1), arr(ft, 2), f8, f8, arr(i8, 1), f8, b1,
        arr(f8, 2), arr(ft, 2),
    )  # fmt: skip


def _kernel_function(kernel: str):
    if kernel == "pyloric":
        from neurodyn.simulators._kernels.pyloric_cuda import cuda_kernel

        return cuda_kernel.py_func
    from neurodyn.simulators._kernels.hh_cuda import hh_cuda_kernel

    return hh_cuda_kernel.py_func


def largest_loop(sass: str) -> tuple[int, collections.Counter]:
    """Instruction count and opcode histogram of the largest backward-branch range."""
    ins = []
    for line in sass.splitlines():
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
        if m:
            ins.append((int(m.group(1), 16), m.group(2).strip()))
    best = (0, 0, 0)
    for a, text in ins:
        m = re.search(r"BRA.*?0x([0-9a-f]+)", text)
        if m and int(m.group(1), 16) < a:
            start = int(m.group(1), 16)
            n = sum(1 for b, _ in ins if start <= b <= a)
            best = max(best, (n, start, a))
    _, s, e = best
    ops = collections.Counter()
    for a, text in ins:
        if s <= a <= e:
            text = re.sub(r"^@!?U?P\w+\s+", "", text)
            ops[text.split()[0].split(".")[0]] += 1
    return best[0], ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernel", choices=("pyloric", "hh"), default="pyloric")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--maxrreg", type=int, default=0, help="ptxas -maxrregcount (0: none)")
    parser.add_argument("--cuobjdump", default=shutil.which("cuobjdump") or "cuobjdump")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/kernel_sass.json"))
    args = parser.parse_args()
    if shutil.which("ptxas") is None:
        raise SystemExit("ptxas not found on PATH (CUDA toolkit needed)")
    _patch_driverless()
    from neurodyn.simulators._kernels._cuda import numba_cuda

    cuda = numba_cuda()
    func = _kernel_function(args.kernel)
    ptx, _ = cuda.compile_ptx(func, _signature(args.kernel, args.dtype), fastmath=True, cc=(9, 0))
    with tempfile.TemporaryDirectory() as tmp:
        ptx_path, cubin = Path(tmp) / "k.ptx", Path(tmp) / "k.cubin"
        ptx_path.write_text(ptx)
        cmd = ["ptxas", "-arch=sm_90", "-v", str(ptx_path), "-o", str(cubin)]
        if args.maxrreg:
            cmd.append(f"-maxrregcount={args.maxrreg}")
        info = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
        sass = subprocess.run(
            [args.cuobjdump, "-sass", str(cubin)], capture_output=True, text=True, check=True
        ).stdout
    regs = [int(r) for r in re.findall(r"Used (\d+) registers", info)]
    spill_st = [int(r) for r in re.findall(r"(\d+) bytes spill stores", info)]
    stack = [int(r) for r in re.findall(r"(\d+) bytes stack frame", info)]
    n_loop, ops = largest_loop(sass)
    res = {
        "kernel": args.kernel,
        "dtype": args.dtype,
        "maxrregcount": args.maxrreg,
        "registers": max(regs) if regs else None,
        "spill_store_bytes": max(spill_st) if spill_st else 0,
        "stack_bytes": max(stack) if stack else 0,
        "loop_instructions": n_loop,
        "loop_opcodes": dict(ops.most_common()),
        "ptx_div_full": ptx.count("div.full"),
        "ptx_div_approx": ptx.count("div.approx"),
    }
    head = ("kernel", "dtype", "regs", "spill B", "stack B", "loop ins")
    print(f"{head[0]:10s} {head[1]:8s} {head[2]:>5s} {head[3]:>8s} {head[4]:>8s} {head[5]:>9s}")
    print(
        f"{args.kernel:10s} {args.dtype:8s} {res['registers']!s:>5s} "
        f"{res['spill_store_bytes']:>8d} {res['stack_bytes']:>8d} {n_loop:>9d}"
    )
    print("loop opcodes:", ", ".join(f"{k} {v}" for k, v in ops.most_common(16)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
