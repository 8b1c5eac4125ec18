"""ZarrSource and OnlineSource: the BatchSource contract, against the store's own content."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from store_helpers import read_store
from toys import LinearGaussian

from neurodyn.compute import OnlineSource, SimulationStore, ZarrSource, simulate
from neurodyn.compute.sources import validation_mask
from neurodyn.inference.data import BatchSource

NUM, CHUNK = 400, 50


@pytest.fixture(scope="module")
def store(tmp_path_factory, client):
    path = tmp_path_factory.mktemp("src") / "s.zarr"
    sim = LinearGaussian(num_nuisance=1)
    simulate(sim, sim.prior, NUM, path, scheduler=client, chunk=CHUNK, seed=2)
    return path


def _rows(batches) -> np.ndarray:
    parts = [np.concatenate([t.numpy(), x.numpy()], axis=1) for t, x in batches]
    return np.concatenate(parts)


def _sorted(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def test_protocol_and_counts(store):
    src = ZarrSource(store, validation_fraction=0.2)
    assert isinstance(src, BatchSource)
    valid = read_store(store)["status/valid"]
    assert src.num_train + src.num_val == valid.sum()
    assert src.num_invalid == (~valid).sum() > 0
    assert 0.1 * valid.sum() < src.num_val < 0.3 * valid.sum()
    assert (src.num_params, src.num_features) == (2, 3)


def test_epoch_yields_each_training_row_once(store):
    src = ZarrSource(store, validation_fraction=0.2, shuffle_buffer=120)
    data = read_store(store)
    val = validation_mask(0, NUM, 0.2, key=0)
    keep = data["status/valid"] & ~val
    expected = np.concatenate([data["theta"][keep], data["x"][keep]], axis=1)
    g = torch.Generator().manual_seed(1)
    batches = list(src.train_batches(32, g, "cpu"))
    assert all(len(t) == 32 for t, _ in batches[:-1]) and 0 < len(batches[-1][0]) <= 32
    got = _rows(batches)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(_sorted(got), _sorted(expected.astype(np.float32)))
    # rows of several chunks are mixed inside one batch (random chunk order + buffer)
    first = batches[0][0].numpy()
    chunk_of = {tuple(r): i // CHUNK for i, r in enumerate(data["theta"])}
    assert len({chunk_of[tuple(r)] for r in first}) >= 2


def test_shuffle_depends_on_generator_only(store):
    src = ZarrSource(store, shuffle_buffer=100)
    a = _rows(src.train_batches(64, torch.Generator().manual_seed(5), "cpu"))
    b = _rows(src.train_batches(64, torch.Generator().manual_seed(5), "cpu"))
    c = _rows(src.train_batches(64, torch.Generator().manual_seed(6), "cpu"))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(_sorted(a), _sorted(c))


def test_validation_part_fixed_disjoint_and_streamable(store):
    src = ZarrSource(store, validation_fraction=0.2)
    v1 = _rows(src.val_batches(16, "cpu"))
    v2 = _rows(src.val_batches(16, "cpu"))
    np.testing.assert_array_equal(v1, v2)
    assert len(v1) == src.num_val
    streamed = ZarrSource(store, validation_fraction=0.2, val_cache_bytes=1)
    np.testing.assert_array_equal(_rows(streamed.val_batches(16, "cpu")), v1)
    train = _rows(src.train_batches(64, torch.Generator().manual_seed(0), "cpu"))
    assert not set(map(tuple, train)) & set(map(tuple, v1))


def test_moments_exact_and_sampled(store):
    data = read_store(store)
    keep = data["status/valid"] & ~validation_mask(0, NUM, 0.1, key=0)
    theta, x = data["theta"][keep].astype(np.float64), data["x"][keep].astype(np.float64)
    exact = ZarrSource(store, moment_samples=10**6).moments()
    for got, ref in zip(exact, (theta.mean(0), theta.std(0), x.mean(0), x.std(0)), strict=True):
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-6)
    sampled = ZarrSource(store, moment_samples=100).moments()  # a few random chunks
    np.testing.assert_allclose(sampled[1].numpy(), theta.std(0), rtol=0.25)


def test_groups_are_combined(tmp_path, client):
    sim = LinearGaussian(invalid_above=2.0)
    path = tmp_path / "r.zarr"
    for r, n in enumerate((60, 40)):
        simulate(sim, sim.prior, n, path, scheduler=client, chunk=20, seed=r, group=f"round_{r}")
    src = ZarrSource(path, ["round_0", "round_1"], validation_fraction=0.25)
    assert src.num_train + src.num_val == 100
    rows = _rows(src.train_batches(7, torch.Generator().manual_seed(0), "cpu"))
    assert len(rows) == src.num_train
    assert SimulationStore.open(path, "round_1").num == 40


def test_npe_trains_from_store(store, tmp_path, client):
    """NPE on a ZarrSource recovers the analytic posterior mean of the linear-Gaussian toy."""
    from neurodyn.inference import NPE, NPEConfig

    sim = LinearGaussian(invalid_above=2.0, noise=0.1)
    path = tmp_path / "t.zarr"
    simulate(sim, sim.prior, 3000, path, scheduler=client, chunk=500, seed=0)
    cfg = NPEConfig(
        estimator="mdn",
        num_components=1,
        max_epochs=40,
        patience=5,
        hidden_features=32,
        batch_size=128,
        num_threads=1,
    )
    npe = NPE(sim.prior, cfg)
    npe.train(source=ZarrSource(path, shuffle_buffer=1000), show_progress=False)
    post = npe.build_posterior()
    x_o = torch.tensor([0.2, -0.3])
    s = post.sample((2000,), x=x_o)
    np.testing.assert_allclose(s.mean(0).numpy(), x_o.numpy(), atol=0.03)
    np.testing.assert_allclose(s.std(0).numpy(), [0.1, 0.1], rtol=0.3)


def test_online_source_contract():
    sim = LinearGaussian(invalid_above=0.5)
    src = OnlineSource(sim, sim.prior, 500, num_val=200, num_moments=4000, sim_batch=128)
    assert isinstance(src, BatchSource) and src.num_train is None
    g = torch.Generator().manual_seed(0)
    e1 = _rows(src.train_batches(64, g, "cpu"))
    e2 = _rows(src.train_batches(64, g, "cpu"))
    assert np.isfinite(e1).all() and 0.6 * 500 < len(e1) < 0.9 * 500  # ~25 % invalid dropped
    assert not set(map(tuple, e1)) & set(map(tuple, e2))  # fresh simulations every epoch
    again = _rows(src.train_batches(64, torch.Generator().manual_seed(0), "cpu"))
    np.testing.assert_array_equal(again, e1)
    v = _rows(src.val_batches(50, "cpu"))
    np.testing.assert_array_equal(v, _rows(src.val_batches(50, "cpu")))
    assert len(v) == src.num_val < 200
    # moments of theta uniform on [-1, 0.5] x [-1, 1] (valid region): mean, std analytic
    mt, st_, _, _ = src.moments()
    np.testing.assert_allclose(mt.numpy(), [-0.25, 0.0], atol=0.03)
    np.testing.assert_allclose(st_.numpy(), [1.5 / 12**0.5, 2 / 12**0.5], rtol=0.05)


def test_online_source_trains_npe():
    from neurodyn.inference import NPE, NPEConfig

    sim = LinearGaussian(invalid_above=2.0, noise=0.1)
    cfg = NPEConfig(
        estimator="mdn",
        num_components=1,
        max_epochs=15,
        patience=15,
        hidden_features=32,
        batch_size=128,
        num_threads=1,
    )
    npe = NPE(sim.prior, cfg)
    npe.train(source=OnlineSource(sim, sim.prior, 1000, num_val=300), show_progress=False)
    s = npe.build_posterior().sample((2000,), x=torch.tensor([0.2, -0.3]))
    np.testing.assert_allclose(s.mean(0).numpy(), [0.2, -0.3], atol=0.04)


def _run_limited(*args: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    from store_helpers import HERE

    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="1", NEURODYN_PROGRESS="0")
    proc = subprocess.run(
        [sys.executable, str(HERE / "_memlimit_train.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=3000,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_store_larger_than_memory_limit_trains_like_in_memory(tmp_path):
    """Issue 7: a store of more data than a memory limit allows trains (streamed) to the
    same C2ST against the analytic posterior as in-memory training on the same data."""
    from distributed import Client

    from neurodyn.diagnostics.c2st import c2st
    from neurodyn.inference import Posterior

    sim = LinearGaussian(invalid_above=2.0, noise=0.1, num_nuisance=32)
    path = tmp_path / "big.zarr"
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as c:
        simulate(sim, sim.prior, 1_000_000, path, scheduler=c, chunk=25_000, seed=1)
    headroom_mb, epochs = "48", "3"
    control = _run_limited(str(path), str(tmp_path / "none"), "load_all", headroom_mb, epochs)
    assert control["data_bytes"] > 2 * control["limit_headroom"]
    assert control["loaded"] is None  # the whole store does not fit under the limit
    stream = _run_limited(str(path), str(tmp_path / "stream"), "stream", headroom_mb, epochs)
    memory = _run_limited(str(path), str(tmp_path / "memory"), "memory", headroom_mb, epochs)
    # the two splits differ (hash vs permutation) but hold the same number of rows
    assert abs(stream["num_train"] - memory["num_train"]) < 0.005 * memory["num_train"]
    g = torch.Generator().manual_seed(0)
    scores = {}
    for x0 in ([0.2, -0.3], [-0.5, 0.4]):
        x_o = torch.tensor(x0 + [0.0] * 32)
        ref = torch.tensor(x0) + 0.1 * torch.randn(3000, 2, generator=g)
        for name in ("stream", "memory"):
            post = Posterior.load(tmp_path / name)
            torch.manual_seed(1)
            s = post.sample((3000,), x=x_o)
            scores[(name, tuple(x0))] = c2st(ref, s, seed=0)
    print(scores, stream, memory)
    for x0 in ([0.2, -0.3], [-0.5, 0.4]):
        a, b = scores[("stream", tuple(x0))], scores[("memory", tuple(x0))]
        assert a < 0.6 and b < 0.6
        assert abs(a - b) < 0.05
