"""`boundcheck audit`: check another engine's chunk-size formula against the model.

Over the domain (the proofs' whole domain, or the slice the options narrow it to), the
formula F is
- proved   if every n in [1, F] launches under the policy (each allowed tile fits grid.y)
           and F >= 1; the report then says whether F equals the proven bound C everywhere
           (tight) and its worst ratio F / C;
- refuted  with the smallest counterexample found (experts, top_k, tokens, tile, CTAs);
- unknown  if a query times out.
Exit codes 0, 1, 3 (2: bad input).
"""

from __future__ import annotations

import json
import sys
import time

from . import facts, releases
from .errors import BoundcheckInputError
from .lift import lift_function, parse_formula

EXIT = {"proved": 0, "refuted": 1, "unknown": 3}  # 2 is argparse's: bad arguments


def parse_range(text, argument, low, high):
    """'A' or 'A..B' within [low, high]."""
    if text is None:
        return (low, high)
    parts = str(text).split("..")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise BoundcheckInputError(argument, f"expected A or A..B, got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or values[0] > values[1] or values[0] < low or values[1] > high:
        raise BoundcheckInputError(argument, f"expected A or A..B within [{low}, {high}], got {text!r}")
    return tuple(values)


def add_parser(sub):
    p = sub.add_parser("audit", help="check another engine's chunk-size formula against the model")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--formula", help="integer expression in E, K, L, S: + - * //, min, max")
    source.add_argument("--target", help="MODULE:FUNCTION taking (some of) E, K, L, S")
    from .releases import ALL_PRECISIONS

    p.add_argument("--precision", default="nvfp4", help=f"one of: {', '.join(ALL_PRECISIONS)}")
    p.add_argument("--policy", default="flashinfer",
                   help="flashinfer | any | fixed:T (T a tile of the precision; up to 0.4.1 the caller's tile_tokens_dim)")
    for flag in ("--num-experts", "--top-k", "--local-experts", "--shared-experts", "--tune-max-num-tokens"):
        p.add_argument(flag, default=None, help="A or A..B")
    p.add_argument("--cluster-y", default="1",
                   help="1, 2 or 'both' (default: 1, as chunk: every MoE config in the checked kernel lists has a "
                        "Y cluster of 1; 2 asks about a hypothetical config under the release's grid rule)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per solver query")
    p.add_argument("--json", action="store_true")
    from .cli import add_flashinfer

    add_flashinfer(p)
    p.set_defaults(run=run)


def audit(lifted, *, precision="nvfp4", policy="flashinfer", num_experts=None, top_k=None,
          local_experts=None, shared_experts=None, tune_max_num_tokens=None, cluster_y=1, timeout_s=60.0,
          flashinfer=None):
    """The audit itself, returning the report as a dict (see module docstring)."""
    import z3

    from . import domain as D
    from .policy import for_release, parse_policy
    from .solver.backends import Z3_INT
    from .solver.core import PROVED, REFUTED, UNKNOWN, decide, make_solver, shrink
    from proofs.domain import symbols

    from .geometry import release_cta_budget

    era = releases.resolve(flashinfer)
    version = releases.resolve_version(flashinfer)
    if precision not in era.tiles:
        raise BoundcheckInputError(
            "--precision", f"precision {precision!r} has no launcher in flashinfer {version}; "
            f"expected one of {', '.join(era.tiles)}")
    tiles = era.tiles[precision]
    policy_ = for_release(parse_policy(policy, tiles), era, precision)
    experts_range = parse_range(num_experts, "--num-experts", 1, D.MAX_EXPERTS)
    top_k_range = parse_range(top_k, "--top-k", 1, D.MAX_TOP_K)
    local_range = parse_range(local_experts, "--local-experts", 1, D.MAX_EXPERTS)
    # Fused shared experts only where the release's launcher takes them.
    max_shared = D.MAX_SHARED_EXPERTS if D.launcher_of(precision) in era.shared_experts else 0
    shared_range = parse_range(shared_experts, "--shared-experts", 0, max_shared)
    tune_range = parse_range(tune_max_num_tokens, "--tune-max-num-tokens", 1, D.MAX_TUNE_MAX_NUM_TOKENS)
    if cluster_y == "both":
        cluster_y = None
    elif isinstance(cluster_y, str):
        cluster_y = int(cluster_y) if cluster_y.strip().isascii() and cluster_y.strip().isdigit() else cluster_y
    if cluster_y is not None and cluster_y not in D.CLUSTER_Y_SIZES:
        raise BoundcheckInputError("--cluster-y", f"must be one of {', '.join(map(str, D.CLUSTER_Y_SIZES))} or 'both', "
                                   f"got {cluster_y!r}")

    sym = symbols()
    narrowed = [
        experts_range[0] <= sym.num_experts, sym.num_experts <= experts_range[1],
        top_k_range[0] <= sym.top_k, sym.top_k <= top_k_range[1],
        local_range[0] <= sym.local, sym.local <= local_range[1],
        shared_range[0] <= sym.shared, sym.shared <= shared_range[1],
        tune_range[0] <= sym.tune_max, sym.tune_max <= tune_range[1],
    ]
    if local_experts is None:
        narrowed.append(sym.local == sym.num_experts)  # no EP unless asked for
    if cluster_y is not None:
        narrowed.append(sym.budget == release_cta_budget(sym.grid_limit, cluster_y, era))
    domain_check = make_solver(timeout_s)
    domain_check.add(*sym.constraints(era, precision), *narrowed)
    if domain_check.check() == z3.unsat:
        raise BoundcheckInputError(
            "--num-experts",
            "the domain is empty: no configuration has these ranges (top_k <= num_experts, local experts "
            f"<= num_experts): num_experts {experts_range}, top_k {top_k_range}, local experts {local_range}, "
            f"shared {shared_range}",
        )
    formula, divisors = lifted(Z3_INT, sym.num_experts, sym.top_k, sym.local, sym.shared)
    formula = z3.IntVal(formula) if isinstance(formula, int) else formula  # a constant formula
    bound = sym.bound(tiles, policy_, era)
    n = sym.tokens
    checks = [
        ("divisor", [z3.Or(*[z3.IntVal(d) <= 0 if isinstance(d, int) else d <= 0 for d in divisors])]
         if divisors else [z3.BoolVal(False)]),
        ("progress", [formula < 1]),
        ("safety", [1 <= n, n <= formula, z3.Not(sym.launches(n, tiles, policy_, era))]),
    ]
    k_values = range(top_k_range[0] + shared_range[0], top_k_range[1] + shared_range[1] + 1)
    start = time.perf_counter()
    report = {"formula": lifted.source.strip(), "precision": precision, "policy": str(policy_),
              "domain": {"num_experts": experts_range, "top_k": top_k_range, "local_experts":
                         local_range if local_experts is not None else "= num_experts",
                         "shared_experts": shared_range, "tune_max_num_tokens": tune_range,
                         "cluster_y": cluster_y or list(D.CLUSTER_Y_SIZES)},
              "flashinfer": version, "era": era.name}
    for name, negated in checks:
        for k in k_values:
            constraints = sym.at(k, sym.constraints(era, precision) + narrowed + negated)
            verdict = decide(constraints, name=f"audit.{name}.k{k}", timeout_s=timeout_s)
            if verdict.status == UNKNOWN:
                return report | {"status": UNKNOWN, "reason": f"{name} query for top_k' = {k}: {verdict.reason}",
                                 "seconds": round(time.perf_counter() - start, 3)}
            if verdict.status == REFUTED:
                values = shrink(constraints, sym.shrink_order(), verdict.model, timeout_s=min(timeout_s, 2.0))
                cex = _counterexample(name, values, k, lifted, tiles, policy_, sym, era)
                return report | {"status": REFUTED, "failed": name, "counterexample": cex,
                                 "seconds": round(time.perf_counter() - start, 3)}
    tight = True
    for k in k_values:
        constraints = sym.at(k, sym.constraints(era, precision) + narrowed + [formula < bound])
        verdict = decide(constraints, name=f"audit.tight.k{k}", timeout_s=timeout_s)
        if verdict.status != PROVED:
            tight = False if verdict.status == REFUTED else None
            break
    domain = sym.constraints(era, precision) + narrowed
    ratio = 1.0 if tight else _worst_ratio(sym, domain, formula, bound, k_values, make_solver, timeout_s)
    return report | {"status": PROVED, "tight": tight, "ratio": ratio, "counterexample": None,
                     "seconds": round(time.perf_counter() - start, 3)}


def _worst_ratio(sym, domain, formula, bound, k_values, make_solver, timeout_s):
    """min F / C over the domain, to 1/1000 from below: binary search on p with the linear
    query 'exists a configuration with 1000 F < p C' on every top_k' slice."""
    import z3

    def below(p):
        for k in k_values:
            solver = make_solver(timeout_s)
            solver.add(*sym.at(k, domain + [1000 * formula < p * bound]))
            if solver.check() == z3.sat:
                return True
        return False

    low, high = 0, 1000  # invariant: ratio >= low/1000, and ratio < high/1000 unless high == 1000
    while high - low > 1:
        middle = (low + high) // 2
        if below(middle):
            high = middle
        else:
            low = middle
    return low / 1000


def _counterexample(check, values, k, lifted, tiles, policy, sym, era):
    from .bound import Counts, bound_for_budget
    from .ops import INT
    from proofs.domain import budgets_for, explain_tokens

    e, s = values.get("num_experts", 1), values.get("shared_experts", 0)
    top_k, local = k - s, values.get("local_experts", e)
    tune, budget = values.get("tune_max_num_tokens", 1), values.get("cta_budget", 65535)
    cluster = budgets_for(sym.grid_limit, era.grid_cluster).get(budget, 1)
    try:
        formula, _ = lifted(INT, e, top_k, local, s)
    except ZeroDivisionError:
        formula = "undefined (a division by zero)"
    counts = Counts(e + s, local + s, k)
    bound, _ = bound_for_budget(counts, tiles, policy, tune, budget, era)
    base = {"num_experts": e, "top_k": top_k, "local_experts": local, "shared_experts": s,
            "tune_max_num_tokens": tune, "cluster_y": cluster, "formula": formula, "proven_bound": bound}
    if check == "safety":
        # The solver's n is some failing n <= F; the first one is C + 1 by the definition of
        # C (proved: safety and tightness), so report that, whatever the solver found.
        return explain_tokens(bound + 1, counts, tiles, policy, tune, cluster, facts.GRID_DIM_Y_MAX, era) | base
    why = {"divisor": "a divisor of the formula is <= 0", "progress": "the formula is below 1 (no progress)"}[check]
    return base | {"message": f"{why} here (formula = {formula})"}


def run(args) -> int:
    from .cli import check_timeout

    check_timeout(args.timeout)
    lifted = parse_formula(args.formula) if args.formula is not None else lift_function(args.target)
    report = audit(
        lifted, precision=args.precision, policy=args.policy, num_experts=args.num_experts,
        top_k=args.top_k, local_experts=args.local_experts, shared_experts=args.shared_experts,
        tune_max_num_tokens=args.tune_max_num_tokens, cluster_y=args.cluster_y, timeout_s=args.timeout,
        flashinfer=args.flashinfer,
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return EXIT[report["status"]]


def format_report(report) -> str:
    head = (f"audit of {report['formula']!r} under {report['precision']} / {report['policy']}, "
            f"flashinfer {report['flashinfer']}: {report['status']}")
    lines = [head]
    if report["status"] == "proved":
        tight = {True: "tight (equals the proven bound everywhere)", False: "not tight", None: "tightness unknown"}
        lines.append(f"  safe on the whole domain; {tight[report['tight']]}; "
                     f"worst ratio formula / proven bound = {report['ratio']:.3f}")
    elif report["status"] == "refuted":
        cex = report["counterexample"]
        if "message" in cex:
            lines.append(f"  {cex['message']} at " + ", ".join(f"{k}={v}" for k, v in cex.items() if k != "message"))
        else:
            lines.append(
                f"  grid.y {cex['grid_y']:,} > {cex['limit']:,} ({cex['ctas']:,} CTAs) at num_experts={cex['num_experts']}, "
                f"top_k={cex['top_k']}, tokens={cex['tokens']:,}, tile={cex['tile']} "
                f"(formula allows {cex['formula']:,}; proven bound {cex['proven_bound']:,}; "
                f"local_experts={cex['local_experts']}, shared={cex['shared_experts']}, "
                f"tune_max_num_tokens={cex['tune_max_num_tokens']}, cluster_y={cex['cluster_y']})"
            )
    else:
        lines.append(f"  {report.get('reason')}")
    lines.append(f"  domain: {report['domain']}; {report['seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit("use `boundcheck audit`")
