"""The scalar pyloric model (``pyloric_model``) against independent NumPy formulas."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from neurodyn.simulators._kernels.pyloric_model import gates_step, kinetic_constants

KIN = kinetic_constants(0.025, 283.0)


def _boltz(v, a, b):
    return 1.0 / (1.0 + np.exp((v + a) / b))


def _reference_gates(v, ca, x, kin):
    """Prinz et al. 2004 steady states and time constants (float64 NumPy, gate by gate), one
    exponential-Euler step ``x_inf + (x - x_inf) exp(-dt q / tau)`` per gate."""
    inf = [
        _boltz(v, 25.5, -5.29),
        _boltz(v, 27.1, -7.2),
        _boltz(v, 33.0, -8.1),
        _boltz(v, 27.2, -8.7),
        ca / (ca + 3.0) * _boltz(v, 28.3, -12.6),
        _boltz(v, 12.3, -11.8),
        _boltz(v, 75.0, 5.5),
        _boltz(v, 48.9, 5.18),
        _boltz(v, 32.1, 5.5),
        _boltz(v, 60.0, 6.2),
        _boltz(v, 56.9, 4.9),
    ]
    tau = [
        2.64 - 2.52 * _boltz(v, 120.0, -25.0),
        43.4 - 42.6 * _boltz(v, 68.1, -20.5),
        2.8 + 14.0 / (np.exp((v + 27.0) / 10.0) + np.exp((v + 70.0) / -13.0)),
        23.2 - 20.8 * _boltz(v, 32.9, -15.2),
        180.6 - 150.2 * _boltz(v, 46.0, -22.7),
        14.4 - 12.8 * _boltz(v, 28.3, -19.2),
        2.0 / (np.exp(-14.59 - 0.086 * v) + np.exp(-1.87 + 0.0701 * v)),
        1.34 / (1.0 + np.exp((v + 62.9) / -10.0)) * (1.5 + _boltz(v, 34.9, 3.6)),
        210.0 - 179.6 * _boltz(v, 55.0, -16.9),
        120.0 + 300.0 / (np.exp((v + 55.0) / 9.0) + np.exp((v + 65.0) / -16.0)),
        77.2 - 58.4 * _boltz(v, 38.9, -26.5),
    ]
    dtq = kin[:11]
    return np.stack([inf[g] + (x - inf[g]) * np.exp(-dtq[g] / tau[g]) for g in range(11)])


@njit
def _gates_grid(v, ca, x, k):
    out = np.empty((11, v.size), v.dtype)
    for i in range(v.size):
        g = gates_step(v[i], ca[i], x[i], x[i], x[i], x[i], x[i], x[i], x[i], x[i], x[i], x[i],
                       x[i], k)  # fmt: skip
        for q in range(11):
            out[q, i] = g[q]
    return out


def _grid():
    v = np.linspace(-200.0, 200.0, 4001)  # mV, far beyond the physiological range
    vv, ca, x = np.meshgrid(v, [0.05, 1.0, 200.0], [0.0, 0.3, 1.0], indexing="ij")
    return vv.ravel(), ca.ravel(), x.ravel()


@pytest.mark.parametrize(("dtype", "atol"), [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_gates_step_matches_numpy_formulas_from_minus_200_to_200_mv(dtype, atol):
    """Gates (dimensionless, in [0, 1]) over a wide voltage range, every calcium/gate start.

    float64: the reference's formula to rounding. float32 (1 - exp computed by expm1, the
    polynomial exp): a few float32 ulps of 1; finite and inside [0, 1] everywhere.
    """
    v, ca, x = _grid()
    expected = _reference_gates(v, ca, x, KIN)
    k = tuple(dtype(q) for q in KIN)
    got = _gates_grid(v.astype(dtype), ca.astype(dtype), x.astype(dtype), k)
    assert got.dtype == dtype
    assert np.isfinite(got).all()
    assert ((got >= 0.0) & (got <= 1.0)).all()
    # the float32 inputs are rounded voltages: compare against the formula at those voltages
    expected = _reference_gates(v.astype(dtype).astype(np.float64), ca.astype(dtype), x, KIN)
    err = np.abs(got.astype(np.float64) - expected)
    assert err.max() <= atol, (err.max(), np.unravel_index(err.argmax(), err.shape))
