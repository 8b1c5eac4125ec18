"""CPU/CUDA dispatch helpers: devices, SIMD lane blocks, CUDA launch configuration.

The CPU kernels process simulations in blocks of :data:`LANES` (one block per ``prange``
iteration, the lanes in small arrays so that LLVM vectorises the per-step arithmetic). The HH
CUDA kernel runs one simulation per thread with :func:`cuda_launch_config` blocks (the pyloric
one, one thread per neuron, has its own ``launch_config``).
"""

from __future__ import annotations

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
]

#: Simulations per CPU block (SIMD lanes; 32 float32 = two AVX-512 registers).
LANES = 32
#: CUDA threads per block (one simulation per thread).
THREADS_PER_BLOCK = 128


def num_lane_blocks(num: int) -> int:
    """Number of CPU lane blocks for ``num`` simulations."""
    return (num + LANES - 1) // LANES


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
