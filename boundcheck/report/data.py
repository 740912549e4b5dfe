"""The report's numbers, and nothing else: every one is what `boundcheck chunk` computes
(boundcheck.bound.chunk_bound for the grid bound, boundcheck.caps.cap_for for the cap,
boundcheck.plan.chunk_count for the guard's chunks), flashinfer policy, default tune."""

from __future__ import annotations

from dataclasses import dataclass

from ..bound import chunk_bound
from ..caps import cap_for
from ..errors import BoundcheckInputError
from ..plan import chunk_count
from ..releases import MODELED_VERSIONS
from ..resolution import era_for
from ..shapes import SHAPES, Shape, shape_bound

EXPERTS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)  # log-scale axis of the heatmaps
TOP_KS = tuple(range(1, 33))
DP_SIZES = (2, 4, 8, 16, 32, 64)
TOKENS_PER_RANK = (8192, 16384, 32768, 65536)  # max_num_batched_tokens per rank


@dataclass(frozen=True)
class Heatmap:
    precision: str
    version: str
    # bounds[i][j]: grid bound at EXPERTS[j] experts and TOP_KS[i]; None where the release
    # refuses the configuration (why[i][j] says why, as chunk would).
    bounds: tuple
    why: tuple
    # (shape, bound or None, note, fused shared experts bounded with) for the model shapes
    marks: tuple


def heatmap(version: str, precision: str) -> Heatmap:
    bounds, why = [], []
    for top_k in TOP_KS:
        row, reasons = [], []
        for experts in EXPERTS:
            try:
                row.append(chunk_bound(experts, top_k, flashinfer=version, precision=precision).max_chunk_tokens)
                reasons.append("")
            except BoundcheckInputError as error:
                row.append(None)
                reasons.append(str(error))
        bounds.append(tuple(row))
        why.append(tuple(reasons))
    era = era_for(version)
    marks = []
    for shape in SHAPES:
        bound = shape_bound(era, version, precision, shape)
        value = bound.result.max_chunk_tokens if bound.result is not None else None
        # The fused shared experts the bound was computed with: the shape's, or none where this
        # release's launcher takes none (the shared expert then runs outside this kernel).
        shared = 0 if bound.shared_dropped else shape.shared
        note = bound.why_none or (f"this release's launcher takes no fused shared experts: bound with 0 "
                                  f"(the model's {shape.shared} shared expert runs outside this kernel)"
                                  if bound.shared_dropped else "")
        marks.append((shape, value, note, shared))
    return Heatmap(precision, version, tuple(bounds), tuple(why), tuple(marks))


@dataclass(frozen=True)
class Series:
    shape: Shape
    precision: str
    bounds: tuple  # per MODELED_VERSIONS, None where the release cannot run it


def release_series(shape: Shape, precision: str) -> Series:
    values = []
    for version in MODELED_VERSIONS:
        bound = shape_bound(era_for(version), version, precision, shape)
        values.append(bound.result.max_chunk_tokens if bound.result is not None else None)
    return Series(shape, precision, tuple(values))


@dataclass(frozen=True)
class GatheredCell:
    dp: int
    tokens_per_rank: int
    gathered: int
    overflows: bool  # one unchunked launch of the gathered batch exceeds the grid bound
    chunks: int  # what the guard runs: ceil(gathered / min(grid bound, cap))


@dataclass(frozen=True)
class Gathered:
    shape: Shape
    precision: str
    grid_bound: int | None  # None: the release cannot run this shape at this precision
    cap: int | None
    max_chunk: int | None
    cells: tuple  # GatheredCell per (DP_SIZES x TOKENS_PER_RANK), row-major


def gathered(version: str, precision: str, shape: Shape) -> Gathered:
    bound = shape_bound(era_for(version), version, precision, shape)
    if bound.result is None:
        return Gathered(shape, precision, None, None, None, ())
    grid = bound.result.max_chunk_tokens
    cap, _ = cap_for(precision)
    limit = grid if cap is None else min(grid, cap)
    cells = tuple(
        GatheredCell(dp, per_rank, dp * per_rank, dp * per_rank > grid, chunk_count(dp * per_rank, limit))
        for dp in DP_SIZES
        for per_rank in TOKENS_PER_RANK
    )
    return Gathered(shape, precision, grid, cap, limit, cells)
