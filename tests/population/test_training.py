"""fit_synapsnet: learning, planted-connection recovery, sessions, files, resume, errors."""

from __future__ import annotations

import pytest
import torch

from neurodyn.population import SynapsNet, SynapsNetConfig, fit_synapsnet
from neurodyn.population.training import _optimizer, _Session, _train_epoch

SMALL = {"window": 4, "hidden_dim": 16, "embedding_dim": 4, "batch_size": 64}


def _network(n: int = 8, t: int = 1500, seed: int = 0, edges=((2, 5, 1.2), (6, 1, -1.2))):
    """x_{t+1} = tanh(W x_t + 0.5 x_t) + noise with a few planted edges ``(post, pre, w)``."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.zeros(n, n)
    for post, pre, val in edges:
        if max(post, pre) < n:
            w[post, pre] = val
    x = torch.zeros(t, n)
    for k in range(1, t):
        x[k] = torch.tanh(w @ x[k - 1] + 0.5 * x[k - 1]) + 0.5 * torch.randn(n, generator=gen)
    return x, w


@pytest.fixture(scope="module")
def network():
    return _network()


@pytest.fixture(scope="module", params=[False, True], ids=["random_start", "linear_init"])
def fitted(network, request):
    x, _ = network
    cfg = SynapsNetConfig(**SMALL, epochs=8, lr=3e-3, linear_init=request.param)
    return fit_synapsnet(x, config=cfg, device="cpu")


def _start_val_loss(x, config: SynapsNetConfig) -> float:
    """Validation loss of the model training starts from (one epoch at lr 1e-12)."""
    start = SynapsNetConfig.from_dict({**config.to_dict(), "epochs": 1, "lr": 1e-12})
    return fit_synapsnet(x, config=start, device="cpu", progress=False).history["val_loss"][0]


def test_training_reduces_validation_loss_and_recovers_planted_edges(network, fitted):
    x, _ = network
    hist = fitted.history
    assert len(hist["val_loss"]) == 8 and all(s > 0 for s in hist["neuron_steps"])
    if fitted.config.linear_init:  # training improves on the least-squares AR it starts from
        assert min(hist["val_loss"]) < 0.95 * _start_val_loss(x, fitted.config)
    else:
        assert min(hist["val_loss"]) < 0.9 * hist["val_loss"][0]
    a = fitted.connectivity().abs()
    a.fill_diagonal_(0)
    top2 = set(torch.topk(a.flatten(), 2).indices.tolist())
    assert top2 == {2 * 8 + 5, 6 * 8 + 1}
    a_signed = fitted.connectivity()
    assert a_signed[2, 5] > 0 > a_signed[6, 1]  # canonical sign: excitation is positive
    # held-out one-step forecasts beat "copy the last value"
    p = fitted.predict(x)
    test = slice(1200, 1500)
    mse = ((p[test] - x[test]) ** 2).mean()
    last = ((x[1199:1499] - x[test]) ** 2).mean()
    assert mse < 0.8 * last


def test_sign_canonicalisation_keeps_predictions(fitted, network):
    from neurodyn.population.training import _canonical_sign

    x, _ = network
    before = fitted.predict(x[:100])
    with torch.no_grad():
        fitted.weights[0].neg_()
        fitted.decoder.in_i.weight.neg_()
        fitted.decoder.skip_i.weight.neg_()
    torch.testing.assert_close(fitted.predict(x[:100]), before, equal_nan=True)
    cfg = fitted.config
    _canonical_sign(fitted, [_Session(x, None, cfg, 0, torch.device("cpu"))])
    assert fitted.connectivity()[2, 5] > 0
    torch.testing.assert_close(fitted.predict(x[:100]), before, equal_nan=True)


def test_save_load_after_fit_gives_identical_predictions(fitted, network, tmp_path):
    x, _ = network
    path = fitted.save(tmp_path / "model.safetensors")
    loaded = SynapsNet.load(path)
    p1, p2 = fitted.predict(x), loaded.predict(x)
    assert torch.equal(p1.nan_to_num(), p2.nan_to_num())
    assert loaded.history["val_loss"] == fitted.history["val_loss"]


def test_seed_determinism():
    x, _ = _network(n=5, t=400, seed=3)
    cfg = SynapsNetConfig(**SMALL, epochs=2)
    a1 = fit_synapsnet(x, config=cfg, device="cpu").connectivity()
    a2 = fit_synapsnet(x, config=cfg, device="cpu").connectivity()
    a3 = fit_synapsnet(
        x, config=SynapsNetConfig(**SMALL, epochs=2, seed=1), device="cpu"
    ).connectivity()
    assert torch.equal(a1, a2)
    assert not torch.equal(a1, a3)


def test_resume_from_checkpoint_continues_exactly(tmp_path):
    x, _ = _network(n=5, t=400, seed=4)
    full = fit_synapsnet(x, config=SynapsNetConfig(**SMALL, epochs=4, patience=10), device="cpu")
    part = fit_synapsnet(
        x,
        config=SynapsNetConfig(**SMALL, epochs=2, patience=10),
        device="cpu",
        checkpoint_dir=tmp_path,
    )
    assert (tmp_path / "checkpoint.safetensors").is_file()
    assert (tmp_path / "checkpoint.json").is_file()
    assert len(part.history["val_loss"]) == 2
    resumed = fit_synapsnet(
        x,
        config=SynapsNetConfig(**SMALL, epochs=4, patience=10),
        device="cpu",
        checkpoint_dir=tmp_path,
    )
    assert resumed.history["val_loss"][:2] == part.history["val_loss"]
    assert resumed.history["val_loss"] == full.history["val_loss"]
    torch.testing.assert_close(resumed.connectivity(), full.connectivity(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="checkpoint_dir: expected a checkpoint written with"):
        fit_synapsnet(
            x,
            config=SynapsNetConfig(**SMALL, epochs=4, lr=0.1),
            device="cpu",
            checkpoint_dir=tmp_path,
        )


def test_early_stopping_restores_best_epoch():
    x, _ = _network(n=4, t=300, seed=5)
    model = fit_synapsnet(
        x, config=SynapsNetConfig(**SMALL, epochs=30, patience=2, lr=3e-2), device="cpu"
    )
    val = model.history["val_loss"]
    best = min(range(len(val)), key=val.__getitem__)
    assert len(val) == best + 3 or len(val) == 30  # stopped 2 epochs after the best


def test_sessions_update_only_their_own_connectivity_and_embeddings():
    xa, _ = _network(n=5, t=300, seed=6)
    xb, _ = _network(n=3, t=300, seed=7)
    cfg = SynapsNetConfig(**SMALL, a_init="normal")
    model = SynapsNet([5, 3], 0, cfg)
    dev = torch.device("cpu")
    sessions = [_Session(xa, None, cfg, 0, dev), _Session(xb, None, cfg, 1, dev)]
    for s, sess in enumerate(sessions):
        model.set_stats(s, sess.mean, sess.std)
    opt = _optimizer(model, cfg)
    _train_epoch(model, sessions, opt, cfg, 0)  # both sessions: Adam moments exist for all
    sessions[0].train_t = sessions[0].train_t[:0]  # next epoch: session 1 batches only
    a0, e0 = model.weights[0].detach().clone(), model.neuron_embeddings[0].detach().clone()
    a1 = model.weights[1].detach().clone()
    dec = model.decoder.in_x.weight.detach().clone()
    _train_epoch(model, sessions, opt, cfg, 1)
    assert torch.equal(model.weights[0], a0) and torch.equal(model.neuron_embeddings[0], e0)
    assert not torch.equal(model.weights[1], a1)
    assert not torch.equal(model.decoder.in_x.weight, dec)


def test_multi_session_fit_with_behaviour():
    gen = torch.Generator().manual_seed(8)
    xs, bs = [], []
    for n, t in ((4, 500), (3, 400)):
        b = torch.randn(t, 1, generator=gen).cumsum(0) * 0.1
        x = 0.3 * torch.randn(t, n, generator=gen)
        x[1:] += torch.tanh(b[:-1])  # behaviour drives every neuron with lag 1
        xs.append(x)
        bs.append(b)
    cfg = SynapsNetConfig(**SMALL, epochs=6, lr=3e-3)
    with_b = fit_synapsnet(xs, bs, config=cfg, device="cpu")
    without = fit_synapsnet(xs, config=cfg, device="cpu")
    assert with_b.num_neurons == (4, 3) and with_b.num_behaviour == 1
    assert min(with_b.history["val_loss"]) < min(without.history["val_loss"])
    assert with_b.predict(xs[1], bs[1], session=1).shape == (400, 3)


def test_poisson_loss_on_counts():
    gen = torch.Generator().manual_seed(9)
    t, n = 800, 4
    counts = torch.zeros(t, n)
    for k in range(1, t):
        rate = torch.exp(-0.5 + 0.8 * (counts[k - 1, 0] > 0) * torch.tensor([0, 1.0, 0, 0]))
        counts[k] = torch.poisson(rate.expand(n).clone(), generator=gen)
    cfg = SynapsNetConfig(**SMALL, epochs=6, loss="poisson", lr=3e-3)
    model = fit_synapsnet(counts, config=cfg, device="cpu")
    assert model.history["val_loss"][-1] < model.history["val_loss"][0]
    p = model.predict(counts)
    assert (p[4:] > 0).all()
    a = model.connectivity().abs()
    assert a[1, 0] == a.max()


def test_nan_frames_masked_when_asked():
    x, _ = _network(n=4, t=400, seed=10)
    x[[50, 51, 300]] = float("nan")
    x[120, 2] = float("nan")
    with pytest.raises(ValueError, match="activity: expected no NaN values, got '13 NaN entries"):
        fit_synapsnet(x, config=SynapsNetConfig(**SMALL, epochs=1), device="cpu")
    model = fit_synapsnet(
        x, config=SynapsNetConfig(**SMALL, epochs=2, nan_policy="mask"), device="cpu"
    )
    assert all(v == v for v in model.history["val_loss"])
    assert torch.isfinite(model.predict(x)[4:]).all()
    assert torch.isfinite(model.connectivity()).all()


def test_neuron_chunks_do_not_change_training():
    x, _ = _network(n=6, t=300, seed=11)
    whole = fit_synapsnet(x, config=SynapsNetConfig(**SMALL, epochs=2), device="cpu")
    parts = fit_synapsnet(
        x, config=SynapsNetConfig(**SMALL, epochs=2, neuron_chunk=4), device="cpu"
    )
    torch.testing.assert_close(parts.connectivity(), whole.connectivity(), rtol=1e-4, atol=1e-5)


def test_independent_neuron_control_keeps_a_zero():
    x, _ = _network(n=4, t=300, seed=12)
    model = fit_synapsnet(
        x, config=SynapsNetConfig(**SMALL, epochs=1, learn_connectivity=False), device="cpu"
    )
    assert (model.connectivity() == 0).all()


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((torch.randn(100),), {}, ValueError, "activity: expected 2-D arrays"),
        ((torch.randn(100, 3, 2),), {}, ValueError, "activity: expected 2-D arrays"),
        ((torch.randn(100, 1),), {}, ValueError, "activity: expected sessions with >= 2 neurons"),
        (
            ([torch.randn(100, 3), torch.randn(100, 1)],),
            {},
            ValueError,
            "activity: expected sessions with >= 2 neurons",
        ),
        ((torch.randn(5, 3),), {}, ValueError, "activity: expected more than window \\+ 1 = 5"),
        (
            (torch.randn(6, 3),),
            {},
            ValueError,
            "activity: expected sessions whose training block is longer than window=4",
        ),
        (([],), {}, ValueError, "activity: expected at least one session"),
        (("x",), {}, TypeError, "activity: expected a torch.Tensor or numpy array"),
        (
            (torch.randn(100, 3), torch.randn(99, 2)),
            {},
            ValueError,
            "behaviour: expected shape \\(100, num_behaviour\\) in session 0",
        ),
        (
            (torch.randn(100, 3), [torch.randn(100, 1)] * 2),
            {},
            ValueError,
            "behaviour: expected 1 sessions",
        ),
        (
            ([torch.randn(100, 3)] * 2, [torch.randn(100, 1), torch.randn(100, 2)]),
            {},
            ValueError,
            "behaviour: expected the same number of channels",
        ),
        (
            (torch.randn(100, 3), torch.full((100, 1), float("nan"))),
            {},
            ValueError,
            "behaviour: expected no NaN values",
        ),
        (
            (-torch.rand(100, 3),),
            {"config": SynapsNetConfig(window=4, loss="poisson")},
            ValueError,
            "activity: expected non-negative counts",
        ),
        (
            (torch.randn(100, 3),),
            {"config": {"window": 4}},
            TypeError,
            "config: expected a SynapsNetConfig",
        ),
        ((torch.randn(100, 3),), {"device": "tpu"}, ValueError, "device: expected"),
    ],
)
def test_fit_error_table(args, kwargs, exc, match):
    kwargs = {"config": SynapsNetConfig(window=4, epochs=1), "device": "cpu", **kwargs}
    with pytest.raises(exc, match=match):
        fit_synapsnet(*args, **kwargs)


def test_dale_fit_keeps_one_sign_per_presynaptic_neuron(network):
    x, _ = network
    model = fit_synapsnet(
        x, config=SynapsNetConfig(**SMALL, epochs=4, sign="dale", a_init="normal"), device="cpu"
    )
    a = model.connectivity()
    off = ~torch.eye(8, dtype=torch.bool)
    for col in range(8):
        signs = torch.sign(a[off[:, col], col])
        assert (signs == signs[0]).all()
    assert a[6, 1] < 0  # the planted inhibitory edge keeps its sign


def test_l1_shrinks_connectivity():
    x, _ = _network(n=6, t=600, seed=13)
    weak = fit_synapsnet(x, config=SynapsNetConfig(**SMALL, epochs=3, l1=0.0), device="cpu")
    strong = fit_synapsnet(x, config=SynapsNetConfig(**SMALL, epochs=3, l1=1.0), device="cpu")
    assert strong.connectivity().abs().sum() < 0.5 * weak.connectivity().abs().sum()
