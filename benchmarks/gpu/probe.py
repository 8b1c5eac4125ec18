"""Probe the GPU machine: versions, and whether numba.cuda kernels can call @njit functions."""
import sys, subprocess
print(sys.version)
for m in ("numpy", "numba", "numba_cuda", "llvmlite", "torch", "zuko", "cuda.bindings", "scipy", "zarr", "dask", "typer", "rich", "safetensors", "jaxtyping", "pynwb", "matplotlib"):
    try:
        mod = __import__(m, fromlist=["x"])
        print(m, getattr(mod, "__version__", "?"))
    except Exception as e:
        print(m, "MISSING", type(e).__name__, str(e)[:200])
import numpy as np
if not hasattr(np, "row_stack"):
    np.row_stack = np.vstack
import math
from numba import njit, cuda
print("cuda available", cuda.is_available())
@njit(inline="always", fastmath=True, cache=False)
def f(x):
    return x * 2.0 + math.exp(-x)
@cuda.jit(fastmath=True)
def k(a, out):
    i = cuda.grid(1)
    if i < a.size:
        out[i] = f(a[i])
a = np.arange(4.0); out = np.zeros(4)
try:
    k[1, 32](a, out); print("njit-from-cuda OK", out)
except Exception as e:
    print("njit-from-cuda FAILED", type(e).__name__, str(e)[:500])
subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv"])
