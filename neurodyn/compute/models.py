"""The simulators the CLI knows by name (``neurodyn simulate MODEL``)."""

from __future__ import annotations

from typing import Any

from neurodyn._runtime import resolve_device
from neurodyn._validation import check_choice

__all__ = ["MODELS", "make_simulator"]

#: CLI model name -> class name in :mod:`neurodyn.simulators`.
MODELS = {"hh": "HodgkinHuxley", "pyloric": "PyloricNetwork"}


def make_simulator(model: str, device: str = "auto") -> Any:
    """A simulator with its default settings: ``"hh"`` or ``"pyloric"`` on ``device``."""
    import neurodyn.simulators as simulators

    check_choice("model", model, tuple(MODELS))
    cls = getattr(simulators, MODELS[model])
    return cls(device=str(resolve_device(device)))
