"""python -m boundcheck.drift.inventory [VERSION ...]: the 32-bit inventory of fetched releases.

For each release (default: every modeled one fetched by tools/fetch_flashinfer_sources.py)
prints the units parsed, their parse errors in flashinfer's files, the findings (32-bit
expressions that grow with the token count) and how many run from the launcher; with
`--list`, every reached finding."""

from __future__ import annotations

import argparse
import sys

from boundcheck.drift.compiled import sources_root
from boundcheck.releases import MODELED_VERSIONS

from . import classes, holes, record
from .release import inventory


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", help="releases (default: every modeled one that is fetched)")
    parser.add_argument("--list", action="store_true", help="print every finding on a path from the launcher")
    parser.add_argument("--jobs", type=int, default=2, help="parser processes (default: 2)")
    parser.add_argument("--record", action="store_true",
                        help="write the inventories to boundcheck/drift/inventory/recorded.json (maintainers)")
    parser.add_argument("--check", action="store_true",
                        help="compare each inventory with the recorded one; exit 1 on any change")
    parser.add_argument("--holes", action="store_true",
                        help="also the parse errors by function, and the headers not found: where the inventory "
                             "cannot see")
    args = parser.parse_args(argv)
    root = sources_root()
    missing = changed = 0
    summaries = record.load() if args.record else {}
    for version in args.versions or MODELED_VERSIONS:
        data = root / version / "flashinfer" / "data"
        if not data.is_dir():
            print(f"{version}: not fetched (python tools/fetch_flashinfer_sources.py {version})", file=sys.stderr)
            missing += 1
            continue
        found = inventory(data, jobs=args.jobs)
        errors = sum(e for _, e, _ in found.units)
        kinds = classes.counts(found, version)
        tally = ", ".join(f"{kinds[kind]} {kind}" for kind in classes.CLASSES if kinds[kind])
        print(f"{version}: {len(found.units)} units, {len(found.findings)} findings of <= 32 bits growing with the "
              f"token count, {len(found.reached)} on a path from the launcher ({tally}); {errors} parse errors in "
              "flashinfer's files"
              + (f"; batched-GEMM headers: {found.standin} (stand-in)" if found.standin else ""))
        if args.holes:
            print(holes.report(version, found))
        if args.list:
            for f in found.reached:
                kind, reason = classes.classify(f, version)
                print(f"  {f.where}  {f.type}  {f.code}  [{kind}{': ' + reason if reason else ''}]")
        if args.record:
            summaries[version] = record.summary(found)
        if args.check:
            change = record.compare(found, version)
            if change is None or not change.same:
                changed += 1
                print(f"  {version}: " + ("no recorded inventory" if change is None else
                                          f"{len(change.added)} findings added, {len(change.removed)} removed"))
    if args.record:
        record.write(summaries)
        print(f"recorded {len(summaries)} releases in {record.RECORDED}")
    return 1 if missing or changed else 0


if __name__ == "__main__":
    sys.exit(main())
