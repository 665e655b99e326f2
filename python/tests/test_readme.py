"""The README's section "From Python": its code blocks run as written, in order."""

from __future__ import annotations

import os
import re

from conftest import ROOT


def test_the_readme_examples_run(tmp_path, capsys):
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict = {}
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    finally:
        os.chdir(here)
    # What the first block prints: the poster's rho, and a summary per sweep batch.
    out = capsys.readouterr().out
    assert "0.7071067811865476" in out
    assert (tmp_path / "output" / "scenario" / "summary.csv").exists()
    assert len(out.strip().splitlines()) >= 4 + 1 + 4  # the summary, rho, 1681/500 batches
