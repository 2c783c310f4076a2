"""Dependencies that tell the truth: what the library imports is declared as a runtime
dependency (in the core, or in the extra whose ``require`` guards the module), what only
tests use is in the dev extra, and the library uses other packages only through their
public API:

* no ``pkg._private`` imports, no ctypes into native libraries;
* no override of another package's ``_``-methods or ``_``-attributes in a subclass;
* no write to another package's objects: its modules, classes, the objects it owns (an
  extension list of an app it built), process-wide settings (``install_opener``), and no
  monkeypatching tools in the library;
* no import or read of another package's test data (``<pkg>/tests/...``, ``apitestcase``).

Each check is shown to catch the patterns it forbids, and to let pass the public use next
to them, on a small fake package (``test_the_checkers_see_what_they_forbid...``)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.depcheck import (
    EXTRAS_NOT_IN_DEV,
    PACKAGE,
    REPO,
    core_closure,
    dists_of,
    env_without,
    imports_in,
    norm,
    optional_extra_names,
    optional_extras,
    optional_imports_outside_their_extra,
    overrides,
    private_use,
    reads_test_data,
    requirements,
    run_in,
    writes,
)


#: Known uses of another package's internals, each with why (kept visible: the lead decides).
KNOWN_PRIVATE_USE: dict[str, str] = {}  # none left (iostats counts GDAL's requests from its debug messages)
#: Runtime dependencies the library needs without importing them (each with why).
LOADED_NOT_IMPORTED: dict[str, str] = {}  # none in the core (imagecodecs, loaded by tifffile, is in the stream extra)


def test_every_library_import_is_a_declared_runtime_dependency():
    declared = requirements(None) | optional_extras()  # an optional adapter (torch) imports its extra
    missing = {m: sorted(files) for m, files in imports_in(PACKAGE).items() if not dists_of(m) & declared}
    assert missing == {}, f"imported by the library but not in [project.dependencies] or an extra: {missing}"


def test_packages_only_tests_use_are_dev_dependencies():
    runtime, dev = requirements(None), requirements("dev")
    library = set(imports_in(PACKAGE))
    tests_only = sorted(set(imports_in(REPO / "tests")) - library)
    assert tests_only, "the tests import packages of their own"
    assert [m for m in tests_only if dists_of(m) & runtime] == []
    undeclared = [m for m in tests_only if not dists_of(m) & (dev | set().union(*(requirements(e) for e in EXTRAS_NOT_IN_DEV)))]
    assert undeclared == [], f"imported by the tests but not in the dev extra: {undeclared}"
    # every declared runtime dependency is imported by the library, or loaded by one it imports
    provided = set().union(*(dists_of(m) for m in library))
    unused = sorted(runtime - provided - set(LOADED_NOT_IMPORTED))
    assert unused == [], f"runtime dependencies the library does not import: {unused}"
    assert "pystac" in dev and "pystac" not in runtime


def test_no_private_api_of_other_packages():
    problems = private_use()
    known = {p for p in problems if p.split(":", 1)[0] in KNOWN_PRIVATE_USE}
    assert sorted(set(problems) - known) == [], "\n".join(sorted(set(problems) - known))
    # an exception that no longer applies must be removed from the list
    assert {k.split(":", 1)[0] for k in known} == set(KNOWN_PRIVATE_USE)


def test_the_checker_sees_what_it_forbids(tmp_path):
    """The private-API check is not vacuous: fed the patterns it must refuse, it refuses them."""
    fake = tmp_path / "sen12stac"
    fake.mkdir()
    (fake / "bad.py").write_text(
        "import ctypes\n"
        "from rasterio._err import CPLE_BaseError\n"
        "from stac_geoparquet.arrow import _batch\n"
    )
    text = "\n".join(private_use(fake))
    for expected in ("imports ctypes", "private module rasterio._err", "private name stac_geoparquet.arrow._batch"):
        assert expected in text


def test_no_override_of_another_packages_private_methods():
    """A class of ours (at any depth: in a function, through another class of ours) that defines
    a ``_name`` its base from another package defines: a copy or patch of its internals.
    (On main: api/client.py's DirectResponseClient._search_base over stac-fastapi-pgstac's.)"""
    problems = overrides(PACKAGE)
    assert problems == [], "\n".join(problems)


def test_no_write_to_another_packages_objects():
    """Assignments, setattr, in-place mutation of another package's modules, classes and the
    objects it owns; process-wide settings it owns; patching tools. Public attributes of an
    instance we made stay allowed. (On main: api/serve.py appends to the conformance classes of
    stac-fastapi's extension objects; sources/earthengine/offline.py swaps urllib's opener.)"""
    problems = writes(PACKAGE)
    assert problems == [], "\n".join(problems)


def test_no_import_or_read_of_another_packages_test_data():
    """``<pkg>.tests``/``apitestcase``/fixtures modules, or a path into ``<pkg>/tests`` (from its
    ``__file__`` or a resource lookup). (On main: sources/earthengine/offline.py reads
    earthengine-api's ee/tests/*.json.)"""
    problems = reads_test_data(PACKAGE)
    assert problems == [], "\n".join(problems)


_FAKE = {
    # (1) overrides: direct, through a class of ours, inside a function; next to legitimate subclassing
    "base.py": '''
import argparse
from rich.console import Console


class Ours(Console):
    def __init__(self):               # the public constructor: fine
        super().__init__()

    def print(self, *args):           # a public method: fine
        return super().print(*args)

    def _our_helper(self):            # a name the base does not have: fine
        return 1

    def _check_buffer(self):  # FLAG
        return None


class Parser(argparse.ArgumentParser):
    _get_values = None  # FLAG


def make():
    from rich.console import Console as C

    class Inner(C):
        def _render_buffer(self, buffer):  # FLAG
            return ""

    return Inner
''',
    "child.py": '''
from .base import Ours


class Child(Ours):
    def _render_buffer(self, buffer):  # FLAG
        return ""

    def _mine(self):
        return 2
''',
    # (2) writes: modules, classes, objects another package owns, process-wide settings, patching
    "writes.py": '''
import logging
import os
import socket
import urllib.request

import numpy as np
import rich.console as rc
from rich import box
from rich.table import Table


def build():
    t = Table()                       # an instance we made
    t.title = "ours to configure"     # its public attribute: fine
    t.add_column("a")                 # its public method: fine
    t._hidden = 1  # FLAG
    t.columns.append(None)  # FLAG
    for col in t.columns:
        col.header = "x"  # FLAG
    _tweak(t.columns)
    box.ASCII = None  # FLAG
    rc.Console.extra = 1  # FLAG
    setattr(box, "ROUNDED", None)  # FLAG
    os.environ["SEN12STAC_X"] = "1"  # FLAG
    urllib.request.install_opener(None)  # FLAG
    socket.setdefaulttimeout(3.0)  # FLAG
    d = dict(a=1)
    d["b"] = 2                        # our dict: fine
    arr = np.zeros(3)
    arr[0] = 1                        # our array: fine
    arr[1:][0] = 2                    # a slice of it: fine
    logger = logging.getLogger("sen12stac")
    logger.propagate = False          # a logger's public attribute: fine
    return t


def _tweak(cols):
    cols.extend([])  # FLAG


def patched():
    from unittest import mock  # FLAG

    return mock
''',
    # (3) another package's tests: imported, or read by path or resource lookup
    "testdata.py": '''
from importlib import resources
from pathlib import Path

import rich
from ee import apitestcase  # FLAG

FIXTURES = Path(rich.__file__).resolve().parent / "tests"  # FLAG
ROOT = Path(rich.__file__).parent                         # the package's folder, not its tests: fine
CASE = ROOT / "tests" / "case.json"  # FLAG
DATA = resources.files("rich").joinpath("tests/data.json")  # FLAG
OURS = resources.files("sen12stac.data") / "tests"         # our own package: fine
LOCAL = Path(__file__).parent / "fixtures"                  # our own folder: fine
THEME = resources.files("rich") / "default_styles.json"     # another package's public data file: not its tests
''',
}


def _fake_package(tmp_path: Path) -> Path:
    fake = tmp_path / "sen12stac"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    for name, text in _FAKE.items():
        (fake / name).write_text(text.lstrip("\n"))
    return fake


def _flagged_lines(problems: list[str]) -> set[tuple[str, int]]:
    out = set()
    for p in problems:
        m = re.match(r"sen12stac/([\w.]+):(\d+):", p)
        if m:
            out.add((m.group(1), int(m.group(2))))
        else:  # an import found without a line: the line of the import
            m = re.match(r"sen12stac/([\w.]+): imports (\S+)", p)
            module = m.group(2).rsplit(".", 1)
            text = _FAKE[m.group(1)].lstrip("\n").splitlines()
            out |= {(m.group(1), i + 1) for i, line in enumerate(text) if module[-1] in line and "import" in line}
    return out


def test_the_checkers_see_what_they_forbid_and_pass_public_use(tmp_path):
    """Every line marked FLAG in the fake package is reported, and no other line: the checks
    catch each forbidden pattern and leave public use of the same packages alone."""
    fake = _fake_package(tmp_path)
    expected = {(name, i + 1) for name, text in _FAKE.items() for i, line in enumerate(text.lstrip("\n").splitlines()) if "# FLAG" in line}
    found = _flagged_lines(overrides(fake)) | _flagged_lines(writes(fake)) | _flagged_lines(reads_test_data(fake))
    assert sorted(expected - found) == [], "missed"
    assert sorted(found - expected) == [], "flagged public use"
    # and each check reports its own kind
    assert {n for n, _ in _flagged_lines(overrides(fake))} == {"base.py", "child.py"}
    assert {n for n, _ in _flagged_lines(writes(fake))} == {"writes.py"}
    assert {n for n, _ in _flagged_lines(reads_test_data(fake))} == {"testdata.py"}


def test_every_optional_import_is_behind_the_extra_that_installs_it():
    """An import of a distribution outside the core sits in a module guarded by
    ``sen12stac.extras.require("<extra>")`` (there, or in a package above it), and that extra
    declares the distribution: a user without the extra gets one line naming it."""
    problems = optional_imports_outside_their_extra(PACKAGE)
    assert problems == [], "\n".join(problems)


def test_the_extras_named_in_errors_are_the_extras_of_pyproject():
    from sen12stac.extras import PURPOSE

    groups = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(PURPOSE) == set(groups) - {"dev"}
    # the optional stacks are extras, not core
    core = requirements(None)
    for dist, extra in (("obstore", "stream"), ("tifffile", "stream"), ("cql2", "stream"), ("earthengine-api", "earthengine"),
                        ("google-cloud-storage", "earthengine"), ("pystac-client", "opendata"), ("psycopg", "api"), ("torch", "torch")):
        assert dist not in core and dist in requirements(extra), (dist, extra)
    # everything the tests and `make demo` need comes with the dev extra (the Makefile installs it)
    assert set(groups) - {"dev"} - set(EXTRAS_NOT_IN_DEV) <= {e.strip() for r in groups["dev"] for e in re.findall(r"sen12stac\[([^\]]+)\]", r)}
    assert "install --quiet -e '.[dev]'" in (REPO / "Makefile").read_text()


def _one_line_naming(r, extra: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, (r.returncode, r.stdout, r.stderr)
    assert f"pip install 'sen12stac[{extra}]'" in lines[0] and "Traceback" not in r.stderr, lines[0]


def test_without_any_extra_the_core_builds_and_each_optional_part_names_its_extra(tmp_path):
    optional = set().union(*(requirements(g) for g in optional_extra_names())) - {"sen12stac"}
    hidden = {norm(d) for d in optional} - core_closure()
    assert {"obstore", "earthengine-api", "pystac-client", "pypgstac", "torch"} <= hidden
    farm = env_without(tmp_path / "site", hidden)
    cli = "sen12stac.cli"
    probe = run_in(farm, cli, "--help", cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    # the core: build and validate a small release
    build = run_in(farm, cli, "build", "--source", "synthetic", "--out", "out", "--seasons", "spring", "--scenes-per-season", "1",
                 "--workers", "0", "--scene-size", "512", cwd=tmp_path)
    assert build.returncode == 0, build.stdout + build.stderr
    validate = run_in(farm, cli, "validate", "out", cwd=tmp_path)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    # each optional part: one line, the extra to install, exit 2
    _one_line_naming(run_in(farm, cli, "download", "out", "--to", "copy", cwd=tmp_path), "stream")
    _one_line_naming(run_in(farm, cli, "build", "--source", "earthengine", "--out", "ee", "--seasons", "spring", "--scenes-per-season", "1", cwd=tmp_path), "earthengine")
    _one_line_naming(run_in(farm, cli, "ee-tasks", cwd=tmp_path), "earthengine")
    _one_line_naming(run_in(farm, cli, "build", "--source", "stac", "--stac-preset", "earth-search", "--out", "st", "--seasons", "spring",
                          "--scenes-per-season", "1", cwd=tmp_path), "opendata")
    _one_line_naming(run_in(farm, cli, "api", "serve", "--dsn", "postgresql:///none", cwd=tmp_path), "api")
    assert not (tmp_path / "copy").exists() and not (tmp_path / "ee").exists() and not (tmp_path / "st").exists()
    # the library: importing the optional package raises the same error, an ImportError too
    script = tmp_path / "imports.py"
    script.write_text(
        "from sen12stac.errors import MissingExtraError\n"
        "for name in ('sen12stac.stream', 'sen12stac.sources.earthengine', 'sen12stac.sources.opendata', 'sen12stac.api'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError as exc:\n"
        "        assert isinstance(exc, MissingExtraError), (name, repr(exc))\n"
        "        print(name, '->', exc)\n"
        "    else:\n"
        "        raise SystemExit(f'{name} imported without its extra')\n"
    )
    r = run_in(farm, str(script), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    said = dict(line.split(" -> ") for line in r.stdout.splitlines())
    assert "pip install 'sen12stac[stream]'" in said["sen12stac.stream"] and "obstore" in said["sen12stac.stream"]
    assert "pip install 'sen12stac[earthengine]'" in said["sen12stac.sources.earthengine"]
    assert "pip install 'sen12stac[opendata]'" in said["sen12stac.sources.opendata"]
    assert "pip install 'sen12stac[api]'" in said["sen12stac.api"]


def test_the_torch_adapter_names_its_extra(tmp_path):
    farm = env_without(tmp_path / "site", {"torch"})
    script = tmp_path / "imports.py"
    script.write_text("import sen12stac.stream  # the stream extra is there\nimport sen12stac.stream.torch\n")
    r = run_in(farm, str(script), cwd=tmp_path)
    assert r.returncode != 0 and "MissingExtraError" in r.stderr and "pip install 'sen12stac[torch]'" in r.stderr, r.stderr
    assert "the 'torch' extra: torch is not installed" in r.stderr
