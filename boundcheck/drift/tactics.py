"""flashinfer's resolveMoeTileAndConfig, compiled, against the model's tactic resolution.

From 0.6.7 every launcher turns the autotuner's tactic `[tile_N, config]` into the tile and
config it launches through `resolveMoeTileAndConfig(tactic, supported_tiles, num_tokens,
top_k, num_local_experts)` (trtllm_fused_moe_kernel_launcher.cu): the default tile
(selectDefaultTileN) with config -1 when the tactic has no tile, and up to 0.7.2.post1 also
when it has no config; else the tactic as it is. The model's counterpart is
boundcheck.tiles.resolved_tactic with the model's default tile (tiles.default_tile_index).
Releases before 0.6.7 have no such function, under this or another name: each entry
function resolves the tactic inline (`if (tile_N == -1 || config == -1) { tile_N =
*selected_tile_nums.begin(); }`), which drift's text fact `default_tile` reads and the
compiled default tile (`*computeSelectedTileN(...).begin()`) executes; there is nothing
to call. Up to 0.4.1 the caller passes the tile and the tactic is a config alone.

The function is extracted by name and compiled with the other host functions
(boundcheck.drift.compiled: its `bc_resolve` wrapper, `Reference.resolve`); this module
chooses the tactics and compares the answers. Per tile ladder of the era (the
`supported_tiles` a launcher passes):

- every tactic of tile in {each tile of the ladder, -1, tiles outside the ladder: the era's
  other tiles, 0, 1, 4, 24, 512, -2, 2**31 - 1, -2**31, 2**40} x config in CONFIGS (-1, 0,
  1, 2, 63, 64, 1000, -2, 2**31 - 1, 2**40), at PER_DEFAULT token points for each default
  tile the model picks on a pool (POOL points of tokens 0..4,096 x top_k 1..8 x local
  experts 1..64, and POOL / 4 random points of the full domain), so that every fallback
  meets every default, and at EXTRA_POINTS random points of the full domain and CORNERS;
- RANDOM_TACTICS tactics at random points (tokens up to 2**24, top_k 1..34, local experts
  1..2,050), tile -1 or a ladder tile, config -1 or 0..63, as the autotuner's cache holds.

A tactic the function throws on is a difference (the model launches every [tile, config]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import tiles as tilesets
from .compare import NP, ladders, model_default

NAME = "resolveMoeTileAndConfig"
FIRST_RELEASE = "0.6.7"
CONFIGS = (-1, 0, 1, 2, 63, 64, 1000, -2, 2**31 - 1, 2**40)
OUTSIDE = (0, 1, 4, 24, 512, -2, 2**31 - 1, -(2**31), 2**40)  # tiles no ladder holds, with the era's others
POOL = 60_000  # token points of the small domain the defaults are picked from (and a quarter of random ones)
PER_DEFAULT = 48  # token points per default tile
EXTRA_POINTS = 256  # random token points of the full domain, besides
RANDOM_TACTICS = 20_000  # per ladder
CORNERS = ((0, 1, 1), (1, 1, 1), (2**24, 34, 1), (1, 1, 2050), (2**24, 1, 2050), (4096, 8, 64))


def expected(era) -> bool:
    """Does the era resolve tactics through resolveMoeTileAndConfig? 0.6.7 introduced it in
    the release that also built launchers for every supported tile (era E14 begins at
    both), so the eras with launchers for every tile are those that have it."""
    return era.tuned_tile_launchers.every_tile


def _full_domain(rng, size):
    n = np.where(rng.random(size) < 0.5, rng.integers(0, 2**24 + 1, size),
                 np.exp(rng.uniform(0, np.log(2**24), size)).astype(np.int64))
    return n, rng.integers(1, 35, size), rng.integers(1, 2051, size)


def token_points(era, ladder, rng):
    """(tokens, top_k, local, defaults covered): PER_DEFAULT points for each default tile
    the model picks on the pool, EXTRA_POINTS random ones and the CORNERS."""
    n, k, local = rng.integers(0, 4097, POOL), rng.integers(1, 9, POOL), rng.integers(1, 65, POOL)
    rn, rk, rl = _full_domain(rng, POOL // 4)
    pool_n, pool_k, pool_l = np.concatenate([n, rn]), np.concatenate([k, rk]), np.concatenate([local, rl])
    default = model_default(ladder, pool_n, pool_k, pool_l, era)
    order = rng.permutation(pool_n.size)
    chosen = []
    covered = sorted(set(default.tolist()))
    for tile in covered:
        chosen.append(order[default[order] == tile][:PER_DEFAULT])
    pick = np.concatenate(chosen)
    en, ek, el = _full_domain(rng, EXTRA_POINTS)
    cn, ck, cl = (np.array(c, dtype=np.int64) for c in zip(*CORNERS))
    return (np.concatenate([pool_n[pick], en, cn]), np.concatenate([pool_k[pick], ek, ck]),
            np.concatenate([pool_l[pick], el, cl]), tuple(covered))


def outside_tiles(era, ladder) -> tuple:
    others = {t for lad in ladders(era) for t in lad} - set(ladder)
    return tuple(sorted(others)) + tuple(t for t in OUTSIDE if t not in ladder and t not in others)


@dataclass(frozen=True)
class Domain:
    """The tactics and points of one ladder, and what they cover."""

    ladder: tuple
    tokens: np.ndarray
    top_k: np.ndarray
    local: np.ndarray
    tile: np.ndarray
    config: np.ndarray
    defaults: tuple  # the default tiles the exhaustive part hits
    outside: tuple  # the tactic tiles outside the ladder

    @property
    def size(self) -> int:
        return int(self.tokens.size)


def domain(era, ladder, rng, random_tactics: int = RANDOM_TACTICS) -> Domain:
    n, k, local, defaults = token_points(era, ladder, rng)
    outside = outside_tiles(era, ladder)
    tactic_tiles = np.array((*ladder, -1, *outside), dtype=np.int64)
    configs = np.array(CONFIGS, dtype=np.int64)
    point, tile, config = (a.ravel() for a in np.meshgrid(np.arange(n.size), tactic_tiles, configs, indexing="ij"))
    rn, rk, rl = _full_domain(rng, random_tactics)
    rt = np.where(rng.random(random_tactics) < 0.3, -1, rng.choice(np.array(ladder), random_tactics))
    rc = np.where(rng.random(random_tactics) < 0.3, -1, rng.integers(0, 64, random_tactics))
    return Domain(tuple(ladder), np.concatenate([n[point], rn]), np.concatenate([k[point], rk]),
                  np.concatenate([local[point], rl]), np.concatenate([tile, rt]), np.concatenate([config, rc]),
                  defaults, outside)


@dataclass(frozen=True)
class Resolution:
    """flashinfer's answers and the model's on a Domain."""

    domain: Domain
    tile: np.ndarray
    config: np.ndarray
    status: np.ndarray  # 0 ok, 1 threw
    last_error: str
    model_tile: np.ndarray
    model_config: np.ndarray
    model_default: np.ndarray

    @property
    def differing(self) -> np.ndarray:
        return np.flatnonzero((self.status != 0) | (self.tile != self.model_tile) | (self.config != self.model_config))

    def describe(self, i: int, ref=None) -> str:
        d = self.domain
        theirs = (f"threw ({self.last_error[:200]})" if self.status[i]
                  else f"({self.tile[i]}, {self.config[i]})")
        where = (f"tactic=[{d.tile[i]}, {d.config[i]}] tokens={d.tokens[i]} top_k={d.top_k[i]} "
                 f"num_local_experts={d.local[i]} (ladder {list(d.ladder)})")
        text = f"{where}: flashinfer {theirs}, model ({self.model_tile[i]}, {self.model_config[i]})"
        if ref is not None and ref.extracted.compute_selected_tile_n is not None:
            _, default, status = ref.tiles(d.ladder, d.tokens[i:i + 1], d.top_k[i:i + 1], d.local[i:i + 1])
            own = "threw" if status[0] == 2 else int(default[0])
            text += f" (default tile there: flashinfer {own}, model {self.model_default[i]})"
        return text


def resolve(ref, era, d: Domain) -> Resolution:
    """resolveMoeTileAndConfig (compiled, `ref`) and tiles.resolved_tactic on the domain."""
    tile, config, status = ref.resolve(d.ladder, d.tokens, d.top_k, d.local, d.tile, d.config)
    default = model_default(d.ladder, d.tokens, d.top_k, d.local, era)
    model_tile, model_config = tilesets.resolved_tactic(d.tile, d.config, default, era, ops=NP)
    return Resolution(d, tile, config, status, ref.last_error if status.any() else "",
                      np.asarray(model_tile, dtype=np.int64), np.asarray(model_config, dtype=np.int64), default)


def compare(ref, era, rng, random_tactics: int = RANDOM_TACTICS) -> list[Resolution]:
    """One Resolution per ladder of the era."""
    return [resolve(ref, era, domain(era, ladder, rng, random_tactics)) for ladder in ladders(era)]


def summary(results: list[Resolution]) -> str:
    parts = []
    for r in results:
        d = r.domain
        parts.append(f"{list(d.ladder)}: every tile, -1 and {len(d.outside)} outside x {len(CONFIGS)} configs "
                     f"at defaults {list(d.defaults)}")
    return "tactics of " + "; ".join(parts) + f"; and {RANDOM_TACTICS:,} random tactics per ladder"


def row(ref, era, rng):
    """drift --execute's row (boundcheck.drift.execute.Executed)."""
    from .execute import ABSENT, DIFFERS, MATCH, Executed

    if ref.extracted.resolve_moe_tile_and_config is None:
        if expected(era):
            return Executed(NAME, DIFFERS, 0, f"{NAME} not found in the launcher: the era ({era.span}) resolves the "
                                              f"tuner's tactic through it")
        if era.tile_source.from_caller:
            return Executed(NAME, ABSENT, 0, "the caller's tile_tokens_dim: the tactic is a config alone")
        return Executed(NAME, ABSENT, 0, f"before {FIRST_RELEASE} each entry function resolves the tactic inline "
                                         f"(tile_N = *selected_tile_nums.begin(), executed as the default tile)")
    results = compare(ref, era, rng)
    total = sum(r.domain.size for r in results)
    bad = [(r, r.differing) for r in results if r.differing.size]
    if bad:
        count = sum(b.size for _, b in bad)
        first, indices = bad[0]
        return Executed(NAME, DIFFERS, total, f"{count} points differ; first: {first.describe(int(indices[0]), ref)}")
    return Executed(NAME, MATCH, total, summary(results))
