"""The Dask settings a build runs with: one definition for the LocalCluster a build starts and
for the scheduler and workers of a cluster someone else starts (``infra/dask/sen12stac.yaml``,
rendered from :data:`SETTINGS` by ``scripts/make_infra.py``; point ``DASK_CONFIG`` at
``infra/dask`` or copy the file into ``~/.config/dask``).

A scene task keeps one core busy for seconds, so Dask's own bookkeeping is what competes with
it: with its defaults every scheduler, worker and client process wakes 50 times a second for an
event-loop watchdog, samples the system twice a second and the worker's stack a hundred times a
second for the dashboard, and checks memory ten times a second. On this 2-core machine that was
0.5 s of CPU per worker and 0.7 s in the client process every 20 s of a 2-worker build, all of it
taken from the workers (with one worker it runs on the idle core): 5-6 % of the machine, the gap
between two workers' 1.75x and the machine's own 1.9x (docs/scale.md). The scheduler gives a
worker one scene at a time, and workers import the pipeline when they start. Nothing here
changes what is computed; no dashboard is served (the build prints its own progress).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

SETTINGS: dict[str, Any] = {
    "distributed": {
        "admin": {
            # the event-loop watchdog (default every 20 ms); still warns when a loop blocks for 3 s
            "tick": {"interval": "1s"},
            # psutil samples of CPU, memory, disk and network for the dashboard (default 500 ms)
            "system-monitor": {"interval": "5s"},
        },
        "scheduler": {
            # a worker holds only the scene it runs (default 1.1: one more waiting), so when the
            # scenes run out no worker idles while another still has two to do
            "worker-saturation": 1.0,
        },
        "worker": {
            # import the pipeline (numpy, rasterio, GDAL's drivers, the sources) when the worker
            # starts rather than inside its first scene: about 1.4 s a worker, which a cluster
            # started ahead of the build no longer charges to it
            "preload": ["sen12stac.pipeline"],
            # the statistical profiler behind the dashboard's profile page (default: every 10 ms)
            "profile": {"enabled": False},
            # the memory manager's check for spilling, pausing and the 95 % kill (default 100 ms);
            # a scene's memory grows over seconds
            "memory": {"monitor-interval": "1s"},
        },
    }
}


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flat(value, name))
        else:
            out[name] = value
    return out


def flat_settings() -> dict[str, Any]:
    """:data:`SETTINGS` as dotted keys (``dask.config.set`` takes them)."""
    return _flat(SETTINGS)


@contextmanager
def build_settings(*, local_cluster: bool) -> Iterator[None]:
    """The settings in force while a build creates its Dask client (and its LocalCluster, whose
    worker processes inherit them from their nanny)."""
    import dask

    values = flat_settings()
    if local_cluster:
        # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers; setting it at all freezes glibc's
        # mmap threshold at 128 KiB, so every strip-sized numpy buffer is mmapped and unmapped
        # again: measured 2.3x slower scenes (30x the page faults, mostly system time). Keep the
        # thread caps, drop the malloc override.
        environ = dask.config.get("distributed.nanny.pre-spawn-environ", {})
        values["distributed.nanny.pre-spawn-environ"] = {k: v for k, v in environ.items() if not k.startswith("MALLOC_")}
    with dask.config.set(values):
        yield
