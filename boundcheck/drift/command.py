"""`boundcheck drift`: its parser, and the run that extracts the folder's facts, names the
era(s) they match, compares them with the era asked for and prints the table or JSON
(exit code: failed facts, capped at MAX_EXIT)."""

from __future__ import annotations

import json
from pathlib import Path

from .. import releases
from .. import resolution
from ..errors import BoundcheckInputError
from .comparison import MATCH, _matching_eras, compare, identification_line
from .extraction import extract
from .folder import check_root

MAX_EXIT = 100


def installed_root() -> str:
    import importlib.util

    spec = importlib.util.find_spec("flashinfer")
    if spec is None or not spec.submodule_search_locations:
        raise BoundcheckInputError("--flashinfer-root", "flashinfer is not installed here; pass a source folder")
    return list(spec.submodule_search_locations)[0]


def add_parser(sub):
    from ..cli import add_flashinfer  # here, not at module level: cli imports drift

    p = sub.add_parser("drift", help="compare a flashinfer's sources with a modeled release's facts")
    p.add_argument("--flashinfer-root", default=None,
                   help="a flashinfer package folder (with data/ and fused_moe/); default: the installed one")
    add_flashinfer(p, "VERSION | installed: the release whose facts to compare (default: the era the "
                      "--flashinfer-root sources identify as, if exactly one; else the installed release "
                      f"if modeled, else the newest modeled, {releases.NEWEST})")
    p.add_argument("--json", action="store_true")
    p.add_argument("--execute", action="store_true",
                   help="also compile and run the folder's own geometry code (CTA count, tile choice, tactic "
                        "resolution, tile sets, tuning buckets) and compare its answers with the model's, "
                        "each comparison in a child process "
                        "group with a timeout, killed with everything it started (default: off; nothing from the "
                        "folder runs without it)")
    p.add_argument("--execute-timeout", type=float, default=300.0,
                   help="seconds each of the three executed comparisons (compiled host functions, tile sets, tuning "
                        "buckets) may take, its compile included")
    p.add_argument("--inventory", action="store_true",
                   help="also parse the folder's MoE path with libclang (boundcheck/drift/inventory) and compare its "
                        "32-bit expressions that grow with the token count with the release's recorded inventory "
                        "(about 30 s the first time; needs libclang)")
    p.set_defaults(run=run)


def _era_asked(args, identified) -> tuple:
    """(era, version or None, how it was chosen)."""
    if args.flashinfer is not None:
        return resolution.resolve(args.flashinfer), resolution.resolve_version(args.flashinfer), "--flashinfer"
    if args.flashinfer_root is not None and len(identified) == 1:
        return identified[0], None, "identified from the sources"
    return resolution.resolve(None), resolution.resolve_version(None), "default"


def _inventory(root, era, version) -> dict:
    """The folder's 32-bit inventory against the recorded one of the release compared with
    (each release of the era when no release was named: the first that is the same)."""
    from .inventory import record
    from .inventory.release import inventory as take

    found = take(Path(root) / "data")
    recorded = record.load()
    changes = [c for v in ([version] if version else list(era.versions)) for c in [record.compare(found, v, recorded)]
               if c is not None]
    same = next((c.version for c in changes if c.same), None)
    nearest = min(changes, key=lambda c: len(c.added) + len(c.removed) + len(c.unread), default=None)
    return {
        "findings": len(found.findings), "reached": len(found.reached), "units": len(found.units),
        "errors": sum(e for _, e, _ in found.units), "same_as": same,
        "compared_with": None if nearest is None else nearest.version,
        "added": [] if same or nearest is None else [list(k) for k in nearest.added],
        "removed": [] if same or nearest is None else [list(k) for k in nearest.removed],
        # parse errors on the path that the recorded release did not have and no one has read
        "unread": [] if same or nearest is None else [list(k) for k in nearest.unread],
    }


def _print_inventory(inventory: dict) -> None:
    head = (f"{inventory['findings']} expressions of <= 32 bits growing with the token count, "
            f"{inventory['reached']} on a path from the launcher")
    if inventory["same_as"]:
        print(f"  {MATCH:<8} inventory {head}: as recorded for {inventory['same_as']}")
        return
    if inventory["compared_with"] is None:
        print(f"  MISSING  inventory {head}: no recorded inventory for this release")
        return
    print(f"  MISMATCH inventory {head}: against {inventory['compared_with']}, "
          f"{len(inventory['added'])} added, {len(inventory['removed'])} removed, "
          f"{len(inventory['unread'])} statements on the path that do not parse")
    for sign, rows in (("+", inventory["added"]), ("-", inventory["removed"])):
        for file, function, code, ctype in rows[:10]:
            print(f"           {sign} {file} ({function}) {ctype}: {code}")
    for file, function, message, statement in inventory["unread"][:10]:
        print(f"           ? {file} ({function}) does not parse: {message}: {statement[:100]}")


def run(args) -> int:
    root = check_root(args.flashinfer_root if args.flashinfer_root is not None else installed_root())
    if args.flashinfer is not None:
        resolution.resolve(args.flashinfer)  # a bad version is an input error before any reading
    if not (args.execute_timeout > 0 and args.execute_timeout < float("inf")):
        # checked with or without --execute: an option given is an option honoured or refused
        raise BoundcheckInputError("execute_timeout", f"must be a positive number of seconds, got {args.execute_timeout}")
    extracted = extract(root)
    identified = _matching_eras(extracted)
    era, version, chosen = _era_asked(args, identified)
    table = compare(extracted, era)
    failures = sum(r.status != MATCH for r in table)
    executed = []
    if args.execute:
        from .execute import ABSENT, run as run_executed

        executed = run_executed(root, era, args.execute_timeout)
        failures += sum(r.status not in (MATCH, ABSENT) for r in executed)
    inventory = _inventory(root, era, version) if getattr(args, "inventory", False) else None
    if inventory is not None:
        failures += 0 if inventory["same_as"] else 1
    line = identification_line(identified)
    if args.json:
        print(json.dumps({
            "flashinfer_root": root, "flashinfer": version, "era": era.name, "era_releases": list(era.versions),
            "era_from": chosen, "failures": failures, "facts": [r.__dict__ for r in table],
            "identified": [{"era": e.name, "releases": list(e.versions)} for e in identified],
            "identification": line, "executed": [r.__dict__ for r in executed], "inventory": inventory,
        }, indent=2))
    else:
        release = f"flashinfer {version}" if version else f"flashinfer {era.span}"
        print(f"boundcheck drift: {release} (era {era.name}: {', '.join(era.versions)}; {chosen}) against {root}")
        for r in table:
            print(f"  {r.status:<8} {r.fact:<24} {r.where}")
            if r.status != MATCH:
                print(f"           model:  {r.model}\n           source: {r.source}")
        print(f"{sum(r.status == MATCH for r in table)}/{len(table)} facts match")
        for r in executed:
            print(f"  {r.status:<8} executed {r.function:<33} {r.points:,} points: {r.detail}")
        if inventory is not None:
            _print_inventory(inventory)
        print(line)
    return min(failures, MAX_EXIT)
