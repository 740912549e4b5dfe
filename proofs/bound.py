"""Theorems about the chunk bound C = max_chunk_tokens(...), per precision and policy.

Trust: boundcheck.bound (both the closed form C and the literal `is_safe`), Z3.

- cluster_rounding  grid.y, the CTA count as each release's getGridDim turns it into
             grid.y for a Y cluster y (as is, rounded up to y, or times y), is <= 65535
             exactly when the CTA count is <= that rule's budget. The theorems below
             quantify over each era's budgets.
- safety     every n in [1, C] launches: each tile the policy allows at n needs at most
             the budget's CTAs, so grid.y <= 65535. With proofs/int32.py (the
             launcher's int32 values stay in range at n <= C) this is `is_safe`.
- tightness  n = C + 1 is unsafe: C is the largest bound with that property.
- progress   C >= smallest_bound() = 7,288 >= 1 everywhere: every chunk holds a token
             (the loop ends), and below that count the guard needs no lookup.

For the tile-choosing policies (`flashinfer`, `default`, 0.4.1's caller heuristic) safety,
tightness and progress are proved by the K'-free lemmas of proofs/tile_choice_lemmas.py and
their composition; `prove --literal` checks them here, one query per effective top_k.

Broken twins (each must be refuted, with a counterexample):
- safety[C+1]            the off-by-one bound C + 1 is claimed safe;
- safety[vLLM tile 128]  vLLM's tile-128 bound used for FP8 per-tensor, where the
                         flashinfer policy can run tile 64;
- tightness[C-1]         C - 1 is claimed to be the largest safe bound;
- progress[limit 7]      a device with grid limit 7 is claimed to admit one token (it cannot
                         once top_k exceeds the CTA budget, as every release allows).
"""

from __future__ import annotations

import z3

from boundcheck.bound import Counts, bound_for_budget, smallest_bound
from boundcheck.facts import GRID_DIM_Y_MAX
from boundcheck.geometry import GRID_CLUSTER_RULES, cta_budget, launch_fits
from boundcheck.policy import parse_policy
from boundcheck.releases import ERAS
from boundcheck.solver.backends import Z3_INT
from boundcheck.solver.core import REFUTED
from boundcheck.solver.obligation import Case, Obligation, Query

from .cases import era_named, geometry, label, lemmas_or, precision_policy_cases, resolve, scope, slices
from . import tile_choice_lemmas
from .domain import CLUSTER_Y_SIZES, DOMAIN_TEXT, symbols


def _slice_queries(case, claim, *, grid_limit=GRID_DIM_Y_MAX, slice_list=None):
    """One query per effective top_k K' (or one symbolic): the domain, the negated claim."""
    era, precision, tiles, policy = resolve(case)
    sym = symbols(grid_limit)
    negated, tokens_of = claim(sym, tiles, policy, era)
    for k in slice_list or slices(policy, era, precision):
        yield Query(
            name=f"k{'sym' if k is None else k}",
            constraints=sym.at(k, sym.constraints(era, precision) + negated),
            shrink_vars=sym.shrink_order(),
            explain=sym.explainer(tiles, policy, era, k, tokens_of),
        )


def _safety_claim(offset=0, bound_policy=None, bound_era=None):
    def claim(sym, tiles, policy, era):
        bound = sym.bound(tiles, bound_policy or policy, bound_era or era) + offset
        n = sym.tokens
        return [1 <= n, n <= bound, z3.Not(sym.launches(n, tiles, policy, era))], "tokens"

    return claim


def _tightness_claim(offset=0):
    def claim(sym, tiles, policy, era):
        past = sym.bound(tiles, policy, era) + 1 + offset
        return [sym.launches(past, tiles, policy, era)], lambda v, k: _evaluate_past(tiles, policy, era, v, k, offset)

    return claim


def _evaluate_past(tiles, policy, era, values, top_k_effective, offset):
    e, s = values.get("num_experts", 1), values.get("shared_experts", 0)
    counts = Counts(e + s, values.get("local_experts", e) + s, top_k_effective)
    bound, _ = bound_for_budget(
        counts, tiles, policy, values.get("tune_max_num_tokens", 1), values.get("cta_budget", GRID_DIM_Y_MAX), era
    )
    return bound + 1 + offset


def _progress_claim(sym, tiles, policy, era):
    return [sym.bound(tiles, policy, era) < 1], lambda v, k: 1


def _smallest_claim(sym, tiles, policy, era):
    return [sym.bound(tiles, policy, era) < smallest_bound()], lambda v, k: 1


SAFETY = Obligation(
    name="safety",
    statement="every n in [1, C] launches: each tile the policy allows at n keeps grid.y <= 65535",
    domain=DOMAIN_TEXT + "; n in [1, C]",
    cases=lambda: precision_policy_cases("safety"),
    build=lemmas_or("safety", lambda case: _slice_queries(case, _safety_claim())),
    method=tile_choice_lemmas.METHOD_TEXT,
    weight=4,
)

TIGHTNESS = Obligation(
    name="tightness",
    statement="n = C + 1 is unsafe: some tile the policy allows overflows grid.y (C is the largest such bound)",
    domain=DOMAIN_TEXT,
    cases=lambda: precision_policy_cases("tightness"),
    build=lemmas_or("tightness", lambda case: _slice_queries(case, _tightness_claim())),
    method=tile_choice_lemmas.METHOD_TEXT,
    weight=3,
)

PROGRESS = Obligation(
    name="progress",
    statement=f"C >= {smallest_bound():,} for every valid configuration: every chunk holds a token, and "
    "below that count the guard calls the kernel with no lookup",
    domain=DOMAIN_TEXT,
    cases=lambda: precision_policy_cases("progress"),
    build=lemmas_or("progress", lambda case: _slice_queries(case, _smallest_claim)),
    method=tile_choice_lemmas.METHOD_TEXT,
)


def _one_case(name, precision, policy, eras=None, any_precision=False):
    """The twin's case in each era in scope that runs `precision` (or in `eras`).
    `any_precision`: the claim is wrong for every precision, so a release in scope
    without `precision` runs it with its own first precision."""
    def cases():
        chosen = [(e, precision) for e in scope() if precision in e.tiles and (eras is None or e.name in eras)]
        if not chosen and any_precision:
            chosen = [(e, next(iter(e.tiles))) for e in scope()[-1:]]
        if not chosen:
            # The twin tests the checker, not a release: with no release in scope that
            # runs its precision, it runs in the newest one that does (never zero cases,
            # which would read as refuted without a query).
            chosen = [(e, precision) for e in ERAS if precision in e.tiles and (eras is None or e.name in eras)][-1:]
        return [
            Case(name, label(e, p, policy), (e.name, p, policy),
                 key=("twin", geometry(e, e.tiles[p]), e.tiles[p], policy))
            for e, p in chosen
        ]

    return cases


SAFETY_OFF_BY_ONE = Obligation(
    name="safety[C+1]",
    statement="every n in [1, C + 1] is safe (off by one)",
    domain=DOMAIN_TEXT,
    cases=_one_case("safety[C+1]", "nvfp4", "flashinfer", any_precision=True),
    build=lambda case: _slice_queries(case, _safety_claim(offset=1), slice_list=[22, 8]),
    expect=REFUTED,
    twin_of="safety",
)

SAFETY_VLLM_TILE_128 = Obligation(
    name="safety[vLLM tile 128]",
    statement="vLLM's tile-128 bound keeps FP8 per-tensor safe under the flashinfer policy",
    domain=DOMAIN_TEXT,
    cases=_one_case("safety[vLLM tile 128]", "fp8_per_tensor", "flashinfer"),
    build=lambda case: _slice_queries(
        case, _safety_claim(bound_policy=parse_policy("fixed:128")), slice_list=[8]
    ),
    expect=REFUTED,
    twin_of="safety",
)

TIGHTNESS_MINUS_ONE = Obligation(
    name="tightness[C-1]",
    statement="C - 1 + 1 = C tokens are unsafe (the bound claimed one lower)",
    domain=DOMAIN_TEXT,
    cases=_one_case("tightness[C-1]", "bf16", "fixed:128"),
    build=lambda case: _slice_queries(case, _tightness_claim(offset=-1), slice_list=[8]),
    expect=REFUTED,
    twin_of="tightness",
)

PROGRESS_SMALL_LIMIT = Obligation(
    name="progress[limit 7]",
    statement="C >= 1 on a device whose grid limit is 7",
    domain=DOMAIN_TEXT,
    cases=_one_case("progress[limit 7]", "nvfp4", "flashinfer"),
    build=lambda case: _slice_queries(
        case, _progress_claim, grid_limit=7
    ),
    expect=REFUTED,
    twin_of="progress",
)

SAFETY_PREVIOUS_RELEASE = Obligation(
    name="safety[0.7.2 bound on 0.7.4]",
    statement="the bound proven for flashinfer 0.7.2.post1 keeps 0.7.4 safe (BF16, flashinfer policy)",
    domain=DOMAIN_TEXT,
    cases=_one_case("safety[0.7.2 bound on 0.7.4]", "bf16", "flashinfer", eras=("E24",)),
    build=lambda case: _slice_queries(case, _safety_claim(bound_era=era_named("E23")), slice_list=[22, 8]),
    expect=REFUTED,
    twin_of="safety",
)


def _rounding_queries(case):
    ctas = z3.Int("ctas")
    for rule in GRID_CLUSTER_RULES:
        for y in CLUSTER_Y_SIZES:
            fits = launch_fits(ctas, y, GRID_DIM_Y_MAX, Z3_INT, rule)
            yield Query(f"{rule}_cy{y}", [ctas >= 0, fits != (ctas <= cta_budget(GRID_DIM_Y_MAX, y, rule))], [ctas])


CLUSTER_ROUNDING = Obligation(
    name="cluster_rounding",
    statement="grid.y <= 65535 exactly when CTAs <= the CTA budget, for each release's getGridDim rule: "
              "CTAs (budget 65535), ceil(CTAs / y) * y (floor(65535 / y) * y), CTAs * y (floor(65535 / y))",
    domain=f"CTAs >= 0, cluster_y in {{{', '.join(map(str, CLUSTER_Y_SIZES))}}}, rule in {{{', '.join(GRID_CLUSTER_RULES)}}}",
    cases=lambda: [Case("cluster_rounding", "grid.y")],
    build=_rounding_queries,
)

THEOREMS = [CLUSTER_ROUNDING, SAFETY, TIGHTNESS, PROGRESS]
TWINS = [SAFETY_OFF_BY_ONE, SAFETY_VLLM_TILE_128, TIGHTNESS_MINUS_ONE, PROGRESS_SMALL_LIMIT, SAFETY_PREVIOUS_RELEASE]

__all__ = ["THEOREMS", "TWINS"]
