"""docs/getting-started.md runs as written: every bash and python block, in order, in a fresh
folder, through the real `fennec` entry point."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).parents[1] / "docs" / "getting-started.md"


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced bash or python block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(bash|python)\n(.*?)```", text, re.S)]


@pytest.mark.slow
def test_every_block_of_the_getting_started_guide_runs(tmp_path):
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "fennec").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m fennec_core.cli "$@"\n')
    (shim / "fennec").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PATH=f"{shim}{os.pathsep}{os.environ.get('PATH', '')}")
    found = blocks(DOC.read_text())
    assert len(found) >= 8
    for lang, code in found:
        argv = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
        res = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, (code, res.stdout[-2000:], res.stderr[-2000:])
        assert "Traceback" not in res.stderr, res.stderr
    assert (work / "my_zoo.zarr" / "zarr.json").is_file() and (work / "my_zoo_py.zarr" / "zarr.json").is_file()
