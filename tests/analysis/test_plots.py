"""Pairplots, conditional pairplots and path profiles render (Agg) with the right layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from analysis_helpers import DistributionPosterior, mixture

from neurodyn.analysis import circuit_breakdown, high_probability_path
from neurodyn.plot.conditional import conditional_pairplot, path_profile
from neurodyn.plot.pairplot import pairplot
from neurodyn.priors import BoxUniform


def test_pairplot_with_points_and_paths(tmp_path):
    rng = np.random.default_rng(0)
    samples = torch.as_tensor(rng.normal(size=(300, 4)))
    path = np.linspace(-1, 1, 20)[:, None] * np.ones(4)
    fig = pairplot(
        samples,
        points={"true": np.zeros(4)},
        paths={"path": path},
        dims=[0, 2, 3],
        labels=["a", "b", "c", "d"],
    )
    assert len(fig.axes) == 9
    assert sum(not ax.axison for ax in fig.axes) == 3  # lower triangle switched off
    assert fig.axes[0].get_title() == "a" and fig.axes[1].get_title() == "c"
    # the path is drawn in the upper panel (row 0, col 1) in data coordinates
    xy = fig.axes[1].lines[0].get_xydata()
    np.testing.assert_allclose(xy, path[:, [2, 0]])
    out = tmp_path / "pair.png"
    fig.savefig(out)
    assert out.stat().st_size > 1000


def test_pairplot_rejects_mismatched_points():
    with pytest.raises(ValueError, match=r"points: expected arrays of shape \(m, 3\)"):
        pairplot(np.zeros((10, 3)), points=np.zeros(2))
    with pytest.raises(ValueError, match=r"samples: expected a 2-D array"):
        pairplot(np.zeros(10))


def test_conditional_pairplot_and_path_profile(tmp_path):
    prior = BoxUniform([-1.0, -1.0], [1.0, 1.0])
    post = DistributionPosterior(
        mixture([[-0.6, -0.6], [0.6, 0.6], [0.6, -0.6]], [0.2, 0.2, 0.2]), prior
    )
    fig = conditional_pairplot(post, torch.tensor([0.6, -0.6]), resolution=20)
    assert len(fig.axes) == 4
    img = fig.axes[1].images[0].get_array()
    assert img.shape == (20, 20)
    fig.savefig(tmp_path / "cond.png")
    res = high_probability_path(post, [-0.6, -0.6], [0.6, 0.6], num_points=30, max_iter=20)
    br = circuit_breakdown(res, lambda th: th, lambda out: out[:, 1] < 0.3, num_evaluations=6)
    fig = path_profile(res, breakdown=br)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["path", "straight line"]
    assert max(float(np.max(line.get_ydata())) for line in ax.lines) == pytest.approx(0.0)
    fig.savefig(tmp_path / "profile.png")
