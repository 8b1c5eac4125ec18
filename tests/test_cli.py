"""The ``neurodyn`` command line: help and the HH demo (typer's CliRunner)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from neurodyn.cli import app

runner = CliRunner()


def test_help_lists_subcommands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    assert "demo" in res.output


def test_python_dash_m_runs_the_cli():
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run(
        [sys.executable, "-m", "neurodyn", "--help"], capture_output=True, text=True, env=env
    )
    assert res.returncode == 0, res.stderr
    assert "demo" in res.stdout and "simulate" in res.stdout


def test_demo_hh_quick(tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(app, ["demo", "hh", "--quick", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.html").is_file() and "n_spikes" in res.output
    bad = runner.invoke(app, ["demo", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0
