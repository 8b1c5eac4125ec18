"""Circuit breakdown along paths, with callables standing in for simulator and classifier."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from neurodyn.analysis import all_finite, circuit_breakdown, equally_spaced_indices

ELIFE_SIMULATED = [0, 3, 7, 10, 13, 16, 20, 25, 30, 36, 41, 45, 50, 54, 59, 63, 67, 71, 75, 79]


def test_equally_spaced_indices_reproduce_the_elife_choice(load_npz):
    ref = load_npz("elife2020_stg_paths_extracted.npz")
    idx = equally_spaced_indices(ref["high_p_path_dists"], 20)
    assert idx.tolist() == ELIFE_SIMULATED


def toy_simulator(theta: torch.Tensor) -> torch.Tensor:
    """Features = theta, NaN ("no rhythm") once theta_0 exceeds 0.5."""
    out = theta.clone()
    out[theta[:, 0] > 0.5] = float("nan")
    return out


def test_breakdown_on_points_finds_the_first_invalid_point():
    pts = torch.stack([torch.linspace(0, 1, 21), torch.zeros(21)], -1)
    res = circuit_breakdown(pts, toy_simulator)
    assert res.first_invalid == 11  # 0.55 is the first point beyond 0.5
    assert res.break_arc_length == pytest.approx(0.55)
    assert res.fraction_valid == pytest.approx(11 / 21)
    assert res.outputs.shape == (21, 2)
    assert res.valid[:11].all() and not res.valid[11:].any()


def test_breakdown_on_a_path_result_with_subsampling_and_custom_classifier():
    theta = torch.stack([torch.linspace(0, 1, 80), torch.linspace(0, 2, 80)], -1)
    arc = torch.linspace(0, 5, 80, dtype=torch.float64)
    path = SimpleNamespace(theta=theta, arc_length=arc)
    calls = []

    def simulate(th):
        calls.append(th.shape[0])
        return th.numpy()  # numpy outputs are accepted

    res = circuit_breakdown(path, simulate, lambda out: out[:, 1] < 1.0, num_evaluations=20)
    assert calls == [20]
    assert res.indices.tolist() == equally_spaced_indices(arc, 20).tolist()
    first = int(res.indices[res.first_invalid])
    assert theta[first, 1] >= 1.0 and theta[int(res.indices[res.first_invalid - 1]), 1] < 1.0
    assert res.break_arc_length == pytest.approx(float(arc[first]))


def test_no_breakdown():
    res = circuit_breakdown(torch.zeros(5, 3), lambda th: th)
    assert res.first_invalid is None and res.break_arc_length is None
    assert res.fraction_valid == 1.0


def test_all_finite_classifier():
    out = np.array([[1.0, 2.0], [np.nan, 1.0], [1.0, np.inf]])
    assert all_finite(torch.as_tensor(out)).tolist() == [True, False, False]
