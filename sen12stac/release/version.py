"""Release versions: semantic versions (semver.org, without build metadata), their order,
and the folder each release lives in (``v1.0.0/``)."""
from __future__ import annotations

import re
from typing import Iterable

from ..errors import ConfigError

# semver.org's regex, without build metadata ("+..." has no precedence and needs URL escaping)
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$"
)


def normalize_version(version: str) -> str:
    """``"1.0.0"`` (a leading ``v`` is dropped); ConfigError with the fix otherwise."""
    v = str(version).strip()
    if v[:1] in ("v", "V"):
        v = v[1:]
    if not _SEMVER_RE.match(v):
        raise ConfigError(
            f"release version {version!r} is not a semantic version",
            fix="use MAJOR.MINOR.PATCH such as 1.0.0 or 1.1.0-rc.1 (no build metadata '+...')",
        )
    return v


def version_key(version: str) -> tuple:
    """Semver precedence as a sort key (pre-releases sort before their release)."""
    m = _SEMVER_RE.match(normalize_version(version))
    assert m is not None
    major, minor, patch, pre = m.groups()
    if pre is None:
        pre_key: tuple = (1,)
    else:
        pre_key = (0,) + tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), pre_key)


def is_prerelease(version: str) -> bool:
    return "-" in normalize_version(version)


def release_dir(version: str) -> str:
    return "v" + normalize_version(version)


def split_release_url(url: str) -> tuple[str, str]:
    """``"s3://b/p/v1.0.0"`` -> ``("s3://b/p", "1.0.0")`` (for ``sen12stac verify URL``)."""
    root, _, last = url.rstrip("/").rpartition("/")
    if not root or not last.startswith(("v", "V")):
        raise ConfigError(f"{url} does not end in a release folder like v1.0.0", fix="pass ROOT/vX.Y.Z, e.g. s3://bucket/prefix/v1.0.0")
    return root, normalize_version(last)


def latest_of(versions: Iterable[str]) -> str | None:
    """The highest version, ignoring pre-releases when any final release exists."""
    vs = list(versions)
    finals = [v for v in vs if not is_prerelease(v)]
    pool = finals or vs
    return max(pool, key=version_key) if pool else None
