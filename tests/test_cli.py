"""The ``neurodyn`` command line: help and the HH demo (typer's CliRunner)."""

from __future__ import annotations

from typer.testing import CliRunner

from neurodyn.cli import app

runner = CliRunner()


def test_help_lists_subcommands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    assert "demo" in res.output


def test_demo_hh_quick(tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(app, ["demo", "hh", "--quick", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.html").is_file() and "n_spikes" in res.output
    bad = runner.invoke(app, ["demo", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0
