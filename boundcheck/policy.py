"""Tile policies: which of a precision's tiles the kernel may run at n tokens.

- `flashinfer` (default): what flashinfer 0.7.2.post1 can actually run at n tokens: the
  untuned default tile at n (selectDefaultTileN) or any candidate of n's autotuner bucket
  (a cached tactic is reused for every n of its bucket without re-checking the shape).
- `any`: every supported tile. Sound even with a foreign autotuner cache or
  FLASHINFER_DIST_AWARE_AUTOTUNE, whose plans may name any tile.
- `fixed:T`: the kernel always runs tile T (`fixed:128` is vLLM's assumption).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import tiles as tilesets
from .errors import BoundcheckInputError
from .ops import INT


@dataclass(frozen=True)
class Policy:
    kind: str  # "flashinfer" | "any" | "fixed"
    tile: int | None = None

    def __str__(self) -> str:
        return f"fixed:{self.tile}" if self.kind == "fixed" else self.kind


FLASHINFER = Policy("flashinfer")
ANY = Policy("any")
POLICY_KINDS = ("flashinfer", "any", "fixed:T")


def parse_policy(text, tiles=None) -> Policy:
    """Parse a policy name; with `tiles`, also check a fixed tile is one the precision has."""
    if isinstance(text, Policy):
        policy = text
    elif text == "flashinfer":
        policy = FLASHINFER
    elif text == "any":
        policy = ANY
    elif isinstance(text, str) and text.startswith("fixed:"):
        value = text[len("fixed:") :]
        if not value.isdigit() or int(value) < 1:
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


def allowed_tiles_mask(policy, tiles, num_tokens, top_k, num_local_experts, tune_max_num_tokens, ops=INT):
    """For each tile of `tiles`: may the kernel run it at num_tokens under `policy`?"""
    if policy.kind == "any":
        return [True] * len(tiles)
    if policy.kind == "fixed":
        return [tile == policy.tile for tile in tiles]
    untuned = tilesets.default_tile_index(tiles, num_tokens, top_k, num_local_experts, ops)
    bucket = tilesets.map_to_hybrid_bucket(num_tokens, tune_max_num_tokens, ops)
    center = tilesets.heuristic_tile_index(tiles, bucket, top_k, num_local_experts, ops)
    return [
        ops.or_(untuned == index, tilesets.candidate_window(center, index, ops))
        for index in range(len(tiles))
    ]
