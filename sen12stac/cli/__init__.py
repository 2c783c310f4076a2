"""The command line: parse, read the settings once, call the library, map errors to exit codes.

One module per command group: :mod:`.build` (rois, build, demo), :mod:`.release` (validate,
publish, verify, releases), :mod:`.metadata`, :mod:`.api` (api up/load/serve), :mod:`.browse`, :mod:`.infra`,
:mod:`.data` (download, ee-tasks); :mod:`.settings` reads sen12stac's variables from the
environment (nothing else in sen12stac does) and :mod:`.output` prints. The library never
imports this package.
"""
from __future__ import annotations

import sys

import typer

from ..errors import Sen12StacError
from . import api, browse, build, data, infra, metadata, output, release, review
from .output import console, error_line, fail, log_warnings_as_lines, out
from .settings import Settings

__all__ = ["app", "main"]

# Locals are never shown in a traceback (they may hold credentials), whatever typer's default is.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Publish SAR-optical patch pairs (the SEN1-2 recipe) as COGs with a STAC catalog.")


def _version_callback(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"sen12stac {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="print sen12stac's version and exit"),
) -> None:
    """Publish SAR-optical patch pairs (the SEN1-2 recipe) as COGs with a STAC catalog."""
    try:
        ctx.obj = Settings.load()  # once per run; every command finds it in its context
    except Sen12StacError as exc:
        fail(exc)


for _group in (build, release, review, metadata, data, browse):
    app.add_typer(_group.app)  # their commands, at the top level
app.add_typer(api.app, name="api", rich_help_panel="Use a release")
app.add_typer(infra.app, name="infra", rich_help_panel="Publish")


# Options renamed so that names do not collide (an old script gets the new name, not a near miss)
RENAMED = {
    ("build", "--profile"): "--compression compatible|fast (renamed; --aws-profile is the AWS profile)",
    ("build", "--version"): "--release X.Y.Z (renamed; `sen12stac --version` prints the program's version)",
    ("publish", "--version"): "--release X.Y.Z (renamed; `sen12stac --version` prints the program's version)",
}


def main() -> None:
    """The ``sen12stac`` program (``sen12stac.entry`` calls it once these modules are loaded).
    Errors of the parser are one line too, like every other error, and so is a Ctrl-C."""
    try:
        log_warnings_as_lines()
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # the parser's: a wrong option or value, refused before any work
        if type(exc).__name__ == "NoArgsIsHelpError":  # no arguments: the help was printed (typer tells it by name too)
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        renamed = RENAMED.get((getattr(ctx, "info_name", None), getattr(exc, "option_name", None)))
        fix = f"use {renamed}" if renamed else f"see `{ctx.command_path if ctx is not None else 'sen12stac'} --help`"
        message = f"No such option: {exc.option_name}" if renamed else exc.format_message().rstrip(".")
        error_line(f"{message}. Fix: {fix}")
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:  # outside a command's own handling (which says more): one line too
        code = 130
    if code == 130 and not output.reported_interrupt:  # typer turns a Ctrl-C outside a command's handling into exit 130
        import shlex

        console.print(f"interrupted: nothing was done yet; to resume, run: {shlex.join(['sen12stac', *sys.argv[1:]])}",
                      highlight=False, markup=False, soft_wrap=True)
    sys.exit(code if isinstance(code, int) else 0)
