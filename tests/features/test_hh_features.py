"""hh_summary against the eLife feature code's stored outputs (synthetic and Allen cells)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.features import HH_FEATURE_NAMES, hh_feature_names, hh_summary


@pytest.mark.parametrize("key", ["noisefree", "seed1", "seed2", "elife_xo"])
def test_elife_reference_features(load_npz, key):
    ref = load_npz("hh_reference_outputs.npz")
    x = hh_summary(ref[f"V_{key}"], dt=0.01, t_on=10.0, t_off=110.0)
    np.testing.assert_allclose(x[0], ref[f"stats_{key}"], rtol=1e-12, atol=1e-12)
    assert next(iter(ref["stat_names"])) == "n_spikes" and len(HH_FEATURE_NAMES) == 7


def test_allen_recordings_with_junction_correction(load_npz):
    data = load_npz("elife2020_allen_cells_10sweeps.npz")
    rows = []
    for i, (cid, sw) in enumerate(zip(data["cell_id"], data["sweep"], strict=True)):
        v = data[f"V_mV_{cid}_{sw}"].astype(np.float64) - 14.0
        rows.append(
            hh_summary(
                v,
                dt=float(data["dt_ms"][i]),
                t_on=float(data["t_on_ms"][i]),
                t_off=float(data["t_off_ms"][i]),
            )[0]
        )
    np.testing.assert_allclose(
        np.array(rows), data["stats7_with_junction_minus14mV"], rtol=1e-12, atol=1e-12
    )
    assert [r[0] for r in rows] == [12, 25, 20, 11, 12, 18, 13, 25, 22, 22]


def test_analytic_features_of_a_known_trace():
    dt, t_on, t_off = 0.1, 10.0, 110.0
    t = np.arange(1201) * dt
    v = np.where(t < t_on, -70.0, -60.0)
    for k, tk in enumerate(np.arange(20.0, 100.0, 10.0)):  # 8 spikes, one 0.3 ms doublet
        i = round(tk / dt)
        v[i : i + 3] = [0.0, 20.0, -20.0]
        if k == 3:
            v[i + 3 : i + 6] = [10.0, 15.0, -30.0]
    x = hh_summary(v, dt=dt, t_on=t_on, t_off=t_off)[0]
    assert x[0] == 8  # the doublet's second peak is within 0.5 ms: dropped
    assert x[1] == pytest.approx(-70.0) and x[2] == pytest.approx(0.0)
    stim = v[(t > t_on) & (t < t_off)]
    assert x[3] == pytest.approx(stim.mean()) and x[4] == pytest.approx(stim.var())
    z = (stim - stim.mean()) / stim.std()
    assert x[5] == pytest.approx(np.mean(z**3)) and x[6] == pytest.approx(np.mean(z**4))


def test_feature_sets_tensors_and_nan_rows():
    rng = np.random.default_rng(0)
    v = -65 + rng.standard_normal((3, 1201))
    v[2, 500] = np.nan
    x7 = hh_summary(v, dt=0.1, t_on=10.0, t_off=110.0)
    x13 = hh_summary(v, dt=0.1, t_on=10.0, t_off=110.0, feature_set="extended13")
    assert x13.shape == (3, 13) and np.isnan(x13[2]).all() and np.isnan(x7[2]).all()
    np.testing.assert_allclose(x13[:2, [0, 6, 7, 8, 9, 10, 11]], x7[:2])
    assert np.all(np.abs(x13[:2, 1:6]) < 0.2)  # white noise: small autocorrelations
    for k in (1, 4):
        xk = hh_summary(v, dt=0.1, t_on=10.0, t_off=110.0, feature_set=f"elife{k}")
        np.testing.assert_array_equal(xk, x7[:, :k])
        assert hh_feature_names(f"elife{k}") == HH_FEATURE_NAMES[:k]
    xt = hh_summary(torch.as_tensor(v), dt=0.1, t_on=10.0, t_off=110.0)
    assert isinstance(xt, torch.Tensor)
    np.testing.assert_array_equal(xt.numpy(), x7)


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        (dict(feature_set="elife3"), "feature_set: expected one of"),
        (dict(dt=0.0), "dt: expected a finite number > 0"),
        (dict(t_on=50.0, t_off=20.0), "t_off: expected t_off > t_on"),
        (dict(t_on=500.0, t_off=900.0), "t_on: expected windows with samples"),
        (dict(v=np.zeros((2, 2, 10))), "v: expected a 1-D trace"),
    ],
)
def test_hh_summary_errors(kw, msg):
    args = dict(v=np.zeros(1201), dt=0.1, t_on=10.0, t_off=110.0) | kw
    v = args.pop("v")
    with pytest.raises(ValueError) as err:
        hh_summary(v, **args)
    assert str(err.value).startswith(msg)
