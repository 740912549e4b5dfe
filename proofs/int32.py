"""int32: at n <= C the launcher's int32 arithmetic equals the mathematical arithmetic.

Trust: boundcheck.geometry.int32_expressions (the launcher's int32 expressions),
boundcheck.solver.tracked (explicit no-overflow predicates), Z3.

- int32_semantics            for 32-bit words a, b: if a+b, a-b, a*b fits int32, the
                             bit-vector result is that number; a / t for a >= 0 and each
                             tile t is the floor quotient (bit-vector encoding).
- bound_below_largest_tile   every policy's C is at most the bound of the precision's
                             largest tile, C_max.
- int32                      for every n in [1, C_max] and every tile of the precision,
                             every +, -, *, / of getMaxNumCtasInBatchDim,
                             getMaxPermutedPaddedCount (+1) and the launcher's
                             num_tokens * topK, with global and local counts, fits int32
                             (and n < 2^25, so C + 1 stays where the power-of-two chain is exact).
Together: at every n <= C the C++ int32 evaluation equals the model's.

Broken twin: int32[hidden 7168], older flashinfer's `num_tokens * hidden_size` in
int32 (DeepSeek-V3, hidden 7168), claimed to fit at every n <= C.
"""

from __future__ import annotations

import z3

from boundcheck.geometry import int32_expressions
from boundcheck.policy import Policy
from boundcheck.solver.core import REFUTED
from boundcheck.solver.obligation import Case, Obligation, Query
from boundcheck.solver.tracked import CHECKED_INT32, Checked
from boundcheck.releases import ERAS
from boundcheck.tiles import POWER_OF_TWO_EXPONENTS

from .cases import era_named, key_with_largest_tile, label, lemmas_or, precision_policy_cases, resolve, scope, slices
from . import tile_choice_lemmas
from .domain import DOMAIN_TEXT, proof_limits, symbols

ALL_TILES = tuple(sorted({t for era in ERAS for tiles in era.tiles.values() for t in tiles}))


def _largest(tiles) -> Policy:
    return Policy("fixed", max(tiles))


# --- int32_semantics (bit-vectors) ---------------------------------------------------

def _semantics_queries(case):
    a, b = z3.BitVecs("a b", 32)
    wide_a, wide_b = z3.SignExt(32, a), z3.SignExt(32, b)

    def fits(x):
        return z3.And(x >= -(2**31), x <= 2**31 - 1)

    for name, narrow, wide in (("add", a + b, wide_a + wide_b), ("sub", a - b, wide_a - wide_b)):
        yield Query(name, [fits(wide), z3.SignExt(32, narrow) != wide], arithmetic=False)
    # The launcher multiplies by top_k' (1..34) and by a tile: multiplications by constants.
    for c in sorted(set(range(1, 35)) | set(ALL_TILES)):
        yield Query(f"mul{c}", [fits(wide_a * c), z3.SignExt(32, a * c) != wide_a * c], arithmetic=False)
    for tile in ALL_TILES:
        yield Query(f"div{tile}", [a >= 0, z3.SignExt(32, a / tile) != wide_a / tile], arithmetic=False)


INT32_SEMANTICS = Obligation(
    name="int32_semantics",
    statement="an int32 a+b, a-b, a*c whose exact result fits int32, and a/t with a >= 0, equal the exact result (32-bit bit-vectors)",
    domain="all 32-bit words a, b; c each top_k' 1..34 and tile; t each tile",
    cases=lambda: [Case("int32_semantics", "bv32")],
    build=_semantics_queries,
)


# --- bound_below_largest_tile ----------------------------------------------------------

def _below_queries(case):
    era, precision, tiles, policy = resolve(case)
    sym = symbols()
    claim_negated = sym.bound(tiles, policy, era) > sym.bound(tiles, _largest(tiles), era)
    for k in slices(policy, era, precision):
        yield Query(f"k{k or 'sym'}", sym.at(k, sym.constraints(era, precision) + [claim_negated]), sym.shrink_order())


BOUND_BELOW_LARGEST_TILE = Obligation(
    name="bound_below_largest_tile",
    statement="C under every policy is at most C_max, the bound of the precision's largest tile",
    domain=DOMAIN_TEXT,
    cases=lambda: precision_policy_cases("bound_below_largest_tile", key=key_with_largest_tile),
    build=lemmas_or("bound_below_largest_tile", _below_queries),
    method=tile_choice_lemmas.METHOD_TEXT,
)


# --- int32 -----------------------------------------------------------------------------

def _int32_queries(case, extra_expression=None):
    """One query per effective top_k K' (linear, hence fast and stable)."""
    tiles, era_name, precision = case.params[:3]
    sym = symbols()
    era = era_named(era_name)  # its CTA formula, grid rounding and domain (fixed-tile bounds)
    log = []
    tokens = Checked(sym.tokens, log)
    log.append(z3.And(sym.tokens >= 0, sym.tokens <= 2**31 - 1))  # num_tokens is an int
    # ... and within the range where the model's next_positive_power_of_2 is exact.
    log.append(sym.tokens < 2**POWER_OF_TWO_EXPONENTS)
    top_k = Checked(sym.top_k, log) + sym.shared
    global_experts = Checked(sym.num_experts, log) + sym.shared
    local_experts = Checked(sym.local, log) + sym.shared
    if extra_expression is None:
        for tile in tiles:
            int32_expressions(tokens, top_k, global_experts, local_experts, tile, CHECKED_INT32, era.cta_formula)
    else:
        extra_expression(tokens)
    negated = [1 <= sym.tokens, sym.tokens <= sym.bound(tiles, _largest(tiles), era), z3.Not(z3.And(*log))]
    for k in slices(None, era, precision):
        yield Query(
            f"k{k}",
            sym.at(k, sym.constraints(era, precision) + negated),
            sym.shrink_order(),
            explain=lambda v, e=extra_expression, k=k: _explain_int32(v, e, k),
        )


def _explain_int32(values, extra, top_k_effective):
    n = values.get("tokens", 0)
    cex = {"tokens": n, "num_experts": values.get("num_experts"),
           "top_k": top_k_effective - values.get("shared_experts", 0),
           "shared_experts": values.get("shared_experts"), "local_experts": values.get("local_experts")}
    if extra is not None:
        cex |= {"int32": "num_tokens * 7168", "value": n * 7168, "limit": 2**31 - 1}
    return cex


def _int32_cases():
    # The claim depends on a precision only through its tiles (each tile's expressions
    # and the largest tile's bound).
    return [Case("int32", label(e, p, "all tiles"), (tiles, e.name, p),
                 ("int32", tiles, e.cta_formula, e.grid_cluster, proof_limits(e, p)))
            for e in scope() for p, tiles in e.tiles.items()]


INT32 = Obligation(
    name="int32",
    statement="for n <= C_max every int32 operation the launcher applies to n, top_k and the expert counts fits int32",
    domain=DOMAIN_TEXT + "; every tile of the precision; n in [1, C_max]",
    cases=_int32_cases,
    build=_int32_queries,
)

INT32_HIDDEN_7168 = Obligation(
    name="int32[hidden 7168]",
    statement="older flashinfer's int32 num_tokens * hidden_size (hidden 7168) fits at every n <= C",
    domain=DOMAIN_TEXT,
    cases=lambda: [Case("int32[hidden 7168]", "nvfp4", (ERAS[-1].tiles["nvfp4"], ERAS[-1].name, "nvfp4"))],
    build=lambda case: _int32_queries(case, extra_expression=lambda tokens: tokens * 7168),
    expect=REFUTED,
    twin_of="int32",
)

THEOREMS = [INT32_SEMANTICS, BOUND_BELOW_LARGEST_TILE, INT32]
TWINS = [INT32_HIDDEN_7168]
