"""tile_choice_exact: the model's integer tile comparison is the launcher's double one.

Trust: IEEE-754 round-to-nearest (below), Z3 for the premise.

computeSelectedTileN computes avg = double(num_tokens) * double(top_k) / num_local_experts
and keeps tiles with `tile < avg`; the model compares `tile * L < m * K` on integers.
They agree when m*K < 2^53: the product and the conversions are then exact, so the only
rounding is the division, q' = q(1 + d) with |d| <= 2^-53. If t*L = m*K then q = t is
exact and both say "not below". Otherwise |q - t| >= 1/L while |q' - q| <= q 2^-53 =
m*K / (L 2^53) < 1/L, so q' lies on the same side of t as q. The query proves the
premise m*K < 2^53 on the whole domain (m: an int32 token count or bucket, K' <= 34);
tests/test_tile_choice.py compares the two comparisons on ties and near-ties.
"""

from __future__ import annotations

import z3

from boundcheck.solver.obligation import Case, Obligation, Query


def _queries(case):
    m, k, experts = z3.Ints("tokens top_k experts")
    domain = [1 <= m, m <= 2**31 - 1, 1 <= k, k <= 34, 1 <= experts, experts <= 2050]
    yield Query("product_below_2^53", domain + [m * k >= 2**53], [m, k, experts])


TILE_CHOICE_EXACT = Obligation(
    name="tile_choice_exact",
    statement="the launcher's double avg comparison tile < n*K/L equals the integer tile*L < n*K",
    domain="n (or bucket) 1..2^31-1, K' 1..34, L 1..2050 (IEEE-754 argument; premise by Z3)",
    cases=lambda: [Case("tile_choice_exact", "double")],
    build=_queries,
    method="z3 (the premise) + the IEEE-754 argument above",
)

THEOREMS = [TILE_CHOICE_EXACT]
TWINS: list = []
