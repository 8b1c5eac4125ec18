"""Bad input: each error names the argument and says why (messages pinned)."""

from __future__ import annotations

import time

import pytest
from toys import LinearGaussian

from neurodyn.compute import SimulationStore, ZarrSource, connect, simulate
from neurodyn.priors import BoxUniform

NUM, CHUNK, SEED = 24, 6, 5


@pytest.fixture(scope="module")
def store(tmp_path_factory, client):
    path = tmp_path_factory.mktemp("err") / "s.zarr"
    sim = LinearGaussian()
    simulate(sim, sim.prior, NUM, path, scheduler=client, chunk=CHUNK, seed=SEED)
    return path


class _Other(LinearGaussian):
    name = "another_simulator"


class _NewVersion(LinearGaussian):
    version = "2.0"


def _mixed_cases():
    sim = LinearGaussian()
    return [
        ("simulator", _Other(), sim.prior, NUM, CHUNK, SEED),
        ("simulator_version", _NewVersion(), sim.prior, NUM, CHUNK, SEED),
        ("config", LinearGaussian(noise=0.3), sim.prior, NUM, CHUNK, SEED),
        ("num", sim, sim.prior, NUM + 6, CHUNK, SEED),
        ("chunk", sim, sim.prior, NUM, CHUNK + 2, SEED),
        ("seed", sim, sim.prior, NUM, CHUNK, SEED + 1),
        ("proposal", sim, BoxUniform([-0.5, -0.5], [0.5, 0.5]), NUM, CHUNK, SEED),
    ]


@pytest.mark.parametrize(
    ("key", "sim", "prior", "num", "chunk", "seed"),
    _mixed_cases(),
    ids=[c[0] for c in _mixed_cases()],
)
def test_refuses_to_mix(store, client, key, sim, prior, num, chunk, seed):
    before = SimulationStore.open(store).done().copy()
    with pytest.raises(
        ValueError,
        match=rf"store: expected a store written by the same "
        rf"campaign \(same {key}\).*Refusing to mix",
    ):
        simulate(sim, prior, num, store, scheduler=client, chunk=chunk, seed=seed)
    assert (SimulationStore.open(store).done() == before).all()  # nothing written


def test_refuses_other_feature_order(store, client):
    sim = LinearGaussian()
    sim.feature_names = tuple(reversed(sim.feature_names))
    with pytest.raises(ValueError, match=r"same feature_names"):
        simulate(sim, sim.prior, NUM, store, scheduler=client, chunk=CHUNK, seed=SEED)


def test_unreachable_scheduler_fails_fast(tmp_path):
    sim = LinearGaussian()
    t0 = time.perf_counter()
    with pytest.raises(
        ConnectionError,
        match=r"scheduler: expected a reachable dask "
        r"scheduler, got 'tcp://127.0.0.1:9'.*1 s",
    ):
        simulate(
            sim,
            sim.prior,
            12,
            tmp_path / "s.zarr",
            scheduler="tcp://127.0.0.1:9",
            chunk=6,
            timeout=1.0,
        )
    assert time.perf_counter() - t0 < 15


BAD = [
    ({"num": 0}, ValueError, r"num: expected a finite number > 0, got 0"),
    ({"num": -5}, ValueError, r"num: expected a finite number > 0"),
    ({"num": 2.5}, ValueError, r"num: expected an integer, got 2.5"),
    ({"num": "10"}, TypeError, r"num: expected a number, got '10'"),
    ({"num": True}, TypeError, r"num: expected a number, got True"),
    ({"chunk": 0}, ValueError, r"chunk: expected a finite number > 0, got 0"),
    ({"chunk": 1.5}, ValueError, r"chunk: expected an integer, got 1.5"),
    ({"seed": -1}, ValueError, r"seed: expected a non-negative integer, got -1"),
    ({"seed": 1.0}, TypeError, r"seed: expected a non-negative integer, got 1.0"),
    ({"store": 3}, TypeError, r"store: expected a path \(str or pathlib.Path\), got 'int'"),
    ({"scheduler": 3.5}, TypeError, r"scheduler: expected None, a scheduler address"),
    ({"scheduler": "nohost"}, ValueError, r"scheduler: expected an address like"),
    (
        {"scheduler": "missing.json"},
        FileNotFoundError,
        r"scheduler: expected an existing scheduler file",
    ),
    ({"workers": 0}, ValueError, r"workers: expected a finite number > 0"),
    (
        {"simulator": object()},
        TypeError,
        r"simulator: expected an object following the neurodyn Simulator protocol, got "
        r"'object'\. It lacks",
    ),
    (
        {"prior_or_proposal": "uniform"},
        TypeError,
        r"prior_or_proposal: expected a distribution with sample",
    ),
    (
        {"prior_or_proposal": BoxUniform([0.0], [1.0])},
        ValueError,
        r"prior_or_proposal: expected samples with 2 parameters, got 1\.",
    ),
]


@pytest.mark.parametrize(("kwargs", "exc", "match"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_input(tmp_path, kwargs, exc, match):
    sim = LinearGaussian()
    args = {
        "simulator": sim,
        "prior_or_proposal": sim.prior,
        "num": 12,
        "store": tmp_path / "s.zarr",
        "chunk": 6,
        "seed": 0,
        "workers": None,
    }
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        simulate(
            args.pop("simulator"),
            args.pop("prior_or_proposal"),
            args.pop("num"),
            args.pop("store"),
            show_progress=False,
            **args,
        )
    assert not SimulationStore.exists(tmp_path / "s.zarr")


def test_store_path_is_a_file(tmp_path):
    sim = LinearGaussian()
    f = tmp_path / "file.zarr"
    f.write_text("not a store")
    with pytest.raises(ValueError, match=r"store: expected a zarr directory store"):
        simulate(sim, sim.prior, 12, f, chunk=6)


def test_worker_error_is_reported(client, tmp_path):
    class Broken(LinearGaussian):
        def simulate(self, theta, *, seed=None, output="features"):
            raise RuntimeError("boom")

    sim = Broken()
    with pytest.raises(
        RuntimeError,
        match=r"a chunk failed on a worker \(RuntimeError: boom\)"
        r".*re-run the same command to resume",
    ):
        simulate(sim, sim.prior, 12, tmp_path / "s.zarr", scheduler=client, chunk=6)


def test_open_missing_store(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"store: expected a neurodyn simulation store"):
        ZarrSource(tmp_path / "nothing.zarr")


def test_incomplete_store_refused_for_training(tmp_path, client):
    sim = LinearGaussian(invalid_above=2.0)
    path = tmp_path / "s.zarr"
    simulate(sim, sim.prior, 24, path, scheduler=client, chunk=6)
    SimulationStore.open(path, mode="r+").root["status/done"][1] = 0
    with pytest.raises(
        ValueError,
        match=r"store: expected a finished campaign, got '3 of 4 "
        r"chunks done",
    ):
        ZarrSource(path)
    assert (
        ZarrSource(path, allow_incomplete=True).num_train
        + ZarrSource(path, allow_incomplete=True).num_val
        == 18
    )


def test_connect_timeout_must_be_positive():
    with pytest.raises(ValueError, match=r"timeout: expected a finite number > 0"):
        connect("tcp://127.0.0.1:9", timeout=0)
