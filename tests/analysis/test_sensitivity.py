"""Active subspaces on functions with known expected outer products."""

from __future__ import annotations

import pytest
import torch
from analysis_helpers import DistributionPosterior, NumpyPosterior, random_spd
from torch.distributions import Independent, MultivariateNormal, Uniform

from neurodyn.analysis import sensitivity


def f64_box(low, high) -> Independent:
    return Independent(
        Uniform(
            torch.as_tensor(low, dtype=torch.float64), torch.as_tensor(high, dtype=torch.float64)
        ),
        1,
    )


@pytest.fixture
def gauss64():
    cov = random_spd(3, 5)
    mean = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    prior = f64_box([-6.0, -8.0, -4.0], [6.0, 4.0, 8.0])  # sd = width / sqrt(12)
    return DistributionPosterior(MultivariateNormal(mean, cov), prior), mean, cov, prior


def test_log_prob_matrix_is_exact_for_given_samples(gauss64):
    """For f = log N(μ, Σ): ∇f = -Σ⁻¹(θ-μ), so M = D Σ⁻¹ C Σ⁻¹ D with C the sample 2nd moment."""
    post, mean, cov, prior = gauss64
    theta = post.dist.sample((500,))
    res = sensitivity(post, theta=theta)
    d = torch.diag(prior.stddev)
    prec = torch.linalg.inv(cov)
    c = (theta - mean).T @ (theta - mean) / theta.shape[0]
    expected = d @ prec @ c @ prec @ d
    assert torch.allclose(res.matrix, expected, rtol=1e-10, atol=1e-12)
    evals = torch.linalg.eigvalsh(expected).flip(0)
    assert torch.allclose(res.eigenvalues, evals, rtol=1e-10)
    assert bool((torch.diff(res.eigenvalues) <= 0).all())
    # eigen-decomposition is consistent and orthonormal
    v = res.eigenvectors
    assert torch.allclose(v.T @ v, torch.eye(3, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(v @ torch.diag(res.eigenvalues) @ v.T, res.matrix, atol=1e-10)


def test_log_prob_under_its_own_samples_converges_to_z_space_precision(gauss64):
    """E_q[∇ log q ∇ log qᵀ] = Σ⁻¹ (Fisher identity); in z-space D Σ⁻¹ D."""
    post, _, cov, prior = gauss64
    torch.manual_seed(0)
    res = sensitivity(post, num_samples=40_000)
    d = torch.diag(prior.stddev)
    expected = d @ torch.linalg.inv(cov) @ d
    ev, evec = torch.linalg.eigh(expected)
    ev, evec = ev.flip(0), evec.flip(1)
    # Monte Carlo: relative sd of a second moment estimate ~ sqrt(2 / n) = 0.7 %
    assert torch.allclose(res.eigenvalues, ev, rtol=0.04)
    assert float((res.eigenvectors[:, 0] @ evec[:, 0]).abs()) > 0.995
    # E_q[∇ log q] = 0: the mean gradient is pure noise, so the sign rule falls back to
    # "largest entry positive"
    v = res.eigenvectors
    assert bool((v.gather(0, v.abs().argmax(0, keepdim=True)) > 0).all())


def test_linear_function_gives_rank_one_subspace_with_increasing_sign(gauss64):
    post, _, _, prior = gauss64
    a = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    res = sensitivity(post, function=lambda th: th @ a, num_samples=50)
    da = prior.stddev * a
    assert float(res.eigenvalues[0]) == pytest.approx(float(da @ da), rel=1e-12)
    assert torch.allclose(res.eigenvalues[1:], torch.zeros(2, dtype=torch.float64), atol=1e-10)
    # sign: f increases along the reported direction
    assert torch.allclose(res.eigenvectors[:, 0], da / torch.linalg.vector_norm(da), atol=1e-10)
    assert torch.allclose(res.theta_direction(0), prior.stddev * res.eigenvectors[:, 0])


def test_unscaled_gradients(gauss64):
    post, mean, cov, _ = gauss64
    theta = post.dist.sample((200,))
    res = sensitivity(post, theta=theta, scale_by_prior=False)
    prec = torch.linalg.inv(cov)
    c = (theta - mean).T @ (theta - mean) / theta.shape[0]
    assert torch.allclose(res.matrix, prec @ c @ prec, rtol=1e-10)


def test_finite_difference_log_prob_matches_autograd(gauss64):
    post, _, _, prior = gauss64
    theta = post.dist.sample((100,))
    auto = sensitivity(post, theta=theta)
    fd = sensitivity(NumpyPosterior(post.dist, prior), theta=theta)
    assert torch.allclose(fd.matrix, auto.matrix, rtol=1e-5, atol=1e-8)


def test_x_o_is_passed_to_sample_and_log_prob(gauss64):
    post, *_ = gauss64
    x_o = torch.ones(3)
    sensitivity(post, x_o, num_samples=10)
    assert len(post.calls) >= 2
    assert all(torch.equal(x, x_o.double()) for x in post.calls)
