"""Connectivity and forecast plots."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from neurodyn.plot.population import plot_connectivity, plot_forecast


def test_connectivity_plot_uses_symmetric_limits_and_order(tmp_path):
    a = np.array([[0.0, 2.0, -1.0], [0.5, 0.0, 0.0], [-0.5, 0.1, 0.0]])
    fig = plot_connectivity(torch.tensor(a), neuron_names=["a", "b", "c"], order=[2, 0, 1])
    im = fig.axes[0].images[0]
    assert im.get_clim() == (-2.0, 2.0)
    np.testing.assert_array_equal(im.get_array(), a[np.ix_([2, 0, 1], [2, 0, 1])])
    fig.savefig(tmp_path / "a.png")
    plt.close(fig)


def test_forecast_plot_reports_correlation():
    x = np.random.default_rng(0).normal(size=(50, 4))
    p = x.copy()
    p[:5] = np.nan
    fig = plot_forecast(x, p, rate_hz=10.0, neurons=[1, 3])
    assert len(fig.axes) == 2
    assert "r = 1.00" in fig.axes[0].get_legend().get_texts()[1].get_text()
    plt.close(fig)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plot_connectivity(np.zeros((2, 3))), "adjacency: expected a square"),
        (lambda: plot_connectivity(np.zeros(3)), "adjacency: expected a 2-D array"),
        (lambda: plot_connectivity(np.zeros((2, 2)), order=[0, 0]), "order: expected a perm"),
        (lambda: plot_forecast(np.zeros((5, 2)), np.zeros((4, 2))), "prediction: expected shape"),
        (
            lambda: plot_forecast(np.zeros((5, 2)), np.zeros((5, 2)), neurons=[2]),
            "neurons: expected column indices",
        ),
    ],
)
def test_plot_error_table(call, match):
    with pytest.raises(ValueError, match=match):
        call()
