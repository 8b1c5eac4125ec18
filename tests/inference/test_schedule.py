"""Learning-rate schedules (cosine, warm-up) and random feature orders of the flows."""

from __future__ import annotations

import math

import pytest
import torch

from neurodyn.inference import NPE, NPEConfig, Posterior
from neurodyn.inference.config import config_from_dict
from neurodyn.inference.estimator import ConditionalDensity, build_flow
from neurodyn.inference.training import _schedule_factor
from neurodyn.priors import BoxUniform


def test_schedule_factor_values():
    assert _schedule_factor("constant", 7.3, 0.0, 10) == 1.0
    assert _schedule_factor("cosine", 0.0, 0.0, 10) == pytest.approx(1.0)
    assert _schedule_factor("cosine", 5.0, 0.0, 10) == pytest.approx(0.5)
    assert _schedule_factor("cosine", 10.0, 0.0, 10) == pytest.approx(0.0, abs=1e-12)
    assert _schedule_factor("cosine", 12.0, 0.0, 10) == pytest.approx(0.0, abs=1e-12)
    # linear warm-up multiplies either schedule
    assert _schedule_factor("constant", 0.5, 2.0, 10) == pytest.approx(0.2505)
    assert _schedule_factor("constant", 2.0, 2.0, 10) == 1.0


def _small_maf(**settings) -> NPEConfig:
    """A one-transform MAF of 8 hidden units, batch 100, no early stopping."""
    return NPEConfig(
        estimator="maf",
        num_transforms=1,
        hidden_features=8,
        batch_size=100,
        patience=100,
        **settings,
    )


def _data(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    theta = torch.rand(n, 2, generator=g) * 2 - 1
    return theta, theta + 0.1 * torch.randn(n, 2, generator=g)


def test_cosine_schedule_sets_the_rate_per_step():
    prior = BoxUniform([-1.0, -1.0], [1.0, 1.0])
    theta, x = _data()
    cfg = _small_maf(learning_rate=1e-2, lr_schedule="cosine", max_epochs=4)
    npe = NPE(prior, cfg).append_simulations(theta, x)
    npe.train(show_progress=False)
    s = npe.summary
    assert s.epochs == 4
    steps = math.ceil(540 / 100)  # 60 validation pairs
    last = 3 + (steps - 1) / steps  # fractional epoch of the last step
    assert s.learning_rate == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * last / 4)))
    # a different run than the constant rate
    const = NPE(
        prior, NPEConfig(**{**cfg.to_dict(), "lr_schedule": "constant", "embedding": cfg.embedding})
    )
    const.append_simulations(theta, x).train(show_progress=False)
    assert const.summary.learning_rate == pytest.approx(1e-2)
    assert const.summary.train_losses[-1] != s.train_losses[-1]


def test_warmup_changes_the_first_epochs_only_in_rate():
    prior = BoxUniform([-1.0, -1.0], [1.0, 1.0])
    theta, x = _data()
    cfg = _small_maf(warmup_epochs=1.5, max_epochs=3)
    npe = NPE(prior, cfg).append_simulations(theta, x)
    npe.train(show_progress=False)
    assert npe.summary.learning_rate == pytest.approx(1e-3)  # back at the full rate
    plain = NPE(
        prior, NPEConfig(**{**cfg.to_dict(), "warmup_epochs": 0.0, "embedding": cfg.embedding})
    )
    plain.append_simulations(theta, x).train(show_progress=False)
    assert plain.summary.train_losses[0] != npe.summary.train_losses[0]


def test_bad_schedule_settings():
    with pytest.raises(ValueError, match="lr_schedule"):
        NPEConfig(lr_schedule="linear")
    with pytest.raises(ValueError, match="warmup_epochs"):
        NPEConfig(warmup_epochs=-1)
    with pytest.raises(TypeError, match="randperm"):
        NPEConfig(randperm=1)


def test_config_saved_before_the_options_loads():
    old = NPEConfig().to_dict()
    for key in ("lr_schedule", "warmup_epochs", "randperm"):
        del old[key]
    cfg = config_from_dict(old)
    assert (cfg.lr_schedule, cfg.warmup_epochs, cfg.randperm) == ("constant", 0.0, False)


@pytest.mark.parametrize("estimator", ["maf", "nsf"])
def test_randperm_orders_are_random_and_seeded(estimator):
    def orders(seed):
        torch.manual_seed(seed)
        flow = build_flow(NPEConfig(estimator=estimator, num_transforms=4, randperm=True), 6, 2)
        return [t.order.tolist() for t in flow.transform.transforms]

    a = orders(0)
    assert a == orders(0)
    assert a != orders(1)
    rev = list(range(6)), list(range(5, -1, -1))
    assert any(o not in rev for o in a)
    torch.manual_seed(0)
    plain = build_flow(NPEConfig(estimator=estimator, num_transforms=4), 6, 2)
    assert all(t.order.tolist() in rev for t in plain.transform.transforms)


def test_randperm_maf_fast_log_prob_equals_zuko():
    torch.manual_seed(5)
    cfg = NPEConfig(estimator="maf", num_transforms=3, hidden_features=8, randperm=True)
    q = ConditionalDensity(cfg, 5, (3,)).double()
    assert q._affine_maf
    with torch.no_grad():
        for p in q.flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(7, 3, dtype=torch.float64)
    theta = torch.randn(7, 5, dtype=torch.float64)
    c = q.context(x)
    fast = q.log_prob_context(theta, c)
    ref = q.flow(c).log_prob((theta - q.theta_mean) / q.theta_std) - q.theta_std.log().sum()
    assert torch.allclose(fast, ref, rtol=1e-12, atol=1e-12)


def test_randperm_posterior_round_trips(tmp_path):
    prior = BoxUniform([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])
    g = torch.Generator().manual_seed(2)
    theta = torch.rand(400, 3, generator=g) * 2 - 1
    x = theta + 0.1 * torch.randn(400, 3, generator=g)
    cfg = NPEConfig(estimator="maf", hidden_features=8, max_epochs=2, randperm=True, seed=4)
    post = NPE(prior, cfg).append_simulations(theta, x).train_and_build(show_progress=False)
    post.save(tmp_path / "p")
    loaded = Posterior.load(tmp_path / "p")
    x_o = torch.tensor([0.1, 0.2, -0.3])
    t = prior.sample((9,))
    torch.testing.assert_close(loaded.log_prob(t, x=x_o), post.log_prob(t, x=x_o))


def test_anneal_factor_values():
    assert _schedule_factor("anneal", 30.0, 0.0, 1000) == 1.0  # before the anneal phase
    assert _schedule_factor("anneal", 30.0, 0.0, 1000, (28.0, 8.0)) == pytest.approx(0.75)
    assert _schedule_factor("anneal", 36.0, 0.0, 1000, (28.0, 8.0)) == 0.0


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_anneal_starts_on_a_plateau_and_stops_after_its_length(device):
    """Pure-noise data: no improvement after the first epochs, so the anneal starts after
    lr_patience bad epochs and training ends ceil(fraction * epochs) later, whatever
    ``patience`` says (on the GPU too: the schedule runs per step without host syncs)."""
    prior = BoxUniform([0.0], [1.0], device=device)
    g = torch.Generator().manual_seed(0)
    theta = torch.rand(400, 1, generator=g).to(device)
    x = torch.randn(400, 1, generator=g).to(device)
    cfg = NPEConfig(
        device=device,
        estimator="maf",
        num_transforms=1,
        hidden_features=8,
        batch_size=64,
        learning_rate=1e-2,
        lr_schedule="anneal",
        lr_patience=3,
        anneal_fraction=0.5,
        patience=2,  # ignored by the anneal schedule
        max_epochs=500,
    )
    npe = NPE(prior, cfg).append_simulations(theta, x)
    npe.train(show_progress=False)
    s = npe.summary
    val = s.val_losses
    # the anneal starts at the first epoch with lr_patience epochs since the last best
    best, start = 0, None
    for e in range(len(val)):
        if val[e] < val[best]:
            best = e
        if e - best >= 3:
            start = e + 1
            break
    assert start is not None
    assert s.epochs == start + math.ceil(0.5 * start)
    assert s.stopped_early
    steps = math.ceil(360 / 64)
    last = s.epochs - 1 + (steps - 1) / steps
    assert s.learning_rate == pytest.approx(1e-2 * (1 - (last - start) / math.ceil(0.5 * start)))


@pytest.mark.gpu
def test_automatic_anneal_trains_on_cuda():
    """From 5000 pairs the automatic settings anneal (warm-up, higher rate); on CUDA the rate
    ends below its start and the posterior samples stay on the device."""
    prior = BoxUniform([-1.0, -1.0], [1.0, 1.0], device="cuda")
    theta, x = _data(n=6000)
    cfg = NPEConfig(device="cuda", max_epochs=30)
    npe = NPE(prior, cfg).append_simulations(theta.cuda(), x.cuda())
    post = npe.train_and_build(show_progress=False)
    assert npe.summary.learning_rate < npe.config.resolve(5400, 2).learning_rate
    s = post.sample((200,), x=torch.tensor([0.3, -0.2], device="cuda"))
    assert s.device.type == "cuda" and s.shape == (200, 2)
    assert (s.mean(0).cpu() - torch.tensor([0.3, -0.2])).abs().max() < 0.1
