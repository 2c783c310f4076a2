"""Pausing Python's cyclic garbage collector around bulk work that makes no reference cycles.

Building many small acyclic objects (item dicts, pgstac rows, patch records) triggers the
collector over and over, and each pass rescans everything alive, the process's libraries and
layers included: a third of the catalog writer's ``add_scene``, more than half of the API
loader's row formatting, about 0.2 ms per pair in a scene (bench/results/catalog.md,
docs/api.md, bench/profile_build.py). Reference counting frees those objects; whatever
cycles the work leaves are taken by the next collection once the block ends.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the block, back on after it (also on an error); a no-op when it
    is off already (nested blocks, or a caller that turned it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
