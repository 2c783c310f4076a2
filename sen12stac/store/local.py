"""A local folder as an object store (file:// URLs or plain paths)."""
from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator, Literal

from ..errors import ObjectConflictError, StoreError
from .base import NotFound, ObjectInfo, ObjectStore

# The time of the last durable checkpoint of a deferred-sync writer (its mtime): objects
# modified after it may be torn by an OS crash, so a rerun may replace them.
SYNC_MARKER = ".sen12stac-synced"
# Where a build into a folder writes until it commits (StagedStore): inside the folder, so
# that the commit is a few renames on one filesystem; never listed as objects of the folder.
STAGING_DIR = ".sen12stac-staging"


def _etag(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - an ETag, not security
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LocalStore(ObjectStore):
    """A folder. ``durability="object"`` (the default) fsyncs every object before it appears;
    ``"deferred"`` (:meth:`deferred`, what a build uses) writes without fsync and makes
    everything durable at once in :meth:`sync`, which a build calls when its catalog is
    complete (one ``sync(2)`` instead of one ``fsync`` per object: bench/results/catalog.md),
    and in a background thread while it runs (:mod:`.checkpoint`: ``sync(2)`` flushes the
    whole machine's dirty data, so the build never waits on one mid-run). What an OS crash
    can tear is what was written after the last sync; the folder's ``.sen12stac-synced``
    marker records that instant, and ``put_or_verify`` replaces an object written after it
    that differs (the rerun a crashed build needs anyway repairs it) while still refusing
    different content under an older, durable key.
    """

    def __init__(self, root: str | os.PathLike[str], *, durability: Literal["object", "deferred"] = "object") -> None:
        root_str = str(root)
        if root_str.startswith("file://"):
            root_str = root_str[len("file://") :]
        self.root = Path(root_str).resolve()
        self._root_str = str(self.root)
        self.url = self.root.as_uri()
        self.durability = durability

    @property
    def put_concurrency(self) -> int:  # type: ignore[override]
        # without an fsync a put is an open and a write: more threads only contend for the GIL
        # and the folder's lock (bench/results/catalog.md); an fsync waits, so threads overlap them
        return 1 if self.durability == "deferred" else 4

    def __reduce__(self):  # picklable for Dask workers
        return (_local_store, (str(self.root), self.durability))

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r}, durability={self.durability!r})"

    # -- deferred durability
    def deferred(self) -> "LocalStore":
        store = LocalStore(self.root, durability="deferred")
        marker = self.root / SYNC_MARKER
        if not marker.exists():
            # everything already here was written durably (per object, or synced): mark it so
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError as exc:
                raise StoreError(f"cannot write under {self.root}: {exc.strerror}", fix="check the output folder is writable") from exc
        return store

    def staged(self) -> "StagedStore":
        """Begin a build into this folder: new objects wait in a staging area inside it until
        the build commits (:class:`StagedStore`)."""
        return StagedStore.begin(self.root)

    def sync(self) -> None:
        if self.durability != "deferred":
            return
        t0 = time.time() - 0.05  # a margin for the kernel's coarse file timestamps
        os.sync()  # one flush of everything written so far (sync(2): data and metadata)
        marker = self.root / SYNC_MARKER
        try:
            marker.touch()
            os.utime(marker, (t0, t0))  # objects changed after t0 may not be on disk yet
        except OSError as exc:
            raise StoreError(f"cannot write {marker}: {exc.strerror}", fix="check the output folder is writable") from exc

    def _synced_at(self) -> float:
        try:
            return (self.root / SYNC_MARKER).stat().st_mtime
        except FileNotFoundError:
            return float("inf")  # never synced by a deferred writer: everything is durable

    def put_or_verify(self, key: str, data: bytes, content_type: str | None = None) -> Literal["written", "same"]:
        if self.durability != "deferred":
            return super().put_or_verify(key, data, content_type)
        if self.put_if_absent(key, data, content_type):
            return "written"
        path = self._path(key)
        existing = path.read_bytes()
        if existing == data:
            return "same"
        if path.stat().st_mtime >= self._synced_at():
            # written after the last durable checkpoint: possibly torn by a crash; replace it
            tmp = self._write_tmp(path, data)
            os.replace(tmp, path)
            return "written"
        return super().put_or_verify(key, data, content_type)  # raises the conflict

    def _path(self, key: str) -> Path:
        return Path(self._fspath(key))

    def _write_tmp(self, path: Path, data: bytes) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        except OSError as exc:
            raise StoreError(f"cannot write under {path.parent}: {exc.strerror}", fix="check the output folder exists and is writable") from exc
        try:
            os.chmod(tmp, 0o644)  # published files are world-readable like any served object
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if self.durability != "deferred":
                    f.flush()
                    os.fsync(f.fileno())
        except OSError as exc:  # disk full, quota, I/O error: no temp file left behind
            Path(tmp).unlink(missing_ok=True)
            raise StoreError(f"cannot write {path}: {exc.strerror}", fix="free space or fix the output folder, then run the same command again (finished objects are skipped)") from exc
        return Path(tmp)

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        if self.durability == "deferred":
            return self._create(self._fspath(key), data)
        path = self._path(key)
        if path.exists():
            return False
        tmp = self._write_tmp(path, data)
        try:
            os.link(tmp, path)  # atomic, and fails if the name exists: a reader never sees a torn file
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _fspath(self, key: str) -> str:
        """The file of ``key``, as a str (the deferred writer's hot path builds no Path objects)."""
        key = key.lstrip("/")
        norm = posixpath.normpath(key) if key else "."
        # lexical (no lstat per path component: that was 5 % of a build's time)
        if norm == ".." or norm.startswith("../"):
            raise StoreError(f"key {key!r} escapes the store root {self.root}", fix="use a relative key without '..'")
        return self._root_str if norm == "." else os.path.join(self._root_str, norm)

    def _create(self, path: str, data: bytes) -> bool:
        """Deferred durability: create the file in place (O_EXCL: never over an existing one).
        One open instead of mkstemp + link + unlink; a run killed mid-write leaves a short
        file modified after the sync marker, which the rerun replaces."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            try:
                fd = os.open(path, flags, 0o644)
            except FileNotFoundError:  # the folder is new: one mkdir per folder, not per object
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, flags, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StoreError(f"cannot write under {os.path.dirname(path)}: {exc.strerror}", fix="check the output folder exists and is writable") from exc
        try:
            try:
                view = memoryview(data)
                while view:  # os.write may write less than asked (a signal, a full pipe or disk)
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            Path(path).unlink(missing_ok=True)
            raise StoreError(f"cannot write {path}: {exc.strerror}", fix="free space or fix the output folder, then run the same command again (finished objects are skipped)") from exc
        return True

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{self.join(key)} does not exist", fix="check the key or build/publish it first") from None
        except IsADirectoryError:
            raise NotFound(f"{self.join(key)} is a folder, not an object") from None

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        return ObjectInfo(key=key.lstrip("/"), size=st.st_size, etag=_etag(path))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.root.exists():
            return
        found = []
        for dirpath, dirs, files in os.walk(self.root):
            if dirpath == self._root_str and STAGING_DIR in dirs:
                dirs.remove(STAGING_DIR)  # a build's uncommitted objects are not the folder's
            for name in files:
                if name.startswith(".tmp-") or name == SYNC_MARKER:
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append((key, full.stat().st_size))
        for key, size in sorted(found):
            yield ObjectInfo(key=key, size=size)

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        path = self._path(key)
        current = self.head(key)
        current_etag = current.etag if current else None
        if current_etag != expected_etag:
            raise ObjectConflictError(
                f"{self.join(key)} changed underneath us (expected ETag {expected_etag}, found {current_etag})",
                fix="re-run the command; it re-reads the current object",
            )
        tmp = self._write_tmp(path, data)
        try:
            os.replace(tmp, path)
        except OSError as exc:  # pragma: no cover - unusual filesystems
            tmp.unlink(missing_ok=True)
            if exc.errno == errno.EXDEV:
                raise StoreError(f"cannot replace {path}", fix="keep the store on one filesystem") from exc
            raise

    def list_dirs(self, prefix: str = "") -> list[str]:
        """Immediate sub-folders under ``prefix`` (empty ones included)."""
        folder = self._path(prefix) if prefix.strip("/") else self.root
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != STAGING_DIR)

    def discard(self, key: str) -> None:
        """Remove an object this run wrote but did not commit (a failed scene). Never used on
        published objects: the pipeline only discards keys its own ``put`` returned "written" for."""
        self._path(key).unlink(missing_ok=True)

    def gdal_path(self, key: str) -> str:
        return str(self._path(key))


def _local_store(root: str, durability: str = "object") -> LocalStore:
    return LocalStore(root, durability=durability)  # type: ignore[arg-type]


def _lock_folder(root: Path) -> int | None:
    """An exclusive ``flock`` on the folder itself (no lock file): held until closed, and
    released by the kernel when the process ends, however it ends (SIGKILL included)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(f"another build is writing into {root}",
                         fix="wait for it to end (or stop it), then run this command again: two builds never write into one folder at once") from None
    except OSError:  # pragma: no cover - a filesystem without flock: build without the lock
        pass
    return fd


class StagedStore(ObjectStore):
    """A build's view of a folder: the objects the folder holds, plus the ones this build
    wrote so far, which wait in ``<folder>/.sen12stac-staging/`` until :meth:`commit`.

    * ``put_or_verify`` of a key the folder holds with the same bytes writes nothing; with
      other bytes it raises :class:`ObjectConflictError` and the folder stays as it was
      (unless the folder's object was written after its last durable checkpoint by a
      build that crashed: then it may be torn, and the commit replaces it);
    * new objects go into the staging area only, without an fsync each (as
      :meth:`LocalStore.deferred`: :meth:`sync` makes them durable);
    * :meth:`commit` makes the staged objects durable, moves them into the folder -- each
      sub-folder the folder lacks in one rename, ``last`` (the root catalog) after the
      rest --, makes the renames durable and removes the staging area;
    * :meth:`abort` removes the staging area (and the folder, if this build created it):
      the folder is as it was.

    One build at a time: :meth:`begin` takes an exclusive ``flock`` on the folder. A build
    killed before its commit leaves its staging area, which the next build into the folder
    clears before it starts; one killed during its commit leaves part of its objects moved
    in and the root catalog not yet, and the next build finds those identical and commits
    the rest. Pickled (to Dask workers) it is the same view without the lock.
    """

    put_concurrency = 1  # a put is an open and a write (see LocalStore.put_concurrency)

    def __init__(self, root: str | os.PathLike[str], *, created: tuple[Path, ...] = (), lock_fd: int | None = None) -> None:
        self.main = LocalStore(root)
        self.staging = self.main.root / STAGING_DIR
        self.stage = LocalStore(self.staging, durability="deferred")
        self.url = self.main.url
        self.root = None  # objects live in two folders: use gdal_path
        self._created = created  # folders begin() created (removed again by abort when empty)
        self._lock_fd = lock_fd

    @classmethod
    def begin(cls, root: str | os.PathLike[str]) -> "StagedStore":
        """Lock the folder (created when missing) and give it a fresh, empty staging area."""
        path = Path(root).resolve()
        created = []
        for p in (path, *path.parents):
            if p.exists():
                break
            created.append(p)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror}", fix="check the output folder is writable") from exc
        fd = _lock_folder(path)
        staging = path / STAGING_DIR
        try:
            if staging.exists():  # an earlier build's, killed before its commit: start anew
                shutil.rmtree(staging)
            staging.mkdir()
        except OSError as exc:
            if fd is not None:
                os.close(fd)
            raise StoreError(f"cannot prepare {staging}: {exc.strerror}", fix="check the output folder is writable") from exc
        return cls(path, created=tuple(created), lock_fd=fd)

    def __reduce__(self):  # to Dask workers: the view, not the lock
        return (StagedStore, (str(self.main.root),))

    def __repr__(self) -> str:
        return f"StagedStore({str(self.main.root)!r})"

    # -- reads: the staged object first (it replaces a torn one), else the folder's
    def get(self, key: str) -> bytes:
        try:
            return self.stage.get(key)
        except NotFound:
            return self.main.get(key)

    def head(self, key: str) -> ObjectInfo | None:
        return self.stage.head(key) or self.main.head(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found = {i.key: i for i in self.main.list(prefix)}
        found.update((i.key, i) for i in self.stage.list(prefix))
        for key in sorted(found):
            yield found[key]

    def gdal_path(self, key: str) -> str:
        staged = self.stage.gdal_path(key)
        return staged if os.path.exists(staged) else self.main.gdal_path(key)

    # -- writes: into the staging area only
    def _in_folder(self, key: str) -> bytes | None:
        try:
            with open(self.main._fspath(key), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise ObjectConflictError(f"{self.main.join(key)} is a folder, and this build writes an object there",
                                      fix="build into a new, empty folder; a finished build is never overwritten") from None

    def _torn(self, key: str) -> bool:
        """Written after the folder's last durable checkpoint (a crashed build's): maybe torn."""
        return self.main._path(key).stat().st_mtime >= self.main._synced_at()

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        if self._in_folder(key) is not None:
            return False
        return self.stage.put_if_absent(key, data, content_type)

    def put_or_verify(self, key: str, data: bytes, content_type: str | None = None) -> Literal["written", "same"]:
        existing = self._in_folder(key)
        if existing is not None:
            if existing == data:
                return "same"
            if not self._torn(key):
                raise ObjectConflictError(
                    f"{self.main.join(key)} already exists with different content ({len(existing)} bytes there, {len(data)} bytes new)",
                    fix="build into a new, empty folder (or delete the old build first); nothing was changed in the folder",
                )
        return self.stage.put_or_verify(key, data, content_type)

    def replace(self, key: str, data: bytes, expected_etag: str | None, content_type: str | None = None) -> None:
        raise StoreError(f"{self.main.join(key)}: a build writes each object once", fix="write mutable files to the folder's LocalStore after the commit")

    def discard(self, key: str) -> None:
        self.stage.discard(key)  # only ever a staged object: the folder's are never touched

    def sync(self) -> None:
        self.stage.sync()

    # -- the end of the build
    def _moves(self, src: Path, dst: Path, top: bool) -> list[tuple[Path, Path, bool]]:
        """What the commit renames (src, dst, replaces a torn object); raises on a clash
        before anything is moved."""
        out: list[tuple[Path, Path, bool]] = []
        for entry in sorted(os.scandir(src), key=lambda e: e.name):
            if entry.name.startswith(".tmp-") or (top and entry.name == SYNC_MARKER):
                continue
            target = dst / entry.name
            key = Path(entry.path).relative_to(self.staging).as_posix()
            if entry.is_dir(follow_symlinks=False):
                if not target.exists():
                    out.append((Path(entry.path), target, False))  # a whole new sub-folder: one rename
                elif target.is_dir():
                    out += self._moves(Path(entry.path), target, False)
                else:
                    raise ObjectConflictError(f"{self.main.join(key)} is a file, and this build writes a folder there",
                                              fix="build into a new, empty folder; nothing was changed in the folder")
            elif not target.exists():
                out.append((Path(entry.path), target, False))
            elif target.is_file() and self._torn(key):
                out.append((Path(entry.path), target, True))
            else:
                raise ObjectConflictError(f"{self.main.join(key)} appeared in the folder while this build ran",
                                          fix="make sure nothing else writes into the folder, then run the same command again")
        return out

    def commit(self, last: tuple[str, ...] = (), *, synced: bool = False) -> int:
        """Move every staged object into the folder, the keys in ``last`` after the rest;
        return the number of renames. ``synced``: the caller just called :meth:`sync` and wrote
        nothing since. Safe to kill at any point (see the class docstring)."""
        moves = self._moves(self.staging, self.main.root, True)
        late = {self.staging / k for k in last}
        moves.sort(key=lambda m: m[0] in late)  # stable: the rest in order, then ``last``
        t0 = time.time() - 0.05  # a margin for the kernel's coarse file timestamps
        if not synced:
            os.sync()  # every staged byte on disk before a reader can see it in the folder
        for src, dst, _replaces in moves:
            try:
                os.replace(src, dst) if _replaces else os.rename(src, dst)
            except OSError as exc:
                raise StoreError(f"cannot move {src} to {dst}: {exc.strerror}",
                                 fix="fix the folder's permissions or free space, then run the same command again: what moved is kept") from exc
        os.sync()  # the renames durable
        marker = self.main.root / SYNC_MARKER
        try:
            marker.touch()
            os.utime(marker, (t0, t0))
        except OSError as exc:
            raise StoreError(f"cannot write {marker}: {exc.strerror}", fix="check the output folder is writable") from exc
        shutil.rmtree(self.staging, ignore_errors=True)
        self._unlock()
        return len(moves)

    def abort(self) -> None:
        """Remove the staging area, and the folders :meth:`begin` created if they are empty."""
        shutil.rmtree(self.staging, ignore_errors=True)
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:
                break
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None
