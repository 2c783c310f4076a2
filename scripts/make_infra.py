"""Render infra/ from sen12stac/infra/ (the one definition): the CloudFormation template
infra/bucket.yaml and the plain JSON files beside it; and infra/dask/sen12stac.yaml, the Dask
settings for a cluster's scheduler and workers, from sen12stac/runtime/daskconfig.py. tests/test_infra.py re-renders and
compares, so edit sen12stac/infra/bucket.py and run `make infra` (this script), never the files.

    .venv/bin/python scripts/make_infra.py [--check]
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from sen12stac import infra
from sen12stac.runtime import daskconfig

INFRA = Path(__file__).resolve().parents[1] / "infra"
HEADER = "# Generated from sen12stac/infra/ by scripts/make_infra.py -- do not edit; see infra/README.md.\n"


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str):
    style = ">" if len(value) > 100 else None  # long descriptions folded, the rest plain
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def rendered() -> dict[str, str]:
    files = {name: infra.dumps(doc) for name, doc in infra.plain_files().items()}
    files["bucket.yaml"] = HEADER + yaml.dump(infra.cloudformation_template(), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    files["dask/sen12stac.yaml"] = (
        "# Generated from sen12stac/runtime/daskconfig.py by scripts/make_infra.py -- do not edit.\n"
        "# The Dask settings a build's own LocalCluster uses, for a scheduler and workers you start:\n"
        "#   DASK_CONFIG=infra/dask dask scheduler ...   and   DASK_CONFIG=infra/dask dask worker ...\n"
        "# (or copy this file into ~/.config/dask/). Why each one: sen12stac/runtime/daskconfig.py.\n"
        + yaml.dump(daskconfig.SETTINGS, Dumper=_Dumper, sort_keys=False, width=100)
    )
    return files


def main(argv: list[str]) -> int:
    files = rendered()
    if "--check" in argv:
        stale = [n for n, text in files.items() if not (INFRA / n).exists() or (INFRA / n).read_text() != text]
        if stale:
            print(f"infra/ is stale: {', '.join(stale)}; run .venv/bin/python scripts/make_infra.py", file=sys.stderr)
            return 1
        return 0
    for name, text in files.items():
        (INFRA / name).parent.mkdir(parents=True, exist_ok=True)
        (INFRA / name).write_text(text)
        print(f"wrote infra/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
