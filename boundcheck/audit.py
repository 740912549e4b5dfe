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
- unknown  if any query the verdict or the report rests on (safety, tightness, the ratio
           searches, the cap, the domain checks) comes back neither sat nor unsat: every
           solver answer is read through one function (_ask), which maps sat and unsat and
           raises on anything else, so a timeout is never read as "no" or "yes"; the report
           names the query not decided and what was decided before it.
Every model read is a whole model of its query, checked against it: a counterexample and
every configuration printed lie in the printed domain. The report (and --json) carries
numbers as numbers.

tune_max_num_tokens tied to n must hold a value in [1, 2**31 - 1] at every n in [1, F]
(the engine passes one at every call): an expression or range empty at some such n would
make every claim about that n hold vacuously, so it is refused as an input error naming
--tune-max-num-tokens and the first such n (a refutation found first still stands: its
model has a value in the range).
Exit codes: 0 proved, 1 refuted, 3 unknown, 4 proved for the grid but above the empirical
cap (2: bad input, including a --target or formula past the lifting budgets of
boundcheck.lift).
"""

from __future__ import annotations

import json
import sys
import time

from . import domain as D
from . import facts, resolution
from .errors import BoundcheckInputError
from .audit_tune import ARGUMENT, parse_tune
from .lift import POWER_OF_TWO_LIMIT, lift_function, parse_formula

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

    from .bound import bound_for_budget
    from .caps import cap_for
    from .geometry import release_cta_budget
    from .policy import for_release, parse_policy
    from .solver.backends import Z3_INT
    from .solver.core import PROVED, REFUTED, UNKNOWN
    from boundcheck.proofs.domain import symbols

    era = resolution.resolve(flashinfer)
    version = resolution.resolve_version(flashinfer)
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
    if not tune.tied:  # the printed domain's tune_max_num_tokens: every model (counterexample) lies in it
        narrowed += [tune.low <= sym.tune_max, sym.tune_max <= tune.high]
    base = sym.constraints(era, precision) + narrowed
    formula, divisors = lifted(Z3_INT, E, K, L, S)
    formula = z3.IntVal(formula) if isinstance(formula, int) else formula  # a constant formula
    # Every model is read in full: these are the configuration's variables (top_k is the slice's).
    configuration = [E, S, L, sym.tune_max, sym.budget]
    with_tokens = configuration + [n]

    def tune_at(x):
        """The tune_max_num_tokens the engine passes at a call of x tokens, and its divisors."""
        low, low_divisors = tune.value_at(Z3_INT, "low", E, K, L, S, x, formula)
        high, high_divisors = tune.value_at(Z3_INT, "high", E, K, L, S, x, formula)
        return ([low <= sym.tune_max, sym.tune_max <= high, 1 <= sym.tune_max,
                 sym.tune_max <= D.MAX_TUNE_MAX_NUM_TOKENS], low_divisors + high_divisors)

    def no_tune_at(x):
        """The range holds no value at x tokens (or one of its divisors is <= 0 there)."""
        none, none_divisors = tune.none_at(Z3_INT, E, K, L, S, x, formula)
        return z3.Or(_bool(none), *[_positive(d, negate=True) for d in none_divisors])

    tune_n, tune_divisors = tune_at(n)
    k_values = range(top_k_range[0] + shared_range[0], top_k_range[1] + shared_range[1] + 1)
    start = time.perf_counter()
    report = {"formula": lifted.label, "precision": precision, "policy": str(policy_),
              "domain": {"num_experts": experts_range, "top_k": top_k_range, "local_experts":
                         local_range if local_experts is not None else "= num_experts",
                         "shared_experts": shared_range, "tune_max_num_tokens": tune.to_json(),
                         "cluster_y": cluster_y or list(D.CLUSTER_Y_SIZES)},
              "flashinfer": version, "era": era.name, "adopted": resolution.provenance(version) or None}
    established = []  # what is decided, for an unknown verdict's report

    def solve(name, extra, variables=with_tokens):
        """The first top_k' slice where `extra` holds on the domain: (k, values, constraints),
        or None where it holds on none (unknown raises _Undecided, through _ask)."""
        for k in k_values:
            constraints = sym.at(k, base + extra)
            values = _ask(constraints, f"{name} query for top_k' = {k}", timeout_s, variables)
            if values is not None:
                return k, values, constraints
        return None

    def refuted(name, found, message=None):
        k, values, constraints = found
        values = _shrink(constraints, sym.shrink_order(), values, with_tokens, min(timeout_s, 2.0))
        undecided = None
        if name == "safety":
            values, undecided = _first_failing_tokens(constraints, values, sym, tune.tied, with_tokens, timeout_s)
        cex = _counterexample(name, values, k, lifted, tiles, policy_, sym, era, tune, message)
        if undecided is not None:
            cex["first"] = False
            cex["undecided"] = undecided
        return report | {"status": REFUTED, "failed": name, "counterexample": cex,
                         "seconds": round(time.perf_counter() - start, 3)}

    try:
        if _ask(base, "domain query", timeout_s, configuration) is None:
            raise BoundcheckInputError(
                "--num-experts", "the domain is empty: no configuration has these ranges (top_k <= num_experts, "
                f"local experts <= num_experts): num_experts {experts_range}, top_k {top_k_range}, local experts "
                f"{local_range}, shared {shared_range}")
        checks = [
            ("divisor", "formula", [z3.Or(*[_positive(d, negate=True) for d in divisors])] if divisors else None),
            ("divisor", "tune", [1 <= n, n <= formula + 1, z3.Or(*[_positive(d, negate=True) for d in tune_divisors])]
             if tune_divisors else None),
            ("progress", None, [formula < 1]),
            ("safety", None, [1 <= n, n <= formula, z3.Not(sym.launches(n, tiles, policy_, era))] + tune_n),
        ]
        for name, part, negated in checks:
            if negated is None:
                continue
            found = solve(name, negated)
            if found is not None:
                return refuted(name, found, part)
            established.append(name if part is None else f"{name} ({part})")
        # An empty range at some n <= F would have made the safety query hold vacuously there.
        if tune.tied:
            empty = _first_empty_tune(base, sym, k_values, [1 <= n, n <= formula], no_tune_at(n), timeout_s,
                                      with_tokens)
            if empty is not None:
                raise BoundcheckInputError(ARGUMENT, _empty_tune_message(tune, empty, lifted, "the formula allows"))
            established.append("tune_max_num_tokens range (a value at every n in [1, F])")
        # Tight: n = F + 1 fails everywhere (the literal definition: F is the end of the first safe run).
        past = formula + 1
        tune_past, _ = tune_at(past)
        found = solve("tight", [sym.launches(past, tiles, policy_, era)] + tune_past)
        tight, looser_at, tight_note = found is None, None, ""
        if found is not None:
            looser_at = _point(found[1], found[0], lifted, tiles, policy_, tune, sym, era)
        elif tune.tied:
            gap = solve("tight (tune_max_num_tokens range at F + 1)", [no_tune_at(past)])
            if gap is not None:
                tight = None
                tight_note = ("tightness is undefined: the range holds no tune_max_num_tokens at n = F + 1 at "
                              + _configuration(_point(gap[1], gap[0], lifted, tiles, policy_, tune, sym, era)))
        established.append("tight")
        loosest, tightest, ratio_note = None, None, ""
        if tune.tied and not tune.single:
            ratio_note = "no single proven bound per configuration when tune_max_num_tokens is a range tied to n"
        else:
            if tune.tied:
                def tune_fn(x):
                    return tune.value_at(Z3_INT, "low", E, K, L, S, x, formula)[0]

                bound = bound_for_budget(sym.counts, tiles, policy_, tune_fn, sym.budget, era, Z3_INT)[0]
                problems = [
                    solve("bound_safety", [1 <= n, n <= bound, z3.Not(sym.launches(n, tiles, policy_, era))] + tune_n),
                    solve("bound_tight", [sym.launches(bound + 1, tiles, policy_, era)] + tune_at(bound + 1)[0]),
                    solve("bound_tune_range", [1 <= n, n <= bound + 1, no_tune_at(n)]),
                ]
                if any(problem is not None for problem in problems):
                    bound, ratio_note = None, ("the first-failure bound C under this tied tune_max_num_tokens is not "
                                               "proven here, so no ratio F / C is reported")
            else:
                bound = sym.bound(tiles, policy_, era)
            if bound is not None:
                extremes = [_extreme_ratio(kind, sym, base, formula, bound, k_values, timeout_s, configuration)
                            for kind in ("min", "max")]
                if None in extremes:
                    ratio_note = "no configuration of the domain has a ratio F / C"
                else:
                    loosest, tightest = ({"ratio_bound": r, **_point(m, kk, lifted, tiles, policy_, tune, sym, era)}
                                         for r, m, kk in extremes)
        established.append("ratios")
        cap, why = cap_for(precision)
        cap_report = None
        if cap is not None:
            found = solve("cap", [formula > cap], configuration)
            cap_report = {"tokens": cap, "provenance": why, "exceeded": found is not None,
                          "at": _point(found[1], found[0], lifted, tiles, policy_, tune, sym, era) if found else None}
    except _Undecided as undecided:
        return report | {"status": UNKNOWN, "undecided": undecided.what,
                         "reason": f"{undecided.what}: {undecided.reason} (not decided; decided before it: "
                                   f"{', '.join(established) or 'nothing'})",
                         "established": established, "seconds": round(time.perf_counter() - start, 3)}
    return report | {"status": PROVED, "tight": tight, "tight_note": tight_note, "looser_at": looser_at,
                     "loosest": loosest, "tightest": tightest, "ratio_note": ratio_note, "cap": cap_report,
                     "counterexample": None, "seconds": round(time.perf_counter() - start, 3)}


class _Undecided(Exception):
    """A solver query answered neither sat nor unsat (a timeout, or unknown)."""

    def __init__(self, what, reason):
        super().__init__(f"{what}: {reason}")
        self.what, self.reason = what, reason


def _ask(constraints, what, timeout_s, variables=()):
    """The one place audit reads a solver's answer, mapping each explicitly: unsat -> None;
    sat -> the model's values, every one of `variables` included and the model checked
    against every constraint (so a counterexample lies in the domain it is printed with);
    anything else raises _Undecided naming `what`: unknown is never read as sat or unsat."""
    import z3

    from .solver.core import _model_ints, make_solver

    solver = make_solver(timeout_s)
    solver.add(*constraints)
    answer = solver.check()
    if answer == z3.unsat:
        return None
    if answer != z3.sat:
        raise _Undecided(what, solver.reason_unknown() or "unknown")
    model = solver.model()
    values = _model_ints(model)
    for var in variables:
        if str(var) not in values:
            values[str(var)] = model.eval(var, model_completion=True).as_long()
    if not all(z3.is_true(model.eval(c, model_completion=True)) for c in constraints):
        raise _Undecided(what, "the solver's model does not satisfy the query")
    return values


def _bool(value):
    import z3

    return z3.BoolVal(value) if isinstance(value, bool) else value


def _positive(value, negate=False):
    """value > 0 (negate: value <= 0) as a solver term, for ints too."""
    import z3

    value = z3.IntVal(value) if isinstance(value, int) else value
    return value <= 0 if negate else value > 0


def _first_empty_tune(base, sym, k_values, within, none_at_n, timeout_s, variables):
    """The least n (over every configuration) within `within` where the tune range holds
    no value: (k, values, first decided?) or None. "Some n <= m has none" is monotone in
    m, so a binary search over m finds it; an undecided probe ends the search there."""
    n = sym.tokens
    found = [(k, values) for k in k_values
             for values in [_ask(sym.at(k, base + within + [none_at_n]), f"tune_max_num_tokens range query for "
                                 f"top_k' = {k}", timeout_s, variables)] if values is not None]
    if not found:
        return None
    slices = [k for k, _ in found]
    best_k, best = min(found, key=lambda pair: pair[1]["tokens"])
    low, high = 1, best["tokens"]
    while low < high:
        middle = (low + high) // 2
        try:
            hit = next(((k, values) for k in slices
                        for values in [_ask(sym.at(k, base + within + [none_at_n, n <= middle]),
                                            f"first n where the tune_max_num_tokens range is empty (n <= {middle:,})",
                                            timeout_s, variables)] if values is not None), None)
        except _Undecided:
            return best_k, best, False
        if hit is None:
            low = middle + 1
        else:
            best_k, best = hit
            high = best["tokens"]
    return best_k, best, True


def _empty_tune_message(tune, empty, lifted, allows):
    from .ops import INT

    k, values, first = empty
    e, s = values["num_experts"], values["shared_experts"]
    top_k, local = k - s, values["local_experts"]
    try:
        formula = f"F = {lifted(INT, e, top_k, local, s)[0]:,}"
    except (ZeroDivisionError, ValueError):
        formula = "F"
    where = (f"num_experts={e:,}, top_k={top_k:,}, local_experts={local:,}, shared_experts={s:,}")
    which = "the first such n" if first else "an n where it holds none (the first was not decided)"
    return (f"{tune.text!r} holds no tune_max_num_tokens in [1, {D.MAX_TUNE_MAX_NUM_TOKENS:,}] at n = "
            f"{values['tokens']:,} ({which}; {where}), where {allows} {formula}: the engine passes some "
            "value at every call, so this cannot be what it passes, and every claim about such n would hold "
            "vacuously; give an expression with a value at every n in [1, F]")


def _shrink(constraints, order, values, variables, timeout_s, steps=8):
    """solver.core.shrink with every probe answered by _ask: each model it keeps is a whole,
    checked model of the query, and an undecided probe ends that variable's search (no
    claim of minimality is made)."""
    from .solver.core import UNDECIDED, shrink

    def probe(probe_constraints, name, seconds):
        try:
            return _ask(probe_constraints, f"shrinking {name}", seconds, variables)
        except _Undecided:
            return UNDECIDED

    return shrink(constraints, order, values, timeout_s=timeout_s, steps=steps, probe=probe)


def _first_failing_tokens(constraints, values, sym, tune_tied, variables, timeout_s):
    """(values, undecided): the configuration pinned, the least n that fails: "some n <= m
    fails" is monotone in m, so a binary search over m finds the first failing token count
    exactly. An undecided probe ends it: `undecided` then says which, and the count found
    is a failing one, not shown to be the first."""
    pins = [var == values[str(var)] for var in (sym.num_experts, sym.shared, sym.local, sym.budget)]
    if not tune_tied:
        pins.append(sym.tune_max == values["tune_max_num_tokens"])
    low, high, best = 1, values["tokens"], dict(values)
    while low < high:
        middle = (low + high) // 2
        try:
            found = _ask(list(constraints) + pins + [sym.tokens <= middle],
                         f"first failing token count query (n <= {middle:,})", timeout_s, variables)
        except _Undecided as undecided:
            return best, f"{undecided.what}: {undecided.reason}"
        if found is None:
            low = middle + 1
        else:
            best, high = found, found["tokens"]
    return best, None


def _extreme_ratio(kind, sym, domain, formula, bound, k_values, timeout_s, variables):
    """(ratio to 1/1000, the model of a configuration near it, its slice) for min or max of
    F / C over the domain: binary search on p with the linear query 1000 F < p C (min) or
    1000 F >= p C (max) on every top_k' slice; None where no configuration has a ratio.
    Each probe's answer goes through _ask: an unknown ends the audit as unknown."""

    def probe(p):
        test = 1000 * formula < p * bound if kind == "min" else 1000 * formula >= p * bound
        for k in k_values:
            values = _ask(sym.at(k, domain + [test]), f"{'loosest' if kind == 'min' else 'tightest'} F / C query "
                          f"(p = {p}/1000) for top_k' = {k}", timeout_s, variables)
            if values is not None:
                return values, k
        return None

    low, high = 0, 1001
    witness = probe(0 if kind == "max" else 1001)
    if witness is None:
        return None
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

    e, s = values["num_experts"], values["shared_experts"]
    top_k, local = k - s, values["local_experts"]
    budget = values["cta_budget"]
    formula, _ = lifted(INT, e, top_k, local, s)
    if tune.tied:
        def tune_value(x):
            return tune.value_at(INT, "low", e, top_k, local, s, x, formula)[0]
    else:
        tune_value = values["tune_max_num_tokens"]
    bound, tile = bound_for_budget(Counts(e + s, local + s, k), tiles, policy, tune_value, budget, era)
    point = {"num_experts": e, "top_k": top_k, "local_experts": local, "shared_experts": s,
             "cluster_y": budgets_for(sym.grid_limit, era.grid_cluster).get(budget, 1),
             "formula": formula, "proven_bound": bound, "ratio": round(formula / bound, 4) if bound else None}
    if not tune.tied:
        point["tune_max_num_tokens"] = tune_value
    return point


def _counterexample(check, values, k, lifted, tiles, policy, sym, era, tune, part=None):
    """The failing configuration as numbers, all of one model of the query (so within the
    printed domain); for safety, the first token count that fails there (the search above)
    with the tile, CTAs and grid.y, and the tune_max_num_tokens the engine passes at that
    count. Where tune_max_num_tokens is tied to n and the check has no n, its expression."""
    from .bound import Counts, bound_for_budget
    from .ops import INT
    from boundcheck.proofs.domain import budgets_for, explain_tokens

    e, s = values["num_experts"], values["shared_experts"]
    top_k, local = k - s, values["local_experts"]
    budget = values["cta_budget"]
    tune_value = values["tune_max_num_tokens"]
    cluster = budgets_for(sym.grid_limit, era.grid_cluster).get(budget, 1)
    try:
        formula, _ = lifted(INT, e, top_k, local, s)
    except ZeroDivisionError:
        formula = "undefined (a division by zero)"
    counts = Counts(e + s, local + s, k)
    base = {"num_experts": e, "top_k": top_k, "local_experts": local, "shared_experts": s,
            "tune_max_num_tokens": tune_value if check == "safety" or not tune.tied else tune.text,
            "cluster_y": cluster, "formula": formula}
    if check == "safety":
        tokens = values["tokens"]
        base["proven_bound"] = bound_for_budget(counts, tiles, policy, tune_value, budget, era)[0]
        return explain_tokens(tokens, counts, tiles, policy, tune_value, cluster, facts.GRID_DIM_Y_MAX, era) | base
    beyond = f"or next_pow2 of a value above 2**{POWER_OF_TWO_LIMIT}, past what is modelled"
    if check == "divisor" and part == "tune":
        base["tokens"] = values["tokens"]
        why = f"at n = {values['tokens']:,} tokens, a divisor of tune_max_num_tokens is <= 0 ({beyond})"
    else:
        why = {"divisor": f"a divisor of the formula is <= 0 ({beyond})",
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


def _domain_text(name, value) -> str:
    """One entry of the report's domain (numbers in the report, commas here)."""
    if name == "tune_max_num_tokens":
        if isinstance(value, int):
            return f"{name} {value:,}"
        if isinstance(value, (list, tuple)):
            return f"{name} {value[0]:,}..{value[1]:,} (some value in the range)"
        return f"{name} {value}" + (" (some value in the range)" if ".." in value else "")
    if isinstance(value, (list, tuple)) and len(value) == 2 and name != "cluster_y":
        return f"{name} {value[0]}..{value[1]}"
    return f"{name} {value}"


def format_report(report) -> str:
    domain = report["domain"]
    lines = [f"audit of {report['formula']!r}",
             f"  model: flashinfer {report['flashinfer']} (era {report['era']}"
             + (f", {report['adopted']}" if report.get("adopted") else "") + f"), {report['precision']}, "
             f"policy {report['policy']}",
             "  domain: " + ", ".join(_domain_text(k, v) for k, v in domain.items()),
             f"  verdict: {report['status']}"]
    if report["status"] == "proved":
        tight = {True: "tight: n = F + 1 fails on every configuration (F is the largest safe chunk)",
                 False: "not tight", None: report.get("tight_note") or "tightness undefined"}[report["tight"]]
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
        else:
            which = "first failing token count" if cex.get("first", True) else "a failing token count"
            if "grid_y" in cex:
                lines.append(
                    f"  {which} n = {cex['tokens']:,} (tile {cex['tile']}: {cex['ctas']:,} CTAs, "
                    f"grid.y {cex['grid_y']:,} > {cex['limit']:,}) at {_configuration(cex)}; "
                    f"the formula allows {cex['formula']:,}, the proven bound there is {cex['proven_bound']:,}")
            else:
                lines.append(f"  {which} n = {cex['tokens']:,}: int32 {cex['int32']} = {cex['value']:,} "
                             f"> {cex['limit']:,} at {_configuration(cex)}")
            if not cex.get("first", True):
                lines.append(f"    (not shown to be the first: {cex['undecided']})")
    else:
        lines.append(f"  {report.get('reason')}")
    lines.append(f"  {report['seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit("use `boundcheck audit`")
