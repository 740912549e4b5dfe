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

from .release import inventory


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", help="releases (default: every modeled one that is fetched)")
    parser.add_argument("--list", action="store_true", help="print every finding on a path from the launcher")
    parser.add_argument("--jobs", type=int, default=2, help="parser processes (default: 2)")
    args = parser.parse_args(argv)
    root = sources_root()
    missing = 0
    for version in args.versions or MODELED_VERSIONS:
        data = root / version / "flashinfer" / "data"
        if not data.is_dir():
            print(f"{version}: not fetched (python tools/fetch_flashinfer_sources.py {version})", file=sys.stderr)
            missing += 1
            continue
        found = inventory(data, jobs=args.jobs)
        errors = sum(e for _, e, _ in found.units)
        print(f"{version}: {len(found.units)} units, {len(found.findings)} findings of <= 32 bits growing with the "
              f"token count, {len(found.reached)} on a path from the launcher; {errors} parse errors in "
              f"flashinfer's files" + (f"; batched-GEMM headers: {found.standin} (stand-in)" if found.standin else ""))
        if args.list:
            for f in found.reached:
                print(f"  {f.where}  {f.type}  {f.code}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
