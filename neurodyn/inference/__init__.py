"""Neural posterior estimation on zuko flows.

``NPE(prior, NPEConfig(...)).append_simulations(theta, x).train()`` then
``build_posterior()``: amortised NPE, SNPE-C/APT (atomic loss), truncated sequential NPE,
a restriction classifier for invalid simulations, and posteriors saved as safetensors + JSON.
"""

from neurodyn.inference.config import EmbeddingConfig, NPEConfig, RestrictionConfig
from neurodyn.inference.data import BatchSource, InMemorySource
from neurodyn.inference.ensemble import EnsemblePosterior
from neurodyn.inference.estimator import ConditionalDensity
from neurodyn.inference.npe import NPE
from neurodyn.inference.posterior import LeakageError, Posterior
from neurodyn.inference.restriction import AcceptRejectPrior, RestrictionClassifier
from neurodyn.inference.training import TrainingSummary

__all__ = [
    "NPE",
    "AcceptRejectPrior",
    "BatchSource",
    "ConditionalDensity",
    "EmbeddingConfig",
    "EnsemblePosterior",
    "InMemorySource",
    "LeakageError",
    "NPEConfig",
    "Posterior",
    "RestrictionClassifier",
    "RestrictionConfig",
    "TrainingSummary",
]
