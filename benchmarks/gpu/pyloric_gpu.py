"""Pyloric network on one GPU: correctness against the reference, throughput, floor, memory.

Run on the GPU machine from the repository root::

    python benchmarks/gpu/pyloric_gpu.py --out benchmarks/results/pyloric_gpu.json

Prints a table and writes JSON. Needs ``pyloric_reference_outputs.npz`` (``NEURODYN_SHARED_DATA``
or ``../shared/data``) for the correctness part; the throughput part runs without it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch


def _ref_file() -> Path | None:
    here = Path(__file__).resolve().parents[2]
    root = Path(os.environ.get("NEURODYN_SHARED_DATA", here.parent / "shared" / "data"))
    path = root / "pyloric_reference_outputs.npz"
    return path if path.is_file() else None


def correctness(res: dict) -> None:
    from neurodyn.simulators.pyloric import PyloricNetwork

    path = _ref_file()
    if path is None:
        print("reference file not found: correctness skipped")
        return
    ref = np.load(path, allow_pickle=False)
    theta = torch.tensor(ref["theta"])
    n = 440000
    for dtype in (torch.float64, torch.float32):
        worst, nan_mismatch = 0.0, 0
        net = PyloricNetwork(device="cuda", dtype=dtype, order="pnas")
        for si, s in enumerate(ref["seeds"]):
            one = (
                np.zeros((n, 3))
                if s < 0
                else np.random.RandomState(int(s)).normal(0, 1e-3, (3, n)).T
            )
            noise = torch.from_numpy(np.repeat(one[None], 6, 0))
            x = net.simulate(theta, noise=noise).double().cpu().numpy()
            exp = ref["stats_pyloric_order"][:, si, :18]
            nan_mismatch += int((np.isnan(x) != np.isnan(exp)).sum())
            rel = np.abs(x - exp) / np.maximum(np.abs(exp), 1e-12)
            worst = max(worst, float(np.nanmax(rel)))
        key = str(dtype).replace("torch.", "")
        res[f"reference_6x4_{key}"] = {"max_rel_err": worst, "nan_mismatches": nan_mismatch}
        print(
            f"reference 6 sets x 4 noise, GPU {key}: max rel err {worst:.2e}, "
            f"NaN mismatches {nan_mismatch}"
        )


def throughput(res: dict, sizes: list[int], budget_s: float) -> None:
    from neurodyn.simulators._kernels.pyloric_online import burst_capacity
    from neurodyn.simulators.pyloric import PyloricNetwork, pyloric_prior

    t_start = time.time()
    prior = pyloric_prior()
    for dtype in (torch.float32, torch.float64):
        key = str(dtype).replace("torch.", "")
        net = PyloricNetwork(device="cuda", dtype=dtype)
        t0 = time.time()
        net.simulate(prior.sample((256,)), seed=0)  # compile (or load cache) + warm up
        torch.cuda.synchronize()
        res[f"compile_s_{key}"] = time.time() - t0
        try:  # registers and thread-local memory of the compiled kernel(s)
            from neurodyn.simulators._kernels.pyloric_cuda import cuda_kernel

            res["kernel_regs_per_thread"] = str(cuda_kernel.get_regs_per_thread())
            res["kernel_local_bytes_per_thread"] = str(cuda_kernel.get_local_mem_per_thread())
            print("registers/thread", res["kernel_regs_per_thread"])
            print("local bytes/thread", res["kernel_local_bytes_per_thread"])
        except Exception as exc:
            print("resource usage unavailable:", exc)
        for num in sizes if dtype == torch.float32 else sizes[:1]:
            if time.time() - t_start > budget_s:
                break
            theta = prior.sample((num,)).cuda()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            x = net.simulate(theta, seed=1)
            torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            valid = float(torch.isfinite(x).all(1).float().mean())
            res[f"sims_per_s_{key}_{num}"] = num / dt
            print(
                f"{key:8s} batch {num:>7d}: {dt:7.2f} s, {num / dt:10.0f} sims/s "
                f"(11 s simulated each; features on device; valid {valid:.3f})"
            )
    # components at the largest batch (float32): model only, + noise, + features
    from neurodyn.simulators._kernels.rng import derive_seeds

    num = sizes[-1] if len(sizes) < 3 else sizes[1]
    theta = prior.sample((num,)).cuda()
    for noise, feats in ((False, False), (True, False), (False, True)):
        net = PyloricNetwork(device="cuda", noise=noise)
        params = net._params(theta.double())
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        net._run_cuda(params, derive_seeds(2, num), None, False, want_features=feats)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        res[f"sims_per_s_float32_{num}_noise{int(noise)}_features{int(feats)}"] = num / dt
        print(
            f"float32  batch {num:>7d}: noise={noise!s:5s} features={feats!s:5s}: "
            f"{num / dt:10.0f} sims/s"
        )
    cap = burst_capacity(10000.0, 50.0)
    per_sim = 3 * cap * 2 * 8 + 28 * 8 + 31 * 8 + 3 * 8 + 8 + 31 * 4 + 12 * 8
    res["global_bytes_per_sim"] = per_sim
    res["local_bytes_per_thread_estimate"] = (21 + 19) * 8  # one neuron per thread
    print(
        f"memory per simulation: {per_sim} B global (burst buffers, params, features) + "
        f"~{res['local_bytes_per_thread_estimate']} B thread-local (filter ring, state machine)"
    )


def floor(res: dict) -> None:
    props = torch.cuda.get_device_properties(0)
    sms = props.multi_processor_count
    clock_ghz = 1.98  # max SM clock of H100 SXM and H200
    # special-function unit ops per step: 3 neurons x (31 exp + 1 log + ~25 divisions) + 7
    # synapses x (1 exp + 2 divisions); fastmath exp/div/log = 1 MUFU op each
    mufu_per_step = 3 * (31 + 1 + 25) + 7 * 3
    mufu_per_sim = mufu_per_step * 440000
    mufu_rate = sms * 16 * clock_ghz * 1e9  # 16 MUFU ops / clock / SM (Hopper)
    res["floor_sims_per_s_mufu"] = mufu_rate / mufu_per_sim
    res["gpu"] = props.name
    print(
        f"{props.name}: {sms} SMs; MUFU floor ~{res['floor_sims_per_s_mufu']:.0f} sims/s "
        f"({mufu_per_step} SFU ops/step)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results/pyloric_gpu.json")
    parser.add_argument("--sizes", default="10000,100000,200000")
    parser.add_argument("--budget", type=float, default=150.0)
    parser.add_argument("--skip-correctness", action="store_true")
    args = parser.parse_args()
    res: dict = {}
    floor(res)
    if not args.skip_correctness:
        t0 = time.time()
        correctness(res)
        res["correctness_s"] = time.time() - t0
    throughput(res, [int(s) for s in args.sizes.split(",")], args.budget)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
