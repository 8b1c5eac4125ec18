"""Population dynamics: SynapsNet with learned functional connectivity.

* :class:`SynapsNet`, :class:`SynapsNetConfig`, :func:`fit_synapsnet`: the model, its settings
  and the one-call fit over one or many sessions.
* :mod:`neurodyn.population.splits`: chronological splits and training-split z-scoring.
"""

from __future__ import annotations

from neurodyn.population.config import SynapsNetConfig
from neurodyn.population.model import SynapsNet
from neurodyn.population.splits import chronological_split, zscore_stats
from neurodyn.population.training import fit_synapsnet

__all__ = [
    "SynapsNet",
    "SynapsNetConfig",
    "chronological_split",
    "fit_synapsnet",
    "zscore_stats",
]
