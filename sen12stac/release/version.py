"""Release versions: semantic versions (semver.org, without build metadata), their order,
and the folder each release lives in (``v1.0.0/``). Parsing and precedence are the
``semver`` package's (``packaging.version`` is PEP 440: it would take ``1.0`` and turn
``1.0.0-rc.1`` into ``1.0.0rc1``)."""
from __future__ import annotations

from typing import Iterable

from semver import Version

from ..errors import ConfigError


def _parse(version: str) -> Version:
    """The semver of ``version`` (a leading ``v`` is dropped); ConfigError with the fix otherwise."""
    v = str(version).strip()
    if v[:1] in ("v", "V"):
        v = v[1:]
    try:
        parsed = Version.parse(v)
    except ValueError:
        parsed = None
    if parsed is None or parsed.build is not None:  # build metadata has no precedence and needs URL escaping
        raise ConfigError(
            f"release version {version!r} is not a semantic version",
            fix="use MAJOR.MINOR.PATCH such as 1.0.0 or 1.1.0-rc.1 (no build metadata '+...')",
        )
    return parsed


def normalize_version(version: str) -> str:
    """``"1.0.0"`` (a leading ``v`` is dropped); ConfigError with the fix otherwise."""
    return str(_parse(version))


def version_key(version: str) -> Version:
    """Semver precedence as a sort key (pre-releases sort before their release)."""
    return _parse(version)


def is_prerelease(version: str) -> bool:
    return _parse(version).prerelease is not None


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
