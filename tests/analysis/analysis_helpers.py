"""Posteriors with known answers for the analysis tests (imported by the test modules)."""

from __future__ import annotations

import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal


class DistributionPosterior:
    """A torch distribution dressed as a posterior: ``sample``/``log_prob`` with ``x=``."""

    def __init__(self, dist, prior, num_features: int = 3):
        self.dist, self.prior, self.num_features = dist, prior, num_features
        self.calls: list = []

    def sample(self, sample_shape, x=None):
        self.calls.append(x)
        return self.dist.sample(sample_shape)

    def log_prob(self, theta, x=None):
        self.calls.append(x)
        return self.dist.log_prob(theta)


class NumpyPosterior(DistributionPosterior):
    """Same, but ``log_prob`` goes through numpy (not differentiable)."""

    def log_prob(self, theta, x=None):
        return torch.as_tensor(self.dist.log_prob(theta.detach()).numpy())


def random_spd(dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    return a @ a.T / dim + 0.3 * torch.eye(dim, dtype=torch.float64)


def mixture(locs, sds, weights=None) -> MixtureSameFamily:
    """Gaussian mixture with diagonal covariances (``sds``: scalar or per-dim per component)."""
    locs = torch.as_tensor(locs, dtype=torch.float32)
    d = locs.shape[1]
    covs = torch.stack(
        [torch.diag(torch.as_tensor(s, dtype=torch.float32).expand(d) ** 2) for s in sds]
    )
    w = torch.ones(len(locs)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    return MixtureSameFamily(Categorical(w), MultivariateNormal(locs, covs))
