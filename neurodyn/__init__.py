"""neurodyn: train deep networks to identify models of neural dynamics.

Two pillars share one package:

* **Mechanistic models** (:mod:`neurodyn.simulators`, :mod:`neurodyn.features`,
  :mod:`neurodyn.inference`, :mod:`neurodyn.diagnostics`, :mod:`neurodyn.analysis`):
  simulate, summarise, neural posterior estimation, diagnose, analyse the posterior.
* **Population dynamics** (:mod:`neurodyn.population`, :mod:`neurodyn.io`): SynapsNet with
  learned functional connectivity, baselines and synthetic networks with known wiring.

Importing :mod:`neurodyn` is cheap: sub-packages are imported on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = (
    "analysis",
    "compute",
    "diagnostics",
    "features",
    "inference",
    "io",
    "plot",
    "population",
    "priors",
    "simulators",
    "studies",
)

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'neurodyn' has no attribute {name!r}")
