"""Fixtures for the analysis tests."""

from __future__ import annotations

import pytest
import torch
from analysis_helpers import DistributionPosterior, random_spd
from torch.distributions import MultivariateNormal

from neurodyn.priors import BoxUniform


@pytest.fixture
def gaussian():
    """4-D Gaussian posterior well inside a wide box (truncation negligible)."""
    cov = random_spd(4, 0)
    mean = torch.tensor([0.3, -0.2, 0.1, 0.0], dtype=torch.float64)
    prior = BoxUniform(torch.full((4,), -12.0), torch.full((4,), 12.0)).to("cpu")
    dist = MultivariateNormal(mean.float(), cov.float())
    return DistributionPosterior(dist, prior), mean, cov
