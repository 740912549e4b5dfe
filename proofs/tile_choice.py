"""tile_choice_exact: the model's integer tile comparison is the launcher's floating one.

Trust: IEEE-754 round-to-nearest (below), Z3 for the premises.

computeSelectedTileN computes avg = num_tokens * top_k / num_local_experts and compares
it with tile values; the model compares `value * L < m * K` on integers.

- double (0.7.1+): avg = double(m) * double(K) / L. When m*K < 2^53 the product and the
  conversions are exact, so the only rounding is the division, q' = q(1 + d) with
  |d| <= 2^-53. If t*L = m*K then q = t is exact and both say "not below". Otherwise
  |q - t| >= 1/L while |q' - q| <= q 2^-53 = m*K / (L 2^53) < 1/L, so q' lies on the same
  side of t as q. Premise: m*K < 2^53.
- float (0.5.0 - 0.7.0.post1): avg = float(m * K) / L (m * K in int64), then
  nextPowerOfTwo(avg) = the smallest power of two p >= ceil(avg) = the smallest p >= avg,
  as int32. Every value compared is a power of two p <= 256. If m*K >= 2^24, float(m*K)
  >= 2^24 (rounding is monotone and 2^24 is a float), so avg >= fl(2^24 / 2050) > 256 >= p
  and, exactly, p*L <= 256*2050 < 2^24 <= m*K: both say "below". If m*K < 2^24 it converts
  exactly and only the division rounds, |q' - q| <= q 2^-24: near p (q <= 2p <= 512) that
  is at most 2^-15 < 1/2050 <= 1/L, far above p (q > 2p) the rounded q' >= 2p > p; a tie
  q = p is exact. The ceil is cast to int32: premise avg <= m*K < 2^31 for m <= 2^25 (the
  model's token range, lemma int32) and K' <= 34.
tests/test_tile_choice.py compares the comparisons on ties and near-ties, in both widths.
"""

from __future__ import annotations

import z3

from boundcheck.solver.obligation import Case, Obligation, Query


def _queries(case):
    m, k, experts = z3.Ints("tokens top_k experts")
    domain = [1 <= m, m <= 2**31 - 1, 1 <= k, k <= 34, 1 <= experts, experts <= 2050]
    yield Query("double: product_below_2^53", domain + [m * k >= 2**53], [m, k, experts])
    yield Query("float: values_times_L_below_2^24", [1 <= experts, experts <= 2050, 256 * experts >= 2**24], [experts])
    yield Query("float: ceil_fits_int32", [1 <= m, m <= 2**25, 1 <= k, k <= 34, m * k >= 2**31], [m, k])


TILE_CHOICE_EXACT = Obligation(
    name="tile_choice_exact",
    statement="the launcher's floating avg comparisons (double from 0.7.1, float before) equal the integer value*L < n*K",
    domain="n (or bucket) 1..2^31-1 (float: 1..2^25), K' 1..34, L 1..2050 (IEEE-754 argument; premises by Z3)",
    cases=lambda: [Case("tile_choice_exact", "double and float")],
    build=_queries,
    method="z3 (the premises) + the IEEE-754 argument above",
)

THEOREMS = [TILE_CHOICE_EXACT]
TWINS: list = []
