"""What a first user hits, tried as printed in the README (fixes from the user-trial session)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}  # a log file or CI: rich falls back to 80 columns
    return subprocess.run([sys.executable, "-m", "sen12stac.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_error_is_one_unwrapped_line_when_stderr_is_not_a_terminal(tmp_path):
    # a typo'd release path longer than 80 columns: the message must not be hard-wrapped
    release = str(tmp_path / "a-release-folder-whose-name-is-long-enough-to-pass-eighty-columns" / "demoo")
    proc = _cli("download", release, "--to", str(tmp_path / "copy"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and release in lines[0] and lines[0].count("Fix:") == 1
