"""Fixtures of the compute tests: one shared in-process dask client, toy simulators."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from toys import LinearGaussian

from neurodyn.compute import SimulationStore

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def client():
    """One in-process dask client (threads) shared by the tests that need no processes."""
    distributed = pytest.importorskip("distributed")
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0"
    ) as c:
        yield c


@pytest.fixture
def toy() -> LinearGaussian:
    return LinearGaussian()


def read_store(path, group=None) -> dict[str, np.ndarray]:
    """Every array of a store, for comparisons."""
    st = SimulationStore.open(path, group)
    r = st.root
    return {
        name: np.asarray(r[name][:])
        for name in ("theta", "x", "seeds", "status/valid", "status/done", "status/checksum")
    }


def assert_same_store(a, b) -> None:
    ra, rb = read_store(a), read_store(b)
    for name in ra:
        np.testing.assert_array_equal(ra[name], rb[name], err_msg=name)
