"""HH Allen study: data loading against the published table, plumbing with a stand-in
simulator, and the real HH model at a small budget (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodyn.priors import BoxUniform
from neurodyn.studies.hh_allen import HHAllenConfig, load_allen_cells, run_hh_allen

# eLife Allen table (reference §1.7): cell 518290966 sweep 57 and 526950199 sweep 37
PUBLISHED = {
    "518290966": [12, -86.62, 0.058, -59.74, 73.57, 5.711, 49.66],
    "526950199": [22, -79.45, 0.044, -59.36, 118.89, 5.323, 34.07],
}


def test_load_allen_cells(shared_data):
    cells = load_allen_cells(shared_data)
    assert len(cells) == 10
    by_id = {c["cell_id"]: c for c in cells}
    for cid, x in PUBLISHED.items():
        np.testing.assert_allclose(by_id[cid]["x_o"], x, rtol=2e-3, atol=2e-3)
    c = cells[0]
    assert c["V_mV"].shape == c["I_nA"].shape == (72500,)
    assert c["dt_ms"] == pytest.approx(0.02) and c["t_on_ms"] == pytest.approx(205.0)
    # the step current (µA/cm² = nA·1e-3 / area) matches the published amplitude (0.915)
    t = np.arange(72500) * c["dt_ms"]
    stim = (t > 300) & (t < 1100)
    density = np.median(c["I_nA"][stim]) * 1e-3 / c["area_cm2"]
    assert density == pytest.approx(0.915, abs=0.01)


class StandIn:
    """7 features = first 7 parameters + noise, prior box around the recordings' features."""

    def __init__(self, low, high):
        self.prior = BoxUniform(low, high)
        self.param_names = tuple(f"p{i}" for i in range(8))
        self.feature_names = tuple(f"f{i}" for i in range(7))
        self.device = torch.device("cpu")
        self.scale = torch.as_tensor((high - low)[:7] / 50, dtype=torch.float32)

    def simulate(self, theta, *, seed=None, output="features"):
        if output != "features":
            raise ValueError("output: features only")
        g = torch.Generator().manual_seed(int(seed))
        return theta[:, :7] + self.scale * torch.randn(theta.shape[0], 7, generator=g)


def test_study_with_stand_in_simulator(shared_data, tmp_path):
    obs = np.stack([c["x_o"] for c in load_allen_cells(shared_data)])
    span = obs.max(0) - obs.min(0) + 1.0
    low = np.append(obs.min(0) - span, 0.0)
    high = np.append(obs.max(0) + span, 1.0)

    def factory(cell):
        return StandIn(low.astype(np.float32), high.astype(np.float32))

    cfg = HHAllenConfig(
        num_simulations=600,
        num_cells=2,
        num_posterior_samples=300,
        num_predictive=100,
        hidden_features=16,
        max_epochs=20,
        batch_size=50,
        device="cpu",
        data_dir=str(shared_data),
    )
    res = run_hh_allen(cfg, out=tmp_path, simulator_factory=factory)
    assert res.cell_ids == ["518290966", "509881736"]
    assert res.observed.shape == res.zscores.shape == (2, 7)
    assert np.all(res.fraction_valid == 1.0)
    assert np.abs(res.zscores).max() < 2.5  # the stand-in can reproduce every feature
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["cell_ids"] == res.cell_ids
    assert "data:image/png;base64" in (tmp_path / "report.html").read_text()


@pytest.mark.slow
def test_study_with_hodgkin_huxley(shared_data, tmp_path):
    cfg = HHAllenConfig(
        num_simulations=20_000, num_cells=2, device="cpu", data_dir=str(shared_data)
    )
    res = run_hh_allen(cfg, out=tmp_path)
    assert np.all(res.fraction_valid > 0.5)
    assert np.nanmedian(np.abs(res.zscores)) < 2.0
