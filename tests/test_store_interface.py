"""The ObjectStore interface declares every ability callers use (check, list_dirs, gdal_env,
root): defaults for a store without the ability, overrides in LocalStore, S3Store and
PrefixedStore. And the release/stac packages import nothing until a name is used."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from sen12stac.errors import StoreError
from sen12stac.release.listing import list_releases
from sen12stac.release.publish import publish
from sen12stac.store import LocalStore
from sen12stac.store.base import NotFound, ObjectInfo, ObjectStore
from sen12stac.store.prefixed import PrefixedStore

pytest_plugins = ["tests.conftest_s3"]


class DictStore(ObjectStore):
    """The smallest store: only the abstract methods, every ability left to the defaults."""

    def __init__(self, objects: dict[str, bytes] | None = None, url: str = "mem://test") -> None:
        self.url = url
        self.objects = dict(objects or {})
        self.calls: list[str] = []

    def put_if_absent(self, key, data, content_type=None):
        self.calls.append(f"put {key}")
        if key in self.objects:
            return False
        self.objects[key] = data
        return True

    def get(self, key):
        self.calls.append(f"get {key}")
        try:
            return self.objects[key]
        except KeyError:
            raise NotFound(key) from None

    def head(self, key):
        self.calls.append(f"head {key}")
        return ObjectInfo(key, len(self.objects[key])) if key in self.objects else None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self.calls.append(f"list {prefix}")
        for k in sorted(self.objects):
            if k.startswith(prefix):
                yield ObjectInfo(k, len(self.objects[k]))

    def replace(self, key, data, expected_etag, content_type=None):
        self.objects[key] = data

    def gdal_path(self, key):
        return f"/vsimem/{key}"


class BrokenStore(DictStore):
    def check(self) -> None:
        raise StoreError("bucket gone", fix="create it")


def test_the_defaults_serve_a_store_without_the_abilities():
    store = DictStore({"v1.0.0/catalog.json": b"{}", "v1.0.0/a/b.tif": b"x", "v2.0.0/x": b"", "top.json": b"{}"})
    assert store.check() is None
    assert store.list_dirs("") == ["v1.0.0", "v2.0.0"]  # top-level files are not folders
    assert store.list_dirs("v1.0.0") == ["a"] == store.list_dirs("v1.0.0/")
    assert store.list_dirs("nowhere") == []
    assert store.gdal_env() == {}
    assert store.root is None


def test_local_store_abilities(tmp_path):
    store = LocalStore(tmp_path / "out")
    assert store.list_dirs("") == []  # the folder does not exist yet
    store.put_if_absent("v1.0.0/catalog.json", b"{}")
    store.put_if_absent("v1.0.0/s/x.json", b"{}")
    (tmp_path / "out" / "v2.0.0").mkdir()  # an empty folder is a folder (a started, empty release)
    assert store.list_dirs("") == ["v1.0.0", "v2.0.0"]
    assert store.list_dirs("v1.0.0") == ["s"]
    assert store.root == (tmp_path / "out").resolve()
    assert store.gdal_env() == {}
    assert store.check() is None


def test_prefixed_store_delegates_every_ability(tmp_path):
    inner = LocalStore(tmp_path)
    inner.put_if_absent("rel/v1.0.0/catalog.json", b"{}")
    inner.put_if_absent("rel/v1.1.0/a/b.json", b"{}")
    view = PrefixedStore(inner, "rel")
    assert view.list_dirs("") == ["v1.0.0", "v1.1.0"]
    assert view.list_dirs("v1.1.0") == ["a"]
    assert view.root == inner.root / "rel"
    assert view.gdal_path("v1.0.0/catalog.json") == str(inner.root / "rel/v1.0.0/catalog.json")
    assert view.gdal_env() == {}
    assert PrefixedStore(DictStore(), "p").root is None
    with pytest.raises(StoreError, match="bucket gone"):
        PrefixedStore(BrokenStore(), "p").check()


def test_publish_checks_the_store_before_reading_the_build(tmp_path):
    src = DictStore({"catalog.json": b"{}"})
    with pytest.raises(StoreError, match="bucket gone"):
        publish(src, BrokenStore(url="mem://releases"), "1.0.0")
    assert src.calls == []  # nothing planned, nothing read


def test_list_releases_finds_release_folders_through_list_dirs(tmp_path):
    dest = DictStore({"v1.0.0/ROIs/x.tif": b"x", "v0.9.0/release.json": b"{}", "notes.txt": b""})
    found = list_releases(dest)
    assert [(r.version, r.status) for r in found] == [("0.9.0", "incomplete"), ("1.0.0", "incomplete")]


@pytest.mark.s3
def test_s3_abilities_through_a_prefixed_view(s3_store, moto):
    store = s3_store("data")
    store.put_if_absent("rel/v1.0.0/catalog.json", b"{}")
    store.put_if_absent("rel/v2.0.0/x/y.json", b"{}")
    view = PrefixedStore(store, "rel")
    view.check()  # the bucket is there: one LIST succeeds
    assert view.list_dirs("") == ["v1.0.0", "v2.0.0"]
    assert view.root is None
    env = view.gdal_env()
    assert env["AWS_S3_ENDPOINT"] == moto.endpoint_url.split("://", 1)[1] and "session" in env
    missing = PrefixedStore(s3_store("data").__class__.from_url("s3://no-such-bucket-x1/p", endpoint_url=moto.endpoint_url,
                                                                  access_key_id="a", secret_access_key="b"), "rel")
    with pytest.raises(StoreError, match="no-such-bucket-x1"):
        missing.check()


def test_the_packages_import_light_and_re_export_lazily():
    code = (
        "import sys, json, pkgutil, importlib\n"
        "import sen12stac.release, sen12stac.stac\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('sen12stac.release.', 'sen12stac.stac.')))\n"
        "from sen12stac.release import list_releases, normalize_version\n"
        "from sen12stac.stac import build_item, CatalogWriter\n"
        "first = [f.__module__ for f in (list_releases, normalize_version, build_item, CatalogWriter)]\n"
        "clash = []\n"
        "for pkg in (sen12stac.release, sen12stac.stac):\n"
        "    subs = {m.name for m in pkgutil.iter_modules(pkg.__path__)}\n"
        "    clash += sorted(subs & set(pkg.__all__))\n"
        "    for s in subs: importlib.import_module(pkg.__name__ + '.' + s)\n"
        "    # once every module is loaded, each re-exported name is still the object, never a module\n"
        "    clash += [n for n in pkg.__all__ if type(getattr(pkg, n)).__name__ == 'module']\n"
        "print(json.dumps([loaded, first, clash]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    loaded, first, clash = json.loads(out.stdout)
    assert loaded == []
    assert first == ["sen12stac.release.listing", "sen12stac.release.version", "sen12stac.stac.item", "sen12stac.stac.writer"]
    assert clash == []
    import sen12stac.release as r

    with pytest.raises(AttributeError):
        r.no_such_name  # noqa: B018


def test_discard_removes_through_every_store_and_the_default_refuses(tmp_path, s3_store):
    """The rollback of a failed scene (pipeline.discard_written) works through the interface."""
    from sen12stac.pipeline import discard_written

    with pytest.raises(StoreError, match="cannot be removed"):
        DictStore({"a": b"x"}).discard("a")
    for store in (LocalStore(tmp_path / "f"), s3_store("d"), PrefixedStore(LocalStore(tmp_path / "p"), "v1.0.0")):
        store.put_if_absent("s/a.tif", b"1")
        store.put_if_absent("s/b.tif", b"2")
        discard_written(store, ["s/a.tif", "s/b.tif", "s/never-written.tif"])
        assert list(store.list("")) == [], store
