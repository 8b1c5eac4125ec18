"""The HH demo writes its report into the output folder and reproduces the eLife x_o."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodyn.studies.demo import ELIFE_XO, run_demo


def test_hh_demo_writes_report_and_prints_x_o(tmp_path, capsys):
    out = tmp_path / "demo"
    path = run_demo("hh", out=out, device="cpu", quick=True)
    assert path == out / "report.html" and path.is_file()
    assert (out / "hh_traces.png").stat().st_size > 1000
    assert sorted(p.name for p in out.iterdir()) == ["hh_traces.png", "report.html", "report.json"]
    x_o = json.loads((out / "report.json").read_text())["x_o"]
    np.testing.assert_allclose(x_o, ELIFE_XO, rtol=1e-3)
    printed = capsys.readouterr().out
    assert "n_spikes" in printed and "stim_kurt" in printed


def test_unknown_demo_lists_available():
    with pytest.raises(ValueError, match="name: expected one of the available demos: 'hh'"):
        run_demo("nope", out="unused")
