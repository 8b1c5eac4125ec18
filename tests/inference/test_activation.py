"""NPEConfig.activation: automatic choice, the flows built, and files from before the option."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from neurodyn.inference import NPE, NPEConfig, Posterior
from neurodyn.inference.estimator import Tanh, build_flow
from neurodyn.priors import BoxUniform


def _acts(module: nn.Module) -> set[type]:
    return {type(m) for m in module.modules() if isinstance(m, (nn.ReLU, nn.Tanh, nn.ELU))}


@pytest.mark.parametrize(
    ("estimator", "activation", "expected"),
    [
        ("maf", "auto", Tanh),  # neurodyn's faster nn.Tanh subclass
        ("nsf", "auto", nn.ReLU),
        ("mdn", "auto", nn.ReLU),
        ("maf", "relu", nn.ReLU),
        ("nsf", "elu", nn.ELU),
        ("mdn", "tanh", Tanh),
    ],
)
def test_activation_choice_reaches_the_flow(estimator, activation, expected):
    cfg = NPEConfig(estimator=estimator, activation=activation, num_transforms=2)
    assert cfg.resolve(1000, 3).activation == expected.__name__.lower()
    assert _acts(build_flow(cfg, 3, 2)) == {expected}


def test_auto_estimator_resolves_activation_with_it():
    assert NPEConfig().resolve(1000, 10).activation == "tanh"  # automatic MAF
    assert NPEConfig().resolve(10_000, 2).activation == "relu"  # automatic NSF


def test_bad_activation():
    with pytest.raises(ValueError, match="activation"):
        NPEConfig(activation="sigmoid")


def test_posterior_saved_before_the_option_loads_with_relu(tmp_path):
    prior = BoxUniform([-2.0, -2.0], [2.0, 2.0])
    g = torch.Generator().manual_seed(0)
    theta = prior.sample((400,))
    x = theta + 0.2 * torch.randn(400, 2, generator=g)
    cfg = NPEConfig(estimator="maf", activation="relu", num_transforms=2, max_epochs=3)
    post = NPE(prior, cfg).append_simulations(theta, x).train_and_build()
    path = post.save(tmp_path / "p")
    meta_file = path / "posterior.json"
    meta = json.loads(meta_file.read_text())
    assert meta["config"]["activation"] == "relu"
    del meta["config"]["activation"]  # as written by earlier versions
    meta_file.write_text(json.dumps(meta))
    old = Posterior.load(path)
    probe = torch.tensor([[0.1, -0.3], [1.0, 0.5]])
    xo = torch.tensor([0.2, -0.1])
    torch.testing.assert_close(old.log_prob(probe, x=xo), post.log_prob(probe, x=xo))
    # the default would have been wrong: the same weights under tanh give another density
    meta["config"]["activation"] = "tanh"
    meta_file.write_text(json.dumps(meta))
    wrong = Posterior.load(path)
    assert not torch.allclose(wrong.log_prob(probe, x=xo), post.log_prob(probe, x=xo))
