"""CPU kernel of the Hodgkin-Huxley simulator: SIMD lanes in blocks, blocks over threads.

Each block (``_hh_block``; blocks spread over threads by
:func:`~neurodyn.simulators._kernels.launch.run_block_ranges`) owns
:data:`~neurodyn.simulators._kernels.launch.LANES` simulations whose state lives in small
arrays; every per-step loop over the lanes is branch-free after inlining, so LLVM vectorises
the model arithmetic (with the polynomial ``fexp``). Trace output writes ``V`` per step;
feature output accumulates the 7 eLife features (plus the 5th standardised moment) online, so
nothing of length ``num_steps`` is stored.

Noise: step ``k`` uses normal ``k & 3`` of :func:`~neurodyn.simulators._kernels.rng.normal_quad`
at block ``k >> 2`` (the CUDA kernel draws the same stream). In float32 the block is computed
in two lane loops, the Philox rounds (64-bit lanes) into ``uint32`` words, then Box-Muller in
32-bit lanes (twice the SIMD width of one fused loop, whose vector width the 64-bit integers
set); float64 keeps ``normal_pair`` per two steps (the same normals).

Where the time goes (float32, 120 ms at dt 0.025 ms, one thread, thread CPU time per
simulation-step on a 2-core AVX-512 VM; ``benchmarks/results/hh_noise_notes.md``): model step
~3.8 ns; noise ~1.4 ns as one fused ``normal_pair`` loop, ~0.7 ns as above; trace output
~0.9 ns as one strided store per step and lane, ~0.35 ns through a lane-major tile of
:data:`_TILE` steps copied out in row segments; features ~1.2 ns, of which the spike rule took
0.7 ns while written with ``and``/``or`` (branches and masked scatters in the lane loop) and
~0.15 ns branch-free (:func:`_spike_lanes`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neurodyn.simulators._kernels.hh_model import (
    hh_gate_relax,
    hh_p_relax,
    hh_rates,
    hh_steady_state,
    hh_v_update,
)
from neurodyn.simulators._kernels.launch import LANES, run_block_ranges
from neurodyn.simulators._kernels.mathfn import is_float32
from neurodyn.simulators._kernels.moments import central_moments, moments_add
from neurodyn.simulators._kernels.rng import box_muller32, normal_pair, philox_words32
from neurodyn.simulators._kernels.spikes import THRESHOLD_MV, clip_at_threshold

__all__ = ["NUM_ONLINE_FEATURES", "finalize_features", "hh_cpu_kernel"]

#: Columns of the online feature output: the 7 eLife features and the 5th standardised moment.
NUM_ONLINE_FEATURES = 8
#: Steps per trace tile (lane-major ``(LANES, _TILE)`` buffer, copied out in row segments).
_TILE = 16


@njit(inline="always", error_model="numpy")
def _spike_lanes(c0, c1, c2, s, s_dt, last, count, dt, dedup):
    """``spikes.is_spike`` + ``spikes.spike_count_update`` for one lane, branch-free.

    The same comparisons and the same ``s * dt - last * dt`` (``s_dt`` is ``s * dt``), combined
    with ``&``/``|`` instead of ``and``/``or``: the short-circuit forms compiled to branches and
    masked scatters in the lane loop (0.7 vs 0.15 ns per simulation-step); results are equal
    (``tests/simulators/test_kernels.py`` checks against ``spikes.py``).
    """
    spike = (c0 > THRESHOLD_MV) & (c1 >= c0) & (c2 < c1)
    keep = spike & ((last < 0) | ((s_dt - last * dt) > dedup))
    return (s if spike else last), count + (1 if keep else 0)


@njit(inline="always", fastmath=True, error_model="numpy")
def finalize_features(
    count,
    n_rest,
    rest_sum,
    n_sd,
    sd_shift,
    sd1,
    sd2,
    n_st,
    st_shift,
    st1,
    st2,
    st3,
    st4,
    st5,
    out,
    row,
):
    """Write the 8 online features of one simulation into ``out[row]`` (float64)."""
    nan = math.nan
    _, m2, _, _, _ = central_moments(n_sd, sd_shift, sd1, sd2, 0.0, 0.0, 0.0)
    mean, v2, v3, v4, v5 = central_moments(n_st, st_shift, st1, st2, st3, st4, st5)
    sd = math.sqrt(v2) if v2 >= 0.0 else nan
    out[row, 0] = count
    out[row, 1] = rest_sum / n_rest if n_rest > 0 else nan
    out[row, 2] = math.sqrt(m2) if m2 >= 0.0 else nan
    out[row, 3] = mean
    out[row, 4] = v2
    out[row, 5] = v3 / (sd * sd * sd)
    out[row, 6] = v4 / (v2 * v2)
    out[row, 7] = v5 / (v2 * v2 * sd)
    if not (math.isfinite(mean) and math.isfinite(v4) and math.isfinite(out[row, 1])):
        for k in range(NUM_ONLINE_FEATURES):
            out[row, k] = nan


@njit(fastmath=True, error_model="numpy", cache=True)
def _hh_block(b, theta, seeds, current, noise, v0, dt, windows, dedup, use_rng, features, trace):
    """Simulate lane block ``b`` (simulations ``b*LANES ...``); see :func:`hh_cpu_kernel`."""
    num = theta.shape[0]
    n_steps = current.shape[0]
    want_feat = features.shape[0] > 0
    want_trace = trace.shape[0] > 0
    given_noise = noise.shape[0] > 0
    rest_end, sd0, sd1, st0, st1 = windows[0], windows[1], windows[2], windows[3], windows[4]
    T = theta.dtype.type
    L = LANES
    first = b * L
    # parameters (lane-major); padding lanes repeat the block's first simulation
    par = np.empty((8, L), dtype=theta.dtype)
    seed = np.empty(L, dtype=np.uint64)
    for j in range(L):
        r = min(first + j, num - 1)
        for k in range(8):
            par[k, j] = theta[r, k]
        seed[j] = seeds[r]
    g_na, g_k, g_l, g_m = par[0], par[1], par[2], par[3]
    tau_max = par[4].copy()
    vt = -par[5]
    sig = par[6] / T(math.sqrt(dt))
    e_l = -par[7]
    v = np.empty(L, dtype=theta.dtype)
    m = np.empty(L, dtype=theta.dtype)
    h = np.empty(L, dtype=theta.dtype)
    n = np.empty(L, dtype=theta.dtype)
    p = np.empty(L, dtype=theta.dtype)
    z = np.zeros(L, dtype=theta.dtype)
    zs = np.zeros((3, L), dtype=theta.dtype)  # the block's next normals (float64: zs[0])
    words = np.empty((4, L), dtype=np.uint32)
    tile = np.empty((L, _TILE), dtype=theta.dtype)
    rates = np.empty((8, L), dtype=theta.dtype)  # a_m, a_m + b_m, a_h, ..., p_inf, tau_p
    n_real = min(L, num - first)
    for j in range(L):
        v[j] = T(v0)
        m[j], h[j], n[j], p[j] = hh_steady_state(v[j], vt[j], tau_max[j])
    acc = np.zeros((12, L))  # rest_sum, sd_shift, sd1, sd2, st_shift, st1..st5, c1, c2
    cnt = np.zeros(L, dtype=np.int64)
    last = np.full(L, -1, dtype=np.int64)
    dtT = T(dt)
    for i in range(n_steps):
        if i > 0:
            k = i - 1
            if given_noise:
                for j in range(L):
                    z[j] = noise[min(first + j, num - 1), k]
            elif use_rng:
                if is_float32(dtT):  # normal k & 3 of normal_quad(seed, k >> 2), in two loops
                    q = k & 3
                    if q == 0:
                        c = np.uint64(k >> 2)
                        for j in range(L):
                            words[0, j], words[1, j], words[2, j], words[3, j] = philox_words32(
                                seed[j], c, np.uint64(0)
                            )
                        for j in range(L):
                            z[j], zs[0, j] = box_muller32(words[0, j], words[1, j])
                            zs[1, j], zs[2, j] = box_muller32(words[2, j], words[3, j])
                    else:
                        for j in range(L):
                            z[j] = zs[q - 1, j]
                elif (k & 1) == 0:  # float64: normal_quad's normals, one pair per two steps
                    for j in range(L):
                        z[j], zs[0, j] = normal_pair(seed[j], np.uint64(k >> 1), np.uint64(0), dtT)
                else:
                    for j in range(L):
                        z[j] = zs[0, j]
            ik = current[k]
            # the step as three lane loops (V; the rates at the new V; the gates): each loop's
            # iterations are short independent chains that the core overlaps, where one fused
            # loop was bound by the latency of its V -> rates -> gates chain
            for j in range(L):
                v[j] = hh_v_update(
                    v[j],
                    m[j],
                    h[j],
                    n[j],
                    p[j],
                    g_na[j],
                    g_k[j],
                    g_l[j],
                    g_m[j],
                    e_l[j],
                    ik + sig[j] * z[j],
                    dtT,
                )
            for j in range(L):
                a_m, b_m, a_h, b_h, a_n, b_n, rates[6, j], rates[7, j] = hh_rates(
                    v[j], vt[j], tau_max[j]
                )
                rates[0, j], rates[1, j] = a_m, a_m + b_m
                rates[2, j], rates[3, j] = a_h, a_h + b_h
                rates[4, j], rates[5, j] = a_n, a_n + b_n
            for j in range(L):
                m[j] = hh_gate_relax(m[j], rates[0, j], rates[1, j], dtT)
                h[j] = hh_gate_relax(h[j], rates[2, j], rates[3, j], dtT)
                n[j] = hh_gate_relax(n[j], rates[4, j], rates[5, j], dtT)
                p[j] = hh_p_relax(p[j], rates[6, j], rates[7, j], dtT)
        if want_trace:
            t = i % _TILE
            for j in range(L):
                tile[j, t] = v[j]
            if t == _TILE - 1 or i == n_steps - 1:
                i0 = i - t
                for j in range(n_real):
                    for u in range(t + 1):
                        trace[first + j, i0 + u] = tile[j, u]
        if want_feat:
            if i < rest_end:
                for j in range(L):
                    acc[0, j] += float(v[j])
            if i == sd0:
                for j in range(L):
                    acc[1, j] = float(v[j])
            if sd0 <= i < sd1:
                for j in range(L):
                    d = float(v[j]) - acc[1, j]
                    acc[2, j] += d
                    acc[3, j] += d * d
            if i == st0:
                for j in range(L):
                    acc[4, j] = float(v[j])
            if st0 <= i < st1:
                for j in range(L):
                    acc[5, j], acc[6, j], acc[7, j], acc[8, j], acc[9, j] = moments_add(
                        acc[5, j],
                        acc[6, j],
                        acc[7, j],
                        acc[8, j],
                        acc[9, j],
                        float(v[j]) - acc[4, j],
                    )
            s = i - 2
            if st0 <= s < st1:
                s_dt = s * dt
                for j in range(L):
                    last[j], cnt[j] = _spike_lanes(
                        acc[11, j],
                        acc[10, j],
                        clip_at_threshold(float(v[j])),
                        s,
                        s_dt,
                        last[j],
                        cnt[j],
                        dt,
                        dedup,
                    )
            for j in range(L):
                acc[11, j] = acc[10, j]
                acc[10, j] = clip_at_threshold(float(v[j]))
    if want_feat:
        for j in range(n_real):
            finalize_features(
                cnt[j],
                rest_end,
                acc[0, j],
                sd1 - sd0,
                acc[1, j],
                acc[2, j],
                acc[3, j],
                st1 - st0,
                acc[4, j],
                acc[5, j],
                acc[6, j],
                acc[7, j],
                acc[8, j],
                acc[9, j],
                features,
                first + j,
            )


@njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def _hh_blocks(
    b0, b1, theta, seeds, current, noise, v0, dt, windows, dedup, use_rng, features, trace
):
    for b in range(b0, b1):
        _hh_block(b, theta, seeds, current, noise, v0, dt, windows, dedup, use_rng, features, trace)


def hh_cpu_kernel(theta, seeds, current, noise, v0, dt, windows, dedup, use_rng, features, trace):
    """Simulate ``theta.shape[0]`` HH neurons on the CPU.

    Args:
        theta: ``(num, 8)`` parameters (eLife order), float32 or float64: the state dtype.
        seeds: ``(num,)`` uint64 per-simulation seeds.
        current: ``(num_steps,)`` injected current (µA/cm²), same dtype as theta.
        noise: ``(num, num_steps - 1)`` explicit standard normals, or ``(0, 0)`` to use the
            counter-based generator.
        v0: initial membrane potential (mV).
        dt: time step (ms).
        windows: int64 ``(5,)``: ``[rest_end, std_start, std_end, stim_start, stim_end)``
            sample indices (rest mean over ``[0, rest_end)``, rest std over
            ``[std_start, std_end)``, stimulus window ``[stim_start, stim_end)``).
        dedup: spike de-duplication interval (ms).
        use_rng: draw noise from the generator (False when every sigma is 0 or noise given).
        features: ``(num, 8)`` float64 output, or ``(0, 8)`` to skip features.
        trace: ``(num, num_steps)`` output of V, or ``(0, 0)`` to skip traces.
    """
    n_blocks = (theta.shape[0] + LANES - 1) // LANES
    run_block_ranges(
        _hh_blocks,
        n_blocks,
        theta,
        seeds,
        current,
        noise,
        v0,
        dt,
        windows,
        dedup,
        use_rng,
        features,
        trace,
    )
