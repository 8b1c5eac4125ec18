"""Hodgkin-Huxley (Pospischil et al. 2008) model arithmetic as scalar functions.

Written once and inlined into both the CPU kernel (``hh_cpu.py``, SIMD lanes) and the CUDA
kernel (``hh_cuda.py``, one thread per simulation). Units: mV, ms, mS/cm², µA/cm², µF/cm².
Every function is dtype-generic: with float32 arguments all arithmetic is float32.

The update is the exponential-Euler step of the eLife 2020 code (``forwardeuler`` in
``biophys_cython_comp.pyx``): ``V`` relaxes towards ``V_inf`` with the conductances of the
previous step, then each gate relaxes towards its steady state evaluated at the NEW ``V``.
Exponentials that the reference computes separately but that are powers of one another are
shared (``beta_m``, ``beta_h`` and ``alpha_n`` use one ``exp``; ``p_inf`` and ``tau_p`` another),
which changes results only at the level of floating-point rounding.
"""

from __future__ import annotations

import math

from numba import njit

from neurodyn.simulators._kernels.mathfn import fexp

__all__ = [
    "E_K",
    "E_NA",
    "hh_gate_relax",
    "hh_p_relax",
    "hh_rates",
    "hh_steady_state",
    "hh_step",
    "hh_v_update",
]

#: Reversal potentials (mV) and membrane capacitance (µF/cm²) of the eLife model.
E_NA = 53.0
E_K = -107.0
C_M = 1.0
_EXP_M5 = math.exp(-5.0)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _efun(z, ez):
    """``z / (exp(z) - 1)`` given ``ez = exp(z)``; ``1 - z/2`` for ``|z| < 1e-4``."""
    T = type(z)
    small = abs(z) < T(1e-4)
    den = ez - T(1.0)
    den = T(1.0) if small else den
    return T(1.0) - z * T(0.5) if small else z / den


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def hh_rates(v, vt, inv_tau_max):
    """Rate functions at membrane potential ``v`` (mV) for threshold ``vt`` (mV) and the
    inverse M-current time constant ``inv_tau_max = 1 / tau_max`` (1/ms).

    Returns ``(a_m, b_m, a_h, b_h, a_n, b_n, p_inf, r_p)`` in 1/ms (``p_inf`` dimensionless,
    ``r_p = 1 / tau_p``). Written with 6 divisions where the reference's formulas have 10
    (the CPU lane loops are bound by their floating-point throughput; values change at the
    level of rounding only):

    * ``b_h = 4 / (1 + 1/e40) = 4 e40 / (e40 + 1)`` and ``a_n``'s ``exp(zn) - 1 =
      (e^-5 - e40) / e40`` (``zn = -0.2 (w - 15) = -(zb + 5)``) need no ``1 / e40``;
    * with ``u = exp(0.05 (V + 35))``: ``p_inf = 1 / (1 + u^-2) = u^2 / (u^2 + 1)`` and
      ``1 / tau_p = (3.3 u + 1/u) / tau_max = (3.3 u^2 + 1) / (u tau_max)`` share one
      reciprocal ``q = 1 / (u (u^2 + 1))`` (``u`` capped at 1e12, V ~ 520 mV, so that ``u^3``
      stays finite in float32; beyond it ``p_inf`` is 1 and ``exp(-dt r_p)`` 0 either way).
    """
    T = type(v)
    w = v - vt
    zb = T(0.2) * (w - T(40.0))
    e40 = fexp(zb)  # exp(0.2 (V - VT - 40))
    zm = T(-0.25) * (w - T(13.0))
    a_m = T(0.32 / 0.25) * _efun(zm, fexp(zm))
    b_m = T(0.28 / 0.2) * _efun(zb, e40)
    a_h = T(0.128) * fexp(-(w - T(17.0)) * T(1.0 / 18.0))
    b_h = T(4.0) * e40 / (e40 + T(1.0))
    zn = T(-0.2) * (w - T(15.0))
    small = abs(zn) < T(1e-4)  # _efun's series branch, with exp(zn) - 1 = (e^-5 - e40) / e40
    den = T(1.0) if small else T(_EXP_M5) - e40
    a_n = T(0.032 / 0.2) * (T(1.0) - zn * T(0.5) if small else zn * e40 / den)
    b_n = T(0.5) * fexp(-(w - T(10.0)) * T(1.0 / 40.0))
    u = fexp(T(0.05) * (v + T(35.0)))  # exp(0.05 (V + 35)), p gate (not shifted by VT)
    u = T(1e12) if u > T(1e12) else u
    u2 = u * u
    q = T(1.0) / (u * (u2 + T(1.0)))
    p_inf = q * u2 * u
    r_p = (T(3.3) * u2 + T(1.0)) * (q * (u2 + T(1.0))) * inv_tau_max
    return a_m, b_m, a_h, b_h, a_n, b_n, p_inf, r_p


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def hh_steady_state(v, vt, tau_max):
    """Steady-state gates ``(m, h, n, p)`` at ``v``: the eLife initial condition."""
    a_m, b_m, a_h, b_h, a_n, b_n, p_inf, _ = hh_rates(v, vt, type(v)(1.0) / tau_max)
    return a_m / (a_m + b_m), a_h / (a_h + b_h), a_n / (a_n + b_n), p_inf


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def hh_v_update(v, m, h, n, p, g_na, g_k, g_leak, g_m, e_leak, i_ext, dt):
    """``V`` after one exponential-Euler step of length ``dt`` (ms), with the gates of the
    previous step (the first half of :func:`hh_step`; arguments as there)."""
    T = type(v)
    m3h = m * m * m * h * g_na
    n4 = n * n
    n4 = n4 * n4 * g_k
    gp = g_m * p
    g = m3h + n4 + g_leak + gp  # C_M = 1
    v_inf = (m3h * T(E_NA) + (n4 + gp) * T(E_K) + g_leak * e_leak + i_ext) / g
    return v_inf + (v - v_inf) * fexp(-dt * g)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def hh_gate_relax(x, a, s, dt):
    """Gate ``x`` relaxed for ``dt`` (ms) towards ``a / s`` with rate ``s = alpha + beta``
    (1/ms): ``x_inf + (x - x_inf) exp(-dt s)``."""
    x_inf = a / s
    return x_inf + (x - x_inf) * fexp(-dt * s)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def hh_p_relax(p, p_inf, r_p, dt):
    """M-current gate ``p`` relaxed for ``dt`` (ms) towards ``p_inf`` with rate
    ``r_p = 1 / tau_p`` (1/ms)."""
    return p_inf + (p - p_inf) * fexp(-dt * r_p)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def hh_step(v, m, h, n, p, g_na, g_k, g_leak, g_m, e_leak, vt, tau_max, i_ext, dt):
    """One exponential-Euler step of length ``dt`` (ms).

    The composition of :func:`hh_v_update`, :func:`hh_rates` at the new ``V`` and the gate
    relaxations :func:`hh_gate_relax` / :func:`hh_p_relax`. The CUDA kernel calls it per
    thread; the CPU kernel runs the same three parts as three loops over its lanes (see
    ``hh_cpu.py``).

    Args:
        v, m, h, n, p: state at step ``i - 1`` (mV; gates dimensionless).
        g_na, g_k, g_leak, g_m: conductances (mS/cm²).
        e_leak, vt: leak reversal and threshold (mV); tau_max: M-current time constant (ms).
        i_ext: total input at step ``i - 1`` (µA/cm²): injected current plus
            ``sigma * xi / sqrt(dt)``.
        dt: time step (ms).

    Returns:
        State ``(v, m, h, n, p)`` at step ``i``.
    """
    v = hh_v_update(v, m, h, n, p, g_na, g_k, g_leak, g_m, e_leak, i_ext, dt)
    # 1 / tau_max is loop-invariant in a kernel's time loop: LLVM hoists it
    a_m, b_m, a_h, b_h, a_n, b_n, p_inf, r_p = hh_rates(v, vt, type(v)(1.0) / tau_max)
    m = hh_gate_relax(m, a_m, a_m + b_m, dt)
    h = hh_gate_relax(h, a_h, a_h + b_h, dt)
    n = hh_gate_relax(n, a_n, a_n + b_n, dt)
    p = hh_p_relax(p, p_inf, r_p, dt)
    return v, m, h, n, p
