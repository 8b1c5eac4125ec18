"""Probe the GPU machine: versions, and whether numba.cuda kernels can call @njit functions.

Run there: ``python3 benchmarks/gpu/probe.py``.
"""

import importlib
import math
import subprocess
import sys

import numpy as np

MODULES = (
    "numpy",
    "numba",
    "numba_cuda",
    "llvmlite",
    "torch",
    "zuko",
    "cuda.bindings",
    "scipy",
    "zarr",
    "dask",
    "typer",
    "safetensors",
    "jaxtyping",
    "pynwb",
    "matplotlib",
)


def main() -> None:
    print(sys.version)
    for name in MODULES:
        try:
            print(name, getattr(importlib.import_module(name), "__version__", "?"))
        except ImportError as err:
            print(name, "MISSING", err)
    if not hasattr(np, "row_stack"):  # numba-cuda 0.30.4 needs it with NumPy >= 2.5
        setattr(np, "row_stack", np.vstack)  # noqa: B010
    from numba import cuda, njit

    @njit(inline="always", fastmath=True)
    def scalar(x):
        return x * 2.0 + math.exp(-x)

    @cuda.jit(fastmath=True)
    def kernel(a, out):
        i = cuda.grid(1)
        if i < a.size:
            out[i] = scalar(a[i])

    a = np.arange(4.0)
    out = np.zeros(4)
    kernel[1, 32](a, out)
    print("njit-from-cuda OK", out)
    subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv"], check=False
    )


if __name__ == "__main__":
    main()
