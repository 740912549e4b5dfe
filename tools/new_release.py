#!/usr/bin/env python
"""Model a new flashinfer release whose geometry equals an era's: one line in
boundcheck/releases.py, then every derived table regenerated.

    python tools/new_release.py VERSION [--era NAME] [--src DIR] [--dry-run] [--no-regenerate]

The era is the one `boundcheck adopt` recorded for VERSION in the user's store (adopted by
executed equivalence), or `--era`. The edit appends VERSION to that era's `versions` tuple
(the one line that changes); it is refused where MODELED_VERSIONS would no longer be in
release order (a release between two eras needs a maintainer's decision: a new era or the
next one) or where VERSION is modeled already. Then, from the release's sources unpacked at
DIR/VERSION/flashinfer (tools/fetch_flashinfer_sources.py VERSION; default
$BOUNDCHECK_FLASHINFER_CACHE or ~/.cache/boundcheck/flashinfer-src):

1. runtime/signatures.json    python tools/record_signatures.py --strict
2. the 32-bit inventory       python -m boundcheck.drift.inventory VERSION --record
3. docs/int32_inventory.md    python tools/inventory_table.py
4. the README's tables        python tools/readme_tables.py (bounds per release, the era table's ranges)
5. the check                  boundcheck drift --flashinfer-root DIR/VERSION/flashinfer --flashinfer VERSION
                                  --execute --inventory   (the release's facts, executed geometry and
                                  inventory against its era's: any difference fails)

What is left to a person is the commit (and, where the release changed something the era
table's prose names, that prose).
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from boundcheck.drift.compiled import CACHE_VARIABLE, sources_root  # noqa: E402 (after the path set-up)
from boundcheck.versions import version_key  # noqa: E402

RELEASES = Path("boundcheck") / "releases.py"


class NewReleaseError(ValueError):
    """The version cannot be added where it was asked (named, with why)."""


def _era_versions(tree: ast.Module) -> list[tuple[str, ast.Tuple]]:
    """(era name, its versions tuple) in ERAS order of definition: `EX = Era(name="EX",
    versions=(...))` or `EX = _next(previous, "EX", (...), ...)`."""
    out = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        keywords = {k.arg: k.value for k in call.keywords}
        name = keywords.get("name")
        versions = keywords.get("versions")
        positional = [a for a in call.args if isinstance(a, (ast.Constant, ast.Tuple))]
        if name is None and len(positional) >= 2 and isinstance(positional[0], ast.Constant):
            name, versions = positional[0], positional[1]
        if isinstance(name, ast.Constant) and isinstance(versions, ast.Tuple):
            out.append((name.value, versions))
    return out


def add_version(text: str, era: str, version: str) -> str:
    """releases.py's text with `version` appended to `era`'s versions: one line changes."""
    tree = ast.parse(text)
    eras = _era_versions(tree)
    names = [name for name, _ in eras]
    if era not in names:
        raise NewReleaseError(f"--era: no era {era!r} in {RELEASES} (eras: {', '.join(names)})")
    modeled = [e.value for _, t in eras for e in t.elts]
    if version in modeled:
        raise NewReleaseError(f"VERSION: {version} is modeled already")
    index = names.index(era)
    elements = eras[index][1].elts
    # its place among the era's own releases, then the whole list checked for release order
    place = sum(1 for e in elements if version_key(e.value) < version_key(version))
    before = sum(len(t.elts) for _, t in eras[:index]) + place
    after = modeled[:before] + [version] + modeled[before:]
    if [version_key(v) for v in after] != sorted(version_key(v) for v in after):
        raise NewReleaseError(f"VERSION: {version} in {era} ({elements[0].value} - {elements[-1].value}) would put the "
                              "modeled releases out of release order; a release between two eras needs a new era or "
                              "the next one, by hand")
    lines = text.splitlines(keepends=True)
    if place > 0:  # after the release it follows
        anchor = elements[place - 1]
        row, column, insert = anchor.end_lineno - 1, anchor.end_col_offset, f', "{version}"'
    else:  # before the era's first
        anchor = elements[0]
        row, column, insert = anchor.lineno - 1, anchor.col_offset, f'"{version}", '
    lines[row] = lines[row][:column] + insert + lines[row][column:]
    return "".join(lines)


def _era_of(version: str, era: str | None) -> str:
    if era:
        return era
    from boundcheck import adopted

    adoption = adopted.lookup(version)
    if adoption is None:
        raise NewReleaseError(f"--era: {version} has no adoption in {adopted.store_path()} (run `boundcheck adopt "
                              "--flashinfer-root DIR` on the release, or name the era)")
    return adoption.era


def regenerate(repo: Path, version: str, src: Path) -> list[list[str]]:
    """The commands that rebuild what the new line changes, run in `repo`."""
    python = sys.executable
    commands = [
        [python, "tools/record_signatures.py", "--src", str(src), "--strict", "--quiet"],
        [python, "-m", "boundcheck.drift.inventory", version, "--record"],
        [python, "tools/inventory_table.py"],
        [python, "tools/readme_tables.py"],
        [python, "-m", "boundcheck", "drift", "--flashinfer-root", str(src / version / "flashinfer"), "--flashinfer",
         version, "--execute", "--inventory"],
    ]
    environment = dict(os.environ, **{CACHE_VARIABLE: str(src)})
    for command in commands:
        print("$ " + " ".join(command), flush=True)
        if subprocess.run(command, cwd=repo, env=environment).returncode != 0:
            raise NewReleaseError(f"{' '.join(command[1:])} failed: {RELEASES} is edited; fix what it names, or "
                                  "revert the line")
    return commands


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="the new release, e.g. 0.7.5")
    parser.add_argument("--era", help="the era it equals (default: its adoption in the user's store)")
    parser.add_argument("--src", type=Path, default=sources_root(),
                        help="folder of <VERSION>/flashinfer/ source trees (default: the fetcher's cache)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to edit (default: this one)")
    parser.add_argument("--dry-run", action="store_true", help="print the edited line, change nothing")
    parser.add_argument("--no-regenerate", action="store_true", help="edit releases.py only")
    args = parser.parse_args(argv)
    try:
        era = _era_of(args.version, args.era)
        path = args.repo / RELEASES
        old = path.read_text()
        new = add_version(old, era, args.version)
    except NewReleaseError as error:
        print(f"new_release: {error}", file=sys.stderr)
        return 2
    changed = [(a, b) for a, b in zip(old.splitlines(), new.splitlines()) if a != b]
    for before, after in changed:
        print(f"{RELEASES}:\n- {before.strip()}\n+ {after.strip()}")
    if args.dry_run:
        return 0
    if not (args.src / args.version / "flashinfer").is_dir() and not args.no_regenerate:
        print(f"new_release: --src: no {args.src / args.version / 'flashinfer'} (python "
              f"tools/fetch_flashinfer_sources.py {args.version})", file=sys.stderr)
        return 2
    path.write_text(new)
    if not args.no_regenerate:
        try:
            regenerate(args.repo, args.version, args.src)
        except NewReleaseError as error:
            print(f"new_release: {error}", file=sys.stderr)
            return 1
    print(f"{args.version} is modeled as {era}. Left to a person: a commit.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
