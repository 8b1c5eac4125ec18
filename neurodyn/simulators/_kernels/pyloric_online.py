"""Online pyloric features: spikes, bursts and plateaus from a stream of filtered voltages.

Scalar ``@njit`` functions on small float64 state arrays, called from the CPU
kernel, the CUDA kernel (one thread per neuron, state in local arrays) and from
:func:`neurodyn.features.pyloric_summary` (trace input). They reproduce the reference algorithm
(``pyloric/summary_statistics.py``, eLife ``summstats.py``) exactly, without storing the trace:

* spike at window index k when ``f[k+1] > -10``, ``f[k+1] >= f[k]`` and ``f[k+2] <= f[k+1]``
  (f = Savitzky–Golay filtered voltage, window 21 samples, order 3, ``mode="interp"`` edges);
* bursts: the spike train is split at inter-spike intervals >= 150 ms; a burst is kept if
  ``last - first > min_duration`` (40 ms pyloric package / PNAS, 50 ms eLife);
* plateau of a kept burst: longest run of ``f > -30 mV`` on the 10x-subsampled block from the
  burst start to the next kept burst start (last burst: to the last spike), counting only runs
  closed inside the block (the reference quirk), in samples.

Per-neuron state layout (float64, ``NUM_ONLINE`` entries): see the ``_S_*`` indices.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "FULL_NAMES",
    "NUM_FULL",
    "NUM_ONLINE",
    "SG_WINDOW",
    "burst_capacity",
    "features_from_bursts",
    "fir",
    "is_spike_sample",
    "online_finish",
    "online_push",
    "online_reset",
    "sg_matrix",
    "spike_event",
    "track_step",
]

SG_WINDOW = 21  # int(0.5 / dt) made odd, for dt = 0.025 ms
SPIKE_THRESHOLD = -10.0  # mV
PLATEAU_THRESHOLD = -30.0  # mV
MAX_ISI = 150.0  # ms
STEPPING = 10

# per-neuron online state
_S_NSPK, _S_CSTART, _S_CLAST, _S_KACT = 0, 1, 2, 3
_S_KLONG, _S_KCUR, _S_KCTR = 4, 5, 6
_S_CLONG, _S_CCUR, _S_CCTR = 7, 8, 9
_S_KSNAP, _S_KLAST, _S_CLAST_LONG = 10, 11, 12
_S_PSUM, _S_NB, _S_F2, _S_F1, _S_NF, _S_OVER = 13, 14, 15, 16, 17, 18
NUM_ONLINE = 19

#: names of the full feature vector computed by :func:`features_from_bursts`
FULL_NAMES = (
    "cycle_period",
    "burst_duration_ABPD", "burst_duration_LP", "burst_duration_PY",
    "duty_cycle_ABPD", "duty_cycle_LP", "duty_cycle_PY",
    "start_phase_LP", "start_phase_PY",
    "start_to_start_ABPD_LP", "start_to_start_LP_PY", "start_to_start_ABPD_PY",
    "end_to_start_ABPD_LP", "end_to_start_LP_PY",
    "phase_gap_ABPD_LP", "phase_gap_LP_PY",
    "plateau_duration_ABPD", "plateau_duration_LP", "plateau_duration_PY",
    "num_bursts_ABPD", "num_bursts_LP", "num_bursts_PY",
    "num_spikes_ABPD", "num_spikes_LP", "num_spikes_PY",
    "pyloric_like", "rhythm_class", "burst_overflow",
)  # fmt: skip
NUM_FULL = len(FULL_NAMES)


def sg_matrix(window: int = SG_WINDOW) -> np.ndarray:
    """``(window, window)`` M with filtered ``f[0:w] = M @ v[0:w]`` for a ``window``-sample signal.

    Rows ``0..w//2-1`` are the ``mode="interp"`` head, row ``w//2`` the interior (convolution)
    coefficients, the remaining rows the tail.
    """
    pos = np.arange(window, dtype=np.float64) - window // 2
    vander = np.vander(pos, 4, increasing=True)  # cubic least-squares fit over the window
    return vander @ np.linalg.pinv(vander)


def burst_capacity(window_ms: float, min_duration: float) -> int:
    """Upper bound on kept bursts per neuron (kept starts are > min_duration + 150 ms apart)."""
    return int(window_ms // (min_duration + MAX_ISI)) + 2


@njit
def fir(ring, sg, row, w):
    """Savitzky–Golay value with coefficient row ``row`` of ``sg`` for the window ending at
    window index ``w``; ``ring`` (``SG_WINDOW``,) holds sample ``t`` at slot ``t % SG_WINDOW``."""
    acc = 0.0
    slot = (w + 1) % SG_WINDOW  # slot of window sample w - (SG_WINDOW - 1)
    for m in range(SG_WINDOW):
        acc += sg[row, m] * ring[slot]
        slot += 1
        if slot == SG_WINDOW:
            slot = 0
    return acc


@njit
def online_reset(st):
    for q in range(NUM_ONLINE):
        st[q] = 0.0
    st[_S_CSTART] = -1.0


@njit
def track_step(longest, current, counter, above):
    """One sample of a plateau tracker (longest run, current run, phase counter); branch-free.

    Every ``STEPPING``-th sample (counter 0) extends the current run of ``f > -30 mV`` or
    closes it (keeping the longest); returns the new ``(longest, current, counter)``.
    """
    sample = counter == 0.0
    closes = sample and not above
    new_longest = current if (closes and current > longest) else longest
    new_current = (current + 1.0 if above else 0.0) if sample else current
    new_counter = counter + 1.0
    new_counter = 0.0 if new_counter == STEPPING else new_counter
    return new_longest, new_current, new_counter


@njit
def is_spike_sample(f2, f1, fv):
    """Spike at the sample of ``f1`` (filtered values ``f2, f1, fv`` in time order, mV)."""
    return f1 > SPIKE_THRESHOLD and f1 - f2 >= 0.0 and fv - f1 <= 0.0


@njit
def _close_candidate(st, starts, ends, dt, min_duration, final):
    # close the current candidate burst; keep it if it lasts longer than min_duration
    c0 = st[_S_CSTART]
    c1 = st[_S_CLAST]
    if c1 * dt - c0 * dt > min_duration:
        if st[_S_KACT] != 0.0:
            st[_S_PSUM] += st[_S_KSNAP]
        nb = int(st[_S_NB])
        if nb < starts.shape[0]:
            starts[nb] = c0
            ends[nb] = c1
            st[_S_NB] = nb + 1
        else:
            st[_S_OVER] = 1.0
        st[_S_KACT] = 1.0
        st[_S_KLONG] = st[_S_CLONG]
        st[_S_KCUR] = st[_S_CCUR]
        st[_S_KCTR] = st[_S_CCTR]
        if final:
            st[_S_PSUM] += st[_S_CLAST_LONG]
    elif final and st[_S_KACT] != 0.0:
        st[_S_PSUM] += st[_S_KLAST]


@njit
def spike_event(st, starts, ends, k, dt, min_duration):
    """Register a spike at window index ``k`` of one neuron (may close the previous burst)."""
    nspk = st[_S_NSPK]
    if nspk > 0.0 and k * dt - st[_S_CLAST] * dt >= MAX_ISI:
        _close_candidate(st, starts, ends, dt, min_duration, False)
        st[_S_CSTART] = -1.0
    if st[_S_CSTART] < 0.0:
        st[_S_CSTART] = k
        st[_S_CLONG] = 0.0
        st[_S_CCUR] = 0.0
        st[_S_CCTR] = 0.0
        st[_S_KSNAP] = st[_S_KLONG]
    st[_S_CLAST] = k
    st[_S_NSPK] = nspk + 1.0
    st[_S_KLAST] = st[_S_KLONG]
    st[_S_CLAST_LONG] = st[_S_CLONG]


@njit
def online_push(st, starts, ends, fv, dt, min_duration):
    """Feed the next filtered sample ``fv`` (mV) of one neuron; detects the spike two samples back.

    ``starts``/``ends``: 1-D buffers (capacity :func:`burst_capacity`) receiving the window
    indices of the first/last spike of each kept burst. The lane-block CPU kernel runs the same
    steps (:func:`is_spike_sample`, :func:`spike_event`, :func:`track_step`) on many neurons.
    """
    n = st[_S_NF]
    st[_S_NF] = n + 1.0
    if n >= 2.0:
        f2, f1 = st[_S_F2], st[_S_F1]
        if is_spike_sample(f2, f1, fv):
            spike_event(st, starts, ends, n - 2.0, dt, min_duration)
        above = f2 > PLATEAU_THRESHOLD
        if st[_S_KACT] != 0.0:
            st[_S_KLONG], st[_S_KCUR], st[_S_KCTR] = track_step(
                st[_S_KLONG], st[_S_KCUR], st[_S_KCTR], above
            )
        if st[_S_CSTART] >= 0.0:
            st[_S_CLONG], st[_S_CCUR], st[_S_CCTR] = track_step(
                st[_S_CLONG], st[_S_CCUR], st[_S_CCTR], above
            )
    st[_S_F2] = st[_S_F1]
    st[_S_F1] = fv


@njit
def online_finish(st, starts, ends, dt, min_duration):
    """Close the last candidate burst at the end of the window."""
    if st[_S_NSPK] > 0.0:
        _close_candidate(st, starts, ends, dt, min_duration, True)


@njit
def features_from_bursts(starts, ends, nb, nspk, psum, overflow, dt, out):
    """Network features from kept bursts (window indices) of the 3 neurons.

    Args:
        starts, ends: ``(3, capacity)`` first/last spike index of each kept burst.
        nb, nspk: ``(3,)`` number of kept bursts / spikes; psum: ``(3,)`` plateau sums (samples
            of the subsampled grid, i.e. divide by nothing: ``longest`` counts).
        overflow: nonzero if a burst buffer overflowed (features are then NaN).
        dt: step (ms). out: ``(NUM_FULL,)`` float output (see ``FULL_NAMES``).
    """
    nan = math.nan
    for q in range(NUM_FULL):
        out[q] = nan
    for j in range(3):
        out[19 + j] = nb[j]
        out[22 + j] = nspk[j]
    out[27] = overflow
    out[25] = 0.0
    if overflow != 0.0:
        out[26] = 2.0
        return
    for j in range(3):
        if nb[j] > 0:
            tot = 0.0
            for b in range(nb[j]):
                tot += ends[j, b] * dt - starts[j, b] * dt
            out[1 + j] = tot / nb[j]
            plateau = psum[j] * STEPPING / nb[j]
            if plateau < 200.0:
                plateau = 100.0
            out[16 + j] = plateau * dt
    n0 = nb[0]
    if n0 < 2:
        out[26] = 1.0  # not bursting
        return
    # mean of consecutive differences, summed in order as the reference np.mean(np.diff(.))
    tot = 0.0
    for b in range(n0 - 1):
        tot += starts[0, b + 1] * dt - starts[0, b] * dt
    cycle = tot / (n0 - 1)
    out[0] = cycle
    for j in range(3):
        out[4 + j] = out[1 + j] / cycle
    n_tri = 0
    n_pyl = 0
    s01 = s12 = s02 = e01 = e12 = 0.0
    for b in range(n0 - 1):
        p0 = starts[0, b]
        p1 = starts[0, b + 1]
        cnt1 = 0
        cnt2 = 0
        i1 = 0
        i2 = 0
        for q in range(nb[1]):
            if p0 <= starts[1, q] and starts[1, q] < p1:
                cnt1 += 1
                i1 = q
        for q in range(nb[2]):
            if p0 <= starts[2, q] and starts[2, q] < p1:
                cnt2 += 1
                i2 = q
        if cnt1 == 1 and cnt2 == 1:
            n_tri += 1
            st0, en0 = p0 * dt, ends[0, b] * dt
            st1, en1 = starts[1, i1] * dt, ends[1, i1] * dt
            st2, en2 = starts[2, i2] * dt, ends[2, i2] * dt
            s01 += st1 - st0
            s12 += st2 - st1
            s02 += st2 - st0
            e01 += st1 - en0
            e12 += st2 - en1
            if st1 - st2 <= 0.0 and en1 - en2 <= 0.0 and en0 - st1 <= 0.0:
                n_pyl += 1
    if nb[1] == 0 or nb[2] == 0:
        out[26] = 1.0
    else:
        out[26] = 2.0  # irregular unless triphasic below
    if n_tri / (n0 - 1) >= 0.9:
        out[26] = 0.0
        out[9] = s01 / n_tri
        out[10] = s12 / n_tri
        out[11] = s02 / n_tri
        out[12] = e01 / n_tri
        out[13] = e12 / n_tri
        out[14] = out[12] / cycle
        out[15] = out[13] / cycle
        out[7] = out[9] / cycle
        out[8] = out[11] / cycle
        if n_pyl / n_tri >= 0.7:
            out[25] = 1.0
