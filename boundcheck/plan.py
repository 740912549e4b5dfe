"""How the guard splits M tokens into chunks of at most C: equal split.

Trust: nothing but integer arithmetic; proofs/partition.py proves, for all M >= 1 and
C >= 1, that the chunks cover [0, M) exactly once, in order, each of 1..C tokens.

Why equal and not greedy (C, C, ..., remainder): both use ceil(M / C) launches, but the
greedy split ends in a small remainder chunk, which runs with few CTAs and falls into
a different autotuner bucket and tile than the others. The equal split gives every
chunk floor(M / count) or that plus one tokens, so all chunks land in the same bucket
and do the same work. Both stay within C (proved for both).
"""

from __future__ import annotations

from .ops import INT


def chunk_count(num_tokens, max_chunk, ops=INT):
    """ceil(M / C): the fewest chunks of at most C tokens."""
    return ops.div(num_tokens + (max_chunk - 1), max_chunk)


def _base_and_extra(num_tokens, count, ops):
    base = ops.div(num_tokens, count)
    return base, num_tokens - base * count  # the first `extra` chunks get one more token


def chunk_start(index, num_tokens, count, ops=INT):
    base, extra = _base_and_extra(num_tokens, count, ops)
    return index * base + ops.min(index, extra)


def chunk_size(index, num_tokens, count, ops=INT):
    base, extra = _base_and_extra(num_tokens, count, ops)
    return base + ops.ite(index < extra, 1, 0)


def greedy_chunk_start(index, max_chunk, ops=INT):
    return index * max_chunk


def greedy_chunk_size(index, num_tokens, max_chunk, ops=INT):
    return ops.min(max_chunk, num_tokens - index * max_chunk)


def equal_chunks(num_tokens: int, max_chunk: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] for M tokens in chunks of at most C (equal split)."""
    count = chunk_count(num_tokens, max_chunk)
    return [
        (chunk_start(i, num_tokens, count), chunk_start(i, num_tokens, count) + chunk_size(i, num_tokens, count))
        for i in range(count)
    ]


def greedy_chunks(num_tokens: int, max_chunk: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] in chunks of exactly C and a remainder (for comparison)."""
    count = chunk_count(num_tokens, max_chunk)
    return [
        (greedy_chunk_start(i, max_chunk), greedy_chunk_start(i, max_chunk) + greedy_chunk_size(i, num_tokens, max_chunk))
        for i in range(count)
    ]
