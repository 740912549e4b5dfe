"""The chunk bound: the largest C such that every n in [1, C] tokens launches safely.

Trust: geometry.py, tiles.py, policy.py, releases.py. Two functions state the same thing twice, on
purpose, and the proofs show they agree:

- `is_safe(n, ...)` is the literal definition: every tile the policy allows at n keeps
  grid.y within the limit (`grid_safe`) and every int32 value of the launcher within
  int32 (`int32_safe_all_tiles`);
- `max_chunk_tokens(...)` is the closed form the guard evaluates: the per-tile bounds
  S_t (derived by sympy) and the first of them whose successor is unsafe (see
  `_first_failure_bound`).

Every function takes the release's era (boundcheck.releases): its tile sets, candidate
rule, bucket map and tuned-tile check.

Safety is not monotone in n: under the `flashinfer` policy the tile grows with n, so a
larger n can be safe again after a smaller one failed. C is the end of the first safe
run starting at 1, never "the largest safe n".
"""

from __future__ import annotations

from dataclasses import dataclass

from .variants import Buckets, CtaFormula
from . import facts
from . import tiles as tilesets
from .domain import check_configuration
from .geometry import ctas_function, int32_safe, launch_fits, release_cta_budget
from .ops import INT
from .policy import Policy, allowed_tiles_mask, for_release, parse_policy
from .releases import ERAS, Era
from .resolution import resolve, resolve_version


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


def largest_safe_tokens_at_tile(top_k, experts, tile, budget, ops=INT, formula="filled"):
    """The largest n with getMaxNumCtasInBatchDim(n, top_k, experts, tile) <= budget.

    experts + (n*top_k - experts) // tile <= budget  <=>  n*top_k <= experts + tile*(budget - experts + 1) - 1
    (derived by sympy in proofs/closed_form.py). With more experts than budget, a single
    CTA per expert already overflows once n*top_k > budget.
    """
    if CtaFormula(formula).rounds_padded_count:
        return _largest_safe_tokens_permuted_min(top_k, experts, tile, budget, ops)
    return ops.ite(
        experts > budget,
        ops.div(budget, top_k),
        ops.div(experts + tile * (budget - experts + 1) - 1, top_k),
    )


def _largest_safe_tokens_permuted_min(top_k, experts, tile, budget, ops):
    """The same for 0.2.8 - 0.4.0's min(min(n*K, E) * ceil(n/t), ceil((n*K + (t-1)*E)/t)).

    Both bounds grow with n, so their minimum is within budget exactly when one of them
    is: C = max(n_P, n_A). The permuted bound holds up to n_P = (t*B - (t-1)*E) // K.
    Once n*K >= E the expert bound is E * ceil(n/t), within budget up to n_A = t*(B // E);
    it counts only if it is within budget at the first such n, ceil(E/K), that is when
    E * ceil(E / (K*t)) <= B (below ceil(E/K) every n is at most n_P anyway, as B >= E).
    proofs/bound.py checks C against the literal formula (safety, tightness, fixed tiles).
    """
    by_permuted = ops.div(tile * budget - (tile - 1) * experts, top_k)
    by_experts = tile * ops.div(budget, experts)
    experts_count = experts * ops.div(experts + top_k * tile - 1, top_k * tile) <= budget
    return ops.ite(experts_count, ops.max(by_permuted, by_experts), by_permuted)


def _center_at_most(tiles, num_tokens, top_k, local_experts, m, era, ops):
    """computeSelectedTileN's centre at num_tokens is at index <= m: the tiles below avg
    form a prefix of the ladder, so this is "tile m is not below avg" (one comparison)."""
    if m >= len(tiles) - 1:
        return True
    below = tilesets.tiles_below_average((tiles[m],), num_tokens, top_k, local_experts, era, ops)
    return below == 0


def smallest_allowed_at_most(num_tokens, counts, tiles, tune_max_num_tokens, r, era, ops=INT, policy=None):
    """The `flashinfer` policy (or `default`, the untuned tile alone) allows at num_tokens
    some tile of index <= r.

    The same sets as policy.allowed_tiles_mask, read at their smallest member: the default
    tile max(c(n) - 1, 0); the tuner's lowest window tile max(c(b) - w, 0) for the bucket
    b of n; 0.7.4's global tile. Where a tuned tile must be a runtime candidate (0.5.3 -
    0.6.6) it is never below the default tile. The hybrid map rounds up below T and gives
    T above it, so with w = 1 the default and the tuner's window meet in c(min(n, T)).
    """
    k = counts.top_k
    if callable(tune_max_num_tokens):  # an engine's tune tied to the call's tokens (audit)
        tune_max_num_tokens = tune_max_num_tokens(num_tokens)
    # Only what the test reads is computed; the other argument is 0, never read.
    reads = smallest_tile_reads(era, policy)
    bucket = tilesets.bucket_of(num_tokens, tune_max_num_tokens, era, ops) if reads == "bucket" else 0
    floor = ops.min(num_tokens, tune_max_num_tokens) if reads == "meeting point" else 0
    return smallest_allowed_at_most_expanded(
        num_tokens * k, bucket * k, floor * k, counts.local_experts, counts.global_experts, tiles, r, era, ops, policy
    )


def uses_meeting_point(era) -> bool:
    """With the hybrid map, a one-tile tuner window and no global tile, the default tile
    and the tuner's window meet in c(min(n, T)) (smallest_allowed_at_most)."""
    return (not era.tile_source.from_caller and not era.tuned_tile_checked and era.buckets is Buckets.HYBRID
            and era.tuner_smaller == 1 and not era.global_tile)


def smallest_tile_reads(era, policy) -> str:
    """What the smallest-tile test reads besides the expert counts: "caller" (0.4.1's
    heuristic, from n), "tokens" (the default tile alone: autotuning off, or 0.5.3 -
    0.6.6's checked tuned tile), "meeting point" (min(n, T)) or "bucket" (the tuner's
    window, with 0.7.4's global tile)."""
    if era.tile_source.from_caller:
        return "caller"
    if era.tuned_tile_checked or (policy is not None and policy.kind == "default"):
        return "tokens"
    return "meeting point" if uses_meeting_point(era) else "bucket"


def smallest_allowed_at_most_expanded(expanded, expanded_bucket, expanded_floor, local, experts, tiles, r, era,
                                      ops=INT, policy=None):
    """smallest_allowed_at_most from the expanded tokens x = n*K', the expanded bucket
    y = b*K' and, where the era reads it, the expanded meeting point z = min(n, T)*K':
    a function of them and of the expert counts, free of K' (as allowed_tiles_mask_expanded).
    Each of y and z is read only where smallest_tile_reads says so."""
    reads = smallest_tile_reads(era, policy)
    if reads == "caller":
        # 0.4.1's calculate_tile_tokens_dim, the one tile that runs (caller_heuristic).
        if r >= len(tiles) - 1:
            return True
        return tilesets.caller_heuristic_at_most(tiles[r], expanded, 1, experts, ops)
    if reads == "tokens":
        # the default tile max(c(n) - 1, 0) is at index <= r exactly when c(n) <= r + 1
        return _center_at_most(tiles, expanded, 1, local, r + 1, era, ops)
    if reads == "meeting point":
        return _center_at_most(tiles, expanded_floor, 1, local, r + 1, era, ops)
    w = era.tuner_smaller
    options = [
        _center_at_most(tiles, expanded, 1, local, r + 1, era, ops),
        _center_at_most(tiles, expanded_bucket, 1, local, r + w, era, ops),
    ]
    if era.global_tile:
        # The global tile is offered when it lies below the window; it is at index <= r
        # when tile r covers the global average n*K/num_experts.
        global_at_most_r = ops.not_(tiles[r] * experts < expanded_bucket)
        options.append(ops.and_(experts > local, global_at_most_r))
    return ops.or_(*options)


def _first_failure_bound(counts, tiles, policy, tune_max_num_tokens, budget, era, ops):
    """C and the tile whose bound it is, under the `flashinfer` or `default` policy, for any era.

    With S_r the largest n that tile r alone launches and R(n) the index of the smallest
    tile the policy allows at n, n is unsafe exactly when n > S_R(n). Above 256 tokens R
    is nondecreasing in n in every era (the centre, the bucket and the global tile all
    grow with n); below, the hybrid bucket map is not (its power of two is not clamped
    to tune_max_num_tokens: with T = 248, n = 129 reuses bucket 256 and n = 256 bucket
    248), but every tile launches there (each S_r >= smallest_bound() = 7,288). The first
    unsafe n is then S_r + 1 for r = R(n), and every r with R(S_r + 1) <= r has S_r + 1
    unsafe; so C is the smallest S_r with R(S_r + 1) <= r, the first such r since S grows
    with the tile. The largest tile always qualifies. The theorems safety and tightness
    check the result against the literal definition for every n, not this argument.
    """
    per_tile = per_tile_bounds(counts, tiles, budget, era, ops)
    fails = [
        smallest_allowed_at_most(per_tile[r] + 1, counts, tiles, tune_max_num_tokens, r, era, ops, policy)
        for r in range(len(tiles) - 1)
    ]
    return first_failure_chain(per_tile, tiles, fails, ops)


def per_tile_bounds(counts: Counts, tiles, budget, era, ops=INT):
    """S_t for each tile: the largest n that tile alone launches within `budget` CTAs."""
    return [largest_safe_tokens_at_tile(counts.top_k, counts.local_experts, t, budget, ops, era.cta_formula)
            for t in tiles]


def first_failure_chain(per_tile, tiles, fails, ops=INT):
    """(S_r, tiles[r]) for the first r whose fails[r] holds, else the largest tile's: the
    bound of a tile-choosing policy, given whether the policy allows a tile <= r at
    S_r + 1. proofs/ also runs it with free conditions, for claims that hold whichever
    tile binds (progress, bound_below_largest_tile)."""
    bound, binding = per_tile[-1], tiles[-1]
    for r in reversed(range(len(tiles) - 1)):
        bound = ops.ite(fails[r], per_tile[r], bound)
        binding = ops.ite(fails[r], tiles[r], binding)
    return bound, binding


def bound_for_budget(counts: Counts, tiles, policy: Policy, tune_max_num_tokens, budget, era, ops=INT):
    """(C, tile whose bound C is) when at most `budget` CTAs may launch along Y."""
    if policy.kind == "fixed":
        tile = policy.tile
    elif policy.kind == "any":
        tile = min(tiles)
    else:
        return _first_failure_bound(counts, tiles, policy, tune_max_num_tokens, budget, era, ops)
    return largest_safe_tokens_at_tile(counts.top_k, counts.local_experts, tile, budget, ops, era.cta_formula), tile


def grid_bound_and_tile(
    counts: Counts,
    tiles,
    policy: Policy,
    tune_max_num_tokens,
    era: Era,
    cluster_y=1,
    grid_limit=facts.GRID_DIM_Y_MAX,
    ops=INT,
):
    """(C, tile whose bound C is) for one configuration; lifts to solver terms."""
    return bound_for_budget(
        counts, tiles, policy, tune_max_num_tokens, release_cta_budget(grid_limit, cluster_y, era), era, ops
    )


def _allowed_ctas(num_tokens, counts: Counts, tiles, policy: Policy, tune_max_num_tokens, era, ops):
    """(may the kernel run this tile at num_tokens?, its CTA count) for each tile."""
    mask = allowed_tiles_mask(policy, tiles, num_tokens, counts, tune_max_num_tokens, era, ops)
    ctas = ctas_function(era)
    for allowed, tile in zip(mask, tiles):
        yield allowed, ctas(num_tokens, counts.top_k, counts.local_experts, tile, ops)


def within_budget(num_tokens, counts: Counts, tiles, policy: Policy, tune_max_num_tokens, budget, era, ops=INT):
    """Every tile the policy allows at num_tokens needs at most `budget` CTAs."""
    return ops.and_(
        *(
            ops.implies(allowed, ctas <= budget)
            for allowed, ctas in _allowed_ctas(num_tokens, counts, tiles, policy, tune_max_num_tokens, era, ops)
        )
    )


def grid_safe(
    num_tokens,
    counts: Counts,
    tiles,
    policy: Policy,
    tune_max_num_tokens,
    era: Era,
    cluster_y=1,
    grid_limit=facts.GRID_DIM_Y_MAX,
    ops=INT,
):
    """Every tile the policy allows at num_tokens launches: grid.y <= grid_limit.

    The literal definition, with the cluster rounding; the lemma cluster_rounding
    (proofs/bound.py) shows it is `within_budget` with budget = release_cta_budget."""
    return ops.and_(
        *(
            ops.implies(allowed, launch_fits(ctas, cluster_y, grid_limit, ops, era.grid_cluster))
            for allowed, ctas in _allowed_ctas(num_tokens, counts, tiles, policy, tune_max_num_tokens, era, ops)
        )
    )


def int32_safe_all_tiles(num_tokens, counts: Counts, tiles, ops=INT, era=None):
    """For every tile the precision has, the launcher's int32 values stay in range."""
    formula = era.cta_formula if era is not None else "filled"
    return ops.and_(
        *(
            int32_safe(num_tokens, counts.top_k, counts.global_experts, counts.local_experts, t, ops, formula)
            for t in tiles
        )
    )


def is_safe(
    num_tokens,
    counts: Counts,
    tiles,
    policy: Policy,
    tune_max_num_tokens,
    era: Era,
    cluster_y=1,
    grid_limit=facts.GRID_DIM_Y_MAX,
    ops=INT,
):
    """The definition of safe at num_tokens: it launches (grid_safe) and no int32 value
    the launcher forms overflows (checked for every tile, a superset of those allowed).
    proofs/bound.py proves the first part for n <= C, proofs/int32.py the second."""
    return ops.and_(
        grid_safe(num_tokens, counts, tiles, policy, tune_max_num_tokens, era, cluster_y, grid_limit, ops),
        int32_safe_all_tiles(num_tokens, counts, tiles, ops, era),
    )


def smallest_bound() -> int:
    """A token count every configuration of the domain launches, in every modeled
    release: the bound of the smallest tile at the largest counts and the smallest CTA
    budget. The guard's fast path compares against it alone; proofs/bound.py
    (progress) shows that no release, precision, policy or configuration has a smaller C."""
    from .domain import CLUSTER_Y_SIZES, MAX_EXPERTS, MAX_SHARED_EXPERTS, MAX_TOP_K

    return min(
        largest_safe_tokens_at_tile(
            MAX_TOP_K + MAX_SHARED_EXPERTS,
            MAX_EXPERTS + MAX_SHARED_EXPERTS,
            min(t for tiles in era.tiles.values() for t in tiles),
            release_cta_budget(facts.GRID_DIM_Y_MAX, max(CLUSTER_Y_SIZES), era),
            formula=era.cta_formula,
        )
        for era in ERAS
    )


def smallest_allowed_tile(num_tokens, counts: Counts, tiles, policy: Policy, tune_max_num_tokens, era) -> int:
    """The smallest tile the policy allows at num_tokens (the one that binds there)."""
    mask = allowed_tiles_mask(policy, tiles, num_tokens, counts, tune_max_num_tokens, era)
    return min(t for allowed, t in zip(mask, tiles) if allowed)


@dataclass(frozen=True)
class ChunkBound:
    """A checked configuration's bound, with why: the tile that overflows at C + 1."""

    max_chunk_tokens: int
    binding_tile: int
    ctas_at_bound: int
    ctas_past_bound: int
    cta_budget: int
    flashinfer: str
    era: str


def chunk_bound(
    num_experts,
    top_k,
    *,
    flashinfer=None,
    precision="nvfp4",
    policy="flashinfer",
    local_experts=None,
    shared_experts=0,
    tune_max_num_tokens=facts.DEFAULT_TUNE_MAX_NUM_TOKENS,
    cluster_y=1,
    grid_limit=facts.GRID_DIM_Y_MAX,
) -> ChunkBound:
    """Check the configuration, then evaluate the proven bound on ints.

    `flashinfer`: a modeled release ("0.7.2.post1"), "installed", or None for the
    installed release (else the newest modeled one)."""
    era = resolve(flashinfer)
    check_configuration(
        num_experts, top_k, era=era, precision=precision, local_experts=local_experts,
        shared_experts=shared_experts, tune_max_num_tokens=tune_max_num_tokens,
        cluster_y=cluster_y,
    )
    tiles = era.tiles[precision]
    parsed = for_release(parse_policy(policy, tiles), era, precision)
    counts = effective_counts(num_experts, top_k, local_experts, shared_experts)
    bound, _ = grid_bound_and_tile(counts, tiles, parsed, tune_max_num_tokens, era, cluster_y, grid_limit)
    tile = smallest_allowed_tile(bound + 1, counts, tiles, parsed, tune_max_num_tokens, era)
    ctas = ctas_function(era)
    return ChunkBound(
        max_chunk_tokens=bound,
        binding_tile=tile,
        ctas_at_bound=ctas(bound, counts.top_k, counts.local_experts, tile),
        ctas_past_bound=ctas(bound + 1, counts.top_k, counts.local_experts, tile),
        cta_budget=release_cta_budget(grid_limit, cluster_y, era),
        flashinfer=resolve_version(flashinfer),
        era=era.name,
    )


def max_chunk_tokens(num_experts, top_k, **kwargs) -> int:
    """The largest C such that every n in [1, C] is safe (see chunk_bound for arguments)."""
    return chunk_bound(num_experts, top_k, **kwargs).max_chunk_tokens
