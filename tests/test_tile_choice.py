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


def _float32_below(value, n, k, experts):
    """0.5.0-0.7.0.post1: float avg = float(n * k) / experts (IEEE single), then compared
    through nextPowerOfTwo(ceil(avg)) >= value, i.e. value < avg for a power of two."""
    import numpy as np

    avg = np.float32(n * k) / np.float32(experts)
    return bool(np.float32(value) < avg)


def test_float_ties_and_neighbours():
    rng = random.Random(11)
    checked = 0
    for _ in range(20000):
        value = rng.choice([8, 16, 32, 64, 128, 256])
        experts = rng.randint(1, 2050)
        k = rng.randint(1, 34)
        center = value * experts // k
        for n in (center - 1, center, center + 1, center + 2):
            if n >= 1:
                assert _float32_below(value, n, k, experts) == model(value, n, k, experts)
                checked += 1
    for n in (2**24 // 34, 2**24, 2**25, 2**25 - 1):
        for k in (1, 33, 34):
            for experts in (1, 2049, 2050):
                for value in (8, 128, 256):
                    assert _float32_below(value, n, k, experts) == model(value, n, k, experts)
    assert checked > 70000
