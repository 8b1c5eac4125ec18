"""Fixtures of the compute tests: one shared in-process dask client, toy simulators."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from store_helpers import HERE, assert_same_store, read_store  # noqa: F401
from toys import LinearGaussian


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
