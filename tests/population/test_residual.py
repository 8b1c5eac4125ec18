"""SynapsNetConfig(residual=True): the decoder predicts the change from the last frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.population import SynapsNet, SynapsNetConfig, fit_synapsnet
from neurodyn.population.baselines import LastValue


def _pair(decoder: str = "mlp", n: int = 5) -> tuple[SynapsNet, SynapsNet]:
    """Two models with identical parameters, plain and residual."""
    kw = dict(window=4, hidden_dim=8, embedding_dim=3, decoder=decoder, a_init="normal")
    plain = SynapsNet([n], 0, SynapsNetConfig(**kw)).eval()
    res = SynapsNet([n], 0, SynapsNetConfig(residual=True, **kw)).eval()
    res.load_state_dict(plain.state_dict())
    return plain, res


@pytest.mark.parametrize("decoder", ["mlp", "gru", "transformer"])
def test_residual_output_is_plain_output_plus_last_frame(decoder):
    plain, res = _pair(decoder)
    mean, std = torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0]), torch.tensor([2.0, 0.5, 1.0, 4.0, 1.5])
    for m in (plain, res):
        m.set_stats(0, mean, std)
    x = mean + std * torch.randn(30, 5, generator=torch.Generator().manual_seed(0))
    diff = res.predict(x) - plain.predict(x)
    # in units: (out + z[t-1]) * std + mean - (out * std + mean) = x[t-1] - mean
    torch.testing.assert_close(diff[4:], x[3:-1] - mean, rtol=1e-5, atol=1e-5)
    assert torch.isnan(diff[:4]).all()


def test_residual_with_a_zero_decoder_is_the_last_value_baseline():
    _, res = _pair()
    with torch.no_grad():
        for p in res.decoder.parameters():
            p.zero_()
    x = np.random.default_rng(1).normal(size=(40, 5)).astype(np.float32)
    ref = LastValue().fit(x).predict(x).numpy()
    p = res.predict(x).numpy()
    np.testing.assert_allclose(p[4:], ref[4:], rtol=1e-6, atol=1e-6)


def test_residual_keeps_connectivity_the_only_path_between_neurons():
    _, res = _pair(n=4)
    with torch.no_grad():
        res.weights[0][0, 2] = 0.0
    x = torch.randn(25, 4)
    x2 = x.clone()
    x2[:, 2] += 2.0
    assert torch.equal(res.predict(x)[4:, 0], res.predict(x2)[4:, 0])
    assert not torch.equal(res.predict(x)[4:, 1], res.predict(x2)[4:, 1])


def test_residual_fit_and_forecast_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(300, 3)), 0).astype(np.float32)  # random walks
    cfg = SynapsNetConfig(window=4, hidden_dim=8, epochs=3, patience=2, residual=True)
    model = fit_synapsnet(x, config=cfg, device="cpu", progress=False)
    assert np.isfinite(model.history["val_loss"]).all()
    f = model.forecast(x[:50], steps=2)
    p = model.predict(np.vstack([x[:50], np.zeros((1, 3), np.float32)]))
    torch.testing.assert_close(f[0], p[50])
    path = model.save(tmp_path / "m.safetensors")
    again = SynapsNet.load(path)
    assert again.config.residual
    torch.testing.assert_close(again.predict(x), model.predict(x), equal_nan=True)


def test_residual_config_errors():
    with pytest.raises(ValueError, match='residual: expected False with loss="poisson"'):
        SynapsNetConfig(residual=True, loss="poisson")
    with pytest.raises(TypeError, match="residual: expected a bool"):
        SynapsNetConfig(residual=1)
    assert SynapsNetConfig().residual is False
    assert SynapsNetConfig.from_dict({"window": 4}).residual is False  # old configs load
