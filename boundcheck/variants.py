"""The ways the launch geometry varies between flashinfer releases, one Enum each.

An Era (boundcheck.releases) holds one member of each; what a member means sits here,
next to it, so no other module compares an era's field with a string. The members are
`StrEnum`s: their values are the words the records, the JSON outputs and the proofs' case
keys have always used.
"""

from __future__ import annotations

from enum import StrEnum


class TileSource(StrEnum):
    """Where the launch's tile comes from."""

    LAUNCHER = "launcher"  # 0.5.0 on: computeSelectedTileN picks it from the token count
    CALLER = "caller"  # up to 0.4.1: the caller's tile_tokens_dim (or a default)

    @property
    def from_caller(self) -> bool:
        return self is TileSource.CALLER


class CtaFormula(StrEnum):
    """runner.h's getMaxNumCtasInBatchDim / getMaxPermutedPaddedCount."""

    PERMUTED_MIN = "permuted_min"  # up to 0.4.0: roundUp(n x K + (t - 1) x E, t) / t
    FILLED = "filled"  # 0.4.1 on: one CTA an expert filled first, the rest poured

    @property
    def rounds_padded_count(self) -> bool:
        """Whether the padded count is roundUp(n x K + (t - 1) x E, t) (permuted_min)."""
        return self is CtaFormula.PERMUTED_MIN


class GridCluster(StrEnum):
    """How BatchedGemmInterface.h getGridDim turns the token CTAs into grid.y for a Y
    cluster size y (the MoE path is BatchN: its tokens on Y)."""

    IGNORED = "ignored"  # 0.4.0 and before: the CTA count itself
    ROUND_UP = "round_up"  # 0.4.1 - 0.6.10: divUpMul(CTAs, y)
    MULTIPLY = "multiply"  # 0.6.11 on: CTAs x y (the count is in clusters)

    def launched_grid_y(self, num_ctas, cluster_y, div):
        """grid.y as launched for `num_ctas` token CTAs; `div` is the integer division
        of the arithmetic in use (ints, Z3, sympy)."""
        if self is GridCluster.IGNORED:
            return num_ctas
        if self is GridCluster.MULTIPLY:
            return num_ctas * cluster_y
        return div(num_ctas + (cluster_y - 1), cluster_y) * cluster_y

    def cta_budget(self, grid_limit: int, cluster_y: int) -> int:
        """The most token CTAs whose launched grid.y still fits the limit."""
        if self is GridCluster.IGNORED:
            return grid_limit
        if self is GridCluster.MULTIPLY:
            return grid_limit // cluster_y
        return (grid_limit // cluster_y) * cluster_y


class Buckets(StrEnum):
    """The autotuner's bucket map (fused_moe/utils.py)."""

    ROUND_DOWN = "round_down"  # min(last_positive_power_of_2(x), T)
    HYBRID = "hybrid"  # map_to_hybrid_bucket: powers of two, then steps, then powers of two

    @property
    def source_function(self) -> str:
        """The function of fused_moe/utils.py that maps a token count to its bucket."""
        return "map_to_hybrid_bucket" if self is Buckets.HYBRID else "last_positive_power_of_2"


class Center(StrEnum):
    """computeSelectedTileN's centre tile."""

    LOWER_BOUND = "lower_bound"  # the first tile >= the average, in double
    POWER_OF_TWO = "power_of_two"  # nextPowerOfTwo(float average) clamped, found with std::find

    @property
    def any_tile(self) -> bool:
        """Whether every tile can be the centre (lower_bound); else only powers of two."""
        return self is Center.LOWER_BOUND


class TunedTileLaunchers(StrEnum):
    """Which tiles the launcher builds a runner for."""

    CANDIDATES = "candidates"  # 0.5.0 - 0.6.6: the runtime candidate set
    ALL = "all"  # 0.6.7 on: every supported tile, so a cached tactic always finds its tile

    @property
    def every_tile(self) -> bool:
        return self is TunedTileLaunchers.ALL
