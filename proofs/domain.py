"""The proof domain as solver constraints, built from boundcheck.domain's constants.

Trust: boundcheck.domain (the same ranges the CLI and the guard accept).

Everything is symbolic: num_experts E, top_k K, shared experts S, local experts L,
tune_max_num_tokens T, tokens n, and the CTA budget B, which ranges over
cta_budget(65535, y, rule) for each proven Y cluster size y under the release's grid rule
(lemma cluster_rounding turns "grid.y <= 65535 for cluster y" into "CTAs <= B"). Queries that
multiply or divide by the effective top_k K' = K + S (the per-tile bounds, the
tile-choosing policies under `prove --literal`, the int32 lemma) are split by K' (1 up to
what the releases in scope accept, at most 34): with K' a number they are linear and each
takes milliseconds instead of seconds; the values of K' together cover the domain. By
default the tile-choosing policies' theorems rest on proofs/tile_choice_lemmas.py, whose
queries have no K' at all.
"""

from __future__ import annotations

import z3

from boundcheck import domain as D
from boundcheck import facts
from boundcheck.bound import Counts, bound_for_budget, within_budget
from boundcheck.geometry import cta_budget, ctas_function, int32_expressions, launched_grid_y
from boundcheck.policy import TILE_CHOOSING, allowed_tiles_mask
from boundcheck.solver.backends import Z3_INT

EFFECTIVE_TOP_KS = range(1, D.MAX_TOP_K + D.MAX_SHARED_EXPERTS + 1)
CLUSTER_Y_SIZES = D.CLUSTER_Y_SIZES

DOMAIN_TEXT = (
    f"num_experts 1..{D.MAX_EXPERTS}, top_k 1..min({D.MAX_TOP_K}, num_experts), "
    f"shared 0..{D.MAX_SHARED_EXPERTS}, local experts 1..num_experts, "
    f"tune_max_num_tokens 1..2^31-1, cluster_y in {{{', '.join(map(str, CLUSTER_Y_SIZES))}}}; "
    "up to 0.4.0 within what the release accepts (top_k <= 8, no shared experts)"
)


def budgets_for(grid_limit, rule):
    """{cta_budget(limit, y, rule) -> y} for the proven cluster sizes (the first y of a
    shared budget: with "ignored" every size has the whole limit)."""
    budgets = {}
    for y in CLUSTER_Y_SIZES:
        budgets.setdefault(cta_budget(grid_limit, y, rule), y)
    return budgets


class Symbols:
    """The domain's symbols. Formulas are built once with a symbolic top_k; `at(k, ...)`
    substitutes an effective top_k K' (z3.substitute, C-level and fast) to get the
    linear per-slice query."""

    def __init__(self, grid_limit=facts.GRID_DIM_Y_MAX):
        self._memo = {}
        self.grid_limit = grid_limit
        (self.num_experts, self.top_k, self.shared, self.local, self.tune_max, self.tokens,
         self.budget) = z3.Ints(
            "num_experts top_k shared_experts local_experts tune_max_num_tokens tokens cta_budget"
        )
        self.counts = Counts(
            global_experts=self.num_experts + self.shared,
            local_experts=self.local + self.shared,
            top_k=self.top_k + self.shared,
        )

    def constraints(self, era, precision=None):
        """The domain (proof_limits) in release `era`, whose getGridDim rule gives the CTA
        budgets of the proven cluster sizes (with "ignored", the whole limit for each)."""
        limits = proof_limits(era, precision)
        budgets = budgets_for(self.grid_limit, era.grid_cluster)
        key = ("constraints", limits, tuple(budgets))
        if key not in self._memo:
            e, s, k = self.num_experts, self.shared, self.top_k
            max_experts, max_top_k, max_shared = limits
            self._memo[key] = [
                1 <= e, e <= max_experts,
                0 <= s, s <= max_shared,
                1 <= k, k <= max_top_k, k <= e,
                1 <= self.local, self.local <= e,
                1 <= self.tune_max, self.tune_max <= D.MAX_TUNE_MAX_NUM_TOKENS,
                z3.Or(*[self.budget == b for b in budgets]),
            ]
        return list(self._memo[key])

    def at(self, top_k_effective, formulas):
        """The formulas on the slice K' = top_k + shared = top_k_effective (None: all).
        Each formula's slice is made once per process: the domain and the bound C recur
        in every obligation's queries."""
        if top_k_effective is None:
            return list(formulas)
        pair = (self.top_k, top_k_effective - self.shared)
        sliced = []
        for f in formulas:
            key = ("at", top_k_effective, f.get_id())
            if key not in self._memo:
                # keep f alive with its slice, so that its id is not reused
                self._memo[key] = (f, z3.substitute(f, pair))
            sliced.append(self._memo[key][1])
        return sliced

    def shrink_order(self):
        return [self.num_experts, self.top_k, self.local, self.tune_max, self.tokens, self.shared]

    def whole_model(self) -> Counts:
        """The counts with every expert local (no expert parallelism)."""
        return Counts(self.counts.global_experts, self.counts.global_experts, self.counts.top_k)

    def bound(self, tiles, policy, era, whole_model=False):
        key = ("bound", tiles, str(policy), era.geometry_key(), whole_model)
        if key not in self._memo:
            counts = self.whole_model() if whole_model else self.counts
            self._memo[key], _ = bound_for_budget(counts, tiles, policy, self.tune_max, self.budget, era, Z3_INT)
        return self._memo[key]

    def launches(self, tokens, tiles, policy, era, whole_model=False):
        """Every tile the policy allows at `tokens` needs at most the budget's CTAs."""
        key = ("launches", tiles, str(policy), era.geometry_key(), whole_model)
        if key not in self._memo:
            counts = self.whole_model() if whole_model else self.counts
            self._memo[key] = within_budget(
                self.tokens, counts, tiles, policy, self.tune_max, self.budget, era, Z3_INT
            )
        formula = self._memo[key]
        return formula if tokens.eq(self.tokens) else z3.substitute(formula, (self.tokens, tokens))

    def explainer(self, tiles, policy, era, top_k_effective=None, tokens_of="tokens"):
        """Turn a model into the counterexample a user can paste (evaluated on ints)."""
        limit, budgets = self.grid_limit, budgets_for(self.grid_limit, era.grid_cluster)

        def explain(values):
            e = values.get("num_experts", 1)
            s = values.get("shared_experts", 0)
            kk = top_k_effective if top_k_effective is not None else values.get("top_k", 1) + s
            local = values.get("local_experts", e)
            t_max = values.get("tune_max_num_tokens", 1)
            cy = budgets.get(values.get("cta_budget"), 1)
            n = values.get("tokens", 1) if tokens_of == "tokens" else tokens_of(values, kk)
            counts = Counts(e + s, local + s, kk)
            return explain_tokens(n, counts, tiles, policy, t_max, cy, limit, era) | {
                "num_experts": e, "top_k": kk - s, "shared_experts": s, "local_experts": local,
                "tune_max_num_tokens": t_max, "cluster_y": cy,
            }

        return explain


def explain_tokens(n, counts, tiles, policy, tune_max, cluster_y, limit, era):
    """The first tile the policy allows at n that breaks a limit, with its numbers."""
    mask = allowed_tiles_mask(policy, tiles, n, counts, tune_max, era)
    ctas_of = ctas_function(era)
    for allowed, tile in zip(mask, tiles):
        if not allowed:
            continue
        ctas = ctas_of(n, counts.top_k, counts.local_experts, tile)
        grid_y = launched_grid_y(ctas, cluster_y, rule=era.grid_cluster)
        if grid_y > limit:
            return {"tokens": n, "tile": tile, "ctas": ctas, "grid_y": grid_y, "limit": limit, "flashinfer": era.span}
        for label, value in int32_expressions(
            n, counts.top_k, counts.global_experts, counts.local_experts, tile, formula=era.cta_formula
        ).items():
            if value > facts.INT32_MAX:
                return {"tokens": n, "tile": tile, "ctas": ctas, "int32": label,
                        "value": value, "limit": facts.INT32_MAX}
    allowed_tiles = [t for a, t in zip(mask, tiles) if a]
    worst = min(allowed_tiles) if allowed_tiles else tiles[0]
    ctas = ctas_of(n, counts.top_k, counts.local_experts, worst)
    return {"tokens": n, "tile": worst, "ctas": ctas, "grid_y": launched_grid_y(ctas, cluster_y, rule=era.grid_cluster), "limit": limit,
            "flashinfer": era.span}


_SYMBOLS: dict = {}


def symbols(grid_limit=facts.GRID_DIM_Y_MAX) -> Symbols:
    """This process's symbols, so that formulas common to several obligations (the bound
    C, say) are built once."""
    if grid_limit not in _SYMBOLS:
        _SYMBOLS[grid_limit] = Symbols(grid_limit)
    return _SYMBOLS[grid_limit]


def proof_limits(era, precision):
    """(experts, top_k, shared) the queries quantify over: the widest domain, which holds
    what every release accepts (so that releases with equal geometry share their queries),
    except with 0.2.8 - 0.4.0's CTA formula, whose product min(n*K', E) * ceil(n/t) Z3
    decides only over what those releases accept (boundcheck.domain.limits: top_k <= 8,
    no shared experts)."""
    if era is None or precision is None or not era.cta_formula.rounds_padded_count:
        return D.MAX_EXPERTS, D.MAX_TOP_K, D.MAX_SHARED_EXPERTS
    return D.limits(era, precision)


def accepted_top_k_limit(eras) -> int:
    """The largest effective top_k K' = top_k + shared experts any of `eras` accepts for
    any of its precisions (boundcheck.domain.limits)."""
    return max(sum(D.limits(era, precision)[1:]) for era in eras for precision in era.tiles)


def slices(policy=None, era=None, precision=None, eras=None):
    """The effective top_k values a policy's queries run over (None: one symbolic query).
    The tile-picking policies compare n*K' with tile * experts, and 0.2.8 - 0.4.0's CTA
    formula multiplies min(n*K', E) by ceil(n/t): linear only with K' a number.

    K' runs from 1 to the largest value that `era` or any release of `eras` (the run's
    scope) accepts, under the widest domain's constraints (proof_limits): every case of a
    run gets the same slices, so cases that share their queries cover each other's
    configurations, and a slice's query is the same text in every run. With 0.2.8 -
    0.4.0's formula, up to what the release accepts for the precision."""
    if era is not None and era.cta_formula.rounds_padded_count:
        _, max_top_k, max_shared = proof_limits(era, precision)
        return list(range(1, max_top_k + max_shared + 1))
    if policy is not None and policy.kind not in TILE_CHOOSING:
        return [None]
    releases_in_scope = tuple(eras or ()) + ((era,) if era is not None else ())
    if not releases_in_scope:
        return list(EFFECTIVE_TOP_KS)
    return list(range(1, accepted_top_k_limit(releases_in_scope) + 1))
