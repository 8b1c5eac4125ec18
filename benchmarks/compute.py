"""Campaign throughput: simulations/s through neurodyn.compute with 1 and 2 local workers,
and (``--gpu``) a pyloric campaign on one GPU plus NPE training from its store.

Usage::

    python benchmarks/compute.py --num-hh 20000 --num-pyloric 4000      # CPU scaling
    python benchmarks/compute.py --gpu --num-gpu 1000000                 # one GPU

CPU mode, per model: the simulator called directly in this process (1 numba thread), then
campaigns on a LocalCluster of 1 and of 2 worker processes (1 numba thread each; the
cluster is started and the kernels compiled before the clock starts). GPU mode: a campaign
of ``--num-gpu`` pyloric simulations on one GPU worker (wall time including the cluster
start and compilation, and the steady-state rate), the projection to 10^7, and NPE
training epochs streamed from the store on the GPU. Prints a table and writes
``benchmarks/results/compute.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NEURODYN_PROGRESS", "0")


def _simulator(model: str, device: str):
    from neurodyn.compute.models import make_simulator

    return make_simulator(model, device)


def _direct_rate(model: str, num: int) -> float:
    """Simulations/s of the simulator called in this process (1 numba thread)."""
    import numba
    import torch

    numba.set_num_threads(1)
    sim = _simulator(model, "cpu")
    theta = sim.prior.sample((num,))
    sim.simulate(theta[:2], seed=0)  # compile
    t0 = time.perf_counter()
    sim.simulate(theta, seed=1)
    rate = num / (time.perf_counter() - t0)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    torch.set_num_threads(1)
    return rate


def _campaign_rate(model: str, num: int, workers: int, chunk: int, tmp: Path) -> dict:
    from distributed import Client, LocalCluster

    from neurodyn.compute import simulate

    sim = _simulator(model, "cpu")
    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=30,
            env=env,
        ) as cluster,
        Client(cluster) as client,
    ):
        # warm-up: load/compile the kernels in every worker (one simulation on each)
        theta1 = sim.prior.sample((1,))
        client.run(lambda: sim.simulate(theta1, seed=0).shape)
        res = simulate(
            sim,
            sim.prior,
            num,
            tmp / f"{model}_{workers}.zarr",
            scheduler=client,
            chunk=chunk,
            seed=0,
            show_progress=False,
        )
    return {
        "workers": workers,
        "num": num,
        "seconds": res.seconds,
        "sims_per_s": res.sims_per_second,
        "invalid_fraction": res.num_invalid / num,
    }


def cpu_benchmark(args, tmp: Path) -> dict:
    out = {}
    for model, num in (("hh", args.num_hh), ("pyloric", args.num_pyloric)):
        if num <= 0:
            continue
        chunk = max(num // 8, 1)
        direct = _direct_rate(model, max(num // 2, 2))
        one = _campaign_rate(model, num, 1, chunk, tmp)
        two = _campaign_rate(model, num, 2, chunk, tmp)
        out[model] = {
            "direct_1_thread_sims_per_s": direct,
            "workers_1": one,
            "workers_2": two,
            "ratio_2_to_1": two["sims_per_s"] / one["sims_per_s"],
            "dask_efficiency_1_worker": one["sims_per_s"] / direct,
        }
    return out


def gpu_benchmark(args, tmp: Path) -> dict:
    import torch

    from neurodyn.compute import ZarrSource, simulate
    from neurodyn.compute.cluster import connect
    from neurodyn.inference import NPE, NPEConfig

    sim = _simulator("pyloric", "cuda")
    # the kernel alone, in this process (first call compiles)
    t0 = time.perf_counter()
    sim.simulate(sim.prior.sample((1000,)), seed=0)
    torch.cuda.synchronize()
    compile_s = time.perf_counter() - t0
    n_direct = args.chunk_gpu
    theta = sim.prior.sample((n_direct,))
    t0 = time.perf_counter()
    sim.simulate(theta, seed=1)
    torch.cuda.synchronize()
    direct_rate = n_direct / (time.perf_counter() - t0)
    # campaign size: the requested one unless it would not fit in the time budget
    fit = int(direct_rate * args.budget_s) // args.chunk_gpu * args.chunk_gpu
    num = max(args.chunk_gpu, min(args.num_gpu, fit))
    store = tmp / "pyloric_gpu.zarr"
    t0 = time.perf_counter()
    client, close = connect(None, gpu=True)
    try:
        simulate(
            sim,
            sim.prior,
            2000,
            tmp / "warm.zarr",
            scheduler=client,
            chunk=1000,
            seed=5,
            show_progress=False,
        )  # cluster start + kernel compile in the worker
        startup_s = time.perf_counter() - t0
        res = simulate(
            sim,
            sim.prior,
            num,
            store,
            scheduler=client,
            chunk=args.chunk_gpu,
            seed=0,
            show_progress=False,
        )
    finally:
        close()
    campaign_s = res.seconds
    # NPE training streamed from the store on the GPU
    cfg = NPEConfig(
        device="cuda", max_epochs=args.train_epochs, patience=10**6, batch_size=args.batch_size
    )
    source = ZarrSource(store, validation_fraction=0.02, shuffle_buffer=200_000)
    npe = NPE(sim.prior, cfg)
    t0 = time.perf_counter()
    npe.train(source=source, show_progress=False)
    train_s = time.perf_counter() - t0
    per_epoch = train_s / max(npe.summary.epochs, 1)
    n10 = 10**7
    sim_10m = campaign_s * n10 / num + startup_s
    epoch_10m = per_epoch * n10 / num  # rows scale with the campaign size
    return {
        "device": torch.cuda.get_device_name(0),
        "requested_num": args.num_gpu,
        "num": num,
        "chunk": args.chunk_gpu,
        "kernel_compile_s": compile_s,
        "direct_kernel_sims_per_s": direct_rate,
        "cluster_start_and_worker_compile_s": startup_s,
        "campaign_s": campaign_s,
        "campaign_sims_per_s": num / campaign_s,
        "campaign_1e6_wall_s": startup_s + campaign_s * 1e6 / num,
        "invalid_fraction": res.num_invalid / num,
        "store_bytes": sum(f.stat().st_size for f in store.rglob("*") if f.is_file()),
        "train_epochs": npe.summary.epochs,
        "train_s": train_s,
        "train_s_per_epoch": per_epoch,
        "train_rows": source.num_train,
        "projection_1e7_sim_s": sim_10m,
        "projection_1e7_train_s_per_epoch": epoch_10m,
        "projection_1e7_sim_plus_20_epochs_s": sim_10m + 20 * epoch_10m,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-hh", type=int, default=20_000)
    parser.add_argument("--num-pyloric", type=int, default=4_000)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--num-gpu", type=int, default=1_000_000)
    parser.add_argument("--chunk-gpu", type=int, default=100_000)
    parser.add_argument("--train-epochs", type=int, default=2)
    parser.add_argument(
        "--budget-s",
        type=float,
        default=150.0,
        help="largest campaign time (s) estimated from the kernel rate",
    )
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="neurodyn_bench_"))
    try:
        result = {"machine": platform.node(), "cpus": os.cpu_count()}
        if args.gpu:
            result["gpu"] = gpu_benchmark(args, tmp)
        else:
            result["cpu"] = cpu_benchmark(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _print(result)
    out = args.out or Path(__file__).parent / "results" / (
        "compute_gpu.json" if args.gpu else "compute.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


def _print(result: dict) -> None:
    for model, r in result.get("cpu", {}).items():
        print(
            f"{model:8s} direct(1 thread) {r['direct_1_thread_sims_per_s']:10.0f} sims/s | "
            f"1 worker {r['workers_1']['sims_per_s']:10.0f} | 2 workers "
            f"{r['workers_2']['sims_per_s']:10.0f} | ratio {r['ratio_2_to_1']:.2f}"
        )
    g = result.get("gpu")
    if g:
        print(
            f"{g['device']}: kernel {g['direct_kernel_sims_per_s']:.3g} sims/s; campaign of "
            f"{g['num']} pyloric sims {g['campaign_s']:.1f} s ({g['campaign_sims_per_s']:.3g}"
            f"/s) after {g['cluster_start_and_worker_compile_s']:.1f} s cluster start"
        )
        print(
            f"  10^6 campaign wall {g['campaign_1e6_wall_s']:.1f} s; NPE from store "
            f"{g['train_s_per_epoch']:.1f} s/epoch on {g['train_rows']} rows"
        )
        print(
            f"  projection 10^7: simulate {g['projection_1e7_sim_s'] / 60:.1f} min, "
            f"+20 epochs {g['projection_1e7_sim_plus_20_epochs_s'] / 60:.1f} min"
        )


if __name__ == "__main__":
    main()
