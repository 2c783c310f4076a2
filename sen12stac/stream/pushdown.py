"""A CQL2 filter evaluated on a stac-geoparquet table's columns, with the ``cql2`` package's
per-item semantics.

``cql2``'s ``Expr.matches`` (cql2-rs) evaluates an item in three values: a comparison whose
operand is null or missing, or of another type, is unknown; ``AND``/``OR``/``NOT`` combine
unknowns as Kleene logic (``false AND unknown`` is false, ``true OR unknown`` is true); an
item whose filter ends unknown is not selected (``matches`` raises, a STAC API's SQL drops the
row). Arrow's compute functions have the same logic with null as unknown (``and_kleene``,
``or_kleene``, ``invert``; comparisons with a null are null), so each node the translator
knows becomes one Arrow array over the whole table:

* comparisons (``= <> < <= > >=``) of a column with a literal of its own kind (numbers with
  numbers, strings with strings, booleans, timestamps with ``TIMESTAMP(...)``);
* ``LIKE`` (``%`` and ``_``; a pattern with a backslash is left to cql2), ``IN``, ``BETWEEN``
  on numbers, ``IS NULL``, ``AND``/``OR``/``NOT``;
* ``S_INTERSECTS``/``S_DISJOINT`` of ``geometry`` with a literal geometry or 2D bbox (the
  rows whose bbox misses the literal's are decided by the bbox column, the rest by shapely on
  their WKB);
* ``T_INTERSECTS``/``T_DISJOINT``/``T_BEFORE``/``T_AFTER``/``T_EQUALS`` of a timestamp column
  with a ``TIMESTAMP`` or an ``INTERVAL`` of timestamps;
* ``id``, ``collection``, properties (their columns) and nested properties (``"a.b"``: field
  ``b`` of the struct column ``a``); a name no column has is null on every row (as cql2
  finds it missing on every item).

Anything else (functions such as ``CASEI``, arithmetic, array operators, dates, operands
of mixed kinds, item fields that are not properties) is not translated: the top-level
conjuncts that are translated filter the table first and ``cql2`` decides the rest item by
item on what remains (:func:`plan`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# item fields that are not properties: cql2 finds these on the item dict, not as columns
_ITEM_FIELDS = {"type", "stac_version", "stac_extensions", "links", "assets", "bbox", "geometry", "properties"}
_CMP = {"=": "equal", "<>": "not_equal", "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal"}


class NotPushed(Exception):
    """This node is left to the per-item evaluation."""


@dataclass
class Plan:
    """``pushed``: the translated top-level conjuncts (CQL2 JSON), ``rest``: the others (their
    AND is evaluated per item on the rows the pushed ones keep)."""

    pushed: list[Any]
    rest: list[Any]


def conjuncts(node: Any) -> list[Any]:
    if isinstance(node, dict) and node.get("op") == "and":
        return [c for a in node["args"] for c in conjuncts(a)]
    return [node]


def plan(expr_json: Any, schema: Any) -> Plan:
    """Split the filter into what translates against ``schema`` and what does not."""
    pushed, rest = [], []
    for c in conjuncts(expr_json):
        try:
            _Check(schema).node(c)
            pushed.append(c)
        except NotPushed:
            rest.append(c)
    return Plan(pushed, rest)


def columns_of(nodes: list[Any], schema: Any) -> set[str]:
    """The top-level columns the translated ``nodes`` read."""
    out: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if set(n) == {"property"} and isinstance(n["property"], str):
                out.add(n["property"].split(".", 1)[0])
            if n.get("op") in ("s_intersects", "s_disjoint"):
                out.update(("geometry", "bbox"))
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    for n in nodes:
        walk(n)
    return out & set(schema.names)


def evaluate(nodes: list[Any], table: Any) -> Any:
    """A boolean array (null = unknown) of the AND of ``nodes`` over ``table``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ev = _Eval(table)
    out = None
    for n in nodes:
        m = ev.node(n)
        out = m if out is None else pc.and_kleene(out, m)
    return out if out is not None else pa.array([True] * table.num_rows)


# -- literals -----------------------------------------------------------------------------------
def _kind_of_literal(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict) and set(v) == {"timestamp"}:
        return "timestamp"
    raise NotPushed


def _timestamp(text: Any) -> datetime:
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt":
        raise NotPushed
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise NotPushed from None
    if d.tzinfo is None:
        raise NotPushed
    return d.astimezone(timezone.utc)


def _kind_of_type(t: Any) -> str | None:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_timestamp(t) and t.tz is not None:
        return "timestamp"
    return None


def _field(schema: Any, name: Any) -> Any:
    """The Arrow type of property ``name``, None when no column has it; NotPushed when cql2
    would look somewhere a column does not show."""
    import pyarrow as pa

    if not isinstance(name, str) or not name:
        raise NotPushed
    parts = name.split(".")
    if parts[0] in _ITEM_FIELDS or "" in parts:
        raise NotPushed
    if parts[0] not in schema.names:
        return None
    t = schema.field(parts[0]).type
    for p in parts[1:]:
        if not pa.types.is_struct(t):
            raise NotPushed  # a path into a list or a scalar: left to cql2
        idx = t.get_field_index(p)
        if idx < 0:
            return None
        t = t.field(idx).type
    return t


def _wkb_and_bbox(schema: Any) -> bool:
    """The table has geometry as WKB and bbox as a struct of xmin, ymin, xmax, ymax (what
    stac-geoparquet writes), the shapes the spatial translation reads."""
    import pyarrow as pa

    if "geometry" not in schema.names or "bbox" not in schema.names:
        return False
    g = schema.field("geometry").type
    if isinstance(g, pa.ExtensionType):
        g = g.storage_type
    b = schema.field("bbox").type
    return (pa.types.is_binary(g) or pa.types.is_large_binary(g)) and pa.types.is_struct(b) and all(
        b.get_field_index(f) >= 0 and pa.types.is_floating(b.field(b.get_field_index(f)).type) for f in ("xmin", "ymin", "xmax", "ymax"))


def _is_prop(n: Any) -> bool:
    return isinstance(n, dict) and set(n) == {"property"}


def _geometry_literal(v: Any) -> Any:
    import shapely
    import shapely.geometry

    if isinstance(v, dict) and set(v) == {"bbox"}:
        b = v["bbox"]
        if len(b) != 4 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in b) or b[0] > b[2] or b[1] > b[3]:
            raise NotPushed
        return shapely.box(*b)
    if isinstance(v, dict) and v.get("type") in ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon") and "coordinates" in v:
        try:
            g = shapely.geometry.shape(v)
        except Exception:  # noqa: BLE001 - malformed literal: cql2 decides
            raise NotPushed from None
        if g.is_empty or not g.is_valid or shapely.get_coordinate_dimension(g) != 2:
            raise NotPushed
        return g
    raise NotPushed


def _interval(v: Any) -> tuple[datetime | None, datetime | None]:
    if isinstance(v, dict) and set(v) == {"timestamp"}:
        d = _timestamp(v["timestamp"])
        return d, d
    if isinstance(v, dict) and set(v) == {"interval"} and isinstance(v["interval"], list) and len(v["interval"]) == 2:
        ends = []
        for e in v["interval"]:
            if e == "..":
                ends.append(None)
            elif isinstance(e, dict) and set(e) == {"timestamp"}:
                ends.append(_timestamp(e["timestamp"]))
            else:
                ends.append(_timestamp(e))
        if ends[0] is not None and ends[1] is not None and ends[0] > ends[1]:
            raise NotPushed
        return ends[0], ends[1]
    raise NotPushed


# -- checking (types only) and evaluating share one walk ------------------------------------------
class _Check:
    """Raises NotPushed where a node does not translate; evaluates nothing."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema

    def node(self, n: Any) -> None:
        self.walk(n)

    def column(self, name: str) -> Any:  # overridden by _Eval
        return None

    def null(self) -> Any:
        return None

    def walk(self, n: Any) -> Any:
        if not isinstance(n, dict) or "op" not in n or not isinstance(n.get("args"), list):
            raise NotPushed
        op, args = n["op"], n["args"]
        if op in ("and", "or"):
            if not args:
                raise NotPushed
            return self.logic(op, [self.walk(a) for a in args])
        if op == "not":
            if len(args) != 1:
                raise NotPushed
            return self.negate(self.walk(args[0]))
        if op == "isNull":
            if len(args) != 1 or not _is_prop(args[0]):
                raise NotPushed
            t = _field(self.schema, args[0]["property"])
            return self.is_null(args[0]["property"], t)
        if op in _CMP:
            if len(args) != 2:
                raise NotPushed
            a, b = args
            if _is_prop(b) and not _is_prop(a):  # literal OP property: flip
                a, b = b, a
                op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            if not _is_prop(a) or _is_prop(b):
                raise NotPushed
            name = a["property"]
            t = _field(self.schema, name)
            kind = _kind_of_literal(b)
            if t is None:
                return self.null()
            if _kind_of_type(t) != kind:
                raise NotPushed
            value = _timestamp(b["timestamp"]) if kind == "timestamp" else b
            return self.compare(name, t, _CMP[op], value)
        if op == "like":
            if len(args) != 2 or not _is_prop(args[0]) or not isinstance(args[1], str) or "\\" in args[1]:
                raise NotPushed
            t = _field(self.schema, args[0]["property"])
            if t is None:
                return self.null()
            if _kind_of_type(t) != "string":
                raise NotPushed
            return self.like(args[0]["property"], args[1])
        if op == "in":
            if len(args) != 2 or not _is_prop(args[0]) or not isinstance(args[1], list) or not args[1]:
                raise NotPushed
            t = _field(self.schema, args[0]["property"])
            kinds = {_kind_of_literal(v) for v in args[1]}
            if t is None:
                return self.null()
            if kinds != {_kind_of_type(t)} or kinds - {"number", "string"}:
                raise NotPushed
            return self.is_in(args[0]["property"], t, args[1])
        if op == "between":
            if len(args) != 3 or not _is_prop(args[0]):
                raise NotPushed
            t = _field(self.schema, args[0]["property"])
            if {_kind_of_literal(args[1]), _kind_of_literal(args[2])} != {"number"}:
                raise NotPushed
            if t is None:
                return self.null()
            if _kind_of_type(t) != "number":
                raise NotPushed
            return self.between(args[0]["property"], t, args[1], args[2])
        if op in ("s_intersects", "s_disjoint"):
            if len(args) != 2:
                raise NotPushed
            a, b = args
            if _is_prop(b):
                a, b = b, a
            if not _is_prop(a) or a["property"] != "geometry" or not _wkb_and_bbox(self.schema):
                raise NotPushed
            g = _geometry_literal(b)
            return self.spatial(op, g)
        if op in ("t_intersects", "t_disjoint", "t_before", "t_after", "t_equals"):
            if len(args) != 2 or not _is_prop(args[0]):
                raise NotPushed
            lo, hi = _interval(args[1])
            if op in ("t_before", "t_after", "t_equals") and lo != hi:
                raise NotPushed  # instants only: intervals' endpoint rules are left to cql2
            t = _field(self.schema, args[0]["property"])
            if t is None:
                return self.null()
            if _kind_of_type(t) != "timestamp":
                raise NotPushed
            return self.temporal(op, args[0]["property"], t, lo, hi)
        raise NotPushed

    # the checker's answers: nothing
    def logic(self, op, parts): return None
    def negate(self, m): return None
    def is_null(self, name, t): return None
    def compare(self, name, t, fn, value): return None
    def like(self, name, pattern): return None
    def is_in(self, name, t, values): return None
    def between(self, name, t, lo, hi): return None
    def spatial(self, op, g): return None
    def temporal(self, op, name, t, lo, hi): return None


class _Eval(_Check):
    def __init__(self, table: Any) -> None:
        super().__init__(table.schema)
        self.table = table

    def node(self, n: Any) -> Any:
        return self.walk(n)

    def column(self, name: str) -> Any:
        import pyarrow.compute as pc

        parts = name.split(".")
        col = self.table[parts[0]]
        for p in parts[1:]:
            col = pc.struct_field(col, p)
        return col

    def null(self) -> Any:
        import pyarrow as pa

        return pa.nulls(self.table.num_rows, pa.bool_())

    def logic(self, op, parts):
        import pyarrow.compute as pc

        fn = pc.and_kleene if op == "and" else pc.or_kleene
        out = parts[0]
        for p in parts[1:]:
            out = fn(out, p)
        return out

    def negate(self, m):
        import pyarrow.compute as pc

        return pc.invert(m)

    def is_null(self, name, t):
        import pyarrow as pa
        import pyarrow.compute as pc

        if t is None:
            return pa.array([True] * self.table.num_rows, pa.bool_())
        return pc.is_null(self.column(name))

    def _numeric(self, name, t):
        import pyarrow as pa
        import pyarrow.compute as pc

        col = self.column(name)
        return col if pa.types.is_floating(t) and t.bit_width == 64 else pc.cast(col, pa.float64())

    def compare(self, name, t, fn, value):
        import pyarrow as pa
        import pyarrow.compute as pc

        kind = _kind_of_type(t)
        if kind == "number":
            return getattr(pc, fn)(self._numeric(name, t), pa.scalar(float(value), pa.float64()))
        if kind == "timestamp":
            return getattr(pc, fn)(self.column(name), pa.scalar(value, t))
        return getattr(pc, fn)(self.column(name), pa.scalar(value, t))

    def like(self, name, pattern):
        import pyarrow.compute as pc

        return pc.match_like(self.column(name), pattern)

    def is_in(self, name, t, values):
        import pyarrow as pa
        import pyarrow.compute as pc

        if _kind_of_type(t) == "number":
            col, vs = self._numeric(name, t), pa.array([float(v) for v in values], pa.float64())
        else:
            col, vs = self.column(name), pa.array(values, t)
        hit = pc.is_in(col, value_set=vs)
        return pc.if_else(pc.is_null(col), pa.scalar(None, pa.bool_()), hit)

    def between(self, name, t, lo, hi):
        import pyarrow as pa
        import pyarrow.compute as pc

        col = self._numeric(name, t)
        return pc.and_kleene(pc.greater_equal(col, pa.scalar(float(lo))), pc.less_equal(col, pa.scalar(float(hi))))

    def spatial(self, op, g):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import shapely

        w, s, e, n = g.bounds
        bb = self.table["bbox"]
        xmin, ymin, xmax, ymax = (pc.struct_field(bb, f) for f in ("xmin", "ymin", "xmax", "ymax"))
        near = pc.and_kleene(pc.and_kleene(pc.less_equal(xmin, e), pc.greater_equal(xmax, w)),
                             pc.and_kleene(pc.less_equal(ymin, n), pc.greater_equal(ymax, s)))
        near = pc.or_kleene(near, pc.greater(xmin, xmax))  # a box across the antimeridian: ask shapely
        near = pc.fill_null(near, True).to_numpy(zero_copy_only=False)  # no bbox: ask shapely
        hit = np.zeros(self.table.num_rows, dtype=bool)
        unknown = np.zeros(self.table.num_rows, dtype=bool)
        rows = np.flatnonzero(near)
        if len(rows):
            wkb = self.table["geometry"].take(pa.array(rows)).combine_chunks()
            if isinstance(wkb.type, pa.ExtensionType):
                wkb = wkb.storage
            values = wkb.to_numpy(zero_copy_only=False)
            missing = np.array([v is None for v in values], dtype=bool)
            geoms = shapely.from_wkb(np.where(missing, None, values))
            hit[rows] = np.where(missing, False, shapely.intersects(geoms, g))
            unknown[rows] = missing
        out = hit if op == "s_intersects" else ~hit
        return pa.array(out, pa.bool_(), mask=unknown)

    def temporal(self, op, name, t, lo, hi):
        import pyarrow as pa
        import pyarrow.compute as pc

        col = self.column(name)
        after_lo = pc.greater_equal(col, pa.scalar(lo, t)) if lo is not None else pc.invert(pc.is_null(col))
        before_hi = pc.less_equal(col, pa.scalar(hi, t)) if hi is not None else pc.invert(pc.is_null(col))
        after_lo = pc.if_else(pc.is_null(col), pa.scalar(None, pa.bool_()), after_lo)
        before_hi = pc.if_else(pc.is_null(col), pa.scalar(None, pa.bool_()), before_hi)
        if op == "t_before":
            return pc.less(col, pa.scalar(lo, t))
        if op == "t_after":
            return pc.greater(col, pa.scalar(lo, t))
        if op == "t_equals":
            return pc.equal(col, pa.scalar(lo, t))
        inside = pc.and_kleene(after_lo, before_hi)
        return inside if op == "t_intersects" else pc.invert(inside)
