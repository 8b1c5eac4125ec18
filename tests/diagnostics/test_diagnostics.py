"""Each diagnostic passes for the exact posterior and FAILS for biased/over-confident ones.

Model: theta ~ N(0, I_2), x ~ N(theta, s^2 I): exact posterior N(x / (1 + s^2), s^2/(1+s^2)).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal

from neurodyn.diagnostics import c2st, expected_coverage, posterior_predictive_check, sbc, tarp
from neurodyn.plot.diagnostics import plot_coverage, plot_sbc_ranks

S = 0.5  # observation noise


class GaussPosterior:
    """Analytic posterior, optionally shifted (bias, in posterior sds) or scaled (width)."""

    def __init__(self, bias: float = 0.0, width: float = 1.0) -> None:
        self.bias, self.width = bias, width
        self.sd = math.sqrt(S**2 / (1 + S**2))

    def _dist(self, x: torch.Tensor) -> Independent:
        loc = x / (1 + S**2) + self.bias * self.sd
        return Independent(Normal(loc, self.width * self.sd * torch.ones_like(loc)), 1)

    def sample(self, shape, x):
        return self._dist(x).sample(shape)

    def log_prob(self, theta, x):
        return self._dist(x).log_prob(theta)


def _tests(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, 2, generator=g)
    return theta, theta + S * torch.randn(n, 2, generator=g)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_c2st_same_and_different():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(800, 2, generator=g), torch.randn(800, 2, generator=g)
    assert 0.45 < c2st(a, b, num_folds=3) < 0.55
    assert c2st(a, b * 0.6, num_folds=3) > 0.6  # narrower distribution is detected
    assert c2st(a, b + 1.0, num_folds=3) > 0.65
    assert c2st(a, b, num_folds=3, seed=4) == c2st(a, b, num_folds=3, seed=4)


@pytest.mark.parametrize(
    ("bias", "width", "passes"),
    [(0.0, 1.0, True), (0.5, 1.0, False), (0.0, 0.6, False), (0.0, 1.6, False)],
)
def test_sbc_detects_bias_and_miscalibration(bias, width, passes):
    theta, x = _tests(500)
    res = sbc(GaussPosterior(bias, width), theta, x, num_posterior_samples=100)
    assert res.ranks.shape == (500, 2) and res.ranks.max() <= 100
    assert res.passed is passes, res.summary()


@pytest.mark.parametrize(
    ("bias", "width", "passes"),
    [(0.0, 1.0, True), (0.0, 0.6, False), (0.0, 1.6, False), (1.0, 1.0, False)],
)
def test_hpd_coverage_detects_over_and_under_confidence(bias, width, passes):
    theta, x = _tests(500)
    res = expected_coverage(GaussPosterior(bias, width), theta, x, num_posterior_samples=200)
    assert res.passed is passes, (res.ks_pvalue, res.max_deviation)
    mid = res.coverage[50]  # coverage of the 50 % region
    if width < 1:
        assert mid < 0.4  # over-confident: true value too often outside
    if width > 1:
        assert mid > 0.6


@pytest.mark.parametrize(
    ("bias", "width", "passes"), [(0.0, 1.0, True), (1.0, 1.0, False), (0.0, 0.5, False)]
)
def test_tarp_detects_bias_and_over_confidence(bias, width, passes):
    theta, x = _tests(600)
    res = tarp(GaussPosterior(bias, width), theta, x, num_posterior_samples=200)
    assert res.passed is passes, (res.ks_pvalue, res.max_deviation)
    assert res.coverage.shape == res.levels.shape


def test_ppc_passes_for_true_and_fails_for_biased():
    theta_true = torch.tensor([0.3, -0.4])
    x_o = theta_true + S * torch.randn(2, generator=torch.Generator().manual_seed(3))

    def sim(t):
        return t + S * torch.randn_like(t)

    good = posterior_predictive_check(GaussPosterior(), sim, x_o, num_samples=2000)
    assert good.passed and good.fraction_valid == 1.0
    bad = posterior_predictive_check(
        GaussPosterior(bias=6.0, width=0.3), sim, x_o, num_samples=2000
    )
    assert not bad.passed and np.abs(bad.zscores).max() > 2


def test_ppc_counts_invalid_predictions():
    def sim(t):
        out = t.clone()
        out[::4] = torch.nan
        return out

    res = posterior_predictive_check(GaussPosterior(), sim, torch.zeros(2), num_samples=400)
    assert res.fraction_valid == pytest.approx(0.75)


def test_plots_render():
    theta, x = _tests(200)
    fig = plot_sbc_ranks(sbc(GaussPosterior(), theta, x, num_posterior_samples=50), num_bins=10)
    assert len(fig.axes) == 2
    cov = expected_coverage(GaussPosterior(), theta, x, num_posterior_samples=50)
    over = expected_coverage(GaussPosterior(width=0.5), theta, x, num_posterior_samples=50)
    fig2 = plot_coverage(cov, over, labels=("exact", "over-confident"))
    assert len(fig2.axes[0].lines) == 3


ERRORS = [
    (
        lambda: c2st(torch.zeros(10, 2), torch.zeros(10, 3)),
        ValueError,
        r"samples_q: expected the same dimension as samples_p \(2\)",
    ),
    (
        lambda: c2st(torch.zeros(10, 2), torch.zeros(10, 2), num_folds=1),
        ValueError,
        r"num_folds: expected at least 2 folds",
    ),
    (
        lambda: sbc(GaussPosterior(), torch.zeros(5, 2), torch.zeros(4, 2)),
        ValueError,
        r"x: expected 5 rows \(one per row of theta\)",
    ),
    (
        lambda: sbc(GaussPosterior(), torch.zeros(5, 2), torch.zeros(5, 2), alpha=2.0),
        ValueError,
        r"alpha: expected a number in \(0, 1\)",
    ),
    (
        lambda: tarp(GaussPosterior(), torch.zeros(5), torch.zeros(5, 2)),
        ValueError,
        r"theta: expected a 2-D array",
    ),
    (
        lambda: posterior_predictive_check(GaussPosterior(), "sim", torch.zeros(2)),
        TypeError,
        r"simulator: expected a callable theta -> x",
    ),
    (lambda: plot_sbc_ranks("ranks"), TypeError, r"result: expected an SBCResult"),
]


@pytest.mark.parametrize(("call", "exc", "message"), ERRORS)
def test_error_table(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
