"""Pyloric path study: plumbing with a stand-in simulator (the real one runs in the slow test)."""

from __future__ import annotations

import json

import pytest
import torch

from neurodyn.priors import BoxUniform
from neurodyn.studies.pyloric import PyloricStudyConfig, run_pyloric_study


def fake_simulator(theta: torch.Tensor) -> torch.Tensor:
    """18 'features'; NaN (no rhythm) when the PD-LP synapse (index 25) exceeds ln(2e-6)."""
    out = torch.ones(theta.shape[0], 18)
    out[theta[:, 25] > -13.0] = float("nan")
    return out


def test_pyloric_study_with_stand_in_simulator(shared_data, tmp_path, load_npz):
    ref = load_npz("elife2020_stg_paths_extracted.npz")
    from neurodyn.simulators.pyloric import pyloric_prior

    prior = pyloric_prior()
    cfg = PyloricStudyConfig(data_dir=str(shared_data), num_ortho_points=10)
    res = run_pyloric_study(cfg, out=tmp_path, simulate=fake_simulator, prior=prior)
    assert res.path.indices.tolist()[:4] == [0, 3, 7, 10]
    assert res.ortho.indices.numel() == 10
    # independent check of the z -> theta map on the PD-LP synapse
    lo, hi = float(prior.low[25]), float(prior.high[25])
    z = torch.as_tensor(ref["high_p_path_coords"][:, 25])
    theta25 = (lo + hi) / 2 + (hi - lo) / 12**0.5 * z
    expected = (theta25[res.path.indices] <= -13.0).tolist()
    assert res.path.valid.tolist() == expected
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["path_fraction_valid"] == pytest.approx(sum(expected) / len(expected))
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64" in html and "orthogonal" in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]


def test_missing_reference_data_is_reported(tmp_path):
    cfg = PyloricStudyConfig(data_dir=str(tmp_path))
    prior = BoxUniform(torch.zeros(31), torch.ones(31))
    with pytest.raises(FileNotFoundError, match="data_dir: expected an existing file"):
        run_pyloric_study(cfg, out=tmp_path / "o", simulate=fake_simulator, prior=prior)


@pytest.mark.slow
def test_pyloric_study_with_the_real_simulator(shared_data, tmp_path):
    res = run_pyloric_study(
        PyloricStudyConfig(data_dir=str(shared_data), device="cpu"), out=tmp_path
    )
    assert res.path.fraction_valid >= 0.9
    assert res.ortho.first_invalid is not None
