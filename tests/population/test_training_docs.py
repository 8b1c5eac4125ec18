"""The runnable example of docs/synapsnet.md runs and finds the planted edge."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "synapsnet.md"


def test_tutorial_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    assert "strongest edge (post, pre): (1, 4)" in capsys.readouterr().out
    assert namespace["pred"].shape == (1200, 6) and namespace["future"].shape == (5, 6)
    assert (tmp_path / "synapsnet_example.safetensors").is_file()
