"""Bad input raises ValueError/TypeError naming the argument (pinned messages)."""

from __future__ import annotations

import re

import pytest
import torch
from analysis_helpers import DistributionPosterior
from torch.distributions import MultivariateNormal

from neurodyn.analysis import (
    circuit_breakdown,
    conditional_correlation,
    conditional_density,
    high_probability_path,
    orthogonal_path,
    sensitivity,
    sine_path,
)
from neurodyn.priors import BoxUniform

PRIOR = BoxUniform([-1.0, -1.0], [1.0, 1.0])
Q = MultivariateNormal(torch.zeros(2), 0.1 * torch.eye(2))
POST = DistributionPosterior(Q, PRIOR, num_features=3)
LINE = torch.stack([torch.linspace(-0.5, 0.5, 10), torch.zeros(10)], -1)
OK = ([-0.5, -0.5], [0.5, 0.5])


class SampleOnly:
    prior = PRIOR

    def sample(self, shape, x=None):
        return torch.zeros(*shape, 2)


class LogProbOnly:
    prior = PRIOR

    def log_prob(self, theta, x=None):
        return Q.log_prob(theta)


class _NumpyLP:
    prior = PRIOR

    def log_prob(self, theta, x=None):
        return torch.as_tensor(Q.log_prob(theta.detach()).numpy())


CASES = [
    (
        "start outside prior",
        lambda: high_probability_path(POST, [1.5, 0.0], OK[1]),
        ValueError,
        "theta_start: expected a point inside the prior support",
    ),
    (
        "end outside prior",
        lambda: high_probability_path(POST, OK[0], [0.0, -2.0]),
        ValueError,
        "theta_end: expected a point inside the prior support",
    ),
    (
        "start wrong dimension",
        lambda: high_probability_path(POST, [0.0, 0.0, 0.0], OK[1]),
        ValueError,
        "theta_start: expected 2 parameters (the prior's dimension)",
    ),
    (
        "start with NaN",
        lambda: high_probability_path(POST, [float("nan"), 0.0], OK[1]),
        ValueError,
        "theta_start: expected finite values",
    ),
    (
        "x_o wrong size",
        lambda: high_probability_path(POST, *OK, x_o=torch.zeros(4)),
        ValueError,
        "x_o: expected 3 features (the posterior's observation size)",
    ),
    (
        "x_o several rows",
        lambda: high_probability_path(POST, *OK, x_o=torch.zeros(2, 3)),
        ValueError,
        "x_o: expected one observation of shape (num_features,)",
    ),
    (
        "x_o 3-D",
        lambda: high_probability_path(POST, *OK, x_o=torch.zeros(1, 1, 3)),
        ValueError,
        "x_o: expected a 1-D or 2-D array",
    ),
    (
        "x_o for a plain distribution",
        lambda: high_probability_path(Q, *OK, torch.zeros(3), prior=PRIOR),
        ValueError,
        "x_o: expected None for a posterior whose log_prob takes no observation",
    ),
    (
        "posterior without log_prob",
        lambda: high_probability_path(SampleOnly(), *OK),
        TypeError,
        "posterior: expected an object with a log_prob(theta, x=...) method",
    ),
    (
        "no prior",
        lambda: high_probability_path(Q, *OK),
        ValueError,
        "prior: expected a prior distribution, got None. The posterior has no .prior",
    ),
    (
        "bad gradient",
        lambda: high_probability_path(POST, *OK, gradient="exact"),
        ValueError,
        "gradient: expected one of 'auto', 'autograd', 'finite_difference'",
    ),
    (
        "too few points",
        lambda: high_probability_path(POST, *OK, num_points=2),
        ValueError,
        "num_points: expected at least 3 points",
    ),
    (
        "negative penalty",
        lambda: high_probability_path(POST, *OK, penalty=-1.0),
        ValueError,
        "penalty: expected a finite number >= 0",
    ),
    (
        "autograd impossible",
        lambda: orthogonal_path(_NumpyLP(), LINE, 4, gradient="autograd"),
        ValueError,
        'gradient: expected "autograd" only for a differentiable',
    ),
    (
        "ortho start index at end",
        lambda: orthogonal_path(POST, LINE, 9),
        ValueError,
        "start_index: expected an index in [1, 8]",
    ),
    (
        "ortho start index type",
        lambda: orthogonal_path(POST, LINE, 2.0),
        TypeError,
        "start_index: expected an integer",
    ),
    (
        "ortho path dimension",
        lambda: orthogonal_path(POST, torch.zeros(10, 3), 4),
        ValueError,
        "path: expected points of 2 parameters",
    ),
    (
        "sensitivity without sample",
        lambda: sensitivity(LogProbOnly()),
        TypeError,
        "posterior: expected an object with a sample(sample_shape, x=...) method",
    ),
    (
        "sensitivity theta dimension",
        lambda: sensitivity(POST, theta=torch.zeros(5, 3)),
        ValueError,
        "theta: expected samples of 2 parameters",
    ),
    (
        "sensitivity function not callable",
        lambda: sensitivity(POST, function=3),
        TypeError,
        "function: expected a callable f(theta) -> (n,)",
    ),
    (
        "sensitivity function shape",
        lambda: sensitivity(POST, function=lambda th: th, theta=torch.zeros(5, 2)),
        ValueError,
        "function: expected a callable returning shape (5,)",
    ),
    (
        "sensitivity function not differentiable",
        lambda: sensitivity(POST, function=lambda th: th.detach().sum(-1), theta=torch.zeros(5, 2)),
        ValueError,
        "function: expected a differentiable torch function of theta",
    ),
    (
        "cc limits shape",
        lambda: conditional_correlation(POST, torch.zeros(1, 2), limits=torch.zeros(3, 2)),
        ValueError,
        "limits: expected shape (2, 2)",
    ),
    (
        "cc limits order",
        lambda: conditional_correlation(POST, torch.zeros(1, 2), limits=[[1.0, 0.0], [0.0, 1.0]]),
        ValueError,
        "limits: expected high > low for every parameter",
    ),
    (
        "cc unbounded prior",
        lambda: conditional_correlation(
            Q, torch.zeros(1, 2), prior=MultivariateNormal(torch.zeros(2), torch.eye(2))
        ),
        ValueError,
        "limits: expected a (num_params, 2) array",
    ),
    (
        "cc conditions dimension",
        lambda: conditional_correlation(POST, torch.zeros(1, 3)),
        ValueError,
        "conditions: expected points of 2 parameters",
    ),
    (
        "cc dims out of range",
        lambda: conditional_correlation(POST, torch.zeros(1, 2), dims=[0, 2]),
        ValueError,
        "dims: expected distinct indices in [0, 1]",
    ),
    (
        "density dims count",
        lambda: conditional_density(POST, torch.zeros(2), (0, 1, 1)),
        ValueError,
        "dims: expected 1 or 2 parameter indices",
    ),
    (
        "breakdown simulate",
        lambda: circuit_breakdown(LINE, "sim"),
        TypeError,
        "simulate: expected a callable simulate(theta) -> outputs",
    ),
    (
        "breakdown classify length",
        lambda: circuit_breakdown(LINE, lambda th: th, lambda out: torch.ones(3, dtype=torch.bool)),
        ValueError,
        "classify: expected a callable returning 10 booleans",
    ),
    (
        "sine coefficients",
        lambda: sine_path([0.0, 0.0], [1.0, 1.0], torch.zeros(3, 2)),
        ValueError,
        "coefficients: expected an even number of rows",
    ),
]


@pytest.mark.parametrize(("case", "call", "exc", "message"), CASES, ids=[c[0] for c in CASES])
def test_error_messages(case, call, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        call()
