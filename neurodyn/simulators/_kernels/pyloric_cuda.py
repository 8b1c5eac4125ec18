"""CUDA kernel of the pyloric network: one simulation per thread.

Each thread runs :func:`.pyloric_loop.run_one` (the loop shared with the CPU
kernel): the 46 state variables in registers, the filter ring buffer and the feature state
machine in thread-local arrays, the kept bursts in global ``(num, 3, capacity)`` buffers. Only
features (and energies) leave the device unless a trace is requested.
"""

from __future__ import annotations

from numba import float64, int64

from neurodyn.simulators._kernels._cuda import numba_cuda
from neurodyn.simulators._kernels.pyloric_loop import run_one
from neurodyn.simulators._kernels.pyloric_online import NUM_ONLINE

__all__ = ["cuda_kernel"]

cuda = numba_cuda()


@cuda.jit(fastmath=True, cache=True)
def cuda_kernel(
    params,
    kin,
    s0,
    seeds,
    sig,
    noise,
    n_steps,
    i0,
    sg,
    dt,
    min_duration,
    want_power,
    want_trace,
    want_features,
    trace,
    bs,
    be,
    feats,
    energy,
):
    """Same arguments as :func:`.pyloric_cpu.cpu_kernel` plus the burst buffers ``bs``,
    ``be`` ``(num, 3, capacity)`` float64 (work space)."""
    i = cuda.grid(1)
    if i >= params.shape[0]:
        return
    k = (
        kin[0],
        kin[1],
        kin[2],
        kin[3],
        kin[4],
        kin[5],
        kin[6],
        kin[7],
        kin[8],
        kin[9],
        kin[10],
        kin[11],
        kin[12],
        kin[13],
        kin[14],
        kin[15],
        kin[16],
        kin[17],
        kin[18],
        kin[19],
        kin[20],
        kin[21],
        kin[22],
        kin[23],
    )
    ring = cuda.local.array((3, 21), float64)
    st = cuda.local.array((3, NUM_ONLINE), float64)
    nb = cuda.local.array(3, int64)
    nspk = cuda.local.array(3, float64)
    psum = cuda.local.array(3, float64)
    use_noise = noise.shape[1] > 1
    nz = noise[i] if use_noise else noise[0]
    tr = trace[i] if want_trace else trace[0]
    run_one(
        params[i],
        k,
        s0,
        seeds[i],
        sig,
        nz,
        use_noise,
        n_steps,
        i0,
        sg,
        dt,
        min_duration,
        want_power,
        want_trace,
        want_features,
        tr,
        ring,
        st,
        bs[i],
        be[i],
        nb,
        nspk,
        psum,
        feats[i],
        energy[i],
    )
