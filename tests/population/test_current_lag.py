"""SynapsNet with a same-frame input current (``current_lag=0``) for connectivity estimation.

With ``current_lag=0`` the current window that predicts frame t ends at frame t, so the other
neurons' frame t enters the prediction of x_i[t] -- but only through A, never the target itself.
"""

from __future__ import annotations

import pytest
import torch

from neurodyn.population import SynapsNet, SynapsNetConfig, fit_synapsnet
from neurodyn.population.splits import chronological_split

DECODERS = ("mlp", "gru", "transformer")
SMALL = {"window": 4, "hidden_dim": 16, "embedding_dim": 4, "batch_size": 64}


def _model(decoder: str, n: int = 6, lag: int = 0) -> SynapsNet:
    cfg = SynapsNetConfig(
        window=5, hidden_dim=8, embedding_dim=4, decoder=decoder, a_init="normal", current_lag=lag
    )
    model = SynapsNet([n], 0, cfg)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return model.eval()


@pytest.mark.parametrize("decoder", DECODERS)
def test_same_frame_current_enters_only_through_a(decoder):
    n, k, i, j, t0 = 6, 2, 4, 1, 17
    model = _model(decoder, n)
    with torch.no_grad():
        model.weights[0][i, k] = 0.0  # k -/-> i
        model.weights[0][j, k] = 0.7  # k --> j
    x = torch.randn(40, n, generator=torch.Generator().manual_seed(1))
    p = model.predict(x)
    # frame t0 of neuron k changes the same-frame prediction of j (A[j, k] != 0) ...
    x_k = x.clone()
    x_k[t0, k] += 3.0
    p_k = model.predict(x_k)
    assert abs(float(p[t0, j] - p_k[t0, j])) > 1e-4
    assert torch.equal(p[5:t0], p_k[5:t0])
    # ... but never that of i (A[i, k] = 0), at any frame
    x_all = x.clone()
    x_all[:, k] += 3.0 * torch.randn(40, generator=torch.Generator().manual_seed(2))
    assert torch.equal(model.predict(x_all)[5:, i], p[5:, i])
    # the target frame itself is not an input (zero diagonal): no leak of x_i[t0] into row t0
    x_i = x.clone()
    x_i[t0, i] += 3.0
    assert torch.equal(model.predict(x_i)[5 : t0 + 1, i], p[5 : t0 + 1, i])


def test_default_lag_one_does_not_see_the_same_frame():
    model = _model("mlp", lag=1)
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(3))
    x2 = x.clone()
    x2[17, 2] += 3.0
    assert torch.equal(model.predict(x)[5:18], model.predict(x2)[5:18])


def _instantaneous(t: int = 2000, seed: int = 0) -> torch.Tensor:
    """Neuron 1 copies neuron 0 *within* the frame; all neurons are AR(1) otherwise.

    Lag-1 cross-dependence between 0 and 1 exists only through their autocorrelation, which
    each neuron's own history already explains; the edge is visible at lag 0 only.
    """
    gen = torch.Generator().manual_seed(seed)
    n = 6
    e = torch.randn(t, n, generator=gen)
    drive = torch.zeros(t, n)
    for s in range(1, t):
        drive[s] = 0.5 * drive[s - 1] + e[s]
    x = drive.clone()
    x[:, 1] = 0.8 * drive[:, 0] + 0.6 * drive[:, 1]
    return x


def _top_pair(a: torch.Tensor) -> set[int]:
    a = a.abs() + a.abs().T
    a.fill_diagonal_(0)
    flat = int(a.argmax())
    return {flat // a.shape[0], flat % a.shape[0]}


def test_lag_zero_recovers_a_within_frame_edge_that_lag_one_misses():
    x = _instantaneous()
    cfg = {**SMALL, "epochs": 6, "l1": 0.0}
    a0 = fit_synapsnet(x, config=SynapsNetConfig(**cfg, current_lag=0), device="cpu")
    a1 = fit_synapsnet(x, config=SynapsNetConfig(**cfg), device="cpu")
    c0, c1 = a0.connectivity(), a1.connectivity()
    assert _top_pair(c0) == {0, 1}
    # the within-frame weight dominates every other weight by a wide margin ...
    off = c0.abs() + c0.abs().T
    off.fill_diagonal_(0)
    off[0, 1] = off[1, 0] = 0
    assert c0[1, 0].abs() + c0[0, 1].abs() > 3 * off.max()
    # ... while the lag-1 model has nothing to learn from it (all weights small)
    assert c1.abs().max() < 0.5 * (c0[1, 0].abs() + c0[0, 1].abs())


@pytest.mark.parametrize("lag", [0, 1])
def test_predict_uses_the_training_windows(lag):
    """The validation loss of the best epoch equals the MSE of ``predict`` on those rows."""
    x = _instantaneous(600, seed=4)
    cfg = SynapsNetConfig(**SMALL, epochs=2, current_lag=lag)
    model = fit_synapsnet(x, config=cfg, device="cpu")
    _, val, _ = chronological_split(len(x), cfg.split)
    st = model.stats(0)
    z_err = (model.predict(x)[val] - x[val]) / st["act_std"]
    torch.testing.assert_close(
        (z_err**2).mean(), torch.tensor(min(model.history["val_loss"])), rtol=1e-4, atol=1e-6
    )


def test_lag_zero_model_refuses_to_forecast_and_round_trips(tmp_path):
    model = _model("mlp")
    with pytest.raises(ValueError, match=r"config\.current_lag: expected 1 for forecasting"):
        model.forecast(torch.randn(20, 6), steps=2)
    path = model.save(tmp_path / "m.safetensors")
    back = SynapsNet.load(path)
    assert back.config.current_lag == 0
    x = torch.randn(20, 6)
    assert torch.equal(back.predict(x).nan_to_num(), model.predict(x).nan_to_num())


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"current_lag": 2}, ValueError, "current_lag: expected 0 \\(same-frame current"),
        ({"current_lag": True}, ValueError, "current_lag: expected 0"),
        ({"current_lag": 0.0}, ValueError, "current_lag: expected 0"),
        (
            {"current_lag": 0, "zero_diagonal": False},
            ValueError,
            "zero_diagonal: expected True when current_lag=0",
        ),
    ],
)
def test_current_lag_config_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SynapsNetConfig(**kwargs)
