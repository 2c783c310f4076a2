"""Publishing a finished build as an immutable, resumable release (see the package docstring
for the commit protocol)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import ConfigError, DuplicateReleaseError, ReleaseError, ValidationFailed
from ..store.base import NotFound, ObjectInfo, ObjectStore, sha256_hex
from .landing import update_landing
from .layout import GEOJSON_TYPE, JSON_TYPE, MANIFEST_KEY
from .manifest import PlannedObject, diff_manifests
from .plan import Plan, plan_release
from ..runtime.pool import bounded
from .verify import VerifyReport, verify
from .version import normalize_version

log = logging.getLogger("sen12stac.release")


@dataclass(frozen=True)
class ReleaseReport:
    version: str
    url: str
    objects: int
    bytes: int
    written: int
    skipped: int
    bytes_written: int
    seconds: float
    predecessor: str | None
    latest: str | None
    landing_updated: bool
    verify: VerifyReport
    counts: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        rate = self.written / self.seconds if self.seconds else 0.0
        return (
            f"release v{self.version} -> {self.url}: {self.objects} objects ({self.bytes / 1e6:.1f} MB); "
            f"{self.written} written ({self.bytes_written / 1e6:.1f} MB, {rate:.0f} objects/s), {self.skipped} already there; "
            f"{self.verify}; landing catalog {'updated' if self.landing_updated else 'unchanged'}, latest v{self.latest}"
        )


def remote_matches(dest: ObjectStore, key: str, planned: PlannedObject, info: ObjectInfo | None) -> tuple[bool, str]:
    """Does the object at ``key`` hold the planned bytes? Size, then the ETag when it is an
    MD5, else (or on an MD5 mismatch: SSE-KMS ETags are not MD5s) download and hash."""
    if info is None or info.etag is None:
        info = dest.head(key)
        if info is None:
            return False, "missing"
    if info.size != planned.size:
        return False, f"{info.size} bytes there, {planned.size} planned"
    etag = (info.etag or "").strip('"').lower()
    if etag == planned.md5:
        return True, "same"
    data = dest.get(key)
    if sha256_hex(data) == planned.sha256:
        return True, "same"
    return False, "same size, different sha256"


def duplicate_error(dest: ObjectStore, plan: Plan, what: list[str]) -> DuplicateReleaseError:
    shown = "; ".join(what[:8]) + (f"; ... {len(what) - 8} more" if len(what) > 8 else "")
    return DuplicateReleaseError(
        f"release v{plan.version} already exists at {dest.join(plan.vdir)} with different content ({shown}); nothing was written",
        fix=f"publish this build as a new version (e.g. the next patch or minor version after {plan.version}); published "
        "releases are never overwritten. If v" + plan.version + " was never announced and must go, delete its prefix "
        "with your own tools (sen12stac never deletes)",
    )


def publish(
    src: ObjectStore,
    dest: ObjectStore,
    version: str,
    *,
    notes: str | None = None,
    workers: int = 8,
    progress: Callable[[int, int], None] | None = None,
    exclude: Sequence[str] = (),
    verify_cogs: int | None = 200,
    verify_stac_walk: bool = True,
) -> ReleaseReport:
    """Publish the finished build in ``src`` as the immutable release ``v{version}`` under ``dest``.

    Safe to repeat: the same build resumes (skips what is there and checksum-correct,
    writes what is missing); a different build under an existing version raises
    :class:`DuplicateReleaseError` before anything is written. After the upload the
    release is verified (:func:`verify`: checksums from the listing, ``verify_cogs`` COGs
    validated through the store -- None: all, 0: none -- and the STAC checks, with the
    walk over every item unless ``verify_stac_walk`` is False) and only then listed in the landing catalog. A re-run that writes nothing
    for a release already listed re-checks checksums only.

    ``progress(done, total)`` is called from the calling thread as objects complete.
    ``exclude``: fnmatch patterns of build keys not to publish.
    """
    t0 = time.perf_counter()
    version = normalize_version(version)
    if workers < 1:
        raise ConfigError(f"workers={workers}", fix="use 1 or more concurrent uploads")
    a, b = src.url.rstrip("/") + "/", dest.url.rstrip("/") + "/"
    if a.startswith(b) or b.startswith(a):
        raise ConfigError(
            f"the build {src.url} and the release root {dest.url} overlap",
            fix="publish into a location outside the build folder (and not containing it)",
        )
    dest.check()  # missing bucket / wrong credentials / unreachable endpoint: fail before planning
    plan = plan_release(src, dest, version, notes, workers, exclude)
    vdir = plan.vdir
    entries = plan.entries
    total = len(entries)

    # Early conflict detection: nothing is written unless every existing object matches.
    try:
        published_manifest = dest.get(f"{vdir}/{MANIFEST_KEY}")
    except NotFound:
        published_manifest = None
    if published_manifest is not None and published_manifest != plan.manifest:
        raise duplicate_error(dest, plan, diff_manifests(published_manifest, plan.manifest))
    existing = {info.key[len(vdir) + 1 :]: info for info in dest.list(vdir + "/")}
    mismatches: list[str] = []
    done_keys: set[str] = set()

    def check_existing(k: str) -> tuple[str, bool, str]:
        if k not in entries:
            return k, False, "not part of this build"
        ok, why = remote_matches(dest, f"{vdir}/{k}", entries[k], existing[k])
        return k, ok, why

    def collect(r: tuple[str, bool, str]) -> None:
        k, ok, why = r
        if ok:
            done_keys.add(k)
        else:
            mismatches.append(f"{vdir}/{k}: {why}")

    bounded(check_existing, sorted(existing), workers, collect)
    if mismatches:
        raise duplicate_error(dest, plan, sorted(mismatches))
    if existing:
        log.info("resuming v%s: %d of %d objects already there", version, len(done_keys), total)

    done = len(done_keys)
    written = 0
    bytes_written = 0
    lock = threading.Lock()
    if progress:
        progress(done, total)

    def upload(e: PlannedObject) -> tuple[PlannedObject, bool]:
        if e.key in plan.generated:
            data = plan.generated[e.key]
        else:
            assert e.source is not None
            data = src.get(e.source)
            if len(data) != e.size or sha256_hex(data) != e.sha256:
                raise ReleaseError(
                    f"{src.join(e.source)} changed while v{version} was being published",
                    fix="let the build finish (or stop whatever writes to it), then run the same publish command again",
                )
        key = f"{vdir}/{e.key}"
        ctype = GEOJSON_TYPE if e.kind == "item" else (JSON_TYPE if e.kind in ("catalog", "collection", "root", "manifest") else None)
        if dest.put_if_absent(key, data, ctype):
            return e, True
        # There already (a concurrent publisher, or our own retried PUT that had landed).
        ok, why = remote_matches(dest, key, e, None)
        if not ok:
            raise duplicate_error(dest, plan, [f"{key}: {why}"])
        return e, False

    def finished(r: tuple[PlannedObject, bool]) -> None:
        nonlocal done, written, bytes_written
        e, wrote = r
        with lock:
            done += 1
            if wrote:
                written += 1
                bytes_written += e.size
        if progress:
            progress(done, total)

    for phase in sorted({e.phase for e in entries.values()}):
        todo = [e for k, e in sorted(entries.items()) if e.phase == phase and k not in done_keys]
        if todo:
            bounded(upload, todo, workers, finished)

    if written == 0 and version in plan.listed:
        # A no-op re-run of a release that verified before: every object was just matched
        # against the plan (size and checksum); the STAC walk and COG reads are not repeated.
        report = verify(dest, version, check_cogs=False, check_stac=False, workers=workers)
    else:
        report = verify(
            dest, version, check_cogs=verify_cogs != 0, cog_sample=verify_cogs, stac_walk=verify_stac_walk, workers=workers
        )
    if not report.ok:
        raise ValidationFailed(
            f"release v{version} was uploaded to {dest.join(vdir)} but did not verify; the landing catalog was not updated",
            report.problems,
            fix="see the problems; re-run the same publish command to resume (it rewrites only missing objects)",
        )
    updated, latest = update_landing(dest, plan.landing_entry())
    return ReleaseReport(
        version=version,
        url=dest.join(vdir),
        objects=total,
        bytes=plan.total_bytes,
        written=written,
        skipped=total - written,
        bytes_written=bytes_written,
        seconds=time.perf_counter() - t0,
        predecessor=plan.predecessor,
        latest=latest,
        landing_updated=updated,
        verify=report,
        counts=plan.counts,
    )
