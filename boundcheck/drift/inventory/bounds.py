"""The largest values a finding's operands take at n <= C, and the check of a stated bound.

A `bounded` rule (rules.py) states an upper bound on its findings' value as an expression
over the names below: sums, products and floor quotients of non-negative maxima, so the
expression is monotone and its value at the maxima bounds the finding everywhere in the
domain. `check` evaluates it and compares with the finding's type: below 2^31 for a signed
32-bit value, below 2^32 for an unsigned one (2^15 and 2^16 for a short, 2^7 and 2^8 for a
char). What the rule reads from the sources (that the expression bounds the finding) is its
stated reason; the arithmetic is checked here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from boundcheck import facts
from boundcheck.releases import ERAS
from boundcheck.tiles import POWER_OF_TWO_EXPONENTS


@dataclass(frozen=True)
class Maximum:
    value: int
    why: str


MAXIMA = {
    "N": Maximum(2**POWER_OF_TWO_EXPONENTS - 1,
                 "tokens of one call at n <= C: the int32 theorem (proofs/int32.py) checks n < 2^25 at every n <= C"),
    "K": Maximum(facts.MAX_TOP_K + facts.MAX_FUSED_SHARED_EXPERTS,
                 "experts a token is routed to, top_k plus fused shared experts (facts.MAX_TOP_K, "
                 "MAX_FUSED_SHARED_EXPERTS)"),
    "E": Maximum(facts.MAX_EXPERTS + facts.MAX_FUSED_SHARED_EXPERTS,
                 "experts, routed plus fused shared (facts.MAX_EXPERTS: RoutingCustomPolicy.cuh's MaxSupportedExperts)"),
    "T": Maximum(max(max(tiles) for era in ERAS for tiles in era.tiles.values()),
                 "the largest tile (tile_tokens_dim) of any modeled release and precision (releases.ERAS)"),
    "CTAS": Maximum(facts.GRID_DIM_Y_MAX,
                    "CTAs of the token dimension at the chosen tile: the grid theorem keeps them <= 65,535 at n <= C, "
                    "and every padded count the routing builds is at most CTAs x tile (runner.h: "
                    "getMaxPermutedPaddedCount = getMaxNumCtasInBatchDim x tile)"),
    "WIDTH": Maximum(facts.MAX_WIDTH, "hidden and intermediate sizes: `boundcheck chunk` and the guard refuse wider "
                                      "(facts.MAX_WIDTH)"),
    "THREADS": Maximum(1024, "CUDA: threads of a block (blockDim.x, threadIdx.x + 1, the kernels' NumThreads)"),
    "WARPS": Maximum(32, "CUDA: warps of a block (1,024 threads / 32)"),
    "GRID_YZ": Maximum(65535, "CUDA: gridDim.y and gridDim.z (blockIdx.y, blockIdx.z below them)"),
    "CLUSTER": Maximum(16, "CUDA: blocks of a thread-block cluster (the non-portable maximum; the routing "
                           "kernels use NumBlocksPerCluster = 8)"),
    "BLOCK_ELTS": Maximum(2**16, "routing: expanded indices one block handles per pass (MaxExpandedIdxPerBlock = "
                                 "NumThreads x MaxExpandedIdxPerThread <= 1,024 x 64; NumEltsPerThread x NumThreads "
                                 "= 8 x 1,024)"),
    "ROUTING_GRID": Maximum(1024, "routing: blocks of the histogram, offsets and init kernels, "
                                  "min(ceil(n x K / elements per block), maxNumBlocks = 1,024) (routing runImpl/run)"),
    "SCORES_GRID": Maximum(4096, "routing: blocks of the histogram-scores kernels: 1,024 (maxNumBlocks), or from "
                                 "0.6.15 routingCustom's min(ceil(n / 8), 1,024 x ceil(min(tier, 1,024) / 256)) <= "
                                 "4,096"),
    "SMALL_TOKENS": Maximum(16, "routing: tokens of a call the warp, block and dyn-block routing kernels run for "
                                "(WarpKernelMaxNumTokens = BlockKernelMaxNumTokens = 4; the dyn-block kernel for "
                                "4 < n <= 16)"),
    "COOP_GRID": Maximum(8192, "routing: blocks of a cooperative launch, all co-resident: at most the SMs (<= 256 on "
                               "any GPU to date) x 32 resident blocks per SM"),
    "CONFIGS": Maximum(2**16, "batched-GEMM configurations of a release (tllmGenBatchedGemmList: a few hundred to a "
                              "few thousand entries)"),
}

_ALLOWED = (ast.Expression, ast.BinOp, ast.Add, ast.Mult, ast.FloorDiv, ast.Constant, ast.Name, ast.Load)


class BoundError(ValueError):
    """A bound that is not a monotone expression over the maxima."""


def value_of(bound: str) -> int:
    """The bound's value at the maxima; only +, *, // of the names above and non-negative ints."""
    tree = ast.parse(bound, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise BoundError(f"bound {bound!r}: {type(node).__name__} is not +, *, // of maxima and constants")
        if isinstance(node, ast.Constant) and (not isinstance(node.value, int) or node.value < 0):
            raise BoundError(f"bound {bound!r}: constant {node.value!r} is not a non-negative int")
        if isinstance(node, ast.Name) and node.id not in MAXIMA:
            raise BoundError(f"bound {bound!r}: {node.id} is not one of {sorted(MAXIMA)}")
    return eval(compile(tree, bound, "eval"), {"__builtins__": {}}, {k: m.value for k, m in MAXIMA.items()})


def signedness(ctype: str) -> str:
    return "unsigned" if ctype.split(" (")[0].strip().startswith("unsigned") else "signed"


def bits(ctype: str) -> int:
    """The width of a finding's type (a `short` counter wraps at 2^15, not 2^31)."""
    words = ctype.split(" (")[0].split()
    return 8 if "char" in words else 16 if "short" in words else 32


def limit_of(ctype: str) -> int:
    width = bits(ctype)
    return 2 ** width if signedness(ctype) == "unsigned" else 2 ** (width - 1)


def check(bound: str, ctype: str) -> tuple[bool, int, int]:
    """(holds, value, limit): whether the bound keeps a value of type `ctype` in range."""
    value, limit = value_of(bound), limit_of(ctype)
    return value < limit, value, limit
