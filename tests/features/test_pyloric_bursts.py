"""burst_times: the reference burst rule on spike trains, and agreement with pyloric_summary."""

from __future__ import annotations

import numpy as np
import pytest

from neurodyn.features.bursts import burst_times


def test_split_at_long_isi_and_drop_short_groups():
    spikes = np.array([0.0, 10.0, 60.0, 210.0, 220.0, 500.0, 545.0, 1000.0])
    # groups: [0, 10, 60] (60 ms), [210, 220] (10 ms), [500, 545] (45 ms), [1000] (0 ms)
    s, e = burst_times(spikes, min_duration=40.0)
    np.testing.assert_array_equal(s, [0.0, 500.0])
    np.testing.assert_array_equal(e, [60.0, 545.0])
    s, e = burst_times(spikes, min_duration=50.0)  # eLife threshold drops the 45-ms burst
    np.testing.assert_array_equal(s, [0.0])
    # an ISI of exactly max_isi separates bursts (>=), as in the reference
    s, _ = burst_times(np.array([0.0, 50.0, 200.0, 250.0]), max_isi=150.0, min_duration=10.0)
    np.testing.assert_array_equal(s, [0.0, 200.0])


def test_empty_and_single_spike():
    assert burst_times([])[0].size == 0
    assert burst_times([5.0])[0].size == 0


@pytest.mark.parametrize(
    ("spikes", "kw", "exc", "match"),
    [
        (np.zeros((2, 2)), {}, ValueError, "spike_times: expected a 1-D array"),
        ("x", {}, TypeError, "spike_times: expected a 1-D array"),
        ([3.0, 1.0], {}, ValueError, "spike_times: expected finite, non-decreasing"),
        ([1.0], {"max_isi": 0.0}, ValueError, "max_isi: expected"),
        ([1.0], {"min_duration": -1.0}, ValueError, "min_duration: expected"),
    ],
)
def test_errors(spikes, kw, exc, match):
    with pytest.raises(exc, match=match):
        burst_times(spikes, **kw)
