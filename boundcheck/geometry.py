"""The launch geometry of flashinfer's trtllm-gen batched GEMMs: how many CTAs go along Y.

Trust: runner.h of flashinfer 0.2.8 - 0.7.4 (two formulas: `permuted_min` up to 0.4.0,
`filled` from 0.4.1, the same text within each; see releases.Era.cta_formula and
.sources), BatchedGemmInterface.h's grid and the CUDA grid limit.
Everything is written against `ops` so that the proofs lift these same functions.
"""

from __future__ import annotations

from .variants import CtaFormula, GridCluster
from .facts import INT32_MAX
from .ops import INT


def max_num_ctas_in_batch_dim(num_tokens, top_k, num_experts, tile_tokens_dim, ops=INT):
    """runner.h `getMaxNumCtasInBatchDim`, statement for statement (int32 in C++).

    One CTA per expert until the expanded tokens run out, then one per full tile of
    what is left: the most CTAs any routing of `num_tokens * top_k` slots can need.
    """
    num_remaining_tokens = num_tokens * top_k
    num_experts_filled = ops.min(num_experts, num_remaining_tokens)
    leftover = num_remaining_tokens - num_experts_filled
    return num_experts_filled + ops.ite(leftover > 0, ops.div(leftover, tile_tokens_dim), 0)


def max_num_ctas_in_batch_dim_permuted_min(num_tokens, top_k, num_experts, tile_tokens_dim, ops=INT):
    """runner.h `getMaxNumCtasInBatchDim` of 0.2.8 - 0.4.0, statement for statement.

    The smaller of two bounds: every enabled expert (min(n*K, E)) running ceil(n/t)
    tiles, and the tiles of the padded permuted buffer,
    ceilDiv(roundUp(n*K + (t-1)*E, t), t) = ceilDiv(n*K + (t-1)*E, t).
    """
    per_expert = _ceil_div(num_tokens, tile_tokens_dim, ops)
    enabled = ops.min(num_tokens * top_k, num_experts)
    by_experts = enabled * per_expert
    permuted = _ceil_div(num_tokens * top_k + (tile_tokens_dim - 1) * num_experts, tile_tokens_dim, ops)
    return ops.min(by_experts, permuted)


def _ceil_div(a, b, ops):
    return ops.div(a + (b - 1), b)


def max_permuted_padded_count_permuted_min(num_tokens, top_k, num_experts, tile_tokens_dim, ops=INT):
    """runner.h `getMaxPermutedPaddedCount` of 0.2.8 - 0.4.0: roundUp(n*K + (t-1)*E, t)."""
    padded = num_tokens * top_k + (tile_tokens_dim - 1) * num_experts
    return _ceil_div(padded, tile_tokens_dim, ops) * tile_tokens_dim


# Era.cta_formula -> getMaxNumCtasInBatchDim of that era.
CTA_FORMULAS = {
    "filled": max_num_ctas_in_batch_dim,
    "permuted_min": max_num_ctas_in_batch_dim_permuted_min,
}


def ctas_function(era):
    """getMaxNumCtasInBatchDim of the release `era` (the 0.4.1+ formula without one)."""
    return CTA_FORMULAS[getattr(era, "cta_formula", "filled")]


def max_permuted_padded_count(num_tokens, top_k, num_experts, tile_tokens_dim, ops=INT):
    """runner.h `getMaxPermutedPaddedCount` (int32): rows of the permuted buffers."""
    return max_num_ctas_in_batch_dim(num_tokens, top_k, num_experts, tile_tokens_dim, ops) * (
        tile_tokens_dim
    )


# BatchedGemmInterface.h getGridDim's handling of the Y cluster size y, per release
# (Era.grid_cluster; boundcheck.releases.GRID_ARTIFACTS says where each was read).
GRID_CLUSTER_RULES = tuple(GridCluster)


def padded_count_function(formula: str):
    """getMaxPermutedPaddedCount of runner.h's formula ("filled" 0.4.1+, "permuted_min" before)."""
    return max_permuted_padded_count_permuted_min if CtaFormula(formula).rounds_padded_count else max_permuted_padded_count


def launched_grid_y(num_ctas, cluster_y, ops=INT, *, rule):
    """grid.y as launched for `num_ctas` token CTAs (the MoE path is BatchN: tokens on Y).

    "ignored": the count itself (0.4.0 and before); "round_up": divUpMul(count, y)
    (0.4.1 - 0.6.10); "multiply": count * y (0.6.11+, whose count is in clusters). The Y
    cluster size belongs to the kernel config; in every shipped kernel list it is 1."""
    return GridCluster(rule).launched_grid_y(num_ctas, cluster_y, ops.div)


def cta_budget(grid_limit, cluster_y, rule):
    """The most token CTAs whose launched grid.y still fits the limit."""
    return GridCluster(rule).cta_budget(grid_limit, cluster_y)


def release_cta_budget(grid_limit, cluster_y, era):
    """The CTA budget in release `era`, by its getGridDim's rule."""
    return cta_budget(grid_limit, cluster_y, era.grid_cluster)


def launch_fits(num_ctas, cluster_y, grid_limit, ops, rule):
    return launched_grid_y(num_ctas, cluster_y, ops, rule=rule) <= grid_limit


def int32_expressions(num_tokens, top_k, global_experts, local_experts, tile, ops=INT, formula="filled"):
    """The int32 values the launcher forms from the token count, by name.

    Each is an `int32_t` expression in runner.h or the launcher; at these magnitudes every
    intermediate is nonnegative and bounded by the value listed, so the C++ evaluation
    equals the mathematical one exactly when each listed value is at most INT32_MAX.
    """
    if CtaFormula(formula).rounds_padded_count:
        return _int32_expressions_permuted_min(num_tokens, top_k, global_experts, local_experts, tile, ops)
    return {
        # runner.h getMaxNumCtasInBatchDim: numTokens * topK; also the launcher's
        # `args->num_tokens * totalExpertsPerToken` (expanded_idx_to_permuted_idx size).
        "num_tokens * top_k": num_tokens * top_k,
        # launcher prepare_routing_common sizes routing buffers with the GLOBAL count:
        # getMaxPermutedPaddedCount(...) + 1 for permuted_idx_to_token_idx.
        "padded_count(global) + 1": max_permuted_padded_count(
            num_tokens, top_k, global_experts, tile, ops
        )
        + 1,
        # MoE::Runner::run passes the LOCAL count to both GEMMs.
        "padded_count(local)": max_permuted_padded_count(num_tokens, top_k, local_experts, tile, ops),
    }


def _int32_expressions_permuted_min(num_tokens, top_k, global_experts, local_experts, tile, ops):
    """0.2.8 - 0.4.0's runner.h: every int32 intermediate of getMaxPermutedPaddedCount and
    getMaxNumCtasInBatchDim (the launcher calls both with the global count, the GEMMs
    getMaxNumCtasInBatchDim with the local one); roundUp's divUp adds t - 1 first."""
    values = {"num_tokens * top_k": num_tokens * top_k, "ceilDiv(num_tokens, tile)": num_tokens + tile - 1}
    for name, experts in (("global", global_experts), ("local", local_experts)):
        padded = num_tokens * top_k + (tile - 1) * experts
        values[f"roundUp(n*K + (t-1)*E, t) ({name})"] = padded + tile - 1
        values[f"min(n*K, E) * ceilDiv(n, t) ({name})"] = ops.min(num_tokens * top_k, experts) * _ceil_div(
            num_tokens, tile, ops
        )
    return values


def int32_safe(num_tokens, top_k, global_experts, local_experts, tile, ops=INT, formula="filled"):
    values = int32_expressions(num_tokens, top_k, global_experts, local_experts, tile, ops, formula)
    return ops.and_(*(v <= INT32_MAX for v in values.values()))
