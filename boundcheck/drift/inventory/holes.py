"""Where the inventory cannot see: the parse errors of a release, by the function they fall in.

An expression inside a statement libclang could not parse is not in the inventory, so the
inventory is complete only outside these places. `python -m boundcheck.drift.inventory
--holes VERSION` parses the release's units afresh (no cache: a few minutes a release on
two cores) and prints, per function of flashinfer's files with errors, how many, whether
the function is on a path from the launcher (it has recorded findings), and the commonest
messages: the list the front end's prelude still has to shrink.
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

OUTSIDE = "(outside any function)"


@dataclass
class Hole:
    function: str
    file: str
    errors: int = 0
    messages: Counter = field(default_factory=Counter)


def holes(data: Path, units: list | None = None) -> list[Hole]:
    """The parse errors of `units` (default: every unit of the release) by function."""
    from clang import cindex

    from .front_end import parse
    from .release import standin_for, units_of

    data = Path(data).resolve()
    own = str(data)
    kinds = (cindex.CursorKind.FUNCTION_DECL, cindex.CursorKind.CXX_METHOD, cindex.CursorKind.FUNCTION_TEMPLATE,
             cindex.CursorKind.CONSTRUCTOR)
    found: dict = {}
    seen = defaultdict(set)  # an error a header repeats in every unit that includes it counts once
    with tempfile.TemporaryDirectory() as work:
        for unit in units if units is not None else units_of(data):
            parsed = parse(Path(unit), data, work, standin_for(data))
            extents = [(c.location.file.name[len(own) + 1:], c.extent.start.line, c.extent.end.line, c.spelling)
                       for c in parsed.unit.cursor.walk_preorder()
                       if c.kind in kinds and c.is_definition() and c.location.file
                       and c.location.file.name.startswith(own)]
            for file, line, message in parsed.errors:
                if (line, message) in seen[file]:
                    continue
                seen[file].add((line, message))
                inner = [(b - a, name) for f, a, b, name in extents if f == file and a <= line <= b]
                name = min(inner)[1] if inner else OUTSIDE
                hole = found.setdefault((file, name), Hole(name, file))
                hole.errors += 1
                hole.messages[message[:90]] += 1
    return sorted(found.values(), key=lambda h: (-h.errors, h.file, h.function))


def report(version: str, data: Path, recorded: dict) -> str:
    reached = {f.rsplit("::", 1)[-1] for _, f, _, _ in map(tuple, recorded.get("reached_findings", []))}
    lines = [f"{version}: parse errors by function (the inventory does not see inside them)"]
    for hole in holes(data):
        mark = "on the path" if hole.function in reached else "no findings recorded"
        common = "; ".join(f"{n} x {m}" for m, n in hole.messages.most_common(2))
        lines.append(f"  {hole.errors:5d}  {hole.function}  [{hole.file}; {mark}]  {common}")
    return "\n".join(lines)
