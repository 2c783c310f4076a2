"""The sidecar ``<scene>/scene.json`` as a pydantic model (the format: docs/sources.md).

Unknown keys are refused (to catch typos), every value is checked, and ``"unknown"``,
``null`` and a missing key all mean *not known*. A bad sidecar raises one
:class:`ConfigError` naming the file, the key and the fix: each check raises a
:class:`_Problem` carrying its own wording and fix, and pydantic's own errors (wrong type,
out of range, unknown or missing key) are worded per key by :func:`_config_error`.
:func:`read_sidecar` turns a valid sidecar into a :class:`SceneSpec`.
"""
from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, Strict, ValidationError
from pydantic import field_validator, model_validator

from ...errors import ConfigError
from ...models import Acquisition, Sensor, format_datetime
from ...recipe.preprocess import S1_BANDS, S2_BANDS
from ...recipe.recipes import V2, WORLDCOVER_CLASSES
from ...recipe.seasons import SEASONS
from .spec import BandRef, LabelSpec, SceneSpec, SensorSpec

#: the package's logger: warnings keep the name they had before the package was split
log = logging.getLogger("sen12stac.sources.local")

SIDECAR = "scene.json"

_UNKNOWN_TEXT = ("", "unknown", "UNKNOWN", "Unknown")  # and null, and a missing key
_MONTH_SEASON = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
                 6: "summer", 7: "summer", 8: "summer", 9: "fall", 10: "fall", 11: "fall"}
_WHEN_FIX = 'write e.g. "2017-06-13T10:10:31Z", "2017-06-13", or "unknown"'


class _Problem(ValueError):
    """A sidecar problem found by a validator; the message reads ``<file>: key '<key>' <problem>``.
    ``at`` extends the key when a model validator (whose place is the model itself) finds it.
    pydantic reports it as a ``value_error`` carrying this exception."""

    def __init__(self, problem: str, fix: str, at: str = "") -> None:
        super().__init__(problem)
        self.problem, self.fix, self.at = problem, fix, at



def _is_unknown(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v in _UNKNOWN_TEXT)


# --------------------------------------------------------------------------- value types


def _when(v: Any) -> datetime | date | None:
    """ISO 8601: a date stays a date (a whole day), a time without zone is UTC."""
    if _is_unknown(v):
        return None
    if not isinstance(v, str):
        raise _Problem(f"is {v!r}, not an ISO 8601 string", _WHEN_FIX)
    text = v.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _Problem(f"is {v!r}, not an ISO 8601 date or datetime", _WHEN_FIX) from None
    if dt.tzinfo is None:  # naive times are taken as UTC (Sentinel products are stamped in UTC)
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _lower(v: Any) -> Any:
    """Free text in lower case (a number is taken as text); None when unknown."""
    if _is_unknown(v):
        return None
    if isinstance(v, (str, int, float)):
        return str(v).strip().lower()
    return v  # a list or object: the type check reports it


def _keyword(v: Any) -> Any:
    """A keyword: case and surrounding spaces do not matter; None when unknown."""
    if _is_unknown(v):
        return None
    return v.strip().lower() if isinstance(v, str) else v


def _text(v: Any) -> Any:
    """Free text as written (a number is taken as text); None when unknown."""
    if _is_unknown(v):
        return None
    return str(v) if isinstance(v, (str, int, float)) else v


def _as_list(v: Any) -> Any:
    """One product id may be written without the list."""
    return [v] if isinstance(v, str) else v


def _season(v: Any) -> str | None:
    if v is None:
        return None  # taken from the month of the acquisition
    if not isinstance(v, str) or v.strip().lower() not in SEASONS:
        raise _Problem(f"is {v!r}, an unknown season", f"set it to one of {', '.join(SEASONS)}")
    return v.strip().lower()


def _file_name(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _Problem(f"is {v!r}, not a file name", "name a GeoTIFF relative to the scene folder")
    return v


def _band_target(v: Any) -> tuple[str, int]:
    """``"file.tif"`` or ``"file.tif#<1-based band>"``."""
    if not isinstance(v, str):
        raise _Problem(f"is {v!r}, not a string", 'write "file.tif" or "file.tif#<band number>"')
    name, _, idx = v.partition("#")
    if idx and not (idx.isdecimal() and int(idx) >= 1):
        raise _Problem(f"has band {idx!r}", "band numbers after '#' are 1-based integers")
    return _file_name(name), int(idx) if idx else 1


def _known(v: Any) -> Any:
    """``"unknown"`` (and its spellings) is None, like null and a missing key."""
    return None if _is_unknown(v) else v


Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Positive = Annotated[int, Strict(), Field(ge=1)]
Percent = Annotated[float, Strict(), Field(ge=0.0, le=100.0, allow_inf_nan=False)]
When = Annotated[datetime | date | None, PlainValidator(_when)]

#: how pydantic's own errors read, per key: (problem after the key, fix)
_NATIVE: dict[str, tuple[str, str]] = {
    "scale": ("is {input!r}, not a number", "write a number for scale"),
    "offset": ("is {input!r}, not a number", "write a number for offset"),
    "nodata": ("is {input!r}, not a number", "write a number for nodata"),
    "bands": ("is {input!r}", "band numbers are 1-based integers"),
    "units": ("is {input!r}", 'use "db" (default) or "linear" (sigma0 power)'),
    "platform": ("is {input!r}, not a text", 'write e.g. "sentinel-1a", or "unknown"'),
    "orbit_state": ("is {input!r}", 'use "ascending", "descending" or "unknown"'),
    "relative_orbit": ("is {input!r}", 'write the relative orbit number (a positive integer) or "unknown"'),
    "cloud_cover": ("is {input!r}", 'write a percentage 0..100 or "unknown"'),
    "product_ids": ("is not a list of strings", "list the source product ids, or []"),
    "processing_level": ("is {input!r}, not a text", 'write e.g. "L1C", or "unknown"'),
    "index": ("is {input!r}", "use a non-negative integer scene number, or omit it"),
    "kind": ("is {input!r}", 'use "land" or "urban"'),
    "lon": ("is {input!r}, not a WGS84 longitude", "write decimal degrees, lon in -180..180, lat in -90..90"),
    "lat": ("is {input!r}, not a WGS84 latitude", "write decimal degrees, lon in -180..180, lat in -90..90"),
    "source_labels": ("is not a list of strings", "list the source's patch-level class names, or []"),
}


# --------------------------------------------------------------------------- the model


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def keys(cls) -> list[str]:
        """The keys the sidecar may use here (JSON names)."""
        return sorted(f.alias or name for name, f in cls.model_fields.items())


def _norm_band(name: str) -> str:
    n = name.strip().upper()
    m = re.fullmatch(r"B0?(\d)", n)
    return f"B0{m.group(1)}" if m else n


class _SensorSidecar(_Model):
    """One sensor's raster(s) and what is known of its acquisition."""

    SENSOR: ClassVar[Sensor]
    BANDS: ClassVar[tuple[str, ...]]  # what every sidecar must give (recipe v1's bands)
    ALL_BANDS: ClassVar[tuple[str, ...]]  # what a stack without "bands" is searched for by band description

    file: Annotated[str | None, BeforeValidator(_file_name)] = None
    bands: dict[str, Positive] | None = None  # by band name; None: found by band description
    files: dict[str, Annotated[tuple[str, int], PlainValidator(_band_target)]] | None = None
    scale: Number = 1.0
    offset: Number = 0.0
    nodata: Number | None = None  # overrides the file's nodata value
    when: When = Field(None, alias="datetime")
    start_datetime: When = None
    end_datetime: When = None
    platform: Annotated[str | None, Strict(), BeforeValidator(_lower)] = None
    orbit_state: Annotated[Literal["ascending", "descending"] | None, BeforeValidator(_keyword)] = None
    relative_orbit: Annotated[Positive | None, BeforeValidator(_known)] = None
    product_ids: Annotated[list[Annotated[str, Strict()]], BeforeValidator(_as_list)] = []
    processing_level: Annotated[str | None, Strict(), BeforeValidator(_text)] = None
    notes: Any = None

    @model_validator(mode="before")
    @classmethod
    def _files_win(cls, data: Any) -> Any:
        """``files`` names every band: ``file`` and ``bands`` are then not read."""
        if isinstance(data, dict) and "files" in data:
            return {k: v for k, v in data.items() if k not in ("file", "bands")}
        return data

    @field_validator("files", mode="before")
    @classmethod
    def _files_object(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise _Problem("is not an object", f'map band names to files, e.g. {{"{cls.BANDS[0]}": "x.tif#1"}}')
        return v

    @field_validator("bands", mode="before")
    @classmethod
    def _bands_object(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, dict):
            raise _Problem("is not an object", f'map band names to 1-based band numbers, e.g. {{"{cls.BANDS[0]}": 1}}')
        return v

    @field_validator("scale")
    @classmethod
    def _scale_not_zero(cls, v: float) -> float:
        if v == 0:
            raise _Problem("is 0", "scale maps file values to physical units; use a non-zero factor (1 when values are already physical)")
        return v

    @model_validator(mode="after")
    def _complete(self) -> "_SensorSidecar":
        if self.files is None and self.file is None:
            raise _Problem("is missing", 'name the raster: "file" (+ optional "bands") or "files" per band', at="file")
        refs = self.band_refs(Path())
        missing = [b for b in self.BANDS if b not in refs]
        if missing:
            raise _Problem("is missing", f"give the band number (or file) of {', '.join(missing)}; "
                           f"{self.SENSOR.upper()} needs {', '.join(self.BANDS)}", at=f"bands.{missing[0]}")
        dt, start, end = self.times()
        if start and end and start > end:
            raise _Problem(f"({start}) is after end_datetime ({end})", "swap them", at="start_datetime")
        if dt is None and not (start and end):
            # STAC needs a time or a range for every item: refuse here, before any pixel is processed
            raise _Problem("is missing and so is a start_datetime/end_datetime range",
                           'give "datetime" (e.g. "2017-06-13T10:10:31Z" or a date "2017-06-13"), or "start_datetime" '
                           'and "end_datetime" (at least the season window)', at="datetime")
        return self

    # -- reading the model
    def band_refs(self, folder: Path) -> dict[str, BandRef]:
        """Band name -> file and band number; relative file names resolved against ``folder``."""

        def resolve(p: str) -> Path:
            path = Path(p)
            return path if path.is_absolute() else folder / path

        if self.files is not None:
            return {_norm_band(name): BandRef(resolve(p), index) for name, (p, index) in self.files.items()}
        assert self.file is not None
        if self.bands is None:
            return {name: BandRef(resolve(self.file), None) for name in self.ALL_BANDS}  # found by band description
        return {_norm_band(name): BandRef(resolve(self.file), index) for name, index in self.bands.items()}

    def times(self) -> tuple[str | None, str | None, str | None]:
        """(datetime, start_datetime, end_datetime) as STAC strings; a date alone spans its day."""
        when, start, end = self.when, self.start_datetime, self.end_datetime
        day = when if isinstance(when, date) and not isinstance(when, datetime) else None
        return (
            format_datetime(when) if isinstance(when, datetime) else None,
            _day_start(start) if start else (_day_start(day) if day else None),
            _day_end(end) if end else (_day_end(day) if day else None),
        )

    def units_of(self) -> Literal["db", "linear"]:
        return "db"

    def cloud_cover_of(self) -> float | None:
        return None

    def to_spec(self, folder: Path) -> SensorSpec:
        dt, start, end = self.times()
        refs = self.band_refs(folder)
        acq = Acquisition(
            sensor=self.SENSOR,
            datetime=dt,  # type: ignore[arg-type]  # None when the sidecar does not know the time
            platform=self.platform,  # type: ignore[arg-type]  # None when unknown
            constellation="sentinel-1" if self.SENSOR == "s1" else "sentinel-2",
            instrument="c-sar" if self.SENSOR == "s1" else "msi",
            orbit_state=self.orbit_state,
            relative_orbit=self.relative_orbit,
            cloud_cover=self.cloud_cover_of(),
            product_ids=tuple(self.product_ids),
            start_datetime=start,
            end_datetime=end,
        )
        return SensorSpec(self.SENSOR, tuple((b, refs[b]) for b in self.BANDS), self.scale, self.offset,
                          self.nodata, self.units_of(), acq, self.processing_level, refs)


def _day_start(d: date | datetime) -> str:
    return format_datetime(d) if isinstance(d, datetime) else f"{d.isoformat()}T00:00:00Z"


def _day_end(d: date | datetime) -> str:
    return format_datetime(d) if isinstance(d, datetime) else f"{d.isoformat()}T23:59:59Z"


class S1Sidecar(_SensorSidecar):
    SENSOR: ClassVar[Sensor] = "s1"
    BANDS: ClassVar[tuple[str, ...]] = tuple(S1_BANDS)
    ALL_BANDS: ClassVar[tuple[str, ...]] = V2.s1_bands

    units: Annotated[Literal["db", "linear"], BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)] = "db"

    def units_of(self) -> Literal["db", "linear"]:
        return self.units


class S2Sidecar(_SensorSidecar):
    SENSOR: ClassVar[Sensor] = "s2"
    BANDS: ClassVar[tuple[str, ...]] = tuple(S2_BANDS)
    ALL_BANDS: ClassVar[tuple[str, ...]] = (*V2.s2_bands, "SCL")

    cloud_cover: Annotated[Percent | None, BeforeValidator(_known)] = None

    def cloud_cover_of(self) -> float | None:
        return self.cloud_cover


def _label_map(v: Any) -> dict[int, int] | None:
    """``{"<source code>": <WorldCover code or 0>}``: how a label raster's codes become WorldCover's."""
    if v is None:
        return None
    fix = 'map each source code to an ESA WorldCover code, e.g. {"211": 40, "311": 10}; 0 marks no-data'
    if not isinstance(v, dict) or not v:
        raise _Problem("is not a non-empty object", fix)
    out: dict[int, int] = {}
    for k, code in v.items():
        if not (isinstance(k, str) and k.strip().lstrip("-").isdecimal()):
            raise _Problem(f"has key {k!r}, not an integer code", fix, at=str(k))
        if isinstance(code, bool) or not isinstance(code, int) or (code != 0 and code not in WORLDCOVER_CLASSES):
            raise _Problem(f"maps {k} to {code!r}, not an ESA WorldCover code",
                           f"use one of {', '.join(str(c) for c in WORLDCOVER_CLASSES)}, or 0 for no-data", at=str(k))
        out[int(k)] = code
    return out


class LabelSidecar(_Model):
    """``"label"``: a land-cover raster for recipe v2, on any grid (read nearest onto the scene's).
    Without ``map`` its values must be ESA WorldCover codes; with it, each source code is mapped
    (codes the map does not name are an error when read, so no class is dropped silently)."""

    file: Annotated[tuple[str, int], PlainValidator(_band_target)]
    map: Annotated[dict[int, int] | None, PlainValidator(_label_map)] = None
    nodata: Number | None = None  # overrides the file's nodata value

    def to_spec(self, folder: Path) -> LabelSpec:
        name, index = self.file
        path = Path(name) if Path(name).is_absolute() else folder / name
        return LabelSpec(BandRef(path, index), self.map, self.nodata)


class Sidecar(_Model):
    """``scene.json``: the scene's season and place, and its S1 and S2 rasters (null: none)."""

    s1: S1Sidecar | None
    s2: S2Sidecar | None
    season: Annotated[str | None, PlainValidator(_season)] = None
    index: Annotated[int, Strict(), Field(ge=0)] | None = None
    kind: Literal["land", "urban"] = "land"
    lon: Annotated[float, Strict(), Field(ge=-180.0, le=180.0, allow_inf_nan=False)] | None = None
    lat: Annotated[float, Strict(), Field(ge=-90.0, le=90.0, allow_inf_nan=False)] | None = None
    notes: Any = None  # free text, passed on as a scene property
    source: Any = None  # likewise
    label: LabelSidecar | None = None  # a land-cover raster (recipe v2); null or absent: none
    source_labels: Annotated[list[Annotated[str, Strict()]], BeforeValidator(_as_list)] = []  # patch-level classes, as given

    @model_validator(mode="after")
    def _complete(self) -> "Sidecar":
        if (self.lon is None) != (self.lat is None):
            raise _Problem("is missing", "give both lon and lat (WGS84 degrees) or neither", at="lat" if self.lat is None else "lon")
        if self.season is None and self.first_date() is None:
            raise _Problem("is missing and no acquisition date gives it", f"set \"season\" to one of {', '.join(SEASONS)}", at="season")
        return self

    def first_date(self) -> str | None:
        """The first known time of S2, else of S1 (what names the season when none is given)."""
        for sensor in (self.s2, self.s1):
            if sensor is not None:
                dt, start, _ = sensor.times()
                return dt or start
        return None

    def to_spec(self, sidecar: Path) -> SceneSpec:
        folder = sidecar.parent
        s1 = self.s1.to_spec(folder) if self.s1 is not None else None
        s2 = self.s2.to_spec(folder) if self.s2 is not None else None
        season = self.season or _MONTH_SEASON[int(str(self.first_date())[5:7])]
        props: dict[str, Any] = {k: getattr(self, k) for k in ("notes", "source") if k in self.model_fields_set}
        if self.source_labels:
            props["sen12:source_labels"] = list(self.source_labels)
        for name, spec in (("s1", s1), ("s2", s2)):
            if spec is not None and spec.processing_level:
                props[f"{name}:processing_level"] = spec.processing_level
        label = self.label.to_spec(folder) if self.label is not None else None
        return SceneSpec(folder.name, folder, sidecar, season, self.index, self.kind, self.lon, self.lat, s1, s2, props, label)


# --------------------------------------------------------------------------- errors and reading

_TOP = ("s1", "s2", "season", "index", "kind", "lon", "lat", "notes", "source", "label", "source_labels")


def _rank(err: Any) -> tuple[int, int, int, str]:
    """Which problem to report first: unknown top-level keys, then a missing sensor, then by key
    in the order above (within a sensor its unknown keys first)."""
    loc, kind = err["loc"], err["type"]
    if kind == "extra_forbidden" and len(loc) == 1:
        return (0, 0, 0, str(loc[0]))
    head = _TOP.index(loc[0]) if loc and loc[0] in _TOP else len(_TOP)
    if kind == "missing" and len(loc) == 1:
        return (1, head, 0, "")
    return (2, head, 0, str(loc[-1])) if kind == "extra_forbidden" else (2, head, 1, "")


def _config_error(sidecar: Path, exc: ValidationError) -> ConfigError:
    """The first problem of a sidecar as one line: file, key, problem; and the fix."""
    err = min(exc.errors(), key=_rank)
    loc = list(err["loc"])
    cut = next((i for i, p in enumerate(loc) if isinstance(p, int)), len(loc))  # a list item: name the list
    loc = [str(p) for p in loc[:cut]]
    kind, found = err["type"], (err.get("ctx") or {}).get("error")
    sensor = loc[0].upper() if loc and loc[0] in ("s1", "s2") else ""
    if isinstance(found, _Problem):
        loc += [found.at] if found.at else []
        problem, fix = found.problem, found.fix
    elif kind == "model_type" and not loc:
        return ConfigError(f"{sidecar}: the sidecar is not a JSON object", fix='write {"season": ..., "s1": {...}, "s2": {...}}')
    elif kind == "model_type":
        problem, fix = "is not an object", f"give the {sensor} file and metadata, or null when there is none"
    elif kind == "missing" and len(loc) == 1 and sensor:
        problem, fix = "is missing", f'describe the {sensor} raster, or write "{loc[0]}": null when the scene has none'
    elif kind == "extra_forbidden":
        model: type[_Model] = Sidecar if len(loc) == 1 else {"s1": S1Sidecar, "label": LabelSidecar}.get(loc[0], S2Sidecar)
        problem, fix = "is not a known key", f"use only {', '.join(model.keys())}"
    else:
        field = loc[1] if sensor and len(loc) > 1 else (loc[0] if loc else "")
        template, fix = _NATIVE.get(field, ("is {input!r}: " + err["msg"], "see the sidecar format in docs/sources.md"))
        problem = template.format(input=err.get("input"))
    key = ".".join(loc)
    return ConfigError(f"{sidecar}: key {key!r} {problem}", fix=fix)


def _warn_outside_season(sidecar: Path, specs: tuple[SensorSpec | None, ...], season_name: str, *, declared: bool) -> None:
    """A scene acquired outside its season's window is published under that season as given,
    with one warning naming the sidecar on the ``sen12stac`` logger (the CLI prints it as one
    ``warning:`` line; the paper's windows: ``seasons.SEASONS``)."""
    season = SEASONS[season_name]
    lo, hi = season.start.isoformat(), season.end.isoformat()
    outside = []
    for spec in specs:
        if spec is None:
            continue
        acq = spec.acquisition
        first = str(acq.datetime or acq.start_datetime)[:10]
        last = str(acq.datetime or acq.end_datetime)[:10]
        if not (lo <= first and last <= hi):
            outside.append(f"{spec.sensor.upper()} acquired {first if first == last else f'{first}..{last}'}")
    if outside:
        how = "declared" if declared else "taken from the month"
        log.warning("%s: %s, outside the %s window %s..%s (season %s); the scene is published in %s as given",
                    sidecar, " and ".join(outside), season.name, lo, hi, how, season.set_name)


def read_sidecar(sidecar: Path) -> SceneSpec:
    """Parse and validate one ``scene.json``; raise :class:`ConfigError` naming the file and key."""
    try:
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{sidecar}: cannot read the sidecar ({e})", fix="make it a readable UTF-8 JSON file") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{sidecar}: invalid JSON at line {e.lineno} column {e.colno} ({e.msg})", fix="fix the JSON syntax") from e
    try:
        model = Sidecar.model_validate(doc)
    except ValidationError as exc:
        raise _config_error(sidecar, exc) from None
    spec = model.to_spec(sidecar)
    _warn_outside_season(sidecar, (spec.s1, spec.s2), spec.season, declared=model.season is not None)
    return spec
