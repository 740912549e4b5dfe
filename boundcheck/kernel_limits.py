"""The limits of the MoE path's other kernels that grow with the token count: 32-bit
index and size expressions with the hidden and intermediate sizes, and grids sized by the
token count (issue "the int32 offsets behind the 300,000 cap").

Trust: the release sources, read (line numbers of the release named in `where`; the
verbatim code in `code`); boundcheck.geometry for the padded count. Each entry says in
which releases the expression is computed in 32 bits on a path that runs, for which
precisions, and when. The value is the largest the expression reaches at n tokens (an
upper bound: permuted rows are counted with getMaxPermutedPaddedCount over the GLOBAL
expert count and the precision's largest tile, which no real routing exceeds).

What is not here, and why (README, "int32"): the GEMMs' own address arithmetic (closed
cubins); the permute, convertsf and non-DeepSeek activation kernels and the DeepSeek
finalize (no caller in any modeled release); finalizeKernelVecLoad and the scale-factor
layout helpers (64-bit in every release that has them); n*K and the padded counts (in the
launcher's int32 obligation, proofs/int32.py: they fit up to about 10^8 tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .variants import CtaFormula
from . import facts
from .geometry import padded_count_function
from .ops import INT
from .versions import version_key

UINT32_MAX = 2**32 - 1
LIMITS = {"int32": facts.INT32_MAX, "uint32": UINT32_MAX, "grid": facts.GRID_DIM_Y_MAX}
DEEPSEEK_FP8 = frozenset({"fp8_block"})
FP4_WITH_SCALE = frozenset({"nvfp4", "nvfp4_per_token", "mxfp4_mxfp8"})
# bf16 output: finalizeKernelVecLoad needs rows of whole 16-byte vectors (8 elements).
FINALIZE_ELEMS_PER_VECTOR = 8


@dataclass(frozen=True)
class Shape:
    """What the kernels' limits depend on besides n: the counts the launcher uses (fused
    shared experts included), the tile, the model's sizes, and runner.h's formula."""

    top_k: object
    experts: object  # global (routing buffers and the padded count's upper bound)
    tile: int
    hidden: int  # the GEMM2 row stride (finalize's hiddenDimPadded)
    intermediate: int
    formula: str = "filled"  # "permuted_min" up to 0.4.0
    output_width: int | None = None  # finalize's hiddenDim when narrower (a narrow `output`)


@dataclass(frozen=True)
class KernelLimit:
    """count(n) * multiplier + offset <= limit, with count the tokens n or the padded
    permuted rows P(n) (getMaxPermutedPaddedCount: every permuted index is below it)."""

    name: str
    code: str  # verbatim
    where: str  # file:function (line), in the release named
    first: str  # first modeled release where it is 32-bit on a running path
    last: str  # last one ("" for every later modeled release)
    precisions: frozenset | None  # None: every precision
    runs: str  # when it runs, in words
    kind: str  # "int32" | "uint32" | "grid" (a grid dimension of n, at most 65535)
    count: str  # "tokens" | "rows"
    multiplier: Callable  # shape -> int (from the hidden and intermediate sizes)
    offset: int | Callable = 0  # or shape -> int (the last index is count - 1 times a size)
    applies: Callable = lambda shape: True  # noqa: E731 (shape-dependent dispatch)
    # runs only when the entry point routes from logits: True, or the first release where
    # that holds (before it, routed calls run it too)
    only_with_logits: bool | str = False
    files: tuple = ()  # the files the code is in, where `where` names more than one or it moved
    variants: tuple = ()  # (first, last, verbatim code) where a release range writes it differently
    functions: tuple = ()  # the functions the code is in ("::name" suffixes), where its files hold others alike

    @property
    def limit(self) -> int:
        return LIMITS[self.kind]

    def code_in(self, version: str) -> str:
        """The verbatim code as `version` writes it."""
        v = version_key(version)
        for first, last, code in self.variants:
            if version_key(first) <= v <= version_key(last):
                return code
        return self.code

    def logits_only_in(self, version: str) -> bool:
        """Whether, in `version`, only the entry points that route from logits run it."""
        if isinstance(self.only_with_logits, str):
            return version_key(version) >= version_key(self.only_with_logits)
        return self.only_with_logits

    def offset_at(self, shape: Shape) -> int:
        return self.offset(shape) if callable(self.offset) else self.offset

    def value(self, n, shape: Shape, ops=INT):
        """The largest value the expression reaches at n tokens."""
        counted = n if self.count == "tokens" else padded_rows(n, shape, ops)
        return counted * self.multiplier(shape) + self.offset_at(shape)

    def largest_tokens(self, shape: Shape, ops=INT):
        """The largest n whose value fits (closed form; proofs/kernel_limits.py checks it
        against `value` for every n): count(n) <= M = (limit - offset) // multiplier."""
        most = ops.div(self.limit - self.offset_at(shape), self.multiplier(shape))  # floor: both positive
        if self.count == "tokens":
            return most
        if CtaFormula(shape.formula).rounds_padded_count:
            # roundUp(n*K + (t-1)*E, t) <= M  <=>  n*K + (t-1)*E <= t * (M // t)
            t = shape.tile
            return ops.max(ops.div(t * ops.div(most, t) - (t - 1) * shape.experts, shape.top_k), 0)
        # t * getMaxNumCtasInBatchDim(n) <= M  <=>  CTAs <= M // t: the grid's closed form
        from .bound import largest_safe_tokens_at_tile

        return largest_safe_tokens_at_tile(shape.top_k, shape.experts, shape.tile, ops.div(most, shape.tile), ops)


def padded_rows(n, shape: Shape, ops=INT):
    """runner.h getMaxPermutedPaddedCount of the release's formula (boundcheck.geometry)."""
    return padded_count_function(shape.formula)(n, shape.top_k, shape.experts, shape.tile, ops)


def _unaligned(shape: Shape) -> bool:
    """dev_kernel.cu: vectorWidthAligned = hiddenDim % 8 == 0 && hiddenDimPadded % 8 == 0."""
    width = shape.hidden if shape.output_width is None else shape.output_width
    return width % FINALIZE_ELEMS_PER_VECTOR != 0 or shape.hidden % FINALIZE_ELEMS_PER_VECTOR != 0


def _hidden(shape):
    return shape.hidden


# finalize::run (0.2.10 on): the scalar finalizeKernel runs when
# ceil(width / 256) x min(8192, n) < 1184 (148 SMs x 8 blocks), width = data.hiddenDim.
FINALIZE_SCALAR_THREADS = 256
FINALIZE_SCALAR_MAX_BLOCKS = 1184
# The largest block of DeepSeek routing's main kernel in any modeled release: 256 (0.2.9 -
# 0.3.1.post1), 384 (0.4.0 - 0.6.2: E < 256 ? 256 : 384), max(groups x 32, the expert tier
# 128 / 256 / 384 / 512) from 0.6.3.
DEEPSEEK_MAIN_MAX_THREADS = 512


def scalar_finalize_max_tokens(shape: Shape) -> int:
    """The largest n at which finalize::run picks the scalar kernel for an aligned width."""
    width = shape.hidden if shape.output_width is None else shape.output_width
    return (FINALIZE_SCALAR_MAX_BLOCKS - 1) // -(-width // FINALIZE_SCALAR_THREADS)


def _scalar_finalize_can_wrap(shape: Shape) -> bool:
    """Whether the scalar kernel's int32 index can pass INT32_MAX at a token count it runs at
    (its value grows with n, so: at the largest one). Outside, the entry holds trivially."""
    most = scalar_finalize_max_tokens(shape)
    return most >= 1 and padded_rows(most, shape) * shape.hidden - 1 > facts.INT32_MAX


def _fp4_scale_columns(shape: Shape) -> int:
    """quantization.h computeFP4SwizzledLayoutSFSize: PadUpFn(intermediate / sf_vec_size, 4),
    sf_vec_size 16 (NVFP4; 32 for MXFP4 gives fewer columns: the larger count is modeled)."""
    return (shape.intermediate // 16 + 3) // 4 * 4


LIMITS_TABLE = (
    KernelLimit(
        "deepseek_activation_index",
        "int const baseIdx = permutedIdx * params.innerDim + hiddenIdx;",
        "trtllm_fused_moe_dev_kernel.cu: activation::activationDeepSeekKernel (0.6.5 line 34); "
        "runner.cu: activationData.innerDim = args.intermediate_size * 2",
        "0.2.8", "0.6.5", DEEPSEEK_FP8,
        "DeepSeek FP8 block scale: the unfused activation runs on every call (int64 from 0.6.6)",
        "int32", "rows", lambda s: 2 * s.intermediate, -1,
        functions=("::activationDeepSeekKernel",),
    ),
    KernelLimit(
        "deepseek_activation_grid_z",
        "const dim3 grid(data.innerDim / 128, data.topK, data.numTokens); "
        "LAUNCH(data, activationDeepSeekKernel, grid, numThreads, 0, stream);",
        "trtllm_fused_moe_dev_kernel.cu: activation::run (0.5.2 line 132)",
        "0.2.8", "0.5.2", DEEPSEEK_FP8,
        "DeepSeek FP8 block scale: grid.z = num_tokens (at most 65535); from 0.5.3 a capped grid",
        "grid", "tokens", lambda s: 1,
    ),
    KernelLimit(
        "finalize_grid_y_0_2_8",
        "int const numBlocksY = data.numTokens; dim3 numBlocks(numBlocksX, numBlocksY); "
        "LAUNCH_EXPW(data, finalizeKernel, numBlocks, numThreads, 0, stream);",
        "trtllm_fused_moe_dev_kernel.cu: finalize::run (0.2.8 line 121)",
        "0.2.8", "0.2.9", None,
        "every call: the scalar finalize with grid.y = num_tokens, uncapped (capped at 8192 from 0.2.10)",
        "grid", "tokens", lambda s: 1,
    ),
    KernelLimit(
        "finalize_scalar_index_0_2_8",
        "params.inPtr[permutedIdx * params.hiddenDim + hiddenIdx]",
        "trtllm_fused_moe_dev_kernel.cu: finalize::finalizeKernel (0.2.8 line 39)",
        "0.2.8", "0.2.9", None,
        "every call: the only finalize kernel up to 0.2.9 (finalizeKernelVecLoad, 64-bit, from 0.2.10)",
        "int32", "rows", _hidden, -1,
        functions=("::finalizeKernel",),
    ),
    KernelLimit(
        "workspace_bytes_0_2_8",
        "max_num_padded_tokens * hidden_size * sizeof(uint16_t)",
        "trtllm_fused_moe_kernel_launcher.cu: trtllm_fp8_*_moe workspace (0.2.8 line 218)",
        "0.2.8", "0.2.8", None,
        "every call: int32 max_num_padded_tokens * int32 hidden_size (the sizeof after, in size_t)",
        "int32", "rows", _hidden,
    ),
    KernelLimit(
        "hidden_states_scale_vec_size",
        "(num_tokens * hidden_size) /",
        "trtllm_fused_moe_kernel_launcher.cu: trtllm_fp4_block_scale_moe, hidden_states_scale_vec_size = "
        "(num_tokens * hidden_size) / hidden_states_scale.value().numel() (0.6.7 line 1991)",
        "0.2.10", "0.6.7.post3", FP4_WITH_SCALE,
        "FP4 entry with a hidden-state scale: beyond, a host error (unsupported scale shape); int64 from 0.6.8",
        "int32", "tokens", _hidden,
    ),
    KernelLimit(
        "finalize_scalar_index_unaligned",
        "params.inPtr[permutedIdx * params.hiddenDimPadded + hiddenIdx]",
        "trtllm_fused_moe_dev_kernel.cu: finalize::finalizeKernel, run: `|| !vectorWidthAligned` (0.7.2.post1 1179)",
        "0.7.2.post1", "", None,
        "do_finalize with an output width that is not a multiple of 8 bf16 elements: the scalar kernel at any n",
        "int32", "rows", _hidden, -1, _unaligned,
        functions=("::finalizeKernel",),
    ),
    KernelLimit(
        "per_token_quant_vec_offset",
        "uint32_t vecOffset = rowIdx * num_vecs_per_row + vecIdx;",
        "nv_internal/tensorrt_llm/kernels/quantization.cuh: nvfp4QuantAndPerTokenScaleKernel and "
        "nvfp4QuantAndPerTokenScaleFP32Kernel (0.7.2.post1 lines 876, 895, 939; 0.6.11 - 0.6.11.post3 write "
        "`int64_t vecOffset = rowIdx * num_vecs_per_row + vecIdx;`, lines 716, 827: the same uint32 product, "
        "widened after it wraps): int rowIdx times uint32_t num_vecs_per_row = ceil(n / ELTS_PER_THREAD); "
        "called by invokeNvfp4QuantAndPerTokenScale (runner.cu). ELTS_PER_THREAD is 16 when nvcc >= 12.9 "
        "builds for sm100, else 8: the larger count (8 elements a vector) is the one modeled",
        "0.6.11", "", frozenset({"nvfp4_per_token"}),
        "per-token NVFP4: FC2 input quantized per row of the padded buffer",
        "uint32", "rows", lambda s: (s.intermediate + 7) // 8, -1,
        files=("quantization.cuh",),
        variants=(("0.6.11", "0.6.11.post3", "int64_t vecOffset = rowIdx * num_vecs_per_row + vecIdx;"),),
    ),
    KernelLimit(
        "fp8_requant_src_offset",
        "uint4 const* srcVec = reinterpret_cast<uint4 const*>(src) + blockIdx.x * numColVecs;",
        "nv_internal/tensorrt_llm/kernels/quantization.cuh: perTokenQuantization (0.7.2.post1 line 162; "
        "unsigned blockIdx.x times int numColVecs = numCols / 8), launched with grid(numRows) by "
        "invokePerTokenQuantization (nv_internal/cpp/kernels/quantization.cu 277) from runner.cu's Runner::run "
        "(0.7.2.post1 line 732) with numRows = total_max_padded_tokens, numCols = intermediate_size",
        "0.7.1", "", frozenset({"fp8_per_channel"}),
        "FP8 per-channel: GEMM2 takes FP8 per-token activations, so GEMM1's bf16 output is requantized "
        "per padded row; a wrap reads the wrong rows silently",
        "uint32", "rows", lambda s: s.intermediate // 8, lambda s: -(s.intermediate // 8),
        files=("quantization.cuh",),
    ),
    KernelLimit(
        "routing_scores_offset",
        "tokenIdx * params.mNumExperts",
        "trtllm_fused_moe_routing_custom.cuh: `auto scoreOff = tokenIdx * params.mNumExperts;` in "
        "routingIndicesHistogramScoresKernel and the block kernels (0.7.2.post1 lines 465, 1033; "
        "routing_kernel.cu in 0.2.8 - 0.4.1, routing_renormalize.cu and routing_llama4.cu in 0.5.x - 0.6.7, "
        "routing_custom.cu from 0.6.8, routing_custom.cuh from 0.7.0): int tokenIdx times int mNumExperts "
        "(DeepSeek's own kernel is 64-bit: not a smaller bound)",
        "0.2.8", "", None,
        "routing from logits (entry points with routing_logits; the routed ones take top-k ids): the "
        "last score read, token n-1's last expert, is at (n-1) x experts + experts - 1 (the kernels that add "
        "the expert to the product in 32 bits, `warpIdx * params.mNumExperts + expertIdx`, reach it)",
        "int32", "tokens", lambda s: s.experts, -1, only_with_logits=True,
        files=("trtllm_fused_moe_routing_kernel.cu", "trtllm_fused_moe_routing_renormalize.cu",
               "trtllm_fused_moe_routing_llama4.cu", "trtllm_fused_moe_routing_custom.cu",
               "trtllm_fused_moe_routing_custom.cuh"),
    ),
    KernelLimit(
        "finalize_scalar_index_small_batch",
        "params.inPtr[permutedIdx * params.hiddenDimPadded + hiddenIdx]",
        "trtllm_fused_moe_dev_kernel.cu: finalize::finalizeKernel, run: `numBlocksX * numBlocksY < 1184` "
        "(0.6.5 lines 665, 982): int permutedIdx times int hiddenDimPadded",
        "0.2.10", "", None,
        "do_finalize at the smallest calls (ceil(width / 256) x n < 1184): the scalar kernel; its index wraps "
        "there only when the padded rows of those few tokens times the row width pass 2^31 (many experts, "
        "large tiles, wide rows): the entry applies to those shapes only, and then bounds every call",
        "int32", "rows", _hidden, -1, _scalar_finalize_can_wrap,
        functions=("::finalizeKernel",),
    ),
    KernelLimit(
        "deepseek_routing_thread_stride",
        "int32_t globalThreadStride = gridDim.x * blockDim.x;",
        "trtllm_fused_moe_routing_deepseek.cu: routingDeepSeek::routingMainKernel (0.7.4 line 171; "
        "routing_kernel.cu in 0.2.9, routingDeepSeek/launchMainKernel.cu in 0.6.7 - 0.6.7.post3): grid.x = "
        "num_tokens, so the unsigned gridDim.x * blockDim.x (and globalThreadIdx below it) narrowed to int32 "
        "start and step initArr's zeroing of the 2 x experts counts (`for (int i = startIdx; i < numElts; i += "
        "stride)`, RoutingKernel.cuh): the largest i + stride, 2 x experts - 1 + n x blockDim, must fit int32, "
        "or a wrapped index writes outside them",
        "0.2.9", "", None,
        "DeepSeek routing: the main kernel runs unless mPtrTopKIds is set, which the runner never sets up to "
        "0.6.7.post3 (it passes precomputed ids packed), so routed calls run it too; from 0.6.8 precomputed ids "
        "take runPostTopKPipeline and only routing from logits runs it. Applied to every routing method and at "
        "the largest block of any release (512 threads), conservatively: the shape names neither",
        "int32", "tokens", lambda s: DEEPSEEK_MAIN_MAX_THREADS, lambda s: 2 * s.experts - 1, only_with_logits="0.6.8",
        files=("trtllm_fused_moe_routing_kernel.cu", "trtllm_fused_moe_routing_deepseek.cu", "launchMainKernel.cu"),
        variants=(("0.2.9", "0.4.1", "int32_t globalThreadStride = gridDim.x * NumThreads;"),),
        functions=("::routingMainKernel",),
    ),
    KernelLimit(
        "fp4_gemm1_scale_size",
        "return paddedRow * paddedColumn;",
        "nv_internal/tensorrt_llm/kernels/quantization.h: computeFP4SwizzledLayoutSFSize (0.2.10 line 57), int "
        "PadUpFn(totalRow, 128) * PadUpFn(totalColumn, 4), called by the FP4 launcher with max_num_padded_tokens "
        "and intermediate_size / sf_vec_size (0.2.10 line 819) for gemm1_output_scale's allocation",
        "0.2.10", "0.2.12", frozenset({"nvfp4", "mxfp4_mxfp8"}),
        "FP4 activations (NVFP4, MXFP8): GEMM1's output scale factors are allocated with this int size; a wrap "
        "allocates too few (or a negative count, a host error) and GEMM1 writes past them (int64 from 0.2.13)",
        "int32", "rows", _fp4_scale_columns, lambda s: 127 * _fp4_scale_columns(s),
        files=("quantization.h",),
    ),
    KernelLimit(
        "fp4_hidden_scale_size",
        "return totalRow * totalColumn;",
        "computeFP4LinearLayoutSFSize, int totalRow * totalColumn (trtllm_fused_moe_kernel_launcher.cu line 40 "
        "in 0.2.9; nv_internal/tensorrt_llm/kernels/quantization.h line 61 in 0.2.10 - 0.2.12), called with "
        "num_tokens and hidden_size / 16 (sf_vec_size): 0.2.9 sizes hidden_states_scale_linear with it, 0.2.9 - "
        "0.2.12 check hidden_states_scale's length against it",
        "0.2.9", "0.2.12", FP4_WITH_SCALE,
        "FP4 entry with a hidden-state scale: a wrap allocates too small a linear scale buffer (0.2.9) or "
        "rejects a valid scale (a host error)",
        "int32", "tokens", lambda s: s.hidden // 16,
        files=("quantization.h", "trtllm_fused_moe_kernel_launcher.cu"),
    ),
)


def limits_for(version: str, precision: str, shape: Shape | None = None, logits: bool = True) -> list[KernelLimit]:
    """The entries that hold in `version` for `precision` (and, given, the shape); with
    `logits` False (an entry point that takes precomputed top-k ids), without those that
    run only when routing from logits."""
    v = version_key(version)
    out = []
    for entry in LIMITS_TABLE:
        if v < version_key(entry.first) or (entry.last and v > version_key(entry.last)):
            continue
        if entry.precisions is not None and precision not in entry.precisions:
            continue
        if shape is not None and not entry.applies(shape):
            continue
        if entry.logits_only_in(version) and not logits:
            continue
        out.append(entry)
    return out


@dataclass(frozen=True)
class KernelBound:
    tokens: int  # every n <= tokens keeps every entry within its limit
    binding: KernelLimit | None  # None: no entry binds below 2^31 - 1 tokens
    tile: int | None  # the tile of a padded-rows entry that binds (None for a token count)


def kernel_bound(version: str, precision: str, tiles, top_k: int, experts: int, hidden: int, intermediate: int,
                 formula: str = "filled", output_width: int | None = None, logits: bool = True) -> KernelBound:
    """min over the entries and the precision's tiles of the largest n that fits (`logits`:
    the entry point routes from logits; True, the default, is the larger set)."""
    best = KernelBound(facts.INT32_MAX, None, None)
    for tile in tiles:
        shape = Shape(top_k, experts, tile, hidden, intermediate, formula, output_width)
        for entry in limits_for(version, precision, shape, logits):
            fits = entry.largest_tokens(shape)
            if fits < best.tokens:
                best = KernelBound(fits, entry, tile if entry.count == "rows" else None)
    return best
