"""The model against an independent port of flashinfer (tests/oracle.py), and against
flashinfer's own Python where it is installed."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boundcheck import facts
from boundcheck.bound import chunk_bound, effective_counts, is_safe, max_chunk_tokens
from boundcheck.geometry import int32_expressions, max_num_ctas_in_batch_dim, max_num_ctas_in_batch_dim_permuted_min
from boundcheck.policy import FLASHINFER, Policy, for_release, parse_policy
from boundcheck.releases import ERAS, fp4_launcher_tiles
from boundcheck.resolution import era_for
from boundcheck.tiles import (
    caller_heuristic_index,
    caller_heuristic_tile,
    default_tile,
    map_to_hybrid_bucket,
    next_positive_power_of_2,
    selected_tiles,
)

from . import oracle
from .eras import distinct_geometries, oracle_era

E23 = era_for("0.7.2.post1")
PRECISION_TILES = E23.tiles
TILE_LISTS = sorted(set(PRECISION_TILES.values()))
GEOMETRIES = distinct_geometries()


def test_tile_sets_per_precision():
    assert PRECISION_TILES["nvfp4"] == (8, 16, 32, 64, 128, 192, 256)
    assert PRECISION_TILES["mxfp4_mxfp8"] == (8, 16, 32, 64, 128, 192, 256)
    assert PRECISION_TILES["mxfp4_bf16"] == (8, 16, 32, 64)
    for name in ("bf16", "fp8_per_tensor", "fp8_per_channel", "fp8_block", "mxint4"):
        assert PRECISION_TILES[name] == (8, 16, 32, 64, 128)
    assert PRECISION_TILES["mxfp8"] == (8, 16, 32, 64, 128, 256)
    # The FP4 launcher's other activation dtypes: no 192 without the NVFP4/MXFP8 pairing.
    assert fp4_launcher_tiles(E23.fp4, "MxE2m1", "MxE2m1") == (8, 16, 32, 64, 128, 256)
    assert fp4_launcher_tiles(E23.fp4, "E4m3", "MxE2m1") == (8, 16, 32, 64, 128, 256)


def test_tile_sets_across_releases():
    # RELEASES.md's table, read in each release's launcher.
    tiles = {v: era_for(v).tiles for v in ("0.5.0", "0.5.2", "0.5.3", "0.6.4", "0.6.16", "0.6.18", "0.7.0", "0.7.4")}
    assert tiles["0.5.0"]["nvfp4"] == (8, 16, 32, 64, 128)
    assert tiles["0.5.0"]["fp8_block"] == (8, 16, 32, 64)
    assert "bf16" not in tiles["0.5.0"] and "mxint4" not in tiles["0.5.3"]
    assert tiles["0.5.2"]["fp8_per_tensor"] == (8, 16, 32, 64, 128, 192, 256)
    assert tiles["0.5.2"]["nvfp4"] == (8, 16, 32, 64, 128, 256)
    assert tiles["0.5.3"]["fp8_per_tensor"] == (8, 16, 32, 64, 128)
    assert "mxfp8" not in era_for("0.6.3").tiles and tiles["0.6.4"]["mxfp8"] == (8, 16, 32, 64, 128, 256)
    assert tiles["0.6.16"]["nvfp4"] == (8, 16, 32, 64, 128, 192, 256)
    # 0.6.18: per-token NVFP4 drops 192 (#4486); 0.7.0 restores the dtype-only rule.
    assert tiles["0.6.18"]["nvfp4_per_token"] == (8, 16, 32, 64, 128, 256)
    assert tiles["0.7.0"]["nvfp4_per_token"] == (8, 16, 32, 64, 128, 192, 256)
    assert "fp8_per_channel" not in tiles["0.6.18"] and tiles["0.7.0"]["fp8_per_channel"] == (8, 16, 32, 64, 128)
    assert tiles["0.7.4"] == E23.tiles


LAUNCHER_GEOMETRIES = [(e, t) for e, _, t in GEOMETRIES if e.tile_source == "launcher"]


@pytest.mark.parametrize(("era", "tiles"), LAUNCHER_GEOMETRIES, ids=[f"{e.name}-{len(t)}" for e, t in LAUNCHER_GEOMETRIES])
def test_candidate_rule_matches_the_launcher_in_every_era(era, tiles):
    # The tuner's candidate set (with the global tile under EP) and the default tile,
    # against the oracle's port of each release's computeSelectedTileN, incl. exact ties.
    rng = oracle.np.random.default_rng(len(tiles) * 100 + int(era.name[1:]))
    points = [(int(rng.integers(0, 2**24)), int(rng.integers(1, 35)), int(rng.integers(1, 2051))) for _ in range(300)]
    for tile in tiles:
        for experts in (1, 3, 7, 256, 512, 2050):
            for top_k in (1, 2, 8, 22, 34):
                if (tile * experts) % top_k == 0:
                    points += [(tile * experts // top_k + d, top_k, experts) for d in (-1, 0, 1)]
    description = oracle_era(era, None)
    for tokens, top_k, local in points:
        for global_experts in (local, local * 2 + 1):
            m = oracle.np.array([max(tokens, 0)])
            smaller = 2 if description["rule"] == "v4" else 1
            tuner = oracle.candidate_masks(list(tiles), m, top_k, local, description["rule"], smaller, global_experts)
            expected = {t for t, mask in zip(tiles, tuner) if mask[0]}
            assert selected_tiles(tiles, m[0], top_k, local, era, global_experts) == expected, (era, tokens, top_k, local)
            runtime = oracle.candidate_masks(list(tiles), m, top_k, local, description["rule"])
            assert default_tile(tiles, m[0], top_k, local, era) == min(t for t, mask in zip(tiles, runtime) if mask[0])


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
                    assert selected_tiles(tiles, n, top_k, experts, E23) == oracle.compute_selected_tile_n(
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
    v = "0.7.2.post1"
    # vLLM's NVFP4 formula for Nemotron 3 Super at tile 128 (the seed's report).
    assert max_chunk_tokens(512, 22, flashinfer=v, precision="nvfp4", policy="fixed:128") == 378_344
    assert (512 + (65535 - 512 + 1) * 128 - 1) // 22 == 378_344
    # FACTS: FP8 per-tensor, 256 experts, top_k 8: tile 64 can run, so 522,271, not 1,044,511.
    assert max_chunk_tokens(256, 8, flashinfer=v, precision="fp8_per_tensor") == 522_271
    assert max_chunk_tokens(256, 8, flashinfer=v, precision="fp8_per_tensor", policy="fixed:128") == 1_044_511
    result = chunk_bound(256, 8, flashinfer=v, precision="fp8_per_tensor")
    assert (result.binding_tile, result.ctas_at_bound, result.ctas_past_bound) == (64, 65535, 65536)
    assert (result.flashinfer, result.era) == (v, "E23")


def test_known_bounds_of_0_7_4():
    # 0.7.4 offers two smaller tuner neighbours: the bound halves (the release issue's numbers).
    result = chunk_bound(256, 8, flashinfer="0.7.4", precision="fp8_per_tensor")
    assert (result.max_chunk_tokens, result.binding_tile) == (261_151, 32)
    assert max_chunk_tokens(512, 22, flashinfer="0.7.4", precision="bf16") == 94_603
    assert chunk_bound(512, 22, flashinfer="0.7.4", precision="nvfp4").binding_tile == 128
    # Expert parallelism: the tuner also offers the tile covering the global average
    # (tile 8 here, below the window 16..128 of the local average 64).
    tiles = era_for("0.7.4").tiles["fp8_per_tensor"]
    assert 8 in selected_tiles(tiles, 256, 8, 32, era_for("0.7.4"), num_experts=256)
    assert 8 not in selected_tiles(tiles, 256, 8, 32, E23, num_experts=256)
    # ... and the bound with the global count still covers the EP one (global_covers_local).
    ep = chunk_bound(256, 8, flashinfer="0.7.4", precision="fp8_per_tensor", local_experts=32)
    assert ep.max_chunk_tokens >= max_chunk_tokens(256, 8, flashinfer="0.7.4", precision="fp8_per_tensor")


def test_every_modeled_release_has_a_bound_for_each_precision_it_runs():
    for era in ERAS:
        for v in era.versions:
            for precision in era.tiles:
                top_k = min(8, era.routing.max_top_k)
                assert max_chunk_tokens(256, top_k, flashinfer=v, precision=precision) > 0


SHAPES = ((512, 22, 0, 512), (256, 8, 1, 256), (384, 8, 0, 48), (128, 4, 0, 128))


@pytest.mark.parametrize("version", ["0.6.9", "0.6.18.post1", "0.7.0.post1", "0.7.2.post1", "0.7.4"])
@pytest.mark.parametrize("precision", sorted(PRECISION_TILES))
def test_bound_is_safe_and_tight_at_real_limit(precision, version):
    era = era_for(version)
    if precision not in era.tiles:
        return
    tiles = era.tiles[precision]
    for experts, top_k, shared, local in SHAPES:
        if shared and precision not in ("fp8_block", "mxfp8", "nvfp4", "nvfp4_per_token", "mxfp4_mxfp8", "mxfp4_bf16"):
            shared = 0
        if shared and not era.shared_experts:
            shared = 0
        for policy in ["flashinfer", "any"] + [f"fixed:{t}" for t in tiles]:
            for tune in (1, 512, 8192, 2**20):
                c = max_chunk_tokens(
                    experts, top_k, flashinfer=version, precision=precision, policy=policy, local_experts=local,
                    shared_experts=shared, tune_max_num_tokens=tune,
                )
                counts = effective_counts(experts, top_k, local, shared)
                p = parse_policy(policy, tiles)
                assert is_safe(c, counts, tiles, p, tune, era)
                assert not is_safe(c + 1, counts, tiles, p, tune, era)


@pytest.mark.parametrize("experts,top_k,shared,local", SHAPES)
def test_every_n_up_to_the_bound_at_real_limit(experts, top_k, shared, local):
    # Every n in [1, C + 1] scanned by the independent oracle (numpy), nvfp4, default policy.
    for era in (E23, era_for("0.7.4"), era_for("0.6.9")):
        if shared and "fp4" not in era.shared_experts:
            continue  # FP4 takes fused shared experts from 0.6.17 on
        tiles = era.tiles["nvfp4"]
        counts = effective_counts(experts, top_k, local, shared)
        c = max_chunk_tokens(experts, top_k, flashinfer=era.last, local_experts=local, shared_experts=shared)
        first = oracle.first_unsafe(list(tiles), counts.top_k, counts.local_experts, "flashinfer", 8192,
                                    horizon=c + 1, **oracle_era(era, "nvfp4", counts.global_experts))
        assert first == c + 1


OLD_SHAPES = ((256, 8, 256), (256, 8, 32), (128, 4, 128), (64, 1, 64), (8, 8, 8))


@pytest.mark.parametrize("version", ["0.2.8", "0.2.9", "0.3.0", "0.4.0", "0.4.1"])
def test_caller_tile_releases_bound_is_safe_and_tight(version):
    """Up to 0.4.1 the caller's tile_tokens_dim (default 8) or 0.4.1's Python heuristic runs;
    the bound is safe at C and unsafe at C + 1 by the model's literal definition."""
    era = era_for(version)
    for precision, tiles in era.tiles.items():
        for experts, top_k, local in OLD_SHAPES:
            if experts > era.routing.max_experts:
                continue
            for policy in ["flashinfer", "any"] + [f"fixed:{t}" for t in tiles]:
                c = max_chunk_tokens(experts, top_k, flashinfer=version, precision=precision, policy=policy,
                                     local_experts=local)
                counts = effective_counts(experts, top_k, local)
                p = for_release(parse_policy(policy, tiles), era, precision)
                assert is_safe(c, counts, tiles, p, 8192, era), (version, precision, policy, experts)
                assert not is_safe(c + 1, counts, tiles, p, 8192, era), (version, precision, policy, experts)


def test_default_tile_8_bound_of_0_3_0_for_deepseek_fp8():
    # 65,311 * 8 = 522,488 slots: min(256, ...) * ceil(n/8) is far above the budget, and
    # the padded buffer ceil((8n + 7*256) / 8) = 65,311 + 224 = 65,535 CTAs exactly.
    bound = chunk_bound(256, 8, flashinfer="0.3.0", precision="fp8_per_tensor")
    assert (bound.max_chunk_tokens, bound.binding_tile, bound.ctas_at_bound, bound.ctas_past_bound) == (
        65_311, 8, 65_535, 65_536)


def test_0_4_1_fp4_runs_pythons_tile_choice():
    era = era_for("0.4.1")
    # The model's index comparison equals the literal calculate_tile_tokens_dim (float 1.3).
    rng = random.Random(41)
    for _ in range(20_000):
        n, k, e = rng.randint(0, 2**22), rng.randint(1, 8), rng.randint(1, 256)
        for max_tile, precision in ((128, "nvfp4"), (64, "mxfp4_bf16")):
            tiles = era.tiles[precision]
            assert tiles[-1] == max_tile
            want = tiles.index(caller_heuristic_tile(n, k, e, max_tile))
            assert caller_heuristic_index(tiles, n, k, e) == want, (n, k, e, max_tile)
    # int(q * 1.3) == 13 * q // 10 wherever next_pow2 can tell them apart: 13q/10 an
    # integer m with m - 1 a power of two needs 2^j = -1 mod 13, i.e. j = 6, 18, 30.
    for j in (6, 18, 30):
        q = 10 * (2**j + 1) // 13
        assert 13 * q == 10 * (2**j + 1) and int(q * 1.3) == 13 * q // 10
    # NVFP4 256/8: tile 8 at small n, the heuristic's 128 at the bound.
    bound = chunk_bound(256, 8, flashinfer="0.4.1", precision="nvfp4")
    assert bound.binding_tile == 128 and caller_heuristic_tile(bound.max_chunk_tokens, 8, 256, 128) == 128
    assert for_release(FLASHINFER, era, "fp8_per_tensor") == Policy("fixed", 8)


def test_the_older_cta_formula_needs_more_ctas_with_a_larger_tile():
    # Why ctas_antitone_tile is stated for 0.4.1+ only (twin ctas_antitone[permuted_min]).
    assert max_num_ctas_in_batch_dim_permuted_min(17, 1, 25, 8) == 24
    assert max_num_ctas_in_batch_dim_permuted_min(17, 1, 25, 16) == 25


@settings(max_examples=300, deadline=None)
@given(era=st.sampled_from([e for e in ERAS if e.tile_source == "launcher"]), data=st.data())
def test_default_policy_is_the_untuned_tile_alone(era, data):
    """`default` (autotuning off) allows only the default tile, so its bound is at least the
    `flashinfer` bound; C is safe under the literal definition and C + 1 is not."""
    precision = data.draw(st.sampled_from(sorted(era.tiles)))
    tiles = era.tiles[precision]
    e = data.draw(st.integers(1, era.routing.max_experts))
    k = data.draw(st.integers(1, min(8, e)))
    tune = data.draw(st.sampled_from([1, 1024, 8192, 1 << 20]))
    version = era.last
    c_flashinfer = max_chunk_tokens(e, k, flashinfer=version, precision=precision, tune_max_num_tokens=tune)
    grid = chunk_bound(e, k, flashinfer=version, precision=precision, policy="default", tune_max_num_tokens=tune)
    bound = grid.max_chunk_tokens
    assert bound >= c_flashinfer
    counts = effective_counts(e, k)
    policy = for_release(parse_policy("default", tiles), era, precision)
    assert is_safe(bound, counts, tiles, policy, tune, era)
    assert not is_safe(bound + 1, counts, tiles, policy, tune, era)
    assert grid.binding_tile == default_tile(tiles, bound + 1, k, e, era)
