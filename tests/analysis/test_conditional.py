"""Conditional densities and correlations against analytic Gaussian results and quadrature."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from analysis_helpers import DistributionPosterior
from scipy import integrate
from torch.distributions import Independent, MultivariateNormal, Uniform

from neurodyn.analysis import conditional_correlation, conditional_density, grid_nodes
from neurodyn.priors import BoxUniform


def partial_correlations(cov: torch.Tensor) -> torch.Tensor:
    p = torch.linalg.inv(cov)
    d = torch.sqrt(torch.diag(p))
    rho = -p / (d[:, None] * d[None, :])
    rho.fill_diagonal_(1.0)
    return rho


def test_gaussian_conditional_correlations_are_partial_correlations(gaussian):
    post, mean, cov = gaussian
    g = torch.Generator().manual_seed(3)
    conditions = mean.float() + 0.5 * torch.randn(3, 4, generator=g)
    res = conditional_correlation(post, conditions, torch.zeros(3), resolution=50)
    expected = partial_correlations(cov)
    assert res.per_condition.shape == (3, 4, 4)
    # the conditional of a Gaussian does not depend on the conditioning values
    for k in range(3):
        assert torch.allclose(res.per_condition[k], expected, atol=1e-4)
    assert torch.allclose(res.matrix, expected, atol=1e-4)
    assert torch.allclose(res.matrix, res.matrix.T)


def test_subset_of_dims_matches_the_full_matrix(gaussian):
    post, mean, _ = gaussian
    full = conditional_correlation(post, mean[None], resolution=30)
    sub = conditional_correlation(post, mean[None], dims=[3, 1], resolution=30)
    assert sub.dims == (3, 1)
    assert torch.allclose(sub.matrix, full.matrix[[3, 1]][:, [3, 1]], atol=1e-12)


def test_truncated_gaussian_correlation_matches_quadrature():
    """A correlated Gaussian cut by the prior box: compare with adaptive 2-D quadrature."""
    rho0, lo, hi = 0.8, -1.0, 1.5
    cov = torch.tensor([[1.0, rho0], [rho0, 1.0]], dtype=torch.float64)
    q = MultivariateNormal(torch.zeros(2, dtype=torch.float64), cov)
    prior = Independent(
        Uniform(
            torch.full((2,), lo, dtype=torch.float64), torch.full((2,), hi, dtype=torch.float64)
        ),
        1,
    )
    post = DistributionPosterior(q, prior)
    res = conditional_correlation(post, torch.zeros(1, 2), resolution=200)

    def pdf(y, x):
        return math.exp(-(x * x - 2 * rho0 * x * y + y * y) / (2 * (1 - rho0**2)))

    def moment(f):
        return integrate.dblquad(
            lambda y, x: f(x, y) * pdf(y, x), lo, hi, lo, hi, epsabs=1e-12, epsrel=1e-10
        )[0]

    z = moment(lambda x, y: 1.0)
    mx, my = moment(lambda x, y: x) / z, moment(lambda x, y: y) / z
    vx = moment(lambda x, y: (x - mx) ** 2) / z
    vy = moment(lambda x, y: (y - my) ** 2) / z
    cxy = moment(lambda x, y: (x - mx) * (y - my)) / z
    expected = cxy / math.sqrt(vx * vy)
    assert expected < rho0 - 0.1  # truncation matters here
    assert float(res.matrix[0, 1]) == pytest.approx(expected, abs=2e-4)
    # midpoint rule: the error falls ~ 1/resolution² (checked at the eLife resolution)
    coarse = conditional_correlation(post, torch.zeros(1, 2), resolution=50)
    assert abs(float(coarse.matrix[0, 1]) - expected) < 3e-3


def test_conditional_density_1d_is_the_analytic_conditional(gaussian):
    post, mean, cov = gaussian
    cond = mean.float() + torch.tensor([0.3, -0.4, 0.2, 0.1])
    cd = conditional_density(post, cond, (2,), resolution=400)
    # analytic conditional of dim 2 given the others
    i, rest = 2, [0, 1, 3]
    c = cov
    s12 = c[i, rest]
    s22 = c[rest][:, rest]
    mu = mean[i] + s12 @ torch.linalg.solve(s22, cond.double()[rest] - mean[rest])
    var = c[i, i] - s12 @ torch.linalg.solve(s22, s12)
    x = cd.axes[0]
    pdf = torch.exp(-((x - mu) ** 2) / (2 * var)) / torch.sqrt(2 * math.pi * var)
    assert torch.allclose(cd.density, pdf, atol=1e-4)
    assert float(cd.density.sum() * cd.cell_area) == pytest.approx(1.0, abs=1e-10)


def test_conditional_density_2d_shape_and_normalisation(gaussian):
    post, mean, _ = gaussian
    cd = conditional_density(post, mean, (1, 3), resolution=25)
    assert cd.density.shape == (25, 25) and cd.dims == (1, 3)
    assert float(cd.density.sum() * cd.cell_area) == pytest.approx(1.0, abs=1e-10)
    assert torch.allclose(cd.axes[0], grid_nodes(-12.0, 12.0, 25))


def test_degenerate_conditions_are_ignored_by_the_mean():
    """A posterior that is zero when theta_2 > 0: conditions there give NaN, not a bias."""
    q = MultivariateNormal(
        torch.zeros(3), torch.tensor([[1.0, 0.6, 0.0], [0.6, 1.0, 0.0], [0.0, 0.0, 1.0]])
    )

    class HalfPosterior(DistributionPosterior):
        def log_prob(self, theta, x=None):
            lp = self.dist.log_prob(theta)
            return torch.where(theta[:, 2] > 0, torch.full_like(lp, -math.inf), lp)

    post = HalfPosterior(q, BoxUniform([-8.0] * 3, [8.0] * 3))
    res = conditional_correlation(
        post, torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]), resolution=40
    )
    assert bool(torch.isnan(res.per_condition[0, 0, 1]))
    assert float(res.matrix[0, 1]) == pytest.approx(0.6, abs=1e-4)
    assert np.isfinite(res.matrix.numpy()).all()


def test_grid_nodes_are_cell_centres():
    nodes = grid_nodes(-1.0, 1.0, 50)
    assert float(nodes[0]) == pytest.approx(-1.0 + 0.02)
    assert torch.allclose(torch.diff(nodes), torch.full((49,), 0.04, dtype=torch.float64))
