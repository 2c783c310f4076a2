"""``CITATION.cff``: the release as a Citation File Format 1.2.0 record of ``type: dataset``
(what GitHub, Zenodo and reference managers read): the release's title, version and date,
its licence, the paper as ``preferred-citation`` (with its DOI), and in ``message`` how to
cite this specific release. Written as YAML by hand (a fixed, small shape; every string
quoted as JSON, which YAML reads as the same string), so no YAML library is needed."""
from __future__ import annotations

import json
from typing import Any

from .facts import ReleaseFacts, counts_sentence

CFF_VERSION = "1.2.0"


def _q(text: Any) -> str:
    return json.dumps(str(text), ensure_ascii=False)


def _person(a: dict[str, Any], indent: str) -> list[str]:
    keys = [k for k in ("family-names", "given-names", "name", "orcid", "affiliation") if a.get(k)]
    return [f"{indent}{'- ' if i == 0 else '  '}{k}: {_q(a[k])}" for i, k in enumerate(keys)]


def citation_cff(facts: ReleaseFacts) -> str:
    texts = facts.texts
    paper = texts["paper"]
    title = texts["release_title"].format(title=facts.title, version=facts.version)
    abstract = f"{facts.description.splitlines()[0]} {counts_sentence(facts)}"
    lines = [
        "# Citation File Format (https://citation-file-format.github.io/); written by sen12stac from the release's catalog.",
        f"cff-version: {CFF_VERSION}",
        "type: dataset",
        f"message: {_q(texts['cite_release'])}",
        f"title: {_q(title)}",
        f"version: {_q(facts.version)}",
        f"date-released: {_q(facts.date)}",
        f"license: {_q(facts.license_id)}",
        f"abstract: {_q(abstract)}",
        "authors:",
    ]
    for a in texts["release_authors"]:
        lines += _person(a, "  ")
    if facts.keywords:
        lines.append("keywords:")
        lines += [f"  - {_q(k)}" for k in facts.keywords]
    if facts.doi:
        lines += ["references:", "  - type: article", f"    title: {_q(paper['title'])}", f"    doi: {_q(facts.doi)}", "    authors:"]
        for a in paper["authors"]:
            lines += _person(a, "      ")
        lines += [f"    journal: {_q(paper['journal'])}", f"    volume: {_q(paper['volume'])}", f"    year: {int(paper['year'])}"]
    lines += ["preferred-citation:", "  type: article", f"  title: {_q(paper['title'])}", "  authors:"]
    for a in paper["authors"]:
        lines += _person(a, "    ")
    lines += [f"  journal: {_q(paper['journal'])}", f"  volume: {_q(paper['volume'])}",
              f"  start: {_q(paper['start'])}", f"  end: {_q(paper['end'])}", f"  year: {int(paper['year'])}"]
    if facts.doi:
        lines += [f"  doi: {_q(facts.doi)}", f"  url: {_q('https://doi.org/' + facts.doi)}"]
    return "\n".join(lines) + "\n"


def citation_bytes(facts: ReleaseFacts) -> bytes:
    return citation_cff(facts).encode("utf-8")
