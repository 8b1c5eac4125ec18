"""CPU/CUDA dispatch helpers: devices, SIMD lane blocks, CUDA launch configuration.

The CPU kernels process simulations in blocks of :data:`LANES` (the lanes in small arrays so
that LLVM vectorises the per-step arithmetic); :func:`run_block_ranges` spreads the blocks over
threads. The HH
CUDA kernel runs one simulation per thread with :func:`cuda_launch_config` blocks (the pyloric
one, one thread per neuron, has its own ``launch_config``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
import torch

from neurodyn._runtime import resolve_device
from neurodyn._validation import fail
from neurodyn.simulators._kernels._cuda import cuda_available, cuda_simulator_enabled

__all__ = [
    "LANES",
    "THREADS_PER_BLOCK",
    "cuda_launch_config",
    "kernel_device",
    "num_lane_blocks",
    "run_block_ranges",
]

#: Simulations per CPU block (SIMD lanes; 64 float32 = four AVX-512 registers).
LANES = 64
#: CUDA threads per block (one simulation per thread).
THREADS_PER_BLOCK = 128


def num_lane_blocks(num: int) -> int:
    """Number of CPU lane blocks for ``num`` simulations."""
    return (num + LANES - 1) // LANES


def run_block_ranges(fn: Callable[..., None], n_blocks: int, *args: Any) -> None:
    """Call ``fn(b0, b1, *args)`` over contiguous ranges covering blocks ``[0, n_blocks)``.

    ``fn`` is a ``@njit(nogil=True)`` loop over its blocks; the ranges run on
    ``numba.get_num_threads()`` Python threads (``NUMBA_NUM_THREADS``,
    ``numba.set_num_threads``). Blocks are independent, so results do not depend on the
    thread count or on which thread runs which block.

    Scheduling is guided: each thread takes the next ``ceil(remaining / (2 * threads))``
    blocks (at least one) until none are left, so the ranges shrink towards the end and a
    thread that ran slower (another process on its core, a VM neighbour) leaves little
    behind. With fixed ranges (four per thread) the last range of a 10^4-simulation HH call
    was ~19 ms of work, ~20 % of the call on two cores.

    Why not ``prange``: a ``parallel=True`` kernel re-optimises the whole inlined block function
    inside its parfor (HH float32: +41 s of compilation on top of the block's 35 s, for every
    dtype, on a cold cache); the thin nogil loop compiles in ~1 s.
    """
    threads = max(1, min(numba.get_num_threads(), n_blocks))
    if threads == 1:
        fn(0, n_blocks, *args)
        return
    lock = threading.Lock()
    state = {"next": 0}

    def worker() -> None:
        while True:
            with lock:
                b0 = state["next"]
                if b0 >= n_blocks:
                    return
                b1 = b0 + max(1, -(-(n_blocks - b0) // (2 * threads)))
                state["next"] = b1
            fn(b0, b1, *args)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        for f in futures:
            f.result()  # re-raises a kernel error in the caller


def cuda_launch_config(num: int, threads: int = THREADS_PER_BLOCK) -> tuple[int, int]:
    """``(blocks, threads)`` for one thread per simulation."""
    return max(1, (num + threads - 1) // threads), threads


def kernel_device(device: str | torch.device | None) -> torch.device:
    """Resolve ``device`` for a simulator: ``"cpu"``, ``"cuda"``/``"cuda:N"`` or ``"auto"``.

    With numba's CUDA simulator on (``NUMBA_ENABLE_CUDASIM=1``) ``"cuda"`` is accepted without
    a GPU; its data then stays on the CPU (torch device ``cpu``) while the CUDA kernel runs in
    the simulator.
    """
    if cuda_simulator_enabled() and str(device).startswith("cuda"):
        return torch.device(str(device))
    dev = resolve_device(device)
    if dev.type == "cuda" and not cuda_available():
        fail(
            "device",
            "a CUDA device usable by numba",
            str(device),
            "Install numba-cuda (pip install 'neurodyn[cuda]') or use device='cpu'.",
        )
    return dev


def as_numpy(x: torch.Tensor) -> np.ndarray:
    """Contiguous NumPy view/copy of a CPU tensor."""
    return np.ascontiguousarray(x.detach().cpu().numpy())
