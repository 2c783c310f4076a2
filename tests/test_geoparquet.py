"""The collection's stac-geoparquet file, converted scene by scene with stac-geoparquet's public
API and merged (sen12stac.stac.geoparquet), is the file stac-geoparquet's own
``parse_stac_ndjson_to_parquet`` writes for the same items in one go, also when items differ in
shape between and within scenes, and reads back to the same items."""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sen12stac.config import BuildConfig
from sen12stac.models import format_datetime
from sen12stac.splits import assign_split
from sen12stac.stac.geoparquet import scene_rows, write_geoparquet
from sen12stac.stac.item import build_item, rebase_item, scene_context
from sen12stac.stac.layout import collection_key, item_key
from sen12stac.stac.texts import load_catalog_texts
from sen12stac.stac.writer import PARQUET_CHUNK, PARQUET_OPTIONS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import make_examples as mx  # noqa: E402


def _scene_items(scene) -> list[dict]:
    """The parquet rows the writer makes of a scene: items with hrefs relative to the collection."""
    cfg, texts = BuildConfig(), load_catalog_texts()
    split = assign_split(scene.roi.scene_id, scene.season, cfg.split)
    ctx = scene_context(scene.patches[0], split, texts, cfg)
    out = []
    for p in sorted(scene.patches, key=lambda p: p.patch_index):
        item = build_item(p, split, texts=texts, config=cfg, context=ctx)
        out.append(rebase_item(item, item_key(p.set_name, p.scene_index, p.pair_id), collection_key(p.set_name)))
    return out


def _uneven_scenes() -> list[list[dict]]:
    """Scenes of one collection whose items differ in shape: fields missing in a whole scene or
    in some items, nulls, empty and filled lists, an extra property, an antimeridian footprint."""
    grid = [(r, c) for r in range(3) for c in range(3)]
    plain = _scene_items(mx.synthetic_scene("spring", 1, cols=3, positions=grid))
    bare = _scene_items(mx.synthetic_scene("spring", 2, cols=3, positions=grid[:4], thumbnails=False, product_ids=False))
    for i in bare:  # a scene without orbit fields and with only a date range
        del i["properties"]["sat:orbit_state"]
        i["properties"]["datetime"] = None
    mixed = _scene_items(mx.synthetic_scene("spring", 3, lon=179.99, lat=-16.5, cols=3, positions=grid[:5]))
    mixed[1]["properties"]["sen12:qc_reasons"] = ["seamline"]
    mixed[2]["properties"]["sen12:extra"] = 1.5
    del mixed[3]["assets"]["thumbnail"]
    mixed[4]["properties"]["sen12:extra"] = 2  # an int where another item has a float
    assert {i["geometry"]["type"] for i in mixed} == {"Polygon", "MultiPolygon"}  # some cross the antimeridian
    return [plain, mixed, plain[:2], bare]  # bare last: a merge in the wrong order shows


def _library_bytes(items: list[dict], tmp: Path, chunk: int) -> bytes:
    from stac_geoparquet.arrow import parse_stac_ndjson_to_parquet

    nd = tmp / "items.ndjson"
    nd.write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in items))
    out = tmp / "library.parquet"
    parse_stac_ndjson_to_parquet([str(nd)], str(out), chunk_size=chunk, **PARQUET_OPTIONS)
    return out.read_bytes()


@pytest.mark.parametrize("chunk", [PARQUET_CHUNK, 4])
def test_the_file_stac_geoparquet_writes_for_uneven_scenes(tmp_path, chunk):
    """The same columns, types, values, file metadata and row groups as the library's one-go
    conversion. (Not always the same bytes: where scenes differ in shape, the column order can
    differ, as pyarrow's type inference orders struct fields differently across versions.)"""
    scenes = _uneven_scenes()
    originals = copy.deepcopy(scenes)
    ours = tmp_path / "ours.parquet"
    write_geoparquet([scene_rows(s) for s in scenes], ours, chunk=chunk, **PARQUET_OPTIONS)
    assert scenes == originals  # the item dicts are left as they were
    rows = [i for s in scenes for i in s]
    _library_bytes(rows, tmp_path, chunk)
    mine, theirs = pq.read_table(ours), pq.read_table(tmp_path / "library.parquet")
    names = sorted(theirs.column_names)
    assert sorted(mine.column_names) == names
    assert mine.select(names).equals(theirs.select(names))
    for name in names:
        assert mine.schema.field(name).equals(theirs.schema.field(name), check_metadata=True), name
    assert mine.schema.metadata == theirs.schema.metadata  # GeoParquet and stac-geoparquet metadata
    meta = pq.read_metadata(ours)
    assert meta.num_rows == len(rows) and meta.num_row_groups == -(-len(rows) // chunk)


def test_the_same_bytes_as_stac_geoparquet_for_a_collection(tmp_path):
    """Scenes of the shape a build writes (of different sizes, one without thumbnails, batches
    crossing scenes): byte for byte the library's file."""
    grid = [(r, c) for r in range(4) for c in range(4)]
    scenes = [
        _scene_items(mx.synthetic_scene("summer", 1, cols=4, positions=grid)),
        _scene_items(mx.synthetic_scene("summer", 2, cols=4, positions=grid[:7], thumbnails=False)),
        _scene_items(mx.synthetic_scene("summer", 3, lon=179.99, lat=-16.5, cols=4, positions=grid[:11])),
    ]
    ours = tmp_path / "ours.parquet"
    write_geoparquet([scene_rows(s) for s in scenes], ours, chunk=8, **PARQUET_OPTIONS)
    assert ours.read_bytes() == _library_bytes([i for s in scenes for i in s], tmp_path, 8)


def test_rows_read_back_as_the_items(tmp_path):
    from stac_geoparquet.arrow import stac_table_to_items

    scenes = _uneven_scenes()
    path = tmp_path / "items.parquet"
    write_geoparquet([scene_rows(s) for s in scenes], path, chunk=4, **PARQUET_OPTIONS)
    back = list(stac_table_to_items(pq.read_table(path)))
    rows = [i for s in scenes for i in s]
    assert len(back) == len(rows)
    for want, got in zip(rows, back):
        # stac-geoparquet returns timestamps as "...T10:20:21.000000Z" and fields absent from
        # an item as nulls; the same instants, the same non-null values
        props = got["properties"]
        for k in ("datetime", "start_datetime", "end_datetime"):
            if props.get(k) is not None:
                props[k] = format_datetime(__import__("datetime").datetime.fromisoformat(props[k].replace("Z", "+00:00")))
        assert _without_nulls(got) == _without_nulls(json.loads(json.dumps(want))), want["id"]


def _without_nulls(obj):
    if isinstance(obj, dict):
        return {k: _without_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_without_nulls(v) for v in obj]
    return obj


def test_a_scene_converted_alone_is_conformed_to_the_collection_type(tmp_path):
    scenes = _uneven_scenes()
    parts = [scene_rows(s) for s in scenes]
    assert len({p.schema.to_string() for p in parts}) > 1  # the scenes really do differ in shape
    path = tmp_path / "items.parquet"
    write_geoparquet(parts, path, chunk=PARQUET_CHUNK, **PARQUET_OPTIONS)
    table = pq.read_table(path)
    assert table.column("id").to_pylist() == [i["id"] for s in scenes for i in s]
    assert table.schema.field("datetime").type == pa.timestamp("us", tz="UTC")
    assert table.column("sen12:extra").to_pylist().count(None) == table.num_rows - 2
