"""PyTorch adapters (optional extra ``torch``): a streaming ``IterableDataset`` and a map-style ``Dataset``.

Both work with ``DataLoader(num_workers>0)``: each worker process builds its own HTTP
client on first use and takes its S3 credentials from its own environment, profile or role
(a pickled selection carries none, for workers started by spawn or forkserver). Samples are dicts that the default collation batches:
``{"s1": (1,H,W), "s2": (3,H,W), "id", "split", "collection", "season", "scene_id",
"datetime", "bbox": (4,)}`` -- uint8 as published, or float32 dB / reflectance x 10000 with
``values="physical"`` (no-data pixels NaN). A v2 release's samples hold ``s1`` (2,H,W) float32
dB (VV, VH), ``s2`` (12,H,W) uint16 reflectance x 10000 (float32 with ``values="physical"``)
and ``label`` (1,H,W) uint8 ESA WorldCover codes (0 = no data).
"""
from __future__ import annotations

from typing import Any, Iterator

from ..extras import require

require("torch")

import torch  # noqa: E402
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .fetch import GIVE_UP_AFTER, AssetError, OnError, Reader, Report, handle, iter_samples, load_pair, nothing_readable
from .order import epoch_order, shard
from .select import Selection
from .shards import ShardReader, choose_layout, shards_only, iter_shard_samples, rank_positions, stream_positions


def _tensors(sample: dict[str, Any]) -> dict[str, Any]:
    out = dict(sample)
    for name in ("s1", "s2", "label"):  # label: a v2 release's
        if name in sample:
            out[name] = torch.from_numpy(sample[name])
    out["bbox"] = torch.from_numpy(sample["bbox"])
    return out


def _rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None and world_size is not None:
        return rank, world_size
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class PairStream(IterableDataset):
    """Every selected pair once per epoch, in an order fixed by ``(seed, epoch)``, split
    disjointly over distributed ranks (``torch.distributed`` if initialised, or ``rank``/
    ``world_size``) and DataLoader workers. Call :meth:`set_epoch` before each epoch for a
    new order (as with ``DistributedSampler``). ``threads``/``prefetch``: concurrent GETs
    per worker and how many pairs may wait decoded ahead of the consumer. A worker whose first
    ``give_up_after`` pairs all fail raises :class:`~sen12stac.stream.fetch.NothingReadable`
    (the DataLoader passes it on) instead of yielding nothing."""

    def __init__(self, selection: Selection, *, seed: int | None = 0, values: str = "raw", threads: int = 8, prefetch: int = 16,
                 cache_dir: str | None = None, verify: bool = True, on_error: OnError = "skip", rank: int | None = None,
                 world_size: int | None = None, drop_remainder: bool = False, give_up_after: int = GIVE_UP_AFTER,
                 layout: str | None = None, shuffle_buffer: int = 64) -> None:
        super().__init__()
        if layout is None and cache_dir is not None and not shards_only(selection.pairs):
            layout = "files"  # the cache keeps files: the per-file path
        self.layout = choose_layout(selection.pairs, layout)  # "shards" when the release has them (docs/shards.md)
        self.shuffle_buffer = shuffle_buffer
        self.give_up_after = give_up_after
        self.selection = selection
        self.seed, self.values, self.threads, self.prefetch = seed, values, threads, prefetch
        self.cache_dir, self.verify, self.on_error = cache_dir, verify, on_error
        self.rank, self.world_size, self.drop_remainder = rank, world_size, drop_remainder
        self.epoch = 0
        self.report = Report()  # this process's counts (each DataLoader worker keeps its own and logs its summary)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:  # this rank's share (all its workers together)
        rank, world = _rank_and_world(self.rank, self.world_size)
        if self.layout == "shards":
            return len(rank_positions(self.selection, seed=self.seed, epoch=self.epoch, rank=rank, world_size=world, drop_remainder=self.drop_remainder))
        return len(shard(epoch_order(len(self.selection), seed=None), rank=rank, world_size=world, drop_remainder=self.drop_remainder))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, world = _rank_and_world(self.rank, self.world_size)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if self.layout == "shards":
            positions = stream_positions(self.selection, seed=self.seed, epoch=self.epoch, rank=rank, world_size=world, worker=worker,
                                         num_workers=workers, drop_remainder=self.drop_remainder)
            for sample in iter_shard_samples(self.selection, positions, seed=self.seed, epoch=self.epoch, stream=rank * workers + worker,
                                             values=self.values, threads=self.threads, prefetch=self.prefetch, verify=self.verify,
                                             on_error=self.on_error, report=self.report, give_up_after=self.give_up_after,
                                             shuffle_buffer=self.shuffle_buffer):
                yield _tensors(sample)
            return
        order = epoch_order(len(self.selection), seed=self.seed, epoch=self.epoch)
        if self.drop_remainder:
            order = order[: len(order) - len(order) % world]
        order = shard(shard(order, rank=rank, world_size=world), worker=worker, num_workers=workers)
        reader = Reader(self.selection.location, cache_dir=self.cache_dir, verify=self.verify, where=self.selection.where)
        pairs = (self.selection.pairs[i] for i in order)
        for sample in iter_samples(pairs, reader, values=self.values, threads=self.threads, prefetch=self.prefetch, on_error=self.on_error, report=self.report,
                                   give_up_after=self.give_up_after):
            yield _tensors(sample)


class PairDataset(Dataset):
    """Random access: ``dataset[i]`` fetches pair ``i`` of the selection (two GETs, or the
    cache). With ``on_error="skip"`` a broken pair is logged and counted and the next
    readable pair is returned in its place (a map-style dataset must return something);
    ``"stop"`` raises :class:`~sen12stac.stream.fetch.AssetError`. While nothing has been read
    in this process, ``give_up_after`` failed pairs raise
    :class:`~sen12stac.stream.fetch.NothingReadable`."""

    def __init__(self, selection: Selection, *, values: str = "raw", cache_dir: str | None = None, verify: bool = True,
                 on_error: OnError = "skip", give_up_after: int = GIVE_UP_AFTER, layout: str | None = None) -> None:
        self.selection = selection
        if layout is None and cache_dir is not None and not shards_only(selection.pairs):
            layout = "files"  # the cache keeps files: the per-file path
        self.layout = choose_layout(selection.pairs, layout)  # shards: one ranged GET per asset
        self.values, self.cache_dir, self.verify, self.on_error = values, cache_dir, verify, on_error
        self.give_up_after = give_up_after
        self.report = Report()
        self._reader: Reader | None = None

    def __len__(self) -> int:
        return len(self.selection)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self._reader is None:
            self._reader = (ShardReader(self.selection.location, verify=self.verify) if self.layout == "shards" else
                            Reader(self.selection.location, cache_dir=self.cache_dir, verify=self.verify, where=self.selection.where))
        n = len(self.selection)
        for step in range(n):
            pair = self.selection.pairs[(index + step) % n]
            try:
                sample = load_pair(pair, self._reader, values=self.values, report=self.report)
            except AssetError as exc:
                handle(exc.problem, self.on_error, self.report)
                if not self.report.pairs and len(self.report.problems) >= self.give_up_after:
                    raise nothing_readable(self.selection.location, self.report.problems) from None
                continue
            self.report.pairs += 1
            return _tensors(sample)
        if self.report.pairs:
            raise AssetError(self.report.problems[-1])
        raise nothing_readable(self.selection.location, self.report.problems)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_reader"] = None
        return state
