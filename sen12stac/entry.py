"""The ``sen12stac`` command's entry point. The command line's modules are imported inside it,
so that a Ctrl-C while they load (the first second or two) ends the command as one later does
-- one line, exit 130 -- and not with a traceback of whatever import it landed in."""
from __future__ import annotations

import sys


def main() -> None:
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        import shlex

        again = shlex.join(["sen12stac", *sys.argv[1:]])
        print(f"interrupted: nothing was done yet; to resume, run: {again}", file=sys.stderr)
        sys.exit(130)
    run()
