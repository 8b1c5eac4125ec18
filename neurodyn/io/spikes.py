"""Spike times -> binned counts, and resampling of signals onto an activity time grid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from neurodyn._validation import check_positive, fail

__all__ = ["bin_spike_times", "resample"]


def bin_spike_times(
    spike_times: Any,
    *,
    bin_size_s: float,
    units: Any = None,
    num_units: int | None = None,
    t_start: float | None = None,
    t_stop: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Count spikes in consecutive bins of ``bin_size_s`` seconds.

    Two input styles:

    * ``spike_times`` a sequence of 1-D arrays, one per unit (``units`` None);
    * ``spike_times`` a flat ``(num_spikes,)`` array with integer unit labels ``units``
      ``(num_spikes,)``; column ``k`` is the ``k``-th distinct label in increasing order, or
      label ``k`` itself when ``num_units`` is given (labels must then lie in
      ``[0, num_units)``; units without spikes get a zero column).

    Bins are ``[t_start + k * bin_size_s, t_start + (k + 1) * bin_size_s)`` for
    ``k < ceil((t_stop - t_start) / bin_size_s)``; spikes outside are dropped. Defaults: first
    and last spike (the last spike is counted).

    Returns:
        ``(counts, labels)``: ``counts`` ``(num_bins, num_units)`` int64 and the unit label of
        each column.

    Example:
        >>> counts, labels = bin_spike_times([[0.01, 0.02, 0.31], [0.15]], bin_size_s=0.1,
        ...                                  t_start=0.0, t_stop=0.4)
        >>> counts.T
        array([[2, 0, 0, 1],
               [0, 1, 0, 0]])
    """
    bs = check_positive("bin_size_s", bin_size_s)
    if units is None:
        if isinstance(spike_times, np.ndarray) and spike_times.ndim != 1:
            fail("spike_times", "a list of 1-D arrays (one per unit)", spike_times)
        if isinstance(spike_times, np.ndarray) or not isinstance(spike_times, Sequence):
            fail(
                "spike_times",
                "a sequence of per-unit arrays, or flat times with units=",
                type(spike_times).__name__,
                exc=TypeError,
            )
        per_unit = [np.asarray(s, dtype=np.float64).ravel() for s in spike_times]
        times = np.concatenate(per_unit) if per_unit else np.zeros(0)
        cols = (
            np.concatenate([np.full(len(s), k) for k, s in enumerate(per_unit)])
            if per_unit
            else np.zeros(0, dtype=np.int64)
        )
        labels = np.arange(len(per_unit))
    else:
        times = np.asarray(spike_times, dtype=np.float64)
        lab = np.asarray(units)
        if times.ndim != 1 or lab.shape != times.shape:
            fail("units", f"one label per spike, shape {times.shape}", lab)
        if not np.issubdtype(lab.dtype, np.integer):
            fail("units", "integer unit labels", lab, exc=TypeError)
        if num_units is not None:
            num_units = check_positive("num_units", num_units, integer=True)
            if lab.size and (lab.min() < 0 or lab.max() >= num_units):
                fail("units", f"labels in [0, {num_units})", f"range [{lab.min()}, {lab.max()}]")
            labels, cols = np.arange(num_units), lab.astype(np.int64)
        else:
            labels, cols = np.unique(lab, return_inverse=True)
    if not np.isfinite(times).all():
        fail("spike_times", "finite times", "NaN/inf entries")
    if times.size == 0 and (t_start is None or t_stop is None):
        fail("spike_times", "at least one spike, or t_start and t_stop", "no spikes")
    t0 = float(times.min()) if t_start is None else float(t_start)
    t1 = float(times.max()) if t_stop is None else float(t_stop)
    if not t1 > t0:
        fail("t_stop", f"a time > t_start={t0}", t1)
    num_bins = max(1, math.ceil((t1 - t0) / bs - 1e-9))
    idx = np.floor((times - t0) / bs).astype(np.int64)
    if t_stop is None:
        idx = np.minimum(idx, num_bins - 1)  # the last spike closes the final bin
    keep = (idx >= 0) & (idx < num_bins)
    flat = idx[keep] * len(labels) + cols[keep]
    counts = np.bincount(flat, minlength=num_bins * len(labels)).reshape(num_bins, len(labels))
    return counts.astype(np.int64), labels


def resample(
    times: Any,
    values: Any,
    target_times: Any,
) -> np.ndarray:
    """Linearly interpolate ``values`` sampled at ``times`` onto ``target_times``.

    Args:
        times: ``(num_samples,)`` increasing sample times in seconds.
        values: ``(num_samples,)`` or ``(num_samples, num_channels)``.
        target_times: ``(num_targets,)`` times in seconds.

    Returns:
        ``(num_targets, num_channels)`` float64; NaN outside ``[times[0], times[-1]]`` (no
        extrapolation) and where a neighbouring sample is NaN.

    Example:
        >>> resample([0.0, 1.0], [0.0, 2.0], [0.5, 2.0]).ravel().tolist()
        [1.0, nan]
    """
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    tt = np.asarray(target_times, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if t.ndim != 1 or v.ndim != 2 or v.shape[0] != t.shape[0]:
        fail("values", f"shape ({t.shape[0]},) or ({t.shape[0]}, num_channels)", v)
    if t.size < 2 or not (np.diff(t) > 0).all():
        fail("times", "at least 2 strictly increasing times", t)
    out = np.empty((tt.shape[0], v.shape[1]))
    for c in range(v.shape[1]):
        out[:, c] = np.interp(tt, t, v[:, c], left=np.nan, right=np.nan)
    return out
