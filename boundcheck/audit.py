"""`boundcheck audit`: check another engine's chunk-size formula against the model.

Over the domain (num_experts and top_k over the proofs' whole domain unless narrowed; the
other counts as `chunk` defaults them: no shared experts, every expert local,
tune_max_num_tokens 8192, cluster_y 1; tune_max_num_tokens may be tied to the call's
tokens n, boundcheck.audit_tune), the formula F is
- proved   if every n in [1, F] launches under the policy (each allowed tile fits grid.y,
           with the engine's tune_max_num_tokens at that n) and F >= 1; the report says
           whether F is tight (n = F + 1 fails everywhere: the literal definition), and the
           loosest and tightest configurations by F / C (C the proven bound there);
           separately, whether F exceeds the precision's empirical cap anywhere;
- refuted  with the failing configuration and the first token count that fails there
           (tile, CTAs, grid.y);
- unknown  if a query times out.
Exit codes: 0 proved, 1 refuted, 3 unknown, 4 proved for the grid but above the empirical
cap (2: bad input).
"""

from __future__ import annotations

import json
import sys
import time

from . import facts, releases
from .errors import BoundcheckInputError
from .audit_tune import parse_tune
from .lift import lift_function, parse_formula

# 2 is argparse's: bad arguments. "above cap": safe for the grid, but above an empirical cap.
EXIT = {"proved": 0, "refuted": 1, "unknown": 3, "above cap": 4}


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
    source.add_argument("--formula", help="integer expression in E, K, L, S: + - * //, min, max, "
                                           "int/floor/ceil of a / b, next_pow2, if/else")
    source.add_argument("--target", help="path/to/file.py:FUNCTION, FILE.py:Class.method, MODULE:FUNCTION or "
                                         "MODULE:Class.method taking (some of) E, K, L, S (read and parsed, never "
                                         "imported or run)")
    from .releases import ALL_PRECISIONS

    p.add_argument("--precision", default="nvfp4", help=f"one of: {', '.join(ALL_PRECISIONS)}")
    p.add_argument("--policy", default="flashinfer",
                   help="flashinfer | default (autotuning off) | any | fixed:T (T a tile of the precision; up to "
                        "0.4.1 the caller's tile_tokens_dim)")
    p.add_argument("--num-experts", default=None, help="A or A..B (default: 1..2048)")
    p.add_argument("--top-k", default=None, help="A or A..B (default: 1..32, at most num_experts)")
    p.add_argument("--local-experts", default=None, help="A or A..B (default: every expert local)")
    p.add_argument("--shared-experts", default=None, help="A or A..B fused shared experts (default: 0, as chunk)")
    p.add_argument("--tune-max-num-tokens", default=None,
                   help="what the engine passes: A, A..B, or an expression in n (the call's tokens), F (the "
                        "formula), E, K, L, S, e.g. 'n', 'max(n, 8192)', 'next_pow2(n)', 'max(n, 8192)..' "
                        "(at least max(n, 8192)) (default: 8192, flashinfer's and chunk's)")
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
    """The audit itself, returning the report as a dict (see module docstring). The
    defaults are `chunk`'s: no shared experts, every expert local, tune_max_num_tokens 8192,
    cluster_y 1; num_experts and top_k range over the whole domain unless narrowed."""
    import z3

    from . import domain as D
    from .bound import bound_for_budget
    from .caps import cap_for
    from .geometry import release_cta_budget
    from .policy import for_release, parse_policy
    from .solver.backends import Z3_INT
    from .solver.core import PROVED, REFUTED, UNKNOWN, decide, make_solver, shrink
    from boundcheck.proofs.domain import symbols

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
    # Fused shared experts only where the release's launcher takes them; none unless asked (as chunk).
    max_shared = D.MAX_SHARED_EXPERTS if D.launcher_of(precision) in era.shared_experts else 0
    shared_range = parse_range("0" if shared_experts is None else shared_experts, "--shared-experts", 0, max_shared)
    tune = parse_tune(tune_max_num_tokens)
    if cluster_y == "both":
        cluster_y = None
    elif isinstance(cluster_y, str):
        cluster_y = int(cluster_y) if cluster_y.strip().isascii() and cluster_y.strip().isdigit() else cluster_y
    if cluster_y is not None and cluster_y not in D.CLUSTER_Y_SIZES:
        raise BoundcheckInputError("--cluster-y", f"must be one of {', '.join(map(str, D.CLUSTER_Y_SIZES))} or 'both', "
                                   f"got {cluster_y!r}")

    sym = symbols()
    E, K, L, S, n = sym.num_experts, sym.top_k, sym.local, sym.shared, sym.tokens
    narrowed = [
        experts_range[0] <= E, E <= experts_range[1],
        top_k_range[0] <= K, K <= top_k_range[1],
        local_range[0] <= L, L <= local_range[1],
        shared_range[0] <= S, S <= shared_range[1],
    ]
    if local_experts is None:
        narrowed.append(L == E)  # no EP unless asked for
    if cluster_y is not None:
        narrowed.append(sym.budget == release_cta_budget(sym.grid_limit, cluster_y, era))
    base = sym.constraints(era, precision) + narrowed
    formula, divisors = lifted(Z3_INT, E, K, L, S)
    formula = z3.IntVal(formula) if isinstance(formula, int) else formula  # a constant formula

    def tune_at(x):
        """The tune_max_num_tokens the engine passes at a call of x tokens, and its divisors."""
        low, low_divisors = tune.value_at(Z3_INT, "low", E, K, L, S, x, formula)
        high, high_divisors = tune.value_at(Z3_INT, "high", E, K, L, S, x, formula)
        return ([low <= sym.tune_max, sym.tune_max <= high, 1 <= sym.tune_max,
                 sym.tune_max <= D.MAX_TUNE_MAX_NUM_TOKENS], low_divisors + high_divisors)

    tune_n, tune_divisors = tune_at(n)
    _require_nonempty(base, [], "--num-experts", make_solver, timeout_s,
                      "no configuration has these ranges (top_k <= num_experts, local experts <= num_experts): "
                      f"num_experts {experts_range}, top_k {top_k_range}, local experts {local_range}, "
                      f"shared {shared_range}")
    _require_nonempty(base, [1 <= n, n <= D.MAX_TUNE_MAX_NUM_TOKENS] + tune_n, "--tune-max-num-tokens", make_solver,
                      timeout_s, f"no tune_max_num_tokens in [1, {D.MAX_TUNE_MAX_NUM_TOKENS:,}] satisfies "
                      f"{tune.text!r} on this domain")
    k_values = range(top_k_range[0] + shared_range[0], top_k_range[1] + shared_range[1] + 1)
    start = time.perf_counter()
    report = {"formula": lifted.label, "precision": precision, "policy": str(policy_),
              "domain": {"num_experts": experts_range, "top_k": top_k_range, "local_experts":
                         local_range if local_experts is not None else "= num_experts",
                         "shared_experts": shared_range, "tune_max_num_tokens": tune.describe(),
                         "cluster_y": cluster_y or list(D.CLUSTER_Y_SIZES)},
              "flashinfer": version, "era": era.name}

    def solve(name, extra):
        """The first slice where `extra` is satisfiable: (status, k, model values)."""
        for k in k_values:
            constraints = sym.at(k, base + extra)
            verdict = decide(constraints, name=f"audit.{name}.k{k}", timeout_s=timeout_s)
            if verdict.status != PROVED:
                return verdict.status, k, verdict.model, constraints, verdict.reason
        return PROVED, None, {}, None, ""

    all_divisors = divisors + tune_divisors
    checks = [
        ("divisor", [1 <= n, z3.Or(*[z3.IntVal(d) <= 0 if isinstance(d, int) else d <= 0 for d in all_divisors])]
         if all_divisors else [z3.BoolVal(False)]),
        ("progress", [formula < 1]),
        ("safety", [1 <= n, n <= formula, z3.Not(sym.launches(n, tiles, policy_, era))] + tune_n),
    ]
    for name, negated in checks:
        status, k, model, constraints, reason = solve(name, negated)
        if status == UNKNOWN:
            return report | {"status": UNKNOWN, "reason": f"{name} query for top_k' = {k}: {reason}",
                             "seconds": round(time.perf_counter() - start, 3)}
        if status == REFUTED:
            values = shrink(constraints, sym.shrink_order(), model, timeout_s=min(timeout_s, 2.0))
            if name == "safety":
                values = _first_failing_tokens(constraints, values, sym, tune.tied, make_solver, timeout_s)
            cex = _counterexample(name, values, k, lifted, tiles, policy_, sym, era)
            return report | {"status": REFUTED, "failed": name, "counterexample": cex,
                             "seconds": round(time.perf_counter() - start, 3)}
    # Tight: n = F + 1 fails everywhere (the literal definition: F is the end of the first safe run).
    past = formula + 1
    tune_past, _ = tune_at(past)
    status, k, model, _, _ = solve("tight", [sym.launches(past, tiles, policy_, era)] + tune_past)
    tight = {PROVED: True, REFUTED: False}.get(status)
    looser_at = _point(model, k, lifted, tiles, policy_, tune, sym, era) if status == REFUTED else None
    loosest, tightest, ratio_note = None, None, ""
    if tune.tied and not tune.single:
        ratio_note = "no single proven bound per configuration when tune_max_num_tokens is a range tied to n"
    else:
        if tune.tied:
            def tune_fn(x):
                return tune.value_at(Z3_INT, "low", E, K, L, S, x, formula)[0]

            bound = bound_for_budget(sym.counts, tiles, policy_, tune_fn, sym.budget, era, Z3_INT)[0]
            checked = [solve("bound_safety", [1 <= n, n <= bound, z3.Not(sym.launches(n, tiles, policy_, era))]
                             + tune_n)[0],
                       solve("bound_tight", [sym.launches(bound + 1, tiles, policy_, era)] + tune_at(bound + 1)[0])[0]]
            if checked != [PROVED, PROVED]:
                bound, ratio_note = None, ("the first-failure bound C under this tied tune_max_num_tokens is not "
                                           "proven here, so no ratio F / C is reported")
        else:
            bound = sym.bound(tiles, policy_, era)
        if bound is not None:
            domain = base + tune_n
            loosest = _extreme_ratio("min", sym, domain, formula, bound, k_values, make_solver, timeout_s)
            tightest = _extreme_ratio("max", sym, domain, formula, bound, k_values, make_solver, timeout_s)
            loosest, tightest = (
                {"ratio_bound": r, **_point(m, kk, lifted, tiles, policy_, tune, sym, era)}
                for r, m, kk in (loosest, tightest))
    cap, why = cap_for(precision)
    cap_report = None
    if cap is not None:
        status, k, model, _, _ = solve("cap", [formula > cap, 1 <= n] + tune_n)
        cap_report = {"tokens": cap, "provenance": why, "exceeded": status == REFUTED,
                      "at": _point(model, k, lifted, tiles, policy_, tune, sym, era) if status == REFUTED else None}
    return report | {"status": PROVED, "tight": tight, "looser_at": looser_at, "loosest": loosest,
                     "tightest": tightest, "ratio_note": ratio_note, "cap": cap_report, "counterexample": None,
                     "seconds": round(time.perf_counter() - start, 3)}


def _require_nonempty(base, extra, argument, make_solver, timeout_s, message):
    import z3

    solver = make_solver(timeout_s)
    solver.add(*base, *extra)
    if solver.check() == z3.unsat:
        raise BoundcheckInputError(argument, f"the domain is empty: {message}")


def _first_failing_tokens(constraints, values, sym, tune_tied, make_solver, timeout_s):
    """The configuration pinned, the least n that fails: "some n <= m fails" is monotone in
    m, so a binary search over m finds the first failing token count exactly."""
    import z3

    pins = [var == values[str(var)] for var in (sym.num_experts, sym.shared, sym.local, sym.budget)
            if str(var) in values]
    if not tune_tied and "tune_max_num_tokens" in values:
        pins.append(sym.tune_max == values["tune_max_num_tokens"])
    low, high, best = 1, values.get("tokens", 1), dict(values)
    while low < high:
        middle = (low + high) // 2
        solver = make_solver(timeout_s)
        solver.add(*constraints, *pins, sym.tokens <= middle)
        answer = solver.check()
        if answer == z3.sat:
            from .solver.core import _model_ints

            best = {**best, **_model_ints(solver.model())}
            high = best["tokens"]
        elif answer == z3.unsat:
            low = middle + 1
        else:
            break
    return best


def _extreme_ratio(kind, sym, domain, formula, bound, k_values, make_solver, timeout_s):
    """(ratio to 1/1000, the model of a configuration near it, its slice) for min or max of
    F / C over the domain: binary search on p with the linear query 1000 F < p C (min) or
    1000 F >= p C (max) on every top_k' slice."""
    import z3

    from .solver.core import _model_ints

    def probe(p):
        for k in k_values:
            solver = make_solver(timeout_s)
            test = 1000 * formula < p * bound if kind == "min" else 1000 * formula >= p * bound
            solver.add(*sym.at(k, domain + [test]))
            if solver.check() == z3.sat:
                return _model_ints(solver.model()), k
        return None

    low, high = 0, 1001
    witness = probe(0 if kind == "max" else 1001)
    while high - low > 1:
        middle = (low + high) // 2
        found = probe(middle)
        if (found is not None) == (kind == "min"):
            high = middle
            if kind == "min":
                witness = found
        else:
            low = middle
            if kind == "max":
                witness = found
    model, k = witness
    return low / 1000, model, k


def _point(values, k, lifted, tiles, policy, tune, sym, era):
    """A configuration of a model, with the formula F and the proven bound C there (ints)."""
    from .bound import Counts, bound_for_budget
    from .ops import INT
    from boundcheck.proofs.domain import budgets_for

    e, s = values.get("num_experts", 1), values.get("shared_experts", 0)
    top_k, local = k - s, values.get("local_experts", e)
    budget = values.get("cta_budget", facts.GRID_DIM_Y_MAX)
    formula, _ = lifted(INT, e, top_k, local, s)
    if tune.tied:
        def tune_value(x):
            return tune.value_at(INT, "low", e, top_k, local, s, x, formula)[0]
    else:
        tune_value = values.get("tune_max_num_tokens", tune.low)
    bound, tile = bound_for_budget(Counts(e + s, local + s, k), tiles, policy, tune_value, budget, era)
    point = {"num_experts": e, "top_k": top_k, "local_experts": local, "shared_experts": s,
             "cluster_y": budgets_for(sym.grid_limit, era.grid_cluster).get(budget, 1),
             "formula": formula, "proven_bound": bound, "ratio": round(formula / bound, 4) if bound else None}
    if not tune.tied:
        point["tune_max_num_tokens"] = tune_value
    return point


def _counterexample(check, values, k, lifted, tiles, policy, sym, era):
    """The failing configuration as numbers; for safety, the first token count that fails
    there (the search above) with the tile, CTAs and grid.y, and the tune_max_num_tokens
    the engine passes at that count."""
    from .bound import Counts, bound_for_budget
    from .ops import INT
    from boundcheck.proofs.domain import budgets_for, explain_tokens

    e, s = values.get("num_experts", 1), values.get("shared_experts", 0)
    top_k, local = k - s, values.get("local_experts", e)
    tune, budget = values.get("tune_max_num_tokens", 1), values.get("cta_budget", facts.GRID_DIM_Y_MAX)
    cluster = budgets_for(sym.grid_limit, era.grid_cluster).get(budget, 1)
    try:
        formula, _ = lifted(INT, e, top_k, local, s)
    except ZeroDivisionError:
        formula = "undefined (a division by zero)"
    counts = Counts(e + s, local + s, k)
    base = {"num_experts": e, "top_k": top_k, "local_experts": local, "shared_experts": s,
            "tune_max_num_tokens": tune, "cluster_y": cluster, "formula": formula}
    if check == "safety":
        tokens = values.get("tokens", 1)
        base["proven_bound"] = bound_for_budget(counts, tiles, policy, tune, budget, era)[0]
        return explain_tokens(tokens, counts, tiles, policy, tune, cluster, facts.GRID_DIM_Y_MAX, era) | base
    why = {"divisor": "a divisor of the formula (or of tune_max_num_tokens) is <= 0",
           "progress": "the formula is below 1 (no progress)"}[check]
    return base | {"message": f"{why} here (formula = {formula})"}


def exit_code(report) -> int:
    if report["status"] == "proved" and (report.get("cap") or {}).get("exceeded"):
        return EXIT["above cap"]
    return EXIT[report["status"]]


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
    return exit_code(report)


def _configuration(point) -> str:
    keys = ("num_experts", "top_k", "local_experts", "shared_experts", "tune_max_num_tokens", "cluster_y")
    return ", ".join(f"{k}={point[k]:,}" if isinstance(point[k], int) else f"{k}={point[k]}" for k in keys if k in point)


def format_report(report) -> str:
    domain = report["domain"]
    lines = [f"audit of {report['formula']!r}",
             f"  model: flashinfer {report['flashinfer']} (era {report['era']}), {report['precision']}, "
             f"policy {report['policy']}",
             "  domain: " + ", ".join(f"{k} {v[0]}..{v[1]}" if isinstance(v, (list, tuple)) and len(v) == 2
                                      and k != "cluster_y" else f"{k} {v}" for k, v in domain.items()),
             f"  verdict: {report['status']}"]
    if report["status"] == "proved":
        tight = {True: "tight: n = F + 1 fails on every configuration (F is the largest safe chunk)",
                 False: "not tight", None: "tightness unknown"}[report["tight"]]
        lines.append(f"  grid: every n in [1, F] launches on the whole domain; {tight}")
        if report.get("looser_at"):
            p = report["looser_at"]
            lines.append(f"    F + 1 = {p['formula'] + 1:,} still launches at {_configuration(p)} "
                         f"(proven bound there {p['proven_bound']:,})")
        for name, what in (("loosest", "smallest F / C, the most tokens left unused"),
                           ("tightest", "largest F / C, the closest to the proven bound")):
            p = report.get(name)
            if p:
                lines.append(f"  {name} ({what}): F / C = {p['ratio']} at {_configuration(p)}: "
                             f"F = {p['formula']:,}, C = {p['proven_bound']:,}")
        if report.get("ratio_note"):
            lines.append(f"  ratios: {report['ratio_note']}")
        cap = report.get("cap")
        if cap and cap["exceeded"]:
            p = cap["at"]
            lines.append(f"  ABOVE THE EMPIRICAL CAP: F = {p['formula']:,} > {cap['tokens']:,} at {_configuration(p)} "
                         f"(exit {EXIT['above cap']}); the cap: {cap['provenance']}")
        elif cap:
            lines.append(f"  within the empirical cap {cap['tokens']:,} everywhere")
    elif report["status"] == "refuted":
        cex = report["counterexample"]
        if "message" in cex:
            lines.append(f"  {cex['message']} at " + ", ".join(f"{k}={v}" for k, v in cex.items() if k != "message"))
        elif "grid_y" in cex:
            lines.append(
                f"  first failing token count n = {cex['tokens']:,} (tile {cex['tile']}: {cex['ctas']:,} CTAs, "
                f"grid.y {cex['grid_y']:,} > {cex['limit']:,}) at {_configuration(cex)}; "
                f"the formula allows {cex['formula']:,}, the proven bound there is {cex['proven_bound']:,}")
        else:
            lines.append(f"  first failing token count n = {cex['tokens']:,}: int32 {cex['int32']} = {cex['value']:,} "
                         f"> {cex['limit']:,} at {_configuration(cex)}")
    else:
        lines.append(f"  {report.get('reason')}")
    lines.append(f"  {report['seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit("use `boundcheck audit`")
