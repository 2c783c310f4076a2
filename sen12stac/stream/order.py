"""Deterministic order per (seed, epoch) and sharding over ranks and DataLoader workers.

Every shard takes every ``n``-th position of the same permutation, starting at its own
offset, so the shards of one epoch are disjoint and together cover every pair exactly once;
sizes differ by at most one (``drop_remainder`` cuts the permutation to a multiple of the
shard count, for distributed training that needs equal steps per rank).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def epoch_order(n: int, *, seed: int | None, epoch: int = 0) -> np.ndarray:
    """Positions ``0..n-1``: a permutation fixed by ``(seed, epoch)``; ``seed=None``: in order."""
    if seed is None:
        return np.arange(n)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def shard(order: np.ndarray, *, rank: int = 0, world_size: int = 1, worker: int = 0, num_workers: int = 1, drop_remainder: bool = False) -> np.ndarray:
    """The part of ``order`` that worker ``worker`` of rank ``rank`` reads."""
    if world_size < 1 or num_workers < 1 or not (0 <= rank < world_size) or not (0 <= worker < num_workers):
        raise ConfigError(f"shard rank={rank}/{world_size}, worker={worker}/{num_workers}", fix="use 0 <= rank < world_size and 0 <= worker < num_workers")
    shards = world_size * num_workers
    if drop_remainder:
        order = order[: len(order) - len(order) % shards]
    return order[rank * num_workers + worker :: shards]
