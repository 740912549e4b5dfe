"""partition: the chunk plan covers every token exactly once, in chunks of 1..C.

Trust: boundcheck.plan (the functions the guard runs), Z3. Symbolic: for ALL integers
M >= 1 and C >= 1 (unbounded; nonlinear integer arithmetic), with count = ceil(M / C):

- partition          chunk i of the equal split has 1..C tokens and starts where chunk
                     i - 1 stops; chunk 0 starts at 0 and chunk count-1 stops at M. So
                     the chunks tile [0, M) exactly once, and count <= M: the loop ends.
- partition_greedy   the greedy split (C, C, ..., remainder) also stays within C: every
                     chunk holds 1..C tokens, the last ending at M (chunk i starts at i*C).

Broken twin: partition[floor count] uses floor(M / C) chunks of the equal split and
claims each still holds at most C tokens.
"""

from __future__ import annotations

import z3

from boundcheck.plan import chunk_count, chunk_size, chunk_start, greedy_chunk_size, greedy_chunk_start
from boundcheck.solver.backends import Z3_INT as Z
from boundcheck.solver.core import REFUTED
from boundcheck.solver.obligation import Case, Obligation, Query


def _equal_claims(count_of):
    m, c, i = z3.Ints("tokens max_chunk index")
    count = count_of(m, c)
    inside = z3.And(0 <= i, i < count)
    size, start = chunk_size(i, m, count, Z), chunk_start(i, m, count, Z)
    claims = {
        "size_in_1_to_C": z3.Implies(inside, z3.And(1 <= size, size <= c)),
        "contiguous": z3.Implies(inside, chunk_start(i + 1, m, count, Z) == start + size),
        "starts_at_0": chunk_start(0, m, count, Z) == 0,
        "ends_at_M": chunk_start(count, m, count, Z) == m,
        "count_at_most_M": z3.And(1 <= count, count <= m),
    }
    return m, c, i, claims


def _queries(count_of, search_bound=None):
    def build(case):
        m, c, i, claims = _equal_claims(count_of)
        # A refutation needs one counterexample: bounding the search keeps it a valid one
        # and lets every solver find it.
        bounds = [m <= search_bound, c <= search_bound] if search_bound else []
        for name, claim in claims.items():
            yield Query(name, [m >= 1, c >= 1, *bounds, z3.Not(claim)], [m, c, i],
                        explain=lambda v: {"tokens": v.get("tokens"), "max_chunk": v.get("max_chunk"),
                                           "index": v.get("index")})
    return build


def _greedy_queries(case):
    m, c, i = z3.Ints("tokens max_chunk index")
    count = chunk_count(m, c, Z)
    inside = z3.And(0 <= i, i < count)
    size = greedy_chunk_size(i, m, c, Z)
    claims = {
        "size_in_1_to_C": z3.Implies(inside, z3.And(1 <= size, size <= c)),
        "ends_at_M": greedy_chunk_start(count - 1, c, Z) + greedy_chunk_size(count - 1, m, c, Z) == m,
    }
    for name, claim in claims.items():
        yield Query(name, [m >= 1, c >= 1, z3.Not(claim)], [m, c, i])


PARTITION = Obligation(
    name="partition",
    statement="the equal split of M tokens: ceil(M/C) <= M chunks of 1..C tokens tiling [0, M) in order",
    domain="all integers M >= 1, C >= 1 (symbolic)",
    cases=lambda: [Case("partition", "equal split")],
    build=_queries(lambda m, c: chunk_count(m, c, Z)),
)

PARTITION_GREEDY = Obligation(
    name="partition_greedy",
    statement="the greedy split (C, ..., C, rest): every chunk holds 1..C tokens and the last ends at M",
    domain="all integers M >= 1, C >= 1 (symbolic)",
    cases=lambda: [Case("partition_greedy", "greedy split")],
    build=_greedy_queries,
)

PARTITION_FLOOR_COUNT = Obligation(
    name="partition[floor count]",
    statement="floor(M/C) chunks of the equal split each hold at most C tokens",
    domain="all integers M >= 1, C >= 1 (symbolic)",
    cases=lambda: [Case("partition[floor count]", "equal split")],
    build=_queries(lambda m, c: Z.max(Z.div(m, c), 1), search_bound=64),
    expect=REFUTED,
    twin_of="partition",
)

THEOREMS = [PARTITION, PARTITION_GREEDY]
TWINS = [PARTITION_FLOOR_COUNT]
