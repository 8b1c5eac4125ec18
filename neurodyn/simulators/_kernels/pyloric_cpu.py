"""CPU kernel of the pyloric network: one simulation per ``prange`` iteration.

Each iteration runs :func:`.pyloric_loop.run_one` (the loop shared with the
CUDA kernel) with its own work arrays. Results do not depend on the thread count or the batch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from neurodyn.simulators._kernels.pyloric_loop import run_one
from neurodyn.simulators._kernels.pyloric_online import NUM_ONLINE

__all__ = ["cpu_kernel"]


@njit(parallel=True, error_model="numpy", cache=True)
def cpu_kernel(
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
    capacity,
    want_power,
    want_trace,
    want_features,
    trace,
    feats,
    energy,
):
    """All simulations of a batch; the state type is ``s0``'s dtype (float32 or float64).

    Arguments: params ``(num, 31)`` float64 (:func:`.pyloric_model.network_parameters`), kin
    ``(24,)``, s0 ``(46,)`` initial state, seeds ``(num,)`` uint64, sig noise sd (µA; 0 = off),
    noise ``(num, n_steps, 3)`` explicit noise currents or a ``(1, 1, 3)`` dummy; outputs trace
    ``(num, n_steps, 3)`` (or ``(1, 1, 3)`` unused), feats ``(num, NUM_FULL)`` float64, energy
    ``(num, 3)`` float64.
    """
    num = params.shape[0]
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
    use_noise = noise.shape[1] > 1
    for i in prange(num):
        ring = np.zeros((3, 21))
        st = np.zeros((3, NUM_ONLINE))
        bs = np.zeros((3, capacity))
        be = np.zeros((3, capacity))
        nb = np.zeros(3, np.int64)
        nspk = np.zeros(3)
        psum = np.zeros(3)
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
            bs,
            be,
            nb,
            nspk,
            psum,
            feats[i],
            energy[i],
        )
