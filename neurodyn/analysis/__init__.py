"""Posterior analysis: high-probability paths, perturbations, sensitivity, conditionals.

Every function accepts any posterior with ``log_prob(theta, x=...)`` (and ``sample`` where
samples are drawn): a neurodyn ``Posterior``, an ``sbi`` posterior, or a plain
:mod:`torch.distributions` object together with ``prior=...``. Computations happen in the
z-scored prior space of the eLife paper, ``z = (theta - prior mean) / prior sd``.
"""

from neurodyn.analysis.breakdown import (
    BreakdownResult,
    all_finite,
    circuit_breakdown,
    equally_spaced_indices,
)
from neurodyn.analysis.conditional import (
    ConditionalCorrelationResult,
    ConditionalDensity,
    conditional_correlation,
    conditional_density,
    grid_nodes,
)
from neurodyn.analysis.paths import (
    HighProbabilityPathResult,
    OrthogonalPathResult,
    cumulative_arc_length,
    high_probability_path,
    orthogonal_path,
    sine_path,
)
from neurodyn.analysis.sensitivity import ActiveSubspaceResult, sensitivity

__all__ = [
    "ActiveSubspaceResult",
    "BreakdownResult",
    "ConditionalCorrelationResult",
    "ConditionalDensity",
    "HighProbabilityPathResult",
    "OrthogonalPathResult",
    "all_finite",
    "circuit_breakdown",
    "conditional_correlation",
    "conditional_density",
    "cumulative_arc_length",
    "equally_spaced_indices",
    "grid_nodes",
    "high_probability_path",
    "orthogonal_path",
    "sensitivity",
    "sine_path",
]
