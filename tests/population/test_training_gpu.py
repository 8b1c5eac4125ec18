"""SynapsNet on CUDA: same predictions as on CPU for the same weights; fits on the GPU."""

from __future__ import annotations

import pytest
import torch

from neurodyn.population import SynapsNet, SynapsNetConfig, fit_synapsnet

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("decoder", ["mlp", "gru", "transformer"])
def test_cuda_predictions_match_cpu(decoder):
    cfg = SynapsNetConfig(window=6, hidden_dim=16, decoder=decoder, a_init="normal")
    cpu = SynapsNet([30], 1, cfg).eval()
    gpu = SynapsNet([30], 1, cfg)
    gpu.load_state_dict(cpu.state_dict())
    gpu = gpu.to("cuda").eval()
    x, b = torch.randn(80, 30), torch.randn(80, 1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.testing.assert_close(
        gpu.predict(x, b), cpu.predict(x, b), rtol=1e-4, atol=1e-4, equal_nan=True
    )
    torch.testing.assert_close(
        gpu.forecast(x, torch.randn(85, 1), steps=5).shape, torch.Size([5, 30])
    )


@pytest.mark.parametrize("decoder", ["mlp", "gru", "transformer"])
def test_fit_on_cuda_recovers_planted_edge(decoder):
    gen = torch.Generator().manual_seed(0)
    n, t = 8, 1500
    w = torch.zeros(n, n)
    w[2, 5] = 1.2
    x = torch.zeros(t, n)
    for k in range(1, t):
        x[k] = torch.tanh(w @ x[k - 1] + 0.5 * x[k - 1]) + 0.5 * torch.randn(n, generator=gen)
    model = fit_synapsnet(
        x,
        config=SynapsNetConfig(window=4, hidden_dim=16, epochs=8, decoder=decoder, lr=3e-3),
        device="cuda",
    )
    assert model.device.type == "cuda"
    a = model.connectivity().abs()
    a.fill_diagonal_(0)
    assert int(a.flatten().argmax()) == 2 * n + 5
    assert min(model.history["val_loss"]) < 0.9 * model.history["val_loss"][0]
