"""The `boundcheck` command line: prove, chunk, audit, drift, report, exec, status.

Exit codes: 2 for bad arguments (argparse's convention), with a one-line error naming the
argument and the limit; otherwise prove and drift exit with the number of failed
obligations or facts (capped at 100), audit 0 proved, 1 refuted, 3 unknown, chunk 0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

from . import facts, releases, resolution
from .errors import BoundcheckInputError
from .folders import writable_folder
from .known_faults import faults_for
from .tiles import PRECISIONS

FLASHINFER_HELP = (
    "VERSION | installed: the flashinfer release to model (default: the installed one if "
    f"flashinfer is installed, else the newest modeled, {releases.NEWEST}); modeled: {releases.modeled_range()}"
)


def add_flashinfer(p, help_text=FLASHINFER_HELP):
    p.add_argument("--flashinfer", default=None, metavar="VERSION", help=help_text)

EXIT_BAD_INPUT = 2
MAX_EXIT = 100
# prove --jobs: more workers than this only add start-up cost (each imports z3 and builds
# the domain terms); a huge value would ask the pool for that many processes.
MAX_JOBS = 256


EXIT_CODES_HELP = ("exit codes: 0 as expected; 2 bad arguments (one line naming the argument); "
                   "prove/drift: the number of failed obligations or facts (at most 100); "
                   "audit: 1 refuted, 3 unknown (a solver timeout), 4 proved for the grid but above the "
                   "precision's empirical cap")


class _DefaultsOnce(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default said once: the help's own words where it says its default (a
    range, "the installed one"), else argparse's "(default: X)"; nothing for a None default
    (what None means is the help's to say) or a flag."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or action.default in (None, argparse.SUPPRESS) or isinstance(action.default, bool):
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsOnce)
        kwargs.setdefault("epilog", EXIT_CODES_HELP)
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, exit 2, as for our own input errors
        _LAST_PARSE_ERROR[0] = message
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


_LAST_PARSE_ERROR = [""]


def check_timeout(seconds, flag="--timeout"):
    """A finite, positive number of seconds (nan, inf, 0 and negatives are input errors)."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise BoundcheckInputError(flag, f"must be a finite positive number of seconds, got {seconds}")
    return seconds


def check_smt_dir(path):
    """--smt-dir: a folder that exists or can be created and written (checked before any proof runs)."""
    return None if path is None else writable_folder(path, "--smt-dir")


def _int_arg(name):
    def parse(text):
        # ASCII digits only: int() also reads other scripts' digits ('٣٢' is 32) and '1_000'
        if not re.fullmatch(r"\s*[-+]?[0-9]+\s*", text):
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}")
        return int(text)

    return parse


def _add_counts(p):
    add_flashinfer(p)
    p.add_argument("--num-experts", type=_int_arg("--num-experts"), required=True)
    p.add_argument("--top-k", type=_int_arg("--top-k"), required=True)
    p.add_argument("--precision", default="nvfp4", help=f"one of: {', '.join(PRECISIONS)}")
    p.add_argument("--policy", default="flashinfer",
                   help="flashinfer | default (autotuning off: the untuned default tile) | any | fixed:T (T a tile of "
                        "the precision; up to 0.4.1 the caller's tile_tokens_dim, flashinfer and default being the "
                        "tile the release runs when the caller passes none)")
    p.add_argument("--local-experts", type=_int_arg("--local-experts"), default=None)
    p.add_argument("--shared-experts", type=_int_arg("--shared-experts"), default=0,
                   help="fused shared experts (num_fused_shared_experts)")
    p.add_argument("--tune-max-num-tokens", type=_int_arg("--tune-max-num-tokens"),
                   default=facts.DEFAULT_TUNE_MAX_NUM_TOKENS)
    p.add_argument("--cluster-y", type=_int_arg("--cluster-y"), default=1)


def version_line() -> str:
    """boundcheck's version (the installed distribution's) and the releases it models."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("boundcheck")
    except PackageNotFoundError:  # run from a checkout that is not installed
        own = "(not installed)"
    return f"boundcheck {own}: models flashinfer {releases.modeled_range()}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="boundcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    prove = sub.add_parser("prove", help="prove every obligation over the whole domain")
    prove.add_argument("--json", action="store_true")
    prove.add_argument("--timeout", type=float, default=60.0, help="seconds per solver query")
    prove.add_argument("--smt-dir", default=None, help="write each query as SMT-LIB2 here")
    prove.add_argument("--jobs", type=_int_arg("--jobs"), default=None, help="worker processes")
    prove.add_argument("--verbose", "-v", action="store_true", help="every case, domains, derivation")
    prove.add_argument("--literal", action="store_true",
                       help="prove safety, tightness, global_covers_local, progress and bound_below_largest_tile of the "
                            "tile-choosing policies directly, one query per top_k + shared (slower; default: by the "
                            "tile-choice lemmas)")
    add_flashinfer(prove, "VERSION | installed: prove one release (default: every modeled release, "
                          f"{releases.modeled_range()})")

    chunk = sub.add_parser("chunk", help="the verified chunk bound of one configuration, and why")
    _add_counts(chunk)
    chunk.add_argument("--cap", default=None, help="override the empirical cap: N or 'none'")
    chunk.add_argument("--hidden-size", type=_int_arg("--hidden-size"), default=None,
                       help="the model's hidden size (the MoE's, e.g. Nemotron 3 Super's latent 1024): with "
                            "--intermediate-size, also bound the token count by the other kernels' int32 "
                            "offsets and token grids (boundcheck/kernel_limits.py)")
    chunk.add_argument("--intermediate-size", type=_int_arg("--intermediate-size"), default=None,
                       help="the experts' intermediate size (unpadded)")
    chunk.add_argument("--routed", action="store_true",
                       help="the call passes precomputed top-k ids (the *_routed_moe entry points): the "
                            "routing-from-logits limit does not apply (default: routing from logits)")
    chunk.add_argument("--json", action="store_true")

    from . import adopt, audit, drift, exec_command, status_command
    from .report import command as report

    adopt.add_parser(sub)
    audit.add_parser(sub)
    drift.add_parser(sub)
    exec_command.add_parser(sub)
    report.add_parser(sub)
    status_command.add_parser(sub)
    return parser


def _prove(args) -> int:
    from . import prove
    from boundcheck.proofs.closed_form import derive

    check_timeout(args.timeout)
    check_smt_dir(args.smt_dir)
    if args.jobs is not None and not 1 <= args.jobs <= MAX_JOBS:
        raise BoundcheckInputError("--jobs", f"must be between 1 and {MAX_JOBS} worker processes, got {args.jobs}")
    _, versions = prove.scope_eras(args.flashinfer)
    theorems, twins, outcomes, seconds = prove.run(
        args.timeout, args.smt_dir, args.jobs, args.flashinfer, literal=args.literal
    )
    rows = prove.summarize(theorems + twins, outcomes)
    # sympy's derivation, for the JSON document and -v (the closed_form worker checked it)
    steps = derive()[0] if args.json or args.verbose else []
    if args.json:
        print(prove.to_json(rows, seconds, steps, versions, literal=args.literal))
    else:
        note, warn = prove.version_note(versions)
        if warn:
            print(note, file=sys.stderr)
        print(prove.to_table(rows, seconds, steps, verbose=args.verbose, versions=versions, literal=args.literal))
    return min(prove.failures(rows), MAX_EXIT)


def chunk_report(args) -> dict:
    from .bound import chunk_bound, effective_counts
    from .caps import DEFAULT, cap_for

    era = resolution.resolve(args.flashinfer)
    result = chunk_bound(
        args.num_experts, args.top_k, flashinfer=args.flashinfer, precision=args.precision, policy=args.policy,
        local_experts=args.local_experts, shared_experts=args.shared_experts,
        tune_max_num_tokens=args.tune_max_num_tokens, cluster_y=args.cluster_y,
    )
    cap, why = cap_for(args.precision, DEFAULT if args.cap is None else args.cap)
    counts = effective_counts(args.num_experts, args.top_k, args.local_experts, args.shared_experts)
    bound = result.max_chunk_tokens
    kernels = _kernel_limits(args, result, counts, era)
    safe = bound if kernels is None else min(bound, kernels["bound"])
    return {
        "flashinfer": result.flashinfer,
        "era": result.era,
        "era_releases": list(era.versions),
        "adopted": resolution.provenance(result.flashinfer) or None,
        "precision": args.precision,
        "policy": args.policy,
        "tiles": list(era.tiles[args.precision]),
        "num_experts": args.num_experts,
        "top_k": args.top_k,
        "local_experts": args.local_experts if args.local_experts is not None else args.num_experts,
        "shared_experts": args.shared_experts,
        "effective_top_k": counts.top_k,
        "effective_local_experts": counts.local_experts,
        "tune_max_num_tokens": args.tune_max_num_tokens,
        "cluster_y": args.cluster_y,
        "grid_dim_y_max": facts.GRID_DIM_Y_MAX,
        "cta_budget": result.cta_budget,
        "grid_bound": bound,
        "binding_tile": result.binding_tile,
        "ctas_at_bound": result.ctas_at_bound,
        "ctas_past_bound": result.ctas_past_bound,
        "kernel_limits": kernels,
        "cap": cap,
        "cap_provenance": why,
        "max_chunk_tokens": safe if cap is None else min(safe, cap),
        # faults of this release that no chunk size avoids (boundcheck/known_faults.py)
        "known_faults": [fault.to_json(result.flashinfer) for fault in faults_for(result.flashinfer)],
    }


def _kernel_limits(args, result, counts, era):
    """The other kernels' limits at this shape (None without both sizes)."""
    from .errors import BoundcheckInputError
    from .kernel_limits import kernel_bound

    sizes = (args.hidden_size, args.intermediate_size)
    if sizes == (None, None):
        return None
    for name, value in (("--hidden-size", args.hidden_size), ("--intermediate-size", args.intermediate_size)):
        if value is None:
            raise BoundcheckInputError(name, "is needed with the other size (both or neither)")
        if not 1 <= value <= facts.MAX_WIDTH:
            raise BoundcheckInputError(name, f"must be in [1, {facts.MAX_WIDTH:,}], got {value:,}")
    found = kernel_bound(result.flashinfer, args.precision, era.tiles[args.precision], counts.top_k,
                         counts.global_experts, args.hidden_size, args.intermediate_size, era.cta_formula,
                         logits=not getattr(args, "routed", False))
    entry = found.binding
    return {
        "hidden_size": args.hidden_size, "intermediate_size": args.intermediate_size,
        "routing_from_logits": not getattr(args, "routed", False),
        "bound": found.tokens,
        "binding": None if entry is None else {
            "name": entry.name, "code": entry.code, "where": entry.where, "kind": entry.kind,
            "limit": entry.limit, "runs": entry.runs, "tile": found.tile,
            "value_at_bound": entry.value(found.tokens, _shape(counts, found.tile, args, era)),
            "value_past_bound": entry.value(found.tokens + 1, _shape(counts, found.tile, args, era)),
        },
    }


def _shape(counts, tile, args, era):
    from .kernel_limits import Shape

    return Shape(counts.top_k, counts.global_experts, tile or 8, args.hidden_size, args.intermediate_size,
                 era.cta_formula)


def _assumptions(args) -> str:
    """What the call is taken to be, each default said so: a bound is only as good as what
    it was computed for."""
    defaults = build_parser()._subparsers._group_actions[0].choices["chunk"]

    def said(name: str, value) -> str:
        return f"{value} (default)" if defaults.get_default(name) == value else str(value)

    return (f"precision {said('precision', args.precision)}, policy {said('policy', args.policy)}, "
            f"{'routed (precomputed top-k ids)' if args.routed else 'routing from logits (default; --routed: ids)'}")


def _chunk(args) -> int:
    report = chunk_report(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    capped = report["cap"] is not None and report["cap"] < report["grid_bound"]
    print(f"flashinfer {report['flashinfer']} (era {report['era']}: {', '.join(report['era_releases'])})"
          + (f", {report['adopted']}" if report["adopted"] else ""))
    print("  " + _assumptions(args))
    kernels = report["kernel_limits"]
    kernel_binds = kernels is not None and kernels["bound"] < report["grid_bound"] and (
        report["cap"] is None or kernels["bound"] < report["cap"])
    print(f"max_chunk_tokens = {report['max_chunk_tokens']:,}"
          + (f"  (other kernels' limit; the grid bound is {report['grid_bound']:,})" if kernel_binds
             else f"  (empirical cap; the grid bound is {report['grid_bound']:,})" if capped else ""))
    print(f"grid bound {report['grid_bound']:,}: every n in [1, {report['grid_bound']:,}] launches with "
          f"grid.y <= {facts.GRID_DIM_Y_MAX:,} under policy {report['policy']}")
    print(f"  binds at n = {report['grid_bound'] + 1:,} with tile {report['binding_tile']}: "
          f"{report['ctas_past_bound']:,} CTAs > budget {report['cta_budget']:,} "
          f"({report['ctas_at_bound']:,} CTAs at n = {report['grid_bound']:,})")
    print(f"  counts: top_k' = {report['effective_top_k']}, local experts' = {report['effective_local_experts']}, "
          f"tiles {report['tiles']}, tune_max_num_tokens {report['tune_max_num_tokens']}, "
          f"cluster_y {report['cluster_y']}")
    print(f"  cap: {report['cap'] if report['cap'] is not None else 'none'} ({report['cap_provenance']})")
    kernels = report["kernel_limits"]
    if kernels is not None:
        entry = kernels["binding"]
        if entry is None:
            print(f"other kernels (hidden {kernels['hidden_size']:,}, intermediate {kernels['intermediate_size']:,}): "
                  "no 32-bit offset or token grid of this release binds below 2^31 tokens")
        else:
            print(f"other kernels (hidden {kernels['hidden_size']:,}, intermediate {kernels['intermediate_size']:,}): "
                  f"{kernels['bound']:,} tokens; binds at n = {kernels['bound'] + 1:,}: {entry['name']} "
                  f"({entry['kind']}{'' if entry['tile'] is None else ', tile ' + str(entry['tile'])}): "
                  f"{entry['value_past_bound']:,} > {entry['limit']:,}")
            print(f"  {entry['code']}  [{entry['where']}; {entry['runs']}]")
    else:
        print("other kernels: not checked (give --hidden-size and --intermediate-size)")
    for fault in report["known_faults"]:
        print(fault["message"])
    return 0


def main(argv=None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`boundcheck prove | head -1`): stop quietly, as a pipe
        # writer should, and keep Python from reporting the closed stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _main(argv=None) -> int:
    parser = build_parser()
    words = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(words)
    except SystemExit as stop:
        if stop.code == EXIT_BAD_INPUT and "--json" in words:
            # argparse says "argument --num-experts: ...": name it as our own errors do
            named = re.match(r"argument (-[-\w]+)", _LAST_PARSE_ERROR[0])
            print(json.dumps({"error": _LAST_PARSE_ERROR[0], "argument": named.group(1) if named else None,
                              "exit_code": EXIT_BAD_INPUT}))
        raise
    try:
        if args.command == "prove":
            return _prove(args)
        if args.command == "chunk":
            return _chunk(args)
        return args.run(args)
    except BoundcheckInputError as error:
        # Name the argument as the user typed it: num_experts -> --num-experts.
        flag = "--" + error.argument.replace("_", "-")
        known = any(flag in action.option_strings for action in _all_actions(parser))
        message = str(error).replace(error.argument, flag, 1) if known else str(error)
        print(f"boundcheck: error: {message}", file=sys.stderr)
        if getattr(args, "json", False):
            # Machines read stdout: the error is a JSON object there too.
            argument = flag if known else error.argument
            print(json.dumps({"error": message, "argument": argument, "exit_code": EXIT_BAD_INPUT}))
        return EXIT_BAD_INPUT


def _all_actions(parser):
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from sub._actions


if __name__ == "__main__":
    sys.exit(main())
