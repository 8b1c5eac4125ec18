"""Training from a store (API and CLI), sequential rounds that resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from store_helpers import read_store
from toys import LinearGaussian
from typer.testing import CliRunner

from neurodyn.compute import SimulationStore, simulate
from neurodyn.compute.rounds import prior_from_store, simulate_rounds, train_from_store


@pytest.fixture(scope="module")
def store(tmp_path_factory, client):
    path = tmp_path_factory.mktemp("tr") / "s.zarr"
    sim = LinearGaussian(invalid_above=2.0, noise=0.1)
    simulate(sim, sim.prior, 2000, path, scheduler=client, chunk=500, seed=4)
    return path


def _config(**kw):
    from neurodyn.inference import NPEConfig

    base = {
        "estimator": "mdn",
        "num_components": 1,
        "max_epochs": 30,
        "patience": 5,
        "hidden_features": 32,
        "batch_size": 128,
        "num_threads": 1,
    }
    base.update(kw)
    return NPEConfig(**base)


def test_prior_from_store(store):
    prior = prior_from_store(store)
    sim = LinearGaussian()
    assert torch.equal(prior.low, sim.prior.low) and torch.equal(prior.high, sim.prior.high)
    assert prior.param_names == sim.param_names


def test_train_from_store_saves_a_posterior(store, tmp_path):
    from neurodyn.inference import Posterior

    post = train_from_store(
        store, tmp_path / "post", config=_config(max_epochs=5), show_progress=False
    )
    loaded = Posterior.load(tmp_path / "post")
    x_o = torch.tensor([0.1, 0.4])
    theta = torch.tensor([[0.1, 0.4], [0.3, 0.2]])
    torch.testing.assert_close(loaded.log_prob(theta, x=x_o), post.log_prob(theta, x=x_o))
    info = json.loads((tmp_path / "post" / "training.json").read_text())
    assert info["provenance"]["simulator"] == LinearGaussian.name
    assert info["num_train"] + info["num_val"] == 2000


def test_cli_train(store, tmp_path):
    from neurodyn.cli import app

    out = tmp_path / "cli_post"
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--store",
            str(store),
            "--out",
            str(out),
            "--estimator",
            "mdn",
            "--max-epochs",
            "3",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (out / "weights.safetensors").is_file() and (out / "posterior.json").is_file()


def test_cli_simulate_rejects_unknown_model(tmp_path):
    from neurodyn.cli import app

    res = CliRunner().invoke(
        app, ["simulate", "lif", "--num", "10", "--store", str(tmp_path / "s.zarr")]
    )
    assert res.exit_code != 0
    assert "model: expected one of 'hh', 'pyloric', got 'lif'" in str(res.exception)


def test_rounds_write_one_group_each_and_resume(tmp_path, client):
    sim = LinearGaussian(invalid_above=2.0, noise=0.1)
    x_o = torch.tensor([0.3, -0.2])
    kw = {
        "num_rounds": 2,
        "num_per_round": 1000,
        "scheduler": client,
        "chunk": 250,
        "seed": 9,
        "show_progress": False,
        "config": _config(max_epochs=40, patience=10, batch_size=64),
    }
    path, out = tmp_path / "s.zarr", tmp_path / "out"
    first = simulate_rounds(sim, x_o, path, out, **kw)
    theta = torch.tensor([[0.3, -0.2], [0.25, -0.1]])
    expected = first[-1].log_prob(theta)
    # round 1 is drawn from the prior truncated to the round-0 posterior's HPD region
    t1 = read_store(path, "round_1")["theta"]
    assert (np.abs(t1 - x_o.numpy()).max(0) < 0.8).all() and (t1.std(0) < 0.35).all()
    assert (np.abs(read_store(path, "round_0")["theta"]).max(0) > 0.95).all()
    # interrupt round 1 (a chunk lost, its posterior not yet saved) and resume
    SimulationStore.open(path, "round_1", mode="r+").root["status/done"][2] = 0
    for f in (out / "round_1").iterdir():
        f.unlink()
    again = simulate_rounds(sim, x_o, path, out, **kw)
    np.testing.assert_array_equal(read_store(path, "round_1")["theta"], t1)
    torch.testing.assert_close(again[-1].log_prob(theta), expected)


@pytest.mark.slow
def test_cli_simulate_hh_and_resume(tmp_path):
    """``neurodyn simulate hh`` on local worker processes; the same command again resumes."""
    import subprocess
    import sys

    store = tmp_path / "hh.zarr"
    cmd = [
        sys.executable,
        "-m",
        "neurodyn.cli",
        "simulate",
        "hh",
        "--num",
        "400",
        "--store",
        str(store),
        "--chunk",
        "100",
        "--workers",
        "2",
        "--seed",
        "7",
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "4 simulated now, 0 already done" in first.stdout
    SimulationStore.open(store, mode="r+").root["status/done"][1] = 0
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 simulated now, 3 already done" in again.stdout
    data = read_store(store)
    assert data["theta"].shape[0] == 400 and data["status/done"].all()


def test_train_from_store_ensemble_then_cli_infer(store, tmp_path):
    """``ensemble=2``: two members with seeds 0 and 1, saved as one folder; infer reads it."""
    from neurodyn.cli import app
    from neurodyn.inference import EnsemblePosterior

    out = tmp_path / "ens"
    ens = train_from_store(
        store,
        out,
        config=_config(max_epochs=4),
        show_progress=False,
        ensemble=2,
        checkpoint_dir=tmp_path / "ck",
    )
    assert isinstance(ens, EnsemblePosterior) and ens.num_members == 2
    assert (tmp_path / "ck" / "member_1").is_dir()
    info = json.loads((out / "training.json").read_text())
    assert info["ensemble"] == 2 and len(info["summary"]) == 2
    loaded = EnsemblePosterior.load(out)
    theta = torch.tensor([[0.1, 0.4], [0.3, 0.2]])
    x_o = torch.tensor([0.1, 0.4])
    torch.testing.assert_close(loaded.log_prob(theta, x=x_o), ens.log_prob(theta, x=x_o))
    # the members differ (seed 1 is not seed 0)
    a, b = (m.log_prob(theta, x=x_o) for m in ens.members)
    assert not torch.allclose(a, b)
    runner = CliRunner()
    res = runner.invoke(
        app, ["infer", str(out), "--x-o", "0.1,0.4", "-n", "20", "--out", str(tmp_path / "s.npy")]
    )
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "s.npy").shape == (20, 2)
    res = runner.invoke(app, ["infer", str(out), "--x-o", "0.1,0.4,0.5", "-n", "5"])
    assert res.exit_code != 0 and "x_o" in str(res.exception)


def test_cli_train_ensemble(store, tmp_path):
    from neurodyn.cli import app

    out = tmp_path / "cli_ens"
    args = ["train", "--store", str(store), "--out", str(out), "--estimator", "mdn"]
    res = CliRunner().invoke(app, [*args, "--max-epochs", "2", "--ensemble", "2"])
    assert res.exit_code == 0, res.output
    assert (out / "ensemble.json").is_file() and (
        out / "member_1" / "weights.safetensors"
    ).is_file()
    res = CliRunner().invoke(app, [*args, "--max-epochs", "2", "--ensemble", "0"])
    assert res.exit_code != 0 and "ensemble" in str(res.exception)
