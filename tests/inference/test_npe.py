"""NPE against the analytic linear-Gaussian posterior, estimators, determinism, resume."""

from __future__ import annotations

import pytest
import torch

from neurodyn.diagnostics import c2st
from neurodyn.inference import NPE, InMemorySource, NPEConfig
from neurodyn.priors import BoxUniform

FAST = dict(hidden_features=32, num_transforms=2, batch_size=256, patience=10)


def _c2st_vs_exact(lg, cfg: NPEConfig, num: int, num_samples: int) -> float:
    theta, x = lg.data(num)
    post = NPE(lg.prior, cfg).append_simulations(theta, x).train_and_build()
    x_o = lg.simulate(torch.tensor([[0.3, -0.5, 0.8]]), seed=99)[0]
    ref = lg.posterior(x_o).sample((num_samples,))
    return c2st(ref, post.sample((num_samples,), x=x_o), num_folds=3)


def test_linear_gaussian_small_budget(lg):
    """Default-run version: 3000 simulations, small MAF; C2ST vs the exact posterior."""
    acc = _c2st_vs_exact(lg, NPEConfig(estimator="maf", **FAST), 3000, 2000)
    assert acc <= 0.6, acc


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["nsf", "maf"])
def test_linear_gaussian_1e4_c2st(lg, estimator):
    """Must-show: C2ST <= 0.55 against the exact posterior at 10^4 simulations."""
    acc = _c2st_vs_exact(lg, NPEConfig(estimator=estimator), 10_000, 5000)
    assert acc <= 0.55, acc


def test_single_gaussian_mdn_moments(lg):
    """SNPE-B-style MDN with one Gaussian: mean and covariance close to the exact ones."""
    theta, x = lg.data(3000)
    cfg = NPEConfig(estimator="mdn", num_components=1, hidden_features=32, patience=10)
    post = NPE(lg.prior, cfg).append_simulations(theta, x).train_and_build()
    x_o = lg.simulate(torch.tensor([[0.3, -0.5, 0.8]]), seed=99)[0]
    exact = lg.posterior(x_o)
    s = post.sample((4000,), x=x_o)
    sd = exact.variance.sqrt()
    assert ((s.mean(0) - exact.mean).abs() / sd).max() < 0.35
    assert ((s.std(0) / sd) - 1).abs().max() < 0.3


def test_same_seed_same_weights():
    prior = BoxUniform([0.0, 0.0], [1.0, 1.0])
    theta = prior.sample((400,))
    x = theta + 0.05 * torch.randn(400, 2)
    cfg = NPEConfig(max_epochs=3, seed=7, **FAST)
    w = []
    for _ in range(2):
        est = NPE(prior, cfg).append_simulations(theta, x).train()
        w.append(torch.cat([p.detach().flatten() for p in est.parameters()]))
    assert torch.equal(w[0], w[1])
    est = NPE(prior, NPEConfig(max_epochs=3, seed=8, **FAST)).append_simulations(theta, x).train()
    assert not torch.equal(w[0], torch.cat([p.detach().flatten() for p in est.parameters()]))


def test_checkpoint_resume_equals_uninterrupted(tmp_path):
    prior = BoxUniform([0.0, 0.0], [1.0, 1.0])
    theta = prior.sample((300,))
    x = theta + 0.05 * torch.randn(300, 2)
    fast = {**FAST, "patience": 100}
    full = NPE(prior, NPEConfig(max_epochs=4, **fast)).append_simulations(theta, x).train()
    NPE(prior, NPEConfig(max_epochs=2, **fast)).append_simulations(theta, x).train(
        checkpoint_dir=tmp_path
    )
    assert (tmp_path / "checkpoint.safetensors").is_file()
    npe = NPE(prior, NPEConfig(max_epochs=4, **fast)).append_simulations(theta, x)
    resumed = npe.train(checkpoint_dir=tmp_path)
    assert npe.summary.epochs == 4
    for a, b in zip(full.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    other = NPE(prior, NPEConfig(max_epochs=4, seed=1, **fast)).append_simulations(theta, x)
    with pytest.raises(ValueError, match="checkpoint_dir: expected a checkpoint of the same"):
        other.train(checkpoint_dir=tmp_path)


def test_time_limit_stops_training_and_a_second_call_goes_on(tmp_path):
    """No epoch starts that would end past ``time_limit_s`` (judged by the longest epoch); the
    best weights are restored; the same checkpoint folder continues where it stopped."""
    import time

    prior = BoxUniform([0.0, 0.0], [1.0, 1.0])
    theta = prior.sample((4000,))
    x = theta + 0.05 * torch.randn(4000, 2)
    fast = {**FAST, "patience": 10_000, "max_epochs": 10_000, "batch_size": 64}
    npe = NPE(prior, NPEConfig(**fast)).append_simulations(theta, x)
    t0 = time.perf_counter()
    npe.train(time_limit_s=1.5, checkpoint_dir=tmp_path)
    wall = time.perf_counter() - t0
    s = npe.summary
    assert s.stopped_by_time and not s.stopped_early and 1 <= s.epochs < 10_000
    assert wall < 1.5 + 1.0  # at most ~one epoch's overrun from timing noise
    assert s.best_val_loss == min(s.val_losses)
    first = s.epochs
    npe.train(time_limit_s=1.0, checkpoint_dir=tmp_path)
    assert npe.summary.epochs > first and npe.summary.stopped_by_time
    unlimited = NPE(prior, NPEConfig(**{**fast, "max_epochs": 2})).append_simulations(theta, x)
    unlimited.train()
    assert not unlimited.summary.stopped_by_time and unlimited.summary.epochs == 2
    with pytest.raises(ValueError, match="time_limit_s: expected a positive number"):
        npe.train(time_limit_s=0.0)


def test_invalid_simulations_excluded_and_counted():
    prior = BoxUniform([0.0], [1.0])
    theta = prior.sample((500,))
    x = theta.clone()
    x[:37] = torch.nan
    x[37:40, 0] = torch.inf
    npe = NPE(prior, NPEConfig(max_epochs=2, **FAST)).append_simulations(theta, x)
    npe.train()
    assert npe.num_invalid == 40
    assert npe.summary.epochs == 2


def test_early_stopping_and_summary():
    prior = BoxUniform([0.0], [1.0])
    theta = prior.sample((300,))
    npe = NPE(
        prior,
        NPEConfig(max_epochs=500, patience=3, **{k: v for k, v in FAST.items() if k != "patience"}),
    )
    npe.append_simulations(theta, torch.rand(300, 1)).train()  # x independent of theta
    s = npe.summary
    assert s.stopped_early and s.epochs < 500
    assert s.best_val_loss == min(s.val_losses)
    assert s.epochs - s.best_epoch == 3


def test_custom_batch_source_is_accepted():
    """NPE.train(source=...) accepts any object following the BatchSource protocol."""
    from neurodyn.inference import BatchSource

    class Online:
        num_params, num_features, num_train, num_val = 1, 1, None, 64
        x_shape = (1,)

        def train_batches(self, batch_size, generator, device):
            for _ in range(4):
                t = torch.rand(batch_size, 1, generator=generator)
                yield (
                    t.to(device),
                    (t + 0.05 * torch.randn(batch_size, 1, generator=generator)).to(device),
                )

        def val_batches(self, batch_size, device):
            g = torch.Generator().manual_seed(0)
            t = torch.rand(64, 1, generator=g)
            yield t.to(device), (t + 0.05 * torch.randn(64, 1, generator=g)).to(device)

        def moments(self):
            return (
                torch.tensor([0.5]),
                torch.tensor([0.29]),
                torch.tensor([0.5]),
                torch.tensor([0.29]),
            )

    src = Online()
    assert isinstance(src, BatchSource)
    assert isinstance(InMemorySource(torch.zeros(4, 1), torch.zeros(4, 1)), BatchSource)
    npe = NPE(BoxUniform([0.0], [1.0]), NPEConfig(max_epochs=30, **FAST))
    npe.train(source=src)
    post = npe.build_posterior()
    m = post.sample((2000,), x=torch.tensor([0.7])).mean()
    assert abs(float(m) - 0.7) < 0.1


@pytest.mark.gpu
def test_cuda_training_keeps_data_on_device():
    prior = BoxUniform([0.0, 0.0], [1.0, 1.0], device="cuda")
    theta = prior.sample((2000,))
    x = theta + 0.05 * torch.randn_like(theta)
    npe = NPE(prior, NPEConfig(device="cuda", max_epochs=5, **FAST))
    post = npe.append_simulations(theta, x).train_and_build()
    s = post.sample((100,), x=torch.tensor([0.5, 0.5], device="cuda"))
    assert s.device.type == "cuda" and s.shape == (100, 2)
