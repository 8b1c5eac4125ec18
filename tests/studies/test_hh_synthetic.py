"""HH synthetic study: plumbing and the tightening effect on a stand-in linear simulator; the
real HH simulator at a small budget (default run) and the eLife budget (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodyn.priors import BoxUniform
from neurodyn.studies.hh_synthetic import HHSyntheticConfig, posterior_summary, run_hh_synthetic


class LinearSimulator:
    """3 parameters in [0, 1], 7 features: f0 observes p0, f1-f3 observe p1, f4-f6 observe p2.

    Adding features adds information about more parameters, so posterior sds must shrink.
    """

    param_names = ("p0", "p1", "p2")
    feature_names = tuple(f"f{i}" for i in range(7))
    device = torch.device("cpu")
    prior = BoxUniform(torch.zeros(3), torch.ones(3))

    def simulate(self, theta, *, seed=None, output="features"):
        if output != "features":
            raise ValueError("output: only features")
        g = torch.Generator().manual_seed(int(seed) % 2**31)
        x = theta[:, [0, 1, 1, 1, 2, 2, 2]]
        return x + 0.15 * torch.randn(x.shape, generator=g)


def test_study_on_a_linear_simulator(tmp_path):
    cfg = HHSyntheticConfig(
        num_simulations=1000,
        num_posterior_samples=300,
        num_predictive=50,
        estimator="mdn",
        max_epochs=20,
        hidden_features=32,
        batch_size=50,
        device="cpu",
        theta_true=(0.5, 0.5, 0.5),
    )
    res = run_hh_synthetic(cfg, out=tmp_path, simulator=LinearSimulator())
    assert res.sd.shape == (3, 3) and res.covered.shape == (3, 3)
    # exact posterior sd / prior sd (ignoring the box): 0.15 / 0.289 = 0.52 for p0 (one
    # feature), 0.52 / sqrt(3) = 0.30 for p1, p2 (three features each); unobserved: 1 (a
    # small mixture density network truncated to the box reaches ~0.8 at this budget)
    assert res.sd[0, 0] < 0.7 and res.sd[0, 1:].min() > 0.7
    assert res.sd[1, 1] < 0.5 and res.sd[1, 2] > 0.7
    assert res.sd[2].max() < 0.7 and res.sd[2, 1:].max() < 0.5
    assert res.covered[-1].all()
    data = json.loads((tmp_path / "report.json").read_text())
    assert np.allclose(data["sd_over_prior_sd"], res.sd)
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64") == 2 and "traces not available" in html


def test_posterior_summary_against_numpy():
    prior = BoxUniform(torch.zeros(2), torch.full((2,), 12**0.5))  # prior sd 1
    s = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + 1.0
    summ = posterior_summary(s, prior, torch.tensor([1.0, 3.0]))
    np.testing.assert_allclose(summ["sd"], s.numpy().std(0, ddof=1), rtol=1e-6)
    np.testing.assert_allclose(summ["lower"], np.quantile(s.numpy(), 0.025, axis=0), rtol=1e-6)
    assert summ["covered"].tolist() == [True, False]


def test_config_errors():
    with pytest.raises(ValueError, match="num_simulations: expected a finite number > 0"):
        HHSyntheticConfig(num_simulations=0)
    with pytest.raises(ValueError, match="feature_sets: expected non-empty index tuples"):
        cfg = HHSyntheticConfig(feature_sets=((9,),), device="cpu", theta_true=(0.5,) * 3)
        run_hh_synthetic(cfg, out="unused", simulator=LinearSimulator())


def test_study_with_hodgkin_huxley_small_budget(tmp_path):
    """The real simulator end to end at a CI budget (numbers are not meaningful here)."""
    pytest.importorskip("neurodyn.simulators.hodgkin_huxley")
    cfg = HHSyntheticConfig(
        num_simulations=600,
        num_posterior_samples=200,
        num_predictive=30,
        num_traces=2,
        estimator="mdn",
        hidden_features=32,
        max_epochs=8,
        batch_size=100,
        device="cpu",
    )
    res = run_hh_synthetic(cfg, out=tmp_path)
    assert res.sd.shape == (3, 8)
    assert bool(np.all(res.sd < 1.2)) and res.covered[-1].sum() >= 6
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64") == 3  # marginals, pairplot, traces
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]


@pytest.mark.slow
def test_study_with_hodgkin_huxley_elife_budget(tmp_path):
    """eLife Fig 5 budget: 100 000 simulations; sds shrink from 1 to 7 features."""
    res = run_hh_synthetic(HHSyntheticConfig(num_simulations=100_000), out=tmp_path)
    mean_sd = res.sd.mean(1)
    assert mean_sd[2] < mean_sd[1] < mean_sd[0]
    assert res.covered[-1].sum() >= 7
    assert np.all(res.ppc_valid > 0.9)


def test_elife_observation_is_the_published_x_o(load_npz):
    from neurodyn.simulators import HodgkinHuxley
    from neurodyn.studies.hh_synthetic import ELIFE_THETA_TRUE, elife_observation

    ref = load_npz("hh_reference_outputs.npz")
    x_o, trace = elife_observation(HodgkinHuxley(), torch.tensor(ELIFE_THETA_TRUE))
    np.testing.assert_allclose(x_o.numpy(), ref["stats_elife_xo"], rtol=1e-4, atol=1e-4)
    assert trace.shape == ref["V_elife_xo"].shape
    err = np.abs(trace.numpy() - ref["V_elife_xo"])
    # float32 state: sub-µV away from spikes, below 0.2 mV on the spike upstrokes
    assert float(np.median(err)) < 1e-3 and float(err.max()) < 0.2
