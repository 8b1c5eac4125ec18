"""High-probability and orthogonal paths: eLife geometry, known densities, the prior penalty."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from analysis_helpers import DistributionPosterior, NumpyPosterior, mixture, random_spd
from torch.distributions import Independent, MultivariateNormal, Uniform

from neurodyn.analysis import (
    cumulative_arc_length,
    high_probability_path,
    orthogonal_path,
    sine_path,
)
from neurodyn.priors import BoxUniform

SQRT3 = math.sqrt(3.0)


def z_prior(dim: int) -> Independent:
    """Float64 uniform prior on [-sqrt3, sqrt3]^dim: mean 0, sd 1, so theta == z."""
    lo = torch.full((dim,), -SQRT3, dtype=torch.float64)
    return Independent(Uniform(lo, -lo), 1)


# ------------------------------------------------------------------ eLife reference geometry
def test_sine_path_reproduces_elife_high_probability_path(load_npz):
    ref = load_npz("elife2020_stg_paths_extracted.npz")
    pts, _ = sine_path(ref["high_p_start"], ref["high_p_end"], ref["high_p_alpha"], 80)
    np.testing.assert_allclose(pts.numpy(), ref["high_p_path_coords"], rtol=0, atol=1e-12)
    arc = cumulative_arc_length(pts).numpy()
    np.testing.assert_allclose(arc, ref["high_p_path_dists"], rtol=0, atol=1e-12)
    # paper/reference: saved path 6.30 z-units long vs 5.67 for the straight line
    assert arc[-1] == pytest.approx(6.2955, abs=1e-4)
    chord = np.linalg.norm(ref["high_p_end"] - ref["high_p_start"])
    assert chord == pytest.approx(5.6673, abs=1e-4)


def test_orthogonal_path_reproduces_elife_step_geometry(load_npz):
    ref = load_npz("elife2020_stg_paths_extracted.npz")
    dim = 31
    q = MultivariateNormal(
        torch.zeros(dim, dtype=torch.float64), torch.eye(dim, dtype=torch.float64)
    )
    post = DistributionPosterior(q, z_prior(dim))
    res = orthogonal_path(
        post, torch.as_tensor(ref["high_p_path_coords"]), int(ref["ortho_start_index"])
    )
    # default length = path length / 27 -> 25 points of step 0.01, as saved by eLife
    assert res.stop_reason == "length"
    np.testing.assert_allclose(res.arc_length.numpy(), ref["ortho_path_dists"], atol=1e-12)
    np.testing.assert_allclose(res.normal.numpy(), ref["ortho_normal"], atol=1e-12)
    np.testing.assert_allclose(res.z[0].numpy(), ref["ortho_path_coords"][0], atol=1e-12)
    steps = torch.diff(res.z, dim=0)
    assert torch.allclose(steps @ res.normal, torch.zeros(24, dtype=torch.float64), atol=1e-12)
    # the eLife path has the same geometry
    ref_steps = np.diff(ref["ortho_path_coords"], axis=0)
    np.testing.assert_allclose(np.linalg.norm(ref_steps, axis=1), 0.01, atol=1e-12)
    np.testing.assert_allclose(ref_steps @ ref["ortho_normal"], 0.0, atol=1e-12)


# --------------------------------------------------------------------------- sine basis
def test_sine_path_velocity_matches_numerical_derivative():
    g = torch.Generator().manual_seed(1)
    c = 0.3 * torch.randn(4, 3, generator=g, dtype=torch.float64)
    z0, z1 = torch.tensor([0.0, 1.0, -1.0]), torch.tensor([1.0, -0.5, 2.0])
    pts, vel = sine_path(z0, z1, c, 4001)
    assert torch.allclose(pts[0], z0.double()) and torch.allclose(pts[-1], z1.double())
    h = 1.0 / 4000
    num = (pts[2:] - pts[:-2]) / (2 * h)
    assert torch.allclose(vel[1:-1], num, atol=1e-5)


def test_sine_path_without_sine_square_uses_first_rows_only():
    c = torch.tensor([[0.2, -0.1]], dtype=torch.float64)
    pts, _ = sine_path([0.0, 0.0], [1.0, 1.0], c, 5, sine_square=False)
    s = torch.linspace(0, 1, 5, dtype=torch.float64)
    expected = s[:, None] + c * torch.sin(math.pi * s)[:, None]
    assert torch.allclose(pts, expected)


# ------------------------------------------------------------------- known densities
@pytest.fixture
def two_modes():
    """Modes at the endpoints (±0.6, ±0.6) and a bridge mode at (0.6, -0.6); valley at 0."""
    prior = BoxUniform([-1.0, -1.0], [1.0, 1.0])
    q = mixture([[-0.6, -0.6], [0.6, 0.6], [0.6, -0.6]], [0.2, 0.2, 0.2])
    return DistributionPosterior(q, prior, num_features=3)


def test_path_stays_in_high_density_where_the_straight_line_does_not(two_modes):
    x_o = torch.tensor([1.0, 2.0, 3.0])
    res = high_probability_path(two_modes, [-0.6, -0.6], [0.6, 0.6], x_o)
    assert all(x is not None and torch.equal(x, x_o) for x in two_modes.calls)
    assert torch.allclose(res.theta[0], torch.tensor([-0.6, -0.6]), atol=1e-6)
    assert torch.allclose(res.theta[-1], torch.tensor([0.6, 0.6]), atol=1e-6)
    q = two_modes.dist
    # independent evaluation of the density along both curves
    assert torch.allclose(res.log_prob, q.log_prob(res.theta), atol=1e-5)
    # the straight line crosses the valley (log q at the origin ~ -7.6); the path does not
    valley = float(q.log_prob(torch.zeros(2)))
    assert float(res.straight_log_prob.min()) == pytest.approx(valley, abs=0.1)
    assert float(res.log_prob.min()) > valley + 3.0
    # ... because it goes round through the bridge mode
    dist_to_bridge = torch.linalg.vector_norm(res.theta - torch.tensor([0.6, -0.6]), dim=-1)
    assert float(dist_to_bridge.min()) < 0.3  # within 1.5 sd of the bridge mode
    assert res.objective < res.straight_objective
    assert res.length > res.straight_length
    assert res.max_prior_violation == 0.0


def test_prior_penalty_keeps_the_path_inside_the_box():
    """A high-density ridge just outside the box: eLife's no-op bound lets the path leave."""
    prior = BoxUniform([-1.0, -1.0], [1.0, 1.0])
    q = mixture([[-0.8, 0.7], [0.8, 0.9], [0.0, 1.3]], [0.15, 0.15, [0.8, 0.15]], [1, 1, 2])
    post = DistributionPosterior(q, prior)
    free = high_probability_path(post, [-0.8, 0.7], [0.8, 0.9], penalty=0.0)
    assert float(free.theta[:, 1].max()) > 1.15  # climbs onto the ridge outside the prior
    assert free.max_prior_violation > 0.2
    bounded = high_probability_path(post, [-0.8, 0.7], [0.8, 0.9])
    assert bounded.max_prior_violation < 1e-6
    # the returned points are those the objective evaluated: clipped into the box, so every
    # point is inside the prior support with a finite log q (a hair outside would be -inf)
    assert float(bounded.theta.abs().max()) <= 1.0
    assert bool(prior.support.check(bounded.theta).all())
    assert torch.isfinite(bounded.log_prob).all()
    # still bends towards the ridge, as far as the box allows
    assert float(bounded.theta[:, 1].max()) > 0.98
    assert float(bounded.log_prob.mean()) > float(bounded.straight_log_prob.mean()) + 1.0


def test_finite_difference_gradients_match_autograd(two_modes):
    auto = high_probability_path(two_modes, [-0.6, -0.6], [0.6, 0.6], num_points=40)
    numpy_post = NumpyPosterior(two_modes.dist, two_modes.prior)
    fd = high_probability_path(numpy_post, [-0.6, -0.6], [0.6, 0.6], num_points=40)
    assert fd.objective == pytest.approx(auto.objective, rel=0.02)
    assert float(torch.linalg.vector_norm(fd.theta - auto.theta, dim=-1).max()) < 0.1


# ------------------------------------------------------------------------ orthogonal path
def test_orthogonal_path_is_orthogonal_and_descends_log_q():
    cov = random_spd(3, 2)
    mean = torch.tensor([0.2, -0.1, 0.3], dtype=torch.float64)
    q = MultivariateNormal(mean, cov)
    prior = Independent(
        Uniform(
            torch.full((3,), -4.0, dtype=torch.float64), torch.full((3,), 6.0, dtype=torch.float64)
        ),
        1,
    )
    post = DistributionPosterior(q, prior)
    line = (
        torch.linspace(0, 1, 21, dtype=torch.float64)[:, None]
        * torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)
        + mean
    )
    res = orthogonal_path(post, line, 10, step_size=0.02, max_length=0.5)
    assert res.theta.shape == (26, 3) and res.stop_reason == "length"
    steps = torch.diff(res.z, dim=0)
    assert torch.allclose(
        torch.linalg.vector_norm(steps, dim=-1),
        torch.full((25,), 0.02, dtype=torch.float64),
        atol=1e-12,
    )
    assert float((steps @ res.normal).abs().max()) < 1e-12
    assert bool((torch.diff(res.log_prob) < 0).all())
    # first step = -P g / |P g| with the analytic z-space gradient g = -sd * Σ⁻¹ (θ - μ)
    sd = prior.stddev
    g = -sd * torch.linalg.solve(cov, line[10] - mean)
    n = res.normal
    pg = g - n * (n @ g)
    assert torch.allclose(steps[0] / 0.02, -pg / torch.linalg.vector_norm(pg), atol=1e-6)


def test_orthogonal_path_is_clipped_to_the_prior_box():
    prior = BoxUniform([-1.0, -1.0], [1.0, 1.0])
    q = MultivariateNormal(torch.zeros(2), torch.eye(2) * 0.25)
    post = DistributionPosterior(q, prior)
    line = torch.stack([torch.linspace(-0.5, 0.5, 11), torch.full((11,), 0.9)], -1)
    res = orthogonal_path(post, line, 5, step_size=0.05, max_length=1.0)
    # descent pushes y up, into the face y = 1 (z = sqrt 3)
    assert float(res.z[:, 1].max()) <= SQRT3
    assert float(res.z[-1, 1]) == pytest.approx(SQRT3 - 1e-4, abs=1e-6)
