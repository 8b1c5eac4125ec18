"""Lazy import of ``numba.cuda`` (with the NumPy 2.5 shim) and CUDA availability checks.

``numba.cuda`` is imported only when a CUDA kernel is first needed, so that importing
:mod:`neurodyn` stays cheap and works without the CUDA toolkit. numba-cuda 0.30.4 (the GPU
machines' version) still calls ``np.row_stack``, which NumPy 2.5 removed; the shim restores it
as an alias of ``np.vstack`` before the import.
"""

from __future__ import annotations

import os
from functools import lru_cache
from types import ModuleType

import numpy as np

__all__ = ["cuda_available", "cuda_simulator_enabled", "numba_cuda"]


def _shim_numpy() -> None:
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack  # noqa: NPY201  (removed in NumPy 2.5, used by numba-cuda 0.30)


@lru_cache(maxsize=1)
def numba_cuda() -> ModuleType:
    """Return the ``numba.cuda`` module, importing it (and the NumPy shim) on first use."""
    _shim_numpy()
    from numba import cuda

    from neurodyn.simulators._kernels._cache import install_cuda

    install_cuda()
    return cuda


def cuda_simulator_enabled() -> bool:
    """True when numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1``)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


def cuda_available() -> bool:
    """True when a CUDA kernel can run here (a GPU, or numba's CUDA simulator)."""
    try:
        return bool(numba_cuda().is_available())
    except Exception:  # missing driver/toolkit: treat as no GPU
        return False
