"""Reading pairs out of training shards (docs/shards.md): large sequential ranged GETs.

Scheduling, per ``(seed, epoch)``:

* the selected pairs are grouped by the shard that holds them; the shards are put in an order
  fixed by ``(seed, epoch)`` and dealt to the streams (``world_size x num_workers`` of them)
  greedily, each to the stream with the fewest pairs so far: every stream computes the same
  deal, so the streams' parts are disjoint and together hold every pair once;
* in each shard, the members a stream needs are read in byte order as ranges: neighbouring
  members (at most :data:`MAX_GAP` bytes apart: the ZIP headers between them) are coalesced into
  one ranged GET, and no GET is longer than ``read_mb``; a whole selected shard is read in
  ``ceil(shard / read_mb)`` GETs, a partial selection reads only its members' ranges;
* memory: at most ``1 + read_ahead`` reads of ``read_mb`` plus the shuffle buffer;
* the pairs of a read are taken in an order fixed by ``(seed, epoch, stream)``, then pass a
  shuffle buffer of ``shuffle_buffer`` samples (``seed=None``: neither: shard and byte order).

Decoding and checksums are the per-file path's (:func:`~sen12stac.stream.fetch.load_pair`):
the same samples, the same pixels.
"""
from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from ..errors import ConfigError, StoreError
from . import fetch
from .fetch import AssetError, Problem, Reader, Report
from .location import Location, Missing, split_absolute
from .records import Pair, ShardRef

#: Members at most this many bytes apart are read in one GET (between two members of a pair's
#: shard lie only their ZIP headers, ~100 bytes; a left-out pair leaves a gap of ~150 KB).
MAX_GAP = 4096
READ_MB = 16  # the longest ranged GET (AWS: byte-range requests of 8-16 MB, docs/shards.md)
LAYOUTS = ("files", "shards")


def shard_ref(asset: Mapping[str, Any], href_of: Callable[[str], str]) -> ShardRef | None:
    """The :class:`ShardRef` of an item asset dict (None: not in a shard)."""
    from ..shards.layout import member_entry

    e = member_entry(asset)
    if e is None:
        return None
    return ShardRef(href_of(e.shard_href), e.offset, e.size, e.checksum, e.only)


def asset_names(pair: Pair) -> tuple[str, ...]:
    """The assets a sample of ``pair`` holds (s1, s2, and a v2 pair's label)."""
    return pair.asset_names


def shards_only(pairs: Iterable[Pair]) -> bool:
    """Whether some selected asset exists only inside a shard (a ``--layout shards`` release)."""
    return any(r is not None and r.only for pair in pairs for r in (pair.asset(n).shard for n in asset_names(pair)))


def choose_layout(pairs: Iterable[Pair], layout: str | None) -> str:
    """``layout`` checked against the release: None picks shards when every selected asset has one."""
    pairs = list(pairs)
    refs = [pair.asset(n).shard for pair in pairs for n in asset_names(pair)]
    have = bool(refs) and all(r is not None for r in refs)
    if layout is None:
        return "shards" if have else "files"
    if layout not in LAYOUTS:
        raise ConfigError(f"layout={layout!r}", fix="use 'shards', 'files' or leave it out (shards when the release has them)")
    if layout == "shards" and not have:
        raise ConfigError("layout='shards': this release has no training shards (or not for every selected pair)",
                          fix="leave layout out or use layout='files'; rebuild with --layout both to get shards")
    if layout == "files" and any(r is not None and r.only for r in refs):
        raise ConfigError("layout='files': this release holds its COGs only inside training shards (--layout shards)",
                          fix="use layout='shards' (or leave layout out)")
    return layout


@dataclass(frozen=True)
class Read:
    """One ranged GET: ``length`` bytes of shard ``key`` from ``start``; the pairs whose every
    member lies inside it."""

    loc: Location
    key: str
    start: int
    length: int
    pairs: tuple[int, ...]  # positions in the selection


def _where(base: Location, href: str) -> tuple[Location, str]:
    if "://" in href or href.startswith("/"):
        return split_absolute(href, base)
    return base, href


def _groups(selection: Any) -> dict[tuple[str, str], list[int]]:
    """Selection positions grouped by (location url, shard key) of the pair's first asset."""
    out: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for i, pair in enumerate(selection.pairs):
        ref = pair.asset(asset_names(pair)[0]).shard
        loc, key = _where(selection.location, ref.href)
        out[(loc.url, key)].append(i)
    return out


def deal(groups: Mapping[tuple[str, str], list[int]], *, seed: int | None, epoch: int, streams: int, salt: int = 0) -> list[list[int]]:
    """Positions of each of ``streams`` streams: the shards (``groups``) in an order fixed by
    ``(seed, epoch)``, each dealt whole to the stream with the fewest pairs so far."""
    keys = sorted(groups)
    if seed is not None:
        keys = [keys[i] for i in np.random.default_rng([int(seed), int(epoch), salt]).permutation(len(keys))]
    load = [0] * streams
    out: list[list[int]] = [[] for _ in range(streams)]
    for k in keys:
        s = min(range(streams), key=lambda j: (load[j], j))
        out[s].extend(groups[k])
        load[s] += len(groups[k])
    return out


def plan_reads(selection: Any, positions: list[int], *, read_bytes: int, max_gap: int = MAX_GAP) -> list[Read]:
    """The ranged GETs that read the members of the pairs at ``positions`` (any shards), in
    shard and byte order: neighbours coalesced, none longer than ``read_bytes`` (unless one
    pair alone is)."""
    spans: dict[tuple[str, str], list[tuple[int, int, int]]] = collections.defaultdict(list)  # (start, end, position)
    locs: dict[str, Location] = {}
    for i in positions:
        pair = selection.pairs[i]
        per: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
        for name in asset_names(pair):
            ref = pair.asset(name).shard
            loc, key = _where(selection.location, ref.href)
            locs[loc.url] = loc
            per[(loc.url, key)] += [ref.offset, ref.offset + ref.size]
        for k, v in per.items():  # a pair's members in one shard: one span (they are neighbours)
            spans[k].append((min(v), max(v), i))
    reads: list[Read] = []
    for (url, key) in sorted(spans):
        cur: list[tuple[int, int, int]] = []
        for span in sorted(spans[(url, key)]):
            if cur and (span[0] - max(e for _, e, _ in cur) > max_gap or span[1] - cur[0][0] > read_bytes):
                reads.append(_read(locs[url], key, cur))
                cur = []
            cur.append(span)
        if cur:
            reads.append(_read(locs[url], key, cur))
    return reads


def _read(loc: Location, key: str, spans: list[tuple[int, int, int]]) -> Read:
    start, end = spans[0][0], max(e for _, e, _ in spans)
    return Read(loc, key, start, end - start, tuple(dict.fromkeys(i for _, _, i in spans)))


class ShardReader(Reader):
    """A :class:`Reader` whose bytes come from shard members: from a read already in memory
    (:meth:`hold`), else (random access) one ranged GET of the member."""

    def __init__(self, location: Location, *, verify: bool = True) -> None:
        super().__init__(location, verify=verify)
        self._held: dict[tuple[str, str], memoryview] = {}
        self._lock = threading.Lock()

    def hold(self, pair: Pair, data: memoryview, start: int) -> None:
        with self._lock:
            for name in asset_names(pair):
                ref = pair.asset(name).shard
                self._held[(pair.id, name)] = data[ref.offset - start: ref.offset - start + ref.size]

    def read(self, pair: Pair, name: str, report: Report | None = None) -> bytes:
        ref = pair.asset(name).shard
        with self._lock:
            view = self._held.pop((pair.id, name), None)
        if view is not None:
            data = bytes(view)
        else:
            loc, key = _where(self.location, ref.href)
            data = bytes(fetch.get_asset(loc, key, pair, name, report, start=ref.offset, length=ref.size))
        if len(data) != ref.size:
            raise AssetError(Problem(pair.id, name, "read", f"{len(data)} bytes of the member's {ref.size} read from {ref.href}"))
        if self.verify and not fetch.checksum_ok(data, ref.checksum):
            raise AssetError(Problem(pair.id, name, "checksum", f"{ref.href} bytes {ref.offset}-{ref.offset + ref.size - 1}: sha256 differs from file:checksum {ref.checksum}"))
        return data


def rank_positions(selection: Any, *, seed: int | None, epoch: int, rank: int, world_size: int, drop_remainder: bool = False) -> list[int]:
    """The positions rank ``rank`` reads (whole shards; cut to the smallest rank's count with ``drop_remainder``)."""
    if world_size < 1 or not (0 <= rank < world_size):
        raise ConfigError(f"shard rank={rank}/{world_size}", fix="use 0 <= rank < world_size")
    parts = deal(_groups(selection), seed=seed, epoch=epoch, streams=world_size, salt=1)
    if drop_remainder:  # equal steps on every rank
        n = min(len(p) for p in parts)
        parts = [p[:n] for p in parts]
    return parts[rank]


def stream_positions(selection: Any, *, seed: int | None, epoch: int, rank: int, world_size: int, worker: int, num_workers: int,
                     drop_remainder: bool = False) -> list[int]:
    """The selection positions one DataLoader worker of one rank reads, in shard order: the
    shards are dealt to the ranks, then each rank's to its workers, so a rank's share does not
    depend on its number of workers."""
    if num_workers < 1 or not (0 <= worker < num_workers):
        raise ConfigError(f"shard worker={worker}/{num_workers}", fix="use 0 <= worker < num_workers")
    mine = rank_positions(selection, seed=seed, epoch=epoch, rank=rank, world_size=world_size, drop_remainder=drop_remainder)
    groups: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    every = _groups(selection)
    where = {i: k for k, v in every.items() for i in v}
    for i in mine:
        groups[where[i]].append(i)
    return deal(groups, seed=seed, epoch=epoch, streams=num_workers, salt=2 + rank)[worker]


def iter_shard_samples(selection: Any, positions: list[int], *, seed: int | None, epoch: int, stream: int, values: str = "uint8",
                       threads: int = 8, prefetch: int = 16, verify: bool = True, on_error: fetch.OnError = "skip",
                       report: Report | None = None, give_up_after: int = fetch.GIVE_UP_AFTER, read_mb: float = READ_MB,
                       read_ahead: int = 1, shuffle_buffer: int = 64) -> Iterator[dict[str, Any]]:
    """Samples of the pairs at ``positions``, read shard by shard (see the module's docstring)."""
    if read_mb <= 0 or read_ahead < 0 or shuffle_buffer < 0:
        raise ConfigError(f"read_mb={read_mb}, read_ahead={read_ahead}, shuffle_buffer={shuffle_buffer}",
                          fix="use read_mb > 0, read_ahead >= 0 and shuffle_buffer >= 0")
    reads = plan_reads(selection, positions, read_bytes=int(read_mb * 2**20))
    reader = ShardReader(selection.location, verify=verify)
    report = report if report is not None else Report()
    rng = np.random.default_rng([int(seed), int(epoch), int(stream)]) if seed is not None else None
    failed_reads: dict[int, Problem] = {}

    def get(r: Read) -> bytes | Problem:
        try:
            data = r.loc.get(r.key, start=r.start, length=r.length)
        except Missing as exc:
            return Problem(selection.pairs[r.pairs[0]].id, "shard", "missing", str(exc).split(". Fix:")[0])
        except StoreError as exc:
            return Problem(selection.pairs[r.pairs[0]].id, "shard", "read", str(exc).split(". Fix:")[0])
        with report._lock:
            report.fetched += 1
        return data

    def pairs() -> Iterator[Pair]:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sen12stac-shard")
        ahead: collections.deque = collections.deque()
        it = iter(reads)
        try:
            for r in it:  # in memory at once: the read being consumed and up to ``read_ahead`` more
                ahead.append((r, pool.submit(get, r)))
                if len(ahead) >= max(1, read_ahead):
                    break
            while ahead:
                r, fut = ahead.popleft()
                nxt = next(it, None) if read_ahead else None
                if nxt is not None:
                    ahead.append((nxt, pool.submit(get, nxt)))
                data = fut.result()
                order = list(r.pairs)
                if rng is not None:
                    order = [order[i] for i in rng.permutation(len(order))]
                if isinstance(data, Problem):
                    for i in order:  # every pair of a failed read: its own problem, as on the per-file path
                        failed_reads[id(selection.pairs[i])] = Problem(selection.pairs[i].id, data.asset, data.kind, data.detail)
                        yield selection.pairs[i]
                    continue
                view = memoryview(data)
                for i in order:
                    reader.hold(selection.pairs[i], view, r.start)
                    yield selection.pairs[i]
                del view, data
                if not read_ahead and not ahead:  # no read ahead: the next one only now
                    nxt = next(it, None)
                    if nxt is not None:
                        ahead.append((nxt, pool.submit(get, nxt)))
        finally:
            for _, fut in ahead:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    class _Failing(ShardReader):
        def read(self, pair: Pair, name: str, rep: Report | None = None) -> bytes:
            problem = failed_reads.pop(id(pair), None) if name == asset_names(pair)[0] else None
            if problem is not None:
                raise AssetError(Problem(pair.id, name, problem.kind, problem.detail))
            return reader.read(pair, name, rep)

    front = _Failing(selection.location, verify=verify)
    samples = fetch.iter_samples(pairs(), front, values=values, threads=threads, prefetch=prefetch, on_error=on_error,
                                 report=report, give_up_after=give_up_after)
    if rng is None or shuffle_buffer <= 1:
        yield from samples
        return
    buf: list[dict[str, Any]] = []
    for sample in samples:
        buf.append(sample)
        if len(buf) >= shuffle_buffer:
            j = int(rng.integers(len(buf)))
            buf[j], buf[-1] = buf[-1], buf[j]
            yield buf.pop()
    while buf:
        j = int(rng.integers(len(buf)))
        buf[j], buf[-1] = buf[-1], buf[j]
        yield buf.pop()
