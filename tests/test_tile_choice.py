"""The launcher compares tile < double(n) * double(K) / L; the model compares integers
tile * L < n * K (lemma tile_choice_exact). Check ties and near-ties in doubles."""

from __future__ import annotations

import random


def launcher(tile, n, k, experts):
    return float(tile) < float(n) * float(k) / experts


def model(tile, n, k, experts):
    return tile * experts < n * k


def test_ties_and_neighbours():
    rng = random.Random(7)
    checked = 0
    for _ in range(20000):
        tile = rng.choice([8, 16, 32, 64, 128, 192, 256])
        experts = rng.randint(1, 2050)
        k = rng.randint(1, 34)
        # n near the tie n*k == tile*experts, where rounding could matter.
        center = tile * experts // k
        for n in (center - 1, center, center + 1, center + 2):
            if n >= 1:
                assert launcher(tile, n, k, experts) == model(tile, n, k, experts)
                checked += 1
    assert checked > 70000


def test_extremes_of_the_domain():
    for n in (2**31 - 1, 2**31 - 2, 2**30 + 1):
        for k in (1, 33, 34):
            for experts in (1, 2049, 2050):
                for tile in (8, 192, 256):
                    assert launcher(tile, n, k, experts) == model(tile, n, k, experts)
