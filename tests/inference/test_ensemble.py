"""EnsemblePosterior: mixture density, sampling, batching, MAP, save/load, errors, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from neurodyn.diagnostics import sbc
from neurodyn.inference import NPE, EnsemblePosterior, NPEConfig
from neurodyn.priors import BoxUniform

FAST = dict(hidden_features=32, num_transforms=2, batch_size=256, patience=10, max_epochs=25)


@pytest.fixture(scope="module")
def trained():
    """theta ~ U([-2, 2]), x = theta + N(0, 0.3^2); an NPE with its simulations and 3 members."""
    prior = BoxUniform([-2.0], [2.0], param_names=["a"])
    g = torch.Generator().manual_seed(0)
    theta = prior.sample((3000,))
    x = theta + 0.3 * torch.randn(3000, 1, generator=g)
    npe = NPE(prior, NPEConfig(theta_transform="logit", seed=3, **FAST))
    npe.append_simulations(theta, x)
    ens = npe.train_ensemble(3)
    return npe, ens


def test_members_differ_and_member0_is_what_train_gives(trained):
    npe, ens = trained
    assert ens.num_members == len(ens) == 3 and len(npe.ensemble_summaries) == 3
    grid = torch.linspace(-1.9, 1.9, 50)[:, None]
    xo = torch.tensor([0.4])
    lps = [m.log_prob(grid, x=xo) for m in ens.members]
    assert not torch.allclose(lps[0], lps[1], atol=1e-3)
    single = NPE(npe.prior, npe.config).append_simulations(*npe._rounds[0][:2]).train_and_build()
    torch.testing.assert_close(single.log_prob(grid, x=xo), lps[0], rtol=1e-4, atol=1e-4)


def test_mixture_density_integrates_to_one_and_obeys_jensen(trained):
    _, ens = trained
    xo = torch.tensor([1.7])  # near the edge, where the logit flows differ most
    grid = torch.linspace(-2.0, 2.0, 8001)[1:-1, None]
    dens = ens.log_prob(grid, x=xo).double().exp().numpy()
    assert np.trapezoid(dens, grid[:, 0].double().numpy()) == pytest.approx(1.0, abs=5e-3)
    # log of the mean density >= mean of the log densities (equality only for equal members)
    member = torch.stack([m.log_prob(grid, x=xo) for m in ens.members])
    mean_log = member.mean(0)
    assert bool((ens.log_prob(grid, x=xo) >= mean_log - 1e-5).all())
    assert float((ens.log_prob(grid, x=xo) - mean_log).max()) > 1e-4
    # outside the support
    assert ens.log_prob(torch.tensor([[2.5]]), x=xo).item() == -float("inf")


def test_samples_follow_the_mixture_density(trained):
    _, ens = trained
    xo = torch.tensor([1.7])
    torch.manual_seed(1)
    s = ens.sample((4000,), x=xo)[:, 0].double().numpy()
    assert s.min() >= -2 and s.max() <= 2
    grid = torch.linspace(-2.0, 2.0, 8001)[1:-1, None]
    dens = ens.log_prob(grid, x=xo).double().exp().numpy()
    cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(grid[:, 0]))])
    cdf /= cdf[-1]
    ks = stats.kstest(s, lambda v: np.interp(v, grid[:, 0].numpy(), cdf))
    assert ks.pvalue > 1e-3, ks


def test_weights_select_members(trained):
    _, ens = trained
    only1 = EnsemblePosterior(ens.members, weights=[0.0, 2.0, 0.0])
    theta = torch.linspace(-1.5, 1.5, 7)[:, None]
    xo = torch.tensor([0.0])
    torch.testing.assert_close(only1.log_prob(theta, x=xo), ens.members[1].log_prob(theta, x=xo))
    assert torch.allclose(only1.weights, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))


def test_batched_sampling_and_log_prob(trained):
    _, ens = trained
    xs = torch.tensor([[-1.0], [0.0], [1.9]])
    s = ens.sample_batched((300,), xs)
    assert s.shape == (300, 3, 1)
    assert bool(torch.isfinite(s).all()) and bool((s.abs() <= 2).all())
    # each column is centred near its observation (posterior mean ~ x shrunk to the box)
    means = s[..., 0].mean(0)
    assert abs(float(means[0]) + 1.0) < 0.15 and abs(float(means[1])) < 0.15
    assert float(means[2]) > 1.3
    assert ens.acceptance_rate.shape == (3,)
    lp = ens.log_prob_batched(s[:10], xs)
    for j in range(3):
        torch.testing.assert_close(lp[:, j], ens.log_prob(s[:10, j], x=xs[j]), rtol=1e-4, atol=1e-4)


def test_sbc_accepts_an_ensemble(trained):
    npe, ens = trained
    prior = npe.prior
    g = torch.Generator().manual_seed(11)
    theta = prior.sample((150,))
    x = theta + 0.3 * torch.randn(150, 1, generator=g)
    res = sbc(ens, theta, x, num_posterior_samples=100)
    assert res.ranks.shape == (150, 1)
    assert res.passed


def test_map_near_the_mode(trained):
    _, ens = trained
    xo = torch.tensor([0.5])
    grid = torch.linspace(-1.99, 1.99, 4001)[:, None]
    best = grid[ens.log_prob(grid, x=xo).argmax()]
    torch.manual_seed(0)
    m = ens.map(x=xo, num_steps=200)
    assert m.shape == (1,)
    assert abs(float(m[0] - best[0])) < 0.02


def test_save_load_roundtrip(trained, tmp_path):
    _, ens = trained
    xo = torch.tensor([0.3])
    ens.set_default_x(xo)
    path = ens.save(tmp_path / "ens")
    assert (path / "ensemble.json").is_file() and (path / "member_2").is_dir()
    back = EnsemblePosterior.load(path)
    theta = torch.linspace(-1.5, 1.5, 9)[:, None]
    torch.testing.assert_close(back.log_prob(theta), ens.log_prob(theta, x=xo))
    torch.testing.assert_close(back.weights, ens.weights)
    with pytest.raises(FileNotFoundError, match=r"ensemble\.json"):
        EnsemblePosterior.load(tmp_path)
    meta_file = path / "ensemble.json"
    meta_file.write_text(meta_file.read_text().replace("neurodyn.ensemble/1", "other/9"))
    with pytest.raises(ValueError, match="format"):
        EnsemblePosterior.load(path)
    member = path / "member_0" / "posterior.json"
    member.write_text(member.read_text().replace('"format": "', '"format": "x'))
    with pytest.raises(ValueError, match="format"):
        type(ens.members[0]).load(path / "member_0")


def test_bad_input(trained):
    _, ens = trained
    m = ens.members
    with pytest.raises(ValueError, match="at least one"):
        EnsemblePosterior([])
    with pytest.raises(TypeError, match="list of posteriors"):
        EnsemblePosterior(m[0])
    with pytest.raises(TypeError, match="nesting"):
        EnsemblePosterior([ens])
    with pytest.raises(ValueError, match="non-negative"):
        EnsemblePosterior(m, weights=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="3 weights"):
        EnsemblePosterior(m, weights=[1.0, 1.0])
    other = NPE(BoxUniform([-3.0], [3.0]), NPEConfig(max_epochs=1, num_transforms=1))
    theta = other.prior.sample((200,))
    o = other.append_simulations(theta, theta + 0.1).train_and_build()
    with pytest.raises(ValueError, match="same prior"):
        EnsemblePosterior([m[0], o])
    with pytest.raises(ValueError, match="NaN/inf"):
        ens.sample((3,), x=torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="one observation"):
        ens.sample((3,), x=torch.zeros(2, 1))
    with pytest.raises(ValueError, match="num_members"):
        NPE(other.prior).train_ensemble(0)
