"""`boundcheck adopt`: a flashinfer release boundcheck does not model, adopted as the modeled
era whose geometry it executes identically.

What is compared, each against one modeled era (the eras whose source facts the folder
matches, `boundcheck drift`'s identification, newest first):

1. the source facts `drift` reads (tile lists, launcher rules, entry points, routing limits);
2. every host function the model mirrors, compiled from the folder and executed against the
   model (`drift --execute`: the CTA count, tile sets, tile choice, tactic resolution,
   tuning buckets) on the same inputs;
3. the entry points' signatures (parameters, defaults, structure, what a finalized call
   returns), read with `ast` (boundcheck/drift/entry_signatures.py), against the era's
   newest release as runtime/signatures.json records it;
4. the 32-bit inventory (libclang), against the recorded inventory of a release of the era.

All equal: the version is recorded in the user store (boundcheck.adopted) with the era,
the date and a digest of the files compared; `chunk`, `prove`, `audit`, `report`, `status`
and the guard then treat it as that era and say so. Any difference: nothing is recorded,
the exit status is 1, and the differences are named (the first differing input of an
executed function). What this cannot see: the GEMM cubins (fetched at run time, closed).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import adopted, releases, resolution
from .errors import BoundcheckInputError
from .installed import package_version, release_of


@dataclass
class Attempt:
    era: str
    differences: list = field(default_factory=list)  # (what, detail)
    compared_with: str | None = None  # the release whose recorded inventory it equals

    @property
    def equal(self) -> bool:
        return not self.differences


@dataclass
class Outcome:
    version: str
    folder: str
    modeled: bool = False
    attempts: list = field(default_factory=list)
    adoption: adopted.Adoption | None = None
    store: str | None = None

    def to_json(self) -> dict:
        return {
            "flashinfer": self.version, "flashinfer_root": self.folder, "modeled": self.modeled,
            "adopted": None if self.adoption is None else self.adoption.__dict__, "store": self.store,
            "attempts": [{"era": a.era, "equal": a.equal, "compared_with": a.compared_with,
                          "differences": [{"what": w, "detail": d} for w, d in a.differences]} for a in self.attempts],
        }


def version_of(root: Path) -> str:
    version = package_version(root)
    if version is None:
        raise BoundcheckInputError("--flashinfer-root", f"{root} has no flashinfer __version__ (_build_meta.py, "
                                                        "version.py or __init__.py)")
    return release_of(version)


def _signature_differences(root: Path, era) -> list:
    from .drift.entry_signatures import record_release
    from .runtime.signatures import signature_for, structure_for

    reference = era.last
    found = record_release(root.parent, notes=[])
    out = []
    for name in sorted(set(found) | set(era.entry_points)):
        recorded = signature_for(name, reference)
        mine = found.get(name)
        if recorded is None or mine is None:
            out.append((f"entry point {name}", f"{'absent' if mine is None else 'present'} here, "
                                               f"{'absent' if recorded is None else 'present'} in {reference}"))
            continue
        params, defaults, returns = recorded
        structure, _ = structure_for(name, reference)
        for what, theirs, ours in (("parameters", tuple(params), tuple(mine.params)),
                                   ("defaults", defaults, mine.defaults), ("returns", returns, mine.returns),
                                   ("structure", structure, mine.structure)):
            if theirs != ours:
                out.append((f"entry point {name}: {what}", f"{ours!r} here, {theirs!r} in {reference}"))
    return out


def _attempt(root: Path, era, execute_timeout: float) -> Attempt:
    from .drift.command import _inventory
    from .drift.comparison import MATCH, compare
    from .drift.execute import ABSENT, run as run_executed
    from .drift.extraction import extract

    attempt = Attempt(era.name)
    attempt.differences += [(f"source fact {r.fact}", f"{r.source} here, {r.model} in {era.name} ({r.where})")
                            for r in compare(extract(str(root)), era) if r.status != MATCH]
    attempt.differences += [(f"executed {r.function}", f"{r.status}: {r.detail}")
                            for r in run_executed(str(root), era, execute_timeout) if r.status not in (MATCH, ABSENT)]
    attempt.differences += _signature_differences(root, era)
    inventory = _inventory(str(root), era, None)
    attempt.compared_with = inventory["same_as"]
    if inventory["same_as"] is None:
        detail = (f"compared with {inventory['compared_with']}: {len(inventory['added'])} findings added, "
                  f"{len(inventory['removed'])} removed, {len(inventory['unread'])} unread statements on the path"
                  + (f", first added: {inventory['added'][0]}" if inventory["added"] else "")
                  + (f", first unread: {inventory['unread'][0]}" if inventory["unread"] else ""))
        attempt.differences.append(("32-bit inventory", detail))
    return attempt


def adopt(root: str | Path, execute_timeout: float = 300.0, today: datetime.date | None = None) -> Outcome:
    """Compare the folder with the modeled eras; record the adoption where one is equal."""
    from .drift.comparison import _matching_eras
    from .drift.extraction import extract
    from .drift.folder import check_root

    root = Path(check_root(str(root)))
    version = version_of(root)
    outcome = Outcome(version, str(root))
    if version in releases.MODELED_VERSIONS:
        outcome.modeled = True
        return outcome
    candidates = list(reversed(_matching_eras(extract(str(root))))) or [releases.ERAS[-1]]
    for era in candidates:
        attempt = _attempt(root, era, execute_timeout)
        outcome.attempts.append(attempt)
        if attempt.equal:
            outcome.adoption = adopted.Adoption(version, era.name, (today or datetime.date.today()).isoformat(),
                                                str(root), adopted.files_digest(root), attempt.compared_with)
            outcome.store = str(adopted.record(outcome.adoption))
            break
    return outcome


def add_parser(sub):
    p = sub.add_parser("adopt", help="adopt an unmodeled flashinfer release whose executed geometry equals a "
                                     "modeled era's")
    p.add_argument("--flashinfer-root", default=None,
                   help="a flashinfer package folder (with data/ and fused_moe/); default: the installed one")
    p.add_argument("--execute-timeout", type=float, default=300.0,
                   help="seconds each executed comparison may take, its compile included (default: 300)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    from .drift.command import installed_root

    if not (args.execute_timeout > 0 and args.execute_timeout < float("inf")):
        raise BoundcheckInputError("execute_timeout", f"must be a positive number of seconds, got {args.execute_timeout}")
    outcome = adopt(args.flashinfer_root if args.flashinfer_root is not None else installed_root(),
                    args.execute_timeout)
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    elif outcome.modeled:
        print(f"flashinfer {outcome.version} is modeled ({resolution.era_for(outcome.version).name}): nothing to adopt")
    elif outcome.adoption is not None:
        print(f"flashinfer {outcome.version}: {outcome.adoption.describe()}; recorded in {outcome.store}")
        print("  compared: source facts, executed geometry (CTA count, tile sets, tile choice, tactic resolution, "
              "buckets), entry-point signatures, 32-bit inventory; not seen: the GEMM cubins")
    else:
        print(f"flashinfer {outcome.version}: not adopted (nothing recorded); it stays unmodeled")
        for attempt in outcome.attempts:
            print(f"  against {attempt.era}: {len(attempt.differences)} differences")
            for what, detail in attempt.differences:
                print(f"    {what}: {detail}")
    return 0 if outcome.modeled or outcome.adoption is not None else 1
