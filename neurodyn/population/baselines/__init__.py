"""Baselines for population forecasting and for functional connectivity.

Forecasters share SynapsNet's interface and protocol: ``fit(activity, behaviour=None)`` uses the
train and validation blocks of :func:`~neurodyn.population.splits.chronological_split` (the test
block is never touched), z-scores with training statistics, and ``predict(activity,
behaviour=None)`` returns teacher-forced one-step predictions ``(num_steps, N)`` in the original
units whose row t predicts ``activity[t]`` from rows ``< t`` (the first ``window`` rows NaN).

* :class:`LastValue` — ``x_hat[t] = x[t-1]``.
* :class:`RidgeVAR` — linear VAR(p) with ridge penalty; lag order and penalty chosen on the
  validation block.
* :class:`RecurrentForecaster` — multichannel LSTM/GRU over the window (all neurons as one
  vector per time step).
* :class:`NeuPRINTForecaster` — per-neuron decoder that sees its own window, the population
  mean and standard deviation windows, behaviour and a neuron embedding (SynapsNet with
  ``A x`` replaced by population statistics; Mi et al. 2023).
* :class:`NetFormerForecaster` — linear (softmax-free) attention between neuron tokens,
  ``x_hat[t] = g x[t-1] + A_t x[t-1]`` with ``A_t = Q K^T / sqrt(d)`` from the windows and
  neuron embeddings (Lu et al., NetFormer); ``connectivity()`` averages ``A_t``.

Connectivity estimators return ``(N, N)`` matrices with ``C[i, j]`` scoring ``j -> i`` and a
zero diagonal: :func:`pearson_connectivity`, :func:`partial_correlation_connectivity`,
:func:`lagged_correlation_connectivity`, :func:`var_connectivity`.
"""

from __future__ import annotations

from neurodyn.population.baselines.connectivity import (
    lagged_correlation_connectivity,
    partial_correlation_connectivity,
    pearson_connectivity,
    var_connectivity,
)
from neurodyn.population.baselines.forecasting import BaselineConfig, LastValue, RidgeVAR
from neurodyn.population.baselines.neural import (
    NetFormerForecaster,
    NeuPRINTForecaster,
    RecurrentForecaster,
)

__all__ = [
    "BaselineConfig",
    "LastValue",
    "NetFormerForecaster",
    "NeuPRINTForecaster",
    "RecurrentForecaster",
    "RidgeVAR",
    "lagged_correlation_connectivity",
    "partial_correlation_connectivity",
    "pearson_connectivity",
    "var_connectivity",
]
