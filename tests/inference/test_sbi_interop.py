"""Interop with sbi: sbi posteriors in our diagnostics; our priors/simulator outputs in sbi."""

from __future__ import annotations

import pytest
import torch

from neurodyn.diagnostics import c2st, expected_coverage, sbc, tarp
from neurodyn.priors import BoxUniform

sbi_inference = pytest.importorskip("sbi.inference")


def test_sbi_posterior_works_with_our_diagnostics(lg):
    theta, x = lg.data(2000)
    inference = sbi_inference.NPE(prior=lg.prior, show_progress_bars=False)
    inference.append_simulations(theta, x).train(max_num_epochs=30, training_batch_size=200)
    post = inference.build_posterior()
    x_o = lg.simulate(torch.tensor([[0.3, -0.5, 0.8]]), seed=99)[0]
    acc = c2st(
        lg.posterior(x_o).sample((1500,)),
        post.sample((1500,), x=x_o, show_progress_bars=False),
        num_folds=3,
    )
    assert 0.4 < acc < 0.75
    t_test, x_test = lg.data(60, seed=5)
    res = sbc(post, t_test, x_test, num_posterior_samples=50)
    assert res.ranks.shape == (60, 3) and res.ranks.max() <= 50
    cov = expected_coverage(post, t_test[:20], x_test[:20], num_posterior_samples=50)
    assert cov.statistic.shape == (20,)
    tp = tarp(post, t_test, x_test, num_posterior_samples=50)
    assert 0 <= tp.ks_pvalue <= 1


def test_our_prior_and_simulator_outputs_go_into_sbi():
    from neurodyn.simulators import HodgkinHuxley

    hh = HodgkinHuxley(dt=0.025, t_max=30.0, t_on=5.0, t_off=25.0)
    prior = hh.prior
    assert isinstance(prior, BoxUniform)
    theta = prior.sample((200,))
    x = hh.simulate(theta, seed=3)
    assert x.shape == (200, 7)
    ok = torch.isfinite(x).all(1)
    inference = sbi_inference.NPE(prior=prior, show_progress_bars=False)
    inference.append_simulations(theta[ok], x[ok]).train(max_num_epochs=5)
    post = inference.build_posterior()
    # no rejection (nor sbi's log_prob, whose leakage correction samples by rejection): a
    # briefly trained 8-D flow may put most mass outside the box and sbi then loops for long
    s = post.sample((20,), x=x[ok][0], show_progress_bars=False, reject_outside_prior=False)
    assert s.shape == (20, 8) and bool(torch.isfinite(s).all())
