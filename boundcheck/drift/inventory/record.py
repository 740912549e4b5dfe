"""The recorded inventory of every modeled release, and the comparison with a folder's.

`recorded.json` (package data, written by `python -m boundcheck.drift.inventory --record`)
holds, per release, the counts and the findings on a path from the launcher, each as
(file, function, code, type): not line numbers, which move with every unrelated edit.
`boundcheck drift --inventory` computes a folder's inventory and reports the findings
added and removed against the release it is compared with: a release whose 32-bit
arithmetic changed is named before anyone reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import holes
from .release import Finding, ReleaseInventory

RECORDED = Path(__file__).with_name("recorded.json")


def key(finding: Finding) -> tuple:
    return (finding.file, finding.function, finding.code, finding.type)


def keys(inventory: ReleaseInventory) -> list:
    return sorted({key(f) for f in inventory.reached})


def load(path: Path = RECORDED) -> dict:
    """version -> {"units", "findings", "reached", "errors", "reached_findings": [keys],
    "holes_on_path": [hole keys], "headers_not_found": [names]}."""
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text())
    table = [tuple(k) for k in raw["findings"]]
    hole_table = [tuple(k) for k in raw.get("holes", [])]
    return {version: dict(entry, reached_findings=[table[i] for i in entry["reached_findings"]],
                          holes_on_path=[hole_table[i] for i in entry.get("holes_on_path", [])])
            for version, entry in raw["releases"].items()}


def summary(inventory: ReleaseInventory) -> dict:
    return {
        "units": len(inventory.units),
        "findings": len(inventory.findings),
        "reached": len(inventory.reached),  # with the line: one expression may repeat on many
        "distinct": len(keys(inventory)),
        "errors": sum(errors for _, errors, _ in inventory.units),
        "standin": inventory.standin,
        "reached_findings": keys(inventory),
        # the parse errors in functions on the path (holes.py): each must be accepted there
        "holes_on_path": sorted({holes.key(h) for h in inventory.holes_on_path}),
        "headers_not_found": sorted({stub for _, _, stubs in inventory.units for stub in stubs}),
    }


def write(summaries: dict, path: Path = RECORDED) -> None:
    """Findings and holes shared by releases are stored once (tables and indices into them)."""
    table = sorted({tuple(k) for entry in summaries.values() for k in entry["reached_findings"]})
    hole_table = sorted({tuple(k) for entry in summaries.values() for k in entry.get("holes_on_path", [])})
    index = {k: i for i, k in enumerate(table)}
    hole_index = {k: i for i, k in enumerate(hole_table)}
    releases = {version: dict(entry, reached_findings=[index[tuple(k)] for k in entry["reached_findings"]],
                              holes_on_path=[hole_index[tuple(k)] for k in entry.get("holes_on_path", [])])
                for version, entry in summaries.items()}
    path.write_text(json.dumps({"findings": [list(k) for k in table], "holes": [list(k) for k in hole_table],
                                "releases": releases}, indent=0) + "\n")


@dataclass(frozen=True)
class Change:
    version: str
    added: tuple  # keys found now and not recorded
    removed: tuple  # keys recorded and not found now
    unread: tuple = ()  # parse errors on the path, not recorded for the release and not accepted (holes.py)

    @property
    def same(self) -> bool:
        return not self.added and not self.removed and not self.unread


def compare(inventory: ReleaseInventory, version: str, recorded: dict | None = None) -> Change | None:
    """The change against the recorded inventory of `version` (None: none recorded). A
    statement on the path that does not parse, where the release parsed, may hide a
    finding: it is a change unless holes.py accepts it."""
    recorded = load() if recorded is None else recorded
    if version not in recorded:
        return None
    now, then = set(keys(inventory)), set(map(tuple, recorded[version]["reached_findings"]))
    known = set(map(tuple, recorded[version].get("holes_on_path", [])))
    unread = sorted(k for k in {holes.key(h) for h in inventory.holes_on_path} - known if holes.accepted(k) is None)
    return Change(version, tuple(sorted(now - then)), tuple(sorted(then - now)), tuple(unread))
