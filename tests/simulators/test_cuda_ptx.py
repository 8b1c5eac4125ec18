"""The CUDA kernels compile to PTX (sm_90) without a GPU, where the CUDA toolkit is present.

Catches what only the GPU run would otherwise reveal, e.g. a NumPy ufunc in a device-shared
maths helper that numba-cuda cannot lower (``np.floor`` in the float32 ``fexp`` broke every
float32 CUDA kernel once). Skipped where NVVM/NVRTC or numba-cuda are missing.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def _compile_ptx_or_skip(func, sig):
    from neurodyn.simulators._kernels._cuda import numba_cuda

    cuda = numba_cuda()
    try:  # numba-cuda asks the driver for the compute capability of device functions
        import numba.cuda.dispatcher as dispatcher

        class _Device:
            compute_capability = (9, 0)

        if not cuda.is_available():
            dispatcher.get_current_device = lambda: _Device()
    except Exception as exc:  # another numba-cuda layout
        pytest.skip(f"cannot patch numba-cuda for a driverless compile: {exc}")
    try:
        ptx, _ = cuda.compile_ptx(func, sig, fastmath=True, cc=(9, 0))
    except Exception as exc:
        name = type(exc).__name__
        if "NotFound" in name or "CudaSupportError" in name or "NvvmSupportError" in name:
            pytest.skip(f"CUDA toolkit libraries not available: {exc}")
        raise
    return ptx


def _kernel_and_signature(model: str, dtype: str):
    """The CUDA kernel's Python function and its launch signature for ``dtype`` states."""
    from numba import types

    ft = getattr(types, dtype)
    f8 = types.float64

    def arr(t, n):
        return types.Array(t, n, "C")

    if model == "pyloric":
        from neurodyn.simulators._kernels import pyloric_cuda

        sig = (
            arr(f8, 2), arr(f8, 1), arr(ft, 1), arr(types.uint64, 1), f8, arr(f8, 3), types.int64,
            types.int64, arr(f8, 2), f8, f8, types.boolean, types.boolean, types.boolean,
            arr(ft, 3), arr(f8, 3), arr(f8, 3), arr(f8, 3), arr(f8, 2), arr(f8, 2),
        )  # fmt: skip
        return pyloric_cuda.cuda_kernel.py_func, sig
    from neurodyn.simulators._kernels import hh_cuda

    # theta, seeds, current, noise, v0, dt, windows, dedup, use_rng, features, trace_tm
    sig = (
        arr(ft, 2), arr(types.uint64, 1), arr(ft, 1), arr(ft, 2), f8, f8,
        arr(types.int64, 1), f8, types.boolean, arr(f8, 2), arr(ft, 2),
    )  # fmt: skip
    return hh_cuda.hh_cuda_kernel.py_func, sig


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", ["pyloric", "hh"])
def test_cuda_kernel_compiles_to_ptx(model, dtype):
    pytest.importorskip("numba_cuda")
    ptx = _compile_ptx_or_skip(*_kernel_and_signature(model, dtype))
    assert ".entry" in ptx
    if dtype == "float32":
        assert "ex2.approx.ftz.f32" in ptx or "ex2.approx.f32" in ptx  # fast exp on the GPU
        if model == "pyloric":
            # float32 divisions are the approximate ones (fdiv): div.full is ~4x the instructions
            assert "div.approx.ftz.f32" in ptx and "div.full" not in ptx
