"""Metrics against hand-computed values and independent references (scikit-learn, scipy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from neurodyn.population.metrics import (
    connectivity_scores,
    current_activity_crosscorrelation,
    edge_auprc,
    edge_auroc,
    forecast_correlation,
    forecast_mse,
    input_currents,
    mean_ci,
    paired_test,
    pc_correlation,
    shuffled_connectivity,
    sign_accuracy,
    weight_spearman,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def test_forecast_correlation_and_mse_match_columnwise_numpy():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(300, 4))
    p = 0.7 * y + rng.normal(size=(300, 4))
    p[:5] = np.nan  # warm-up rows of a teacher-forced prediction
    r = forecast_correlation(torch.as_tensor(p), y)
    ref = [np.corrcoef(p[5:, i], y[5:, i])[0, 1] for i in range(4)]
    np.testing.assert_allclose(r, ref, rtol=1e-12)
    np.testing.assert_allclose(forecast_mse(p, y), ((p[5:] - y[5:]) ** 2).mean(0), rtol=1e-12)


def test_forecast_correlation_constant_neuron_is_nan():
    y = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    r = forecast_correlation(y, y)
    assert r[0] == pytest.approx(1.0) and np.isnan(r[1])


def test_pc_correlation_matches_sklearn_pca():
    decomposition = pytest.importorskip("sklearn.decomposition")
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(6, 6))
    train = rng.normal(size=(500, 6)) @ mix
    y = rng.normal(size=(200, 6)) @ mix
    p = y + rng.normal(size=(200, 6))
    pca = decomposition.PCA(3).fit(train)
    ref = [np.corrcoef(pca.transform(p)[:, k], pca.transform(y)[:, k])[0, 1] for k in range(3)]
    np.testing.assert_allclose(pc_correlation(p, y, train, 3), ref, rtol=1e-9)


def test_mean_ci_hand_computed():
    mean, lo, hi = mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729911275 / np.sqrt(3)  # t_{0.975, 2} * sd / sqrt(n), sd = 1
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert mean_ci([5.0, np.nan]) == (5.0, 5.0, 5.0)


def test_paired_test_hand_computed():
    res = paired_test([1.0, 2.0, 3.0, 4.0, np.nan], [0.0, 0.0, 0.0, 0.0, 1.0])
    t = 2.5 / (np.std([1, 2, 3, 4], ddof=1) / 2)  # mean(d) / (sd(d) / sqrt(n))
    assert res.num == 4 and res.mean_difference == pytest.approx(2.5)
    assert res.t_statistic == pytest.approx(t)
    assert res.p_value == pytest.approx(2 * stats.t.sf(t, 3))
    assert res.wilcoxon_p == pytest.approx(0.125)  # exact: 2 / 2**4
    assert res.as_dict()["mean_a"] == pytest.approx(2.5)


def test_auroc_hand_example_with_tie():
    w = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    # edges (0,1), (1,2): scores 0.5, 0.2; non-edges (0,2) 0.2, (1,0) 0.1, (2,0) 0.9, (2,1) 0.0
    a = np.array([[7, -0.5, 0.2], [0.1, 7, 0.2], [0.9, 0.0, 7]])
    # pairs (edge > non-edge): 0.5 beats 3 of 4; 0.2 beats 2, ties 1 -> (3 + 2 + 0.5) / 8
    assert edge_auroc(a, w) == pytest.approx(5.5 / 8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_auprc_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(12, 12)) * (rng.random((12, 12)) < 0.2)
    a = np.round(rng.normal(size=(12, 12)) + 2 * w, 1)  # rounding creates ties
    off = ~np.eye(12, dtype=bool)
    labels, score = (w != 0)[off], np.abs(a)[off]
    assert edge_auroc(a, w) == pytest.approx(sklearn_metrics.roc_auc_score(labels, score))
    assert edge_auprc(a, w) == pytest.approx(sklearn_metrics.average_precision_score(labels, score))


def test_perfect_and_chance_connectivity():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(60, 60)) * (rng.random((60, 60)) < 0.1)
    np.fill_diagonal(w, 0)
    s = connectivity_scores(w, w)
    assert s == pytest.approx({"auroc": 1.0, "auprc": 1.0, "sign_accuracy": 1.0, "spearman": 1.0})
    rand = rng.normal(size=(60, 60))
    assert abs(edge_auroc(rand, w) - 0.5) < 0.05
    assert abs(edge_auprc(rand, w) - (w != 0).sum() / (60 * 59)) < 0.04
    assert abs(sign_accuracy(rand, w) - 0.5) < 0.08


def test_sign_accuracy_and_spearman_hand():
    w = np.array([[0, 2.0, -1.0], [0.0, 0, 0.5], [-3.0, 0, 0]])
    a = np.array([[9, 1.0, 1.0], [0.2, 9, 0.0], [-1.0, 0.1, 9]])
    # true edges: (0,1)+ ok, (0,2)- wrong, (1,2)+ estimate 0 wrong, (2,0)- ok
    assert sign_accuracy(a, w) == 0.5
    off = ~np.eye(3, dtype=bool)
    ra, rw = stats.rankdata(a[off]), stats.rankdata(w[off])
    assert weight_spearman(a, w) == pytest.approx(np.corrcoef(ra, rw)[0, 1])
    assert weight_spearman(-a, w) == pytest.approx(-np.corrcoef(ra, rw)[0, 1])


def test_input_currents_and_shuffle():
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]])
    a = np.array([[0, 1.0, 0], [0.5, 0, 2.0], [0, 0, 0]])
    np.testing.assert_allclose(input_currents(x, a), [[2.0, 6.5, 0.0], [-1.0, 2.0, 0.0]])
    big = np.arange(25.0).reshape(5, 5)
    s = shuffled_connectivity(big, seed=1)
    np.testing.assert_array_equal(np.diag(s), np.diag(big))
    off = ~np.eye(5, dtype=bool)
    assert sorted(s[off]) == sorted(big[off]) and not np.array_equal(s, big)
    np.testing.assert_array_equal(s, shuffled_connectivity(big, seed=1))


def test_current_activity_crosscorrelation_delayed_copy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4000, 3))
    x[2:, 1] = x[:-2, 0]  # neuron 1 copies neuron 0 two steps later
    a = np.zeros((3, 3))
    a[1, 0] = 1.0  # current into neuron 1 is neuron 0's activity
    lags, c = current_activity_crosscorrelation(x, a, 3)
    np.testing.assert_array_equal(lags, [-3, -2, -1, 0, 1, 2, 3])
    assert c[lags == 2, 1][0] == pytest.approx(1.0)
    others = np.delete(c[:, 1], np.nonzero(lags == 2)[0])
    assert np.all(np.abs(others) < 0.06)
    assert np.all(np.isnan(c[:, 0]))  # neuron 0 gets no current


@pytest.mark.parametrize(
    ("func", "args", "exc", "match"),
    [
        (
            forecast_correlation,
            (np.zeros((3, 2)), np.zeros((3, 3))),
            ValueError,
            r"prediction: expected the shape of target \(3, 3\)",
        ),
        (
            forecast_correlation,
            (np.zeros(3), np.zeros(3)),
            ValueError,
            "prediction: expected a 2-D array",
        ),
        (
            forecast_mse,
            (np.full((3, 2), np.nan), np.zeros((3, 2))),
            ValueError,
            "prediction: expected at least 2 rows where prediction and target are finite",
        ),
        (
            forecast_mse,
            (np.zeros((3, 2)), np.full((3, 2), np.inf)),
            ValueError,
            "target: expected finite or NaN values",
        ),
        (forecast_mse, ("x", np.zeros((3, 2))), TypeError, "prediction: expected a torch.Tensor"),
        (
            pc_correlation,
            (np.ones((4, 2)), np.ones((4, 2)), np.ones((4, 3))),
            ValueError,
            r"activity_train: expected 2 neurons \(columns\)",
        ),
        (
            pc_correlation,
            (np.ones((4, 2)), np.ones((4, 2)), np.ones((4, 2)), 3),
            ValueError,
            r"num_components: expected an integer in \[1, 2\]",
        ),
        (
            pc_correlation,
            (np.ones((4, 2)), np.ones((4, 2)), np.ones((4, 2)), 1.0),
            TypeError,
            "num_components: expected an integer",
        ),
        (mean_ci, ([np.nan],), ValueError, "values: expected at least one finite value"),
        (mean_ci, ([1.0, 2.0], 1.5), ValueError, r"level: expected a number in \(0, 1\)"),
        (paired_test, ([1.0, 2.0], [1.0]), ValueError, r"b: expected the shape of a \(2,\)"),
        (
            paired_test,
            ([1.0, np.nan], [1.0, 2.0]),
            ValueError,
            "a: expected at least 2 pairs with finite values",
        ),
        (
            edge_auroc,
            (np.zeros((3, 3)), np.zeros((3, 2))),
            ValueError,
            r"weights: expected a square \(N, N\) matrix",
        ),
        (
            edge_auroc,
            (np.zeros((2, 2)), np.zeros((3, 3))),
            ValueError,
            r"estimate: expected the shape of weights \(3, 3\)",
        ),
        (
            edge_auroc,
            (np.zeros((3, 3)), np.zeros((3, 3))),
            ValueError,
            "weights: expected both edges",
        ),
        (
            edge_auprc,
            (np.zeros((3, 3)), np.ones((3, 3))),
            ValueError,
            "weights: expected both edges",
        ),
        (
            edge_auroc,
            (np.full((3, 3), np.nan), np.eye(3)),
            ValueError,
            "estimate: expected finite values",
        ),
        (
            sign_accuracy,
            (np.zeros((3, 3)), np.eye(3)),
            ValueError,
            "weights: expected at least one edge",
        ),
        (
            input_currents,
            (np.zeros((5, 3)), np.zeros((2, 2))),
            ValueError,
            r"connectivity: expected shape \(3, 3\)",
        ),
        (
            shuffled_connectivity,
            (np.zeros((2, 3)),),
            ValueError,
            r"connectivity: expected a square \(N, N\) matrix",
        ),
        (
            current_activity_crosscorrelation,
            (np.zeros((5, 2)), np.zeros((2, 2)), 4),
            ValueError,
            r"max_lag: expected an integer in \[0, 3\]",
        ),
        (
            current_activity_crosscorrelation,
            (np.zeros((5, 2)), np.zeros((2, 2)), 1.5),
            TypeError,
            "max_lag: expected an integer",
        ),
    ],
)
def test_metric_errors(func, args, exc, match):
    with pytest.raises(exc, match=match):
        func(*args)
