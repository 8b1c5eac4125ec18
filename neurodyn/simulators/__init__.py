"""Simulators of mechanistic models with compiled CPU/CUDA kernels.

* :class:`HodgkinHuxley` — eLife 2020 HH neuron (8 parameters), :func:`hh_prior`.
* :class:`PyloricNetwork` — the pyloric network (31 parameters).
* :func:`derive_seeds` — per-simulation seeds shared by every simulator.
* :mod:`neurodyn.simulators.stimuli` — current protocols.
"""

from __future__ import annotations

import importlib
from typing import Any

from neurodyn.simulators._kernels.rng import derive_seeds
from neurodyn.simulators.hodgkin_huxley import (
    HH_PARAM_NAMES,
    HH_PARAM_UNITS,
    HH_TRUE_THETA,
    HodgkinHuxley,
    hh_prior,
)
from neurodyn.simulators.stimuli import current_density, step_current

__all__ = [
    "HH_PARAM_NAMES",
    "HH_PARAM_UNITS",
    "HH_TRUE_THETA",
    "HodgkinHuxley",
    "PyloricNetwork",
    "current_density",
    "derive_seeds",
    "hh_prior",
    "pyloric_prior",
    "step_current",
]

_LAZY = {
    "PyloricNetwork": "neurodyn.simulators.pyloric",
    "pyloric_prior": "neurodyn.simulators.pyloric",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neurodyn.simulators' has no attribute {name!r}")
