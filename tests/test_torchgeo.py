"""The torchgeo adapter (sen12stac.stream.torchgeo, extra ``torchgeo``) in the dev environment.

torchgeo needs torchvision, and torchvision's PyPI wheels do not import beside the CPU torch the
dev extra pins (docs/torchgeo.md), so torchgeo is not in ``dev``: its tests
(``tests/test_torchgeo_env.py``) run in their own environment, ``.venv/tools-torchgeo`` (torchgeo
with a matching torch and torchvision), which ``make test`` builds. The test here runs that file
there and passes only when every one of its tests passed; the missing-extra and broken-install
messages are tested here directly.
"""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sen12stac.errors import MissingExtraError

REPO = Path(__file__).resolve().parents[1]
TORCHGEO_PYTHON = REPO / ".venv" / "tools-torchgeo" / "bin" / "python"


def test_the_torchgeo_tests_pass_in_the_torchgeo_environment():
    """Every test of tests/test_torchgeo_env.py passes with torchgeo installed (none skipped)."""
    assert TORCHGEO_PYTHON.exists(), f"{TORCHGEO_PYTHON} is missing: run `make venv-torchgeo` (make test builds it)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AWS_", "COV_"))}
    r = subprocess.run([str(TORCHGEO_PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", "tests/test_torchgeo_env.py"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-2000:]
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    m = re.search(r"(\d+) passed", summary)
    assert m and int(m.group(1)) >= 15, summary
    assert not re.search(r"skipped|xfail|deselected|error", summary), summary


# -- without the extra, or with a broken torch/torchvision pair -------------------------------
def _fresh_import(monkeypatch):
    for name in [m for m in sys.modules if m == "sen12stac.stream.torchgeo" or m == "torchgeo" or m.startswith("torchgeo.")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("sen12stac.stream.torchgeo")


def test_without_the_extra_the_import_names_it(monkeypatch):
    from sen12stac import extras

    monkeypatch.setattr(extras, "missing", lambda extra: ("torchgeo",) if extra == "torchgeo" else ())
    with pytest.raises(MissingExtraError, match=r"needs the 'torchgeo' extra: torchgeo is not installed") as exc:
        _fresh_import(monkeypatch)
    assert exc.value.fix == "pip install 'sen12stac[torchgeo]'"


def test_a_torchvision_that_does_not_match_torch_is_one_clear_error(monkeypatch, tmp_path):
    """What a CPU torch beside a CUDA torchvision wheel does at import (measured: "operator
    torchvision::nms does not exist"), reproduced by a stand-in package that raises the same."""
    from sen12stac import extras

    fake = tmp_path / "torchgeo"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(extras, "missing", lambda extra: ())
    with pytest.raises(MissingExtraError, match=r"torchgeo cannot be imported: .*operator torchvision::nms does not exist") as exc:
        _fresh_import(monkeypatch)
    assert "\n" not in str(exc.value) and "torchvision" in exc.value.fix
