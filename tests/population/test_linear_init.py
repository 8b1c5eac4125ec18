"""SynapsNetConfig(linear_init=True): training starts from the pooled least-squares AR(W).

"Before training" is one epoch at a learning rate of 1e-12 (Adam moves each weight by about
the learning rate), since ``epochs`` must be positive.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.population import SynapsNetConfig, chronological_split, fit_synapsnet


def _ar2_sessions(seed: int = 0, n: int = 6, t_len: int = 1500) -> np.ndarray:
    """Independent AR(2) neurons ``x_t = 1.2 x_{t-1} - 0.5 x_{t-2} + e_t`` plus offsets."""
    rng = np.random.default_rng(seed)
    x = np.zeros((t_len, n))
    e = rng.normal(size=(t_len, n))
    for t in range(2, t_len):
        x[t] = 1.2 * x[t - 1] - 0.5 * x[t - 2] + e[t]
    return (x + rng.normal(size=n) * 3.0).astype(np.float32)


def _pooled_ar(x: np.ndarray, window: int, split=(0.7, 0.1, 0.2)) -> np.ndarray:
    """Independent reference: numpy least squares of z[t] on z[t-W..t-1] + 1, pooled over
    neurons on the training block (z-scored with the training block's mean and std)."""
    train, _, _ = chronological_split(len(x), split)
    mu, sd = x[train].mean(0), x[train].std(0)
    z = (x - mu) / sd
    rows = [z[t - window : t].T for t in range(window, train.stop)]  # (N, W) each
    a = np.concatenate(rows)
    y = np.concatenate([z[t] for t in range(window, train.stop)])
    coef = np.linalg.lstsq(np.c_[a, np.ones(len(a))], y, rcond=None)[0]
    pred = np.full_like(x, np.nan, dtype=np.float64)
    for t in range(window, len(x)):
        pred[t] = z[t - window : t].T @ coef[:window] + coef[window]
    return pred * sd + mu


@pytest.mark.parametrize("decoder", ["mlp", "gru", "transformer"])
def test_linear_init_is_the_pooled_least_squares_ar_before_training(decoder):
    x = _ar2_sessions()
    cfg = SynapsNetConfig(
        window=4,
        hidden_dim=8,
        embedding_dim=3,
        decoder=decoder,
        epochs=1,
        lr=1e-12,
        linear_init=True,
        input_clip=None,
    )
    model = fit_synapsnet(x, config=cfg, device="cpu", progress=False)
    got = model.predict(x).numpy()
    ref = _pooled_ar(x, 4)
    np.testing.assert_allclose(got[4:], ref[4:], rtol=1e-3, atol=1e-3)
    # the AR(2) structure: lags 1 and 2 carry the weight, lags 3 and 4 almost none
    w = model.decoder.skip_x.weight.detach().numpy()[0]  # oldest lag first
    assert abs(w[3] - 1.2) < 0.08 and abs(w[2] + 0.5) < 0.08 and np.abs(w[:2]).max() < 0.08


def test_without_linear_init_the_untrained_model_is_not_the_ar():
    """Negative control: the reference comparison above can fail."""
    x = _ar2_sessions()
    cfg = SynapsNetConfig(
        window=4,
        hidden_dim=8,
        embedding_dim=3,
        epochs=1,
        lr=1e-12,
        input_clip=None,
        linear_init=False,
    )
    got = fit_synapsnet(x, config=cfg, device="cpu", progress=False).predict(x).numpy()
    assert np.nanmax(np.abs(got[4:] - _pooled_ar(x, 4)[4:])) > 0.1


def test_linear_init_pools_sessions_and_residual_targets():
    xs = [_ar2_sessions(1, n=4, t_len=900), _ar2_sessions(2, n=7, t_len=1300)]
    cfg = SynapsNetConfig(
        window=3, hidden_dim=8, epochs=1, lr=1e-12, linear_init=True, residual=True
    )
    model = fit_synapsnet(xs, config=cfg, device="cpu", progress=False)
    w = model.decoder.skip_x.weight.detach().numpy()[0]
    # residual: the skip path predicts z[t] - z[t-1], so the last lag is the AR lag minus 1
    assert abs(w[2] - 0.2) < 0.08 and abs(w[1] + 0.5) < 0.08
    for s, x in enumerate(xs):
        assert np.isfinite(model.predict(x, session=s).numpy()[3:]).all()


def test_linear_init_trains_from_the_ar_and_keeps_a_learning():
    """Training starts at the AR; the result is no worse on validation and A is learned."""
    rng = np.random.default_rng(3)
    t_len, n = 2000, 5
    x = np.zeros((t_len, n))
    for t in range(1, t_len):  # neuron 0 drives neuron 1 with one step of delay
        x[t] = 0.6 * x[t - 1] + rng.normal(size=n)
        x[t, 1] += 0.8 * x[t - 1, 0]
    x = x.astype(np.float32)
    cfg = SynapsNetConfig(window=4, hidden_dim=8, epochs=15, patience=5, linear_init=True, seed=1)
    model = fit_synapsnet(x, config=cfg, device="cpu", progress=False)
    a = model.connectivity().abs().numpy()
    assert a[1, 0] == a.max() and a[1, 0] > 5 * np.median(a[a > 0])
    start = SynapsNetConfig(**{**cfg.to_dict(), "epochs": 1, "lr": 1e-12, "split": cfg.split})
    untrained = fit_synapsnet(x, config=start, device="cpu", progress=False)
    _, val, _ = chronological_split(t_len, cfg.split)
    err = [np.nanmean((m.predict(x).numpy()[val] - x[val]) ** 2) for m in (model, untrained)]
    assert err[0] < err[1]


def test_linear_init_has_no_effect_with_the_poisson_loss():
    x = np.random.default_rng(0).poisson(2.0, size=(400, 4)).astype(np.float32)
    base = dict(window=4, hidden_dim=8, epochs=1, lr=1e-12, loss="poisson")
    a = fit_synapsnet(x, config=SynapsNetConfig(**base), device="cpu", progress=False)
    b = fit_synapsnet(
        x, config=SynapsNetConfig(linear_init=True, **base), device="cpu", progress=False
    )
    torch.testing.assert_close(a.predict(x), b.predict(x), equal_nan=True)


def test_linear_init_is_the_default():
    assert SynapsNetConfig().linear_init is True
    assert SynapsNetConfig.from_dict({"window": 4}).linear_init is True


def test_linear_init_must_be_a_bool():
    with pytest.raises(TypeError, match="linear_init"):
        SynapsNetConfig(linear_init=1)
