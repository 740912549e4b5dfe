"""The model over numpy arrays, next to flashinfer's compiled functions (boundcheck.drift.
compiled): the same model functions the proofs check, evaluated elementwise, and the
comparisons that return the first points where the two differ (tests/test_compiled_reference.py
and `drift --execute` both use them)."""

from __future__ import annotations

import functools

import numpy as np

from .. import geometry
from .. import tiles as tilesets


class NumpyOps:
    """boundcheck.ops.IntOps' interface over numpy int64/bool arrays (elementwise)."""

    name = "numpy"

    min = staticmethod(np.minimum)
    max = staticmethod(np.maximum)
    not_ = staticmethod(np.logical_not)

    @staticmethod
    def ite(cond, then, otherwise):
        return np.where(cond, then, otherwise)

    @staticmethod
    def div(a, b):
        return np.floor_divide(a, b)

    @staticmethod
    def and_(*conds):
        return functools.reduce(np.logical_and, conds, True)

    @staticmethod
    def or_(*conds):
        return functools.reduce(np.logical_or, conds, False)

    @staticmethod
    def implies(a, b):
        return np.logical_or(np.logical_not(a), b)

    @staticmethod
    def total(terms):
        return sum(terms)


NP = NumpyOps()


def model_mask(ladder, n, k, local, experts, era):
    out = np.zeros(np.broadcast(n, k, local, experts).shape, dtype=np.uint64)
    for j in range(len(ladder)):
        c = tilesets.tuner_candidate(ladder, j, n, k, local, experts, era, ops=NP)
        out |= np.asarray(c, dtype=np.uint64) << np.uint64(j)
    return out


def model_default(ladder, n, k, local, era):
    return np.asarray(ladder, dtype=np.int64)[tilesets.default_tile_index(ladder, n, k, local, era, ops=NP)]


def model_ctas(n, k, experts, tile, era):
    return geometry.ctas_function(era)(n, k, experts, tile, ops=NP)


def as_set(mask, ladder) -> frozenset:
    return frozenset(t for j, t in enumerate(ladder) if (int(mask) >> j) & 1)


def ladders(era):
    return sorted(set(era.tiles.values()))


def small_domain(era, experts_max=64, top_k_max=8, tokens_max=4096):
    """experts 1..64 x top_k 1..8 x tokens 0..4096, flattened; EP variants for global eras."""
    local, k, n = np.meshgrid(np.arange(1, experts_max + 1), np.arange(1, top_k_max + 1),
                              np.arange(0, tokens_max + 1), indexing="ij")
    n, k, local = n.ravel(), k.ravel(), local.ravel()
    experts = local.copy()
    if era.global_tile:
        # num_experts > num_local_experts, spread deterministically over (local, local + 256].
        ep = local + 1 + (n * 7 + k * 13 + local * 3) % 256
        n, k, local, experts = (np.concatenate(p) for p in ((n, n), (k, k), (local, local), (experts, ep)))
    return n, k, local, experts


def int32_fits(n, k, experts, tile, era):
    """Where every int32 value the CTA formula forms fits (beyond, the C++ wraps and the
    model does not claim to follow it; the proofs' int32 obligation covers n <= C_max)."""
    values = geometry.int32_expressions(n, k, experts, experts, tile, NP, era.cta_formula).values()
    return functools.reduce(np.logical_and, (v <= 2**31 - 1 for v in values), experts <= 2**31 - 1)


def ctas_mismatches(ref, era, n, k, experts, tile):
    """(points compared, index array of mismatches, compiled, model, the points)."""
    n, k, experts, tile = (np.ascontiguousarray(a, dtype=np.int64).ravel() for a in np.broadcast_arrays(n, k, experts, tile))
    keep = int32_fits(n, k, experts, tile, era)
    n, k, experts, tile = n[keep], k[keep], experts[keep], tile[keep]
    out, status = ref.ctas(n, k, experts, tile)
    want = model_ctas(n, k, experts, tile, era)
    bad = np.flatnonzero((out != want) | (status != 0))
    return n.size, bad, out, want, (n, k, experts, tile), status


def tiles_mismatches(ref, era, ladder, n, k, local, experts):
    n, k, local, experts = (np.ascontiguousarray(a, dtype=np.int64) for a in np.broadcast_arrays(n, k, local, experts))
    mask, default, status = ref.tiles(ladder, n, k, local, experts)
    m_mask = model_mask(ladder, n, k, local, experts, era)
    m_default = model_default(ladder, n, k, local, era)
    bad_set = np.flatnonzero((mask != m_mask) | ((status != 0) & (status != 2)))
    bad_default = np.flatnonzero((default != m_default) | (status == 2))
    return n.size, bad_set, bad_default, (mask, default, status), (m_mask, m_default), (n, k, local, experts)
