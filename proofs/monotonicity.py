"""Monotonicity lemmas the argument relies on.

Trust: boundcheck.geometry.max_num_ctas_in_batch_dim, boundcheck.bound, Z3.

- ctas_monotone_tokens    CTAs(n, K, E, t) is nondecreasing in n*K (hence in n and K).
- ctas_monotone_experts   CTAs(n, K, E, t) is nondecreasing in E.
- ctas_antitone_tile      CTAs(n, K, E, t) is nonincreasing in t: the smallest tile a
                          policy allows is the one that binds.
(One linear query per tile in use, which any SMT solver decides quickly.)
- global_covers_local     the bound computed with the global expert count (no EP) is
                          at most the bound with any local count L <= E: a guard that
                          knows only the global count stays safe under EP (for the
                          tile-choosing policies by proofs/tile_choice_lemmas.py unless
                          `prove --literal`).

Broken twins: ctas_monotone_tile claims CTAs grow with the tile; local_covers_global
claims the bound of a local count L keeps the whole model (L = E) within the limit.
"""

from __future__ import annotations

import z3

from boundcheck.geometry import max_num_ctas_in_batch_dim, max_num_ctas_in_batch_dim_permuted_min
from boundcheck.policy import parse_policy
from boundcheck.solver.backends import Z3_INT
from boundcheck.solver.core import REFUTED
from boundcheck.solver.obligation import Case, Obligation, Query

from .cases import era_named, label, lemmas_or, precision_policy_cases, resolve, slices
from .int32 import ALL_TILES
from . import tile_choice_lemmas
from .domain import DOMAIN_TEXT, symbols

MAX_EXPANDED = 2**31 - 1
CTA_DOMAIN = ("runner.h's formula of 0.4.1 - 0.7.4; expanded tokens n*top_k' 0..2^31-1, experts 1..2050, "
              "every tile in use")
TILES = ALL_TILES


def _ctas(expanded, experts, tile):
    # getMaxNumCtasInBatchDim sees tokens and top_k only through numTokens * topK, so the
    # lemmas are stated on that product (top_k = 1), one query per tile (linear).
    return max_num_ctas_in_batch_dim(expanded, 1, experts, tile, Z3_INT)


def _cta_queries(negated_claim, tile_pairs=False):
    def build(case):
        r1, r2, e1, e2 = z3.Ints("expanded expanded2 experts experts2")
        domain = [0 <= r1, r1 <= MAX_EXPANDED, 0 <= r2, r2 <= MAX_EXPANDED,
                  1 <= e1, e1 <= 2050, 1 <= e2, e2 <= 2050]
        pairs = zip(TILES, TILES[1:]) if tile_pairs else ((t, t) for t in TILES)
        for t1, t2 in pairs:
            yield Query(f"t{t1}" + (f"_t{t2}" if tile_pairs else ""), domain + negated_claim(r1, r2, e1, e2, t1, t2),
                        [e1, e2, r1, r2], explain=lambda v, t1=t1, t2=t2: dict(v, tile=t1, tile2=t2))

    return build


def _single(name):
    return lambda: [Case(name, "geometry")]


CTAS_MONOTONE_TOKENS = Obligation(
    name="ctas_monotone_tokens",
    statement="CTAs is nondecreasing in the expanded tokens n*top_k, hence in n and in top_k",
    domain=CTA_DOMAIN,
    cases=_single("ctas_monotone_tokens"),
    build=_cta_queries(lambda r1, r2, e1, e2, t1, t2: [r1 <= r2, _ctas(r1, e1, t1) > _ctas(r2, e1, t1)]),
)

CTAS_MONOTONE_EXPERTS = Obligation(
    name="ctas_monotone_experts",
    statement="E1 <= E2 implies CTAs(n, E1) <= CTAs(n, E2)",
    domain=CTA_DOMAIN,
    cases=_single("ctas_monotone_experts"),
    build=_cta_queries(lambda r1, r2, e1, e2, t1, t2: [e1 <= e2, _ctas(r1, e1, t1) > _ctas(r1, e2, t1)]),
)

CTAS_ANTITONE_TILE = Obligation(
    name="ctas_antitone_tile",
    statement="a larger tile never needs more CTAs (each consecutive pair of tiles in use; by transitivity all)",
    domain=CTA_DOMAIN,
    cases=_single("ctas_antitone_tile"),
    build=_cta_queries(lambda r1, r2, e1, e2, t1, t2: [_ctas(r1, e1, t1) < _ctas(r1, e1, t2)], tile_pairs=True),
)

CTAS_MONOTONE_TILE = Obligation(
    name="ctas_monotone_tile",
    statement="a larger tile never needs fewer CTAs (the wrong direction)",
    domain=CTA_DOMAIN,
    cases=_single("ctas_monotone_tile"),
    build=_cta_queries(lambda r1, r2, e1, e2, t1, t2: [_ctas(r1, e1, t1) > _ctas(r1, e1, t2)], tile_pairs=True),
    expect=REFUTED,
    twin_of="ctas_antitone_tile",
)


def _covers_queries(case):
    era, precision, tiles, policy = resolve(case)
    sym = symbols()
    negated = sym.bound(tiles, policy, era, whole_model=True) > sym.bound(tiles, policy, era)
    for k in slices(policy, era, precision):
        yield Query(f"k{k or 'sym'}", sym.at(k, sym.constraints(era, precision) + [negated]), sym.shrink_order())


GLOBAL_COVERS_LOCAL = Obligation(
    name="global_covers_local",
    statement="the bound with the global expert count is at most the bound with any local count L <= E",
    domain=DOMAIN_TEXT,
    cases=lambda: precision_policy_cases("global_covers_local"),
    build=lemmas_or("global_covers_local", _covers_queries),
    method=tile_choice_lemmas.METHOD_TEXT,
)


def _swapped_queries(case):
    era_name, precision, policy_text = case.params
    era = era_named(era_name)
    tiles = era.tiles[precision]
    policy = parse_policy(policy_text, tiles)
    sym = symbols()
    n = sym.tokens
    negated = [1 <= n, n <= sym.bound(tiles, policy, era),
               z3.Not(sym.launches(n, tiles, policy, era, whole_model=True))]
    explain_whole = sym.explainer(tiles, policy, era, 8)

    def explain(values):
        return explain_whole(values | {"local_experts": values.get("num_experts", 1)}) | {
            "bound_from_local_experts": values.get("local_experts")
        }

    yield Query("k8", sym.at(8, sym.constraints(era, precision) + negated), sym.shrink_order(), explain)


LOCAL_COVERS_GLOBAL = Obligation(
    name="local_covers_global",
    statement="a bound computed from the local expert count keeps the whole model (L = E) safe",
    domain=DOMAIN_TEXT,
    cases=lambda: [Case("local_covers_global", label(era_named("E23"), "bf16", "fixed:128"), ("E23", "bf16", "fixed:128"))],
    build=_swapped_queries,
    expect=REFUTED,
    twin_of="global_covers_local",
)

def _permuted_antitone_queries(case):
    # 0.2.8 - 0.4.0 run the caller's one tile, so no bound there rests on this lemma; the
    # twin records that it fails for their formula (safety and tightness check each tile).
    n, e = z3.Ints("tokens experts")
    for t1, t2 in zip(TILES, TILES[1:]):
        negated = [max_num_ctas_in_batch_dim_permuted_min(n, 1, e, t1, Z3_INT)
                   < max_num_ctas_in_batch_dim_permuted_min(n, 1, e, t2, Z3_INT)]
        yield Query(f"t{t1}_t{t2}", [1 <= n, n <= 2**20, 1 <= e, e <= 2050] + negated, [e, n],
                    explain=lambda v, t1=t1, t2=t2: dict(v, top_k=1, tile=t1, tile2=t2))


CTAS_ANTITONE_TILE_PERMUTED = Obligation(
    name="ctas_antitone[permuted_min]",
    statement="with runner.h's formula of 0.2.8 - 0.4.0 a larger tile never needs more CTAs",
    domain="tokens 1..2^20, top_k 1, experts 1..2050, each consecutive pair of tiles",
    cases=_single("ctas_antitone[permuted_min]"),
    build=_permuted_antitone_queries,
    expect=REFUTED,
    twin_of="ctas_antitone_tile",
)

THEOREMS = [CTAS_MONOTONE_TOKENS, CTAS_MONOTONE_EXPERTS, CTAS_ANTITONE_TILE, GLOBAL_COVERS_LOCAL]
TWINS = [CTAS_MONOTONE_TILE, CTAS_ANTITONE_TILE_PERMUTED, LOCAL_COVERS_GLOBAL]
