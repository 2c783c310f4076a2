"""What the project declares and what the library's source does with other packages: the
readers and checks behind tests/test_dependencies.py (the tests and their reasons are there).

* declared dependencies: the core and each extra, from pyproject.toml; which installed
  distribution provides a module;
* checks on the library's source (``ast``, nothing run): private imports, overrides of
  another package's ``_``-names, writes to another package's objects, its test data, and
  optional imports outside the extra that installs them;
* an environment without some distributions, for running the CLI as a user without an extra.
"""
from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from functools import lru_cache
from importlib import metadata
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "sen12stac"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def requirements(group: str | None) -> set[str]:
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
                names |= requirements(e)
            continue
        names.add(m.group(1))
        names.update(extras)
    return {n.lower().replace("_", "-") for n in names}


def optional_extras() -> set[str]:
    """Distributions of the user-facing extras (every optional group but dev)."""
    groups = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    return set().union(*(requirements(g) for g in groups if g != "dev"))


def imports_in(folder: Path) -> dict[str, set[str]]:
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
def installed() -> dict[str, list[str]]:
    return packages_distributions()


#: Extras that dev leaves out, each with why (kept visible: the lead decides). Their distributions
#: are not installed where the tests run, so a module of theirs is matched by its name.
EXTRAS_NOT_IN_DEV: dict[str, str] = {
    "torchgeo": "torchvision's PyPI wheels are CUDA builds that do not import beside dev's CPU torch pin (docs/torchgeo.md)",
}


def dists_of(module: str) -> set[str]:
    """The installed distributions providing a top-level module (pystac: pystac and pystac-core)."""
    dists = installed().get(module)
    if not dists and norm(module) in set().union(*(requirements(e) for e in EXTRAS_NOT_IN_DEV)):
        return {norm(module)}
    assert dists, f"{module} is imported but no installed distribution provides it"
    return {re.sub(r"[-_.]+", "-", d).lower() for d in dists}


def optional_extra_names() -> list[str]:
    return [g for g in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"] if g != "dev"]


def private_use(package: Path = PACKAGE) -> list[str]:
    """Private modules or names of other packages imported, ctypes."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "ctypes":
                        problems.append(f"{rel}: imports ctypes")
                    if any(p.startswith("_") for p in a.name.split(".")[1:]):
                        problems.append(f"{rel}: imports private module {a.name}")
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
    return problems


# -- public use only: overrides, writes, test data --------------------------------------------
#
# The three checks read the library's source (ast), never run it. A name is "foreign" when it
# comes from another package: bound by an import of a module outside sen12stac (the standard
# library included), or derived from such a name. Three kinds of foreign names:
#   import  a module, class or function imported from another package;
#   obj     what calling one returned (an instance we made, a result): ours to use and to
#           configure through its public attributes;
#   view    an attribute of anything foreign (``api.extensions`` of an app it built), an item or
#           element of an import or a view, or a parameter of one of our functions that is
#           called with one: state the other package owns.

_MUTATORS = {"append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault", "add", "discard",
             "sort", "reverse", "__setitem__", "__delitem__", "__setattr__"}
#: calls that change process-wide state owned by another package
_GLOBAL_SETTERS = {"urllib.request.install_opener", "socket.setdefaulttimeout", "sys.setrecursionlimit",
                   "asyncio.set_event_loop_policy", "numpy.seterr", "numpy.seterrcall", "http.client.HTTPConnection.set_debuglevel"}
_MONKEYPATCHERS = ("unittest.mock", "mock", "pytest", "_pytest")
#: path segments and module names that are another package's tests and their data
_TEST_SEGMENTS = {"tests", "test", "testing", "testdata", "test_data", "fixtures", "apitestcase", "conftest", "testutils", "test_utils"}
_RESOURCE_CALLS = {"files", "get_data", "resource_filename", "resource_string", "resource_stream", "open_text", "read_text",
                   "open_binary", "read_binary", "find_spec", "distribution", "locate_file", "as_file"}


def dotted_name(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def is_ours(module: str) -> bool:
    return module.split(".")[0] in ("sen12stac",)


class SourceModule:
    """One library file: what each local name stands for (imports) and its foreign names."""

    def __init__(self, path: Path, dotted: str) -> None:
        self.path, self.dotted = path, dotted
        self.tree = ast.parse(path.read_text(), str(path))
        self.imports: dict[str, str] = {}  # local name -> qualified foreign name (module or object)
        self.ours: dict[str, str] = {}  # local name -> qualified name in sen12stac (relative imports resolved)
        package = dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    table = self.ours if is_ours(a.name) else self.imports
                    table[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                for a in node.names:
                    table = self.ours if is_ours(module) else self.imports
                    table[a.asname or a.name] = f"{module}.{a.name}"
        # Kinds are kept per function scope (a parameter or local of one function is not the
        # same name in another); the module's own names are seen from every function.
        self.scope_of: dict[int, int] = {}
        self.enclosing: dict[int, int] = {}
        self.params: dict[str, list[tuple[int, ast.arg]]] = {}

        def visit(node: ast.AST, scope: int) -> None:
            self.scope_of[id(node)] = scope
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = id(node)
                self.enclosing[inner] = scope
                for d in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                    if d is not None:
                        visit(d, scope)
                args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                self.params.setdefault(node.name, []).extend((inner, a) for a in args)
                for child in node.body:
                    visit(child, inner)
                return
            for child in ast.iter_child_nodes(node):
                visit(child, scope)

        visit(self.tree, 0)
        self.kinds: dict[int, dict[str, str]] = {0: {name: "import" for name in self.imports}}
        self._propagate()

    # -- what an expression is ---------------------------------------------------------------
    def _lookup(self, name: str, scope: int) -> str | None:
        while True:
            k = self.kinds.get(scope, {}).get(name)
            if k is not None or scope == 0:
                return k if k is not None else self.kinds[0].get(name)
            scope = self.enclosing.get(scope, 0)

    def kind_of(self, node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Name):
            return self._lookup(node.id, self.scope_of.get(id(node), 0))
        if isinstance(node, ast.Attribute):
            return "view" if self.kind_of(node.value) else None
        if isinstance(node, ast.Subscript):  # a part of a result we made (an array's slice, a dict's item) is ours
            k = self.kind_of(node.value)
            return "obj" if k == "obj" else "view" if k else None
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id == "getattr" and node.args:
                return "view" if self.kind_of(node.args[0]) else None
            return "obj" if self.kind_of(node.func) else None
        if isinstance(node, (ast.Await, ast.Starred)):
            return self.kind_of(node.value)
        return None

    def qualified(self, node: ast.AST) -> str | None:
        """``urllib.request.install_opener`` for an expression naming an imported object."""
        dotted = dotted_name(node)
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        if head not in self.imports:
            return None
        return self.imports[head] + (f".{rest}" if rest else "")

    _RANK = {"obj": 1, "view": 2, "import": 3}

    def _set(self, scope: int, name: str, kind: str) -> bool:
        table = self.kinds.setdefault(scope, {})
        if self._RANK[kind] > self._RANK.get(table.get(name, ""), 0):
            table[name] = kind
            return True
        return False

    def _bind(self, target: ast.AST, kind: str | None) -> bool:
        if kind is None:
            return False
        changed = False
        for node in ast.walk(target):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                changed |= self._set(self.scope_of.get(id(node), 0), node.id, kind)
        return changed

    def _propagate(self) -> None:
        for _ in range(6):  # to a fixed point (a few passes suffice for a module)
            changed = False
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        changed |= self._bind(t, self.kind_of(node.value))
                elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                    changed |= self._bind(node.target, self.kind_of(node.value))
                elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                    k = self.kind_of(node.iter)
                    changed |= self._bind(node.target, "view" if k in ("import", "view") else k)
                elif isinstance(node, (ast.With, ast.AsyncWith)):
                    for item in node.items:
                        if item.optional_vars is not None:
                            changed |= self._bind(item.optional_vars, self.kind_of(item.context_expr))
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.params:
                    # our function handed a foreign object: its parameter is one
                    params = self.params[node.func.id]
                    for scope, param in params:
                        positional = [a for sc, a in params if sc == scope]
                        for i, arg in enumerate(node.args):
                            k = self.kind_of(arg)
                            if k and i < len(positional) and positional[i] is param:
                                changed |= self._set(scope, param.arg, "view" if k in ("import", "view") else k)
                        for kw in node.keywords:
                            k = self.kind_of(kw.value)
                            if k and kw.arg == param.arg:
                                changed |= self._set(scope, param.arg, "view" if k in ("import", "view") else k)
            if not changed:
                break


@lru_cache(maxsize=4)
def source_modules(package: Path) -> tuple[SourceModule, ...]:
    out = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        dotted = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out.append(SourceModule(path, dotted))
    return tuple(out)


def resolve_object(qualified: str) -> Any:
    """The object a qualified name stands for (``stac_fastapi.pgstac.core.CoreCrudClient``), or None."""
    parts = qualified.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def foreign_bases(module: SourceModule, cls: ast.ClassDef, ours: dict[str, tuple[SourceModule, ast.ClassDef]], seen: set[int]) -> list[str]:
    """Qualified names of the other packages' classes ``cls`` derives from (through our own classes too)."""
    out = []
    for base in cls.bases:
        q = module.qualified(base)
        if q:
            out.append(q)
            continue
        dotted = dotted_name(base)
        if not dotted:
            continue
        target = module.ours.get(dotted.split(".")[0], f"{module.dotted}.{dotted}")
        if target in ours and id(ours[target][1]) not in seen:
            seen.add(id(ours[target][1]))
            out += foreign_bases(*ours[target], ours, seen)
    return out


def overrides(package: Path) -> list[str]:
    """(1) A class of ours that defines a ``_name`` (method or attribute) its foreign base defines."""
    modules = source_modules(package)
    ours: dict[str, tuple[SourceModule, ast.ClassDef]] = {}
    for m in modules:
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ClassDef):
                ours.setdefault(f"{m.dotted}.{node.name}", (m, node))
    problems = []
    for m in modules:
        rel = m.path.relative_to(package.parent)
        for cls in (n for n in ast.walk(m.tree) if isinstance(n, ast.ClassDef)):
            bases = [(q, resolve_object(q)) for q in foreign_bases(m, cls, ours, {id(cls)})]
            for stmt in cls.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names = [stmt.name]
                elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    names = [t.id for t in targets if isinstance(t, ast.Name)]
                else:
                    continue
                for name in names:
                    if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
                        continue
                    for q, base in bases:
                        if base is not None and hasattr(base, name):
                            problems.append(f"{rel}:{stmt.lineno}: {cls.name} overrides {q}.{name}")
    return problems


def writes(package: Path) -> list[str]:
    """(2) A write to another package's modules, classes or objects, or to process-wide state it owns."""
    problems = []
    for m in source_modules(package):
        rel = m.path.relative_to(package.parent)

        def flag(node: ast.AST, what: str) -> None:
            problems.append(f"{rel}:{node.lineno}: {what}")

        for node in ast.walk(m.tree):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Delete):
                targets = node.targets
            for t in (x for target in targets for x in ast.walk(target) if isinstance(x, (ast.Attribute, ast.Subscript))):
                if not isinstance(t.ctx, (ast.Store, ast.Del)):
                    continue
                k = m.kind_of(t.value)
                if isinstance(t, ast.Attribute) and (k in ("import", "view") or (k == "obj" and t.attr.startswith("_"))):
                    flag(node, f"assigns {ast.unparse(t)} (another package's object)")
                elif isinstance(t, ast.Subscript) and k in ("import", "view"):
                    flag(node, f"assigns {ast.unparse(t)} (another package's object)")
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args:
                    k = m.kind_of(node.args[0])
                    name = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else "?"
                    if k in ("import", "view") or (k == "obj" and str(name).startswith("_")):
                        flag(node, f"{func.id}({ast.unparse(node.args[0])}, {name!r}) on another package's object")
                elif isinstance(func, ast.Attribute) and func.attr in _MUTATORS and m.kind_of(func.value) == "view":
                    flag(node, f"mutates {ast.unparse(func.value)} (another package's object) with .{func.attr}()")
                q = m.qualified(func)
                if q in _GLOBAL_SETTERS:
                    flag(node, f"calls {q} (process-wide state of another package)")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    names = [] if node.level else [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
                for name in names:
                    if name in _MONKEYPATCHERS or name.startswith(tuple(f"{p}." for p in _MONKEYPATCHERS)):
                        flag(node, f"imports {name} (patching tools belong in tests)")
    return problems


def reads_test_data(package: Path) -> list[str]:
    """(3) An import of another package's tests, or a path into them."""
    problems = []
    for m in source_modules(package):
        rel = m.path.relative_to(package.parent)
        for q in sorted(set(m.imports.values())):
            if any(seg in _TEST_SEGMENTS or seg.startswith("test_") for seg in q.split(".")[1:]):
                problems.append(f"{rel}: imports {q} (another package's tests)")
        # names bound to a place inside another package: its __file__/__path__, or a resource lookup
        anchored: set[str] = set()

        def anchors(node: ast.AST) -> bool:
            for n in ast.walk(node):
                if isinstance(n, ast.Attribute) and n.attr in ("__file__", "__path__") and m.kind_of(n.value) == "import":
                    return True
                if isinstance(n, ast.Call):
                    fname = n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id if isinstance(n.func, ast.Name) else ""
                    first = n.args[0] if n.args else None
                    if fname in _RESOURCE_CALLS and first is not None and (
                        (isinstance(first, ast.Constant) and isinstance(first.value, str) and not is_ours(first.value))
                        or m.kind_of(first) == "import"
                    ):
                        return True
                if isinstance(n, ast.Name) and n.id in anchored:
                    return True
            return False

        def test_path(node: ast.AST) -> bool:
            for n in ast.walk(node):
                if isinstance(n, ast.Constant) and isinstance(n.value, str):
                    segs = [s for s in re.split(r"[/\\\\]", n.value) if s]
                    if any(s in _TEST_SEGMENTS for s in segs) or n.value in _TEST_SEGMENTS:
                        return True
            return False

        for _ in range(3):
            for node in ast.walk(m.tree):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and anchors(node.value):
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                        anchored.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        for node in ast.walk(m.tree):
            if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For,
                                                                         ast.While, ast.With, ast.Try, ast.AsyncFor, ast.AsyncWith)):
                if anchors(node) and test_path(node):
                    problems.append(f"{rel}:{node.lineno}: reads another package's test data: {ast.unparse(node)[:120]}")
    return problems


# -- each optional import behind the extra that installs it -----------------------------------


@lru_cache(maxsize=None)
def dist_prefixes(dist: str) -> frozenset[str]:
    """Module paths a distribution installs, to two levels (``google.api_core``, ``ee``)."""
    out = set()
    for f in metadata.files(dist) or []:
        parts = f.with_suffix("").parts if f.suffix == ".py" else f.parts
        if parts and not parts[0].endswith((".dist-info", ".egg-info", ".data")) and parts[0] != "..":
            out.add(parts[0])
            if len(parts) > 1:
                out.add(f"{parts[0]}.{parts[1]}")
    return frozenset(out)


def providers_of(module: str) -> set[str]:
    """The installed distributions that provide ``module``: for a namespace package shared by
    several (google.*, stac_fastapi.*), the one that installs its second level."""
    top = module.split(".")[0]
    dists = dists_of(top)
    if len(dists) > 1 and "." in module:
        second = ".".join(module.split(".")[:2])
        narrowed = {d for d in dists if second in dist_prefixes(d)}
        dists = narrowed or dists
    return dists


def gates(m: SourceModule, node_scope: int, by_name: dict[str, SourceModule]) -> set[str]:
    """Extras a module has required before ``node`` runs: ``require("x")`` at the top level of
    the module or of a package above it, or earlier in the same function."""
    def calls(mod: SourceModule, scope: int) -> set[str]:
        found = set()
        for n in ast.walk(mod.tree):
            if (isinstance(n, ast.Call) and mod.scope_of.get(id(n)) == scope and n.args and isinstance(n.args[0], ast.Constant)
                    and (dotted_name(n.func) or "").split(".")[-1] == "require"
                    and (mod.ours.get((dotted_name(n.func) or "").split(".")[0], "").startswith("sen12stac.extras"))):
                found.add(n.args[0].value)
        return found

    extras = calls(m, 0) | (calls(m, node_scope) if node_scope else set())
    parts = m.dotted.split(".")
    for i in range(1, len(parts)):
        parent = by_name.get(".".join(parts[:i]))
        if parent is not None:
            extras |= calls(parent, 0)
    return extras


def optional_imports_outside_their_extra(package: Path) -> list[str]:
    core = requirements(None)
    modules = source_modules(package)
    by_name = {m.dotted: m for m in modules}
    problems = []
    for m in modules:
        rel = m.path.relative_to(package.parent)
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in STDLIB or is_ours(name):
                    continue
                providers = providers_of(name)
                if providers & core:
                    continue
                extras = gates(m, m.scope_of.get(id(node), 0), by_name)
                declared = set().union(*(requirements(e) for e in extras)) if extras else set()
                if not providers & declared:
                    where = f"the {', '.join(sorted(extras))} extra" if extras else "no require(extra)"
                    problems.append(f"{rel}:{node.lineno}: imports {name} ({', '.join(sorted(providers))}) behind {where}")
    return problems


# -- without the extras: the core runs, each optional part says which extra it needs ----------
#
# A real environment without some distributions, made in a second: a folder of symlinks to this
# environment's site-packages minus the files of the hidden distributions (read from their
# RECORDs), used as the only site folder of a `python -S` child (its .pth files processed, so
# the editable install of sen12stac works as usual).

RUN = (
    "import runpy, site, sys\n"
    "farm, target = sys.argv[1], sys.argv[2]\n"
    "site.addsitedir(farm)\n"
    "sys.argv = [target, *sys.argv[3:]]\n"
    "runpy.run_path(target, run_name='__main__') if target.endswith('.py') else runpy.run_module(target, run_name='__main__', alter_sys=True)\n"
)


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=1)
def site_owners() -> tuple[Path, dict[Path, frozenset[str]]]:
    """This environment's site-packages, and for each path in it the distributions whose files are there."""
    site_dir = Path(sysconfig.get_paths()["purelib"])
    owners: dict[Path, set[str]] = {}
    for dist in metadata.distributions():
        name = norm(dist.metadata["Name"])
        for f in dist.files or []:
            path = Path(os.path.normpath(dist.locate_file(f)))
            if not path.is_relative_to(site_dir):
                continue
            while path != site_dir:
                owners.setdefault(path, set()).add(name)
                path = path.parent
    return site_dir, {p: frozenset(o) for p, o in owners.items()}


def env_without(tmp: Path, hidden: set[str]) -> Path:
    site_dir, owners = site_owners()
    hidden = {norm(h) for h in hidden}

    def farm(src: Path, dst: Path) -> None:
        dst.mkdir(parents=True)
        for entry in src.iterdir():
            own = owners.get(entry, frozenset())
            if own and own <= hidden:
                continue
            if own & hidden and entry.is_dir() and not entry.is_symlink():
                farm(entry, dst / entry.name)
            else:
                (dst / entry.name).symlink_to(entry)

    farm(site_dir, tmp)
    return tmp


def core_closure() -> set[str]:
    """The core's distributions and everything they require (markers other than extras ignored: more, not less)."""
    todo, seen = list(requirements(None)), set()
    while todo:
        name = norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for r in reqs:
            if "extra" in r.partition(";")[2]:
                continue
            m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", r)
            todo.append(m.group(1))
            todo += [e.strip() for e in (m.group(2) or "").split(",") if e.strip()]
    return seen


def run_in(farm: Path, target: str, *args: str, cwd: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEN12STAC_", "PYTHON"))}
    env.update(COLUMNS="200", SEN12STAC_WORK_DIR=str(cwd / "work"))
    return subprocess.run([sys.executable, "-S", "-c", RUN, str(farm), target, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=240)
