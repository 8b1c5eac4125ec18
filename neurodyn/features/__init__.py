"""Summary features of simulated and recorded traces.

HH (eLife 2020): :func:`hh_summary`, spike detection :func:`spike_times`.
Pyloric network (eLife 2020 / PNAS 2022): :func:`pyloric_summary` (18 rhythm features).
"""

from neurodyn.features.hh import (
    HH_EXTENDED_FEATURE_NAMES,
    HH_FEATURE_NAMES,
    HH_FEATURE_SETS,
    hh_feature_names,
    hh_summary,
)
from neurodyn.features.pyloric import (
    ELIFE_FEATURE_NAMES,
    PNAS_FEATURE_NAMES,
    RHYTHM_CLASSES,
    pyloric_summary,
)
from neurodyn.features.spikes import spike_indices, spike_times

__all__ = [
    "ELIFE_FEATURE_NAMES",
    "HH_EXTENDED_FEATURE_NAMES",
    "HH_FEATURE_NAMES",
    "HH_FEATURE_SETS",
    "PNAS_FEATURE_NAMES",
    "RHYTHM_CLASSES",
    "hh_feature_names",
    "hh_summary",
    "pyloric_summary",
    "spike_indices",
    "spike_times",
]
