"""Helpers shared by the compute tests (a uniquely named module, importable from the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurodyn.compute import SimulationStore

HERE = Path(__file__).parent


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
