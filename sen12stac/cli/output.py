"""What the commands print: the two consoles, one-line errors and their exit codes, progress
(a live bar on a terminal, plain lines in a log), the build's first line and its summary table."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any, Callable, Iterator

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import exit_code_for

console = Console(stderr=True)  # progress, warnings, errors
out = Console(soft_wrap=True)  # results; paths and hints stay whole in logs and pipes (a terminal wraps them itself)


def log_warnings_as_lines() -> None:
    """The library's warnings (``sen12stac`` loggers: an out-of-season sidecar, a rollback that
    left an object) as one plain ``warning: ...`` line each on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("sen12stac")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def error_line(message: str) -> None:
    """``error: ...`` on one line, never hard-wrapped (a log keeps paths whole; a terminal wraps it softly)."""
    console.print("[bold red]error:[/] " + escape(" ".join(message.split("\n"))), highlight=False, markup=True, soft_wrap=True)


def interrupted(state: str) -> None:
    """Ctrl-C: one line saying what state things are in and the command that resumes; exit 130."""
    import shlex

    global reported_interrupt
    again = shlex.join(["sen12stac", *sys.argv[1:]])
    console.print(f"interrupted: {state}; to resume, run: {again}", highlight=False, markup=False, soft_wrap=True)
    reported_interrupt = True
    raise typer.Exit(130)


reported_interrupt = False  # a command said what its Ctrl-C left (main says it otherwise)


def fail(exc: BaseException) -> None:
    """Report ``exc`` as one line (plus its list of problems, if any) and exit with its code."""
    error_line(str(exc))
    problems = getattr(exc, "problems", None)
    if problems:
        for p in problems[:200]:
            console.print(f"  - {p}", highlight=False, markup=False, soft_wrap=True)
        if len(problems) > 200:
            console.print(f"  ... and {len(problems) - 200} more", highlight=False)
    raise typer.Exit(exit_code_for(exc))


def say(line: str) -> None:
    """A line of the command's report on stdout, as it is (never wrapped or styled), flushed."""
    out.print(line, soft_wrap=True, markup=False, highlight=False)
    out.file.flush()


def plain(line: str) -> None:
    """A line for a log: to stderr as it is, flushed."""
    print(line, file=sys.stderr, flush=True)


# -- a build ------------------------------------------------------------------------------


@contextlib.contextmanager
def build_progress(config: Any, interval: float) -> Iterator[Callable[[str, dict], None]]:
    """The pipeline's progress callback for a build of ``config``: first one line on stdout saying
    how much work the run is (when the build has planned its scenes; stdout, with the summary at
    the end, so stderr stays progress and errors), then a live bar on a terminal or a
    ``progress:`` line every ``interval`` seconds in a log."""
    from ..estimate import estimate

    def work_line(scenes: int) -> str:
        line = "this build: " + estimate(config, scenes=scenes, cores=os.cpu_count()).line()
        if config.source in ("stac", "earthengine"):
            line += ", plus the source's downloads"
        if config.scenes_per_season is None:
            line += " (every ROI of each season; --scenes-per-season N runs fewer)"
        return line

    if not console.is_terminal:  # a log (CI, nohup, a redirect): plain lines at a steady interval
        from ..runtime.progress import ProgressLines

        with ProgressLines(plain, interval) as lines:
            def on_line(event: str, data: dict) -> None:
                if event == "plan":
                    say(work_line(int(data["total"])))
                lines.on(event, data)

            yield on_line
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=console, transient=False) as bar:
        task = bar.add_task("scenes", total=None, last="")
        failed = [0]

        def on(event: str, data: dict) -> None:
            if event == "plan":
                say(work_line(int(data["total"])))  # above the bar (rich's live display takes stdout's lines)
                bar.update(task, total=data["total"])
            elif event == "cluster":
                n = data["workers"]
                bar.update(task, description=f"scenes on {n} worker{'s' if n != 1 else ''}" if n else "scenes (in this process)")
            elif event == "scene":
                s = data["scene"]
                if s["status"] == "failed":  # reported as it happens; the run goes on, a rerun retries it
                    failed[0] += 1
                    bar.console.print(f"failed {s['scene_id']}: {s['message']}", soft_wrap=True, markup=False, highlight=False)
                extra = f", {failed[0]} failed so far" if failed[0] else ""
                bar.update(task, advance=1, last=f"{s['scene_id']}: {s['status']} ({s['patches']} pairs){extra}")
            elif event == "stage":
                bar.update(task, last=f"writing {data['name']}")

        yield on


def print_summary(summary: Any, where: str) -> None:
    """The paper's counts per season, rejections, failures, network cost and the totals."""
    t = Table(title="SEN1-2 build summary (the paper's counts)", show_lines=False, padding=(0, 0))
    width = max([len(n) for n in summary.seasons] + [3])
    t.add_column("set", justify="left", no_wrap=True, min_width=width)  # set names whole, even at 80 columns
    for col in ("ROIs sampled", "kept", "run", "with data", "scene QC ok", "patch positions", "patch QC ok", "MB"):
        t.add_column(col, justify="right")
    for name, c in summary.seasons.items():
        t.add_row(name, str(c.rois_sampled), str(c.rois_kept), str(c.rois_processed), str(c.rois_with_data), str(c.scenes_accepted), str(c.patch_positions), str(c.patches_published), f"{c.bytes_written / 1e6:.1f}")
    out.print(t)
    for name, c in summary.seasons.items():
        if c.scene_rejections or c.patch_rejections or c.scenes_failed:
            out.print(f"{name}: scenes rejected by {dict(c.scene_rejections) or '-'}; patches rejected by {dict(c.patch_rejections) or '-'}; failed scenes {c.scenes_failed}", soft_wrap=True, markup=False, highlight=False)
    out.print("ROIs kept: no overlap with an earlier one; run: up to --scenes-per-season; with data: S1 and S2 found; "
              "patch positions: in scenes past scene QC; patch QC ok: published pairs", soft_wrap=True, highlight=False)
    for s in summary.scenes:
        if s["status"] == "failed":
            out.print(f"failed {s['scene_id']}: {s['message']}", soft_wrap=True, markup=False, highlight=False)
    req = summary.requests
    if req:
        gdal = "not measurable here" if req.get("range_reads") is None else f"{req['range_reads']} range reads, {(req.get('bytes_read') or 0) / 1e6:.1f} MB read"
        out.print(f"network: {req['searches']} STAC API requests ({req['search_bytes'] / 1e3:.0f} kB), {gdal} (per scene: build-summary.json)", soft_wrap=True, highlight=False)
    rate = summary.patches_published / summary.seconds if summary.seconds else 0.0
    out.print(f"{summary.patches_published} patch pairs, {summary.bytes_written / 1e6:.1f} MB in {summary.seconds:.1f} s ({rate:.1f} pairs/s) -> {where}", soft_wrap=True, markup=False, highlight=False)


# -- a publish ----------------------------------------------------------------------------


@contextlib.contextmanager
def publish_progress(version: str, interval: float) -> Iterator[Callable[[int, int], None]]:
    """``progress(done, total)`` for a publish: a bar on a terminal, ``publish X: ...`` lines in a log."""
    if not console.is_terminal:
        from ..runtime.progress import PublishLines

        with PublishLines(version, plain, interval) as lines:
            yield lines.on
        return
    with Progress(TextColumn("[bold]publish {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(version, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextlib.contextmanager
def count_progress(label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """``progress(done, total)`` for a bar counting to ``total`` (a download)."""
    with Progress(TextColumn(f"[bold]{escape(label)}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, _total: bar.update(task, completed=done)
