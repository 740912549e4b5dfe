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

from .release import Finding, ReleaseInventory

RECORDED = Path(__file__).with_name("recorded.json")


def key(finding: Finding) -> tuple:
    return (finding.file, finding.function, finding.code, finding.type)


def keys(inventory: ReleaseInventory) -> list:
    return sorted({key(f) for f in inventory.reached})


def load(path: Path = RECORDED) -> dict:
    """version -> {"units", "findings", "reached", "errors", "reached_findings": [keys]}."""
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text())
    table = [tuple(k) for k in raw["findings"]]
    return {version: dict(entry, reached_findings=[table[i] for i in entry["reached_findings"]])
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
    }


def write(summaries: dict, path: Path = RECORDED) -> None:
    """Findings shared by releases are stored once (a table and indices into it)."""
    table = sorted({k for entry in summaries.values() for k in entry["reached_findings"]})
    index = {k: i for i, k in enumerate(table)}
    releases = {version: dict(entry, reached_findings=[index[k] for k in entry["reached_findings"]])
                for version, entry in summaries.items()}
    path.write_text(json.dumps({"findings": [list(k) for k in table], "releases": releases}, indent=0) + "\n")


@dataclass(frozen=True)
class Change:
    version: str
    added: tuple  # keys found now and not recorded
    removed: tuple  # keys recorded and not found now

    @property
    def same(self) -> bool:
        return not self.added and not self.removed


def compare(inventory: ReleaseInventory, version: str, recorded: dict | None = None) -> Change | None:
    """The change against the recorded inventory of `version` (None: none recorded)."""
    recorded = load() if recorded is None else recorded
    if version not in recorded:
        return None
    now, then = set(keys(inventory)), set(map(tuple, recorded[version]["reached_findings"]))
    return Change(version, tuple(sorted(now - then)), tuple(sorted(then - now)))
