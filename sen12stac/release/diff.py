"""What changed between two releases (`sen12stac diff A B`, and the changelog `publish` writes
into a release's notes when an earlier version is listed).

Each side is read through its manifest (``release.json``: which objects it holds) and its
stac-geoparquet files (every item's properties and asset checksums in a few column reads),
plus its ``build-summary.json`` (every scene's QC outcome) and ``qc-overrides.json`` (the
manual decisions); no COG, thumbnail or item JSON is downloaded.

* pairs **added** / **removed**: item ids only in B / only in A, per season and split;
* pairs **changed**: in both, with a different checksum of an asset (``file:checksum``);
* **fields**: items in both whose other columns differ (the property names, ``geometry``);
* **QC flips**: scenes published in one and rejected in the other (by QC or by hand);
* **overrides**: manual decisions added, removed or changed.

Columns are compared as Arrow arrays (no Python object per cell) where their type allows
it; nested lists fall back to Python values for the rows in both (bench/bench_diff.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, ReleaseError
from ..store.base import NotFound, ObjectStore
from .layout import MANIFEST_KEY

SUMMARY_KEY = "build-summary.json"
OVERRIDES_KEY = "qc-overrides.json"
# columns that are not an item's content: links are rewritten per version
SKIP_COLUMNS = ("id", "links")
CHECKSUM = "file:checksum"


@dataclass
class ReleaseView:
    """One side of a diff: what it is called, its parquet keys and a reader of its objects."""

    name: str
    version: str | None
    parquet_keys: list[str]
    read: Callable[[str], bytes]
    keys: frozenset[str] = frozenset()

    def get_json(self, key: str) -> Any:
        if key not in self.keys:
            return None
        try:
            return json.loads(self.read(key))
        except (NotFound, ValueError):
            return None


def open_release(store: ObjectStore, name: str) -> ReleaseView:
    """A published release (its folder or prefix, ``.../vX.Y.Z``), read through its manifest."""
    try:
        manifest = json.loads(store.get(MANIFEST_KEY))
        keys = [o["key"] for o in manifest["objects"]]
    except NotFound:
        raise ConfigError(f"{name} holds no {MANIFEST_KEY}: it is not a release",
                          fix="pass a release's own folder or prefix, e.g. releases/v1.0.0 or s3://bucket/prefix/v1.0.0") from None
    except (ValueError, KeyError, TypeError):
        raise ReleaseError(f"{store.join(MANIFEST_KEY)} is not a sen12stac release manifest", fix="pass a release published by `sen12stac publish`") from None
    return view_of(name, manifest.get("version"), keys, store.get)


def view_of(name: str, version: str | None, keys: Iterable[str], read: Callable[[str], bytes]) -> ReleaseView:
    keys = frozenset(keys)
    parquet = sorted(k for k in keys if k.endswith(".parquet"))
    return ReleaseView(name, version, parquet, read, keys)


# -- reading the items ---------------------------------------------------------------------


def _read_items(view: ReleaseView) -> pa.Table:
    import pyarrow.parquet as pq

    if not view.parquet_keys:
        raise ReleaseError(f"{view.name} has no geoparquet file in its manifest", fix="diff releases published by sen12stac (each season has an items .parquet)")
    tables = []
    for key in view.parquet_keys:
        try:
            f = pq.ParquetFile(pa.BufferReader(view.read(key)))
            tables.append(_flat(_read_columns(f)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise ReleaseError(f"{view.name}: {key} is not a readable stac-geoparquet file ({str(exc).splitlines()[0][:200]})",
                               fix="check the release with `sen12stac verify`") from None
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def _read_columns(f: Any) -> pa.Table:
    """The columns a diff compares: every item field but ``links``, and of the assets only
    their checksums (``assets.KEY.file:checksum``; a COG whose content changes changes its
    checksum): the assets' other fields (bands, statistics) are most of the file."""
    schema = f.schema_arrow
    top = [n for n in schema.names if n not in SKIP_COLUMNS[1:] and n != "assets"]
    leaves: list[str] = []
    if "assets" in schema.names and pa.types.is_struct(schema.field("assets").type):
        for asset in schema.field("assets").type:
            if pa.types.is_struct(asset.type) and asset.type.get_field_index(CHECKSUM) >= 0:
                leaves.append(f"assets.{asset.name}.{CHECKSUM}")
    t = f.read(columns=top + leaves)
    names = top + leaves  # a leaf comes back as a column named by its last part: named in full here
    return t.rename_columns(names) if t.num_columns == len(names) else t


def _flat(t: pa.Table) -> pa.Table:
    """Struct columns flattened to their leaves (``processing:software.sen12stac``, ``bbox.xmin``)."""
    while any(pa.types.is_struct(f.type) for f in t.schema):
        t = t.flatten()
    return t


def _changed_rows(x: pa.ChunkedArray, y: pa.ChunkedArray) -> np.ndarray:
    """Per row: do ``x`` and ``y`` (aligned) differ? Nulls equal nulls."""
    if x.type != y.type:
        try:
            y = y.cast(x.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _changed_rows_py(x, y)
    t = x.type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_map(t) or pa.types.is_union(t):
        return _changed_list_rows(x, y)
    try:
        neq = pc.fill_null(pc.not_equal(x, y), False)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return _changed_rows_py(x, y)
    xn, yn = pc.is_null(x), pc.is_null(y)
    out = pc.or_(neq, pc.xor(xn, yn))
    if pa.types.is_floating(t):  # NaN == NaN here
        both_nan = pc.and_(pc.fill_null(pc.is_nan(x), False), pc.fill_null(pc.is_nan(y), False))
        out = pc.and_(out, pc.invert(both_nan))
    return out.to_numpy(zero_copy_only=False).astype(bool)


def _changed_list_rows(x: pa.ChunkedArray, y: pa.ChunkedArray) -> np.ndarray:
    xa, ya = x.combine_chunks(), y.combine_chunks()
    if not (pa.types.is_list(xa.type) or pa.types.is_large_list(xa.type)) or pa.types.is_nested(xa.type.value_type):
        return _changed_rows_py(x, y)
    n = len(xa)
    lx = pc.fill_null(pc.list_value_length(xa), -1).to_numpy(zero_copy_only=False)
    ly = pc.fill_null(pc.list_value_length(ya), -1).to_numpy(zero_copy_only=False)
    out = lx != ly
    same = np.flatnonzero(~out & (lx > 0))
    if same.size:
        xs, ys = (xa, ya) if same.size == n else (xa.take(pa.array(same)), ya.take(pa.array(same)))
        vx, vy = pc.list_flatten(xs), pc.list_flatten(ys)
        parents = pc.list_parent_indices(xs).to_numpy(zero_copy_only=False)
        diff = _changed_rows(pa.chunked_array([vx]), pa.chunked_array([vy]))
        bad = np.bincount(parents[diff], minlength=same.size) > 0
        out[same[bad]] = True
    return out if out.size == n else np.ones(n, bool)


def _changed_rows_py(x: pa.ChunkedArray, y: pa.ChunkedArray) -> np.ndarray:
    return np.fromiter((a != b for a, b in zip(x.to_pylist(), y.to_pylist())), bool, count=len(x))


# -- the difference ------------------------------------------------------------------------


@dataclass
class ReleaseDiff:
    a: dict[str, Any]
    b: dict[str, Any]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    by_group: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # season -> split -> counts
    fields: dict[str, int] = field(default_factory=dict)  # field -> items in both where it changed
    items_with_changed_fields: dict[str, list[str]] = field(default_factory=dict)
    qc_flipped: list[dict[str, Any]] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.fields or self.qc_flipped or any(self.overrides.values()))

    def summary(self) -> str:
        if self.empty:
            return f"{self.a['name']} -> {self.b['name']}: no difference ({self.b['items']} pairs in both)"
        return (f"{self.a['name']} -> {self.b['name']}: {len(self.added)} pairs added, {len(self.removed)} removed, "
                f"{len(self.changed)} changed; {len(self.qc_flipped)} scene QC decision(s) flipped; "
                f"{len(self.items_with_changed_fields)} item(s) with changed fields"
                + (f" ({', '.join(sorted(self.fields))})" if self.fields else ""))

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "summary": self.summary(),
            "pairs": {"added": self.added, "removed": self.removed, "changed": self.changed},
            "by_season_split": self.by_group,
            "fields": self.fields, "items_with_changed_fields": self.items_with_changed_fields,
            "qc_flipped": self.qc_flipped, "overrides": self.overrides,
        }

    def _table(self) -> list[str]:
        lines = ["| season | split | added | removed | changed |", "|---|---|---|---|---|"]
        for season in sorted(self.by_group):
            for split in sorted(self.by_group[season]):
                c = self.by_group[season][split]
                lines.append(f"| {season} | {split} | {c['added']} | {c['removed']} | {c['changed']} |")
        return lines

    def text(self) -> str:
        lines = [self.summary()]
        if self.by_group:
            lines += [""] + self._table()
        for f in self.qc_flipped:
            lines.append(f"QC flipped: {f['scene_id']} {f['from']} -> {f['to']}" + (f" ({'; '.join(f['reasons'])})" if f.get("reasons") else "")
                         + (f", by hand: {f['override']}" if f.get("override") else ""))
        for k, v in sorted(self.overrides.get("added", {}).items()):
            lines.append(f"manual decision added: {k} {_decision_text(v)}")
        for k in self.overrides.get("removed", []):
            lines.append(f"manual decision removed: {k}")
        for k, v in sorted(self.overrides.get("changed", {}).items()):
            lines.append(f"manual decision changed: {k} {_decision_text(v)}")
        if self.fields:
            lines.append("fields changed (items): " + ", ".join(f"{k} ({v})" for k, v in sorted(self.fields.items())))
        return "\n".join(lines)

    def changelog(self) -> str:
        """Markdown for the release notes."""
        lines = ["## Changes since " + self.a["name"], "", self.summary() + "."]
        if self.by_group:
            lines += [""] + self._table()
        extra = [f"- QC flipped: {f['scene_id']} {f['from']} -> {f['to']}" + (f" (by hand: {f['override']})" if f.get("override") else "") for f in self.qc_flipped]
        extra += [f"- manual decision added: {k} {_decision_text(v)}" for k, v in sorted(self.overrides.get("added", {}).items())]
        extra += [f"- manual decision removed: {k}" for k in self.overrides.get("removed", [])]
        extra += [f"- manual decision changed: {k} {_decision_text(v)}" for k, v in sorted(self.overrides.get("changed", {}).items())]
        if self.fields:
            extra.append("- item fields changed: " + ", ".join(f"`{k}` ({v})" for k, v in sorted(self.fields.items())))
        if extra:
            lines += [""] + extra[:200] + ([f"- ... {len(extra) - 200} more (`sen12stac diff --json`)"] if len(extra) > 200 else [])
        return "\n".join(lines) + "\n"


def _decision_text(v: Any) -> str:
    if not isinstance(v, dict):
        return str(v)
    return str(v.get("decision")) + "".join(f", {k} {v[k]}" for k in ("who", "when", "note") if v.get(k))


def _group_key(t: pa.Table, idx: np.ndarray) -> list[tuple[str, str]]:
    def col(name: str) -> list[Any]:
        if name in t.column_names:
            return t.column(name).take(pa.array(idx, type=pa.int64())).to_pylist()
        return [None] * len(idx)

    seasons = col("sen12:season")
    colls = col("collection")
    splits = col("ml-aoi:split")
    return [(str(s or c or "unknown"), str(sp or "unassigned")) for s, c, sp in zip(seasons, colls, splits)]


def diff_releases(a: ReleaseView, b: ReleaseView) -> ReleaseDiff:
    ta, tb = _read_items(a), _read_items(b)
    ida, idb = ta.column("id").combine_chunks(), tb.column("id").combine_chunks()
    pos_in_a = pc.index_in(idb, value_set=ida)  # for each row of B: its row in A, or null
    in_b = pc.is_in(ida, value_set=idb).to_numpy(zero_copy_only=False)
    mask_b = pc.is_valid(pos_in_a).to_numpy(zero_copy_only=False)
    rows_b = np.flatnonzero(mask_b)
    rows_a = pc.drop_null(pos_in_a).to_numpy(zero_copy_only=False).astype(np.int64)
    removed_rows = np.flatnonzero(~in_b)
    added_rows = np.flatnonzero(~mask_b)

    sa, sb = _Aligned(ta, rows_a), _Aligned(tb, rows_b)
    changed = np.zeros(len(rows_a), bool)
    field_changed: dict[str, np.ndarray] = {}
    for name in sorted(set(sa.column_names) | set(sb.column_names)):
        if name in SKIP_COLUMNS:
            continue
        if name not in sa.column_names or name not in sb.column_names:
            present = sa if name in sa.column_names else sb
            rows = pc.is_valid(present.column(name)).to_numpy(zero_copy_only=False).astype(bool)
        else:
            rows = _changed_rows(sa.column(name), sb.column(name))
        if not rows.any():
            continue
        if name.startswith("assets.") and name.endswith("." + CHECKSUM):
            changed |= rows
        else:
            label = name[len("properties."):] if name.startswith("properties.") else name
            field_changed[label] = rows

    ids_a = ida.to_pylist()
    ids_b = idb.to_pylist()
    out = ReleaseDiff(a={"name": a.name, "version": a.version, "items": len(ida)}, b={"name": b.name, "version": b.version, "items": len(idb)})
    out.removed = sorted(ids_a[i] for i in removed_rows)
    out.added = sorted(ids_b[i] for i in added_rows)
    changed_rows = np.flatnonzero(changed)
    out.changed = sorted(ids_b[rows_b[i]] for i in changed_rows)
    groups: dict[str, dict[str, dict[str, int]]] = {}
    for what, t, idx in (("removed", ta, removed_rows), ("added", tb, added_rows), ("changed", tb, rows_b[changed_rows])):
        for season, split in _group_key(t, idx):
            row = groups.setdefault(season, {}).setdefault(split, {"added": 0, "removed": 0, "changed": 0})
            row[what] += 1
    out.by_group = groups
    per_item: dict[int, list[str]] = {}
    for label, rows in sorted(field_changed.items()):
        hits = np.flatnonzero(rows)
        out.fields[label] = int(hits.size)
        for i in hits.tolist():
            per_item.setdefault(i, []).append(label)
    out.items_with_changed_fields = {ids_b[rows_b[i]]: v for i, v in sorted(per_item.items(), key=lambda kv: ids_b[rows_b[kv[0]]])}
    out.qc_flipped = _qc_flips(a.get_json(SUMMARY_KEY), b.get_json(SUMMARY_KEY))
    out.overrides = _override_changes(a.get_json(OVERRIDES_KEY) or {}, b.get_json(OVERRIDES_KEY) or {})
    return out


class _Aligned:
    """The rows ``rows`` of a table, column by column (taken when asked; none when the rows
    are the whole table in order, the usual case)."""

    def __init__(self, table: pa.Table, rows: np.ndarray) -> None:
        self.table, self.column_names = table, table.column_names
        self.identity = len(rows) == table.num_rows and bool(np.array_equal(rows, np.arange(table.num_rows)))
        self.rows = pa.array(rows, type=pa.int64())

    def column(self, name: str) -> pa.ChunkedArray:
        col = self.table.column(name)
        return col if self.identity else pa.chunked_array([col.combine_chunks().take(self.rows)], type=col.type)


def _qc_flips(sa: Any, sb: Any) -> list[dict[str, Any]]:
    def scenes(s: Any) -> dict[str, dict[str, Any]]:
        try:
            return {x["scene_id"]: x for x in s["scenes"]}
        except (TypeError, KeyError):
            return {}

    a, b = scenes(sa), scenes(sb)
    flips = []
    for sid in sorted(set(a) & set(b)):
        was, now = a[sid].get("status"), b[sid].get("status")
        if (was == "published") != (now == "published") and "failed" not in (was, now):
            entry = {"scene_id": sid, "from": "kept" if was == "published" else "rejected", "to": "kept" if now == "published" else "rejected",
                     "reasons": list(b[sid].get("reasons") or a[sid].get("reasons") or [])}
            if b[sid].get("override") or a[sid].get("override"):
                entry["override"] = b[sid].get("override") or f"cleared ({a[sid].get('override')} before)"
            flips.append(entry)
    return flips


def _override_changes(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return {}
    return {
        "added": {k: b[k] for k in sorted(set(b) - set(a))},
        "removed": sorted(set(a) - set(b)),
        "changed": {k: b[k] for k in sorted(set(a) & set(b)) if a[k] != b[k]},
    }


def changelog_for_build(dest: ObjectStore, predecessor: str, read: Callable[[str], bytes], build_keys: Iterable[str], name: str) -> str:
    """The release notes' changelog of a build about to be published as ``name`` against the
    listed release ``v{predecessor}`` under ``dest`` (publish calls this while planning, a
    direct build while committing); ``read(key)`` gives the build's object ``key``."""
    from .version import release_dir

    vdir = release_dir(predecessor)
    try:
        old = open_release(_Prefixed(dest, vdir), f"v{predecessor}")
        new = view_of(name, None, build_keys, read)
        return diff_releases(old, new).changelog()
    except (ConfigError, ReleaseError) as exc:
        return f"## Changes since v{predecessor}\n\nNot computed: {str(exc).split('. Fix:')[0]}.\n"


def notes_addendum(dest: ObjectStore, predecessor: str | None, read: Callable[[str], bytes], build_keys: Iterable[str], name: str) -> str:
    """What the default release notes add: where the manual QC decisions are (when the build
    had any) and the changelog since the predecessor (when one is listed); "" for neither."""
    keys = list(build_keys)
    parts = []
    if OVERRIDES_KEY in keys:
        try:
            n = len(json.loads(read(OVERRIDES_KEY)))
        except (NotFound, ValueError, TypeError):
            n = None
        parts.append(f"Manual QC decisions this release was built with: `{OVERRIDES_KEY}`" + (f" ({n})" if n is not None else "")
                     + "; items published by one carry `sen12:qc_override`.\n")
    if predecessor:
        parts.append(changelog_for_build(dest, predecessor, read, keys, name))
    return "\n".join(parts)


class _Prefixed:
    """The release ``vdir`` of a root store, for :func:`open_release` (get and join only)."""

    def __init__(self, store: ObjectStore, vdir: str) -> None:
        self.store, self.vdir = store, vdir.rstrip("/")

    def get(self, key: str) -> bytes:
        return self.store.get(f"{self.vdir}/{key}")

    def join(self, key: str) -> str:
        return self.store.join(f"{self.vdir}/{key}")
