"""The eLife spike rule on hand-made traces."""

from __future__ import annotations

import numpy as np
import pytest

from neurodyn.features import spike_indices, spike_times


def test_spike_is_sample_before_peak_above_threshold():
    v = np.full(50, -70.0)
    v[10:14] = [-20.0, 5.0, 30.0, -40.0]  # peak at 12 -> index 11
    v[30:33] = [-15.0, -12.0, -30.0]  # below -10 mV: not a spike
    v[40:43] = [20.0, 20.0, -50.0]  # plateau of two equal samples: spike at 40
    assert spike_indices(v)[0].tolist() == [11, 40]


def test_window_and_deduplication():
    dt = 0.1
    v = np.full(300, -70.0)
    for i in (20, 24, 31, 100, 250):  # 2.4 ms is within 0.5 ms of 2.0 ms
        v[i : i + 2] = [0.0, 10.0]
    ts = spike_times(v, dt=dt, t_on=1.0, t_off=20.0)[0]
    np.testing.assert_allclose(ts, [2.0, 3.1, 10.0])  # 25.0 ms is outside the window
    assert spike_times(v[None].repeat(2, 0), dt=dt, t_on=0.0, t_off=30.0)[1].size == 4


def test_single_sample_peak_is_not_a_spike():
    """The rule needs the sample before the peak above threshold (as in the eLife code)."""
    v = np.full(20, -70.0)
    v[10] = 30.0
    assert spike_indices(v)[0].size == 0


def test_spike_errors():
    with pytest.raises(ValueError, match="v: expected a 1-D trace"):
        spike_indices(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="dt: expected a finite number > 0"):
        spike_times(np.zeros(5), dt=-1.0, t_on=0.0, t_off=1.0)
