"""Campaigns: store content against direct simulation, resume, kills, corrupt chunks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from store_helpers import HERE, assert_same_store, read_store
from toys import LinearGaussian

from neurodyn.compute import SimulationStore, draw_theta, simulate
from neurodyn.compute.campaign import _derive_seeds

NUM, CHUNK, SEED = 60, 6, 11


@pytest.fixture(scope="module")
def reference(tmp_path_factory, client) -> Path:
    """An uninterrupted campaign (the expected content of every resumed store)."""
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    sim = LinearGaussian()
    res = simulate(sim, sim.prior, NUM, path, scheduler=client, chunk=CHUNK, seed=SEED)
    assert res.chunks_run == NUM // CHUNK and res.chunks_skipped == 0
    return path


def _wait_for_chunks(path: Path, at_least: int, timeout: float = 120.0) -> int:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if SimulationStore.exists(path):
            try:
                n = int(SimulationStore.open(path).done().sum())
            except Exception:  # the store is being created
                n = 0
            if n >= at_least:
                return n
        time.sleep(0.05)
    raise AssertionError(f"no {at_least} chunks done within {timeout} s")


def test_store_holds_the_direct_simulation(reference):
    """θ per chunk from (seed, k); x equals one direct call with the global seeds."""
    derive_seeds = _derive_seeds()
    sim = LinearGaussian()
    data = read_store(reference)
    expected_theta = np.concatenate(
        [draw_theta(sim.prior, SEED, k, CHUNK) for k in range(NUM // CHUNK)]
    )
    np.testing.assert_array_equal(data["theta"], expected_theta)
    seeds = derive_seeds(SEED, NUM)
    np.testing.assert_array_equal(data["seeds"], seeds)
    x = sim.simulate(torch.from_numpy(expected_theta), seed=seeds).float().numpy()
    np.testing.assert_array_equal(data["x"], x)
    np.testing.assert_array_equal(data["status/valid"], np.isfinite(x).all(1))
    assert 0 < (~data["status/valid"]).sum() < NUM  # the toy has invalid simulations
    assert data["status/done"].tolist() == [1] * (NUM // CHUNK)
    prov = SimulationStore.open(reference).provenance
    assert prov["simulator"] == sim.name and prov["simulator_version"] == sim.version
    assert prov["config"] == sim.config() and prov["feature_names"] == list(sim.feature_names)
    assert prov["seed"] == SEED and "created" in prov and "neurodyn_version" in prov


def test_summary_counts_invalid(reference, client):
    sim = LinearGaussian()
    res = simulate(sim, sim.prior, NUM, reference, scheduler=client, chunk=CHUNK, seed=SEED)
    valid = read_store(reference)["status/valid"]
    assert res.chunks_run == 0 and res.chunks_skipped == NUM // CHUNK
    assert (res.num_valid, res.num_invalid) == (int(valid.sum()), int((~valid).sum()))
    assert f"{res.num_invalid} invalid" in str(res)


def test_resume_runs_only_missing_chunks(reference, client, tmp_path):
    sim = LinearGaussian()
    path = tmp_path / "s.zarr"
    simulate(sim, sim.prior, NUM, path, scheduler=client, chunk=CHUNK, seed=SEED)
    st = SimulationStore.open(path, mode="r+")
    # a crash mid-chunk: chunk 3 not flagged, half its x overwritten with garbage
    st.root["status/done"][3] = 0
    st.root["x"][18:21] = 7.0
    st.root["status/done"][7] = 0
    res = simulate(sim, sim.prior, NUM, path, scheduler=client, chunk=CHUNK, seed=SEED)
    assert res.chunks_run == 2 and res.chunks_corrupt == ()
    assert_same_store(path, reference)


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage_values"])
def test_corrupt_chunk_is_detected_and_rerun(reference, client, tmp_path, damage):
    sim = LinearGaussian()
    path = tmp_path / "s.zarr"
    simulate(sim, sim.prior, NUM, path, scheduler=client, chunk=CHUNK, seed=SEED)
    chunk_file = path / "x" / "c" / "4" / "0"
    if damage == "truncate":
        chunk_file.write_bytes(chunk_file.read_bytes()[:10])
    elif damage == "delete":
        chunk_file.unlink()  # reads back as the fill value (NaN) without any error
    else:
        SimulationStore.open(path, mode="r+").root["x"][24:30] = 0.5  # done flag still set
    res = simulate(sim, sim.prior, NUM, path, scheduler=client, chunk=CHUNK, seed=SEED)
    assert res.chunks_corrupt == (4,) and res.chunks_run == 1
    assert_same_store(path, reference)


def test_partition_does_not_matter(reference, tmp_path):
    """The same campaign on a different cluster (1 thread) gives the same store."""
    from distributed import Client

    sim = LinearGaussian()
    path = tmp_path / "s.zarr"
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as one:
        simulate(sim, sim.prior, NUM, path, scheduler=one, chunk=CHUNK, seed=SEED)
    assert_same_store(path, reference)


def test_kill_campaign_process_then_resume(reference, client, tmp_path):
    """SIGKILL the driver (and its local workers) mid-run; resuming completes it exactly."""
    path = tmp_path / "s.zarr"
    cmd = [
        sys.executable,
        str(HERE / "_campaign_script.py"),
        str(path),
        str(NUM),
        str(CHUNK),
        str(SEED),
        "0.4",
        "2",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", NEURODYN_PROGRESS="0")
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        n_done = _wait_for_chunks(path, 2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, its scheduler and its workers
        out = proc.communicate(timeout=30)[0].decode()
    st = SimulationStore.open(path)
    n_done = int(st.done().sum())
    assert 2 <= n_done < NUM // CHUNK, out  # really interrupted mid-run
    sim = LinearGaussian()
    res = simulate(sim, sim.prior, NUM, path, scheduler=client, chunk=CHUNK, seed=SEED)
    assert res.chunks_run + res.chunks_skipped == NUM // CHUNK
    assert res.chunks_skipped >= n_done
    assert_same_store(path, reference)


def test_kill_worker_process_mid_run(reference, tmp_path):
    """SIGKILL the only worker process mid-run; its nanny restarts it, dask re-runs the lost
    chunk, the campaign completes and the store is exact."""
    import cloudpickle
    import toys
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(toys)
    path = tmp_path / "s.zarr"
    sim = LinearGaussian(delay=0.4)
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
        ) as cluster,
        Client(cluster) as c,
    ):
        pids = list(c.run(os.getpid).values())
        killed = []

        def killer():
            _wait_for_chunks(path, 2)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        res = simulate(sim, sim.prior, NUM, path, scheduler=c, chunk=CHUNK, seed=SEED)
        thread.join(timeout=60)
        assert killed, "the worker was not killed during the campaign"
        assert res.chunks_run == NUM // CHUNK
        assert pids[0] not in c.run(os.getpid).values()  # the nanny started a new worker
    assert_same_store(path, reference)


@pytest.mark.slow
def test_kill_and_resume_1e5_hh(tmp_path):
    """Issue 7's kill test at full size: 10^5 HH simulations, killed twice, resumed."""
    from neurodyn.compute.models import make_simulator

    num, chunk, seed = 100_000, 5_000, 3
    killed = tmp_path / "killed.zarr"
    ref = tmp_path / "ref.zarr"
    sim = make_simulator("hh", "cpu")
    code = (
        "import sys\nfrom neurodyn.compute.models import make_simulator\n"
        "from neurodyn.compute import simulate\n"
        "if __name__ == '__main__':\n    s = make_simulator('hh', 'cpu')\n"
        f"    simulate(s, s.prior, {num}, sys.argv[1], chunk={chunk}, seed={seed}, "
        "workers=2, show_progress=False)\n"
    )
    script = tmp_path / "campaign.py"
    script.write_text(code)
    for at_least in (2, 8):
        proc = subprocess.Popen([sys.executable, str(script), str(killed)], start_new_session=True)
        try:
            _wait_for_chunks(killed, at_least, timeout=1200)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        assert not SimulationStore.open(killed).is_complete()
    simulate(sim, sim.prior, num, killed, chunk=chunk, seed=seed, workers=2)
    simulate(sim, sim.prior, num, ref, chunk=chunk, seed=seed, workers=2)
    assert_same_store(killed, ref)
    assert read_store(killed)["theta"].shape == (num, sim.num_params)
