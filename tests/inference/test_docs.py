"""The quick-start snippet of docs/inference.md runs as written (in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "inference.md"


def test_quick_start_snippet_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    assert namespace["samples"].shape == (1000, 2)
    assert (tmp_path / "my_posterior" / "weights.safetensors").is_file()
