"""Bursts from spike times: the pyloric rule (split at long inter-spike intervals, drop short).

The same rule runs online inside the pyloric kernels (:mod:`neurodyn.features.pyloric`); this
function applies it to any spike train, e.g. spikes sorted from extracellular nerve recordings
(the eLife/PNAS x_o used ``max_isi=150``, ``min_duration=40``).

Example:
    >>> import numpy as np
    >>> spikes = np.array([0.0, 10.0, 60.0, 500.0, 900.0, 920.0, 950.0])
    >>> starts, ends = burst_times(spikes)
    >>> starts.tolist(), ends.tolist()
    ([0.0, 900.0], [60.0, 950.0])
"""

from __future__ import annotations

import numpy as np

from neurodyn._validation import check_positive, fail

__all__ = ["burst_times"]


def burst_times(
    spike_times, max_isi: float = 150.0, min_duration: float = 40.0
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times of the bursts of one spike train.

    The train is split where an inter-spike interval is ``>= max_isi``; a group is a burst
    if ``last - first > min_duration`` (so single spikes never form bursts).

    Args:
        spike_times: ``(num_spikes,)`` increasing spike times (ms).
        max_isi: inter-spike interval (ms) that separates bursts.
        min_duration: bursts must last longer than this (ms); 40 (PNAS) or 50 (eLife).

    Returns:
        ``(starts, ends)``, two float64 arrays ``(num_bursts,)`` of first/last spike times (ms).
    """
    check_positive("max_isi", max_isi)
    check_positive("min_duration", min_duration, strict=False)
    try:
        t = np.asarray(spike_times, dtype=np.float64)
    except (TypeError, ValueError):
        fail("spike_times", "a 1-D array of spike times (ms)", spike_times, exc=TypeError)
    if t.ndim != 1:
        fail("spike_times", "a 1-D array of spike times (ms)", t)
    if t.size == 0:
        return np.zeros(0), np.zeros(0)
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        fail("spike_times", "finite, non-decreasing times", t, "Sort the spike times.")
    last = np.append(np.flatnonzero(np.diff(t) >= max_isi), t.size - 1)
    first = np.insert(last[:-1] + 1, 0, 0)
    starts, ends = t[first], t[last]
    keep = ends - starts > min_duration
    return starts[keep], ends[keep]
