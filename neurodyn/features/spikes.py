"""Spike detection for membrane-potential traces (the eLife 2020 HH rule).

Example:
    >>> import numpy as np
    >>> v = np.full(100, -70.0); v[40:43] = [0.0, 20.0, -5.0]
    >>> spike_times(v, dt=0.1, t_on=1.0, t_off=9.0)
    [array([4.])]
"""

from __future__ import annotations

import numpy as np

from neurodyn._validation import check_positive, fail

__all__ = ["spike_indices", "spike_times"]


def _as_2d(v) -> np.ndarray:
    arr = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        fail("v", "a 1-D trace (num_steps,) or 2-D batch (num, num_steps)", arr)
    return arr


def spike_indices(v, threshold: float = -10.0) -> list[np.ndarray]:
    """Sample indices of spikes: the sample before each local maximum above ``threshold``.

    Exactly the eLife rule: clip ``v`` at ``threshold``, set every sample followed by a
    decrease to ``threshold``, return the samples followed by a decrease in the result.

    Args:
        v: membrane potential (mV), ``(num_steps,)`` or ``(num, num_steps)``.
        threshold: detection threshold (mV).

    Returns:
        One int array of indices per trace.
    """
    w = _as_2d(v).copy()
    w[w < threshold] = threshold
    dec = np.diff(w, axis=1) < 0
    w[:, :-1][dec] = threshold
    dec = np.diff(w, axis=1) < 0
    return [np.flatnonzero(row) for row in dec]


def spike_times(
    v, *, dt: float, t_on: float, t_off: float, threshold: float = -10.0, dedup_ms: float = 0.5
) -> list[np.ndarray]:
    """Spike times (ms) with ``t_on < t < t_off``, de-duplicated as in the eLife code.

    Times are ``index * dt`` (``t = arange(num_steps) * dt``). A spike is dropped when it
    follows the previous detected spike (kept or not) by at most ``dedup_ms``.

    Args:
        v: membrane potential (mV), ``(num_steps,)`` or ``(num, num_steps)``.
        dt: sampling interval (ms).
        t_on, t_off: counting window (ms, exclusive).
        threshold: detection threshold (mV).
        dedup_ms: de-duplication interval (ms).

    Returns:
        One float64 array of spike times (ms) per trace.
    """
    dt = check_positive("dt", dt)
    out = []
    for idx in spike_indices(v, threshold):
        ts = idx.astype(np.float64) * dt
        ts = ts[(ts > t_on) & (ts < t_off)]
        if ts.size:
            ts = ts[np.append(1.0, np.diff(ts)) > dedup_ms]
        out.append(ts)
    return out
