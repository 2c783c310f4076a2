"""The one bounded thread pool for object I/O (publish, verify, download): at most ``2*workers``
tasks in flight, so memory stays flat however many objects a release holds."""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded(fn: Callable[[T], R], items: Iterable[T], workers: int, on_result: Callable[[R], None], *, name: str = "sen12stac") -> None:
    """Run ``fn`` over ``items`` on ``workers`` threads with at most ``2*workers`` tasks in
    flight (bounded memory: each task holds one object). The first error, raised by a task or by
    ``on_result``, stops submission; in-flight tasks finish; then it is raised. Results come in
    the order tasks finish."""
    it = iter(items)
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        inflight: set[Future] = set()
        while True:
            while error is None and len(inflight) < 2 * workers:
                try:
                    item = next(it)
                except StopIteration:
                    break
                inflight.add(pool.submit(fn, item))
            if not inflight:
                break
            done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in done:
                exc = fut.exception()
                if exc is not None:
                    error = error or exc
                elif error is None:
                    try:
                        on_result(fut.result())
                    except BaseException as stop:  # noqa: BLE001 -- the caller's own stop: no new task, then raised
                        error = stop
    if error is not None:
        raise error
