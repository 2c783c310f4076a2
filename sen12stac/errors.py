"""Error classes. Each names the thing that failed and the fix.

Like rasterio's, every class also inherits the matching builtin so callers can catch
``OSError``/``ValueError`` without importing us. The CLI maps classes to exit codes in
one table (:data:`EXIT_CODES`).
"""
from __future__ import annotations


class Sen12StacError(Exception):
    """Base class. ``str(err)`` is a complete, actionable sentence."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message}. Fix: {fix}" if fix else message)


def describe(exc: BaseException) -> str:
    """What went wrong, without the fix: for messages that gather other errors, so that the
    gathered message says "Fix:" once (its own)."""
    return exc.message if isinstance(exc, Sen12StacError) else str(exc)


class ConfigError(Sen12StacError, ValueError):
    """A configuration value is invalid (unknown season, bad threshold, ...)."""


class MissingExtraError(ConfigError, ImportError):
    """An optional part needs an extra that is not installed (``sen12stac.extras.require``)."""


class SourceError(Sen12StacError, OSError):
    """A source could not deliver a scene (corrupt raster, missing band, no overlap, ...)."""


class SceneUnavailable(Sen12StacError, LookupError):
    """No S1 or no S2 acquisition for an ROI and season: the recipe drops the ROI (not a failure)."""


class RasterFormatError(SourceError):
    """A raster is unreadable, corrupt, or lacks a band or CRS we need."""


class AlignmentError(SourceError):
    """An S1/S2 pair cannot be brought onto one grid (no overlap, wrong CRS, ...)."""


class StoreError(Sen12StacError, OSError):
    """Object store failure (unreachable, denied, missing bucket)."""


class ObjectConflictError(StoreError):
    """An object exists with different content; published objects are never overwritten."""


class ReleaseError(Sen12StacError, RuntimeError):
    """A release cannot be published or verified."""


class DuplicateReleaseError(ReleaseError):
    """The version exists with different content."""


class DatabaseError(Sen12StacError, ConnectionError):
    """The STAC API's database is unreachable, refuses us, lacks pgstac, or a load failed (rolled back)."""


class ValidationFailed(Sen12StacError, ValueError):
    """STAC or COG validation found problems; ``problems`` lists them."""

    def __init__(self, message: str, problems: list[str], *, fix: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__(message, fix=fix)


# One table: error class -> process exit code (most specific first).
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (ConfigError, 2),
    (RasterFormatError, 3),
    (AlignmentError, 3),
    (SourceError, 3),
    (DuplicateReleaseError, 5),
    (ObjectConflictError, 5),
    (StoreError, 4),
    (ValidationFailed, 6),
    (ReleaseError, 7),
    (DatabaseError, 8),
    (Sen12StacError, 1),
]


def exit_code_for(exc: BaseException) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1
