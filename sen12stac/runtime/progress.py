"""Progress for logs: one plain line at a steady interval while a build runs.

A terminal gets a live bar (sen12stac.cli); a log (CI, ``nohup``, a redirect) gets nothing from a bar
until the end, so :class:`ProgressLines` prints lines such as

    progress: scenes 3/12, 1,084 pairs, 24.1 pairs/s, 41 s elapsed, ETA 2 min 03 s

every ``interval`` seconds from a timer thread (also while a long scene runs), and once more
when the build ends. Pure bookkeeping plus one ``write`` callable: no terminal handling here.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``"1 min 15 s"``; ``3725`` -> ``"1 h 02 min"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def progress_line(done: int, total: int | None, pairs: int, elapsed: float, failed: int = 0, stage: str | None = None) -> str:
    """One self-contained line: scenes done/total, pairs, pairs/s, elapsed, ETA (from the
    scene rate; unknown before the first scene finishes)."""
    rate = pairs / elapsed if elapsed > 0 else 0.0
    parts = [f"scenes {done}/{total if total is not None else '?'}", f"{pairs:,} pairs", f"{rate:.1f} pairs/s", f"{format_duration(elapsed)} elapsed"]
    if failed:
        parts.append(f"{failed} failed")
    if total is not None and done >= total:
        parts.append(f"writing the {stage}" if stage else "scenes done")
    elif total and done:
        parts.append("ETA " + format_duration(elapsed / done * (total - done)))
    else:
        parts.append("ETA unknown")
    return "progress: " + ", ".join(parts)


class _Periodic:
    """Writes ``self.line()`` every ``interval`` seconds from a timer thread, and once at exit
    (not when the exit is an interrupt, nor on an error before the work :meth:`started`)."""

    def __init__(self, write: Callable[[str], None], interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.interval = float(interval)
        self.clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write(self.line())

    def __enter__(self):
        self._t0 = self.clock()
        self._thread = threading.Thread(target=self._run, name="sen12stac-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if exc_type is None or (not issubclass(exc_type, KeyboardInterrupt) and self.started()):  # Ctrl-C: its own line says it all
            self.write(self.line())

    def started(self) -> bool:
        """Whether the work got far enough for a last line on an error to tell something."""
        return True


class ProgressLines(_Periodic):
    """Counts build events and writes :func:`progress_line` every ``interval`` seconds.

    Use as a context manager; feed it the pipeline's progress events with :meth:`on`."""

    def __init__(self, write: Callable[[str], None], interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(write, interval, clock)
        self.total: int | None = None
        self.done = 0
        self.pairs = 0
        self.failed = 0
        self.stage: str | None = None

    def on(self, event: str, data: dict) -> None:
        with self._lock:
            if event == "plan":
                self.total = int(data["total"])
            elif event == "scene":
                self.done += 1
                self.pairs += int(data["scene"].get("patches", 0))
                self.failed += data["scene"].get("status") == "failed"
            elif event == "stage":
                self.stage = str(data["name"])

    def started(self) -> bool:
        return self.total is not None  # an error before the plan (a refused folder): its own line says it all

    def line(self) -> str:
        with self._lock:
            return progress_line(self.done, self.total, self.pairs, self.clock() - self._t0, self.failed, self.stage)


class PublishLines(_Periodic):
    """The same for a publish: ``publish 1.0.0: objects 1,200/3,248, 119.0 objects/s, ETA 17 s``."""

    def __init__(self, version: str, write: Callable[[str], None], interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(write, interval, clock)
        self.version = version
        self.done = 0
        self.total: int | None = None

    def on(self, done: int, total: int) -> None:
        with self._lock:
            self.done, self.total = int(done), int(total)

    def line(self) -> str:
        with self._lock:
            elapsed = self.clock() - self._t0
            rate = self.done / elapsed if elapsed > 0 else 0.0
            parts = [f"objects {self.done:,}/{'?' if self.total is None else f'{self.total:,}'}", f"{rate:.1f} objects/s", f"{format_duration(elapsed)} elapsed"]
            if self.total and self.done >= self.total:
                parts.append("uploads done")
            elif self.total and self.done:
                parts.append("ETA " + format_duration(elapsed / self.done * (self.total - self.done)))
            return f"publish {self.version}: " + ", ".join(parts)
