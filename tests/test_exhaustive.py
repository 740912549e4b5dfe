"""Exhaustive small-domain checks: with the grid limit made small, every configuration of
a small domain and every n up to C + 1 is scanned by the independent oracle, and the
model's closed-form bound must be exactly the first unsafe n minus one."""

from __future__ import annotations

import itertools
import random

import pytest

from boundcheck.bound import effective_counts, grid_bound_and_tile, is_safe
from boundcheck.policy import parse_policy
from boundcheck.tiles import PRECISION_TILES

from . import oracle

TILE_LISTS = sorted(set(PRECISION_TILES.values()))


def _policies(tiles):
    return ["flashinfer", "any"] + [f"fixed:{t}" for t in tiles]


def _check(tiles, policy_text, experts, top_k, shared, local, tune, cluster_y, limit):
    counts = effective_counts(experts, top_k, local, shared)
    policy = parse_policy(policy_text, tiles)
    bound, tile = grid_bound_and_tile(counts, tiles, policy, tune, cluster_y, limit)
    first = oracle.first_unsafe(
        list(tiles), counts.top_k, counts.local_experts, policy_text, tune, cluster_y, limit,
        horizon=bound + 1,
    )
    where = (tiles, policy_text, experts, top_k, shared, local, tune, cluster_y, limit)
    assert first == bound + 1, where
    # The model's own literal definition agrees at both ends (int32 never binds here).
    if bound >= 1:
        assert is_safe(bound, counts, tiles, policy, tune, cluster_y, limit), where
    assert not is_safe(bound + 1, counts, tiles, policy, tune, cluster_y, limit), where
    return tile


@pytest.mark.parametrize("tiles", TILE_LISTS)
def test_every_configuration_at_limit_63(tiles):
    checked = 0
    for experts in range(1, 17):
        for top_k, shared, local_kind, tune in itertools.product(
            range(1, min(experts, 8) + 1), (0, 1, 2), ("one", "all"), (1, 8, 64, 8192)
        ):
            local = 1 if local_kind == "one" else experts
            for policy in _policies(tiles):
                _check(tiles, policy, experts, top_k, shared, local, tune, 1, 63)
                checked += 1
    assert checked > 2000


@pytest.mark.parametrize("limit", [255, 1023])
@pytest.mark.parametrize("tiles", TILE_LISTS)
def test_sampled_configurations_at_larger_limits(tiles, limit):
    rng = random.Random(limit * 1000 + len(tiles))
    binding_tiles = set()
    for _ in range(150):
        experts = rng.randint(1, 96)
        top_k = rng.randint(1, min(experts, 32))
        shared = rng.randint(0, 2)
        local = rng.randint(1, experts)
        tune = rng.choice([1, 3, 100, 256, 300, 1024, 5000, 8192, 2**20])
        cluster_y = rng.choice([1, 2])
        policy = rng.choice(_policies(tiles))
        binding_tiles.add(_check(tiles, policy, experts, top_k, shared, local, tune, cluster_y, limit))
    # The sample exercises more than one regime of the tile choice.
    assert len(binding_tiles) >= 2


def test_safety_is_not_monotone_in_tokens():
    # Under the flashinfer policy the tile grows with n: a larger n can launch again
    # after a smaller one failed, which is why C is the end of the FIRST safe run.
    tiles = PRECISION_TILES["fp8_per_tensor"]
    found = None
    for experts, top_k in itertools.product(range(1, 40), range(1, 9)):
        if top_k > experts:
            continue
        counts = effective_counts(experts, top_k)
        policy = parse_policy("flashinfer")
        bound, _ = grid_bound_and_tile(counts, tiles, policy, 2**20, 1, 63)
        later_safe = [
            n for n in range(bound + 2, bound + 600)
            if is_safe(n, counts, tiles, policy, 2**20, 1, 63)
        ]
        if later_safe:
            found = (experts, top_k, bound, later_safe[0])
            break
    assert found is not None
    experts, top_k, bound, later = found
    assert later > bound + 1
