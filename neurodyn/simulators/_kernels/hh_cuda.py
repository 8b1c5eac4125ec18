"""CUDA kernel of the Hodgkin-Huxley simulator: one thread per simulation, fused time loop.

Imported lazily (it imports ``numba.cuda``). The model arithmetic, the counter-based normals,
the online feature update (``hh_cpu._feature_sample``, once per step) and its finalisation
(``hh_cpu.finalize_features``) are the scalar functions of the CPU kernel.
Traces are written time-major ``(num_steps, num)`` so that a warp's stores are coalesced; the
caller transposes on the device. Noise: step ``k`` uses normal ``k & 3`` of
``normal_quad(seed, k >> 2, 0, ...)``, the stream of the CPU kernel.
"""

from __future__ import annotations

import math

import numpy as np

from neurodyn.simulators._kernels._cuda import numba_cuda
from neurodyn.simulators._kernels.hh_cpu import (
    NUM_ONLINE_FEATURES,
    _feature_sample,
    finalize_features,
)
from neurodyn.simulators._kernels.hh_model import hh_steady_state, hh_step
from neurodyn.simulators._kernels.rng import normal_quad

cuda = numba_cuda()

__all__ = ["hh_cuda_kernel"]


@cuda.jit(fastmath=True, cache=True)
def hh_cuda_kernel(
    theta, seeds, current, noise, v0, dt, windows, dedup, use_rng, features, trace_tm
):
    """Same arguments as :func:`~neurodyn.simulators._kernels.hh_cpu.hh_cpu_kernel`, except
    ``trace_tm`` is time-major ``(num_steps, num)`` (or ``(0, 0)``)."""
    r = cuda.grid(1)
    num = theta.shape[0]
    if r >= num:
        return
    n_steps = current.shape[0]
    want_feat = features.shape[0] > 0
    want_trace = trace_tm.shape[0] > 0
    given_noise = noise.shape[0] > 0
    rest_end = windows[0]
    sd0 = windows[1]
    sd1 = windows[2]
    st0 = windows[3]
    st1 = windows[4]
    T = type(current[0])
    dtT = T(dt)  # dt in the state dtype
    g_na = theta[r, 0]
    g_k = theta[r, 1]
    g_l = theta[r, 2]
    g_m = theta[r, 3]
    tau_max = theta[r, 4]
    vt = -theta[r, 5]
    sig = theta[r, 6] / T(math.sqrt(dt))
    e_l = -theta[r, 7]
    seed = seeds[r]
    v = T(v0)
    m, h, n, p = hh_steady_state(v, vt, tau_max)
    z = T(0.0)
    z1 = T(0.0)  # the rest of the current block of four normals
    z2 = T(0.0)
    z3 = T(0.0)
    # online features: the lane state of the CPU kernel (hh_cpu._feature_sample), one thread
    f = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0)
    w = (rest_end, sd0, sd1, st0, st1)
    for i in range(n_steps):
        if i > 0:
            k = i - 1
            if given_noise:
                z = noise[r, k]
            elif use_rng:
                q = k & 3
                if q == 0:
                    z, z1, z2, z3 = normal_quad(seed, np.uint64(k >> 2), np.uint64(0), dtT)
                elif q == 1:
                    z = z1
                elif q == 2:
                    z = z2
                else:
                    z = z3
            v, m, h, n, p = hh_step(
                v, m, h, n, p, g_na, g_k, g_l, g_m, e_l, vt, tau_max, current[k] + sig * z, dtT
            )
        if want_trace:
            trace_tm[i, r] = v
        if want_feat:
            f = _feature_sample(f, float(v), i, w, dt, dedup)
    if want_feat:
        out = finalize_features(f, w)
        for k in range(NUM_ONLINE_FEATURES):
            features[r, k] = out[k]
