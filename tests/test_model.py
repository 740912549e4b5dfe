"""The model against an independent port of flashinfer (tests/oracle.py), and against
flashinfer's own Python where it is installed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boundcheck import facts
from boundcheck.bound import chunk_bound, effective_counts, is_safe, max_chunk_tokens
from boundcheck.geometry import int32_expressions, max_num_ctas_in_batch_dim
from boundcheck.policy import parse_policy
from boundcheck.tiles import (
    PRECISION_TILES,
    default_tile,
    fp4_launcher_tiles,
    map_to_hybrid_bucket,
    next_positive_power_of_2,
    selected_tiles,
)

from . import oracle

TILE_LISTS = sorted(set(PRECISION_TILES.values()))


def test_tile_sets_per_precision():
    assert PRECISION_TILES["nvfp4"] == (8, 16, 32, 64, 128, 192, 256)
    assert PRECISION_TILES["mxfp4_mxfp8"] == (8, 16, 32, 64, 128, 192, 256)
    assert PRECISION_TILES["mxfp4_bf16"] == (8, 16, 32, 64)
    for name in ("bf16", "fp8_per_tensor", "fp8_per_channel", "fp8_block", "mxint4"):
        assert PRECISION_TILES[name] == (8, 16, 32, 64, 128)
    assert PRECISION_TILES["mxfp8"] == (8, 16, 32, 64, 128, 256)
    # The FP4 launcher's other activation dtypes: no 192 without the NVFP4/MXFP8 pairing.
    assert fp4_launcher_tiles("MxE2m1", "MxE2m1") == (8, 16, 32, 64, 128, 256)
    assert fp4_launcher_tiles("E4m3", "MxE2m1") == (8, 16, 32, 64, 128, 256)


@given(
    tiles=st.sampled_from(TILE_LISTS),
    tokens=st.integers(0, 2**24),
    top_k=st.integers(1, 34),
    experts=st.integers(1, 2050),
)
@settings(max_examples=400, deadline=None)
def test_candidate_rule_matches_the_launcher(tiles, tokens, top_k, experts):
    assert selected_tiles(tiles, tokens, top_k, experts) == oracle.compute_selected_tile_n(
        list(tiles), tokens, top_k, experts
    )
    assert default_tile(tiles, tokens, top_k, experts) == oracle.select_default_tile_n(
        list(tiles), tokens, top_k, experts
    )


@pytest.mark.parametrize("tiles", TILE_LISTS)
def test_candidate_rule_at_exact_ties(tiles):
    # tokens * top_k == tile * experts: avg equals the tile exactly, lower_bound stops there.
    for tile in tiles:
        for experts in (1, 3, 7, 256, 512, 2050):
            for top_k in (1, 2, 8, 22, 34):
                if (tile * experts) % top_k:
                    continue
                tokens = tile * experts // top_k
                for n in (tokens - 1, tokens, tokens + 1):
                    assert selected_tiles(tiles, n, top_k, experts) == oracle.compute_selected_tile_n(
                        list(tiles), n, top_k, experts
                    )


@given(x=st.integers(-5, 2**25), t=st.integers(1, 2**31 - 1))
@settings(max_examples=400, deadline=None)
def test_bucket_mapping_matches(x, t):
    assert map_to_hybrid_bucket(x, t) == oracle.map_to_hybrid_bucket(x, t)
    if x >= 1:
        assert next_positive_power_of_2(x) == oracle.next_positive_power_of_2(x)


def test_bucket_mapping_matches_installed_flashinfer():
    utils = pytest.importorskip("flashinfer.fused_moe.utils")
    for t in (1, 7, 100, 256, 1000, 3000, 8192, 2**20):
        for x in list(range(0, 5000)) + [8191, 8192, 8193, 2**19 + 1, 2**20 + 7]:
            assert map_to_hybrid_bucket(x, t) == utils.map_to_hybrid_bucket(x, t)


def test_next_power_of_two_refuses_counts_it_does_not_model():
    with pytest.raises(ValueError, match="2\\*\\*25"):
        next_positive_power_of_2(2**25 + 1)


@given(
    tokens=st.integers(0, 2**26),
    top_k=st.integers(1, 34),
    experts=st.integers(1, 2050),
    tile=st.sampled_from([8, 16, 32, 64, 128, 192, 256]),
)
@settings(max_examples=400, deadline=None)
def test_cta_formula_matches_int32_launcher_where_no_int32_value_overflows(tokens, top_k, experts, tile):
    ctas = max_num_ctas_in_batch_dim(tokens, top_k, experts, tile)
    fits = all(v <= facts.INT32_MAX for v in int32_expressions(tokens, top_k, experts, experts, tile).values())
    cxx = oracle.get_max_num_ctas_in_batch_dim_int32(tokens, top_k, experts, tile)
    if fits:
        assert ctas == cxx
    if tokens * top_k > facts.INT32_MAX:
        assert not fits


def test_int32_wrap_is_real_beyond_the_domain():
    # 2^31 / 34 tokens: the int32 product wraps in C++ and the model flags it.
    tokens = 2**31 // 34 + 1
    assert oracle.get_max_num_ctas_in_batch_dim_int32(tokens, 34, 512, 8) < 0
    assert not all(v <= facts.INT32_MAX for v in int32_expressions(tokens, 34, 512, 512, 8).values())


def test_known_bounds():
    # vLLM's NVFP4 formula for Nemotron 3 Super at tile 128 (the seed's report).
    assert max_chunk_tokens(512, 22, precision="nvfp4", policy="fixed:128") == 378_344
    assert (512 + (65535 - 512 + 1) * 128 - 1) // 22 == 378_344
    # FACTS: FP8 per-tensor, 256 experts, top_k 8: tile 64 can run, so 522,271, not 1,044,511.
    assert max_chunk_tokens(256, 8, precision="fp8_per_tensor") == 522_271
    assert max_chunk_tokens(256, 8, precision="fp8_per_tensor", policy="fixed:128") == 1_044_511
    result = chunk_bound(256, 8, precision="fp8_per_tensor")
    assert (result.binding_tile, result.ctas_at_bound, result.ctas_past_bound) == (64, 65535, 65536)


SHAPES = ((512, 22, 0, 512), (256, 8, 1, 256), (384, 8, 0, 48), (128, 4, 0, 128))


@pytest.mark.parametrize("precision", sorted(PRECISION_TILES))
def test_bound_is_safe_and_tight_at_real_limit(precision):
    tiles = PRECISION_TILES[precision]
    for experts, top_k, shared, local in SHAPES:
        for policy in ["flashinfer", "any"] + [f"fixed:{t}" for t in tiles]:
            for tune in (1, 512, 8192, 2**20):
                c = max_chunk_tokens(
                    experts, top_k, precision=precision, policy=policy, local_experts=local,
                    shared_experts=shared, tune_max_num_tokens=tune,
                )
                counts = effective_counts(experts, top_k, local, shared)
                p = parse_policy(policy, tiles)
                assert is_safe(c, counts, tiles, p, tune)
                assert not is_safe(c + 1, counts, tiles, p, tune)


@pytest.mark.parametrize("experts,top_k,shared,local", SHAPES)
def test_every_n_up_to_the_bound_at_real_limit(experts, top_k, shared, local):
    # Every n in [1, C + 1] scanned by the independent oracle (numpy), nvfp4, default policy.
    tiles = PRECISION_TILES["nvfp4"]
    counts = effective_counts(experts, top_k, local, shared)
    c = max_chunk_tokens(experts, top_k, local_experts=local, shared_experts=shared)
    first = oracle.first_unsafe(list(tiles), counts.top_k, counts.local_experts, "flashinfer", 8192, horizon=c + 1)
    assert first == c + 1
