"""Stream patch pairs straight from a release (folder, ``s3://``, ``https://``) or a STAC API.

    from sen12stac.stream import select, stream
    sel = select("s3://bucket/sen1-2/v1.0.0", seasons="winter", split="test", endpoint_url=...)
    for sample in stream(sel, seed=0):          # {"s1": (1,256,256) uint8, "s2": (3,256,256), "id": ..., ...}
        ...

A v2 release (``sen12:recipe: "v2"``) yields ``s1`` (2,256,256), ``s2`` (12,256,256) and ``label``
(1,256,256): ``values="raw"`` as published, ``"physical"`` float32 in v1's units.

PyTorch: :mod:`sen12stac.stream.torch` (``PairStream``, ``PairDataset``). Local copies:
:mod:`sen12stac.stream.download`. See docs/streaming.md.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

from ..extras import require

require("stream")  # before any module of this package imports obstore, tifffile, cql2 or pystac-client

from .fetch import GIVE_UP_AFTER, AssetError, NothingReadable, OnError, Problem, Reader, Report, decode_tiff, iter_samples, load_pair, to_physical
from .location import Location, S3Options
from .order import epoch_order, shard
from .records import Asset, Band, Pair
from .select import Query, Selection, select_api, select_release
from .shards import choose_layout, shards_only
from ..errors import ConfigError

__all__ = ["select", "stream", "Selection", "Query", "Pair", "Asset", "Band", "Location", "S3Options", "Reader", "Report", "Problem",
           "AssetError", "NothingReadable", "GIVE_UP_AFTER", "decode_tiff", "to_physical", "load_pair", "iter_samples", "epoch_order", "shard"]


def select(release: str | Location, *, seasons: str | Iterable[str] | None = None, split: str | Iterable[str] | None = None,
           bbox: Sequence[float] | None = None, datetime: str | None = None, filter: str | dict | None = None,
           ids: Iterable[str] | None = None, api: bool = False, **s3_options: Any) -> Selection:
    """Choose pairs from a release or, with ``api=True``, from a STAC API at ``release``.

    ``release``: a folder, ``file://``, ``s3://bucket/prefix/vX.Y.Z`` or ``https://`` URL of a
    release root (the folder holding its ``catalog.json``; a URL ending in ``.json`` names
    the root catalog itself). ``s3_options``: the S3 store's settings
    (:class:`~sen12stac.store.s3.S3Settings`: ``endpoint_url``, ``region``, ``profile``, access
    keys, ``anonymous=True`` for unsigned reads of a public bucket, ``max_attempts``, ...; also
    used for the ``s3://`` asset hrefs an API returns). What is left out is resolved as the
    store resolves it: ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, ``AWS_REGION``, profiles,
    the standard credential chain."""
    query = Query.make(seasons=seasons, split=split, bbox=bbox, datetime=datetime, filter=filter, ids=ids)
    if api:
        if isinstance(release, Location):
            raise TypeError("api=True takes the API's URL")
        return select_api(str(release), query, location=_api_location(s3_options))
    if isinstance(release, Location):
        return select_release(release, query)
    url = str(release)
    catalog_key = "catalog.json"
    if url.endswith(".json"):
        url, _, catalog_key = url.rpartition("/")
        url = url or "."
    return select_release(Location.parse(url, **s3_options), query, catalog_key=catalog_key)


def _api_location(s3_options: dict[str, Any]) -> Location:
    """Asset hrefs from an API are absolute; this location only carries the S3 settings."""
    return Location("s3", "", S3Options.make(**s3_options))


def stream(selection: Selection, *, seed: int | None = 0, epoch: int = 0, values: str = "raw", threads: int = 8, prefetch: int = 16,
           cache_dir: str | None = None, verify: bool = True, on_error: OnError = "skip", rank: int = 0, world_size: int = 1,
           worker: int = 0, num_workers: int = 1, report: Report | None = None, give_up_after: int = GIVE_UP_AFTER,
           layout: str | None = None, shuffle_buffer: int = 64) -> Iterator[dict[str, Any]]:
    """Samples of ``selection`` in the order fixed by ``(seed, epoch)`` (``seed=None``: by id),
    this shard's part only. ``values``: "raw" (as published; "uint8" names it for a v1 release)
    or "physical" (float32 dB and reflectance x 10000, NaN at no-data; a v2 label stays uint8). Pass a :class:`Report` to read the counts afterwards.

    With ``on_error="skip"`` a pair that cannot be read is logged, counted and left out; but
    when the first ``give_up_after`` pairs tried all fail (or every pair of a smaller shard),
    nothing is readable: :class:`NothingReadable` is raised with the reason.

    ``layout``: ``"shards"`` reads the release's training shards (large ranged GETs, whole
    shards dealt to ranks and workers, a ``shuffle_buffer``; docs/shards.md), ``"files"`` one GET
    per file; left out: shards when the release has them."""
    if layout is None and cache_dir is not None and not shards_only(selection.pairs):
        layout = "files"  # the cache keeps files: the per-file path
    if choose_layout(selection.pairs, layout) == "shards":
        from .shards import iter_shard_samples, stream_positions

        if cache_dir is not None:
            raise ConfigError("cache_dir is for the per-file layout", fix="leave cache_dir out with shards, or use layout='files'")
        positions = stream_positions(selection, seed=seed, epoch=epoch, rank=rank, world_size=world_size, worker=worker, num_workers=num_workers)
        return iter_shard_samples(selection, positions, seed=seed, epoch=epoch, stream=rank * num_workers + worker, values=values, threads=threads,
                                  prefetch=prefetch, verify=verify, on_error=on_error, report=report, give_up_after=give_up_after,
                                  shuffle_buffer=shuffle_buffer)
    order = shard(epoch_order(len(selection), seed=seed, epoch=epoch), rank=rank, world_size=world_size, worker=worker, num_workers=num_workers)
    reader = Reader(selection.location, cache_dir=cache_dir, verify=verify, where=selection.where)
    return iter_samples((selection.pairs[i] for i in order), reader, values=values, threads=threads, prefetch=prefetch, on_error=on_error, report=report,
                        give_up_after=give_up_after)
