"""Pyloric posterior study: helpers against known cases, plumbing with a stand-in simulator,
resume after a killed round, input errors; the real simulator runs in the slow test."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodyn.studies.pyloric_posterior import (
    PyloricPosteriorConfig,
    compare_matrices,
    feature_distance,
    run_pyloric_posterior_study,
    select_disparate_pair,
)


# --------------------------------------------------------------------------- helpers
def test_compare_matrices_known_case():
    rng = np.random.default_rng(0)
    k = 6
    a = rng.uniform(-1, 1, (k, k))
    a = (a + a.T) / 2
    np.fill_diagonal(a, 1.0)
    b = 0.5 * a  # same pattern, half the size: r = 1, same signs
    np.fill_diagonal(b, 1.0)
    res = compare_matrices(a, b)
    assert res["pearson_r"] == pytest.approx(1.0)
    assert res["spearman_r"] == pytest.approx(1.0)
    assert res["sign_agreement"] == 1.0
    assert res["num_pairs"] == k * (k - 1) // 2
    iu = np.triu_indices(k, 1)
    assert res["mean_abs_diff"] == pytest.approx(np.abs(a[iu] - b[iu]).mean())
    neg = compare_matrices(a, -a)
    assert neg["pearson_r"] == pytest.approx(-1.0)
    assert neg["sign_agreement"] == 0.0
    # independent reference for Pearson/Spearman on random matrices
    c = rng.uniform(-1, 1, (k, k))
    c = (c + c.T) / 2
    res = compare_matrices(a, c)
    from scipy.stats import pearsonr, spearmanr

    assert res["pearson_r"] == pytest.approx(pearsonr(a[iu], c[iu])[0], abs=1e-10)
    assert res["spearman_r"] == pytest.approx(spearmanr(a[iu], c[iu])[0], abs=1e-10)


def test_compare_matrices_skips_nan_and_diagonal():
    a = np.array([[1.0, 0.3, np.nan, 0.1], [0.3, 1, 0.2, -0.4], [np.nan, 0.2, 1, 0.5]])
    a = np.vstack([a, [0.1, -0.4, 0.5, 1.0]])
    b = a.copy()
    b[0, 2] = b[2, 0] = 0.9
    np.fill_diagonal(b, -7.0)  # the diagonal never enters
    res = compare_matrices(a, b)
    assert res["num_pairs"] == 5 and res["pearson_r"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("ours", "ref", "match"),
    [
        (np.zeros((3, 2)), np.zeros((3, 2)), "ours: expected a square matrix"),
        (np.eye(3), np.eye(4), r"reference: expected shape \(3, 3\)"),
        (np.eye(2), np.eye(2), "ours: expected at least 3 finite"),
    ],
)
def test_compare_matrices_errors(ours, ref, match):
    with pytest.raises(ValueError, match=match):
        compare_matrices(ours, ref)


def test_feature_distance_and_errors():
    d = feature_distance([[2.0, 1.0], [np.nan, 3.0]], [1.0, 1.0], [0.5, 2.0])
    np.testing.assert_allclose(d, [[2.0, 0.0], [np.nan, 1.0]])
    with pytest.raises(ValueError, match="sd: expected positive finite"):
        feature_distance([[1.0]], [1.0], [0.0])
    with pytest.raises(ValueError, match=r"x: expected shape \(num, 2\)"):
        feature_distance([[1.0]], [1.0, 2.0], [1.0, 1.0])


def test_select_disparate_pair_brute_force():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(60, 4))
    d = rng.uniform(size=60)
    d[::7] = np.nan  # invalid simulations are never chosen
    i, j, dist = select_disparate_pair(z, d, num_candidates=10)
    cand = [k for k in np.argsort(np.where(np.isnan(d), np.inf, d))[:10]]
    best = max(
        ((a, b) for a in cand for b in cand if a < b),
        key=lambda p: np.linalg.norm(z[p[0]] - z[p[1]]),
    )
    assert (i, j) == tuple(sorted(best))
    assert dist == pytest.approx(np.linalg.norm(z[i] - z[j]))
    with pytest.raises(ValueError, match="distance: expected at least 2 finite"):
        select_disparate_pair(z[:2], np.array([np.nan, 1.0]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget_s": 0}, "budget_s: expected"),
        ({"num_rounds": 2}, "max_simulations: expected a tuple of 2 entries"),
        ({"simulation_shares": (0.5, 0.3, 0.2)}, "shares summing to less than 1"),
        ({"ortho_start_index": 79}, r"ortho_start_index: expected an index in \[1, 78\]"),
        ({"num_path_sims": 81}, "num_path_sims: expected at most"),
        ({"seed": 1.5}, "seed: expected an int"),
        ({"proposal": "apt"}, "proposal: expected one of"),
        ({"truncation_quantile": 1.0}, "truncation_quantile: expected a quantile"),
        ({"max_valid": (10, 10)}, "max_valid: expected a tuple of 3 entries"),
        ({"max_valid": (10, 0, 10)}, "max_valid: expected"),
        ({"estimator": "mdn"}, "estimator: expected one of"),
        ({"lr_decay": 1.0}, r"lr_decay: expected a factor in \(0, 1\)"),
        ({"stop_after_round": 4}, r"stop_after_round: expected None or a round number in \[1"),
        ({"stop_after_round": 0}, "stop_after_round: expected None or a round number"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        PyloricPosteriorConfig(**kwargs)


# ------------------------------------------------------------------- stand-in simulator
class FakeSimulator:
    """Features x_o * (1 + 0.3 tanh(z_k)) + 1 % noise for k < 18; invalid (NaN) when the
    PD-LP synapse z_25 > 0.5. Optionally fails on a given call (a killed round)."""

    def __init__(self, xo: np.ndarray, prior, fail_on_call: int | None = None) -> None:
        self.xo = torch.as_tensor(xo)
        self.lo, self.hi = prior.low.double(), prior.high.double()
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, theta: torch.Tensor, seeds: np.ndarray) -> torch.Tensor:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise KeyboardInterrupt("killed")
        z = (theta.double() - (self.lo + self.hi) / 2) / ((self.hi - self.lo) / 12**0.5)
        g = torch.Generator().manual_seed(int(seeds[0]) % 2**31)
        noise = 0.01 * torch.randn(theta.shape[0], 18, generator=g, dtype=torch.float64)
        x = self.xo * (1 + 0.3 * torch.tanh(z[:, :18]) + noise)
        x[z[:, 25] > 0.5] = float("nan")
        return x.float()


def _tiny(shared_data, **kw) -> PyloricPosteriorConfig:
    base = dict(
        budget_s=60.0,
        num_rounds=2,
        max_simulations=(1500, 500),
        simulation_shares=(0.2, 0.2),
        training_shares=(0.1, 0.1),
        sim_batch=500,
        hidden_features=16,
        num_transforms=2,
        max_epochs=4,
        num_ppc=200,
        num_path_points=12,
        num_path_sims=4,
        ortho_start_index=4,
        path_max_iter=3,
        num_conditions=2,
        resolution=8,
        device="cpu",
        data_dir=str(shared_data),
    )
    base.update(kw)
    return PyloricPosteriorConfig(**base)


@pytest.fixture
def stand_in(shared_data):
    from neurodyn.simulators.pyloric import pyloric_prior
    from neurodyn.studies.pyloric import _load_xo

    prior = pyloric_prior()
    xo, _, _ = _load_xo(shared_data / "stg_xo_845_082_0044_elife_order.csv")
    return xo, prior


def test_study_with_stand_in_simulator(shared_data, tmp_path, stand_in):
    xo, prior = stand_in
    sim = FakeSimulator(xo, prior)
    # the stand-in simulates ~1e6/s: allow any rejection cost so that round 2 is truncated
    cfg = _tiny(shared_data, budget_s=40.0, max_epochs=25, max_proposal_cost=1e12)
    res = run_pyloric_posterior_study(cfg, out=tmp_path, simulate=sim, prior=prior, echo=print)
    n = json.loads((tmp_path / "result.json").read_text())
    r1, r2 = n["rounds"]
    # round 1 from the prior: P(z_25 <= 0.5) = (0.5 + sqrt 3) / (2 sqrt 3) = 0.644
    assert r1["simulated"] == 1500 and r1["valid"] + r1["invalid"] == 1500
    assert abs(r1["valid_fraction"] - 0.644) < 0.05
    # TSNPE: truncated prior, plain loss on every round
    assert r1["loss"] == "maximum likelihood" and r2["loss"] == "maximum likelihood"
    assert r2["proposal"] == "truncated prior (TSNPE)"
    assert 0 < r2["truncation_acceptance"] <= 1
    assert 0 < r2["truncation_acceptance_probe"] <= 1
    assert 0 <= n["ppc"]["fraction_at_box_edge"] <= 1
    assert n["ppc"]["fraction_at_box_edge_prior"] == pytest.approx(1 - 0.998**31)
    assert n["num_valid_total"] == r1["valid"] + r2["valid"]
    assert 0 <= n["ppc"]["fraction_valid"] <= 1
    assert n["path"]["num_simulated"] == 4
    assert n["conditional_correlation"]["num_conditions"] == 2
    vs = n["conditional_correlation"]["vs_elife"]
    assert vs["num_pairs"] == 465
    ortho = n["ortho"]
    assert 0 <= ortho["seeds_fraction_valid"] <= 1 and ortho["num_seeds"] == 3
    # controls with the eLife orthogonal path (file in the shared data)
    assert 0 <= ortho["elife_reference_fraction_valid"] <= 1
    assert 0 <= ortho["from_elife_path_fraction_valid"] <= 1
    # eLife length (path length 6.2955 / 27) unless the descent stops at a stationary point
    assert 0 < ortho["from_elife_path_length_z"] <= 6.2955 / 27 + 0.01
    rows = (tmp_path / "rounds.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("round,proposal,simulated,valid")
    assert (tmp_path / "posterior" / "weights.safetensors").is_file()
    for fig in ("ppc_features", "conditional_correlation", "paths"):
        assert (tmp_path / "figures" / f"{fig}.png").stat().st_size > 1000
    with np.load(tmp_path / "arrays.npz") as a:
        assert a["cc_matrix"].shape == (31, 31)
        np.testing.assert_allclose(np.diag(a["cc_matrix"]), 1.0)
        assert a["ppc_theta"].shape == (200, 31)
        # every predictive sample lies in the prior box (logit flow)
        assert (a["ppc_theta"] >= prior.low.numpy()).all()
        assert (a["ppc_theta"] <= prior.high.numpy()).all()
    assert res.report.is_file()


def test_truncation_too_costly_falls_back_on_the_prior(shared_data, tmp_path, stand_in):
    xo, prior = stand_in
    cfg = _tiny(shared_data, max_epochs=3, num_ppc=30, max_proposal_cost=1e-9)
    res = run_pyloric_posterior_study(
        cfg, out=tmp_path, simulate=FakeSimulator(xo, prior), prior=prior, echo=print
    )
    r2 = res.numbers["rounds"][1]
    assert r2["proposal"] == "prior" and r2["loss"] == "maximum likelihood"
    assert r2["truncation_cost_in_simulations"] > 1e-9
    assert abs(r2["valid_fraction"] - 0.644) < 0.1  # prior samples again


def test_apt_option(shared_data, tmp_path, stand_in):
    xo, prior = stand_in
    cfg = _tiny(shared_data, max_epochs=3, num_ppc=30, proposal="posterior-apt")
    res = run_pyloric_posterior_study(
        cfg, out=tmp_path, simulate=FakeSimulator(xo, prior), prior=prior, echo=print
    )
    r2 = res.numbers["rounds"][1]
    assert r2["proposal"] == "posterior at x_o" and r2["loss"] == "atomic (APT)"


def test_two_calls_prior_round_then_the_rest(shared_data, tmp_path, stand_in):
    xo, prior = stand_in
    first = _tiny(shared_data, num_rounds=1, max_simulations=(1500,), simulation_shares=(0.5,),
                  training_shares=(0.1,), stop_after_round=1)  # fmt: skip
    sim = FakeSimulator(xo, prior)
    res = run_pyloric_posterior_study(first, out=tmp_path / "a", simulate=sim, prior=prior)
    assert res.posterior is None and res.report is None and sim.calls == 3
    assert res.numbers["rounds"][0]["simulated"] == 1500
    # second call elsewhere: only the two files of the prior round are copied
    (tmp_path / "b" / "state").mkdir(parents=True)
    for name in ("round_0.safetensors", "round_0.json"):
        (tmp_path / "b" / "state" / name).write_bytes(
            (tmp_path / "a" / "state" / name).read_bytes()
        )
    msgs: list[str] = []
    sim2 = FakeSimulator(xo, prior)
    cfg = _tiny(shared_data, max_epochs=3, num_ppc=30, max_proposal_cost=1e12)
    res = run_pyloric_posterior_study(
        cfg, out=tmp_path / "b", simulate=sim2, prior=prior, echo=msgs.append
    )
    assert any("round 1: resumed" in m for m in msgs)
    assert (
        res.numbers["rounds"][0]["valid"]
        == json.loads((tmp_path / "a" / "state" / "round_0.json").read_text())["valid"]
    )
    assert res.numbers["rounds"][1]["proposal"] == "truncated prior (TSNPE)"


def test_two_calls_split_after_the_second_round(shared_data, tmp_path, stand_in):
    """First call: prior round, training, truncated round 2 (stopped at its valid cap); the
    second call, given only the ``state`` folder, trains on both rounds and goes on. A
    changed architecture in the second call starts a fresh network instead of warm-starting."""
    xo, prior = stand_in
    three = dict(num_rounds=3, max_simulations=(1500, 1000, 500), max_epochs=3,
                 simulation_shares=(0.2, 0.2, 0.1), training_shares=(0.1, 0.1, 0.1),
                 max_proposal_cost=1e12)  # fmt: skip
    first = _tiny(shared_data, **three, max_valid=(10_000, 200, 10_000), stop_after_round=2)
    sim = FakeSimulator(xo, prior)
    res = run_pyloric_posterior_study(first, out=tmp_path / "a", simulate=sim, prior=prior)
    assert res.posterior is None and [r["round"] for r in res.numbers["rounds"]] == [1, 2]
    r2 = res.numbers["rounds"][1]
    assert r2["proposal"] == "truncated prior (TSNPE)"
    assert 200 <= r2["valid"] < 200 + first.sim_batch  # stopped after the batch reaching it
    assert (tmp_path / "a" / "state" / "posterior_0" / "posterior.json").is_file()
    assert not (tmp_path / "a" / "state" / "posterior_1").exists()  # round 2 not trained
    import shutil

    shutil.copytree(tmp_path / "a" / "state", tmp_path / "b" / "state")
    msgs: list[str] = []
    cfg = _tiny(shared_data, **three, num_ppc=30, hidden_features=first.hidden_features + 8)
    res = run_pyloric_posterior_study(
        cfg, out=tmp_path / "b", simulate=FakeSimulator(xo, prior), prior=prior, echo=msgs.append
    )
    assert any("round 1: resumed" in m for m in msgs)
    assert any("round 2: resumed" in m for m in msgs)
    assert any("starts a fresh maf" in m for m in msgs)
    assert res.numbers["rounds"][1]["valid"] == r2["valid"]
    assert res.posterior.config.hidden_features == first.hidden_features + 8
    assert len(res.numbers["rounds"]) == 3


def test_resume_after_a_killed_round(shared_data, tmp_path, stand_in):
    xo, prior = stand_in
    cfg = _tiny(shared_data, num_ppc=50)
    killed = FakeSimulator(xo, prior, fail_on_call=4)  # round 1: 3 batches; dies in round 2
    with pytest.raises(KeyboardInterrupt):
        run_pyloric_posterior_study(cfg, out=tmp_path, simulate=killed, prior=prior, echo=print)
    assert (tmp_path / "state" / "round_0.safetensors").is_file()
    assert (tmp_path / "state" / "posterior_0" / "posterior.json").is_file()
    assert not (tmp_path / "state" / "round_1.safetensors").exists()
    first = json.loads((tmp_path / "state" / "round_0.json").read_text())
    sim = FakeSimulator(xo, prior)
    msgs: list[str] = []
    res = run_pyloric_posterior_study(
        cfg, out=tmp_path, simulate=sim, prior=prior, echo=msgs.append
    )
    assert any("round 1: resumed" in m for m in msgs)
    # round 1 is not simulated again: 1 batch of round 2, then PPC, the endpoint screen, path
    # and 3 orthogonal-path simulations (this posterior's over the seeds, eLife's, this
    # posterior's from eLife's path)
    assert sim.calls == 7
    assert res.numbers["rounds"][0]["valid"] == first["valid"]
    assert res.numbers["rounds"][0]["epochs"] >= 1


def test_pair_falls_back_on_training_simulations(shared_data, tmp_path, stand_in):
    xo, prior = stand_in

    class NoValidPredictive(FakeSimulator):
        def __call__(self, theta, seeds):
            x = super().__call__(theta, seeds)
            return torch.full_like(x, float("nan")) if self.calls == 5 else x  # call 5: PPC

    cfg = _tiny(shared_data, budget_s=20.0, max_epochs=2, num_ppc=30)
    res = run_pyloric_posterior_study(
        cfg, out=tmp_path, simulate=NoValidPredictive(xo, prior), prior=prior, echo=print
    )
    assert res.numbers["ppc"]["fraction_valid"] == 0.0
    assert res.numbers["pair"]["source"].startswith("valid training simulations")
    assert res.numbers["path"]["num_simulated"] == 4


def test_disparate_pair_endpoints_keep_their_rhythm_under_new_seeds(
    shared_data, tmp_path, stand_in
):
    """Where z_26 > -1 the stand-in's rhythm survives only 1 in 3 noise draws (per-row seeds):
    such a predictive sample can be valid once and still be a poor endpoint. The screen keeps
    only candidates valid under every one of the new seeds; without it both endpoints would be
    robust by chance only ~20 % of the time."""
    xo, prior = stand_in

    class Fragile(FakeSimulator):
        def __call__(self, theta, seeds):
            x = super().__call__(theta, seeds)
            z26 = (theta[:, 26].double() - (self.lo[26] + self.hi[26]) / 2) / (
                (self.hi[26] - self.lo[26]) / 12**0.5
            )
            lucky = torch.as_tensor(np.asarray(seeds) % 3 == 0)
            x[(z26 > -1.0) & ~lucky] = float("nan")
            return x

    cfg = _tiny(shared_data, max_epochs=3, num_ppc=400, max_proposal_cost=1e12)
    res = run_pyloric_posterior_study(
        cfg, out=tmp_path, simulate=Fragile(xo, prior), prior=prior, echo=print
    )
    pair = res.numbers["pair"]
    assert pair["candidates_valid_under_all_seeds"] < pair["candidates_screened"]
    with np.load(tmp_path / "arrays.npz") as f:
        ends = torch.as_tensor(f["pair_theta"])
    lo, hi = prior.low.double(), prior.high.double()
    z26 = (ends[:, 26] - (lo[26] + hi[26]) / 2) / ((hi[26] - lo[26]) / 12**0.5)
    assert (z26 <= -1.0).all(), z26


def test_missing_observation_file(tmp_path, stand_in):
    xo, prior = stand_in
    cfg = PyloricPosteriorConfig(device="cpu", data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="data_dir: expected an existing file"):
        run_pyloric_posterior_study(cfg, out=tmp_path / "o", simulate=FakeSimulator(xo, prior))


def test_too_few_valid_simulations(shared_data, tmp_path, stand_in):
    _, prior = stand_in

    def all_invalid(theta, seeds):
        return torch.full((theta.shape[0], 18), float("nan"))

    cfg = _tiny(shared_data, max_simulations=(200, 100))
    with pytest.raises(RuntimeError, match="at least min_valid=50 valid simulations"):
        run_pyloric_posterior_study(cfg, out=tmp_path, simulate=all_invalid, prior=prior)
    counts = json.loads((tmp_path / "state" / "round_0.json").read_text())
    assert counts["simulated"] == 200 and counts["invalid"] == 200


def test_bad_config_type(tmp_path):
    with pytest.raises(TypeError, match="config: expected a PyloricPosteriorConfig"):
        run_pyloric_posterior_study({"budget_s": 1}, out=tmp_path)


@pytest.mark.slow
def test_study_with_the_real_simulator_on_cpu(shared_data, tmp_path):
    cfg = _tiny(
        shared_data,
        budget_s=120.0,
        max_simulations=(1200, 200),
        sim_batch=200,
        min_valid=3,
        num_ppc=50,
        t_max=3000.0,
        t_burn_in=1000.0,
    )
    res = run_pyloric_posterior_study(cfg, out=tmp_path, echo=lambda s: None)
    r1 = res.numbers["rounds"][0]
    assert r1["valid"] + r1["not_bursting"] + r1["irregular"] == r1["simulated"]
    assert res.numbers["ppc"]["fraction_triphasic_class"] is not None
    assert (tmp_path / "figures" / "traces.png").is_file()
