"""closed_form: sympy derives the largest safe n for a fixed tile; Z3 checks it.

Trust: sympy (the derivation, re-checked), Z3 (the check), boundcheck.geometry and
boundcheck.bound.largest_safe_tokens_at_tile (what is checked).

The derivation starts from the model's own CTA function lifted to sympy, takes the
regime where the expanded tokens outnumber the experts (n*K > E, where the count is
E + floor((n*K - E)/t)), turns floor(x) <= c into x < c + 1 (c an integer), lets sympy
solve the linear inequality for n, and takes the largest integer below the root. The
result enters only as a tagged fact ("by sympy solve") and is re-checked by Z3:

- closed_form          the sympy result equals boundcheck's largest_safe_tokens_at_tile
                       for every tile, experts 1..2050 <= budget, K' 1..34.
- closed_form_vllm     vLLM's (E + (65535 - E + 1) * 128 - 1) // top_k equals the sympy
                       result at tile 128 and limit 65535 (the formula of PR #43599).

Broken twin: closed_form[vLLM off by one], the plausible (E + (65535 - E) * 128) // top_k,
claimed equal to the closed form.
"""

from __future__ import annotations

import functools

import z3

from boundcheck.bound import largest_safe_tokens_at_tile
from boundcheck.geometry import GRID_CLUSTER_RULES, cta_budget, max_num_ctas_in_batch_dim
from boundcheck.ops import INT
from boundcheck.solver.backends import SYMPY, Z3_INT
from boundcheck.solver.core import REFUTED
from boundcheck.solver.obligation import Case, Obligation, Query

from .domain import CLUSTER_Y_SIZES
from .int32 import ALL_TILES

@functools.cache
def _symbols():
    import sympy as sp  # loaded by the derivation alone (see boundcheck.solver.backends)

    return dict(zip(("n", "K", "E", "TILE", "BUDGET"),
                    sp.symbols("n K E tile budget", positive=True, integer=True)))


def __getattr__(name):
    # The derivation's symbols n, K, E, TILE, BUDGET, made on first use.
    if name in ("n", "K", "E", "TILE", "BUDGET"):
        return _symbols()[name]
    raise AttributeError(name)


@functools.cache
def derive():
    """The derivation, as (step, expression) pairs; the last is the closed form."""
    import sympy as sp

    n, K, E, TILE, BUDGET = _symbols().values()
    steps = []
    ctas = max_num_ctas_in_batch_dim(n, K, E, TILE, SYMPY)
    steps.append(("CTAs(n) = getMaxNumCtasInBatchDim lifted to sympy", ctas))
    # Regime n*K > E: every expert holds a token, Min(E, n*K) = E and the leftover is positive.
    regime = ctas.replace(sp.Min, lambda *args: E).replace(
        sp.Piecewise, lambda *pairs: pairs[0][0]
    )
    steps.append(("regime n*K > E: Min(E, n*K) = E, leftover > 0", regime))
    inequality = regime <= BUDGET
    steps.append(("require CTAs(n) <= budget", inequality))
    floor_term = [a for a in sp.Add.make_args(regime) if isinstance(a, sp.floor)][0]
    rest = regime - floor_term
    # floor(x) <= c  <=>  x < c + 1, for an integer c.
    strict = sp.StrictLessThan(floor_term.args[0], BUDGET - rest + 1)
    steps.append(("floor(x) <= c  <=>  x < c + 1  (c integer)", strict))
    solved = sp.solve(strict, n)
    steps.append(("sympy solve for n", solved))
    root = sp.solve(sp.Eq(strict.lhs, strict.rhs), n)[0]
    largest = sp.ceiling(sp.together(root)) - 1
    steps.append(("largest integer n below the root: ceiling(root) - 1", largest))
    return steps, largest


def to_z3(expr, env):
    """Translate the closed form (integers, + * /, floor, ceiling) into Z3 integers."""
    import sympy as sp

    if expr.is_Integer:
        return int(expr)
    if expr.is_Symbol:
        return env[expr.name]
    if isinstance(expr, (sp.floor, sp.ceiling)):
        numerator, denominator = sp.fraction(sp.together(expr.args[0]))
        num, den = to_z3(sp.expand(numerator), env), to_z3(denominator, env)
        # den > 0 on the domain: Z3's div is then floor division.
        return num / den if isinstance(expr, sp.floor) else -((-num) / den)
    if expr.is_Add:
        return z3.Sum(*[to_z3(a, env) for a in expr.args])
    if expr.is_Mul:
        result = 1
        for a in expr.args:
            result = result * to_z3(a, env)
        return result
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        base = to_z3(expr.base, env)
        result = 1
        for _ in range(int(expr.exp)):
            result = result * base
        return result
    raise ValueError(f"closed form has a construct the Z3 translation does not cover: {expr}")


@functools.cache
def _closed_form_in_z3():
    """The sympy result as one Z3 term over E, K, tile and budget: translated once, then
    instantiated per query with z3.substitute (the translation is the slow part)."""
    _, largest = derive()
    env = {name: z3.Int(name) for name in ("E", "K", "tile", "budget")}
    term = to_z3(largest, env)

    def at(e, k, tile, budget):
        pairs = [(env["E"], e), (env["K"], k), (env["tile"], z3.IntVal(tile)),
                 (env["budget"], z3.IntVal(budget))]
        return z3.substitute(term, *pairs)

    return at


def _closed_form_queries(case):
    theirs_at = _closed_form_in_z3()
    e, k = z3.Ints("experts top_k_effective")
    # Every CTA budget some release's grid rule gives some proven cluster size.
    budgets = sorted({cta_budget(65535, cy, rule) for rule in GRID_CLUSTER_RULES for cy in CLUSTER_Y_SIZES})
    for budget in budgets:
        for tile in ALL_TILES:
            # K' symbolic: both sides divide by K', so the query is nonlinear, yet z3 decides
            # it in milliseconds once both numerators are sums of monomials (an unknown
            # would be reported as such, never as proved).
            ours = largest_safe_tokens_at_tile(k, e, tile, budget, Z3_INT)
            theirs = theirs_at(e, k, tile, budget)
            yield Query(f"t{tile}_b{budget}", [1 <= e, e <= 2050, 1 <= k, k <= 34, ours != theirs], [e, k])


def _vllm_queries(case, formula):
    theirs_at = _closed_form_in_z3()
    e, k = z3.Ints("experts top_k_effective")
    theirs = theirs_at(e, k, 128, 65535)
    yield Query("tile128", [1 <= e, e <= 2050, 1 <= k, k <= 34, formula(e, k) != theirs], [e, k],
                explain=lambda v: _explain_vllm(v, formula))


def _explain_vllm(values, formula):
    e, k = values.get("experts", 1), values.get("top_k_effective", 1)
    return {"num_experts": e, "top_k": k, "formula": formula(e, k, INT),
            "closed_form": largest_safe_tokens_at_tile(k, e, 128, 65535)}


def vllm_formula(e, k, ops=Z3_INT):
    return ops.div(e + (65535 - e + 1) * 128 - 1, k)


def vllm_off_by_one(e, k, ops=Z3_INT):
    return ops.div(e + (65535 - e) * 128, k)


# The three obligations that need sympy's derivation run in one worker, which imports
# sympy and derives once while the other works on the rest.
_ONE_WORKER = ("sympy derivation",)
# Started first (the runner starts the heaviest groups first): sympy's import and
# derivation take about a second, as much as a large case.
_SYMPY_WEIGHT = 50

CLOSED_FORM = Obligation(
    name="closed_form",
    statement="sympy's solution of CTAs(n) <= budget equals the model's largest_safe_tokens_at_tile",
    domain="every tile, experts 1..2050, K' 1..34 (symbolic), every CTA budget of a release's grid rule and "
           "cluster_y 1, 2 (65535, 65534, 32767)",
    cases=lambda: [Case("closed_form", "sympy + z3", key=_ONE_WORKER, weight=_SYMPY_WEIGHT)],
    build=_closed_form_queries,
    method="sympy + z3",
)

CLOSED_FORM_VLLM = Obligation(
    name="closed_form_vllm",
    statement="vLLM's (E + (65535 - E + 1) * 128 - 1) // top_k is exactly the closed form at tile 128",
    domain="experts 1..2050, top_k' 1..34",
    cases=lambda: [Case("closed_form_vllm", "tile 128", key=_ONE_WORKER, weight=_SYMPY_WEIGHT)],
    build=lambda case: _vllm_queries(case, vllm_formula),
    method="sympy + z3",
)

CLOSED_FORM_VLLM_OFF_BY_ONE = Obligation(
    name="closed_form[vLLM off by one]",
    statement="(E + (65535 - E) * 128) // top_k is the closed form at tile 128",
    domain="experts 1..2050, top_k' 1..34",
    cases=lambda: [Case("closed_form[vLLM off by one]", "tile 128", key=_ONE_WORKER, weight=_SYMPY_WEIGHT)],
    build=lambda case: _vllm_queries(case, vllm_off_by_one),
    expect=REFUTED,
    twin_of="closed_form_vllm",
    method="sympy + z3",
)

THEOREMS = [CLOSED_FORM, CLOSED_FORM_VLLM]
TWINS = [CLOSED_FORM_VLLM_OFF_BY_ONE]
