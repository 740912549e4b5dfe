"""Exhaustive small-domain checks: with the grid limit made small, every configuration of
a small domain and every n up to C + 1 is scanned by the independent oracle, and the
model's closed-form bound must be exactly the first unsafe n minus one."""

from __future__ import annotations

import itertools
import random

import pytest

from boundcheck.bound import effective_counts, grid_bound_and_tile, is_safe
from boundcheck.policy import for_release, parse_policy
from boundcheck.resolution import era_for

from . import oracle
from .eras import distinct_geometries, oracle_era

GEOMETRIES = distinct_geometries()
IDS = [f"{era.name}-{precision}-{'_'.join(map(str, tiles))}" for era, precision, tiles in GEOMETRIES]
E23 = era_for("0.7.2.post1")


def _policies(tiles):
    return ["flashinfer", "any"] + [f"fixed:{t}" for t in tiles]


def _check(era, precision, tiles, policy_text, experts, top_k, shared, local, tune, cluster_y, limit):
    counts = effective_counts(experts, top_k, local, shared)
    policy = for_release(parse_policy(policy_text, tiles), era, precision)
    bound, _ = grid_bound_and_tile(counts, tiles, policy, tune, era, cluster_y, limit)
    first = oracle.first_unsafe(
        list(tiles), counts.top_k, counts.local_experts, policy_text, tune, cluster_y, limit,
        horizon=bound + 1, **oracle_era(era, precision, counts.global_experts),
    )
    where = (era.name, tiles, policy_text, experts, top_k, shared, local, tune, cluster_y, limit)
    assert first == bound + 1, where
    # The model's own literal definition agrees at both ends (int32 never binds here).
    if bound >= 1:
        assert is_safe(bound, counts, tiles, policy, tune, era, cluster_y, limit), where
    assert not is_safe(bound + 1, counts, tiles, policy, tune, era, cluster_y, limit), where
    mask_at_past = [t for t, ok in zip(tiles, oracle.allowed_masks(
        list(tiles), oracle.np.array([bound + 1]), counts.top_k, counts.local_experts, policy_text, tune,
        **oracle_era(era, precision, counts.global_experts))) if ok[0]]
    return min(mask_at_past)


@pytest.mark.parametrize(("era", "precision", "tiles"), GEOMETRIES, ids=IDS)
def test_every_configuration_at_limit_63(era, precision, tiles):
    checked = 0
    for experts in range(1, 13):
        for top_k, shared, local_kind, tune in itertools.product(
            range(1, min(experts, 6) + 1), (0, 2), ("one", "half", "all"), (1, 8, 64, 8192)
        ):
            local = {"one": 1, "half": max(1, experts // 2), "all": experts}[local_kind]
            for policy in ("flashinfer", "any", f"fixed:{tiles[-1]}"):
                _check(era, precision, tiles, policy, experts, top_k, shared, local, tune, 1, 63)
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize("limit", [255, 1023])
@pytest.mark.parametrize(("era", "precision", "tiles"), GEOMETRIES, ids=IDS)
def test_sampled_configurations_at_larger_limits(era, precision, tiles, limit):
    rng = random.Random(limit * 1000 + len(tiles) + int(era.name[1:]))
    binding_tiles = set()
    for _ in range(60):
        experts = rng.randint(1, 96)
        top_k = rng.randint(1, min(experts, 32))
        shared = rng.randint(0, 2)
        local = rng.randint(1, experts)
        tune = rng.choice([1, 3, 100, 256, 300, 1024, 5000, 8192, 2**20])
        cluster_y = rng.choice([1, 2])
        policy = rng.choice(_policies(tiles) + ["flashinfer"] * 3)
        binding_tiles.add(_check(era, precision, tiles, policy, experts, top_k, shared, local, tune, cluster_y, limit))
    # The sample exercises more than one regime of the tile choice.
    assert len(binding_tiles) >= 2


def test_safety_is_not_monotone_in_tokens():
    # Under the flashinfer policy the tile grows with n: a larger n can launch again
    # after a smaller one failed, which is why C is the end of the FIRST safe run.
    tiles = E23.tiles["fp8_per_tensor"]
    found = None
    for experts, top_k in itertools.product(range(1, 40), range(1, 9)):
        if top_k > experts:
            continue
        counts = effective_counts(experts, top_k)
        policy = parse_policy("flashinfer")
        bound, _ = grid_bound_and_tile(counts, tiles, policy, 2**20, E23, 1, 63)
        later_safe = [
            n for n in range(bound + 2, bound + 600)
            if is_safe(n, counts, tiles, policy, 2**20, E23, 1, 63)
        ]
        if later_safe:
            found = (experts, top_k, bound, later_safe[0])
            break
    assert found is not None
    experts, top_k, bound, later = found
    assert later > bound + 1
