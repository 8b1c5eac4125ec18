"""SynapsNet training throughput (neuron-steps/s) and peak GPU memory vs session size.

One "neuron-step" is one predicted (neuron, time step) pair in a training batch. For each
session size N and decoder, a synthetic tanh network of N neurons and ``--steps`` time steps is
fitted for ``--epochs`` epochs; the throughput is that of the last epoch (the first includes
warm-up). On CUDA the peak allocated memory of the fit is reported too (the neuron axis is
processed in chunks, so memory stays bounded for large N).

Usage:
    python benchmarks/synapsnet_throughput.py --device cpu --neurons 50 200 --steps 1000
    python benchmarks/synapsnet_throughput.py --device cuda --neurons 200 1000 5000 --steps 2000

Writes ``benchmarks/results/synapsnet_throughput_<device>.json`` and prints a table. Imports
no file readers (runs where pynwb is missing).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from neurodyn.population import SynapsNetConfig, fit_synapsnet


def synthetic_activity(n: int, steps: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """``x_{t+1} = tanh(W x_t) + 0.5 noise`` with sparse random W (p = 0.05, gain 1.2)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    mask = torch.rand(n, n, generator=gen) < 0.05
    w = (torch.randn(n, n, generator=gen) * mask * 1.2 / (0.05 * n) ** 0.5).to(device)
    noise = torch.randn(steps, n, generator=gen).to(device)
    x = torch.zeros(steps, n, device=device)
    for t in range(1, steps):
        x[t] = torch.tanh(w @ x[t - 1]) + 0.5 * noise[t]
    return x


def run(
    device: str,
    sizes: list[int],
    decoders: list[str],
    steps: int,
    epochs: int,
    batch_size: int,
    window: int,
) -> list[dict]:
    dev = torch.device(device)
    rows = []
    for n in sizes:
        x = synthetic_activity(n, steps, dev)
        for decoder in decoders:
            cfg = SynapsNetConfig(
                window=window,
                decoder=decoder,
                epochs=epochs,
                batch_size=batch_size,
                patience=epochs,
                hidden_dim=64,
                embedding_dim=16,
            )
            if dev.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(dev)
            tic = time.perf_counter()
            model = fit_synapsnet(x, config=cfg, device=dev, progress=False)
            total = time.perf_counter() - tic
            h = model.history
            rows.append(
                {
                    "neurons": n,
                    "decoder": decoder,
                    "steps": steps,
                    "window": window,
                    "batch_size": batch_size,
                    "neuron_steps_per_epoch": h["neuron_steps"][-1],
                    "epoch_s": h["epoch_s"][-1],
                    "neuron_steps_per_s": h["neuron_steps"][-1] / h["epoch_s"][-1],
                    "fit_s_total": total,
                    "val_loss_first": h["val_loss"][0],
                    "val_loss_last": h["val_loss"][-1],
                    "peak_mem_gib": (
                        torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None
                    ),
                }
            )
            r = rows[-1]
            mem = f"{r['peak_mem_gib']:.2f}" if r["peak_mem_gib"] is not None else "-"
            print(
                f"{n:>6} {decoder:>12} {r['neuron_steps_per_s']:>14.3e} {r['epoch_s']:>9.2f}"
                f" {mem:>9} {r['val_loss_first']:>8.3f} {r['val_loss_last']:>8.3f}",
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--neurons", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--decoders", nargs="+", default=["mlp", "gru", "transformer"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else (f"CPU ({platform.processor() or platform.machine()}), {args.threads} thread(s)")
    )
    print(f"device: {name}; torch {torch.__version__}")
    print(
        f"{'N':>6} {'decoder':>12} {'neuron-st/s':>14} {'epoch_s':>9} {'mem_GiB':>9}"
        f" {'val0':>8} {'val_end':>8}"
    )
    rows = run(
        args.device,
        args.neurons,
        args.decoders,
        args.steps,
        args.epochs,
        args.batch_size,
        args.window,
    )
    out = Path(
        args.out
        or Path(__file__).parent
        / "results"
        / f"synapsnet_throughput_{args.device.split(':')[0]}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"device": name, "torch": torch.__version__, "args": vars(args), "rows": rows}, indent=2
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
