"""`boundcheck drift`: its parser, and the run that extracts the folder's facts, names the
era(s) they match, compares them with the era asked for and prints the table or JSON
(exit code: failed facts, capped at MAX_EXIT)."""

from __future__ import annotations

import json

from .. import releases
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
                   help="also compile and run the folder's own geometry code (CTA count, tile choice, tile sets, "
                        "tuning buckets) and compare its answers with the model's, each comparison in a child process "
                        "group with a timeout, killed with everything it started (default: off; nothing from the "
                        "folder runs without it)")
    p.add_argument("--execute-timeout", type=float, default=300.0,
                   help="seconds each of the three executed comparisons (compiled host functions, tile sets, tuning "
                        "buckets) may take, its compile included")
    p.set_defaults(run=run)


def _era_asked(args, identified) -> tuple:
    """(era, version or None, how it was chosen)."""
    if args.flashinfer is not None:
        return releases.resolve(args.flashinfer), releases.resolve_version(args.flashinfer), "--flashinfer"
    if args.flashinfer_root is not None and len(identified) == 1:
        return identified[0], None, "identified from the sources"
    return releases.resolve(None), releases.resolve_version(None), "default"


def run(args) -> int:
    root = check_root(args.flashinfer_root if args.flashinfer_root is not None else installed_root())
    if args.flashinfer is not None:
        releases.resolve(args.flashinfer)  # a bad version is an input error before any reading
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
    line = identification_line(identified)
    if args.json:
        print(json.dumps({
            "flashinfer_root": root, "flashinfer": version, "era": era.name, "era_releases": list(era.versions),
            "era_from": chosen, "failures": failures, "facts": [r.__dict__ for r in table],
            "identified": [{"era": e.name, "releases": list(e.versions)} for e in identified],
            "identification": line, "executed": [r.__dict__ for r in executed],
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
        print(line)
    return min(failures, MAX_EXIT)
