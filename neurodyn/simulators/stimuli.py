"""Injected-current protocols for single-compartment simulators.

Currents are stored in µA/cm² (current density), the unit of the HH equations; helpers
convert from nA (or µA) and a soma area.

Example:
    >>> I = step_current(t_max=120.0, dt=0.01)
    >>> I.shape, round(float(I.max()), 4)
    ((12001,), 3.2481)
"""

from __future__ import annotations

import math

import numpy as np

from neurodyn._validation import check_positive, fail

__all__ = ["ELIFE_SOMA_AREA_CM2", "current_density", "num_steps_for", "step_current"]

#: Soma area of the eLife synthetic HH protocol: pi * (70 µm)² in cm².
ELIFE_SOMA_AREA_CM2 = math.pi * (70.0e-4) ** 2


def num_steps_for(t_max: float, dt: float) -> int:
    """Number of samples of ``t = 0, dt, ..., t_max``: ``round(t_max / dt) + 1``."""
    return round(t_max / dt) + 1


def current_density(current_nA, soma_area_cm2: float = ELIFE_SOMA_AREA_CM2) -> np.ndarray:
    """Convert an injected current (nA) into a density (µA/cm²) for ``soma_area_cm2``.

    Args:
        current_nA: current waveform, ``(num_steps,)`` nA.
        soma_area_cm2: membrane area (cm²).

    Returns:
        ``(num_steps,)`` float64 µA/cm².
    """
    area = check_positive("soma_area_cm2", soma_area_cm2)
    arr = np.asarray(current_nA, dtype=np.float64)
    if arr.ndim != 1:
        fail("current", "a 1-D waveform (num_steps,)", arr)
    if not np.isfinite(arr).all():
        fail("current", "finite values", f"{int((~np.isfinite(arr)).sum())} NaN/inf entries")
    return arr * 1e-3 / area


def step_current(
    t_max: float = 120.0,
    dt: float = 0.01,
    *,
    t_on: float = 10.0,
    t_off: float | None = None,
    amplitude_nA: float = 0.5,
    soma_area_cm2: float = ELIFE_SOMA_AREA_CM2,
) -> np.ndarray:
    """The eLife step protocol (``utils.syn_current``): ``amplitude_nA`` from ``t_on`` to
    ``t_off`` (default ``t_max - t_on``), zero elsewhere, as a density (µA/cm²).

    The step covers samples ``round(t_on/dt) <= i < round(t_off/dt)``.

    Returns:
        ``(round(t_max/dt) + 1,)`` float64 µA/cm² (0.5 nA on pi*(70 µm)² = 3.2481 µA/cm²).
    """
    t_max = check_positive("t_max", t_max)
    dt = check_positive("dt", dt)
    t_off = t_max - t_on if t_off is None else t_off
    if not 0 <= t_on < t_off <= t_max:
        fail("t_off", f"0 <= t_on < t_off <= t_max = {t_max}", f"t_on={t_on}, t_off={t_off}")
    density = amplitude_nA * 1e-3 / check_positive("soma_area_cm2", soma_area_cm2)
    current = np.zeros(num_steps_for(t_max, dt))
    current[int(np.round(t_on / dt)) : int(np.round(t_off / dt))] = density
    return current
