"""The ``neurodyn fit`` subcommand and :func:`fit_recording`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from neurodyn.cli import app
from neurodyn.io import Recording
from neurodyn.population import SynapsNet


@pytest.fixture
def recording(tmp_path):
    rng = np.random.default_rng(0)
    x = np.zeros((400, 4))
    for t in range(1, 400):
        x[t] = 0.8 * x[t - 1] + 0.5 * np.roll(x[t - 1], 1) * [1, 0, 0, 0] + rng.normal(size=4)
    path = tmp_path / "rec.npz"
    Recording(x, 10.0, behaviour=rng.normal(size=(400, 1)), kind="dff").save_npz(path)
    return path


def test_fit_cli_writes_model_connectivity_plots_and_summary(recording, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "fit",
            str(recording),
            "-o",
            str(out),
            "--epochs",
            "2",
            "--window",
            "4",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    for name in (
        "model.safetensors",
        "model.json",
        "connectivity.npz",
        "connectivity.png",
        "forecast.png",
        "summary.json",
        "checkpoint.safetensors",
    ):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["loss"] == "mse" and summary["behaviour"] == ["b0"]
    assert summary["epochs_run"] == 2 and np.isfinite(summary["test_mse"])
    model = SynapsNet.load(out / "model.safetensors")
    with np.load(out / "connectivity.npz") as f:
        np.testing.assert_array_equal(f["A"], model.connectivity().numpy())
        assert f["A"].shape == (4, 4)


def test_fit_cli_with_toml_config(recording, tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[synapsnet]\nwindow = 3\nepochs = 1\ndecoder = "gru"\nhidden_dim = 8\n')
    out = tmp_path / "out2"
    res = CliRunner().invoke(
        app,
        [
            "fit",
            str(recording),
            "-o",
            str(out),
            "--config",
            str(cfg),
            "--no-behaviour",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["decoder"] == "gru" and summary["behaviour"] == []
    bad = tmp_path / "bad.toml"
    bad.write_text("[other]\nwindow = 3\n")
    res = CliRunner().invoke(app, ["fit", str(recording), "--config", str(bad)])
    assert res.exit_code != 0
    assert "config: expected a TOML file with a [synapsnet] table" in str(res.exception)


def test_fit_cli_on_nwb_series(tmp_path):
    pynwb = pytest.importorskip("pynwb")
    from datetime import datetime, timezone

    rng = np.random.default_rng(1)
    f = pynwb.NWBFile("cli", "id1", datetime(2024, 1, 1, tzinfo=timezone.utc))
    f.add_acquisition(
        pynwb.TimeSeries(name="act", data=rng.normal(size=(300, 3)), unit="a.u.", rate=20.0)
    )
    f.add_acquisition(
        pynwb.TimeSeries(name="speed", data=rng.normal(size=600), unit="m/s", rate=40.0)
    )
    path = tmp_path / "rec.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    out = tmp_path / "nwb_out"
    res = CliRunner().invoke(
        app,
        [
            "fit",
            str(path),
            "-o",
            str(out),
            "--series",
            "act",
            "--behaviour-series",
            "speed",
            "--epochs",
            "1",
            "--window",
            "4",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_neurons"] == 3 and summary["behaviour"] == ["speed"]
    assert summary["config"]["loss"] == "mse" and summary["rate_hz"] == 20.0
