"""Posterior: support restriction, leakage error, batching, MAP, save/load, embeddings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodyn.inference import NPE, EmbeddingConfig, LeakageError, NPEConfig, Posterior
from neurodyn.priors import BoxUniform, LogUniform

FAST = dict(hidden_features=32, num_transforms=2, batch_size=256, patience=10)


@pytest.fixture(scope="module")
def box_posterior():
    """theta ~ U([0,1]^2), x = theta + N(0, 0.1^2): a posterior that leaks at the edges."""
    prior = BoxUniform([0.0, 0.0], [1.0, 1.0], param_names=["a", "b"], units=["mV", "ms"])
    g = torch.Generator().manual_seed(0)
    theta = prior.sample((3000,))
    x = theta + 0.1 * torch.randn(3000, 2, generator=g)
    npe = NPE(prior, NPEConfig(max_epochs=30, **FAST))
    return npe.append_simulations(theta, x).train_and_build()


def test_samples_inside_support_and_acceptance_reported(box_posterior):
    s = box_posterior.sample((2000,), x=torch.tensor([0.02, 0.98]))
    assert s.shape == (2000, 2)
    assert bool(((s >= 0) & (s <= 1)).all())
    # near a corner part of the flow's mass falls outside the box
    assert 0.05 < box_posterior.acceptance_rate < 0.95
    box_posterior.sample((500,), x=torch.tensor([0.5, 0.5]))
    assert box_posterior.acceptance_rate > 0.95


def test_leakage_raises_instead_of_hanging(box_posterior):
    far = Posterior(
        box_posterior.estimator, BoxUniform([5.0, 5.0], [6.0, 6.0]), config=box_posterior.config
    )
    with pytest.raises(LeakageError, match="inside the prior support") as err:
        far.sample((100,), x=torch.tensor([0.5, 0.5]))
    # a box prior without the logit transform: the message names the remedy
    assert 'theta_transform="logit"' in str(err.value)


def test_leakage_hint_only_where_logit_applies(box_posterior):
    assert "logit" in box_posterior._logit_hint()
    gauss = torch.distributions.Independent(
        torch.distributions.Normal(torch.zeros(2), torch.ones(2)), 1
    )
    other = Posterior(box_posterior.estimator, gauss, config=box_posterior.config)
    assert other._logit_hint() == ""
    logit_cfg = NPEConfig(theta_transform="logit")
    done = Posterior(box_posterior.estimator, BoxUniform([0.0, 0.0], [1.0, 1.0]), config=logit_cfg)
    assert done._logit_hint() == ""


def test_log_prob_outside_support_and_normalisation(box_posterior):
    x_o = torch.tensor([0.02, 0.98])
    lp = box_posterior.log_prob(torch.tensor([[0.5, 0.5], [-0.1, 0.5], [0.05, 0.95]]), x=x_o)
    assert lp.shape == (3,)
    assert lp[1] == -torch.inf and torch.isfinite(lp[[0, 2]]).all()
    raw = box_posterior.log_prob(torch.tensor([[0.05, 0.95]]), x=x_o, normalize=False)
    # normalised density = raw / P(inside); P(inside) < 1 here
    assert float(lp[2] - raw[0]) > 0.05
    # Monte-Carlo check that the normalised density integrates to ~1 over the box
    u = torch.rand(20000, 2, generator=torch.Generator().manual_seed(1))
    integral = box_posterior.log_prob(u, x=x_o).exp().mean()
    assert abs(float(integral) - 1) < 0.1


def test_batched_matches_single(box_posterior):
    xs = torch.tensor([[0.2, 0.3], [0.7, 0.6], [0.5, 0.9]])
    s = box_posterior.sample_batched((50,), x=xs)
    assert s.shape == (50, 3, 2)
    lp_b = box_posterior.log_prob_batched(s, xs)
    assert lp_b.shape == (50, 3)
    for i in range(3):
        torch.testing.assert_close(lp_b[:, i], box_posterior.log_prob(s[:, i], x=xs[i]))
    means = s.mean(0)
    assert (means - xs).abs().max() < 0.1


def test_default_x_and_map(box_posterior):
    post = box_posterior.set_default_x(torch.tensor([0.4, 0.6]))
    assert post is box_posterior
    assert post.sample((3,)).shape == (3, 2)
    m = post.map()
    assert m.shape == (2,)
    assert (m - torch.tensor([0.4, 0.6])).abs().max() < 0.08
    # the MAP has a higher density than posterior samples
    assert float(post.log_prob(m[None])) >= float(post.log_prob(post.sample((200,))).max()) - 0.05


def test_save_load_roundtrip(box_posterior, tmp_path):
    box_posterior.set_default_x(torch.tensor([0.3, 0.3]))
    path = box_posterior.save(tmp_path / "post")
    meta = json.loads((path / "posterior.json").read_text())
    assert meta["format"] == "neurodyn.posterior/1" and meta["prior"]["units"] == ["mV", "ms"]
    assert not list(path.glob("*.pt")) and not list(path.glob("*.pkl"))
    loaded = Posterior.load(path)
    theta = torch.tensor([[0.2, 0.4], [0.5, 0.5]])
    torch.testing.assert_close(loaded.log_prob(theta), box_posterior.log_prob(theta))
    assert loaded.prior.param_names == ("a", "b")
    torch.manual_seed(3)
    a = loaded.sample((5,))
    torch.manual_seed(3)
    b = box_posterior.sample((5,))
    torch.testing.assert_close(a, b)


def test_log_uniform_prior_and_mdn(tmp_path):
    prior = LogUniform([1e-2, 1.0], [1.0, 100.0])
    theta = prior.sample((2000,))
    x = theta.log() + 0.1 * torch.randn(2000, 2)
    cfg = NPEConfig(estimator="mdn", num_components=2, hidden_features=32, max_epochs=40)
    post = NPE(prior, cfg).append_simulations(theta, x).train_and_build()
    s = post.sample((500,), x=torch.tensor([-2.0, 2.0]))
    assert bool(((s >= prior.low) & (s <= prior.high)).all())
    assert abs(float(s[:, 0].log().median()) + 2.0) < 0.2
    loaded = Posterior.load(post.save(tmp_path / "lu"))
    torch.testing.assert_close(
        loaded.log_prob(s[:5], x=torch.tensor([-2.0, 2.0])),
        post.log_prob(s[:5], x=torch.tensor([-2.0, 2.0])),
    )


def test_cnn_embedding_on_raw_traces():
    """Amplitude and frequency of a noisy sine from the raw trace via a 1-D CNN."""
    prior = BoxUniform([0.5, 1.0], [2.0, 3.0])
    g = torch.Generator().manual_seed(0)
    theta = prior.sample((1500,))
    t = torch.linspace(0, 6.28, 100)
    x = theta[:, :1] * torch.sin(theta[:, 1:] * t) + 0.1 * torch.randn(1500, 100, generator=g)
    cfg = NPEConfig(
        z_score_x="structured",
        max_epochs=25,
        embedding=EmbeddingConfig(
            kind="cnn", channels=(8, 16), output_features=8, hidden_features=32
        ),
        **FAST,
    )
    post = NPE(prior, cfg).append_simulations(theta, x).train_and_build()
    x_o = 1.5 * torch.sin(2.0 * t)
    s = post.sample((500,), x=x_o)
    assert (s.median(0).values - torch.tensor([1.5, 2.0])).abs().max() < 0.3
    assert post.estimator.x_mean.unique().numel() == 1  # structured z-scoring


def test_permutation_invariant_embedding_on_iid_trials():
    prior = BoxUniform([-2.0], [2.0])
    g = torch.Generator().manual_seed(0)
    theta = prior.sample((2000,))
    x = theta[:, None, :] + 0.5 * torch.randn(2000, 10, 1, generator=g)  # 10 trials
    cfg = NPEConfig(
        max_epochs=80,
        learning_rate=3e-3,
        embedding=EmbeddingConfig(
            kind="permutation_invariant", output_features=4, hidden_features=32
        ),
        **FAST,
    )
    post = NPE(prior, cfg).append_simulations(theta, x).train_and_build()
    x_o = 0.8 + 0.5 * torch.randn(10, 1, generator=g)
    lp1 = post.log_prob(torch.tensor([[0.7]]), x=x_o)
    lp2 = post.log_prob(torch.tensor([[0.7]]), x=x_o[torch.randperm(10)])
    torch.testing.assert_close(lp1, lp2, atol=1e-4, rtol=1e-4)
    s = post.sample((1000,), x=x_o)
    # exact posterior ~ N(mean(x_o), 0.5^2/10)
    assert abs(float(s.mean()) - float(x_o.mean())) < 0.15
    assert 0.08 < float(s.std()) < 0.25


def test_cli_infer_writes_samples(box_posterior, tmp_path):
    from typer.testing import CliRunner

    from neurodyn.cli import app

    path = box_posterior.save(tmp_path / "post")
    runner = CliRunner()
    res = runner.invoke(
        app, ["infer", str(path), "--x-o", "0.4,0.6", "-n", "50", "--out", str(tmp_path / "s.csv")]
    )
    assert res.exit_code == 0, res.output
    data = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    assert data.shape == (50, 2) and "acceptance rate" in res.output
    np.save(tmp_path / "xo.npy", np.array([0.4, 0.6]))
    res = runner.invoke(
        app,
        [
            "infer",
            str(path),
            "--x-o",
            str(tmp_path / "xo.npy"),
            "-n",
            "5",
            "--out",
            str(tmp_path / "s2"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "s2.npy").shape == (5, 2)
    bad = runner.invoke(app, ["infer", str(path), "--x-o", "a,b", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "x_o: expected an existing file" in str(bad.exception)
