"""CPU kernel of the Hodgkin-Huxley simulator: SIMD lanes in blocks, blocks over threads.

Each block (``_hh_block``; blocks spread over threads by
:func:`~neurodyn.simulators._kernels.launch.run_block_ranges`) owns
:data:`~neurodyn.simulators._kernels.launch.LANES` simulations whose state lives in small
arrays; every per-step loop over the lanes is branch-free after inlining, so LLVM vectorises
the model arithmetic (with the polynomial ``fexp``). Trace output writes ``V`` per step;
feature output accumulates the 7 eLife features (plus the 5th standardised moment) online, so
nothing of length ``num_steps`` is stored.

One step is three lane loops: ``V`` (:func:`~.hh_model.hh_v_update`), the rates at the new
``V`` (:func:`~.hh_model.hh_rates`, into a small ``rates`` buffer) and the gates. Written as
one loop (``hh_step`` per lane, as the CUDA kernel does per thread) the step was a chain of
dependent ``exp`` evaluations that the core could not overlap across lanes (latency-bound:
16, 32 and 64 lanes all ~2.9 ns per simulation-step); three short loops over 64 lanes give the
core independent iterations to overlap (2.0-2.1 ns).

Noise: step ``k`` uses normal ``k & 3`` of :func:`~neurodyn.simulators._kernels.rng.normal_quad`
at block ``k >> 2`` (the CUDA kernel draws the same stream). In float32 the block is computed
in two lane loops, the Philox rounds (64-bit lanes) into ``uint32`` words, then Box-Muller in
32-bit lanes (twice the SIMD width of one fused loop, whose vector width the 64-bit integers
set); float64 keeps ``normal_pair`` per two steps (the same normals).

Outputs go through time-major tiles (``tile[u, j]``: one vector store per step). Traces: every
``_TILE`` steps :func:`~neurodyn.simulators._kernels.simd.transpose_block` moves 16 x 16
blocks into the rows of ``trace`` (a per-step strided store compiled to ``vscatterdps``).
Features: every ``_FTILE`` steps :func:`_features_tile` runs the lanes as its outer loop, so a
lane's accumulators stay in registers over the tile's samples (updated once per step in lane
arrays, LLVM had left that code scalar).

Where the time goes (float32, 120 ms at dt 0.025 ms, one thread on the 2-core AVX-512 VM, ns
per simulation-step, session 11): model step and loop ~2.0; noise +0.55 (Philox ~0.24,
Box-Muller ~0.26); features +0.5; traces +0.3-0.45 (the copy-out and the memory traffic).
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
from neurodyn.simulators._kernels.simd import block_width, prefetch_write, transpose_block
from neurodyn.simulators._kernels.spikes import THRESHOLD_MV, clip_at_threshold

__all__ = ["NUM_ONLINE_FEATURES", "finalize_features", "hh_cpu_kernel"]

#: Columns of the online feature output: the 7 eLife features and the 5th standardised moment.
NUM_ONLINE_FEATURES = 8
#: Steps per trace tile (time-major ``(_TILE, LANES)`` buffer, transposed out in SIMD blocks;
#: a multiple of :func:`~neurodyn.simulators._kernels.simd.block_width`).
_TILE = 16
#: Trace tiles ahead whose destination is prefetched at a tile's copy-out.
_PREFETCH = 2
#: Steps per feature tile (time-major ``(_FTILE, LANES)`` buffer; ``_features_tile`` writes its
#: full-tile paths out sample by sample for exactly 8).
_FTILE = 8


@njit(inline="always", error_model="numpy")
def _spike_lanes(c0, c1, c2, s, s_dt, last, count, dt, dedup):
    """``spikes.is_spike`` + ``spikes.spike_count_update`` for one lane, branch-free.

    The same comparisons and the same ``s * dt - last * dt`` (``s_dt`` is ``s * dt``), combined
    with ``&``/``|`` instead of ``and``/``or``: the short-circuit forms compiled to branches and
    masked scatters in the lane loop (0.7 vs 0.15 ns per simulation-step); results are equal
    (``tests/simulators/test_kernels.py`` checks against ``spikes.py``). The kernel keeps
    ``s``, ``last`` and ``count`` as float64 (exact integers) next to the other float64
    feature accumulators; integer arguments work too.
    """
    spike = (c0 > THRESHOLD_MV) & (c1 >= c0) & (c2 < c1)
    keep = spike & ((last < 0) | ((s_dt - last * dt) > dedup))
    return (s if spike else last), count + (1 if keep else 0)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def finalize_features(f, w):
    """The 8 online features of one simulation from its accumulators.

    Args:
        f: the 14-tuple of :func:`_feature_sample` after the last sample.
        w: the 5-tuple of window indices (``windows`` of :func:`hh_cpu_kernel`).

    Returns:
        8-tuple of float64: spike count, resting mean, resting std, stimulus mean, variance,
        skewness, kurtosis, 5th standardised moment; all NaN when the mean, the 4th moment or
        the resting mean is not finite (a diverged trace). The CPU and CUDA kernels both call
        it.
    """
    rest_sum, sd_shift, q1, q2, st_shift, s1, s2, s3, s4, s5, _, _, _, cnt = f
    rest_end, sd0, sd1, st0, st1 = w
    nan = math.nan
    _, m2, _, _, _ = central_moments(sd1 - sd0, sd_shift, q1, q2, 0.0, 0.0, 0.0)
    mean, v2, v3, v4, v5 = central_moments(st1 - st0, st_shift, s1, s2, s3, s4, s5)
    rest = rest_sum / rest_end if rest_end > 0 else nan
    if not (math.isfinite(mean) and math.isfinite(v4) and math.isfinite(rest)):
        return nan, nan, nan, nan, nan, nan, nan, nan
    sd = math.sqrt(v2) if v2 >= 0.0 else nan
    sd_rest = math.sqrt(m2) if m2 >= 0.0 else nan
    return (
        float(cnt), rest, sd_rest, mean, v2, v3 / (sd * sd * sd), v4 / (v2 * v2),
        v5 / (v2 * v2 * sd),
    )  # fmt: skip


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _feature_sample(f, x, i, w, dt, dedup):
    """One lane's online features ``f`` (a 14-tuple: rest_sum, sd_shift, sd1, sd2, st_shift,
    st1..st5, the clipped V of the previous two samples, the last spike sample (-1: none), the
    spike count) after sample ``i`` with value ``x`` (float64); the eLife windows, moments and
    spike rule of ``moments.py`` / ``spikes.py`` (``_spike_lanes``'s branch-free form). ``w``
    is the 5-tuple of window indices (``windows`` of :func:`hh_cpu_kernel`). The CUDA kernel
    calls it once per step and thread."""
    rest, sd_shift, q1, q2, st_shift, s1, s2, s3, s4, s5, c1, c2, last, cnt = f
    rest_end, sd0, sd1, st0, st1 = w
    if i < rest_end:
        rest += x
    if i == sd0:
        sd_shift = x
    if sd0 <= i < sd1:
        d = x - sd_shift
        q1 += d
        q2 += d * d
    if i == st0:
        st_shift = x
    if st0 <= i < st1:
        s1, s2, s3, s4, s5 = moments_add(s1, s2, s3, s4, s5, x - st_shift)
    c0 = clip_at_threshold(x)
    s = i - 2
    if st0 <= s < st1:
        last, cnt = _spike_lanes(c2, c1, c0, float(s), s * dt, last, cnt, dt, dedup)
    return rest, sd_shift, q1, q2, st_shift, s1, s2, s3, s4, s5, c0, c1, last, cnt


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _stim_sample(f, x, s, s_dt, dt, dedup):
    """:func:`_feature_sample` for a sample ``i`` inside the stimulus window whose spike
    sample ``s = i - 2`` (float; ``s_dt = s * dt``) is inside it too: moments and spike rule
    only."""
    rest, sd_shift, q1, q2, st_shift, s1, s2, s3, s4, s5, c1, c2, last, cnt = f
    s1, s2, s3, s4, s5 = moments_add(s1, s2, s3, s4, s5, x - st_shift)
    c0 = clip_at_threshold(x)
    last, cnt = _spike_lanes(c2, c1, c0, s, s_dt, last, cnt, dt, dedup)
    return rest, sd_shift, q1, q2, st_shift, s1, s2, s3, s4, s5, c0, c1, last, cnt


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _features_tile(vt, n, i0, L, acc, windows, dt, dedup):
    """Add samples ``i0 .. i0 + n - 1`` (time-major tile ``vt[u, j]``) of ``L`` lanes to the
    online features ``acc`` (``(14, L)`` float64, rows as the tuple of ``_feature_sample``).

    For a full tile (``n == _FTILE``) lanes are the outer loop and the tile's samples are
    written out one by one: a lane's accumulators stay in registers over the tile and the
    lane loop vectorises (one SIMD register of lanes per iteration), where the step-by-step
    form loaded and stored every accumulator once per step (and LLVM left it scalar: it
    cannot tell the lane arrays apart). Full tiles inside the stimulus window (most of them)
    take a branch-free path with only the moments and the spike rule.
    """
    w = (windows[0], windows[1], windows[2], windows[3], windows[4])
    st0, st1 = w[3], w[4]
    if n == _FTILE and st0 + 2 <= i0 and i0 + _FTILE <= st1:
        sf = (
            float(i0 - 2), float(i0 - 1), float(i0), float(i0 + 1),
            float(i0 + 2), float(i0 + 3), float(i0 + 4), float(i0 + 5),
        )  # fmt: skip  # the spike samples s = i - 2
        for j in range(L):
            f = _load_lane(acc, j)
            f = _stim_sample(f, float(vt[0, j]), sf[0], sf[0] * dt, dt, dedup)
            f = _stim_sample(f, float(vt[1, j]), sf[1], sf[1] * dt, dt, dedup)
            f = _stim_sample(f, float(vt[2, j]), sf[2], sf[2] * dt, dt, dedup)
            f = _stim_sample(f, float(vt[3, j]), sf[3], sf[3] * dt, dt, dedup)
            f = _stim_sample(f, float(vt[4, j]), sf[4], sf[4] * dt, dt, dedup)
            f = _stim_sample(f, float(vt[5, j]), sf[5], sf[5] * dt, dt, dedup)
            f = _stim_sample(f, float(vt[6, j]), sf[6], sf[6] * dt, dt, dedup)
            f = _stim_sample(f, float(vt[7, j]), sf[7], sf[7] * dt, dt, dedup)
            _store_lane(acc, j, f)
    elif n == _FTILE:
        for j in range(L):
            f = _load_lane(acc, j)
            f = _feature_sample(f, float(vt[0, j]), i0, w, dt, dedup)
            f = _feature_sample(f, float(vt[1, j]), i0 + 1, w, dt, dedup)
            f = _feature_sample(f, float(vt[2, j]), i0 + 2, w, dt, dedup)
            f = _feature_sample(f, float(vt[3, j]), i0 + 3, w, dt, dedup)
            f = _feature_sample(f, float(vt[4, j]), i0 + 4, w, dt, dedup)
            f = _feature_sample(f, float(vt[5, j]), i0 + 5, w, dt, dedup)
            f = _feature_sample(f, float(vt[6, j]), i0 + 6, w, dt, dedup)
            f = _feature_sample(f, float(vt[7, j]), i0 + 7, w, dt, dedup)
            _store_lane(acc, j, f)
    else:
        for j in range(L):
            f = _load_lane(acc, j)
            for u in range(n):
                f = _feature_sample(f, float(vt[u, j]), i0 + u, w, dt, dedup)
            _store_lane(acc, j, f)


@njit(inline="always", error_model="numpy", cache=True)
def _load_lane(acc, j):
    """Lane ``j``'s 14 online-feature accumulators (see :func:`_feature_sample`)."""
    return (
        acc[0, j], acc[1, j], acc[2, j], acc[3, j], acc[4, j], acc[5, j], acc[6, j],
        acc[7, j], acc[8, j], acc[9, j], acc[10, j], acc[11, j], acc[12, j], acc[13, j],
    )  # fmt: skip


@njit(inline="always", error_model="numpy", cache=True)
def _store_lane(acc, j, f):
    for k in range(14):
        acc[k, j] = f[k]


@njit(inline="always", error_model="numpy", cache=True)
def _trace_tile_out(tile, i0, trace, first, n_real):
    """Copy a full time-major tile ``tile[u, j]`` (``_TILE`` steps from ``i0``) into the rows
    ``trace[first + j, i0 + u]`` of the block's ``n_real`` real lanes: SIMD block transposes
    (:func:`~neurodyn.simulators._kernels.simd.transpose_block`) for whole groups of lanes,
    element by element for the rest."""
    w = block_width(tile)
    n_full = n_real - n_real % w
    ahead = i0 + _PREFETCH * _TILE
    if ahead < trace.shape[1]:
        for j in range(n_real):
            prefetch_write(trace, first + j, ahead)
    for j0 in range(0, n_full, w):
        for u0 in range(0, _TILE, w):
            transpose_block(tile, u0, j0, trace, first + j0, i0 + u0)
    for j in range(n_full, n_real):
        for u in range(_TILE):
            trace[first + j, i0 + u] = tile[u, j]


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
    inv_tau_max = T(1.0) / tau_max
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
    tile = np.empty((_TILE, L), dtype=theta.dtype)  # trace tile, time-major
    rates = np.empty((8, L), dtype=theta.dtype)  # a_m, a_m + b_m, a_h, ..., p_inf, 1/tau_p
    n_real = min(L, num - first)
    for j in range(L):
        v[j] = T(v0)
        m[j], h[j], n[j], p[j] = hh_steady_state(v[j], vt[j], tau_max[j])
    # online features per lane: rest_sum, sd_shift, sd1, sd2, st_shift, st1..st5, the clipped
    # V of the last two steps, the last spike sample (-1: none) and the spike count
    acc = np.zeros((14, L))
    acc[12] = -1.0
    vtile = np.empty((_FTILE, L), dtype=theta.dtype)  # V of the current tile, time-major
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
                    v[j], vt[j], inv_tau_max[j]
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
                tile[t, j] = v[j]
            if t == _TILE - 1:
                _trace_tile_out(tile, i - t, trace, first, n_real)
            elif i == n_steps - 1:
                i0 = i - t
                for j in range(n_real):
                    for u in range(t + 1):
                        trace[first + j, i0 + u] = tile[u, j]
        if want_feat:
            t = i % _FTILE
            for j in range(L):
                vtile[t, j] = v[j]
            if t == _FTILE - 1:
                _features_tile(vtile, _FTILE, i - t, L, acc, windows, dt, dedup)
            elif i == n_steps - 1:
                _features_tile(vtile, t + 1, i - t, L, acc, windows, dt, dedup)
    if want_feat:
        w = (rest_end, sd0, sd1, st0, st1)
        for j in range(n_real):
            out = finalize_features(_load_lane(acc, j), w)
            for k in range(NUM_ONLINE_FEATURES):
                features[first + j, k] = out[k]


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
