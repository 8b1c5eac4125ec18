"""neurodyn.io: NWB (written here with pynwb), npz layouts, spike binning, reference files."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from neurodyn.io import (
    Recording,
    bin_spike_times,
    list_nwb_series,
    load_recording,
    read_npz,
    read_nwb,
    resample,
)

pynwb = pytest.importorskip("pynwb")

RATE = 10.0  # Hz, imaging frame rate of the fixture
T, N = 200, 5


@pytest.fixture(scope="module")
def nwb_file(tmp_path_factory):
    """A small NWB file: DfOverF (5 ROIs, 10 Hz), units (3), position (50 Hz), a speed series."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries, Position
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    rng = np.random.default_rng(0)
    f = NWBFile("fixture", "id0", datetime(2024, 1, 1, tzinfo=timezone.utc))
    device = f.create_device("scope")
    channel = OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0)
    plane = f.create_imaging_plane(
        name="plane",
        optical_channel=channel,
        description="fixture plane",
        device=device,
        excitation_lambda=920.0,
        imaging_rate=RATE,
        indicator="GCaMP6s",
        location="V1",
    )
    seg = ImageSegmentation()
    ps = seg.create_plane_segmentation("rois", plane, "PlaneSegmentation")
    for k in range(N):
        mask = np.zeros((8, 8))
        mask[k, k] = 1.0
        ps.add_roi(image_mask=mask)
    ophys = f.create_processing_module("ophys", "optical physiology")
    ophys.add(seg)
    dff = rng.normal(size=(T, N))
    region = ps.create_roi_table_region("all", region=list(range(N)))
    ophys.add(
        DfOverF(
            pynwb.ophys.RoiResponseSeries(
                name="RoiResponseSeries",
                data=dff,
                rois=region,
                unit="n.a.",
                rate=RATE,
                starting_time=2.0,
            )
        )
    )
    spikes = [np.array([2.05, 2.07, 3.31]), np.array([2.5]), np.array([2.01, 4.99])]
    for s in spikes:
        f.add_unit(spike_times=s)
    beh = f.create_processing_module("behavior", "behaviour")
    pos_t = 2.0 + np.arange(1000) / 50.0
    pos = np.stack([np.sin(pos_t), np.cos(pos_t)], 1)
    position = Position()
    position.create_spatial_series("position", pos, "origin", timestamps=pos_t, unit="m")
    beh.add(position)
    speed = TimeSeries(name="speed", data=2.0 * pos_t, unit="m/s", rate=50.0, starting_time=2.0)
    beh.add(BehavioralTimeSeries(time_series=speed))
    path = tmp_path_factory.mktemp("nwb") / "fixture.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    return path, dff, spikes, (pos_t, pos)


def test_read_dff_with_behaviour(nwb_file):
    path, dff, _, _ = nwb_file
    rec = read_nwb(path, behaviour="auto")
    assert rec.kind == "dff" and rec.rate_hz == RATE and rec.start_time_s == 2.0
    np.testing.assert_allclose(rec.activity, dff)
    assert rec.behaviour_names == ("speed", "position_0", "position_1")  # sorted by path
    t = rec.times()
    np.testing.assert_allclose(rec.behaviour[:, 0], 2.0 * t, rtol=1e-12)
    # linear interpolation of sin/cos sampled at 50 Hz: error <= h^2/8 = 5e-5
    np.testing.assert_allclose(rec.behaviour[:, 1], np.sin(t), atol=6e-5)
    np.testing.assert_allclose(rec.behaviour[:, 2], np.cos(t), atol=6e-5)


def test_read_units_as_counts(nwb_file):
    path, _, spikes, _ = nwb_file
    rec = read_nwb(path, activity="units", bin_size_s=0.5, t_start=2.0, t_stop=5.0)
    assert rec.kind == "counts" and rec.activity.shape == (6, 3) and rec.rate_hz == 2.0
    assert rec.start_time_s == 2.25
    expected = np.zeros((6, 3))
    for u, s in enumerate(spikes):
        for t in s:
            expected[int((t - 2.0) // 0.5), u] += 1
    np.testing.assert_array_equal(rec.activity, expected)
    assert rec.activity.sum() == sum(len(s) for s in spikes)


def test_list_series_and_named_series(nwb_file):
    path = nwb_file[0]
    listing = list_nwb_series(path)
    assert listing["processing/ophys/DfOverF/RoiResponseSeries"] == ("RoiResponseSeries", (T, N))
    assert listing["processing/behavior/BehavioralTimeSeries/speed"][0] == "TimeSeries"
    rec = read_nwb(path, activity="speed")
    assert rec.kind == "trace" and rec.activity.shape == (1000, 1) and rec.rate_hz == 50.0


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"activity": "nothing"}, ValueError, "activity: expected the name of one time series"),
        ({"activity": "units"}, ValueError, "bin_size_s: expected a bin width in seconds"),
        ({"behaviour": "missing"}, ValueError, "behaviour: expected the name of one time series"),
        (
            {"activity": ["RoiResponseSeries", "speed"]},
            ValueError,
            "activity: expected series on one time grid",
        ),
    ],
)
def test_read_nwb_error_table(nwb_file, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        read_nwb(nwb_file[0], **kwargs)


def test_read_nwb_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: expected an existing file"):
        read_nwb(tmp_path / "none.nwb")


def test_bin_spike_times_both_styles_agree():
    rng = np.random.default_rng(1)
    trains = [np.sort(rng.uniform(0, 10, size=k)) for k in (30, 0, 12)]
    counts, labels = bin_spike_times(trains, bin_size_s=0.25, t_start=0.0, t_stop=10.0)
    assert counts.shape == (40, 3) and list(labels) == [0, 1, 2]
    times = np.concatenate(trains)
    units = np.repeat([4, 7, 9], [len(t) for t in trains])
    flat, flat_labels = bin_spike_times(
        times, units=units, bin_size_s=0.25, t_start=0.0, t_stop=10.0
    )
    assert list(flat_labels) == [4, 9]  # a unit without spikes has no label here
    np.testing.assert_array_equal(flat, counts[:, [0, 2]])
    for k, t in enumerate(trains):  # independent reference: numpy histogram per unit
        ref, _ = np.histogram(t, bins=np.linspace(0, 10, 41))
        np.testing.assert_array_equal(counts[:, k], ref)
    fixed, _ = bin_spike_times(
        times, units=units, num_units=10, bin_size_s=0.25, t_start=0.0, t_stop=10.0
    )
    assert fixed.shape == (40, 10) and fixed[:, 7].sum() == 0
    np.testing.assert_array_equal(fixed[:, 4], counts[:, 0])


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        (([[0.1]],), {"bin_size_s": 0.0}, ValueError, "bin_size_s: expected a finite number > 0"),
        ((np.array([0.1, 0.2]),), {"bin_size_s": 0.1}, TypeError, "spike_times: expected a seq"),
        (
            (np.array([0.1, 0.2]),),
            {"bin_size_s": 0.1, "units": [0]},
            ValueError,
            "units: expected one label per spike",
        ),
        (
            (np.array([0.1, 0.2]),),
            {"bin_size_s": 0.1, "units": [0.0, 1.0]},
            TypeError,
            "units: expected integer unit labels",
        ),
        (
            (np.array([0.1, 0.2]),),
            {"bin_size_s": 0.1, "units": [0, 5], "num_units": 3},
            ValueError,
            "units: expected labels in \\[0, 3\\)",
        ),
        (([[0.1, np.nan]],), {"bin_size_s": 0.1}, ValueError, "spike_times: expected finite"),
        (([[]],), {"bin_size_s": 0.1}, ValueError, "spike_times: expected at least one spike"),
        (
            ([[0.5]],),
            {"bin_size_s": 0.1, "t_start": 1.0, "t_stop": 0.5},
            ValueError,
            "t_stop: expected a time > t_start",
        ),
    ],
)
def test_bin_spike_times_error_table(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        bin_spike_times(*args, **kwargs)


def test_resample_and_recording_checks(tmp_path):
    out = resample([0.0, 1.0, 2.0], [[0.0, 1.0], [1.0, 1.0], [4.0, np.nan]], [0.5, 1.5, 3.0])
    np.testing.assert_allclose(out, [[0.5, 1.0], [2.5, np.nan], [np.nan, np.nan]])
    with pytest.raises(ValueError, match="times: expected at least 2 strictly increasing"):
        resample([1.0, 0.0], [1.0, 2.0], [0.5])
    with pytest.raises(ValueError, match="activity: expected a 2-D array"):
        Recording(np.zeros(5), rate_hz=1.0)
    with pytest.raises(ValueError, match="rate_hz: expected a finite number > 0"):
        Recording(np.zeros((5, 2)), rate_hz=0.0)
    with pytest.raises(ValueError, match="behaviour: expected shape \\(5, num_behaviour\\)"):
        Recording(np.zeros((5, 2)), rate_hz=1.0, behaviour=np.zeros((4, 1)))
    with pytest.raises(ValueError, match="neuron_names: expected 2 names"):
        Recording(np.zeros((5, 2)), rate_hz=1.0, neuron_names=("a",))
    rec = Recording(
        np.arange(10.0).reshape(5, 2), 4.0, ("a", "b"), np.ones(5), ("run",), 1.5, "dff", "here"
    )
    back = read_npz(rec.save_npz(tmp_path / "rec.npz"))
    np.testing.assert_array_equal(back.activity, rec.activity)
    np.testing.assert_array_equal(back.behaviour, rec.behaviour)
    assert (
        back.rate_hz,
        back.neuron_names,
        back.behaviour_names,
        back.start_time_s,
        back.kind,
        back.source,
    ) == (4.0, ("a", "b"), ("run",), 1.5, "dff", "here")
    assert load_recording(tmp_path / "rec.npz").num_neurons == 2
    with pytest.raises(ValueError, match=r"activity: expected the defaults for an \.npz file"):
        load_recording(tmp_path / "rec.npz", activity="units")
    np.savez(tmp_path / "bad.npz", foo=np.zeros(3))
    with pytest.raises(ValueError, match="path: expected an npz with 'activity'"):
        read_npz(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=r"path: expected a \.npz or \.nwb file"):
        (tmp_path / "x.txt").write_text("")
        load_recording(tmp_path / "x.txt")


# ------------------------------------------------------------------ reference data (skips)
def test_m1_reach(shared_data, load_npz):
    raw = load_npz("m1_reach_stevenson2011_50ms.npz")
    rec = read_npz(shared_data / "m1_reach_stevenson2011_50ms.npz")
    assert rec.activity.shape == (15536, 171) and rec.rate_hz == pytest.approx(20.0)
    np.testing.assert_array_equal(rec.activity, raw["spikes"].T)
    assert rec.behaviour_names == ("hand_pos_0", "hand_pos_1", "hand_vel_0", "hand_vel_1")
    np.testing.assert_array_equal(rec.behaviour[:, 2:], raw["hand_vel"].T)
    assert rec.start_time_s == raw["t"][0]


@pytest.mark.parametrize(("name", "shape"), [("f1", (4245, 114)), ("f3", (5660, 75))])
def test_zebrafish(shared_data, load_npz, name, shape):
    fname = f"zebrafish_tectum_spont_triplett2018_{name}.npz"
    rec = read_npz(shared_data / fname)
    assert rec.kind == "dff" and rec.activity.shape == shape and rec.rate_hz == 2.2
    np.testing.assert_array_equal(rec.activity, load_npz(fname)["dff"].T)


def test_neuropixels_fixture(shared_data, load_npz):
    raw = load_npz("neuropixels_ibl_fixture_120s.npz")
    with pytest.raises(ValueError, match="bin_size_s: expected a bin width"):
        read_npz(shared_data / "neuropixels_ibl_fixture_120s.npz")
    rec = read_npz(shared_data / "neuropixels_ibl_fixture_120s.npz", bin_size_s=0.05)
    assert rec.num_neurons == 289 == len(np.unique(raw["spike_clusters"]))
    assert rec.activity.sum() == raw["spike_times"].size  # every spike in one bin
    busiest = np.bincount(raw["spike_clusters"]).argmax()
    col = rec.neuron_names.index(str(busiest))
    assert rec.activity[:, col].sum() == (raw["spike_clusters"] == busiest).sum()


def test_rat_hippocampus_with_position(shared_data, load_npz):
    raw = load_npz("rat_hippocampus_lineartrack_nelpy.npz")
    rec = read_npz(shared_data / "rat_hippocampus_lineartrack_nelpy.npz", bin_size_s=0.1)
    assert rec.num_neurons == 31 and rec.activity.sum() == raw["spike_times"].size
    assert rec.behaviour_names == ("pos_x", "pos_y")
    k = rec.num_steps // 2  # position at a bin centre lies between the bracketing samples
    t = rec.times()[k]
    j = np.searchsorted(raw["pos_t"], t)
    lo, hi = sorted(raw["pos_x"][j - 1 : j + 1])
    assert lo - 1e-9 <= rec.behaviour[k, 0] <= hi + 1e-9


def test_lantyer_nwb_2_2_2(shared_data, load_npz):
    path = shared_data / "raw" / "lantyer2018_180817_ME_9_CC.nwb"
    if not path.is_file():
        pytest.skip("raw NWB file absent")
    ref = load_npz("barrel_ctx_interneuron_lantyer2018_CC.npz")
    listing = list_nwb_series(path)
    sweeps = sorted(
        p.rsplit("/", 1)[-1] for p, (kind, _) in listing.items() if kind == "CurrentClampSeries"
    )
    stims = sorted(
        p.rsplit("/", 1)[-1]
        for p, (kind, _) in listing.items()
        if kind == "CurrentClampStimulusSeries"
    )
    assert len(sweeps) == len(stims) == 10
    rec = read_nwb(path, activity=sweeps, behaviour=stims)
    assert rec.activity.shape == (23200, 10) and rec.rate_hz == ref["fs_hz"] == 20000.0
    # volts in the file vs mV in the reference npz (float32 storage)
    np.testing.assert_allclose(rec.activity.T * 1e3, ref["V_mV"], atol=1e-4)
    np.testing.assert_allclose(rec.behaviour.T * 1e12, ref["I_pA"], atol=1e-3)
