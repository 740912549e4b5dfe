"""The chunk plans, exhaustively on a small domain (the proof covers all M, C)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from boundcheck.plan import chunk_count, equal_chunks, greedy_chunks


def _covers_exactly_once(chunks, m, c):
    position = 0
    for start, stop in chunks:
        assert start == position and 1 <= stop - start <= c
        position = stop
    assert position == m


def test_every_plan_up_to_120_tokens():
    for m in range(1, 121):
        for c in range(1, 41):
            equal, greedy = equal_chunks(m, c), greedy_chunks(m, c)
            _covers_exactly_once(equal, m, c)
            _covers_exactly_once(greedy, m, c)
            assert len(equal) == len(greedy) == chunk_count(m, c) == -(-m // c)
            sizes = [b - a for a, b in equal]
            assert max(sizes) - min(sizes) <= 1  # equal split: balanced


def test_zero_tokens_need_no_chunk():
    assert equal_chunks(0, 5) == [] and greedy_chunks(0, 5) == []


@given(c=st.integers(1, 10**6), chunks_wanted=st.integers(1, 300), rest=st.integers(0, 10**6))
@settings(max_examples=300, deadline=None)
def test_large_plans(c, chunks_wanted, rest):
    m = (chunks_wanted - 1) * c + 1 + rest % c
    chunks = equal_chunks(m, c)
    assert len(chunks) == -(-m // c)
    assert chunks[0][0] == 0 and chunks[-1][1] == m
    assert all(1 <= b - a <= c for a, b in chunks)
    assert all(chunks[i][1] == chunks[i + 1][0] for i in range(len(chunks) - 1))
