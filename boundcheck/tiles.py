"""Which tile sizes (tileTokensDim) the launcher may run, and how it picks one.

Trust: trtllm_fused_moe_kernel_launcher.cu (computeSelectedTileN, selectDefaultTileN)
and fused_moe/utils.py / core.py (the autotuner's bucket maps) of each modeled release,
through the fields of boundcheck.releases.Era. Every function takes the era and branches
only on its fields.
"""

from __future__ import annotations

from .variants import Buckets
from . import facts
from .ops import INT
from .releases import ALL_PRECISIONS

PRECISIONS = ALL_PRECISIONS


def _center_value(tile: int, era) -> int:
    """The value computeSelectedTileN compares avg with to decide that `tile` lies below.

    lower_bound (0.7.1+): the tile itself. power_of_two (0.5.0-0.7.0.post1): the centre is
    nextPowerOfTwo(ceil(avg)) clamped to the ladder and found by value, so a tile that is
    not a power of two (192) is skipped: it counts as below once avg exceeds the power of
    two under it (128), and the centre moves straight to the next power of two (256).
    """
    if era.center.any_tile or tile & (tile - 1) == 0:
        return tile
    return 1 << (tile.bit_length() - 1)


def tiles_below_average(tiles, num_tokens, top_k, num_local_experts, era, ops=INT):
    """How many tiles lie below avg = num_tokens * top_k / num_local_experts.

    The launcher computes avg in double (float up to 0.7.0.post1) and compares; on the
    model's domain that is exactly `value * experts < tokens * top_k` (proof:
    tile_choice_exact, for both widths).
    """
    expanded = num_tokens * top_k
    return ops.total(ops.ite(_center_value(t, era) * num_local_experts < expanded, 1, 0) for t in tiles)


def heuristic_tile_index(tiles, num_tokens, top_k, num_local_experts, era, ops=INT):
    """computeSelectedTileN's centre: the first tile covering avg, or the last tile."""
    below = tiles_below_average(tiles, num_tokens, top_k, num_local_experts, era, ops)
    return ops.min(below, len(tiles) - 1)


def candidate_window(center, index, smaller=1, ops=INT):
    """computeSelectedTileN keeps the centre, the next two larger and `smaller` below."""
    return ops.and_(center - smaller <= index, index <= center + 2)


def is_candidate(tiles, index, num_tokens, top_k, num_local_experts, era, ops=INT):
    """The runtime candidates at n (as the default tile and 0.5.3-0.6.6's check see them)."""
    center = heuristic_tile_index(tiles, num_tokens, top_k, num_local_experts, era, ops)
    return candidate_window(center, index, 1, ops)


def global_tile_index(tiles, center, num_tokens, top_k, num_experts, ops=INT):
    """0.7.4: lower_bound(begin, it, n*K/num_experts): the first tile covering the global
    average, searched only up to the centre (so at most the centre's index)."""
    expanded = num_tokens * top_k
    below = ops.total(ops.ite(t * num_experts < expanded, 1, 0) for t in tiles)
    return ops.min(below, center)


def tuner_candidate(tiles, index, num_tokens, top_k, num_local_experts, num_experts, era, ops=INT):
    """Is tiles[index] in the tuner's candidate set for a bucket of num_tokens tokens?"""
    center = heuristic_tile_index(tiles, num_tokens, top_k, num_local_experts, era, ops)
    window = candidate_window(center, index, era.tuner_smaller, ops)
    if not era.global_tile:
        return window
    # Added when num_experts > num_local_experts and below every other candidate.
    g = global_tile_index(tiles, center, num_tokens, top_k, num_experts, ops)
    extra = ops.and_(num_experts > num_local_experts, g < center - era.tuner_smaller, index == g)
    return ops.or_(window, extra)


def default_tile_index(tiles, num_tokens, top_k, num_local_experts, era, ops=INT):
    """selectDefaultTileN (inline before 0.6.7): the smallest candidate with one smaller
    neighbour, i.e. the one below the centre."""
    center = heuristic_tile_index(tiles, num_tokens, top_k, num_local_experts, era, ops)
    return ops.max(center - 1, 0)


def selected_tiles(tiles, num_tokens, top_k, num_local_experts, era, num_experts=None) -> frozenset[int]:
    """The tuner's candidate set at num_tokens, evaluated on ints."""
    experts = num_local_experts if num_experts is None else num_experts
    return frozenset(
        t
        for j, t in enumerate(tiles)
        if tuner_candidate(tiles, j, num_tokens, top_k, num_local_experts, experts, era)
    )


def default_tile(tiles, num_tokens, top_k, num_local_experts, era) -> int:
    return tiles[default_tile_index(tiles, num_tokens, top_k, num_local_experts, era)]


def resolved_tactic(tile, config, default, era, ops=INT):
    """(tile, config) launched for the tuner's tactic [tile, config] (resolveMoeTileAndConfig,
    0.6.7+): the default tile with config -1 when the tactic has no tile, and up to
    0.7.2.post1 also when it has no config; else the tactic's own tile. Either way the
    launch runs the default tile or the tuner's tile: the two the `flashinfer` policy allows."""
    fallback = ops.or_(tile == -1, config == -1) if not era.keeps_explicit_tile else (tile == -1)
    return ops.ite(fallback, default, tile), ops.ite(fallback, -1, config)


# --- 0.4.1: the caller passes no tile, Python picks one ------------------------------------

def caller_heuristic_tile(num_tokens, top_k, num_experts, max_tile) -> int:
    """flashinfer 0.4.1 utils.calculate_tile_tokens_dim, literally (float factor 1.3)."""
    per_expert = int(((num_tokens * top_k) // num_experts) * 1.3)
    power = 1 if per_expert < 1 else 1 << (per_expert - 1).bit_length()
    return min(max(power, 8), max_tile)


def caller_heuristic_at_most(tile, num_tokens, top_k, num_experts, ops=INT):
    """calculate_tile_tokens_dim(n, E, K, max) <= tile, for a power of two 8 <= tile < max.

    With q = (n*K) // E, the float int(q * 1.3) equals 13*q // 10 (tests check it where
    it can matter: at every q with 13*q/10 within one of a power of two), next_pow2(v) <= t
    exactly when v <= t, and 13*q // 10 <= t exactly when q <= (10*t + 9) // 13, that is
    n*K < ((10*t + 9) // 13 + 1) * E: one linear comparison for a given K.
    """
    return num_tokens * top_k < ((10 * tile + 9) // 13 + 1) * num_experts


def caller_heuristic_index(tiles, num_tokens, top_k, num_experts, ops=INT):
    """The index in `tiles` (8 .. max_tile, powers of two) of the tile 0.4.1 picks."""
    return ops.total(
        ops.ite(caller_heuristic_at_most(t, num_tokens, top_k, num_experts, ops), 0, 1) for t in tiles[:-1]
    )


# --- Autotuner bucketing ---------------------------------------------------------------

# next_positive_power_of_2 is written as a comparison chain so that it lifts to a solver
# term; the chain is exact for token counts up to 2**POWER_OF_TWO_EXPONENTS, which is
# more than any chunk bound plus one (lemma int32 checks n < 2**25 for every n <= C_max).
POWER_OF_TWO_EXPONENTS = 25


def next_positive_power_of_2(x, ops=INT):
    """flashinfer.utils.next_positive_power_of_2: the smallest power of two >= x (1 for x < 1)."""
    if ops is INT and x > 2**POWER_OF_TWO_EXPONENTS:
        raise ValueError(f"token count {x} is beyond the modelled range 2**{POWER_OF_TWO_EXPONENTS}")
    result = 2**POWER_OF_TWO_EXPONENTS
    for exponent in reversed(range(POWER_OF_TWO_EXPONENTS)):
        result = ops.ite(x <= 2**exponent, 2**exponent, result)
    return result


def _ceil_to_step(x, step, ops=INT):
    return ops.div(x + (step - 1), step) * step


def last_positive_power_of_2(x, ops=INT):
    """flashinfer.fused_moe.utils.last_positive_power_of_2: the largest power of two <= x
    (next_positive_power_of_2(x) when that equals x; 1 for x < 1)."""
    result = 1
    for exponent in range(1, POWER_OF_TWO_EXPONENTS + 1):
        result = ops.ite(x >= 2**exponent, 2**exponent, result)
    if ops is INT and x > 2**POWER_OF_TWO_EXPONENTS:
        raise ValueError(f"token count {x} is beyond the modelled range 2**{POWER_OF_TWO_EXPONENTS}")
    return result


def map_round_down_bucket(x, max_num_tokens, ops=INT):
    """fused_moe/core.py up to 0.6.9: min(last_positive_power_of_2(x), tune_max_num_tokens)."""
    return ops.min(last_positive_power_of_2(x, ops), max_num_tokens)


def bucket_of(x, max_num_tokens, era, ops=INT):
    """The autotuner bucket whose cached tactic a call of x tokens reuses, per era."""
    if era.buckets is Buckets.ROUND_DOWN:
        return map_round_down_bucket(x, max_num_tokens, ops)
    return map_to_hybrid_bucket(x, max_num_tokens, ops)


def map_to_hybrid_bucket(x, max_num_tokens, ops=INT):
    """fused_moe/utils.py map_to_hybrid_bucket: the autotuner bucket of x tokens."""
    power_of_two = next_positive_power_of_2(x, ops)
    return ops.ite(
        x <= 0,
        1,
        ops.ite(
            x >= max_num_tokens,
            max_num_tokens,
            ops.ite(
                x <= facts.BUCKET_PHASE1_END,
                power_of_two,
                ops.ite(
                    x <= facts.BUCKET_PHASE2_END,
                    ops.min(_ceil_to_step(x, facts.BUCKET_PHASE2_STEP, ops), max_num_tokens),
                    ops.ite(
                        x <= facts.BUCKET_PHASE3_END,
                        ops.min(_ceil_to_step(x, facts.BUCKET_PHASE3_STEP, ops), max_num_tokens),
                        ops.min(power_of_two, max_num_tokens),
                    ),
                ),
            ),
        ),
    )
