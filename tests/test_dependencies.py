"""Dependencies that tell the truth: what the library imports is declared as a runtime
dependency, what only tests use is in the dev extra, and the library uses no private API
of another package (no ``pkg._private`` imports, no ctypes into native libraries, no
patching of another package's attributes)."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import lru_cache
from importlib.metadata import packages_distributions
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "sen12stac"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
#: Known uses of another package's internals, each with why (kept visible: the lead decides).
KNOWN_PRIVATE_USE: dict[str, str] = {}  # none left (iostats counts GDAL's requests from its debug messages)
#: Runtime dependencies the library needs without importing them (each with why).
LOADED_NOT_IMPORTED = {
    "imagecodecs": "tifffile loads it to decode the patch COGs' DEFLATE + predictor (sen12stac.stream)",
}


def _requirements(group: str | None) -> set[str]:
    """Distribution names in [project.dependencies] (None) or an optional-dependencies group
    ("sen12stac[torch]" in a group stands for that extra's own requirements)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] if group is None else project["optional-dependencies"][group]
    names = set()
    for r in reqs:  # "dask[distributed]>=2024.1" declares dask and its extra's distributed
        m = re.match(r"([A-Za-z0-9_.\-]+)(?:\[([^\]]*)\])?", r)
        extras = [e.strip() for e in (m.group(2) or "").split(",") if e.strip()]
        if m.group(1) == project["name"]:
            for e in extras:
                names |= _requirements(e)
            continue
        names.add(m.group(1))
        names.update(extras)
    return {n.lower().replace("_", "-") for n in names}


def _optional_extras() -> set[str]:
    """Distributions of the user-facing extras (every optional group but dev)."""
    groups = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    return set().union(*(_requirements(g) for g in groups if g != "dev"))


def _imports(folder: Path) -> dict[str, set[str]]:
    """Top-level third-party module -> files importing it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                local = top in ("sen12stac", "tests", "conftest") or any((REPO / d / f"{top}.py").exists() for d in ("tests", "scripts", "bench"))
                if top not in STDLIB and not local:
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@lru_cache(maxsize=1)
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def _dists(module: str) -> set[str]:
    """The installed distributions providing a top-level module (pystac: pystac and pystac-core)."""
    dists = _installed().get(module)
    assert dists, f"{module} is imported but no installed distribution provides it"
    return {re.sub(r"[-_.]+", "-", d).lower() for d in dists}


def test_every_library_import_is_a_declared_runtime_dependency():
    declared = _requirements(None) | _optional_extras()  # an optional adapter (torch) imports its extra
    missing = {m: sorted(files) for m, files in _imports(PACKAGE).items() if not _dists(m) & declared}
    assert missing == {}, f"imported by the library but not in [project.dependencies] or an extra: {missing}"


def test_packages_only_tests_use_are_dev_dependencies():
    runtime, dev = _requirements(None), _requirements("dev")
    library = set(_imports(PACKAGE))
    tests_only = sorted(set(_imports(REPO / "tests")) - library)
    assert tests_only, "the tests import packages of their own"
    assert [m for m in tests_only if _dists(m) & runtime] == []
    undeclared = [m for m in tests_only if not _dists(m) & dev]
    assert undeclared == [], f"imported by the tests but not in the dev extra: {undeclared}"
    # every declared runtime dependency is imported by the library, or loaded by one it imports
    provided = set().union(*(_dists(m) for m in library))
    unused = sorted(runtime - provided - set(LOADED_NOT_IMPORTED))
    assert unused == [], f"runtime dependencies the library does not import: {unused}"
    assert "pystac" in dev and "pystac" not in runtime


def test_no_private_api_of_other_packages():
    problems = _private_use()
    known = {p for p in problems if p.split(":", 1)[0] in KNOWN_PRIVATE_USE}
    assert sorted(set(problems) - known) == [], "\n".join(sorted(set(problems) - known))
    # an exception that no longer applies must be removed from the list
    assert {k.split(":", 1)[0] for k in known} == set(KNOWN_PRIVATE_USE)


def _private_use() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO)
        tree = ast.parse(path.read_text(), str(path))
        imported_modules: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "ctypes":
                        problems.append(f"{rel}: imports ctypes")
                    if any(p.startswith("_") for p in a.name.split(".")[1:]):
                        problems.append(f"{rel}: imports private module {a.name}")
                    imported_modules.add((a.asname or a.name).split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top = node.module.split(".")[0]
                if top == "sen12stac" or top in STDLIB and top != "ctypes":
                    continue
                if top == "ctypes":
                    problems.append(f"{rel}: imports ctypes")
                if any(p.startswith("_") for p in node.module.split(".")[1:]):
                    problems.append(f"{rel}: imports from private module {node.module}")
                for a in node.names:
                    if a.name.startswith("_") and not (a.name.startswith("__") and a.name.endswith("__")):
                        problems.append(f"{rel}: imports private name {node.module}.{a.name}")
                    imported_modules.add(a.asname or a.name)
        for node in ast.walk(tree):  # patching another package: <imported module>.attr = ...
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in imported_modules:
                        problems.append(f"{rel}:{node.lineno}: assigns {t.value.id}.{t.attr}")
    return problems


def test_the_checker_sees_what_it_forbids(tmp_path, monkeypatch):
    """The private-API check is not vacuous: fed the patterns it must refuse, it refuses them."""
    fake = tmp_path / "sen12stac"
    fake.mkdir()
    (fake / "bad.py").write_text(
        "import ctypes\n"
        "from rasterio._err import CPLE_BaseError\n"
        "from stac_geoparquet.arrow import _batch\n"
        "_batch.deepcopy = None\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    text = "\n".join(_private_use())
    for expected in ("imports ctypes", "private module rasterio._err", "private name stac_geoparquet.arrow._batch", "assigns _batch.deepcopy"):
        assert expected in text
