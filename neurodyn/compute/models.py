"""The simulators the CLI knows by name (``neurodyn simulate MODEL``)."""

from __future__ import annotations

import importlib
from typing import Any

from neurodyn._runtime import resolve_device
from neurodyn._validation import check_choice

__all__ = ["MODELS", "make_simulator"]

#: CLI model name -> (module, class) of the simulator.
MODELS = {
    "hh": ("neurodyn.simulators.hodgkin_huxley", "HodgkinHuxley"),
    "pyloric": ("neurodyn.simulators.pyloric", "PyloricNetwork"),
}


def make_simulator(model: str, device: str = "auto") -> Any:
    """A simulator with its default settings: ``"hh"`` or ``"pyloric"`` on ``device``."""
    check_choice("model", model, tuple(MODELS))
    module, name = MODELS[model]
    cls = getattr(importlib.import_module("neurodyn.simulators"), name, None)
    if cls is None:
        cls = getattr(importlib.import_module(module), name)
    return cls(device=str(resolve_device(device)))
