"""A local copy of a selection: resumable and checksum-verified.

``format="cog"`` keeps the release's layout and files (``ROIs1158_spring/s1_7/ROIs1158_spring_s1_7_p42.tif``);
``format="png"`` writes the original SEN1-2 tarball's layout and 8-bit PNGs
(``ROIs1158_spring/s1_7/ROIs1158_spring_s1_7_p42.png``: S1 grey, S2 RGB), so code written for
the original dataset runs unchanged. A v2 release (2-band float32 S1, 12-band uint16 S2, a
land-cover label) has no such layout: ``png`` is refused for it before anything is written, and
``cog`` copies its three COGs per pair.

Each file costs one GET; nothing is listed or HEADed. A file already in the target folder is
checked locally (COG: its sha256 against ``file:checksum``; PNG: it exists -- PNGs are
written to a temporary name and renamed, so a present PNG is complete) and not fetched
again, so an interrupted download resumes where it stopped.

Files follow the umask (as any new file: 0644 under the usual 022). A download that fails
before copying anything (a wrong location, an empty or unreadable selection) leaves no folder
behind; a folder that existed before is never removed, and finished files are always kept.
"""
from __future__ import annotations

import io
import json
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from ..errors import ConfigError
from ..runtime.pool import bounded
from .fetch import GIVE_UP_AFTER, AssetError, OnError, Problem, Reader, Report, checksum_ok, decode_tiff, handle, nothing_readable, write_atomic
from .records import Pair
from .select import Selection

Format = Literal["cog", "png"]


@dataclass
class DownloadReport:
    pairs: int = 0
    written: int = 0
    already_there: int = 0
    bytes_written: int = 0
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.pairs} pairs: {self.written} files written ({self.bytes_written / 1e6:.1f} MB), {self.already_there} already there and verified"
        if self.problems:
            text += f"; {len({p.item_id for p in self.problems})} pairs skipped ({len(self.problems)} problem(s))"
        return text


def release_key(pair: Pair, name: str, key: str) -> str:
    """An asset's key in the release's own layout. A relative href is one already; an absolute
    one (from a STAC API) keeps its part from the item's collection folder on
    (``s3://bucket/sen12/v1.0.0/ROIs1158_spring/s1_7/x.tif`` -> ``ROIs1158_spring/s1_7/x.tif``)."""
    href = pair.asset(name).href
    if "://" not in href and not href.startswith("/"):
        return key
    path = "/" + key.lstrip("/")
    i = path.rfind(f"/{pair.collection}/") if pair.collection else -1
    return path[i + 1:] if i >= 0 else key.lstrip("/")


def target_key(key: str, fmt: Format) -> str:
    """The local path of an asset key: the same key, ``.png`` instead of ``.tif`` for PNGs."""
    if fmt == "png":
        root, _ext = posixpath.splitext(key)
        return root + ".png"
    return key


def png_bytes(arr) -> bytes:
    """(1,H,W) -> 8-bit grey PNG; (3,H,W) -> 8-bit RGB PNG (the original SEN1-2 files)."""
    from PIL import Image

    img = Image.fromarray(arr[0], mode="L") if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0).copy(), mode="RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, data, what="the file", fix="free space or choose another --to folder, then run the same command again (finished files are kept)")


def check_target(to: str | os.PathLike[str], format: str) -> Path:
    """The target folder (not created yet: :func:`download` creates it when the work starts),
    checked to be creatable and writable, and a known format; call it before any work."""
    if format not in ("cog", "png"):
        raise ConfigError(f"--format {format} is not a download format", fix="use cog (the release's files) or png (the original SEN1-2 8-bit PNGs)")
    root = Path(to)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--to {root} is a file", fix="give a folder (it is created when missing)")
    existing = root.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"cannot create {root}: {existing} is a file", fix="choose a folder whose parents are folders")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{existing} is not writable", fix="choose a writable folder")
    return root


def check_format(selection: Selection, format: str) -> None:
    """``format`` fits the selection's recipe: ``png`` is the original SEN1-2 layout (8-bit S1 grey
    and S2 RGB), which only a v1 release has. Call it before any work."""
    if format != "png":
        return
    other = sorted({p.recipe for p in selection.pairs} - {"v1"})
    if other:
        raise ConfigError(f"--format png writes the original SEN1-2 layout of 8-bit grey S1 and RGB S2 PNGs, but this is a {other[0]} release "
                          "(2-band float32 S1 in dB, 12-band uint16 S2 reflectance x 10000, a land-cover label): a PNG would lose bands and precision",
                          fix="use --format cog (the release's own COGs, readable by GDAL, rasterio and tifffile)")


def _make_target(root: Path) -> list[Path]:
    """Create ``root``; the folders this created, deepest first."""
    created = [p for p in (root.absolute(), *root.absolute().parents) if not p.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {root}: {exc.strerror}", fix="choose a writable folder") from None
    return created


def _remove_created(created: list[Path]) -> None:
    """Undo :func:`_make_target` after a failure: remove the folders it created, and the empty
    folders below them, never a file (finished files stay for a resumed run)."""
    if not created:
        return
    for dirpath, _dirs, _files in sorted(os.walk(created[0]), key=lambda w: -len(w[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass  # not empty: something finished is kept
    for folder in created[1:]:
        try:
            folder.rmdir()
        except OSError:
            return


def download(selection: Selection, to: str | os.PathLike[str], *, format: Format = "cog", threads: int = 8, on_error: OnError = "skip",
             progress: Callable[[int, int], None] | None = None, give_up_after: int = GIVE_UP_AFTER) -> DownloadReport:
    """Copy the selection's S1/S2 files (and a v2 release's labels) under ``to``; returns what was done. Raises
    :class:`~sen12stac.stream.fetch.AssetError` on the first problem with ``on_error="stop"``,
    :class:`~sen12stac.stream.fetch.NothingReadable` when the first ``give_up_after`` pairs all
    failed, and :class:`ConfigError` for an empty selection (before creating anything)."""
    root = check_target(to, format)
    check_format(selection, format)
    if not len(selection):
        raise ConfigError(f"no pair of {selection.location.url if selection.location.root else 'the STAC API'} matches the selection: nothing to download",
                          fix="widen the selection (--season, --split, --bbox, --datetime, --filter, --ids)")
    from .shards import choose_layout

    try:
        choose_layout(selection.pairs, "files")  # checked before any work
    except ConfigError:
        raise ConfigError("this release holds its COGs only inside training shards (built with --layout shards): there are no per-file COGs to download",
                          fix="download the shards themselves (the items' s1/s2 hrefs), or stream the pairs with sen12stac.stream (layout='shards')") from None
    reader = Reader(selection.location, where=selection.where)
    report = DownloadReport()
    rep = Report()
    done = 0

    def one(pair: Pair) -> tuple[list[tuple[str, int]], Problem | None]:
        results = []
        for name in pair.asset_names:
            _loc, key = selection.where(pair, name)
            path = root / target_key(release_key(pair, name, key), format)
            asset = pair.asset(name)
            if path.is_file():
                if format == "png" or checksum_ok(path.read_bytes(), asset.checksum):
                    results.append(("there", 0))
                    continue
            try:
                data = reader.read(pair, name)
                if format == "png":
                    try:
                        arr = decode_tiff(data)
                    except Exception as exc:  # noqa: BLE001
                        return results, Problem(pair.id, name, "undecodable", f"{type(exc).__name__}: {str(exc)[:200]}")
                    data = png_bytes(arr)
            except AssetError as exc:
                return results, exc.problem
            _write_atomic(path, data)
            results.append(("written", len(data)))
        return results, None

    created = _make_target(root)

    def count(result: tuple[list[tuple[str, int]], Problem | None]) -> None:
        nonlocal done
        results, problem = result
        done += 1
        for what, size in results:
            if what == "there":
                report.already_there += 1
            else:
                report.written += 1
                report.bytes_written += size
        if problem is not None:
            report.problems.append(problem)
            handle(problem, on_error, rep)  # logs, or raises AssetError for "stop"
            if not (report.pairs or report.written or report.already_there) and len(report.problems) >= give_up_after:
                raise nothing_readable(selection.location, report.problems)
        else:
            report.pairs += 1
        if progress:
            progress(done, len(selection))

    try:
        # a failure stops the copies not yet started (at most 2 x threads are in flight)
        bounded(one, selection.pairs, max(1, threads), count, name="sen12stac-download")
        if report.problems and not (report.pairs or report.written or report.already_there):
            raise nothing_readable(selection.location, report.problems)
        _write_atomic(root / "download.json", (json.dumps({
            "source": selection.location.url, "format": format, "pairs": report.pairs,
            "query": {k: v for k, v in selection.query.__dict__.items() if v is not None},
            "skipped": [str(p) for p in report.problems],
        }, indent=1, default=list) + "\n").encode())
    except BaseException:
        _remove_created(created)
        raise
    return report
