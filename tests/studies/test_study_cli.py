"""``neurodyn study``: dispatch and help."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from neurodyn.cli import app
from neurodyn.studies.cli import STUDIES, run_study


def test_help_lists_the_studies():
    res = CliRunner().invoke(app, ["study", "--help"])
    assert res.exit_code == 0
    for name in STUDIES:
        assert name in res.output


def test_unknown_study():
    with pytest.raises(ValueError, match="name: expected one of 'hh-synthetic', 'hh-allen'"):
        run_study("hh", out="unused")
