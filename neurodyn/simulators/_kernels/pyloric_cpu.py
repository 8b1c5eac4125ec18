"""CPU kernel of the pyloric network: SIMD lanes across simulations, blocks over threads.

Each block (spread over threads by ``launch.run_block_ranges``) simulates
:data:`PYLORIC_LANES` networks. Their state lives in small
2-D arrays of compile-time shape whose columns are (neuron, lane) pairs, ``c = j * LB + l``
(neuron j of simulation l), so that one loop over ``3 * LB`` columns applies the scalar
:func:`.pyloric_model.membrane_step` and then :func:`.pyloric_model.gates_step` (the two halves
of ``neuron_step``, the definition shared with the CUDA kernel and the float64 reference) to the
three neurons of every lane, and LLVM vectorises them (two loops rather than one fused loop:
measured 2x faster, the fused body spills registers): the model is branch-free
and the fixed row stride lets LLVM prove that the rows do not overlap.

Per step: noise (counter-based generator, the same streams as the CUDA kernel), synaptic
conductances from the old activations and the synapse update from the old voltages, the
neuron update, then the online features: the voltages enter a 21-sample float64 ring, the
Savitzky–Golay interior filter runs over all columns, spikes are tested for all columns at once
(the rare spike events run the scalar :func:`.pyloric_online.spike_event`) and the plateau
trackers advance branch-free (:func:`.pyloric_online.track_step`). The ``mode="interp"`` edges
of the filter, the end of the window and the burst-to-feature step use the scalar functions of
:mod:`.pyloric_online` per column. Results do not depend on the thread count or the batch.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neurodyn.simulators._kernels import pyloric_model
from neurodyn.simulators._kernels.launch import run_block_ranges
from neurodyn.simulators._kernels.pyloric_model import kinetic_tuple
from neurodyn.simulators._kernels.pyloric_online import (
    _S_CCTR,
    _S_CCUR,
    _S_CLONG,
    _S_CSTART,
    _S_F1,
    _S_F2,
    _S_KACT,
    _S_KCTR,
    _S_KCUR,
    _S_KLONG,
    _S_NB,
    _S_NF,
    _S_NSPK,
    _S_OVER,
    _S_PSUM,
    NUM_ONLINE,
    PLATEAU_THRESHOLD,
    features_from_bursts,
    fir,
    is_spike_sample,
    online_finish,
    online_push,
    online_reset,
    spike_event,
    track_step,
)
from neurodyn.simulators._kernels.rng import normal_pair

__all__ = ["PYLORIC_LANES", "cpu_kernel"]

#: Networks per CPU block (SIMD lanes); the state arrays have ``3 * PYLORIC_LANES`` columns.
PYLORIC_LANES = 16
_LB = PYLORIC_LANES
_CL = 3 * PYLORIC_LANES
_SG = 21  # Savitzky–Golay window (samples)

# The model's own definitions, inlined at the numba level: LLVM does not inline a function of
# this size by itself, and a call inside the lane loop blocks vectorisation.
membrane_step = njit(inline="always", error_model="numpy")(pyloric_model.membrane_step.py_func)
gates_step = njit(inline="always", error_model="numpy")(pyloric_model.gates_step.py_func)
syn_step = njit(inline="always", error_model="numpy")(pyloric_model.syn_step.py_func)


@njit(error_model="numpy")
def _push_edge_rows(ring, sg, h0, h1, w, st, bs, be, dt, min_duration):
    # mode="interp" head (rows 0..9, at w == 20) or tail (rows 11..20, at the end): scalar path
    for c in range(_CL):
        for h in range(h0, h1):
            fv = fir(ring[:, c], sg, h, w)
            online_push(st[:, c], bs[c], be[c], fv, dt, min_duration)


@njit(fastmath=True, error_model="numpy", cache=True)
def _pyloric_block(
    b,
    params,
    k,
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
    """Simulate lane block ``b`` (networks ``b * PYLORIC_LANES ...``); see :func:`cpu_kernel`."""
    num = params.shape[0]
    ftype = s0.dtype
    ft = s0.dtype.type
    first = b * _LB
    n_real = min(_LB, num - first)
    use_noise = noise.shape[1] > 1
    # state (13 per neuron), parameters (8 per neuron), synapses (7 per network)
    x = np.empty((13, _CL), ftype)
    gbar = np.empty((8, _CL), ftype)
    syn = np.empty((7, _LB), ftype)
    gsyn_max = np.empty((7, _LB), ftype)
    # synaptic conductance, conductance x reversal, noise current, synaptic power, new V, new Ca
    work = np.zeros((6, _CL), ftype)
    seed = np.empty(_LB, np.uint64)
    spare = np.zeros(_LB, ftype)
    power = np.zeros(_CL)
    for l in range(_LB):
        r = min(first + l, num - 1)  # padding lanes repeat the block's last real network
        seed[l] = seeds[r]
        for j in range(3):
            for q in range(13):
                x[q, j * _LB + l] = s0[13 * j + q]
            for q in range(8):
                gbar[q, j * _LB + l] = params[r, 8 * j + q]
        for q in range(7):
            syn[q, l] = s0[39 + q]
            gsyn_max[q, l] = params[r, 24 + q]
    # online features
    ring = np.zeros((_SG, _CL))
    st = np.zeros((NUM_ONLINE, _CL))
    bs = np.zeros((_CL, capacity))
    be = np.zeros((_CL, capacity))
    fv = np.zeros(_CL)
    spike = np.zeros(_CL, np.bool_)
    for c in range(_CL):
        online_reset(st[:, c])
    fsig = ft(sig)
    e_glut, e_chol = ft(-70.0), ft(-80.0)
    if want_trace:
        for l in range(n_real):
            for j in range(3):
                trace[first + l, 0, j] = x[0, j * _LB + l]
    if want_features and i0 == 0:
        for c in range(_CL):
            ring[0, c] = float(x[0, c])
    for i in range(1, n_steps):
        # noise currents (row 2 of work): explicit, counter-based (as the CUDA kernel), or none
        if use_noise:
            for l in range(_LB):
                r = min(first + l, num - 1)
                for j in range(3):
                    work[2, j * _LB + l] = ft(noise[r, i, j])
        elif sig > 0.0:
            for l in range(_LB):
                z0, z1 = normal_pair(seed[l], np.uint64(i), np.uint64(0), fsig)
                work[2, l] = fsig * z0
                work[2, _LB + l] = fsig * z1
            if i & 1:  # one pair of stream 1 serves the PY noise of steps i and i + 1
                for l in range(_LB):
                    z2, spare[l] = normal_pair(seed[l], np.uint64(i >> 1), np.uint64(1), fsig)
                    work[2, 2 * _LB + l] = fsig * z2
            else:
                for l in range(_LB):
                    work[2, 2 * _LB + l] = fsig * spare[l]
        # synaptic input from the old activations, then synapses from the old voltages
        for l in range(_LB):
            g0 = gsyn_max[0, l] * syn[0, l]  # AB -> LP
            g1 = gsyn_max[1, l] * syn[1, l]  # PD -> LP
            g2 = gsyn_max[2, l] * syn[2, l]  # AB -> PY
            g3 = gsyn_max[3, l] * syn[3, l]  # PD -> PY
            g4 = gsyn_max[4, l] * syn[4, l]  # LP -> PD
            g5 = gsyn_max[5, l] * syn[5, l]  # LP -> PY
            g6 = gsyn_max[6, l] * syn[6, l]  # PY -> LP
            work[0, l] = g4
            work[1, l] = g4 * e_glut
            work[0, _LB + l] = g0 + g1 + g6
            work[1, _LB + l] = g0 * e_glut + g1 * e_chol + g6 * e_glut
            work[0, 2 * _LB + l] = g2 + g3 + g5
            work[1, 2 * _LB + l] = g2 * e_glut + g3 * e_chol + g5 * e_glut
            v_ab = x[0, l]
            v_lp = x[0, _LB + l]
            v_py = x[0, 2 * _LB + l]
            d_ab, d_lp, d_py = v_ab - e_glut, v_lp - e_glut, v_py - e_glut
            work[3, l] = g4 * d_ab * d_ab
            work[3, _LB + l] = (g0 + g6) * d_lp * d_lp + g1 * (v_lp - e_chol) * (v_lp - e_chol)
            work[3, 2 * _LB + l] = (g2 + g5) * d_py * d_py + g3 * (v_py - e_chol) * (v_py - e_chol)
            syn[0, l] = syn_step(syn[0, l], v_ab, ft(k[14]))
            syn[1, l] = syn_step(syn[1, l], v_ab, ft(k[15]))
            syn[2, l] = syn_step(syn[2, l], v_ab, ft(k[16]))
            syn[3, l] = syn_step(syn[3, l], v_ab, ft(k[17]))
            syn[4, l] = syn_step(syn[4, l], v_lp, ft(k[18]))
            syn[5, l] = syn_step(syn[5, l], v_lp, ft(k[19]))
            syn[6, l] = syn_step(syn[6, l], v_py, ft(k[20]))
        power_on = 1.0 if (want_power and i >= i0) else 0.0  # energy sums the window only
        # membrane (new V, Ca into work rows 4-5), then the gates from the OLD V and Ca
        for c in range(_CL):
            work[4, c], work[5, c], pw = membrane_step(
                x[0, c],
                x[1, c],
                x[2, c],
                x[3, c],
                x[4, c],
                x[5, c],
                x[6, c],
                x[7, c],
                x[8, c],
                x[9, c],
                x[10, c],
                x[11, c],
                x[12, c],
                gbar[0, c],
                gbar[1, c],
                gbar[2, c],
                gbar[3, c],
                gbar[4, c],
                gbar[5, c],
                gbar[6, c],
                gbar[7, c],
                work[0, c],
                work[1, c],
                work[2, c],
                k,
                want_power,
            )
            power[c] += power_on * (float(pw) + float(work[3, c]))
        for c in range(_CL):
            (
                x[2, c],
                x[3, c],
                x[4, c],
                x[5, c],
                x[6, c],
                x[7, c],
                x[8, c],
                x[9, c],
                x[10, c],
                x[11, c],
                x[12, c],
            ) = gates_step(
                x[0, c],
                x[1, c],
                x[2, c],
                x[3, c],
                x[4, c],
                x[5, c],
                x[6, c],
                x[7, c],
                x[8, c],
                x[9, c],
                x[10, c],
                x[11, c],
                x[12, c],
                k,
            )
        for c in range(_CL):
            x[0, c] = work[4, c]
            x[1, c] = work[5, c]
        if want_trace:
            for l in range(n_real):
                for j in range(3):
                    trace[first + l, i, j] = x[0, j * _LB + l]
        w = i - i0
        if w < 0 or not want_features:
            continue
        pos = w % _SG
        for c in range(_CL):
            ring[pos, c] = float(x[0, c])
        if w < _SG - 1:
            continue
        if w == _SG - 1:
            _push_edge_rows(ring, sg, 0, _SG // 2, w, st, bs, be, dt, min_duration)
        # interior filter row for all columns
        for c in range(_CL):
            fv[c] = 0.0
        slot = (w + 1) % _SG
        for m in range(_SG):
            coef = sg[_SG // 2, m]
            for c in range(_CL):
                fv[c] += coef * ring[slot, c]
            slot += 1
            if slot == _SG:
                slot = 0
        # online_push for every column: spike test (vector), spike events (scalar, rare)
        n = st[_S_NF, 0]  # the same count in every column (>= 10 here)
        any_spike = False
        for c in range(_CL):
            s = is_spike_sample(st[_S_F2, c], st[_S_F1, c], fv[c])
            spike[c] = s
            any_spike |= s
        if any_spike:
            for c in range(_CL):
                if spike[c]:
                    spike_event(st[:, c], bs[c], be[c], n - 2.0, dt, min_duration)
        for c in range(_CL):
            above = st[_S_F2, c] > PLATEAU_THRESHOLD
            kl, kc, kt = track_step(st[_S_KLONG, c], st[_S_KCUR, c], st[_S_KCTR, c], above)
            k_on = st[_S_KACT, c] != 0.0
            st[_S_KLONG, c] = kl if k_on else st[_S_KLONG, c]
            st[_S_KCUR, c] = kc if k_on else st[_S_KCUR, c]
            st[_S_KCTR, c] = kt if k_on else st[_S_KCTR, c]
            cl, cc, ct = track_step(st[_S_CLONG, c], st[_S_CCUR, c], st[_S_CCTR, c], above)
            c_on = st[_S_CSTART, c] >= 0.0
            st[_S_CLONG, c] = cl if c_on else st[_S_CLONG, c]
            st[_S_CCUR, c] = cc if c_on else st[_S_CCUR, c]
            st[_S_CCTR, c] = ct if c_on else st[_S_CCTR, c]
            st[_S_F2, c] = st[_S_F1, c]
            st[_S_F1, c] = fv[c]
            st[_S_NF, c] = n + 1.0
    for l in range(n_real):
        for j in range(3):
            energy[first + l, j] = power[j * _LB + l] * dt * 1e-3
    if not want_features:
        return
    w_last = n_steps - 1 - i0
    _push_edge_rows(ring, sg, _SG // 2 + 1, _SG, w_last, st, bs, be, dt, min_duration)
    starts = np.zeros((3, capacity))
    ends = np.zeros((3, capacity))
    nb = np.zeros(3, np.int64)
    nspk = np.zeros(3)
    psum = np.zeros(3)
    for c in range(_CL):
        online_finish(st[:, c], bs[c], be[c], dt, min_duration)
    for l in range(n_real):
        over = 0.0
        for j in range(3):
            c = j * _LB + l
            nb[j] = int(st[_S_NB, c])
            nspk[j] = st[_S_NSPK, c]
            psum[j] = st[_S_PSUM, c]
            over = max(over, st[_S_OVER, c])
            for q in range(capacity):
                starts[j, q] = bs[c, q]
                ends[j, q] = be[c, q]
        row = feats[first + l]
        features_from_bursts(starts, ends, nb, nspk, psum, over, dt, row)
        finite = True
        for j in range(3):
            v = float(x[0, j * _LB + l])
            finite = finite and math.isfinite(v) and abs(v) < 1e30
        if not finite:
            for q in range(row.shape[0]):
                row[q] = np.nan


@njit(nogil=True, error_model="numpy", cache=True)
def _pyloric_blocks(
    b0,
    b1,
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
    k = kinetic_tuple(kin, kin[0])  # float64; the model converts at use
    for b in range(b0, b1):
        _pyloric_block(
            b,
            params,
            k,
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
        )


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
    ``(num, 3)`` float64 (mJ-scaled sums over the window, as the CUDA kernel).
    """
    n_blocks = (params.shape[0] + _LB - 1) // _LB
    run_block_ranges(
        _pyloric_blocks,
        n_blocks,
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
    )
