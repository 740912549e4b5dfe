"""The chunk bound: the largest C such that every n in [1, C] tokens launches safely.

Trust: geometry.py, tiles.py, policy.py. Two functions state the same thing twice, on
purpose, and the proofs show they agree:

- `is_safe(n, ...)` is the literal definition: every tile the policy allows at n keeps
  grid.y within the limit (`grid_safe`) and every int32 value of the launcher within
  int32 (`int32_safe_all_tiles`);
- `max_chunk_tokens(...)` is the closed form the guard evaluates, derived by splitting
  n into regimes of constant smallest tile (see `_regime_bound`).

Safety is not monotone in n: under the `flashinfer` policy the tile grows with n, so a
larger n can be safe again after a smaller one failed. C is the end of the first safe
run starting at 1, never "the largest safe n".
"""

from __future__ import annotations

from dataclasses import dataclass

from . import facts
from .domain import check_configuration
from .geometry import cta_budget, int32_safe, launch_fits, max_num_ctas_in_batch_dim
from .ops import INT
from .policy import Policy, allowed_tiles_mask, parse_policy
from .tiles import PRECISION_TILES


@dataclass(frozen=True)
class Counts:
    """The counts the launcher actually uses (fused shared experts included)."""

    global_experts: object  # num_experts + shared: sizes the routing buffers
    local_experts: object  # local_num_experts + shared: the GEMMs' batch count
    top_k: object  # top_k + shared: slots per token


def effective_counts(num_experts, top_k, local_experts=None, shared_experts=0) -> Counts:
    """MoE::Runner::run and prepare_routing_common add the fused shared experts to each."""
    local = num_experts if local_experts is None else local_experts
    return Counts(
        global_experts=num_experts + shared_experts,
        local_experts=local + shared_experts,
        top_k=top_k + shared_experts,
    )


def largest_safe_tokens_at_tile(top_k, experts, tile, budget, ops=INT):
    """The largest n with getMaxNumCtasInBatchDim(n, top_k, experts, tile) <= budget.

    experts + (n*top_k - experts) // tile <= budget  <=>  n*top_k <= experts + tile*(budget - experts + 1) - 1
    (derived by sympy in proofs/closed_form.py). With more experts than budget, a single
    CTA per expert already overflows once n*top_k > budget.
    """
    return ops.ite(
        experts > budget,
        ops.div(budget, top_k),
        ops.div(experts + tile * (budget - experts + 1) - 1, top_k),
    )


def _regime_bound(counts, tiles, tune_max_num_tokens, budget, ops):
    """C and its binding tile under the `flashinfer` policy, regime by regime.

    The smallest tile the policy allows at n is tiles[r] with r = max(min(c, k-1) - 1, 0)
    and c = #{j : tiles[j]*L < min(n, T)*K}: the default tile at n, or the smallest
    candidate of the bucket, which is never smaller once n <= T. Regime r >= 1 starts at
    n = threshold_r = tiles[r]*L // K + 1, if that is <= T (else it is never reached).
    Walking the regimes in order, C is the bound of the first regime whose own bound
    falls before the next regime starts; every earlier regime is safe throughout.
    """
    last = max(len(tiles) - 2, 0)
    k, local = counts.top_k, counts.local_experts

    def threshold(r):
        return ops.div(tiles[r] * local, k) + 1

    bound = largest_safe_tokens_at_tile(k, local, tiles[last], budget, ops)
    binding = tiles[last]
    for r in reversed(range(last)):
        here = largest_safe_tokens_at_tile(k, local, tiles[r], budget, ops)
        following = threshold(r + 1)
        ends_here = ops.or_(following > tune_max_num_tokens, here + 1 < following)
        bound = ops.ite(ends_here, here, bound)
        binding = ops.ite(ends_here, tiles[r], binding)
    return bound, binding


def bound_for_budget(counts: Counts, tiles, policy: Policy, tune_max_num_tokens, budget, ops=INT):
    """(C, tile that binds at C + 1) when at most `budget` CTAs may launch along Y."""
    if policy.kind == "fixed":
        tile = policy.tile
    elif policy.kind == "any":
        tile = min(tiles)
    else:
        return _regime_bound(counts, tiles, tune_max_num_tokens, budget, ops)
    return largest_safe_tokens_at_tile(counts.top_k, counts.local_experts, tile, budget, ops), tile


def grid_bound_and_tile(
    counts: Counts,
    tiles,
    policy: Policy,
    tune_max_num_tokens,
    cluster_y=1,
    grid_limit=facts.GRID_DIM_Y_MAX,
    ops=INT,
):
    """(C, tile that binds at C + 1) for one configuration; lifts to solver terms."""
    return bound_for_budget(
        counts, tiles, policy, tune_max_num_tokens, cta_budget(grid_limit, cluster_y), ops
    )


def _allowed_ctas(num_tokens, counts: Counts, tiles, policy: Policy, tune_max_num_tokens, ops):
    """(may the kernel run this tile at num_tokens?, its CTA count) for each tile."""
    mask = allowed_tiles_mask(
        policy, tiles, num_tokens, counts.top_k, counts.local_experts, tune_max_num_tokens, ops
    )
    for allowed, tile in zip(mask, tiles):
        yield allowed, max_num_ctas_in_batch_dim(num_tokens, counts.top_k, counts.local_experts, tile, ops)


def within_budget(num_tokens, counts: Counts, tiles, policy: Policy, tune_max_num_tokens, budget, ops=INT):
    """Every tile the policy allows at num_tokens needs at most `budget` CTAs."""
    return ops.and_(
        *(
            ops.implies(allowed, ctas <= budget)
            for allowed, ctas in _allowed_ctas(num_tokens, counts, tiles, policy, tune_max_num_tokens, ops)
        )
    )


def grid_safe(
    num_tokens,
    counts: Counts,
    tiles,
    policy: Policy,
    tune_max_num_tokens,
    cluster_y=1,
    grid_limit=facts.GRID_DIM_Y_MAX,
    ops=INT,
):
    """Every tile the policy allows at num_tokens launches: grid.y <= grid_limit.

    The literal definition, with the cluster rounding; the lemma cluster_rounding
    (proofs/bound.py) shows it is `within_budget` with budget = cta_budget(limit, y)."""
    return ops.and_(
        *(
            ops.implies(allowed, launch_fits(ctas, cluster_y, grid_limit, ops))
            for allowed, ctas in _allowed_ctas(num_tokens, counts, tiles, policy, tune_max_num_tokens, ops)
        )
    )


def int32_safe_all_tiles(num_tokens, counts: Counts, tiles, ops=INT):
    """For every tile the precision has, the launcher's int32 values stay in range."""
    return ops.and_(
        *(
            int32_safe(num_tokens, counts.top_k, counts.global_experts, counts.local_experts, t, ops)
            for t in tiles
        )
    )


def is_safe(
    num_tokens,
    counts: Counts,
    tiles,
    policy: Policy,
    tune_max_num_tokens,
    cluster_y=1,
    grid_limit=facts.GRID_DIM_Y_MAX,
    ops=INT,
):
    """The definition of safe at num_tokens: it launches (grid_safe) and no int32 value
    the launcher forms overflows (checked for every tile, a superset of those allowed).
    proofs/bound.py proves the first part for n <= C, proofs/int32.py the second."""
    return ops.and_(
        grid_safe(num_tokens, counts, tiles, policy, tune_max_num_tokens, cluster_y, grid_limit, ops),
        int32_safe_all_tiles(num_tokens, counts, tiles, ops),
    )


def smallest_bound() -> int:
    """A token count every configuration of the domain launches: the bound of the
    smallest tile at the largest counts and the smallest CTA budget. The guard's fast
    path compares against it alone; proofs/bound.py (smallest_bound) shows that no
    precision, policy or configuration has a smaller C."""
    from .domain import CLUSTER_Y_SIZES, MAX_EXPERTS, MAX_SHARED_EXPERTS, MAX_TOP_K

    smallest_tile = min(t for tiles in PRECISION_TILES.values() for t in tiles)
    return largest_safe_tokens_at_tile(
        MAX_TOP_K + MAX_SHARED_EXPERTS,
        MAX_EXPERTS + MAX_SHARED_EXPERTS,
        smallest_tile,
        cta_budget(facts.GRID_DIM_Y_MAX, max(CLUSTER_Y_SIZES)),
    )


@dataclass(frozen=True)
class ChunkBound:
    """A checked configuration's bound, with why: the tile that overflows at C + 1."""

    max_chunk_tokens: int
    binding_tile: int
    ctas_at_bound: int
    ctas_past_bound: int
    cta_budget: int


def chunk_bound(
    num_experts,
    top_k,
    *,
    precision="nvfp4",
    policy="flashinfer",
    local_experts=None,
    shared_experts=0,
    tune_max_num_tokens=facts.DEFAULT_TUNE_MAX_NUM_TOKENS,
    cluster_y=1,
    grid_limit=facts.GRID_DIM_Y_MAX,
) -> ChunkBound:
    """Check the configuration, then evaluate the proven bound on ints."""
    check_configuration(
        num_experts, top_k, precision=precision, local_experts=local_experts,
        shared_experts=shared_experts, tune_max_num_tokens=tune_max_num_tokens,
        cluster_y=cluster_y,
    )
    tiles = PRECISION_TILES[precision]
    parsed = parse_policy(policy, tiles)
    counts = effective_counts(num_experts, top_k, local_experts, shared_experts)
    bound, tile = grid_bound_and_tile(counts, tiles, parsed, tune_max_num_tokens, cluster_y, grid_limit)
    return ChunkBound(
        max_chunk_tokens=bound,
        binding_tile=tile,
        ctas_at_bound=max_num_ctas_in_batch_dim(bound, counts.top_k, counts.local_experts, tile),
        ctas_past_bound=max_num_ctas_in_batch_dim(bound + 1, counts.top_k, counts.local_experts, tile),
        cta_budget=cta_budget(grid_limit, cluster_y),
    )


def max_chunk_tokens(num_experts, top_k, **kwargs) -> int:
    """The largest C such that every n in [1, C] is safe (see chunk_bound for arguments)."""
    return chunk_bound(num_experts, top_k, **kwargs).max_chunk_tokens
