"""Baselines: recovery of known linear systems, causality, behaviour use, error tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.population.baselines import (
    BaselineConfig,
    LastValue,
    NetFormerForecaster,
    NeuPRINTForecaster,
    RecurrentForecaster,
    RidgeVAR,
    lagged_correlation_connectivity,
    partial_correlation_connectivity,
    pearson_connectivity,
    var_connectivity,
)
from neurodyn.population.metrics import forecast_correlation
from neurodyn.population.splits import chronological_split

FAST = BaselineConfig(window=4, hidden_dim=32, epochs=6, patience=3, batch_size=32, lr=5e-3)


def simulate_var(coefs: list[np.ndarray], num_steps: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = coefs[0].shape[0]
    x = np.zeros((num_steps + 100, n))
    for t in range(len(coefs), len(x)):
        x[t] = sum(a @ x[t - k - 1] for k, a in enumerate(coefs)) + rng.normal(size=n)
    return x[100:]


@pytest.fixture(scope="module")
def var1() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = np.where(rng.random((6, 6)) < 0.3, rng.normal(0, 0.4, (6, 6)), 0.0)
    a += np.diag(np.full(6, 0.5))
    a *= 0.85 / np.max(np.abs(np.linalg.eigvals(a)))  # stable
    return a, simulate_var([a], 1500, 1)


def test_last_value_is_a_shift():
    x = np.arange(12.0).reshape(6, 2)
    p = LastValue().fit(x).predict(x)
    assert torch.isnan(p[0]).all()
    np.testing.assert_array_equal(p[1:].numpy(), x[:-1])
    b = np.ones((6, 1))  # behaviour is accepted (and ignored)
    np.testing.assert_array_equal(LastValue().fit(x, b).predict(x, b).numpy()[1:], x[:-1])


def test_ridge_var_recovers_a_known_var2():
    a1 = np.array([[0.5, 0.3, 0.0], [0.0, 0.4, -0.3], [0.2, 0.0, 0.3]])
    a2 = np.array([[-0.2, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.25, 0.0]])
    x = simulate_var([a1, a2], 8000, 2)
    model = RidgeVAR(lags=(1, 2, 4), alphas=(1e-3, 1.0, 100.0)).fit(x)
    assert model.lag in (2, 4)
    train, _, _ = chronological_split(len(x))
    sd = x[train].std(0)
    for lag, a in ((1, a1), (2, a2)):
        a_z = a * sd[None, :] / sd[:, None]  # coefficients of the z-scored process
        np.testing.assert_allclose(model.coefficients(lag), a_z, atol=0.05)
    if model.lag == 4:
        assert np.abs(model.coefficients(4)).max() < 0.05


def test_var_connectivity_matches_ols_formulas(var1):
    _, x = var1
    z = (x - x.mean(0)) / x.std(0)
    design = np.hstack([z[:-1], np.ones((len(z) - 1, 1))])
    beta, *_ = np.linalg.lstsq(design, z[1:], rcond=None)
    ref = beta[:-1].T.copy()
    np.fill_diagonal(ref, 0)
    np.testing.assert_allclose(var_connectivity(x, alpha=0.0), ref, atol=1e-8)
    resid = z[1:] - design @ beta
    s2 = (resid**2).sum(0) / (len(resid) - design.shape[1])
    se = np.sqrt(s2[:, None] * np.diag(np.linalg.inv(design.T @ design))[None, :-1])
    t_ref = beta[:-1].T / se
    np.fill_diagonal(t_ref, 0)
    np.testing.assert_allclose(var_connectivity(x, 0.0, "tstat"), t_ref, rtol=1e-6, atol=1e-8)


def test_var_connectivity_recovers_edges(var1):
    a, x = var1
    est = var_connectivity(x, alpha=1.0)
    off = ~np.eye(6, dtype=bool)
    sd = x.std(0)
    a_z = a * sd[None, :] / sd[:, None]
    np.testing.assert_allclose(est[off], a_z[off], atol=0.08)


def test_correlation_connectivities_match_definitions():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(800, 4)) @ rng.normal(size=(4, 4))
    c = pearson_connectivity(x)
    ref = np.corrcoef(x.T)
    np.fill_diagonal(ref, 0)
    np.testing.assert_allclose(c, ref, atol=1e-12)
    lag = lagged_correlation_connectivity(x, lag=2)
    assert lag[1, 3] == pytest.approx(np.corrcoef(x[2:, 1], x[:-2, 3])[0, 1])
    assert lag[3, 1] == pytest.approx(np.corrcoef(x[2:, 3], x[:-2, 1])[0, 1])
    # partial correlation = correlation of residuals after regressing out the other neurons
    pc = partial_correlation_connectivity(x, shrinkage=0.0)
    others = np.hstack([x[:, [2, 3]], np.ones((800, 1))])
    r0 = x[:, 0] - others @ np.linalg.lstsq(others, x[:, 0], rcond=None)[0]
    r1 = x[:, 1] - others @ np.linalg.lstsq(others, x[:, 1], rcond=None)[0]
    assert pc[0, 1] == pytest.approx(np.corrcoef(r0, r1)[0, 1], abs=1e-9)
    assert np.all(np.diag(pc) == 0) and np.allclose(pc, pc.T)


def _models():
    return {
        "last": LastValue(),
        "var": RidgeVAR(lags=(1, 2)),
        "lstm": RecurrentForecaster("lstm", FAST),
        "gru": RecurrentForecaster("gru", FAST),
        "neuprint": NeuPRINTForecaster(FAST),
        "netformer": NetFormerForecaster(
            BaselineConfig(window=4, epochs=6, patience=3, batch_size=32, lr=1e-2)
        ),
    }


@pytest.fixture(scope="module")
def fitted(var1):
    _, x = var1
    return {name: m.fit(x) for name, m in _models().items()}


def test_forecasters_are_causal_and_learn_a_var(fitted, var1):
    a, x = var1
    _, _, test = chronological_split(len(x))
    optimal = np.zeros_like(x)
    optimal[1:] = x[:-1] @ a.T
    r_opt = np.nanmean(forecast_correlation(optimal[test], x[test]))
    # NeuPRINT sees its own window and population mean/std, not single other neurons: its
    # reference is the best linear predictor from the own window and the mean window
    train, _, _ = chronological_split(len(x))
    pop = np.full_like(x, np.nan)
    for i in range(x.shape[1]):
        feats = [x[4 - k : len(x) - k, i] for k in range(1, 5)]
        feats += [x[4 - k : len(x) - k].mean(1) for k in range(1, 5)]
        design = np.column_stack([*feats, np.ones(len(x) - 4)])
        fit = slice(0, train.stop - 4)
        coef = np.linalg.lstsq(design[fit], x[4:, i][fit], rcond=None)[0]
        pop[4:, i] = design @ coef
    r_pop = np.nanmean(forecast_correlation(pop[test], x[test]))
    t_cut = 900
    changed = x.copy()
    changed[t_cut:] += 5.0
    for name, model in fitted.items():
        pred = model.predict(x).numpy()
        assert pred.shape == x.shape
        assert np.isnan(pred[: model.window]).all() and np.isfinite(pred[model.window :]).all()
        # rows <= t_cut use only rows < t_cut: changing the future leaves them unchanged
        np.testing.assert_allclose(
            model.predict(changed).numpy()[: t_cut + 1],
            pred[: t_cut + 1],
            rtol=1e-5,
            atol=1e-5,
            err_msg=name,
        )
        r = np.nanmean(forecast_correlation(pred[test], x[test]))
        ref = {"last": 0.4 * r_opt, "neuprint": 0.9 * r_pop}.get(name, 0.9 * r_opt)
        assert r > ref, (name, r, r_opt, r_pop)


def test_netformer_connectivity_shape(fitted, var1):
    c = fitted["netformer"].connectivity(var1[1])
    assert c.shape == (6, 6) and np.all(np.diag(c) == 0) and np.isfinite(c).all()


@pytest.mark.parametrize("name", ["var", "gru", "neuprint"])
def test_forecasters_use_behaviour(name):
    rng = np.random.default_rng(7)
    b = rng.normal(size=(800, 2))
    x = np.zeros((800, 3))
    x[1:] = b[:-1] @ np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]) + 0.3 * rng.normal(size=(799, 3))
    _, _, test = chronological_split(800)
    with_b = _models()[name].fit(x, b)
    without = _models()[name].fit(x)
    r_b = np.nanmean(forecast_correlation(with_b.predict(x, b)[test], x[test]))
    r_0 = np.nanmean(forecast_correlation(without.predict(x)[test], x[test]))
    assert r_b > 0.8 and r_0 < 0.3, (r_b, r_0)


X = np.random.default_rng(0).normal(size=(100, 3))


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda: LastValue().fit(X[:, :1]),
            ValueError,
            r"activity: expected a 2-D array \(num_steps, num_neurons >= 2\)",
        ),
        (
            lambda: RidgeVAR().fit(np.where(X > 2, np.nan, X)),
            ValueError,
            "activity: expected finite values",
        ),
        (
            lambda: RidgeVAR().fit(X, X[:50]),
            ValueError,
            r"behaviour: expected a \(100, num_behaviour\) array",
        ),
        (
            lambda: RidgeVAR().fit(X, np.full((100, 1), np.inf)),
            ValueError,
            "behaviour: expected finite values",
        ),
        (lambda: RidgeVAR().predict(X), ValueError, "model: expected a fitted model"),
        (
            lambda: LastValue().fit(X).predict(X[:, :2]),
            ValueError,
            r"activity: expected 3 neurons \(columns\) as in fit",
        ),
        (
            lambda: RidgeVAR(lags=(1,)).fit(X).predict(X, X[:, :1]),
            ValueError,
            "behaviour: expected 0 behaviour channels as in fit",
        ),
        (
            lambda: RidgeVAR(lags=(4,)).fit(X).predict(X[:4]),
            ValueError,
            "activity: expected more than window=4 time steps",
        ),
        (
            lambda: RecurrentForecaster("lstm", BaselineConfig(window=20)).fit(X[:60]),
            ValueError,
            "num_steps: expected a recording long enough for a val block of >= 21 steps",
        ),
        (lambda: RecurrentForecaster("rnn"), ValueError, "cell: expected one of 'lstm', 'gru'"),
        (lambda: NeuPRINTForecaster({"window": 4}), TypeError, "config: expected a BaselineConfig"),
        (lambda: BaselineConfig(window=0), ValueError, "window: expected a finite number > 0"),
        (lambda: BaselineConfig(lr=-1.0), ValueError, "lr: expected a finite number > 0"),
        (
            lambda: BaselineConfig(split=(0.5, 0.6, 0.1)),
            ValueError,
            "fractions: expected fractions summing to 1",
        ),
        (
            lambda: NetFormerForecaster(embedding_dim=-1),
            ValueError,
            "embedding_dim: expected a finite number >= 0",
        ),
        (lambda: RidgeVAR(lags=(0,)), ValueError, "lags: expected a non-empty tuple of integers"),
        (lambda: RidgeVAR(alphas=(-1.0,)), ValueError, "alphas: expected a finite number > 0"),
        (
            lambda: RidgeVAR(lags=(1,)).fit(X).coefficients(2),
            ValueError,
            r"lag: expected an integer in \[1, 1\]",
        ),
        (
            lambda: partial_correlation_connectivity(X, 1.0),
            ValueError,
            r"shrinkage: expected a number in \[0, 1\)",
        ),
        (
            lambda: var_connectivity(X, statistic="f"),
            ValueError,
            "statistic: expected one of 'coef', 'tstat'",
        ),
        (
            lambda: var_connectivity(X, alpha=-1.0),
            ValueError,
            "alpha: expected a finite number >= 0",
        ),
        (
            lambda: lagged_correlation_connectivity(X, 99),
            ValueError,
            "lag: expected an integer < 99",
        ),
        (lambda: pearson_connectivity(X[:2]), ValueError, "activity: expected at least 3 time"),
    ],
)
def test_baseline_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
