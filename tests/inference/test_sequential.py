"""Sequential rounds (SNPE-C/APT atomic loss, TSNPE) and the restriction classifier."""

from __future__ import annotations

import pytest
import torch

from neurodyn.diagnostics import c2st
from neurodyn.inference import (
    NPE,
    AcceptRejectPrior,
    NPEConfig,
    RestrictionClassifier,
    RestrictionConfig,
)
from neurodyn.priors import BoxUniform

FAST = dict(
    estimator="maf",
    hidden_features=32,
    num_transforms=2,
    batch_size=128,
    patience=5,
    max_epochs=40,
    learning_rate=2e-3,
)


def _two_rounds(lg, proposal_kind: str):
    """Round 1 from the prior, round 2 from the proposal, then C2ST vs the exact posterior."""
    x_o = lg.simulate(torch.tensor([[0.3, -0.5, 0.8]]), seed=99)[0]
    npe = NPE(lg.prior, NPEConfig(**FAST))
    theta, x = lg.data(1000, seed=1)
    post = npe.append_simulations(theta, x).train_and_build().set_default_x(x_o)
    if proposal_kind == "atomic":
        proposal = post
    else:
        proposal = post.truncated_prior(quantile=1e-4)
    theta2 = proposal.sample((1000,))
    x2 = lg.simulate(theta2, seed=2)
    post2 = npe.append_simulations(theta2, x2, proposal=proposal).train_and_build()
    ref = lg.posterior(x_o).sample((2000,))
    return c2st(ref, post2.sample((2000,), x=x_o), num_folds=3), proposal, npe


@pytest.mark.parametrize("kind", ["atomic", "truncated"])
def test_two_round_posterior_matches_exact(lg, kind):
    acc, proposal, npe = _two_rounds(lg, kind)
    assert acc <= 0.62, acc
    if kind == "truncated":
        assert isinstance(proposal, AcceptRejectPrior)
        assert 0 < proposal.acceptance_rate < 0.9  # truncation removed prior mass
        assert npe.summary.stopped_early or npe.summary.epochs == FAST["max_epochs"]


def test_atomic_loss_is_used_for_posterior_proposals(lg):
    npe = NPE(lg.prior, NPEConfig(**{**FAST, "max_epochs": 2}))
    theta, x = lg.data(300)
    post = npe.append_simulations(theta, x).train_and_build()
    plain = npe._plain_loss(npe._estimator)(theta[:64], x[:64], torch.Generator())
    atomic = npe._atomic_loss(npe._estimator)(theta[:64], x[:64], torch.Generator().manual_seed(0))
    # the atomic loss is a classification loss: between 0 and log(num_atoms)
    assert 0 < float(atomic) < float(torch.log(torch.tensor(10.0)))
    assert float(plain) != float(atomic)
    npe.append_simulations(theta[:10], x[:10], proposal=post)
    assert any(kind == "atomic" for *_, kind in npe._rounds)


def test_restriction_classifier_false_negative_rate():
    """Invalid where theta_0 + theta_1 > 1.2; restricted prior keeps ~99 % of the valid."""
    prior = BoxUniform([0.0, 0.0], [1.0, 1.0])
    g = torch.Generator().manual_seed(0)
    theta = torch.rand(6000, 2, generator=g)
    valid = theta.sum(1) <= 1.2
    x = torch.where(valid[:, None], theta, torch.nan)
    rc = RestrictionClassifier(prior, RestrictionConfig(max_epochs=40, patience=5))
    restricted = rc.train(theta, x).restrict_prior(allowed_false_negatives=0.01)
    test = torch.rand(20000, 2, generator=torch.Generator().manual_seed(1))
    ok = test.sum(1) <= 1.2
    accepted = rc.predict(test) >= rc.threshold
    false_neg = float((~accepted[ok]).float().mean())
    assert false_neg < 0.04
    invalid_kept = float(accepted[~ok].float().mean())
    assert invalid_kept < 0.5  # most of the invalid region is removed
    s = restricted.sample((2000,))
    assert float((s.sum(1) <= 1.2).float().mean()) > 0.85
    assert restricted.acceptance_rate < 0.95
    lp = restricted.log_prob(torch.tensor([[0.1, 0.1], [0.95, 0.95]]))
    assert torch.isfinite(lp[0]) and lp[1] == -torch.inf
    # training NPE on valid simulations from the restricted prior
    th = restricted.sample((800,))
    npe = NPE(prior, NPEConfig(**{**FAST, "max_epochs": 3}))
    npe.append_simulations(th, th, proposal=restricted).train()
    assert all(kind == "prior" for *_, kind in npe._rounds)


def test_restriction_errors():
    prior = BoxUniform([0.0], [1.0])
    rc = RestrictionClassifier(prior)
    with pytest.raises(ValueError, match="x: expected both valid and invalid simulations"):
        rc.train(torch.rand(10, 1), torch.rand(10, 1))
    with pytest.raises(ValueError, match="RestrictionClassifier: expected a trained classifier"):
        rc.restrict_prior()
    empty = AcceptRejectPrior(prior, lambda t: torch.zeros(t.shape[0], dtype=torch.bool))
    with pytest.raises(RuntimeError, match="restricted prior: expected an acceptance rate"):
        empty.sample((10,))
