"""Analytic linear-Gaussian task shared by the inference tests."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import MultivariateNormal


class LinearGaussian:
    """theta ~ N(0, I_D), x = A theta + N(0, s^2 I); exact posterior is Gaussian."""

    def __init__(self, dim: int = 3, noise: float = 0.3) -> None:
        g = torch.Generator().manual_seed(123)
        self.dim, self.noise = dim, noise
        self.A = torch.eye(dim) + 0.4 * torch.randn(dim, dim, generator=g)
        self.prior = MultivariateNormal(torch.zeros(dim), torch.eye(dim))

    def simulate(self, theta: torch.Tensor, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return theta @ self.A.T + self.noise * torch.randn(theta.shape, generator=g)

    def data(self, num: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed + 1)
        theta = torch.randn(num, self.dim, generator=g)
        return theta, self.simulate(theta, seed)

    def posterior(self, x_o: torch.Tensor) -> MultivariateNormal:
        prec = torch.eye(self.dim) + self.A.T @ self.A / self.noise**2
        cov = torch.linalg.inv(prec)
        cov = 0.5 * (cov + cov.T)
        return MultivariateNormal(cov @ (self.A.T @ x_o / self.noise**2), cov)


@pytest.fixture
def lg() -> LinearGaussian:
    return LinearGaussian()
