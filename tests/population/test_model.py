"""SynapsNet model: A is the only path between neurons, causality, outputs, files, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodyn.population import SynapsNet, SynapsNetConfig

DECODERS = ("mlp", "gru", "transformer")


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equality with NaN == NaN."""
    return bool(
        torch.equal(torch.isnan(a), torch.isnan(b)) and torch.equal(a.nan_to_num(), b.nan_to_num())
    )


def _model(decoder: str, n: int = 6, nb: int = 0, **kw) -> SynapsNet:
    cfg = SynapsNetConfig(
        window=5, hidden_dim=8, embedding_dim=4, decoder=decoder, a_init="normal", **kw
    )
    model = SynapsNet([n], nb, cfg)
    with torch.no_grad():  # make every decoder weight non-trivial
        for p in model.decoder.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return model.eval()


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("with_behaviour", [False, True])
def test_connectivity_is_the_only_path_between_neurons(decoder, with_behaviour):
    n, k, i, j = 6, 2, 4, 1
    nb = 2 if with_behaviour else 0
    model = _model(decoder, n, nb)
    with torch.no_grad():
        model.weights[0][i, k] = 0.0  # k -/-> i
        model.weights[0][j, k] = 0.7  # k --> j
    assert model.connectivity()[i, k] == 0 and model.connectivity()[j, k] != 0
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(40, n, generator=gen)
    b = torch.randn(40, nb, generator=gen) if nb else None
    x2 = x.clone()
    x2[:, k] += 3.0 * torch.randn(40, generator=gen)  # change neuron k's whole trace
    p1, p2 = model.predict(x, b), model.predict(x2, b)
    assert _same(p1[:, i], p2[:, i])
    assert (p1[5:, j] - p2[5:, j]).abs().max() > 1e-3
    # all other neurons receive input from k (normal init), so they change too
    others = [m for m in range(n) if m not in (i, k)]
    assert ((p1[5:, others] - p2[5:, others]).abs().amax(0) > 1e-4).all()
    f1 = model.forecast(x[:20], b[:23] if nb else None, steps=3)
    f2 = model.forecast(x2[:20], b[:23] if nb else None, steps=3)
    assert torch.equal(f1[0, i], f2[0, i])


@pytest.mark.parametrize("decoder", DECODERS)
def test_without_connectivity_neurons_are_independent(decoder):
    model = _model(decoder, 5)
    with torch.no_grad():
        model.weights[0].zero_()
    x = torch.randn(30, 5)
    x2 = x.clone()
    x2[:, :4] = torch.randn(30, 4)
    assert _same(model.predict(x)[:, 4], model.predict(x2)[:, 4])


@pytest.mark.parametrize("decoder", DECODERS)
def test_prediction_is_causal_and_first_window_is_nan(decoder):
    model = _model(decoder)
    x = torch.randn(30, 6)
    p = model.predict(x)
    assert p.shape == (30, 6) and p.dtype == torch.float32
    assert torch.isnan(p[:5]).all() and torch.isfinite(p[5:]).all()
    t = 17
    x2 = x.clone()
    x2[t] += 5.0
    p2 = model.predict(x2)
    assert _same(p[: t + 1], p2[: t + 1])  # row t uses rows < t only
    assert not torch.equal(p[t + 1], p2[t + 1])


@pytest.mark.parametrize("decoder", DECODERS)
def test_forecast_matches_teacher_forced_prediction(decoder):
    model = _model(decoder, nb=1)
    x, b = torch.randn(25, 6), torch.randn(27, 1)
    f = model.forecast(x, b, steps=2)
    assert f.shape == (2, 6)
    p = model.predict(torch.cat([x, torch.zeros(1, 6)]), b[:26])
    torch.testing.assert_close(f[0], p[25])
    p2 = model.predict(torch.cat([x, f[:1], torch.zeros(1, 6)]), b)
    torch.testing.assert_close(f[1], p2[26])


def test_units_input_currents_and_embeddings():
    model = _model("mlp", 4)
    mean, std = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([0.5, 1.0, 2.0, 4.0])
    model.set_stats(0, mean, std)
    x = torch.randn(12, 4) * std + mean
    a = model.connectivity().double().numpy()
    z = ((x - mean) / std).double().numpy()
    np.testing.assert_allclose(model.input_currents(x).numpy(), z @ a.T, rtol=1e-5, atol=1e-6)
    assert model.embeddings().shape == (4, 4)
    # predictions come back in the original units: out = mean + std * decoder output
    p = model.predict(x)[5:]
    model.set_stats(0, mean + 10.0, std)
    shifted = model.predict(x + 10.0)[5:]
    torch.testing.assert_close(shifted, p + 10.0)


def test_zero_diagonal_and_dale_sign():
    model = SynapsNet(5, config=SynapsNetConfig(a_init="normal"))
    assert (torch.diagonal(model.connectivity()) == 0).all()
    free = SynapsNet(5, config=SynapsNetConfig(a_init="normal", zero_diagonal=False))
    assert (torch.diagonal(free.connectivity()) != 0).all()
    dale = SynapsNet(6, config=SynapsNetConfig(a_init="normal", sign="dale"))
    a = dale.connectivity()
    off = ~torch.eye(6, dtype=torch.bool)
    for col in range(6):
        signs = torch.sign(a[off[:, col], col])
        assert (signs == signs[0]).all()  # all outgoing weights of a neuron share a sign


def test_neuron_chunking_gives_the_same_predictions():
    model = _model("gru", 7)
    x = torch.randn(30, 7)
    chunked = SynapsNet(
        [7],
        0,
        SynapsNetConfig(**{**model.config.to_dict(), "split": (0.7, 0.1, 0.2), "neuron_chunk": 3}),
    )
    chunked.load_state_dict(model.state_dict())
    torch.testing.assert_close(chunked.eval().predict(x), model.predict(x), equal_nan=True)


@pytest.mark.parametrize("decoder", DECODERS)
def test_save_load_round_trip(tmp_path, decoder):
    model = _model(decoder, 5, nb=2, sign="dale")
    model.set_stats(0, torch.arange(5.0), torch.ones(5) * 2, torch.ones(2), torch.ones(2) * 3)
    path = model.save(tmp_path / "m.safetensors")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["config"]["decoder"] == decoder and meta["num_neurons"] == [5]
    loaded = SynapsNet.load(path)
    x, b = torch.randn(20, 5), torch.randn(20, 2)
    assert _same(loaded.predict(x, b), model.predict(x, b))
    assert torch.equal(loaded.connectivity(), model.connectivity())


def test_load_rejects_foreign_files(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match=r"path: expected a neurodyn\.synapsnet/1"):
        SynapsNet.load(path)
    with pytest.raises(FileNotFoundError, match="path: expected an existing file"):
        SynapsNet.load(tmp_path / "missing.safetensors")


_M = None


def _err_model():
    global _M
    if _M is None:
        _M = _model("mlp", 4, nb=1)
    return _M


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda m: m.predict(torch.randn(20)), ValueError, "activity: expected a 2-D array"),
        (
            lambda m: m.predict(torch.randn(20, 3), torch.randn(20, 1)),
            ValueError,
            "activity: expected 4 neurons",
        ),
        (
            lambda m: m.predict(torch.randn(5, 4), torch.randn(5, 1)),
            ValueError,
            "activity: expected more than window=5 time steps",
        ),
        (lambda m: m.predict(torch.randn(20, 4)), ValueError, "behaviour: expected a \\(20, 1\\)"),
        (
            lambda m: m.predict(torch.randn(20, 4), torch.randn(19, 1)),
            ValueError,
            "behaviour: expected shape \\(20, 1\\)",
        ),
        (
            lambda m: m.predict(torch.full((20, 4), float("nan")), torch.randn(20, 1)),
            ValueError,
            "activity: expected no NaN values, got '80 NaN entries in 20 frames'",
        ),
        (
            lambda m: m.predict(torch.full((20, 4), float("inf")), torch.randn(20, 1)),
            ValueError,
            "activity: expected finite values",
        ),
        (lambda m: m.predict("abc"), TypeError, "activity: expected a torch.Tensor"),
        (
            lambda m: m.predict(torch.randn(20, 4), torch.randn(20, 1), session=1),
            ValueError,
            "session: expected an index in \\[0, 0\\]",
        ),
        (lambda m: m.connectivity(session="0"), TypeError, "session: expected an integer"),
        (
            lambda m: m.forecast(torch.randn(20, 4), torch.randn(22, 1), steps=0),
            ValueError,
            "steps: expected a finite number > 0",
        ),
        (
            lambda m: m.forecast(torch.randn(5, 4), torch.randn(7, 1), steps=2),
            ValueError,
            "activity: expected more than window=5 time steps",
        ),
        (
            lambda m: m.forecast(torch.randn(20, 4), torch.randn(20, 1), steps=2),
            ValueError,
            "behaviour: expected shape \\(22, 1\\)",
        ),
        (
            lambda m: m.input_currents(torch.randn(20, 3)),
            ValueError,
            "activity: expected a 2-D array \\(num_steps, 4\\)",
        ),
        (lambda m: SynapsNet([4, 1]), ValueError, "num_neurons: expected sessions of >= 2"),
        (lambda m: SynapsNet([]), ValueError, "num_neurons: expected at least one session"),
        (
            lambda m: SynapsNet(3, config={"window": 3}),
            TypeError,
            "config: expected a SynapsNetConfig",
        ),
    ],
)
def test_model_error_table(call, exc, match):
    with pytest.raises(exc, match=match):
        call(_err_model())


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"window": 0}, ValueError, "window: expected a finite number > 0"),
        ({"window": 2.5}, ValueError, "window: expected an integer"),
        ({"decoder": "lstm"}, ValueError, "decoder: expected one of 'mlp', 'gru'"),
        ({"loss": "l1"}, ValueError, "loss: expected one of 'mse', 'poisson'"),
        ({"sign": "positive"}, ValueError, "sign: expected one of 'none', 'dale'"),
        ({"nan_policy": "drop"}, ValueError, "nan_policy: expected one of 'error', 'mask'"),
        ({"l1": -1.0}, ValueError, "l1: expected a finite number >= 0"),
        ({"lr": 0.0}, ValueError, "lr: expected a finite number > 0"),
        ({"split": (0.5, 0.5)}, ValueError, "split: expected 3 fractions"),
        ({"seed": -1}, TypeError, "seed: expected an integer >= 0"),
        ({"zero_diagonal": 1}, TypeError, "zero_diagonal: expected a bool"),
        (
            {"decoder": "transformer", "hidden_dim": 9, "num_heads": 2},
            ValueError,
            "hidden_dim: expected a multiple of num_heads=2",
        ),
        ({"neuron_chunk": 0}, ValueError, "neuron_chunk: expected a finite number > 0"),
    ],
)
def test_config_error_table(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SynapsNetConfig(**kwargs)


def test_config_dict_round_trip_and_unknown_keys():
    cfg = SynapsNetConfig(decoder="gru", split=(0.6, 0.2, 0.2), l1=1e-4)
    assert SynapsNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="config: expected keys among"):
        SynapsNetConfig.from_dict({"windw": 3})
