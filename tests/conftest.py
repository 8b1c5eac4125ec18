"""Shared fixtures: reference data (skipped cleanly when absent), seeds, matplotlib backend."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("NEURODYN_PROGRESS", "0")
torch.set_num_threads(1)

# Doctests run on the package only: test helpers and conftest modules here are not collected
# as doctest modules (two modules named ``conftest`` would clash).
collect_ignore_glob = ["conftest.py", "*/conftest.py", "*/_*.py", "*/toys.py", "*/*helpers.py"]

#: ``../shared/data`` beside the checkout, or ``NEURODYN_SHARED_DATA``.
_DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARED_DATA = Path(os.environ.get("NEURODYN_SHARED_DATA", _DEFAULT_DATA)).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the reference data; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def load_npz(shared_data):
    """``load_npz(name)`` -> dict of arrays from a shared .npz (never with pickle)."""

    def _load(name: str) -> dict[str, np.ndarray]:
        path = shared_data / name
        if not path.is_file():
            pytest.skip(f"reference file {name} not found")
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    return _load


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests without CUDA even when selected explicitly."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
