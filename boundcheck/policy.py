"""Tile policies: which of a precision's tiles the kernel may run at n tokens.

- `flashinfer` (default): what the release can actually run at n tokens: the untuned
  default tile at n (selectDefaultTileN) or any tuner candidate of n's autotuner bucket
  (a cached tactic is reused for every n of its bucket without re-checking the shape),
  as the release's era decides (boundcheck.releases).
- `any`: every supported tile. Sound even with a foreign autotuner cache or
  FLASHINFER_DIST_AWARE_AUTOTUNE, whose plans may name any tile.
- `default`: autotuning off: only the untuned default tile at n (selectDefaultTileN, the
  inline `tile_N == -1` default before 0.6.7), as when no tactic is cached or the engine
  runs without the autotuner.
- `fixed:T`: the kernel always runs tile T (`fixed:128` is vLLM's assumption).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import tiles as tilesets
from .errors import BoundcheckInputError
from .ops import INT


@dataclass(frozen=True)
class Policy:
    kind: str  # "flashinfer" | "default" | "any" | "fixed"
    tile: int | None = None

    def __str__(self) -> str:
        return f"fixed:{self.tile}" if self.kind == "fixed" else self.kind


FLASHINFER = Policy("flashinfer")
DEFAULT = Policy("default")
ANY = Policy("any")
# Internal: what `flashinfer` means for 0.4.1's FP4 when the caller passes no tile.
CALLER_HEURISTIC = Policy("caller_heuristic")
POLICY_KINDS = ("flashinfer", "default", "any", "fixed:T")
# The policies whose tile depends on n: their bound is the first failure (bound.py).
TILE_CHOOSING = ("flashinfer", "default", "caller_heuristic")


def for_release(policy: Policy, era, precision: str) -> Policy:
    """What a policy runs in `era` for `precision`. Up to 0.4.1 the caller picks the tile:
    `flashinfer` (the caller passes none) is the default tile_tokens_dim (8), or, for
    0.4.1's FP4, the tile calculate_tile_tokens_dim picks at n; `default` (no autotuning)
    is the same there, as the tuner never chose the tile in those releases."""
    if policy.kind not in ("flashinfer", "default") or not era.tile_source.from_caller:
        return policy
    if era.uses_caller_heuristic(precision):
        return CALLER_HEURISTIC
    return Policy("fixed", era.caller_default_tile)


def parse_policy(text, tiles=None) -> Policy:
    """Parse a policy name; with `tiles`, also check a fixed tile is one the precision has."""
    if isinstance(text, Policy):
        policy = text
    elif text == "flashinfer":
        policy = FLASHINFER
    elif text == "default":
        policy = DEFAULT
    elif text == "any":
        policy = ANY
    elif isinstance(text, str) and text.startswith("fixed:"):
        value = text[len("fixed:") :]
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise BoundcheckInputError(
                "policy", f"fixed:T needs a positive integer tile T, got {text!r}"
            )
        policy = Policy("fixed", int(value))
    else:
        raise BoundcheckInputError(
            "policy", f"unknown policy {text!r}; expected one of {', '.join(POLICY_KINDS)}"
        )
    if tiles is not None and policy.kind == "fixed" and policy.tile not in tiles:
        raise BoundcheckInputError(
            "policy",
            f"tile {policy.tile} is not one this precision runs; its tiles are "
            f"{', '.join(map(str, tiles))}",
        )
    return policy


def allowed_tiles_mask(policy, tiles, num_tokens, counts, tune_max_num_tokens, era, ops=INT):
    """For each tile of `tiles`: may the kernel run it at num_tokens under `policy`?

    `flashinfer`: the default tile at n, or a tuner candidate of n's bucket (a cached tactic
    is reused for the whole bucket). Where the era builds launchers only for the runtime
    candidates at n (0.5.3-0.6.6), a tuned tile must also be one of those, or the launcher
    throws instead of launching. Up to 0.5.2 a foreign tuned tile dereferences a missing
    runner (undefined behaviour); the model counts it as launched, which can only lower C.
    """
    if policy.kind == "any":
        return [True] * len(tiles)
    if policy.kind == "fixed":
        return [tile == policy.tile for tile in tiles]
    k = counts.top_k
    bucket = tilesets.bucket_of(num_tokens, tune_max_num_tokens, era, ops) if policy.kind == "flashinfer" else 0
    return allowed_tiles_mask_expanded(
        policy, tiles, num_tokens * k, bucket * k, counts.local_experts, counts.global_experts, era, ops
    )


def allowed_tiles_mask_expanded(policy, tiles, expanded, expanded_bucket, local_experts, experts, era, ops=INT):
    """allowed_tiles_mask of a tile-choosing policy, from the expanded tokens n*K' and the
    expanded bucket b*K' (b the autotuner bucket of n): the launcher compares only these
    with tile * experts, so the choice is a function of them and of the expert counts,
    free of K' (proofs/tile_choice_lemmas.py proves its lemmas so, once for every K')."""
    if policy.kind == "caller_heuristic":
        picked = tilesets.caller_heuristic_index(tiles, expanded, 1, experts, ops)
        return [picked == index for index in range(len(tiles))]
    if era.tile_source.from_caller:
        raise ValueError(f"policy {policy} must be resolved with policy.for_release in {era!r}")
    untuned = tilesets.default_tile_index(tiles, expanded, 1, local_experts, era, ops)
    if policy.kind == "default":
        return [untuned == index for index in range(len(tiles))]
    mask = []
    for index in range(len(tiles)):
        tuned = tilesets.tuner_candidate(tiles, index, expanded_bucket, 1, local_experts, experts, era, ops)
        if era.tuned_tile_checked:
            tuned = ops.and_(tuned, tilesets.is_candidate(tiles, index, expanded, 1, local_experts, era, ops))
        mask.append(ops.or_(untuned == index, tuned))
    return mask
