"""Population dynamics: SynapsNet with learned functional connectivity.

* :class:`SynapsNet`, :class:`SynapsNetConfig`, :func:`fit_synapsnet`: the model, its settings
  and the one-call fit over one or many sessions.
* :mod:`neurodyn.population.splits`: chronological splits and training-split z-scoring.
* :mod:`neurodyn.population.baselines`, :mod:`~neurodyn.population.metrics`,
  :mod:`~neurodyn.population.synthetic`: forecasting/connectivity baselines, evaluation metrics
  and ground-truth networks (their main names are importable from here, loaded lazily).
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

#: Evaluation names re-exported lazily (``synthetic`` imports numba).
_LAZY = {
    **dict.fromkeys(
        (
            "BaselineConfig",
            "LastValue",
            "RidgeVAR",
            "RecurrentForecaster",
            "NeuPRINTForecaster",
            "NetFormerForecaster",
            "pearson_connectivity",
            "partial_correlation_connectivity",
            "lagged_correlation_connectivity",
            "var_connectivity",
        ),
        "baselines",
    ),
    **dict.fromkeys(
        (
            "forecast_correlation",
            "forecast_mse",
            "pc_correlation",
            "paired_test",
            "mean_ci",
            "connectivity_scores",
            "edge_auroc",
            "edge_auprc",
            "sign_accuracy",
            "weight_spearman",
            "input_currents",
            "shuffled_connectivity",
            "current_activity_crosscorrelation",
        ),
        "metrics",
    ),
    **dict.fromkeys(
        ("SyntheticNetwork", "rate_network", "lif_network", "calcium_network", "cell_type_weights"),
        "synthetic",
    ),
}
__all__ += sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
