"""An independent port of flashinfer's launch geometry, for tests only.

Written from the C++ and Python sources directly (doubles where the launcher uses
doubles, int32 wrapping where it uses int32_t, numpy over every n at once) and sharing
no code with boundcheck's model, so that agreement between the two means something.
"""

from __future__ import annotations

import bisect

import numpy as np


def int32(x: int) -> int:
    """C++ int32_t wrap-around of a mathematical integer."""
    return (x + 2**31) % 2**32 - 2**31


def get_max_num_ctas_in_batch_dim_int32(num_tokens, top_k, num_experts, tile):
    """runner.h getMaxNumCtasInBatchDim with int32_t arithmetic (wrapping)."""
    remaining = int32(num_tokens * top_k)
    filled = min(num_experts, remaining)
    ctas = filled
    remaining = int32(remaining - filled)
    if remaining > 0:
        ctas = int32(ctas + int(remaining / tile))  # C++ truncating division
    return ctas


def compute_selected_tile_n(tiles, num_tokens, top_k, num_local_experts):
    """computeSelectedTileN, with the double average and std::lower_bound."""
    avg = float(num_tokens) * float(top_k) / num_local_experts
    it = bisect.bisect_left([float(t) for t in tiles], avg)
    if it == len(tiles):
        it = len(tiles) - 1
    chosen = {tiles[it]}
    if it + 1 < len(tiles):
        chosen.add(tiles[it + 1])
        if it + 2 < len(tiles):
            chosen.add(tiles[it + 2])
    if it > 0:
        chosen.add(tiles[it - 1])
    return chosen


def select_default_tile_n(tiles, num_tokens, top_k, num_local_experts):
    return min(compute_selected_tile_n(tiles, num_tokens, top_k, num_local_experts))


def next_positive_power_of_2(x: int) -> int:
    return 1 if x < 1 else 1 << (x - 1).bit_length()


def map_to_hybrid_bucket(x: int, max_num_tokens: int) -> int:
    """fused_moe/utils.py map_to_hybrid_bucket, copied."""
    if x <= 0:
        return 1
    if x >= max_num_tokens:
        return max_num_tokens
    if x <= 256:
        return next_positive_power_of_2(x)
    if x <= 2048:
        return min(((x + 255) // 256) * 256, max_num_tokens)
    if x <= 4096:
        return min(((x + 511) // 512) * 512, max_num_tokens)
    return min(next_positive_power_of_2(x), max_num_tokens)


# --- numpy: every n in [1, N] at once ---------------------------------------------------

def _ctas(n, top_k, experts, tile):
    remaining = n * top_k
    filled = np.minimum(experts, remaining)
    leftover = remaining - filled
    return filled + np.where(leftover > 0, leftover // tile, 0)


def _ctas_permuted_min(n, top_k, experts, tile):
    """runner.h getMaxNumCtasInBatchDim of 0.2.8 - 0.4.0: min(min(n*K, E) * ceilDiv(n, t),
    ceilDiv(roundUp(n*K + (t-1)*E, t), t)), with roundUp(a, b) = divUp(a, b) * b."""
    per_expert = (n + tile - 1) // tile
    by_experts = np.minimum(n * top_k, experts) * per_expert
    padded = ((n * top_k + (tile - 1) * experts + tile - 1) // tile) * tile
    return np.minimum(by_experts, (padded + tile - 1) // tile)


def _calculate_tile_tokens_dim(n, top_k, num_experts, max_tile):
    """0.4.1 utils.calculate_tile_tokens_dim: int(((n*K) // E) * 1.3), next power of two,
    clamped to [8, max_tile] (in float64, as Python multiplies)."""
    per_expert = ((n * top_k) // num_experts).astype(np.float64) * 1.3
    v = np.trunc(per_expert).astype(np.int64)
    p = np.left_shift(1, np.frexp((v - 1).astype(np.float64))[1].astype(np.int64))
    p = np.where(v < 1, 1, p)
    return np.clip(p, 8, max_tile)


def _lower_bound_index(tiles, m, top_k, experts):
    avg = m.astype(np.float64) * float(top_k) / float(experts)
    idx = np.searchsorted(np.asarray(tiles, dtype=np.float64), avg, side="left")
    return np.minimum(idx, len(tiles) - 1)


def _bucket(n, max_num_tokens):
    out = np.empty_like(n)
    pow2 = np.left_shift(1, np.frexp((n - 1).astype(np.float64))[1].astype(np.int64))
    pow2 = np.where(n <= 1, 1, pow2)
    out[:] = np.minimum(pow2, max_num_tokens)
    step = np.where(n <= 2048, 256, 512)
    ceiled = np.minimum(((n + step - 1) // step) * step, max_num_tokens)
    out = np.where((n > 256) & (n <= 4096), ceiled, out)
    out = np.where(n <= 256, pow2, out)
    return np.where(n >= max_num_tokens, max_num_tokens, out)


def _round_down_bucket(n, max_num_tokens):
    """fused_moe/core.py up to 0.6.9: min(last_positive_power_of_2(x), max)."""
    last = np.left_shift(1, (np.frexp(n.astype(np.float64))[1] - 1).astype(np.int64))
    return np.minimum(np.where(n < 1, 0, last), max_num_tokens)


def _power_of_two_tile(tiles, m, top_k, experts):
    """0.5.x - 0.7.0.post1: float avg, nextPowerOfTwo(ceil(avg)) clamped to the ladder."""
    avg = (m * top_k).astype(np.float32) / np.float32(experts)
    n = np.ceil(avg).astype(np.int64)
    p = np.left_shift(1, np.frexp((n - 1).astype(np.float64))[1].astype(np.int64))
    p = np.where(n <= 1, 1, p)
    return np.clip(p, tiles[0], tiles[-1])


def candidate_masks(tiles, m, top_k, local_experts, rule, smaller=1, num_experts=None):
    """computeSelectedTileN of each rule, as one boolean array over m per tile.

    v1 (0.5.0-0.5.1): {max(front, t/2), t, min(back, 2t), min(back, 4t)} by value;
    v2 (0.5.2-0.7.0.post1): std::find(t) then {it, +1, +2, -1};
    v3 (0.7.1-0.7.2.post1): lower_bound on the double avg, {it, +1, +2, -1};
    v4 (0.7.4): v3 with `smaller` neighbours below and the global tile under EP."""
    k = len(tiles)
    if rule == "v1":
        t = _power_of_two_tile(tiles, m, top_k, local_experts)
        values = [np.maximum(tiles[0], t // 2), t, np.minimum(tiles[-1], 2 * t), np.minimum(tiles[-1], 4 * t)]
        return [np.logical_or.reduce([v == tile for v in values]) for tile in tiles]
    if rule == "v2":
        t = _power_of_two_tile(tiles, m, top_k, local_experts)
        it = np.searchsorted(np.asarray(tiles), t)
        if not np.all(np.asarray(tiles)[np.minimum(it, k - 1)] == t):
            raise ValueError("std::find would not find the centre on this ladder")
    else:
        it = _lower_bound_index(tiles, m, top_k, local_experts)
    masks = [(j >= it - smaller) & (j <= it + 2) for j in range(k)]
    if rule == "v4" and num_experts is not None and num_experts > local_experts:
        gavg = m.astype(np.float64) * float(top_k) / float(num_experts)
        g = np.minimum(np.searchsorted(np.asarray(tiles, dtype=np.float64), gavg, side="left"), it)
        lowest = np.maximum(it - smaller, 0)
        masks = [mask | ((g == j) & (g < lowest)) for j, mask in enumerate(masks)]
    return masks


def allowed_masks(tiles, n, top_k, local_experts, policy, tune_max, rule="v3", checked=False,
                  buckets="hybrid", num_experts=None, formula="filled", grid="round_up"):
    """For each tile, a boolean array over n: may the kernel run it there?
    Up to 0.4.1 the caller picks the tile: rule "caller" runs tile_tokens_dim's default 8
    when the caller passes none, "caller_heuristic" (0.4.1's FP4) Python's choice at n."""
    if policy == "any":
        return [np.ones_like(n, dtype=bool) for _ in tiles]
    if policy.startswith("fixed:") or (policy == "flashinfer" and rule == "caller"):
        fixed = int(policy.split(":")[1]) if policy.startswith("fixed:") else 8
        return [np.full(n.shape, t == fixed) for t in tiles]
    if rule == "caller_heuristic":
        picked = _calculate_tile_tokens_dim(n, top_k, num_experts or local_experts, tiles[-1])
        return [picked == t for t in tiles]
    runtime = candidate_masks(tiles, n, top_k, local_experts, rule)
    default_index = np.argmax(np.stack(runtime), axis=0)  # the smallest candidate at n
    bucket = _bucket(n, tune_max) if buckets == "hybrid" else _round_down_bucket(n, tune_max)
    smaller = 2 if rule == "v4" else 1
    tuned = candidate_masks(tiles, bucket, top_k, local_experts, rule, smaller, num_experts)
    if checked:  # 0.5.3-0.6.6: launchers_map.at(tile_N) throws for a tile not built at n
        tuned = [t & r for t, r in zip(tuned, runtime)]
    return [(default_index == j) | tuned[j] for j in range(len(tiles))]


def unsafe_mask(tiles, n, top_k, local_experts, policy, tune_max, cluster_y=1, limit=65535, **era):
    unsafe = np.zeros(n.shape, dtype=bool)
    ctas_of = _ctas_permuted_min if era.get("formula") == "permuted_min" else _ctas
    grid = era.get("grid", "round_up")
    for allowed, tile in zip(allowed_masks(tiles, n, top_k, local_experts, policy, tune_max, **era), tiles):
        ctas = ctas_of(n, top_k, local_experts, tile)
        if grid == "ignored":  # 0.4.0 and before: getGridDim leaves the count as it is
            grid_y = ctas
        elif grid == "multiply":  # 0.6.11+: the count is in clusters
            grid_y = ctas * cluster_y
        else:  # 0.4.1 - 0.6.10: divUpMul
            grid_y = ((ctas + cluster_y - 1) // cluster_y) * cluster_y
        unsafe |= allowed & (grid_y > limit)
    return unsafe


def first_unsafe(tiles, top_k, local_experts, policy, tune_max, cluster_y=1, limit=65535, horizon=None, **era):
    """The smallest unsafe n (scanning every n up to `horizon`), or None. `era`: rule
    ("v1".."v4"), checked, buckets ("round_down" | "hybrid"), num_experts (global)."""
    horizon = horizon or (limit * max(tiles) + local_experts) // max(top_k, 1) + 2
    n = np.arange(1, horizon + 1, dtype=np.int64)
    unsafe = unsafe_mask(tiles, n, top_k, local_experts, policy, tune_max, cluster_y, limit, **era)
    hits = np.flatnonzero(unsafe)
    return int(n[hits[0]]) if hits.size else None
