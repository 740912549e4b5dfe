"""Which tile sizes (tileTokensDim) the launcher may run, and how it picks one.

Trust: trtllm_fused_moe_kernel_launcher.cu (tile sets, computeSelectedTileN,
selectDefaultTileN) and fused_moe/utils.py (map_to_hybrid_bucket) of flashinfer
0.7.2.post1, through the constants of facts.py.
"""

from __future__ import annotations

from . import facts
from .ops import INT

# FP4BlockScaleLauncher decides its tiles from the activation and weight dtypes it
# deduces (btg::Dtype names). These are the dtypes the precisions below stand for.
BFLOAT16, E2M1, MX_E2M1, E4M3, MX_E4M3 = "Bfloat16", "E2m1", "MxE2m1", "E4m3", "MxE4m3"


def fp4_launcher_tiles(dtype_act: str, dtype_weights: str) -> tuple[int, ...]:
    """FP4BlockScaleLauncher::getSupportedTileNums, branch for branch."""
    tiles = list(facts.TILES_FP4_BASE)
    if dtype_act != BFLOAT16:
        tiles.append(facts.TILE_FP4_NOT_BF16)
        if (dtype_weights == E2M1 and dtype_act == E2M1) or (
            dtype_weights == MX_E2M1 and dtype_act == MX_E4M3
        ):
            tiles.append(facts.TILE_FP4_192)
        tiles.append(facts.TILE_FP4_256)
    return tuple(tiles)


def fp8_block_launcher_tiles(mxfp8: bool) -> tuple[int, ...]:
    """Fp8BlockScaleLauncher::getSupportedTileNums: MxFp8 adds 256 to the base set."""
    base = facts.TILES_FP8_BLOCK_BASE
    return base + (facts.TILE_FP8_BLOCK_MXFP8_EXTRA,) if mxfp8 else base


# The precisions, by the names the CLI, the API and the JSON use.
PRECISION_TILES: dict[str, tuple[int, ...]] = {
    "nvfp4": fp4_launcher_tiles(E2M1, E2M1),
    "mxfp4_mxfp8": fp4_launcher_tiles(MX_E4M3, MX_E2M1),
    "mxfp4_bf16": fp4_launcher_tiles(BFLOAT16, MX_E2M1),
    "bf16": facts.TILES_BF16,
    "fp8_per_tensor": facts.TILES_FP8_PER_TENSOR,
    "fp8_per_channel": facts.TILES_FP8_PER_CHANNEL,
    "fp8_block": fp8_block_launcher_tiles(mxfp8=False),
    "mxfp8": fp8_block_launcher_tiles(mxfp8=True),
    "mxint4": facts.TILES_MXINT4,
}
PRECISIONS = tuple(PRECISION_TILES)


def tiles_below_average(tiles, num_tokens, top_k, num_local_experts, ops=INT):
    """How many tiles lie strictly below avg = num_tokens * top_k / num_local_experts.

    The launcher computes avg in double and compares `tile < avg`; on the model's domain
    that is exactly `tile * experts < tokens * top_k` (proof: tile_choice_exact).
    """
    expanded = num_tokens * top_k
    return ops.total(ops.ite(t * num_local_experts < expanded, 1, 0) for t in tiles)


def heuristic_tile_index(tiles, num_tokens, top_k, num_local_experts, ops=INT):
    """computeSelectedTileN: lower_bound(tiles, avg), or the last tile if none is >= avg."""
    below = tiles_below_average(tiles, num_tokens, top_k, num_local_experts, ops)
    return ops.min(below, len(tiles) - 1)


def is_candidate(tiles, index, num_tokens, top_k, num_local_experts, ops=INT):
    """computeSelectedTileN keeps the heuristic tile, the next two larger and the one below."""
    center = heuristic_tile_index(tiles, num_tokens, top_k, num_local_experts, ops)
    return candidate_window(center, index, ops)


def candidate_window(center, index, ops=INT):
    return ops.and_(center - 1 <= index, index <= center + 2)


def default_tile_index(tiles, num_tokens, top_k, num_local_experts, ops=INT):
    """selectDefaultTileN: the smallest candidate, i.e. the one below the heuristic tile."""
    center = heuristic_tile_index(tiles, num_tokens, top_k, num_local_experts, ops)
    return ops.max(center - 1, 0)


def selected_tiles(tiles, num_tokens, top_k, num_local_experts) -> frozenset[int]:
    """computeSelectedTileN's candidate set, evaluated on ints."""
    return frozenset(
        t
        for j, t in enumerate(tiles)
        if is_candidate(tiles, j, num_tokens, top_k, num_local_experts)
    )


def default_tile(tiles, num_tokens, top_k, num_local_experts) -> int:
    return tiles[default_tile_index(tiles, num_tokens, top_k, num_local_experts)]


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
