"""kernel_limits: the other kernels' 32-bit offsets and token grids (boundcheck.kernel_limits).

Trust: boundcheck.kernel_limits (the entries read from the sources, and the closed form
`largest_tokens` the chunk command and the report use), Z3.

- kernel_limits       for each entry, each release formula in scope where it holds, each
                      model size below and each tile: with B = largest_tokens (symbolic in
                      the expert count), every n in [1, B] keeps the entry's value within its
                      limit (int32, uint32 or a grid dimension of 65535), and n = B + 1 does not.
- kernel_limits_bv    the 32-bit evaluation of `row * c + i` (0 <= i < c, the row a permuted
                      index, c the multiplier of an entry at a model size) equals the exact
                      value whenever that value is within the limit (bit-vectors): so below B
                      the C++ computes what the model says.

Broken twins:
- kernel_limits[int64 as int32]  0.7.2.post1's finalizeKernelVecLoad, whose row offset is
                                 64-bit, read as the scalar kernel's int32 element index: the
                                 grid bound is claimed safe for it at Nemotron 3 Super (refuted);
- kernel_limits[int32 as int64]  0.6.0's DeepSeek FP8 activation index, int32, read as 64-bit:
                                 the grid bound is claimed safe at DeepSeek-V3 (refuted).
"""

from __future__ import annotations

import z3

from boundcheck import domain as D
from boundcheck.bound import chunk_bound
from boundcheck.kernel_limits import LIMITS_TABLE, KernelLimit, Shape
from boundcheck.releases import ERAS
from boundcheck.versions import version_key
from boundcheck.ops import INT
from boundcheck.solver.backends import Z3_INT
from boundcheck.solver.core import REFUTED
from boundcheck.solver.obligation import Case, Obligation, Query

from .cases import scope

# (name, effective top_k, hidden, intermediate): the models the README lists, with the sizes
# the routed experts run at, and one output width that is not 16-byte aligned.
MODEL_SIZES = (
    ("Nemotron 3 Super", 22, 1024, 2688),
    ("DeepSeek-V3 +1 shared", 9, 7168, 2048),
    ("Kimi K2", 8, 7168, 2048),
    ("Qwen3-235B", 8, 4096, 1536),
    ("Nemotron 3 Ultra (as INT32.md reads it)", 22, 2048, 5120),
    ("gpt-oss-120b", 4, 2880, 2880),
    ("Mixtral 8x22B-shaped (the FP8 per-channel case)", 2, 4096, 14336),
    ("width 1020 (unaligned)", 22, 1020, 2688),
    ("2048 experts, top_k 32, width 7168 (the scalar finalize's small-batch window)", 32, 7168, 2048),
)
EXPERTS = (1, D.MAX_EXPERTS + D.MAX_SHARED_EXPERTS)
# Expert counts for the bit-vector lemma, whose multiplier is concrete (the routing scores'
# offset is tokenIdx times the expert count).
BV_EXPERTS = (8, 128, 256, 384, 512, 1024, D.MAX_EXPERTS + D.MAX_SHARED_EXPERTS)


def _in_scope(entry: KernelLimit) -> list:
    """The eras in scope with a release where the entry holds."""
    def holds(version):
        v = version_key(version)
        return v >= version_key(entry.first) and (not entry.last or v <= version_key(entry.last))

    return [era for era in scope() if any(holds(v) for v in era.versions)]


def _tiles(entry: KernelLimit, eras) -> tuple:
    if entry.count == "tokens":
        return (8,)  # the value does not depend on the tile
    return tuple(sorted({t for era in eras for p, tiles in era.tiles.items()
                         if entry.precisions is None or p in entry.precisions for t in tiles}))


def _cases():
    """Each entry in each release formula of the scope. Where no entry holds in the scope
    (0.6.8 - 0.6.10, say), every entry's closed form is checked in every release's formula:
    the closed forms are the same arithmetic whichever releases select them."""
    cases = _scoped_cases(_in_scope)
    return cases or _scoped_cases(lambda entry: list(ERAS))


def _scoped_cases(eras_of):
    cases = []
    for entry in LIMITS_TABLE:
        eras = eras_of(entry)
        for formula in sorted({era.cta_formula for era in eras}):
            tiles = _tiles(entry, [e for e in eras if e.cta_formula == formula])
            for name, top_k, hidden, intermediate in MODEL_SIZES:
                # applies at the most experts and the largest tile: where an entry's dispatch
                # depends on the counts (the small-batch window), those are where it can bind
                if not tiles or not entry.applies(Shape(top_k, EXPERTS[1], tiles[-1], hidden, intermediate, formula)):
                    continue
                cases.append(Case("kernel_limits", f"{entry.name} @ {name} ({formula})",
                                  (entry.name, formula, top_k, hidden, intermediate, tiles),
                                  key=("kernel_limits", entry.name, formula, top_k, hidden, intermediate, tiles)))
    return cases


def _entry(name) -> KernelLimit:
    return next(e for e in LIMITS_TABLE if e.name == name)


def _queries(case):
    name, formula, top_k, hidden, intermediate, tiles = case.params
    entry = _entry(name)
    experts, n = z3.Ints("num_experts tokens")
    domain = [EXPERTS[0] <= experts, experts <= EXPERTS[1]]
    for tile in tiles:
        shape = Shape(top_k, experts, tile, hidden, intermediate, formula)
        bound = entry.largest_tokens(shape, Z3_INT)
        value = entry.value(n, shape, Z3_INT)
        past = entry.value(bound + 1, shape, Z3_INT)
        yield Query(f"safety_t{tile}", domain + [1 <= n, n <= bound, value > entry.limit], [experts, n])
        yield Query(f"tight_t{tile}", domain + [bound < 2**31 - 1, past <= entry.limit], [experts])


KERNEL_LIMITS = Obligation(
    name="kernel_limits",
    statement="every n <= B (kernel_limits.largest_tokens) keeps each other-kernel int32/uint32 offset and "
              "token grid within its limit, and n = B + 1 does not",
    domain=f"each entry of boundcheck/kernel_limits.py in the releases in scope; num_experts "
           f"{EXPERTS[0]}..{EXPERTS[1]}; every tile; model sizes "
           + "; ".join(f"{m} (top_k' {k}, hidden {h}, intermediate {i})" for m, k, h, i in MODEL_SIZES),
    cases=_cases,
    build=_queries,
)


def _bv_queries(case):
    multipliers = sorted({(entry.kind, entry.multiplier(Shape(k, e, 8, h, i)))
                          for entry in LIMITS_TABLE if entry.kind != "grid"
                          for _, k, h, i in MODEL_SIZES for e in BV_EXPERTS})
    row, index = z3.BitVecs("row index", 32)
    for kind, c in multipliers:
        extend = z3.SignExt if kind == "int32" else z3.ZeroExt
        limit = 2**31 - 1 if kind == "int32" else 2**32 - 1
        wide = z3.ZeroExt(32, row) * c + z3.ZeroExt(32, index)
        narrow = row * c + index
        yield Query(f"{kind}_x{c}", [z3.ULE(index, c - 1), z3.ULE(wide, limit), z3.ULE(row, limit),
                                     extend(32, narrow) != wide], arithmetic=False)


KERNEL_LIMITS_BV = Obligation(
    name="kernel_limits_bv",
    statement="row * c + i (0 <= i < c) evaluated in 32 bits equals the exact value when that value is within "
              "int32 (uint32 for the unsigned entry)",
    domain="all 32-bit rows and indices; c each multiplier of an entry at a model size",
    cases=lambda: [Case("kernel_limits_bv", "bv32")],
    build=_bv_queries,
)


def _misread_queries(entry_name, version, precision, experts, top_k, shared, hidden, intermediate):
    """An offset read with the wrong width, so that the grid bound is claimed to suffice;
    the entry's real int32 value overflows at some n <= the grid bound."""
    def build(case):
        grid = chunk_bound(experts, top_k, flashinfer=version, precision=precision, shared_experts=shared)
        n = z3.Int("tokens")
        entry = _entry(entry_name)
        shape = Shape(top_k + shared, experts + shared, grid.binding_tile, hidden, intermediate)
        value = entry.value(n, shape, Z3_INT)
        yield Query("grid_bound", [1 <= n, n <= grid.max_chunk_tokens, value > entry.limit], [n],
                    explain=lambda v: {"tokens": v.get("tokens"), "grid_bound": grid.max_chunk_tokens,
                                       "int32": entry.code, "value": entry.value(v.get("tokens", 0), shape, INT),
                                       "limit": entry.limit, "flashinfer": version})

    return build


def _misread_twin(name, statement, case_label, *arguments):
    return Obligation(name=name, statement=statement, domain="tokens 1..the grid bound",
                      cases=lambda: [Case(name, case_label)], build=_misread_queries(*arguments),
                      expect=REFUTED, twin_of="kernel_limits")


VECLOAD_AS_INT32 = _misread_twin(
    "kernel_limits[int64 as int32]",
    "finalizeKernelVecLoad's 64-bit row offset read as the scalar kernel's int32 index: the grid bound is safe at "
    "Nemotron 3 Super (NVFP4, 0.7.2.post1, hidden 1024)",
    "nvfp4 @ 0.7.2.post1", "finalize_scalar_index_unaligned", "0.7.2.post1", "nvfp4", 512, 22, 0, 1024, 2688,
)
ACTIVATION_AS_INT64 = _misread_twin(
    "kernel_limits[int32 as int64]",
    "0.6.0's int32 DeepSeek FP8 activation index read as 64-bit: the grid bound is safe at DeepSeek-V3 (fp8_block, "
    "hidden 7168, intermediate 2048)",
    "fp8_block @ 0.6.0", "deepseek_activation_index", "0.6.0", "fp8_block", 256, 8, 0, 7168, 2048,
)

REQUANT_AS_INT64 = _misread_twin(
    "kernel_limits[uint32 requant as 64-bit]",
    "0.7.2.post1's FP8 per-channel requantization offset (unsigned blockIdx.x times numColVecs) read as 64-bit: "
    "the grid bound is safe at a Mixtral-shaped call (8 experts, top_k 2, hidden 4096, intermediate 14336)",
    "fp8_per_channel @ 0.7.2.post1", "fp8_requant_src_offset", "0.7.2.post1", "fp8_per_channel", 8, 2, 0, 4096,
    14336,
)


def _count_as_index_queries(entry_name, experts, top_k, hidden, intermediate, tile):
    """The closed form of an entry whose largest value is count x size - 1, derived as if
    it were count x size: the bound it gives is claimed to be the largest safe n."""
    def build(case):
        entry = _entry(entry_name)
        shape = Shape(top_k, experts, tile, hidden, intermediate)
        as_if = KernelLimit(entry.name, entry.code, entry.where, entry.first, entry.last, entry.precisions,
                            entry.runs, entry.kind, entry.count, entry.multiplier, 0)
        claimed = as_if.largest_tokens(shape)
        n = z3.Int("tokens")
        yield Query("largest", [n == claimed + 1, entry.value(n, shape, Z3_INT) <= entry.limit], [n],
                    explain=lambda v: {"tokens": v.get("tokens"), "claimed_largest": claimed,
                                       "value": entry.value(v.get("tokens", 0), shape, INT), "limit": entry.limit,
                                       "code": entry.code})

    return build


SCORES_COUNT_AS_INDEX = Obligation(
    name="kernel_limits[count as last index]",
    statement="the routing scores' last index (n - 1) x E + E - 1 bounded as n x E: the bound it gives (512 "
              "experts) is the largest safe n",
    domain="n = the claimed bound + 1",
    cases=lambda: [Case("kernel_limits[count as last index]", "routing_scores_offset @ 512 experts")],
    build=_count_as_index_queries("routing_scores_offset", 512, 22, 1024, 2688, 8),
    expect=REFUTED, twin_of="kernel_limits",
)

THEOREMS = [KERNEL_LIMITS, KERNEL_LIMITS_BV]
TWINS = [VECLOAD_AS_INT32, ACTIVATION_AS_INT64, REQUANT_AS_INT64, SCORES_COUNT_AS_INDEX]
