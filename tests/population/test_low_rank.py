"""SynapsNetConfig(low_rank=k): adjacency A = S + U V^T, L1 on S only, A still the only path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodyn.population import SynapsNet, SynapsNetConfig, fit_synapsnet

DECODERS = ("mlp", "gru", "transformer")


def _model(decoder: str = "mlp", n: int = 6, rank: int = 2, **kw) -> SynapsNet:
    cfg = SynapsNetConfig(
        window=5,
        hidden_dim=8,
        embedding_dim=4,
        decoder=decoder,
        a_init="normal",
        low_rank=rank,
        **kw,
    )
    model = SynapsNet([n], 0, cfg)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():  # non-trivial decoder and low-rank factors
        for p in model.decoder.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
        for p in (*model.low_rank_u, *model.low_rank_v):
            p.copy_(torch.randn(p.shape, generator=gen))
    return model.eval()


def test_adjacency_is_sparse_plus_low_rank_with_zero_diagonal():
    model = _model(n=5, rank=2)
    s, u, v = model.weights[0], model.low_rank_u[0], model.low_rank_v[0]
    off = 1.0 - torch.eye(5)
    expect = (s + u @ v.T) * off
    torch.testing.assert_close(model.connectivity(part="full"), expect.detach())
    torch.testing.assert_close(model.connectivity(), (s * off).detach())  # default: S
    torch.testing.assert_close(model.connectivity(part="sparse"), (s * off).detach())
    torch.testing.assert_close(model.connectivity(part="low_rank"), (u @ v.T * off).detach())
    assert u.shape == v.shape == (5, 2)
    # the input currents use the full A
    x = torch.randn(20, 5)
    z = model.normalise(x, 0)
    torch.testing.assert_close(model.input_currents(x), z @ expect.detach().T)
    with pytest.raises(ValueError, match="part: expected one of 'sparse', 'low_rank', 'full'"):
        model.connectivity(part="dense")


def test_low_rank_starts_at_zero_and_without_it_parts_agree():
    model = SynapsNet([7], 0, SynapsNetConfig(window=3, low_rank=3, a_init="normal"))
    assert torch.count_nonzero(model.connectivity(part="low_rank")) == 0  # V = 0 at start
    torch.testing.assert_close(model.connectivity(part="full"), model.connectivity())
    plain = SynapsNet([7], 0, SynapsNetConfig(window=3, a_init="normal"))
    assert len(plain.low_rank_u) == 0
    torch.testing.assert_close(plain.connectivity(part="full"), plain.connectivity())
    assert torch.count_nonzero(plain.connectivity(part="low_rank")) == 0


@pytest.mark.parametrize("decoder", DECODERS)
def test_full_adjacency_is_the_only_path_between_neurons(decoder):
    """A zero entry of the *full* A cuts k -> i, even though S[i, k] and (U V^T)[i, k] are not."""
    n, k, i = 6, 2, 4
    model = _model(decoder, n, rank=2)
    with torch.no_grad():
        low = model.low_rank_adjacency(0)
        model.weights[0][i, k] = -low[i, k]  # S[i, k] = -(U V^T)[i, k] != 0
    full = model.connectivity(part="full")
    assert full[i, k] == 0
    assert model.connectivity()[i, k] != 0 and model.connectivity(part="low_rank")[i, k] != 0
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(40, n, generator=gen)
    x2 = x.clone()
    x2[:, k] += 3.0 * torch.randn(40, generator=gen)
    p1, p2 = model.predict(x), model.predict(x2)
    torch.testing.assert_close(p1[:, i], p2[:, i], rtol=0, atol=0, equal_nan=True)
    others = [m for m in range(n) if m not in (i, k)]
    assert ((p1[5:, others] - p2[5:, others]).abs().amax(0) > 1e-4).all()
    f1, f2 = model.forecast(x[:20], steps=3), model.forecast(x2[:20], steps=3)
    assert torch.equal(f1[0, i], f2[0, i])


def test_low_rank_part_alone_couples_neurons():
    """With S = 0 the neurons still interact, through U V^T only."""
    model = _model(n=5, rank=1)
    with torch.no_grad():
        model.weights[0].zero_()
    x = torch.randn(30, 5)
    x2 = x.clone()
    x2[:, 0] += 2.0
    assert (model.predict(x)[5:, 1:] - model.predict(x2)[5:, 1:]).abs().max() > 1e-3


def _mean_driven(n: int = 16, t_len: int = 1500, seed: int = 0) -> np.ndarray:
    """Each neuron is driven by the lagged population mean: a rank-1 coupling."""
    rng = np.random.default_rng(seed)
    x = np.zeros((t_len, n))
    for t in range(1, t_len):
        x[t] = 0.9 * x[t - 1].mean() + rng.normal(size=n)
    return x.astype(np.float32)


def test_l1_acts_on_the_sparse_part_only_and_low_rank_learns_population_coupling():
    """Under a strong L1 penalty only the unpenalised U V^T can carry a mean-field coupling.

    This fails if the penalty also reached U V^T, or if U V^T were not trained.
    """
    x = _mean_driven()
    kw = dict(window=2, hidden_dim=8, embedding_dim=0, epochs=15, patience=15, l1=10.0, lr=1e-2)
    sparse_only = fit_synapsnet(x, config=SynapsNetConfig(**kw), device="cpu", progress=False)
    low = fit_synapsnet(x, config=SynapsNetConfig(low_rank=1, **kw), device="cpu", progress=False)
    assert min(low.history["val_loss"]) < 0.9 * min(sparse_only.history["val_loss"])
    s, lr_part = low.connectivity(), low.connectivity(part="low_rank")
    assert s.abs().mean() < 0.1 * lr_part.abs().mean()
    # the learned coupling is close to rank 1 and uniform in sign (a population mean)
    off = ~torch.eye(x.shape[1], dtype=torch.bool)
    assert (torch.sign(lr_part[off]) == torch.sign(lr_part[off].mean())).float().mean() > 0.9


def test_canonical_sign_flip_leaves_predictions_unchanged():
    """(S, U, decoder current weights) -> their negatives is the symmetry training fixes."""
    model = _model(n=5, rank=2)
    x = torch.randn(30, 5)
    before = model.predict(x)
    with torch.no_grad():
        model.weights[0].neg_()
        model.low_rank_u[0].neg_()
        model.decoder.in_i.weight.neg_()
        model.decoder.skip_i.weight.neg_()
    torch.testing.assert_close(model.predict(x), before, equal_nan=True)


def test_fit_save_load_round_trip_and_frozen_connectivity(tmp_path):
    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    cfg = SynapsNetConfig(window=4, hidden_dim=8, epochs=2, low_rank=2)
    model = fit_synapsnet(x, config=cfg, device="cpu", progress=False)
    assert torch.count_nonzero(model.connectivity(part="low_rank")) > 0  # trained
    path = model.save(tmp_path / "m.safetensors")
    again = SynapsNet.load(path)
    assert again.config.low_rank == 2
    torch.testing.assert_close(again.predict(x), model.predict(x), equal_nan=True)
    torch.testing.assert_close(again.connectivity(part="full"), model.connectivity(part="full"))
    frozen = fit_synapsnet(
        x,
        config=SynapsNetConfig(window=4, epochs=1, low_rank=2, learn_connectivity=False),
        device="cpu",
        progress=False,
    )
    assert not frozen.low_rank_u[0].requires_grad and not frozen.low_rank_v[0].requires_grad
    assert torch.count_nonzero(frozen.connectivity(part="full")) == 0


def test_checkpoint_resume_with_low_rank(tmp_path):
    x = np.random.default_rng(1).normal(size=(150, 3)).astype(np.float32)
    cfg = SynapsNetConfig(window=3, hidden_dim=8, epochs=2, patience=5, low_rank=1)
    a = fit_synapsnet(x, config=cfg, device="cpu", progress=False, checkpoint_dir=tmp_path)
    more = SynapsNetConfig.from_dict({**cfg.to_dict(), "epochs": 3})
    b = fit_synapsnet(x, config=more, device="cpu", progress=False, checkpoint_dir=tmp_path)
    assert len(b.history["val_loss"]) == 3
    assert b.history["val_loss"][:2] == a.history["val_loss"]
    other = SynapsNetConfig.from_dict({**cfg.to_dict(), "low_rank": 2})
    with pytest.raises(ValueError, match="low_rank"):
        fit_synapsnet(x, config=other, device="cpu", progress=False, checkpoint_dir=tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"low_rank": -1}, ValueError, "low_rank: expected a finite number >= 0"),
        ({"low_rank": 1.5}, TypeError, "low_rank: expected an integer >= 0"),
        ({"low_rank": True}, TypeError, "low_rank: expected an integer >= 0"),
        ({"low_rank": "2"}, TypeError, "low_rank: expected an integer >= 0"),
        ({"low_rank": 1, "sign": "dale"}, ValueError, 'low_rank: expected 0 with sign="dale"'),
    ],
)
def test_low_rank_config_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SynapsNetConfig(**kwargs)


def test_low_rank_config_round_trip_and_old_configs():
    cfg = SynapsNetConfig(low_rank=3)
    assert SynapsNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = SynapsNetConfig().to_dict()
    old.pop("low_rank")
    assert SynapsNetConfig.from_dict(old) == SynapsNetConfig()  # files written before the field
