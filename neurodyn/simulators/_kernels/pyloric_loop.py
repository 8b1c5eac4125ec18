"""The time loop of ONE pyloric simulation, shared by the CPU and the CUDA kernels.

``run_one(...)`` is an ``@njit`` function on scalars and
pre-allocated work arrays (no allocation inside, so that it also compiles as a CUDA device
function). The CPU kernel calls it once per ``prange`` iteration, the CUDA kernel once per
thread with local work arrays. State lives in a 46-tuple (registers); noise comes from the
counter-based generator of :mod:`.rng` (``(seed, step)`` -> normals), or from an explicit array.

Features are computed online: after the burn-in, the voltages enter a 21-sample ring buffer,
the Savitzky–Golay filtered value is fed to the spike/burst/plateau state machine of
:mod:`.pyloric_online`, and the features follow from the kept bursts at the end.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from neurodyn.simulators._kernels.pyloric_model import network_step
from neurodyn.simulators._kernels.pyloric_online import (
    features_from_bursts,
    online_finish,
    online_push,
    online_reset,
)
from neurodyn.simulators._kernels.rng import normal_pair

__all__ = ["run_one"]


@njit(inline="always")
def _fir(ring, sg, row, w, neuron):
    acc = 0.0
    slot = (w + 1) % 21  # slot of window sample w - 20
    for m in range(21):
        acc += sg[row, m] * ring[neuron, slot]
        slot += 1
        if slot == 21:
            slot = 0
    return acc


@njit(inline="always")
def _push3(ring, sg, row, w, st, bs, be, dt, min_duration):
    for j in range(3):
        fv = _fir(ring, sg, row, w, j)
        online_push(st[j], bs[j], be[j], fv, dt, min_duration)


@njit(error_model="numpy")
def run_one(
    p,
    k,
    s0,
    seed,
    sig,
    noise,
    use_noise,
    n_steps,
    i0,
    sg,
    dt,
    min_duration,
    want_power,
    want_trace,
    want_features,
    trace,
    ring,
    st,
    bs,
    be,
    nb,
    nspk,
    psum,
    feats,
    energy,
):
    """One simulation; see the module docstring. The state type is ``s0``'s dtype."""
    ft = type(s0[0])
    sa = (
        ft(s0[0]),
        ft(s0[1]),
        ft(s0[2]),
        ft(s0[3]),
        ft(s0[4]),
        ft(s0[5]),
        ft(s0[6]),
        ft(s0[7]),
        ft(s0[8]),
        ft(s0[9]),
        ft(s0[10]),
        ft(s0[11]),
        ft(s0[12]),
    )
    sb = (
        ft(s0[13]),
        ft(s0[14]),
        ft(s0[15]),
        ft(s0[16]),
        ft(s0[17]),
        ft(s0[18]),
        ft(s0[19]),
        ft(s0[20]),
        ft(s0[21]),
        ft(s0[22]),
        ft(s0[23]),
        ft(s0[24]),
        ft(s0[25]),
    )
    sc = (
        ft(s0[26]),
        ft(s0[27]),
        ft(s0[28]),
        ft(s0[29]),
        ft(s0[30]),
        ft(s0[31]),
        ft(s0[32]),
        ft(s0[33]),
        ft(s0[34]),
        ft(s0[35]),
        ft(s0[36]),
        ft(s0[37]),
        ft(s0[38]),
    )
    sd = (ft(s0[39]), ft(s0[40]), ft(s0[41]), ft(s0[42]), ft(s0[43]), ft(s0[44]), ft(s0[45]))
    s = sa + sb + sc + sd  # tuple literals > 30 items break numba on Python 3.11
    pa = (
        ft(p[0]),
        ft(p[1]),
        ft(p[2]),
        ft(p[3]),
        ft(p[4]),
        ft(p[5]),
        ft(p[6]),
        ft(p[7]),
        ft(p[8]),
        ft(p[9]),
        ft(p[10]),
        ft(p[11]),
        ft(p[12]),
        ft(p[13]),
        ft(p[14]),
        ft(p[15]),
    )
    pb = (
        ft(p[16]),
        ft(p[17]),
        ft(p[18]),
        ft(p[19]),
        ft(p[20]),
        ft(p[21]),
        ft(p[22]),
        ft(p[23]),
        ft(p[24]),
        ft(p[25]),
        ft(p[26]),
        ft(p[27]),
        ft(p[28]),
        ft(p[29]),
        ft(p[30]),
    )
    pw = pa + pb
    fsig = ft(sig)
    spare = ft(0.0)
    e0 = 0.0
    e1 = 0.0
    e2 = 0.0
    for j in range(3):
        online_reset(st[j])
    if want_trace:
        trace[0, 0] = s[0]
        trace[0, 1] = s[13]
        trace[0, 2] = s[26]
    if want_features and i0 == 0:
        ring[0, 0] = s[0]
        ring[1, 0] = s[13]
        ring[2, 0] = s[26]
    for i in range(1, n_steps):
        if use_noise:
            n0 = ft(noise[i, 0])
            n1 = ft(noise[i, 1])
            n2 = ft(noise[i, 2])
        elif sig > 0.0:
            z0, z1 = normal_pair(seed, np.uint64(i), np.uint64(0), fsig)
            if i & 1:  # one pair of stream 1 serves the PY noise of steps i and i + 1
                z2, spare = normal_pair(seed, np.uint64(i >> 1), np.uint64(1), fsig)
            else:
                z2 = spare
            n0 = fsig * z0
            n1 = fsig * z1
            n2 = fsig * z2
        else:
            n0 = ft(0.0)
            n1 = ft(0.0)
            n2 = ft(0.0)
        s, p0, p1, p2 = network_step(s, pw, k, n0, n1, n2, want_power)
        if want_trace:
            trace[i, 0] = s[0]
            trace[i, 1] = s[13]
            trace[i, 2] = s[26]
        w = i - i0
        if w >= 0:
            if want_power:
                e0 += p0
                e1 += p1
                e2 += p2
            if want_features:
                pos = w % 21
                ring[0, pos] = s[0]
                ring[1, pos] = s[13]
                ring[2, pos] = s[26]
                if w >= 20:
                    if w == 20:  # mode="interp" head: window samples 0..9
                        for h in range(10):
                            _push3(ring, sg, h, w, st, bs, be, dt, min_duration)
                    _push3(ring, sg, 10, w, st, bs, be, dt, min_duration)
    energy[0] = e0 * dt * 1e-3
    energy[1] = e1 * dt * 1e-3
    energy[2] = e2 * dt * 1e-3
    if want_features:
        wl = n_steps - 1 - i0
        for h in range(11, 21):  # mode="interp" tail
            _push3(ring, sg, h, wl, st, bs, be, dt, min_duration)
        over = 0.0
        for j in range(3):
            online_finish(st[j], bs[j], be[j], dt, min_duration)
            nb[j] = int(st[j, 14])
            nspk[j] = st[j, 0]
            psum[j] = st[j, 13]
            over = max(over, st[j, 18])
        features_from_bursts(bs, be, nb, nspk, psum, over, dt, feats)
        v0, v1, v2 = s[0], s[13], s[26]
        finite = v0 == v0 and v1 == v1 and v2 == v2 and abs(v0) + abs(v1) + abs(v2) < 1e30
        if not finite:
            for q in range(feats.shape[0]):
                feats[q] = np.nan
