"""The 18 pyloric rhythm features (15 Prinz-style + 3 plateau durations) with their NaN rules.

Two published orders are supported: ``order="elife"`` (Gonçalves et al. 2020,
``summstats.PrinzStats``; bursts must last > 50 ms) and ``order="pnas"`` (Deistler et al. 2022,
the ``pyloric`` package; bursts > 40 ms). The algorithm (Savitzky–Golay filter, spikes, bursts,
triphasic periods, plateaus) is the reference one, run by the same online state machine as the
simulator kernels (:mod:`neurodyn.simulators._kernels.pyloric_online`).

NaN rules: burst duration and plateau of a neuron without kept bursts are NaN; with fewer than
2 AB/PD bursts the cycle period, duty cycles and all phase features are NaN; if fewer than 90 %
of the AB/PD periods contain exactly one burst start of every neuron (not triphasic) all
start/end/phase features are NaN.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from neurodyn._validation import check_choice, check_positive, fail
from neurodyn.simulators._kernels.pyloric_online import (
    FULL_NAMES,
    NUM_FULL,
    NUM_ONLINE,
    SG_WINDOW,
    burst_capacity,
    features_from_bursts,
    online_finish,
    online_push,
    online_reset,
)

__all__ = [
    "ELIFE_FEATURE_NAMES",
    "PNAS_FEATURE_NAMES",
    "RHYTHM_CLASSES",
    "feature_columns",
    "pyloric_summary",
]

#: full-vector indices of the 18 features in each published order
_ELIFE_IDX = (0, 1, 2, 3, 12, 13, 9, 11, 4, 5, 6, 14, 15, 7, 8, 16, 17, 18)
_PNAS_IDX = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18)
#: extra columns (``extras=True``): bursts and spikes per neuron, pyloric_like, rhythm class
_EXTRA_IDX = (19, 20, 21, 22, 23, 24, 25, 26)
ELIFE_FEATURE_NAMES = tuple(FULL_NAMES[i] for i in _ELIFE_IDX)
PNAS_FEATURE_NAMES = tuple(FULL_NAMES[i] for i in _PNAS_IDX)
#: values of the ``rhythm_class`` column
RHYTHM_CLASSES = ("triphasic", "not_bursting", "irregular")
#: minimum burst duration (ms) of each order's reference code
BURST_MIN_MS = {"elife": 50.0, "pnas": 40.0}


def feature_columns(
    order: str = "elife", extras: bool = False
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Indices into the full feature vector and names of the output columns.

    Example:
        >>> idx, names = feature_columns("pnas")
        >>> names[10], len(names)
        ('start_to_start_LP_PY', 18)
    """
    check_choice("order", order, ("elife", "pnas"))
    idx = _ELIFE_IDX if order == "elife" else _PNAS_IDX
    if extras:
        idx = idx + _EXTRA_IDX
    return idx, tuple(FULL_NAMES[i] for i in idx)


@njit(cache=True)
def _summarise_filtered(filt, dt, min_duration, capacity, out):  # pragma: no cover - numba
    num, n, _ = filt.shape
    st = np.empty(NUM_ONLINE)
    starts = np.zeros((3, capacity))
    ends = np.zeros((3, capacity))
    nb = np.zeros(3, np.int64)
    nspk = np.zeros(3)
    psum = np.zeros(3)
    for i in range(num):
        over = 0.0
        for j in range(3):
            online_reset(st)
            for t in range(n):
                online_push(st, starts[j], ends[j], filt[i, t, j], dt, min_duration)
            online_finish(st, starts[j], ends[j], dt, min_duration)
            nb[j] = int(st[14])
            nspk[j] = st[0]
            psum[j] = st[13]
            over = max(over, st[18])
        finite = True
        for t in range(n):
            for j in range(3):
                if not np.isfinite(filt[i, t, j]):
                    finite = False
        features_from_bursts(starts, ends, nb, nspk, psum, over, dt, out[i])
        if not finite:
            for q in range(out.shape[1]):
                out[i, q] = np.nan


def pyloric_summary(
    traces,
    *,
    dt: float = 0.025,
    t_burn_in: float = 1000.0,
    order: str = "elife",
    extras: bool = False,
) -> torch.Tensor:
    """Pyloric features of voltage traces of the 3 neurons (AB/PD, LP, PY).

    Args:
        traces: ``(num, num_steps, 3)`` or ``(num_steps, 3)`` membrane potentials (mV) sampled
            every ``dt`` from t = 0 (as returned by ``PyloricNetwork.simulate(output="trace")``).
        dt: sampling step (ms); the filter window is ``int(0.5 / dt)`` made odd.
        t_burn_in: initial transient (ms) discarded before the analysis.
        order: ``"elife"`` (default; bursts > 50 ms) or ``"pnas"`` (bursts > 40 ms).
        extras: append num_bursts (3), num_spikes (3), pyloric_like (0/1) and rhythm class
            (index into :data:`RHYTHM_CLASSES`).

    Returns:
        float64 tensor ``(num, 18)`` (``(num, 26)`` with extras) in the order of
        :func:`feature_columns`; times in ms, phases and duty cycles as fractions of the cycle.

    Example:
        >>> t = np.arange(0, 3000, 0.025)
        >>> v = np.where((t % 1000) < 200, 20 * np.sin(2 * np.pi * t / 20), -60.0)  # bursts
        >>> x = pyloric_summary(np.stack([v, v, v], -1)[None], t_burn_in=500.0)
        >>> round(float(x[0, 0]))  # cycle period (ms)
        1000
    """
    check_choice("order", order, ("elife", "pnas"))
    check_positive("dt", dt)
    check_positive("t_burn_in", t_burn_in, strict=False)
    if isinstance(traces, torch.Tensor):
        arr = traces.detach().to("cpu", torch.float64).numpy()
    else:
        try:
            arr = np.asarray(traces, dtype=np.float64)
        except (TypeError, ValueError):
            fail("traces", "an array of shape (num, num_steps, 3)", traces, exc=TypeError)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != 3:
        fail("traces", "shape (num, num_steps, 3) or (num_steps, 3)", arr)
    i0 = round(t_burn_in / dt)
    window = int(0.5 / dt)
    window += 1 - window % 2
    if arr.shape[1] - i0 < max(window, SG_WINDOW if dt == 0.025 else window):
        fail(
            "traces",
            f"more than {i0 + window} time steps (burn-in + filter window)",
            arr,
            "Simulate longer or reduce t_burn_in.",
        )
    from scipy.signal import savgol_filter

    seg = arr[:, i0:]
    filt = savgol_filter(seg, window, 3, axis=1)
    min_dur = BURST_MIN_MS[order]
    cap = burst_capacity(seg.shape[1] * dt, min_dur)
    full = np.empty((arr.shape[0], NUM_FULL))
    _summarise_filtered(np.ascontiguousarray(filt), float(dt), min_dur, cap, full)
    idx, _ = feature_columns(order, extras)
    return torch.from_numpy(full[:, list(idx)].copy())
