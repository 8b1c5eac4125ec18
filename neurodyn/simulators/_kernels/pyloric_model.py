"""Pyloric network model (Prinz, Bucher & Marder 2004): one scalar definition for every kernel.

The per-step arithmetic is written once, as ``@njit`` functions on scalars and tuples, generic
in the floating type of the state (``type(v)``): ``syn_step`` (one synapse), ``membrane_step``
(V and Ca of one neuron), ``gates_step`` (its 11 gates) and ``neuron_step`` (the two). The CPU
kernel (SIMD lanes across networks and neurons) and the CUDA kernel (one thread per neuron) both
call these functions.

Units: mV, ms, mS (absolute, i.e. membrane mS/cm² × area), µA, µF, µM.

State tuple (46 entries): for neuron j in (AB/PD, LP, PY), entries ``13 j + k`` with
k = 0 V, 1 Ca, 2-8 m (Na, CaT, CaS, A, KCa, Kd, H), 9-12 h (Na, CaT, CaS, A); entries 39-45
are the synaptic activations in the order AB-LP, PD-LP, AB-PY, PD-PY, LP-PD, LP-PY, PY-LP.

Update order per step (as the reference Cython code ``pyloric/simulator.pyx``): conductances
from the old gates, E_Ca from the old calcium, Ca and V by exponential Euler, then gates from the
OLD voltage (and old Ca for KCa), then synapses from the old presynaptic voltage (forward Euler).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neurodyn.simulators._kernels.mathfn import fdiv, fexp, fexpm1, flog, is_float32, on_gpu

__all__ = [
    "AREA_CM2",
    "NUM_STATE",
    "SYN_POST",
    "SYN_PRE",
    "gates_step",
    "initial_state",
    "kinetic_constants",
    "kinetic_tuple",
    "membrane_step",
    "network_parameters",
    "neuron_step",
]

AREA_CM2 = 0.628e-3  # membrane area (cm²)
CAPACITANCE_UF = 0.6283e-3  # µF
NUM_STATE = 46
#: synapse k: presynaptic / postsynaptic neuron index and type (0 glutamate, 1 choline)
SYN_PRE = (0, 0, 0, 0, 1, 1, 2)
SYN_POST = (1, 1, 2, 2, 0, 2, 1)
SYN_CHOL = (0, 1, 0, 1, 0, 0, 0)
E_SYN = (-70.0, -80.0)  # mV, glutamate / choline
K_SYN = (40.0, 100.0)  # ms, glutamate / choline
GAS_R = 8.31451e3  # mJ / (mol K)
FARADAY = 96485.3415  # C / mol
#: default Q10 values of the maintained reference (``pyloric`` package defaults)
Q10_GBAR = 1.5
Q10_TAU_M = (2.4, 2.4, 2.0, 2.4, 1.6, 2.4, 2.4)
Q10_TAU_H = 2.8
Q10_TAU_CA = 2.0
Q10_TAU_SYN = 1.7


def network_parameters(theta: np.ndarray, temperature: float) -> np.ndarray:
    """Kernel parameters ``(num, 31)`` float64: absolute conductances (mS) with gbar-Q10.

    Args:
        theta: ``(num, 31)`` in prior units (membrane mS/cm², synapses ln(mS)).
        temperature: kelvin.
    """
    theta = np.asarray(theta, dtype=np.float64)
    factor = Q10_GBAR ** ((temperature - 283.0) / 10.0)
    out = np.empty_like(theta)
    out[:, :24] = theta[:, :24] * AREA_CM2 * factor
    out[:, 24:] = np.exp(theta[:, 24:]) * factor
    return out


def kinetic_constants(dt: float, temperature: float) -> np.ndarray:
    """Per-step constants ``(24,)`` float64 for step ``dt`` (ms) at ``temperature`` (K).

    Layout: 0-6 dt·Q_m (m gates), 7-10 dt·Q_h (h gates), 11 Ca decay factor
    exp(-dt·Q_Ca/tau_Ca), 12 dt/C, 13 RT/(zF) (mV), 14-20 dt·Q_syn/k per synapse,
    21 dt, 22 1 - (Ca decay factor), 23 unused.
    """
    e = (temperature - 283.0) / 10.0
    k = np.zeros(24)
    k[0:7] = [dt * q**e for q in Q10_TAU_M]
    k[7:11] = dt * Q10_TAU_H**e
    k[11] = math.exp(-dt * Q10_TAU_CA**e / 200.0)
    k[22] = -math.expm1(-dt * Q10_TAU_CA**e / 200.0)
    k[12] = dt / CAPACITANCE_UF
    k[13] = GAS_R * temperature / (2.0 * FARADAY)
    k[14:21] = [dt * Q10_TAU_SYN**e / K_SYN[SYN_CHOL[s]] for s in range(7)]
    k[21] = dt
    return k


@njit
def kinetic_tuple(kin, like):
    """The 24 constants of :func:`kinetic_constants` as a tuple of ``type(like)`` (kernels
    index it with constants, so it stays in registers)."""
    f = type(like)
    return (
        f(kin[0]), f(kin[1]), f(kin[2]), f(kin[3]), f(kin[4]), f(kin[5]), f(kin[6]), f(kin[7]),
        f(kin[8]), f(kin[9]), f(kin[10]), f(kin[11]), f(kin[12]), f(kin[13]), f(kin[14]),
        f(kin[15]), f(kin[16]), f(kin[17]), f(kin[18]), f(kin[19]), f(kin[20]), f(kin[21]),
        f(kin[22]), f(kin[23]),
    )  # fmt: skip


def initial_state() -> np.ndarray:
    """Initial state ``(46,)``: V = -50 mV, Ca = 0.05 µM, all gates 0, synapses 0."""
    s = np.zeros(NUM_STATE)
    for j in range(3):
        s[13 * j] = -50.0
        s[13 * j + 1] = 0.05
    return s


@njit(error_model="numpy")
def _exp(x):
    return fexp(x)


@njit(error_model="numpy")
def _log(x):
    return flog(x)


@njit(error_model="numpy")
def _divc(x, c):
    """``x / c`` for a constant ``c``; in float32 on the GPU a multiply by the reciprocal
    (folded at compile time), elsewhere the exact division."""
    f = type(x)
    if on_gpu() and is_float32(x):
        return x * f(1.0 / c)
    return x / f(c)


@njit(error_model="numpy")
def boltz(v, a, b):
    f = type(v)
    one = f(1.0)
    return fdiv(one, one + _exp(_divc(v + f(a), b)))


@njit(error_model="numpy")
def one_minus_exp(a):
    """``1 - exp(-a)``, accurate relative to the result also for small ``a`` (branch-free).

    In float32, ``1 - exp(-a)`` for a ~ 1e-4 (slow gates, tau ~ 100 ms) would carry a relative
    error of ~1e-3, i.e. in the effective time constant; ``-expm1(-a)`` does not.
    """
    return -fexpm1(-a)


@njit(error_model="numpy")
def relax(x_inf, x, dtq, tau):
    """Exponential-Euler step of ``tau dx/dt = x_inf - x`` over ``dtq`` (ms)."""
    if is_float32(x):
        return x + (x_inf - x) * one_minus_exp(fdiv(dtq, tau))
    return x_inf + (x - x_inf) * _exp(-dtq / tau)  # float64: the reference's formula


@njit(error_model="numpy")
def membrane_step(
    v,
    ca,
    mna,
    mcat,
    mcas,
    ma,
    mkca,
    mkd,
    mh,
    hna,
    hcat,
    hcas,
    ha,
    gna,
    gcat,
    gcas,
    ga,
    gkca,
    gkd,
    gh,
    gl,
    gsyn,
    gsyn_e,
    inoise,
    k,
    want_power,
):
    """Voltage and calcium of one neuron over one step, from the old gates.

    Returns ``(v_new, ca_new, power)``; ``power`` (µA·mV, intrinsic currents only) is 0 unless
    ``want_power``.
    """
    f = type(v)
    one, zero = f(1.0), f(0.0)
    e_na, e_k, e_h, e_leak = f(50.0), f(-80.0), f(-20.0), f(-50.0)
    ca_ext, ca0, f_ca = f(3000.0), f(0.05), f(14961.0)
    c_na = gna * (mna * mna * mna) * hna
    c_cat = gcat * (mcat * mcat * mcat) * hcat
    c_cas = gcas * (mcas * mcas * mcas) * hcas
    c_a = ga * (ma * ma * ma) * ha
    c_kca = gkca * ((mkca * mkca) * (mkca * mkca))
    c_kd = gkd * ((mkd * mkd) * (mkd * mkd))
    c_h = gh * mh
    e_ca = f(k[13]) * _log(fdiv(ca_ext, ca))
    i_ca = (c_cat + c_cas) * (v - e_ca)
    ca_inf = ca0 - f_ca * i_ca
    if is_float32(v):
        ca_new = ca + (ca_inf - ca) * f(k[22])  # k[22] = 1 - decay, exact in float64
    else:
        ca_new = ca_inf + (ca - ca_inf) * f(k[11])
    g_tot = gsyn + c_na + c_cat + c_cas + c_a + c_kca + c_kd + c_h + gl
    num = (
        gsyn_e
        + c_na * e_na
        + c_cat * e_ca
        + c_cas * e_ca
        + c_a * e_k
        + c_kca * e_k
        + c_kd * e_k
        + c_h * e_h
        + gl * e_leak
        + inoise
    )
    # both branches computed, then selected: keeps the lane loops of the CPU kernel branch-free
    v_relaxed = relax(fdiv(num, g_tot), v, f(k[12]) * g_tot, one)
    v_euler = v + num * f(k[12])
    v_new = v_euler if g_tot == zero else v_relaxed
    power = zero
    if want_power:
        dk = (v - e_k) * (v - e_k)
        dca = (v - e_ca) * (v - e_ca)
        power = (
            c_na * (v - e_na) * (v - e_na)
            + (c_cat + c_cas) * dca
            + (c_a + c_kca + c_kd) * dk
            + c_h * (v - e_h) * (v - e_h)
            + gl * (v - e_leak) * (v - e_leak)
        )
    return v_new, ca_new, power


@njit(error_model="numpy")
def gates_step(v, ca, mna, mcat, mcas, ma, mkca, mkd, mh, hna, hcat, hcas, ha, k):
    """The 11 gates of one neuron over one step, from the OLD voltage and calcium.

    Returns ``(mna, mcat, mcas, ma, mkca, mkd, mh, hna, hcat, hcas, ha)``.
    """
    f = type(v)
    one = f(1.0)
    mna_n = relax(boltz(v, 25.5, -5.29), mna, f(k[0]), f(2.64) - f(2.52) * boltz(v, 120.0, -25.0))
    mcat_n = relax(boltz(v, 27.1, -7.2), mcat, f(k[1]), f(43.4) - f(42.6) * boltz(v, 68.1, -20.5))
    tau_mcas = f(2.8) + fdiv(
        f(14.0), _exp(_divc(v + f(27.0), 10.0)) + _exp(_divc(v + f(70.0), -13.0))
    )
    mcas_n = relax(boltz(v, 33.0, -8.1), mcas, f(k[2]), tau_mcas)
    ma_n = relax(boltz(v, 27.2, -8.7), ma, f(k[3]), f(23.2) - f(20.8) * boltz(v, 32.9, -15.2))
    mkca_inf = fdiv(ca, ca + f(3.0)) * boltz(v, 28.3, -12.6)
    mkca_n = relax(mkca_inf, mkca, f(k[4]), f(180.6) - f(150.2) * boltz(v, 46.0, -22.7))
    mkd_n = relax(boltz(v, 12.3, -11.8), mkd, f(k[5]), f(14.4) - f(12.8) * boltz(v, 28.3, -19.2))
    tau_mh = fdiv(f(2.0), _exp(f(-14.59) - f(0.086) * v) + _exp(f(-1.87) + f(0.0701) * v))
    mh_n = relax(boltz(v, 75.0, 5.5), mh, f(k[6]), tau_mh)
    tau_hna = fdiv(f(1.34), one + _exp(_divc(v + f(62.9), -10.0))) * (
        f(1.5) + fdiv(one, one + _exp(_divc(v + f(34.9), 3.6)))
    )
    hna_n = relax(boltz(v, 48.9, 5.18), hna, f(k[7]), tau_hna)
    hcat_n = relax(boltz(v, 32.1, 5.5), hcat, f(k[8]), f(210.0) - f(179.6) * boltz(v, 55.0, -16.9))
    tau_hcas = f(120.0) + fdiv(
        f(300.0), _exp(_divc(v + f(55.0), 9.0)) + _exp(_divc(v + f(65.0), -16.0))
    )
    hcas_n = relax(boltz(v, 60.0, 6.2), hcas, f(k[9]), tau_hcas)
    ha_n = relax(boltz(v, 56.9, 4.9), ha, f(k[10]), f(77.2) - f(58.4) * boltz(v, 38.9, -26.5))
    return mna_n, mcat_n, mcas_n, ma_n, mkca_n, mkd_n, mh_n, hna_n, hcat_n, hcas_n, ha_n


@njit(error_model="numpy")
def neuron_step(
    v,
    ca,
    mna,
    mcat,
    mcas,
    ma,
    mkca,
    mkd,
    mh,
    hna,
    hcat,
    hcas,
    ha,
    gna,
    gcat,
    gcas,
    ga,
    gkca,
    gkd,
    gh,
    gl,
    gsyn,
    gsyn_e,
    inoise,
    k,
    want_power,
):
    """One neuron over one step: :func:`membrane_step` then :func:`gates_step` (old V, Ca).

    Returns the 13 new state variables and the intrinsic power.
    """
    v_new, ca_new, power = membrane_step(
        v,
        ca,
        mna,
        mcat,
        mcas,
        ma,
        mkca,
        mkd,
        mh,
        hna,
        hcat,
        hcas,
        ha,
        gna,
        gcat,
        gcas,
        ga,
        gkca,
        gkd,
        gh,
        gl,
        gsyn,
        gsyn_e,
        inoise,
        k,
        want_power,
    )
    g = gates_step(v, ca, mna, mcat, mcas, ma, mkca, mkd, mh, hna, hcat, hcas, ha, k)
    return (v_new, ca_new) + g + (power,)  # noqa: RUF005 (numba: no starred tuples)


@njit(error_model="numpy")
def syn_step(s, v_pre, dtq):
    f = type(s)
    one = f(1.0)
    v_th = f(-35.0)  # mV; slope 5 mV
    s_inf = fdiv(one, one + _exp(_divc(v_th - v_pre, 5.0)))
    # rate = dt / tau_s = dtq / (1 - s_inf); rate >= 1 relaxes s to s_inf in one step. In
    # float32, s_inf rounds to exactly 1 for v_pre above ~ -35 + 5 ln(2^24) = 48 mV (a spike
    # peak), and dtq / 0 = inf: the lane-vectorised CPU kernel computes both branches and,
    # compiled by numba 0.68 / llvmlite 0.50 with fastmath (no-inf, no-NaN), let the NaN of
    # (s_inf - s) * inf through into the postsynaptic neuron (CPU float32 only; measured:
    # 4 % valid rhythms instead of 74 % on posterior samples). So compare without dividing
    # and divide only by a denominator >= dtq: nothing here is ever inf or NaN.
    den = one - s_inf
    rate = fdiv(dtq, den if den > dtq else dtq)
    if dtq >= den:
        return s_inf
    return s + (s_inf - s) * rate
