#!/usr/bin/env python
"""Record the signatures of flashinfer's trtllm-gen fused MoE entry points, release by
release, into runtime/signatures.json (read by runtime/signatures.py).

    python tools/record_signatures.py [--src DIR] [--out FILE] [--strict] [--quiet]

For every modeled release (boundcheck.releases.MODELED_VERSIONS) whose sources are
unpacked at DIR/<VERSION>/flashinfer/ (default ~/.cache/boundcheck/flashinfer-src, or
$BOUNDCHECK_FLASHINFER_CACHE), this parses every module under fused_moe/ with `ast` (it
never imports or executes flashinfer) and finds the module-level `def trtllm_*_moe(...)`
entry points. A name defined more than once in a module is the last module-level
definition; a name defined in several modules is the definition that
fused_moe/__init__.py's `from .x import name` chain reaches.

For each entry point and release it records the parameter names in order (as
`inspect.signature` lists them), the defaults (literals as values; anything else, such as
`ActivationType.Swiglu.value`, as `Expr(source text)`), the positional-only / *args /
keyword-only / **kwargs structure, and what the call returns when `do_finalize` is true
and no `gemm1_lora_delta` is given, read from the `return` statements:

    "output"    the output tensor itself (the deprecated scalar return)
    "[output]"  a one-element list holding it
    "unknown"   not readable from the Python sources (e.g. a C++ op's own return value)

Returns are read by following, from the entry point, the return statements the finalized
call can reach (`if` tests on `do_finalize` and `gemm1_lora_delta is None` are decided;
others keep both branches) into the Python functions they call: nested defs, module-level
defs, `from .x import`s (also `from flashinfer.fused_moe.x import` inside a function), the
`get_trtllm_moe_sm100_module().op(...)` SimpleNamespace, local variables assigned in
reachable code, `x[0]` of a "[output]", and a callee declared `-> T` whose callable
parameters are declared `Callable[..., T]` (it returns what the callables passed to it
return: the distribution-aware dispatch of 0.6.18+). All reachable returns must agree,
else "unknown". Modules are parsed only when their text contains `def trtllm_` or when a
call leads into them.

Consecutive releases with identical records are grouped. It then cross-checks the entry
points found against `era_for(version).entry_points` and, for the release the guard's
runtime/entry_points.py describes, the parameter tuples there; disagreements are printed
(and make the exit status 1 with --strict).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from boundcheck.runtime.default_expr import Expr  # noqa: E402 (after the path set-up)

DEFAULT_SRC = Path(os.environ.get("BOUNDCHECK_FLASHINFER_CACHE", "~/.cache/boundcheck/flashinfer-src")).expanduser()
DEFAULT_OUT = REPO / "runtime" / "signatures.json"
# The release runtime/entry_points.py takes its base signatures from (REFERENCE_RELEASE).
ENTRY_POINTS_RELEASE = "0.7.2.post1"

from boundcheck.drift.entry_signatures import Found, record_release  # noqa: E402 (the reader, shared with `adopt`)


# --- the generated module -----------------------------------------------------------------

def group_records(versions: list[str], records: dict[str, dict[str, Found]], key, order=None):
    """name -> [(first, last, value)] over runs of releases, consecutive in `order` (the
    modeled releases; a release missing from the sources breaks a run), with equal
    key(found)."""
    order = list(versions if order is None else order)
    groups: dict[str, list] = {}
    names = sorted({n for per in records.values() for n in per})
    for name in names:
        out = []
        for version in versions:
            found = records[version].get(name)
            if found is None:
                continue
            value, position = key(found), order.index(version)
            if out and out[-1][2] == value and out[-1][3] == position - 1:
                out[-1][1] = version
                out[-1][3] = position
            else:
                out.append([version, version, value, position])
        groups[name] = [(first, last, value) for first, last, value, _ in out]
    return groups


def _default_to_json(value):
    """A recorded default as JSON: literals as themselves, an Expr as {"expr": text}."""
    return {"expr": value.source} if isinstance(value, Expr) else value


def render(versions: list[str], records: dict[str, dict[str, Found]], order) -> str:
    """runtime/signatures.json: the records grouped over consecutive releases (the format
    runtime/signatures.py's reader documents)."""
    import json

    signatures = group_records(versions, records, lambda f: (f.params, f.defaults, f.returns), order)
    structures = group_records(versions, records, lambda f: (f.structure, f.module), order)
    data = {
        "generated_by": "python tools/record_signatures.py (never edit by hand; tests/test_signatures_data.py "
                        "checks that a rerun reproduces this file)",
        "versions": list(versions),
        "signatures": {name: [[first, last, list(params), {k: _default_to_json(v) for k, v in defaults.items()},
                               returns] for first, last, (params, defaults, returns) in groups]
                       for name, groups in signatures.items()},
        "structure": {name: [[first, last, {k: list(v) if isinstance(v, tuple) else v for k, v in structure.items()},
                              module] for first, last, (structure, module) in groups]
                      for name, groups in structures.items()},
    }
    return json.dumps(data, indent=1) + "\n"


# --- cross-checks -------------------------------------------------------------------------


def cross_check(versions, records) -> list[str]:
    from boundcheck.resolution import era_for

    problems = []
    for version in versions:
        found = set(records[version])
        listed = set(era_for(version).entry_points)
        if found != listed:
            era = era_for(version)
            if found - listed:
                problems.append(f"{version} ({era.name}): sources define {sorted(found - listed)}, "
                                f"not in releases.py's entry_points")
            if listed - found:
                problems.append(f"{version} ({era.name}): releases.py lists {sorted(listed - found)}, "
                                f"not defined in the sources")
    if ENTRY_POINTS_RELEASE in records:
        # the guard's entry points take their parameters from these records: only the set
        # of names (and the launcher facts beside them) is the guard's own
        from boundcheck.runtime.entry_points import ENTRY_POINTS

        ours, theirs = set(records[ENTRY_POINTS_RELEASE]), set(ENTRY_POINTS)
        for name in sorted(ours - theirs):
            problems.append(f"{ENTRY_POINTS_RELEASE}: {name} is not in runtime/entry_points.py")
        for name in sorted(theirs - ours):
            problems.append(f"{ENTRY_POINTS_RELEASE}: runtime/entry_points.py has {name}, the sources do not")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder of <VERSION>/flashinfer/ trees")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON file to write")
    parser.add_argument("--strict", action="store_true", help="exit 1 on any cross-check disagreement")
    parser.add_argument("--quiet", action="store_true", help="print only disagreements and notes")
    args = parser.parse_args(argv)

    from boundcheck.releases import MODELED_VERSIONS

    versions = [v for v in MODELED_VERSIONS
                if (args.src / v / "flashinfer" / "fused_moe").is_dir() or (args.src / v / "flashinfer" / "fused_moe.py").is_file()]
    missing = [v for v in MODELED_VERSIONS if v not in versions]
    if not versions:
        print(f"no modeled release's sources under {args.src}", file=sys.stderr)
        return 2
    notes: list[str] = []
    records = {v: record_release(args.src / v, notes) for v in versions}
    args.out.write_text(render(versions, records, MODELED_VERSIONS), encoding="utf-8")

    problems = cross_check(versions, records)
    if not args.quiet:
        print(f"wrote {args.out} from {len(versions)} releases under {args.src}")
        if missing:
            print(f"missing (not recorded): {', '.join(missing)}")
        groups = group_records(versions, records, lambda f: (f.params, f.defaults, f.returns), MODELED_VERSIONS)
        for name, gs in groups.items():
            spans = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b, _ in gs)
            print(f"  {name}: {len(gs)} groups ({spans})")
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"DISAGREEMENT: {problem}")
    if not problems and not args.quiet:
        print("cross-checks: releases.py entry_points and runtime/entry_points.py agree")
    return 1 if problems and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
