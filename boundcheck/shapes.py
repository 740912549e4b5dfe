"""The model shapes the README, the bounds table and the report show, and their bound in
a release: one place, so that every view shows the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

from .bound import ChunkBound, chunk_bound
from .domain import launcher_of


@dataclass(frozen=True)
class Shape:
    name: str
    experts: int
    top_k: int
    shared: int  # fused shared experts


SHAPES = (
    Shape("Nemotron 3 Super 512/22", 512, 22, 0),
    Shape("DeepSeek-V3 256/8 +1 shared", 256, 8, 1),
    Shape("Kimi K2 384/8", 384, 8, 0),
    Shape("Qwen3-235B 128/8", 128, 8, 0),
    Shape("gpt-oss-120b 128/4", 128, 4, 0),
)


@dataclass(frozen=True)
class ShapeBound:
    result: ChunkBound | None  # None: the release cannot run this shape at this precision
    why_none: str  # "n/a" (no such launcher) or "routing refuses"; "" when there is a result
    shared_dropped: bool  # the launcher takes no fused shared experts in this release: bound without


def shape_bound(era, version: str, precision: str, shape: Shape) -> ShapeBound:
    """chunk_bound for `shape` in `version` (of `era`), flashinfer policy, default tune."""
    if precision not in era.tiles:
        return ShapeBound(None, "n/a", False)
    if shape.top_k > era.routing.max_top_k or shape.experts > era.routing.max_experts:
        return ShapeBound(None, "routing refuses", False)
    shared, dropped = shape.shared, False
    if shared and launcher_of(precision) not in era.shared_experts:
        shared, dropped = 0, True
    result = chunk_bound(shape.experts, shape.top_k, flashinfer=version, precision=precision, shared_experts=shared)
    return ShapeBound(result, "", dropped)
