#!/usr/bin/env python3
"""Convert real-sample clips into the ``local`` source folder layout.

    python scripts/real_samples_to_local.py [--src tests/data/real] --out local-scenes [--link]

``--src`` defaults to the clips carried in the repository (tests/data/real: Sen1Floods11 and
BigEarthNet); ``--src ../shared/real-samples`` (the full collection, where it exists) adds the
two SEN12MS-CR pairs.

Writes one folder per scene (``<out>/<scene>/scene.json`` plus the rasters it names):

- ``sen1floods11_spain_7370579``: the Sen1Floods11 Spain pair (EPSG:4326, S2 13-band int16 L1C);
- ``sen12mscr_rois1970_fall_139_p839``, ``sen12mscr_rois2017_winter_112_p797``: the two
  SEN12MS-CR pairs with the cloud-free S2 (UTM, 13-band uint16 L1C);
- ``bigearthnet_<tile>_<x>_<y>``: the six BigEarthNet pairs (VV and VH files, one file per S2 L2A
  band at 10/20/60 m: every band present, so the scenes build under ``--recipe v1`` and ``v2``). Their
  CORINE multi-labels are patch-level, not a pixel map: they go in ``source_labels`` (published as
  ``sen12:source_labels``) and the sidecar declares no label raster.

Sidecars carry what is known: dates and platform from file names and the BigEarthNet metadata
JSONs, relative orbits from S1 absolute orbit numbers (S1A: (abs - 73) mod 175 + 1) and S2 product
names (R022), S1 orbit direction from the local solar time of the pass (S1 is a dawn-dusk orbit:
descending near 06:00, ascending near 18:00), "unknown" otherwise. Rasters are copied byte for byte
(or symlinked with ``--link``); nothing is resampled.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

SEASON_WINDOWS = {  # the SEN1-2 / SEN12MS season windows (Schmitt et al. 2018, 2019)
    "spring": ("2017-03-01", "2017-05-30"),
    "summer": ("2017-06-01", "2017-08-31"),
    "fall": ("2017-09-01", "2017-11-30"),
    "winter": ("2016-12-01", "2017-02-28"),
}
MONTH_SEASON = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
                6: "summer", 7: "summer", 8: "summer", 9: "fall", 10: "fall", 11: "fall"}


def s1_relative_orbit(product_id: str) -> int:
    """Relative orbit of an S1 product from the absolute orbit in its name (ESA mission performance centre formula)."""
    m = re.match(r"S1([AB])_\w{2}_\w{4}_\w{4}_\d{8}T\d{6}_\d{8}T\d{6}_(\d{6})_", product_id)
    if not m:
        raise ValueError(f"not a Sentinel-1 product id: {product_id}")
    absolute = int(m.group(2))
    return (absolute - (73 if m.group(1) == "A" else 27)) % 175 + 1


def s1_orbit_state(utc: datetime, lon: float) -> str:
    """Ascending or descending from local solar time: S1 crosses near 06:00 (desc) and 18:00 (asc)."""
    solar_hour = (utc.hour + utc.minute / 60.0 + lon / 15.0) % 24.0
    return "descending" if solar_hour < 12.0 else "ascending"


def _place(src: Path, dst: Path, link: bool) -> str:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if link:
        dst.symlink_to(src.resolve())
    else:
        shutil.copyfile(src, dst)
    return dst.name


def _write(folder: Path, sidecar: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scene.json"
    path.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return path


def _sen1floods11(src: Path, out: Path, link: bool) -> Path:
    base = src / "sen1floods11"
    folder = out / "sen1floods11_spain_7370579"
    s1 = _place(base / "Spain_7370579_S1Hand.tif", folder / "Spain_7370579_S1Hand.tif", link)
    s2 = _place(base / "Spain_7370579_S2Hand.tif", folder / "Spain_7370579_S2Hand.tif", link)
    return _write(folder, {
        "season": "fall",
        "source": "Sen1Floods11 (Bonafilia et al. 2020, CC BY 4.0), cloudtostreet/Sen1Floods11@b9e460d sample/S1,S2 Spain_7370579",
        "notes": "Segura flood, Sep 2019: outside the paper's 2017 windows; season set from the month. EPSG:4326 grid, reprojected to UTM by the local source.",
        "s1": {
            "file": s1, "bands": {"VV": 1}, "units": "db",
            "datetime": "2019-09-17",  # date known, time of day not in the file
            "platform": "unknown", "orbit_state": "descending", "relative_orbit": 110,
            "product_ids": [],
        },
        "s2": {
            "file": s2, "bands": {"B04": 4, "B03": 3, "B02": 2},
            "datetime": "2019-09-18", "platform": "unknown", "processing_level": "L1C",
            "cloud_cover": "unknown", "product_ids": [], "scale": 1, "nodata": 0,
        },
    })


def _sen12mscr(src: Path, out: Path, link: bool) -> list[Path]:
    base = src / "sen12ms-cr"
    written = []
    for f in sorted((base / "s1").glob("ROIs*_*_*_p*.tif")):
        m = re.fullmatch(r"ROIs(\d+)_(\w+?)_(\d+)_p(\d+)\.tif", f.name)
        if not m:
            continue
        season, scene = m.group(2), int(m.group(3))
        start, end = SEASON_WINDOWS[season]
        folder = out / f"sen12mscr_{f.stem.lower()}"
        s1 = _place(f, folder / f"s1_{f.name}", link)
        s2 = _place(base / "s2_cloudfree" / f.name, folder / f"s2_cloudfree_{f.name}", link)
        when = {"datetime": "unknown", "start_datetime": start, "end_datetime": end}
        written.append(_write(folder, {
            "season": season,
            "index": scene,  # the SEN12MS scene number from the file name (ROIs<seed>_<season>_<scene>_p<patch>)
            "source": f"SEN12MS-CR (Ebel et al. 2020), xufangchn/GLF-CR@d55611a data/s1, data/s2_cloudfree {f.name}",
            "notes": "exact acquisition dates are not in the files; start/end are the season window of the ROI set name. One 256x256 patch, not a whole scene.",
            "s1": {"file": s1, "bands": {"VV": 1}, "units": "db", **when,
                   "platform": "unknown", "orbit_state": "unknown", "relative_orbit": "unknown", "product_ids": []},
            "s2": {"file": s2, "bands": {"B04": 4, "B03": 3, "B02": 2}, **when,
                   "platform": "unknown", "processing_level": "L1C", "cloud_cover": "unknown", "product_ids": [], "scale": 1},
        }))
    return written


def _bigearthnet(src: Path, out: Path, link: bool) -> list[Path]:
    base = src / "bigearthnet"
    written = []
    for s1_dir in sorted((base / "BigEarthNet-S1-Example").iterdir()):
        if not s1_dir.is_dir():
            continue
        meta1 = json.loads((s1_dir / f"{s1_dir.name}_labels_metadata.json").read_text())
        s2_name = meta1["corresponding_s2_patch"]
        s2_dir = base / "BigEarthNet-S2-Example" / s2_name
        meta2 = json.loads((s2_dir / f"{s2_name}_labels_metadata.json").read_text())
        tile_xy = re.search(r"_(\d{2}[A-Z]{3}_\d+_\d+)$", s1_dir.name).group(1)  # type: ignore[union-attr]
        folder = out / f"bigearthnet_{tile_xy.lower()}"

        s1_time = datetime.fromisoformat(meta1["acquisition_time"])
        s2_time = datetime.fromisoformat(meta2["acquisition_date"].replace(" ", "T"))
        # the patch centre longitude, for the local solar time of the S1 pass
        c = meta1["coordinates"]
        lon = _utm_centre_lon(meta1["projection"], (c["ulx"] + c["lrx"]) / 2, (c["uly"] + c.get("lry", c.get("lly"))) / 2)
        s1_pid = meta1["scene_source"]
        s2_pid = meta2["tile_source"].removesuffix(".SAFE")
        r = re.search(r"_R(\d{3})_", s2_pid)
        s1_files = {p: _place(s1_dir / f"{s1_dir.name}_{p}.tif", folder / f"{s1_dir.name}_{p}.tif", link)
                    for p in ("VV", "VH") if (s1_dir / f"{s1_dir.name}_{p}.tif").is_file()}
        files = {b: _place(s2_dir / f"{s2_name}_{b}.tif", folder / f"{s2_name}_{b}.tif", link) for b in BEN_S2_BANDS
                 if b in ("B04", "B03", "B02") or (s2_dir / f"{s2_name}_{b}.tif").is_file()}
        written.append(_write(folder, {
            "season": MONTH_SEASON[s2_time.month],
            "source": f"BigEarthNet v1.0 (Sumbul et al. 2019, CDLA-Permissive-1.0), kai-tub/bigearthnet_common@2010779 examples {s1_dir.name} + {s2_name}",
            "notes": "S1 orbit_state derived from the local solar time of the pass; relative orbits from the product names. "
                     "S2 is L2A (sen2cor surface reflectance), not L1C TOA. One 120x120 patch, not a whole scene.",
            "source_labels": list(meta2["labels"]),  # CORINE (BigEarthNet v1 43-class) names of the whole patch
            "s1": {
                "files": s1_files, "units": "db",
                "datetime": s1_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "platform": "sentinel-1" + s1_pid[2].lower(),
                "orbit_state": s1_orbit_state(s1_time, lon),
                "relative_orbit": s1_relative_orbit(s1_pid),
                "product_ids": [s1_pid],
            },
            "s2": {
                "files": files,
                "datetime": s2_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "platform": "sentinel-2" + s2_pid[2].lower(),
                "orbit_state": "descending",  # S2 images on its descending (day-side) pass
                "relative_orbit": int(r.group(1)) if r else "unknown",
                "processing_level": "L2A", "cloud_cover": "unknown",  # sen2cor on baseline 02.xx: no BOA offset
                "product_ids": [s2_pid],  # the L1C product BigEarthNet's L2A was made from, as BigEarthNet records it
                "scale": 1,
            },
        }))
    return written


BEN_S2_BANDS = ("B04", "B03", "B02", "B01", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")


def _utm_centre_lon(wkt: str, x: float, y: float) -> float:
    from pyproj import Transformer

    lon, _ = Transformer.from_crs(wkt, "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon)


def convert(src: Path, out: Path, *, link: bool = False) -> list[Path]:
    """Write the local-source folders for every real sample pair; return the sidecar paths."""
    src, out = Path(src), Path(out)
    if not (src / "manifest.json").is_file():
        raise FileNotFoundError(f"{src} is not the real-samples folder (no manifest.json); pass --src tests/data/real or ../shared/real-samples")
    out.mkdir(parents=True, exist_ok=True)
    return [_sen1floods11(src, out, link), *_sen12mscr(src, out, link), *_bigearthnet(src, out, link)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "data" / "real")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--link", action="store_true", help="symlink the rasters instead of copying them")
    args = ap.parse_args(argv)
    try:
        paths = convert(args.src, args.out, link=args.link)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    print(f"{len(paths)} scenes written under {args.out}; build with: sen12stac build --source local --source-path {args.out} --out OUT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
