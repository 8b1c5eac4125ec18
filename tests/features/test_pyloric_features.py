"""pyloric_summary on synthetic traces with analytically known bursts, and its NaN rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.features.pyloric import (
    ELIFE_FEATURE_NAMES,
    PNAS_FEATURE_NAMES,
    RHYTHM_CLASSES,
    feature_columns,
    pyloric_summary,
)

DT = 0.025
T_MAX = 6000.0


def _neuron(bursts, n_spikes, isi=10.0, plateau_ms=0.0):
    """Trace (mV) at -60 with Gaussian spikes (+80 mV, sd 0.3 ms) starting at each burst time."""
    t = np.arange(0.0, T_MAX, DT)
    v = np.full_like(t, -60.0)
    for b in bursts:
        for k in range(n_spikes):
            c = b + k * isi
            sl = slice(int((c - 3) / DT), int((c + 3) / DT))
            v[sl] += 80.0 * np.exp(-0.5 * ((t[sl] - c) / 0.3) ** 2)
        if plateau_ms:
            end = b + (n_spikes - 1) * isi
            sl = slice(int((end + 5) / DT), int((end + 5 + plateau_ms) / DT))
            v[sl] = np.maximum(v[sl], -20.0)
    return v


def _network(ab=None, lp=None, py=None, period=1000.0):
    starts = np.arange(500.0, T_MAX - 600.0, period)
    ab = _neuron(starts, 21) if ab is None else ab  # 200 ms bursts
    lp = _neuron(starts + 400.0, 16) if lp is None else lp  # 150 ms
    py = _neuron(starts + 650.0, 26) if py is None else py  # 250 ms
    return np.stack([ab, lp, py], -1)


def test_triphasic_rhythm_features_are_analytic():
    x = pyloric_summary(_network(), t_burn_in=200.0, order="pnas", extras=True)[0].numpy()
    names = dict(zip(feature_columns("pnas", True)[1], x, strict=True))
    assert names["cycle_period"] == pytest.approx(1000.0, abs=1e-9)
    assert names["burst_duration_ABPD"] == pytest.approx(200.0, abs=1e-9)
    assert names["burst_duration_LP"] == pytest.approx(150.0, abs=1e-9)
    assert names["burst_duration_PY"] == pytest.approx(250.0, abs=1e-9)
    assert names["duty_cycle_LP"] == pytest.approx(0.15)
    assert names["start_phase_LP"] == pytest.approx(0.40)
    assert names["start_phase_PY"] == pytest.approx(0.65)
    assert names["start_to_start_ABPD_LP"] == pytest.approx(400.0)
    assert names["start_to_start_LP_PY"] == pytest.approx(250.0)
    assert names["end_to_start_ABPD_LP"] == pytest.approx(200.0)
    assert names["end_to_start_LP_PY"] == pytest.approx(100.0)
    assert names["phase_gap_LP_PY"] == pytest.approx(0.10)
    for n in ("ABPD", "LP", "PY"):
        assert names[f"plateau_duration_{n}"] == 2.5  # spikes only: "no plateau" = 100 samples
        assert names[f"num_bursts_{n}"] == 5
    assert names["num_spikes_ABPD"] == 5 * 21
    assert names["pyloric_like"] == 1.0
    assert RHYTHM_CLASSES[int(names["rhythm_class"])] == "triphasic"
    elife = pyloric_summary(_network(), t_burn_in=200.0)[0].numpy()
    assert dict(zip(ELIFE_FEATURE_NAMES, elife, strict=True))["start_to_start_ABPD_PY"] == (
        pytest.approx(650.0)
    )


def test_plateau_duration_measured_on_subsampled_grid():
    starts = np.arange(500.0, T_MAX - 600.0, 1000.0)
    lp = _neuron(starts + 400.0, 16, plateau_ms=30.0)
    x = pyloric_summary(_network(lp=lp), t_burn_in=200.0, order="pnas")[0].numpy()
    # reference rule: the last burst's block ends at the last spike, so its plateau (after the
    # last spike) is not seen and it contributes a spike-width run (~1 ms): mean of 4x30 and ~1
    assert x[16] == pytest.approx((4 * 30.0 + 1.0) / 5, abs=0.5)  # LP plateau (ms)
    assert x[15] == 2.5


def test_nan_rules_silent_lp_and_single_pacemaker_burst():
    silent = np.full(int(T_MAX / DT), -60.0)
    x = pyloric_summary(_network(lp=silent), t_burn_in=200.0, order="pnas", extras=True)[0]
    x = x.numpy()
    assert np.isfinite(x[0]) and np.isnan(x[2]) and np.isnan(x[5]) and np.isnan(x[16])
    assert np.isnan(x[7:15]).all()  # not triphasic: all phase features NaN
    assert RHYTHM_CLASSES[int(x[-1])] == "not_bursting"
    one = _neuron([1000.0], 21)
    y = pyloric_summary(_network(ab=one), t_burn_in=200.0, order="pnas", extras=True)[0].numpy()
    assert np.isnan(y[0]) and np.isfinite(y[1]) and np.isnan(y[4:15]).all()


def test_short_bursts_dropped_by_elife_but_kept_by_pnas_threshold():
    starts = np.arange(500.0, T_MAX - 600.0, 1000.0)
    lp = _neuron(starts + 400.0, 5, isi=11.25)  # 45 ms bursts: > 40 ms, not > 50 ms
    pnas = pyloric_summary(_network(lp=lp), t_burn_in=200.0, order="pnas")[0].numpy()
    elife = pyloric_summary(_network(lp=lp), t_burn_in=200.0, order="elife")[0].numpy()
    assert pnas[2] == pytest.approx(45.0)
    assert np.isnan(elife[2]) and np.isnan(elife[4])


def test_irregular_rhythm_class():
    starts = np.arange(500.0, T_MAX - 600.0, 1000.0)
    lp = _neuron(np.concatenate([starts + 300.0, starts + 700.0]), 8)  # two LP bursts/cycle
    x = pyloric_summary(_network(lp=lp), t_burn_in=200.0, extras=True)[0].numpy()
    assert RHYTHM_CLASSES[int(x[-1])] == "irregular"
    assert np.isnan(x[4:8]).all()


def test_single_trace_and_tensor_input():
    v = torch.from_numpy(_network())
    a = pyloric_summary(v, t_burn_in=200.0)
    b = pyloric_summary(v[None].float(), t_burn_in=200.0)
    assert a.shape == (1, 18) and len(PNAS_FEATURE_NAMES) == 18
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("traces", "kw", "exc", "match"),
    [
        (np.zeros((2, 100, 2)), {}, ValueError, r"traces: expected shape \(num, num_steps, 3\)"),
        (np.zeros((1, 100, 3)), {}, ValueError, "traces: expected more than"),
        ("abc", {}, TypeError, "traces: expected an array"),
        (np.zeros((1, 50000, 3)), {"order": "x"}, ValueError, "order: expected"),
        (np.zeros((1, 50000, 3)), {"dt": 0.0}, ValueError, "dt: expected"),
        (np.zeros((1, 50000, 3)), {"t_burn_in": -1.0}, ValueError, "t_burn_in: expected"),
    ],
)
def test_errors(traces, kw, exc, match):
    with pytest.raises(exc, match=match):
        pyloric_summary(traces, **kw)
