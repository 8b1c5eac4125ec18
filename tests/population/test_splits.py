"""Tests of chronological splits and training-split z-scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.population.splits import chronological_split, zscore_stats


@pytest.mark.parametrize("num_steps", [10, 100, 101, 997, 30_000])
def test_split_is_a_contiguous_partition(num_steps):
    train, val, test = chronological_split(num_steps)
    assert train.start == 0 and train.stop == val.start and val.stop == test.start
    assert test.stop == num_steps
    assert abs((train.stop - train.start) - 0.7 * num_steps) <= 0.5
    assert abs((val.stop - val.start) - 0.1 * num_steps) <= 0.5


def test_split_custom_fractions_and_empty_val():
    train, val, test = chronological_split(50, (0.8, 0.0, 0.2))
    assert (train, val, test) == (slice(0, 40), slice(40, 40), slice(40, 50))
    idx = np.arange(50)
    assert len(idx[val]) == 0


def test_split_min_steps():
    assert chronological_split(100, min_steps=10)[1] == slice(70, 80)
    with pytest.raises(ValueError, match="val block of 10"):
        chronological_split(100, min_steps=11)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"num_steps": 1}, ValueError, "num_steps: expected an integer >= 2, got 1"),
        ({"num_steps": 10.0}, TypeError, "num_steps: expected an integer, got 10.0"),
        ({"num_steps": True}, TypeError, "num_steps: expected an integer"),
        ({"num_steps": 10, "fractions": (0.5, 0.5)}, ValueError, "fractions: expected 3 numbers"),
        ({"num_steps": 10, "fractions": "abc"}, TypeError, "fractions: expected a sequence"),
        ({"num_steps": 10, "fractions": (0.5, "a", 0.5)}, TypeError, "fractions: expected numbers"),
        (
            {"num_steps": 10, "fractions": (1.2, -0.4, 0.2)},
            ValueError,
            r"each fraction in \[0, 1\]",
        ),
        (
            {"num_steps": 10, "fractions": (0.0, 0.5, 0.5)},
            ValueError,
            "train and test fractions > 0",
        ),
        (
            {"num_steps": 10, "fractions": (0.5, 0.5, 0.0)},
            ValueError,
            "train and test fractions > 0",
        ),
        ({"num_steps": 10, "fractions": (0.5, 0.2, 0.2)}, ValueError, "fractions summing to 1"),
        (
            {"num_steps": 10, "fractions": (0.7, 0.1, 0.2), "min_steps": 0},
            ValueError,
            "min_steps: expected a finite number > 0",
        ),
        (
            {"num_steps": 10, "fractions": (0.7, 0.1, 0.2), "min_steps": 3},
            ValueError,
            "num_steps: expected a recording long enough for a val block of >= 3 steps",
        ),
        ({"num_steps": 3, "fractions": (0.7, 0.1, 0.2)}, ValueError, "val block of 0"),
    ],
)
def test_split_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        chronological_split(**kwargs)


def test_zscore_stats_matches_numpy_and_keeps_type():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(500, 7))
    mean, std = zscore_stats(x)
    assert isinstance(mean, np.ndarray) and mean.shape == (7,)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(0), rtol=1e-12)
    tmean, tstd = zscore_stats(torch.as_tensor(x, dtype=torch.float32))
    assert isinstance(tmean, torch.Tensor) and tmean.dtype == torch.float32
    np.testing.assert_allclose(tstd.numpy(), x.std(0), rtol=1e-5)


def test_zscore_stats_floor_nan_and_1d():
    x = np.array([[1.0, 5.0], [np.nan, 5.0], [3.0, 5.0]])
    mean, std = zscore_stats(x)
    np.testing.assert_allclose(mean, [2.0, 5.0])
    np.testing.assert_allclose(std, [1.0, 1e-6])
    m1, s1 = zscore_stats(np.array([1.0, 2.0, 3.0, 4.0]))
    assert m1.shape == () and float(m1) == 2.5
    np.testing.assert_allclose(s1, np.std([1.0, 2.0, 3.0, 4.0]))


@pytest.mark.parametrize(
    ("value", "exc", "match"),
    [
        ("abc", TypeError, "activity_train: expected a torch.Tensor or numpy array"),
        (np.zeros((2, 2, 2)), ValueError, "activity_train: expected a 1-D or 2-D array"),
        (np.zeros((0, 3)), ValueError, "activity_train: expected at least one time step"),
        (np.array([[1.0, np.inf]]), ValueError, "activity_train: expected finite or NaN values"),
        (np.array([[1.0, np.nan], [2.0, np.nan]]), ValueError, "1 all-NaN channel"),
        (np.array([True, False]), TypeError, "activity_train: expected a real-valued array"),
    ],
)
def test_zscore_stats_errors(value, exc, match):
    with pytest.raises(exc, match=match):
        zscore_stats(value)
