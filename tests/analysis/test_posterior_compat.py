"""The analysis functions accept sbi and neurodyn posteriors (same call style)."""

from __future__ import annotations

import pytest
import torch

from neurodyn.analysis import (
    conditional_correlation,
    high_probability_path,
    orthogonal_path,
    sensitivity,
)
from neurodyn.analysis._density import ZDensity


@pytest.fixture(scope="module")
def sbi_posterior():
    sbi_utils = pytest.importorskip("sbi.utils")
    sbi_nets = pytest.importorskip("sbi.neural_nets")
    sbi_post = pytest.importorskip("sbi.inference.posteriors")
    torch.manual_seed(0)
    prior = sbi_utils.BoxUniform(torch.zeros(3), torch.ones(3))
    theta = prior.sample((200,))
    x = theta + 0.1 * torch.randn(200, 3)
    net = sbi_nets.posterior_nn("maf", hidden_features=8, num_transforms=2)(theta, x)
    post = sbi_post.DirectPosterior(net, prior)
    x_o = torch.tensor([0.5, 0.4, 0.6])
    post.set_default_x(x_o)
    return post, x_o, theta


def test_sbi_posterior_works_with_every_analysis(sbi_posterior):
    post, _, theta = sbi_posterior
    start, end = theta[0], theta[1]
    path = high_probability_path(post, start, end, max_iter=5)  # default x
    assert path.theta.shape == (80, 3) and path.max_prior_violation == 0.0
    assert torch.isfinite(path.log_prob).all()
    ortho = orthogonal_path(post, path, 40, max_length=0.05)
    assert ortho.theta.shape == (6, 3)
    sens = sensitivity(post, num_samples=50)
    assert sens.eigenvalues.shape == (3,) and bool((sens.eigenvalues >= 0).all())
    cc = conditional_correlation(post, theta[:2], resolution=8)
    assert cc.matrix.shape == (3, 3) and torch.isfinite(cc.matrix).all()


def test_explicit_x_o_uses_a_cached_normalisation(sbi_posterior):
    post, x_o, theta = sbi_posterior
    dens = ZDensity(post, x_o)
    assert dens._takes_norm
    lp = dens.log_prob_theta(theta[:20])
    expected = post.log_prob(theta[:20])  # sbi's own leakage-corrected value at default x
    # both normalisers are rejection-sampling estimates: equal up to Monte Carlo error
    assert torch.allclose(lp - expected, (lp - expected).mean().expand(20), atol=1e-5)
    assert abs(float((lp - expected).mean())) < 0.05
    _, grad = dens.value_and_grad(dens.to_z(theta[:4]))  # autograd via track_gradients
    assert dens._autograd_ok and torch.isfinite(grad).all()


def test_neurodyn_posterior_works_with_every_analysis():
    from neurodyn.inference import NPE, NPEConfig
    from neurodyn.priors import BoxUniform

    torch.manual_seed(1)
    prior = BoxUniform([-2.0, -2.0], [2.0, 2.0])
    theta = prior.sample((400,))
    x = theta + 0.2 * torch.randn(400, 2)
    npe = NPE(prior, NPEConfig(num_transforms=1, max_epochs=3))
    post = npe.append_simulations(theta, x).train_and_build()
    x_o = torch.tensor([0.5, -0.5])
    start, end = torch.tensor([0.2, -0.8]), torch.tensor([0.8, -0.2])
    path = high_probability_path(post, start, end, x_o, max_iter=5, num_points=20)
    assert torch.isfinite(path.log_prob).all() and path.max_prior_violation == 0.0
    expected = post.log_prob(path.theta, x=x_o)
    assert torch.allclose(path.log_prob, expected)
    ortho = orthogonal_path(post, path, 10, x_o, max_length=0.05)
    assert ortho.theta.shape == (6, 2)
    sens = sensitivity(post, x_o, num_samples=50)
    assert bool(torch.isfinite(sens.eigenvalues).all())
    cc = conditional_correlation(post, post.sample((2,), x=x_o), x_o, resolution=8)
    assert cc.matrix.shape == (2, 2)
