"""Do STAC, Croissant, CITATION.cff and the datasheet say the same? Each reader takes one
document as published and returns what it states -- version, licence, DOI of the paper, counts
-- so ``verify`` (and the tests) can compare the four. The readers parse the documents as they
are, not the facts they were made from: a hand-edited or stale file is caught."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .release import CITATION_KEY, CROISSANT_KEY, DATASHEET_KEY, METADATA_KEYS


@dataclass
class Statement:
    """What one document states about a release."""

    source: str
    version: str | None = None
    license: str | None = None  # an SPDX id, or the licence's URL (Croissant)
    doi: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # pairs, pairs/<split>, pairs/<season>, pairs/<season>/<split>


def _flat_counts(counts: dict[str, Any]) -> dict[str, int]:
    out = {"pairs": int(counts.get("items", 0))}
    for split, n in (counts.get("by_split") or {}).items():
        out[f"pairs/{split}"] = int(n)
    for season, row in (counts.get("by_season") or {}).items():
        out[f"pairs/{season}"] = int(row.get("items", 0))
        for split in counts.get("by_split") or {}:
            out[f"pairs/{season}/{split}"] = int(row.get(split, 0))
    return out


def from_stac(root: dict[str, Any], collections: list[dict[str, Any]], manifest: dict[str, Any]) -> Statement:
    """The release's catalog (root version, collections' licence and ``sci:doi``) and the counts of ``release.json``."""
    licences = sorted({str(c.get("license")) for c in collections if c.get("license")})
    dois = sorted({str(c.get("sci:doi")) for c in collections if c.get("sci:doi")})
    return Statement("STAC", str(root.get("version")) if root.get("version") else None,
                     licences[0] if len(licences) == 1 else ", ".join(licences) or None,
                     dois[0] if len(dois) == 1 else ", ".join(dois) or None,
                     _flat_counts(manifest.get("counts") or {}))


def from_croissant(data: bytes) -> Statement:
    doc = json.loads(data)
    counts = {p["name"]: int(p["value"]) for p in doc.get("additionalProperty", []) or []
              if isinstance(p, dict) and str(p.get("name", "")).startswith("pairs")}
    ident = str((doc.get("isBasedOn") or {}).get("identifier") or "")
    return Statement(CROISSANT_KEY, doc.get("version"), doc.get("license"), ident.removeprefix("https://doi.org/") or None, counts)


_COUNTS_RE = re.compile(r"holds (\d+) patch pairs: (.*?)\.(?:\s|$)")
_SEASON_RE = re.compile(r"(\S+) (\d+) \(([^)]*)\)")


def _sentence_counts(text: str) -> dict[str, int]:
    m = _COUNTS_RE.search(text)
    if not m:
        return {}
    out = {"pairs": int(m.group(1))}
    for season, n, splits in _SEASON_RE.findall(m.group(2)):
        out[f"pairs/{season}"] = int(n)
        for part in splits.split(","):
            name, _, value = part.strip().rpartition(" ")
            out[f"pairs/{season}/{name}"] = int(value)
            out[f"pairs/{name}"] = out.get(f"pairs/{name}", 0) + int(value)
    return out


def from_citation(data: bytes) -> Statement:
    """CITATION.cff as sen12stac writes it: top-level ``key: "json string"`` lines, and the
    paper's DOI under ``preferred-citation``."""
    top: dict[str, Any] = {}
    doi = None
    section = None
    for line in data.decode("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith(" "):
            key, _, value = line.partition(":")
            section = key
            if value.strip():
                try:
                    top[key] = json.loads(value.strip())
                except ValueError:
                    top[key] = value.strip()
        elif section == "preferred-citation" and line.startswith("  doi:"):
            doi = json.loads(line.partition(":")[2].strip())
    return Statement(CITATION_KEY, str(top["version"]) if "version" in top else None, top.get("license"), doi,
                     _sentence_counts(str(top.get("abstract", ""))))


def from_datasheet(data: bytes) -> Statement:
    text = data.decode("utf-8")
    version = re.search(r"^# Datasheet: .*, release (\S+)$", text, re.M)
    licence = re.search(r"^Licence \(SPDX\): (\S+?)(?: \(|\.(?:\s|$))", text, re.M)
    doi = re.search(r"doi:(10\.[^\s,)\]]+)", text)
    counts: dict[str, int] = {}
    splits: list[str] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if cells and cells[0] == "season" and cells[-1] == "pairs":
            splits = cells[1:-1]
        elif cells and splits and len(cells) == len(splits) + 2 and cells[-1].isdigit():
            name = cells[0]
            prefix = "pairs" if name == "all" else f"pairs/{name}"
            counts[prefix] = int(cells[-1])
            for s, v in zip(splits, cells[1:-1]):
                counts[f"pairs/{s}" if name == "all" else f"{prefix}/{s}"] = int(v)
    return Statement(DATASHEET_KEY, version.group(1) if version else None, licence.group(1) if licence else None,
                     doi.group(1) if doi else None, counts)


def disagreements(stac: Statement, others: list[Statement], license_url: str | None) -> list[str]:
    """Where a metadata file says other than the catalog and the manifest."""
    out = []
    for s in others:
        if s.version != stac.version:
            out.append(f"{s.source} names version {s.version!r}, the release is {stac.version!r}")
        if s.license not in (stac.license, license_url):
            out.append(f"{s.source} names licence {s.license!r}, the catalog {stac.license!r}")
        if s.doi != stac.doi:
            out.append(f"{s.source} cites doi {s.doi!r}, the catalog {stac.doi!r}")
        if s.counts != stac.counts:
            diff = sorted(k for k in set(s.counts) | set(stac.counts) if s.counts.get(k) != stac.counts.get(k))
            shown = ", ".join(f"{k} {s.counts.get(k)} (manifest {stac.counts.get(k)})" for k in diff[:4])
            out.append(f"{s.source} counts differ from release.json: {shown}")
    return out


READERS: dict[str, Callable[[bytes], Statement]] = {CROISSANT_KEY: from_croissant, CITATION_KEY: from_citation, DATASHEET_KEY: from_datasheet}


def metadata_problems(get: Callable[[str], bytes], manifest: dict[str, Any], root: dict[str, Any],
                      collections: list[dict[str, Any]]) -> tuple[list[str], bool]:
    """``(problems, present)`` for a release whose files ``get`` reads by release key.
    A release without any of the three files (published before they existed) has no problem
    here and ``present`` False; one with some of them must have all, agreeing with the catalog."""
    listed = {o.get("key") for o in manifest.get("objects", [])}
    have = [k for k in METADATA_KEYS if k in listed]
    if not have:
        return [], False
    problems = [f"{k}: missing from the manifest (the release has {', '.join(have)})" for k in METADATA_KEYS if k not in listed]
    stac = from_stac(root, collections, manifest)
    license_url = next((str(link.get("href")) for link in root.get("links", []) or []
                        if link.get("rel") == "license" and str(link.get("href", "")).startswith("http")), None)
    statements = []
    for key in have:
        try:
            statements.append(READERS[key](get(key)))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, OSError) as exc:
            problems.append(f"{key}: cannot be read ({type(exc).__name__}: {exc})")
    problems += disagreements(stac, statements, license_url)
    linked = {str(link.get("href", "")).removeprefix("./") for link in root.get("links", []) or [] if link.get("rel") == "describedby"}
    problems += [f"catalog.json: no describedby link to {k}" for k in have if k not in linked]
    return problems, True
