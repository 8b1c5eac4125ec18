"""Online spike detection with the eLife rule (scalar functions for the kernels).

The eLife feature code clips ``V`` at -10 mV, sets every sample followed by a decrease to
-10 mV, and reports the samples followed by a decrease in the modified trace. Worked out, sample
``s`` is a spike iff ``c[s] > -10``, ``c[s+1] >= c[s]`` and ``c[s+2] < c[s+1]`` with
``c = max(V, -10)``: the sample before a local maximum above -10 mV. It therefore needs the two
following samples, which is all a kernel keeps. Spikes are counted for ``t_on < t < t_off``,
dropping a spike that follows the previous detected one (kept or not) by at most ``dedup`` ms.
"""

from __future__ import annotations

from numba import njit

__all__ = ["clip_at_threshold", "is_spike", "spike_count_update"]

THRESHOLD_MV = -10.0


@njit(inline="always", error_model="numpy", cache=True)
def clip_at_threshold(v):
    """``max(v, -10)`` as float64, NaN kept (like ``v[v < -10] = -10``)."""
    return THRESHOLD_MV if v < THRESHOLD_MV else v


@njit(inline="always", error_model="numpy", cache=True)
def is_spike(c0, c1, c2):
    """Whether the sample with clipped value ``c0`` (followed by ``c1``, ``c2``) is a spike."""
    return (c0 > THRESHOLD_MV) and (c1 >= c0) and (c2 < c1)


@njit(inline="always", error_model="numpy", cache=True)
def spike_count_update(spike, s, last, count, dt, dedup):
    """Count a detected spike at sample ``s`` unless within ``dedup`` ms of the previous one.

    ``last`` is the previous detected sample (-1 if none); times are ``index * dt`` in float64
    as in the reference (``t = arange(N) * dt``).
    """
    keep = spike and (last < 0 or (s * dt - last * dt) > dedup)
    count = count + (1 if keep else 0)
    last = s if spike else last
    return last, count
