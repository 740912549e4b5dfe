"""Why each finding of the inventory stays in range: the rules classes.py applies.

Two kinds, each matched by the function a finding is in (a suffix of its qualified name)
and its expression (whitespace aside, one of `codes` or a full match of `pattern`):

- `Bounded`: the value is at most `bound`, an expression over bounds.MAXIMA whose value
  bounds.check compares with the finding's type; `reason` is the reading that makes
  `bound` an upper bound. A rule with `entries` instead holds only where one of those
  kernel_limits entries holds: the value is at most the entry's, which `chunk` and the
  guard keep in range.
- `Independent`: the value does not grow with the token count (the taint over-approximates).
- `NoEffect`: the value only chooses among valid launch settings, or nothing reads it: a
  wrap changes no result.
- `Unreached`: the statement never runs on the MoE path; `facts` are the source facts that
  say so, checked against every release the rule classifies (tests/test_inventory_rules.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


from .release import BMM_EXPORT as _EXPORT_FOLDER, standin_for

_BMM_EXPORT = _EXPORT_FOLDER.as_posix() + "/"  # SourceFact paths under it fall back to the stand-in


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@dataclass(frozen=True)
class SourceFact:
    """Every match of `pattern` in `path` (relative to flashinfer/data; a glob) is one of
    `allowed` (whitespace aside), and there is at least one where `required`."""

    path: str
    pattern: str
    allowed: tuple
    required: bool = True  # False: no match at all also holds (a function no one calls)

    def holds(self, data: Path) -> tuple[bool, str]:
        seen, files = [], sorted(data.glob(self.path))
        if not files and self.path.startswith(_BMM_EXPORT):
            # from 0.6.14 the release ships no export headers: the stand-in the inventory parses
            standin = standin_for(data)
            files = sorted(standin.glob(self.path[len(_BMM_EXPORT):])) if standin else []
        if not files:
            return False, f"no file {self.path} in {data}"
        for file in files:
            seen += [squash(m.group(1)) for m in re.finditer(self.pattern, file.read_text(errors="replace"))]
        bad = [s for s in seen if s not in {squash(a) for a in self.allowed}]
        if not seen and self.required:
            return False, f"no match of {self.pattern!r} in {self.path}"
        return not bad, (f"{self.path}: {bad}" if bad else f"{self.path}: {sorted(set(seen))}")


@dataclass(frozen=True)
class Rule:
    functions: tuple
    codes: tuple = ()
    pattern: str = ""
    reason: str = ""
    facts: tuple = ()  # SourceFacts the reason rests on, checked in every release the rule classifies
    since: str = ""  # the first release the reason holds in ("": every one)
    until: str = ""  # the last one ("": every later one)

    def matches(self, function: str, code: str, version: str | None = None) -> bool:
        if self.functions and not function.endswith(self.functions):
            return False
        if version is not None and not _in_range(version, self.since, self.until):
            return False
        code = squash(code)
        return code in {squash(c) for c in self.codes} or bool(self.pattern and re.fullmatch(self.pattern, code))


@dataclass(frozen=True)
class Bounded(Rule):
    bound: str = ""  # an expression over bounds.MAXIMA
    entries: tuple = ()  # or: kernel_limits entries whose value bounds this one (one must hold in the release)
    proof: str = ""  # or: the obligation of proofs/ that checks this very operation


@dataclass(frozen=True)
class Unreached(Rule):
    pass


@dataclass(frozen=True)
class NoEffect(Rule):
    """The value only chooses among launch settings that are each valid, or is never read."""


@dataclass(frozen=True)
class Independent(Rule):
    """The value does not grow with the token count: the taint, which seeds every grid
    index, over-approximates (a grid dimension that spans the hidden width, not tokens)."""


def _in_range(version: str, first: str, last: str) -> bool:
    from boundcheck.versions import version_key

    v = version_key(version)
    return (not first or v >= version_key(first)) and (not last or v <= version_key(last))


def _fns(*names):
    return tuple("::" + n for n in names)


_ROUTING_GRIDDED = _fns("routingIndicesHistogramKernel", "routingIndicesOffsetsKernel", "routingInitExpertCounts")
_COOP = _fns("routingIndicesCoopKernel")
_CLUSTER = _fns("routingIndicesClusterKernel", "routingIndicesClusterKernelBody", "routingPermutation")
_ROUTING = _fns("routingIndicesHistogramKernel", "routingIndicesOffsetsKernel", "routingInitExpertCounts",
                "routingIndicesCoopKernel", "routingIndicesClusterKernel", "routingIndicesClusterKernelBody",
                "routingPermutation", "routingIndicesHistogramScoresKernel", "routingIndicesWarpKernel",
                "routingIndicesBlockKernel", "routingIndicesDynBlockKernel", "routingMainKernel",
                "routingIndicesMultiTileClusterKernel")

_TOKENS = r"(?:params\.|data\.|args\.|args->)?m?(?:[Nn]um_?[Tt]okens)"
# a routing kernel's threads a block: its constant, or KernelParams::MaxNumExperts where the
# block is one thread an expert (cub::BlockScan<int32_t, KernelParams::MaxNumExperts>, the
# launch's block size): a block's threads either way, <= THREADS
_BLOCK = r"(?:NumThreads|NumThreadsHist|NumThreadsBlock|KernelParams::MaxNumExperts)"
# NumTopExperts: the top_k a routing kernel is compiled for (0.2.8 - 0.4.1's Qwen3 and Llama 4)
_TOP_K = r"(?:params\.|data\.|args\.|args->)?m?(?:[Tt]op_?[Kk]|totalExpertsPerToken|NumTopExperts)"
_TOKEN_INDEX = r"(?:tokenIdx|warpTokenIdx)"
_LANE = r"(?:k|laneIdx|kIdx|smemKIdx\[offset\]|smemKIdx\[\w+\]|kChunkIdx\*TopKUnrollFactor)"

_FUSED_ACT = (
    SourceFact("csrc/trtllm_fused_moe_runner.cu", r"\.fusedAct\s*=\s*([^,}\n]+)", ("!useDeepSeekFp8", "false")),
    SourceFact("csrc/trtllm_batched_gemm_runner.cu", r"(options\.mFusedAct\s*==\s*mOptions\.fusedAct)",
               ("options.mFusedAct == mOptions.fusedAct",)),
    SourceFact("csrc/trtllm_batched_gemm_runner.cu", r"(options\.mUseDeepSeekFp8\s*==\s*mOptions\.deepSeekFp8)",
               ("options.mUseDeepSeekFp8 == mOptions.deepSeekFp8",)),
)

_FINALIZE_OUTPUT = ("tokenIdx * params . hiddenDim", "tokenIdx * params . hiddenDim + hiddenIdx")
_DEV = _fns("activationDeepSeekKernel", "finalizeKernel", "finalizeKernelSmallBatch")
_WIDTH_LOOP = (r"blockDim\.x\*blockIdx\.x|threadIdx\.x\+blockDim\.x\*blockIdx\.x|blockDim\.x\*gridDim\.x"
               r"|hiddenIdx\+=blockDim\.x\*gridDim\.x")

INDEPENDENT_RULES = (
    Independent(_fns("activationDeepSeekKernel", "finalizeKernel"), pattern=_WIDTH_LOOP,
                reason="the hidden index of a loop over the row's width: the kernel's x grid is ceil(width / "
                       "threads) blocks (activation::run, finalize::run), its value below width + one grid stride, "
                       "whatever the token count"),
    Independent(_fns("finalizeKernelSmallBatch"),
                codes=("blockIdx . y * blockDim . x", "blockIdx . y * blockDim . x + threadIdx . x"),
                reason="the hidden index of the small-batch finalize: its y grid spans the row's width "
                       "(ceil(width / threads) blocks), its value below width + one block"),
)

NO_EFFECT_RULES = (
    NoEffect(_fns("activation::run"), codes=("gridSizeX * data . numTokens", "gridSizeX * data . numTokens * data . topK"),
             reason="numCtas, compared with the SM count only to pick 1, 2 or 4 tokens a CTA: each is a valid launch "
                    "(gridSizeY = min(8192, ceil(n / tokens a CTA)))"),
    NoEffect(_fns("BatchedGemmInterface::getNumCtas"),
             codes=("grid [ 0 ] * grid [ 1 ]", "grid [ 0 ] * grid [ 1 ] * grid [ 2 ]"),
             reason="the CTA count the GEMM runner compares with the SM count to order two valid configurations "
                    "(persistent scheduler or not) when it picks the default one"),
    NoEffect(_fns("BatchedGemmInterface::run"), codes=("numCtaX * numCtaY", "numCtaX * numCtaY * numCtaZ"),
             reason="stored in mNumCtas, read only by getNumCtas(), which nothing calls",
             facts=tuple(SourceFact(where, r"(getNumCtas)\s*\(\s*\)", (), required=False)
                         for where in ("csrc/**/*.cu", "csrc/**/*.cuh"))),
)

_NO_CALLER = ("csrc/**/*.cu", "csrc/**/*.cuh", "csrc/**/*.h", "include/**/*.h", "include/**/*.cuh")

BOUNDED_RULES = (
    # --- the int32 theorem's own values --------------------------------------------------
    Bounded(_fns("getMaxNumCtasInBatchDim", "getMaxPermutedPaddedCount"), pattern=r".*",
            reason="every +, -, *, / of runner.h's getMaxNumCtasInBatchDim and getMaxPermutedPaddedCount is an "
                   "operation the int32 theorem checks at every n <= C", proof="int32"),
    Bounded((), pattern=rf"\(?{_TOKENS}\*{_TOP_K}\)?",
            reason="the expanded count n x K", bound="N*K"),
    Bounded(_fns("routingIndicesHistogramScoresKernel", "routingIndicesDynBlockKernel", "routingIndicesBlockKernel",
                 "routingIndicesClusterKernel", "routingIndicesClusterKernelBody", "routingIndicesWarpKernel",
                 "finalizeKernel", "finalizeKernelVecLoad", "finalizeDeepSeekKernel", "activationKernel",
                 "activationDeepSeekKernel", "permuteKernel"),
            pattern=rf"{_TOKEN_INDEX}\*(?:(?:params\.)?m?[Tt]op[Kk]|NumTopExperts)(?:\+(?:{_LANE}|i))?",
            reason="an expanded index: a token index (< n: the bound of every loop that defines it in these "
                   "kernels, or finalizeKernelVecLoad's blockIdx.x on its grid of n blocks) times top_k plus a rank "
                   "below top_k (a chunk of TopKUnrollFactor ranks included)", bound="N*K"),
    Bounded(_fns("routingIndicesHistogramScoresKernel", "routingIndicesDynBlockKernel", "routingIndicesBlockKernel",
                 "routingIndicesClusterKernel", "routingIndicesClusterKernelBody", "routingIndicesWarpKernel"),
            pattern=rf"{_TOKEN_INDEX}\*params\.mNumExperts(?:\+\w+)?",
            reason="a token index (< n) times the expert count plus an expert below it, at most n x E - 1: the "
                   "value of the entry", entries=("routing_scores_offset",)),
    Bounded((), pattern=r"num_tokens|numTokens|args->num_tokens",
            reason="the token count itself, narrowed to 32 bits", bound="N"),
    Bounded((), pattern=r"max_num_padded_tokens\+1|maxNumPaddedTokens\+1",
            reason="the padded count P(n) + 1 (P(n) <= CTAS x T)", bound="CTAS*T + 1"),
    Bounded(_fns("run", "runImpl", "runPostTopKPipeline", "routingIndicesOffsetsKernel"),
            pattern=r"expandedIdxSize\+(?:offsetEltsPerBlock|histogramEltsPerBlock|MaxExpandedIdxPerBlock)(?:-1)?",
            reason="n x K plus a per-block element count (a compile-time constant, at most BLOCK_ELTS)",
            bound="N*K + BLOCK_ELTS"),
    Bounded(_fns("run", "routingIndicesClusterKernel", "routingIndicesHistogramScoresKernel"),
            pattern=r"(?:params|data)\.mNumTokens\*(?:(?:params|data)\.mTopK|NumTopExperts)"
                    r"\+\((?:params|data)\.mNumExperts<<(?:params|data)\.mPaddingLog2\)(?:-(?:params|data)\.mNumExperts)?",
            reason="0.2.8 - 0.4.1's padded count n x K + (t - 1) x E (t = 2^mPaddingLog2 <= 256) and its partial "
                   "sum n x K + t x E", bound="N*K + 256*E"),
    # --- routing: indices over the expanded, permuted and CTA ranges ---------------------
    Bounded(_ROUTING, pattern=r"(?:static_cast<int32_t>\()?(?:scoreIdx\.idx|expertIdx|idx|expertIndexes\[ii\])\)?"
                              r"-params\.mLocalExpertsStartIdx",
            reason="an expert index less the first local expert: both are expert indices in [0, E], so the "
                   "difference is in [-E, E]",
            bound="E"),
    Bounded(_ROUTING_GRIDDED,
            pattern=rf"(?:blockIdx\.x|gridDim\.x)\*{_BLOCK}(?:\+threadIdx\.x)?",
            reason="a block's first thread, or the grid's thread count, of a routing kernel launched on at most "
                   "ROUTING_GRID blocks of at most THREADS threads",
            bound="ROUTING_GRID*THREADS"),
    Bounded(_ROUTING_GRIDDED,
            pattern=rf"expandedIdx0?(?:\+=|\+)(?:NumEltsPerThread\*|ii\*|gridStride\*NumEltsPerThread|)"
                    rf"(?:{_BLOCK}|threadIdx\.x|)(?:\+threadIdx\.x)?"
                    r"|expandedIdx0\+=gridStride\*NumEltsPerThread"
                    r"|(?:gridBlockOffset|gridStride)\*NumEltsPerThread"
                    rf"|tileIdx\*MaxExpandedIdxPerBlock(?:\+\(ii0\+IterStride\)\*{_BLOCK}"
                    rf"|\+ii\*{_BLOCK}(?:\+threadIdx\.x)?)?"
                    r"|tileIdx\+=gridDim\.x|numTiles-1",
            reason="an expanded index: the loops that define expandedIdx, expandedIdx0 and tileIdx run while it is "
                   "below n x K (expandedIdxSize, numTiles = ceil(n x K / MaxExpandedIdxPerBlock)); the expression "
                   "adds at most one pass of the grid (ROUTING_GRID blocks x BLOCK_ELTS elements)",
            bound="N*K + ROUTING_GRID*BLOCK_ELTS"),
    Bounded(_ROUTING,
            codes=("cta += gridDim.x", "ctaOffset + cta", "ctaOffset + cta + 1", "cta += numBlocks",
                   "cta += NumBlocksPerCluster", "ctaOffsetExp + cta", "ctaOffsetExp + cta + 1",
                   "ctaOffsetExp += finalNumCta", "numCta += num", "ctaOffset [ e ] + cta", "ctaOffset [ e ] + cta + 1",
                   "++ cta", "cta ++", "numCta += divUpLog2 < int32_t > ( count , params . mPaddingLog2 )"),
            reason="a CTA index of the token dimension: at most the CTA count (<= CTAS at n <= C) plus one grid "
                   "stride of the loop that walks it",
            bound="CTAS + COOP_GRID"),
    Bounded(_ROUTING,
            codes=("expertOffsets [ ii ] + smemExpertTileOffset [ expertIdx ]",
                   "int32_t { smemExpertOffset [ expertIdx ] } + expertOffsets [ ii ]",
                   "offset + blockExpertOffset", "tileExpertOffset + smemExpertOffset [ threadIdx . x ]",
                   "count += expertCounts [ rank ]", "finalExpertOffset [ ii ] + localOffsetToken",
                   "finalExpertOffset [ ii - 1 ] + tmp", "offsetForExpert + offsetWithinExpert",
                   "count [ e ] += expertCounts [ rank ]", "offset + blockExpertOffset [ e ]",
                   "tileExpertOffset + smemExpertOffset [ expert ]",
                   "expertScanCountsPerExpert [ e ] + static_cast < int > ( smemOffset [ offset ] )",
                   "finalExpertOffset [ ii - 1 ] + divUpMulLog2 < int32_t > ( getBits ( expertCount , ii - 1 ) , "
                   "params . mPaddingLog2 )"),
            pattern=r"mul(?:Log2|TileN)<int32_t>\(ctaOffset(?:Exp|\[e\])?,params\.m(?:PaddingLog2|TileTokensDim)\)"
                    r"\+(?:count(?:\[e\])?|tokensPerTile)",
            reason="a permuted (padded) index or a running count of routed tokens: an expert's first padded row plus "
                   "a rank among its tokens, at most P(n) <= CTAS x T, or a count at most n x K (0.2.8's "
                   "tokensPerTile is the expert's count, or n where mAllToAllRouteAct, which the runner sets false)",
            bound="CTAS*T + N*K"),
    Bounded(_fns("routingIndicesWarpKernel"), codes=("expertCount += expertTokenCount",),
            reason="the warp kernel's packed counts: one int32 holds four 8-bit per-expert counters (setBits writes "
                   "1 << 8 x idx, getBits masks 0xFF << 8 x idx), each at most n <= SMALL_TOKENS (the kernel runs "
                   "only for n <= WarpKernelMaxNumTokens; static_assert <= 127): at most n x 0x01010101",
            bound="SMALL_TOKENS*16843009"),
    Bounded(_COOP,
            codes=("( gridBlockIdx + 1 ) * idxPerBlock", "( ii0 + IterStride ) * numThreadsPerGrid",
                   "NumThreads * gridBlockIdx", "NumThreads * gridBlockIdx + threadIdx . x", "gridBlockIdx * idxPerBlock",
                   "gridBlockIdx * idxPerBlock + ii * NumThreads",
                   "gridBlockIdx * idxPerBlock + ii * NumThreads + static_cast < int32_t > ( threadIdx . x )",
                   "gridBlockIdx + 1", "gridThreadIdx + ii * numThreadsPerGrid", "ii * numThreadsPerGrid",
                   "numBlocks * NumThreads", "static_cast < int32_t > ( gridThreadIdx ) + ii * numThreadsPerGrid"),
            reason="an index of the cooperative routing kernel, launched on at most COOP_GRID blocks of THREADS "
                   "threads, each thread handling at most 64 indices (MaxExpandedIdxPerThread) plus one "
                   "IterStride (4) pass",
            bound="68*COOP_GRID*THREADS + COOP_GRID*BLOCK_ELTS"),
    Bounded(_CLUSTER,
            pattern=r"NumThreads\*clusterBlockRank(?:\+threadIdx\.x)?|clusterBlockRank\*(?:NumWarps|ClusterNumWarps)"
                    r"(?:\+warpIdx)?|i\+=NumThreadsPerCluster"
                    r"|static_cast<int32_t>\(clusterThreadIdx\)\+ii\*NumThreadsPerCluster",
            reason="an index of a single-cluster routing kernel: a block rank below CLUSTER, threads and warps of a "
                   "block, and at most 64 (MaxExpandedIdxPerThread) passes of the cluster's threads",
            bound="68*CLUSTER*THREADS"),
    # --- the dev kernels' token loops ------------------------------------------------------
    Bounded(_DEV, codes=("tokenIdx += gridDim . y", "tokenIdx += gridDim . z", "tokenCtaIdx + tokenInCtaIdx",
                         "tokenCtaIdx += gridDim . y * NumTokensPerCta", "blockIdx . y * NumTokensPerCta",
                         "gridDim . y * NumTokensPerCta", "k += gridDim . y", "k += gridDim . z"),
            reason="a token (or top-k rank) index of a loop that runs while it is below n (or K): at most n plus one "
                   "grid stride along y or z (NumTokensPerCta <= 4)",
            bound="N + 4*GRID_YZ"),
    # --- the remaining host values ---------------------------------------------------------
    Bounded(_fns("finalize::run"), codes=("numBlocksX * numBlocksY",),
            reason="the scalar finalize's blocks, ceil(width / 256) x min(8192, n): width <= WIDTH",
            bound="(WIDTH // 256 + 1) * 8192"),
    Bounded(_fns("activation::run"), codes=("data . numTokens + numTokensPerCta", "data . numTokens + numTokensPerCta - 1"),
            reason="the token count plus the tokens of one CTA (1, 2 or 4)", bound="N + 4"),
    Bounded(_fns("HistogramScoresLaunchConfig::gridDim"),
            codes=("static_cast < int > ( data . mNumTokens ) + NumWarpsBlock",
                   "static_cast < int > ( data . mNumTokens ) + NumWarpsBlock - 1"),
            reason="the token count plus the warps of a block", bound="N + WARPS"),
    Bounded(_fns("routingIndicesMultiTileClusterKernel"),
            codes=("tileIdx * NumBlocksPerCluster", "blockIdx . x - tileIdx * NumBlocksPerCluster"),
            reason="a block of the multi-tile cluster kernel, launched on NumBlocksPerCluster x numTiles <= 8 x 8 "
                   "blocks", bound="64"),
    Bounded(_fns("common::roundUp"), codes=("divUp ( a , b ) * b",),
            reason="its caller on the path is runner.h's getMaxPermutedPaddedCount, roundUp(n x K + (t - 1) x E, t): "
                   "the padded count", proof="int32"),
    Bounded(_fns("activationDeepSeekKernel"),
            codes=("permutedIdx + totalNumPaddedTokens * ( hiddenIdx / 128 )", "totalNumPaddedTokens * ( hiddenIdx / 128 )",
                   "permutedIdxArr [ tokenInCtaIdx ] + totalNumPaddedTokens * ( hiddenIdx / 128 )",
                   "totalNumPaddedTokens * ( ( hiddenIdx / 128 ) + ( params . innerDim / 2 / 128 ) )",
                   "permutedIdx + totalNumPaddedTokens * ( ( hiddenIdx / 128 ) + ( params . innerDim / 2 / 128 ) )"),
            reason="a scale index of the same kernel: hiddenIdx < innerDim / 2, so hiddenIdx / 128 + innerDim / 256 < "
                   "innerDim / 128 and the index is at most P x (1 + innerDim / 128), below the entry's permutedIdx x "
                   "innerDim + hiddenIdx bound P x innerDim",
            entries=("deepseek_activation_index",)),
    Bounded(_fns("activationDeepSeekKernel"),
            codes=("baseIdx + params . innerDim / 2", "permutedIdx * ( params . innerDim / 2 )",
                   "permutedIdx * ( params . innerDim / 2 ) + hiddenIdx"),
            reason="the gate's input index (baseIdx = permutedIdx x innerDim + hiddenIdx, hiddenIdx < innerDim / 2) "
                   "and the output index permutedIdx x innerDim / 2 + hiddenIdx: both below (permutedIdx + 1) x "
                   "innerDim <= P x innerDim, the entry's bound",
            entries=("deepseek_activation_index",)),
    Bounded(_fns("activationDeepSeekKernel"), codes=("( hiddenIdx / 128 ) + ( params . innerDim / 2 / 128 )",),
            reason="a scale column: hiddenIdx < innerDim / 2 and innerDim = 2 x intermediate, so below innerDim / "
                   "128 <= 2 x WIDTH",
            bound="2*WIDTH"),
    Bounded(_fns("finalizeKernel"), codes=_FINALIZE_OUTPUT, until="0.2.9",
            reason="the output index of the same kernel: tokenIdx < n <= P(n) and hiddenDim is hiddenDimPadded up to "
                   "0.2.9, so at most the input index the entry bounds",
            entries=("finalize_scalar_index_0_2_8",)),
    Bounded(_fns("finalizeKernel"), codes=_FINALIZE_OUTPUT, since="0.2.10", until="0.7.2",
            reason="the output index of the scalar finalize, which runs only when ceil(width / 256) x min(8192, n) < "
                   "1184 (finalize::run; width = hiddenDim, the loop's bound): n x width < 1184 x 256",
            bound="1184*256"),
    Bounded(_fns("finalizeKernel"), codes=_FINALIZE_OUTPUT, since="0.7.2.post1",
            reason="the output index of the scalar finalize: for small calls (ceil(width / 256) x min(8192, n) < 1184) "
                   "below 1184 x 256; for an unaligned width, at any n, tokenIdx < n <= P(n) and hiddenDim <= "
                   "hiddenDimPadded (the runner checks it from 0.7.0), so at most the input index the entry bounds",
            entries=("finalize_scalar_index_unaligned",)),
    Bounded(_fns("routingMainKernel"),
            pattern=r"blockIdx\.x\*(?:NumThreads|blockDim\.x)(?:\+threadIdx\.x)?",
            reason="globalThreadIdx, below the stride gridDim.x x blockDim.x the entry bounds (grid.x = n)",
            entries=("deepseek_routing_thread_stride",)),
    # --- launcher and runner -----------------------------------------------------------
    Bounded(_fns("trtllm_fp4_block_scale_moe", "trtllm_fp8_block_scale_moe", "trtllm_fp8_per_tensor_scale_moe",
                 "trtllm_bf16_moe", "trtllm_mxint4_block_scale_moe", "trtllm_fp4_block_scale_moe_launcher",
                 "trtllm_fp8_block_scale_moe_launcher", "trtllm_fp8_per_tensor_scale_moe_launcher",
                 "FusedMoeLauncher::run", "FusedMoeLauncher::prepare_moe_runner", "FP4BlockScaleLauncher::run",
                 "Fp8BlockScaleLauncher::run", "FusedMoeLauncher::prepare_routing_common",
                 "StagedMoeLauncher::run_routing_kernel"),
            codes=("tile_N", "tile_tokens_dim"),
            reason="a tile (tile_tokens_dim): one of the precision's tiles, chosen by the token count",
            bound="T"),
    Bounded(_fns("computeSelectedTileN"), codes=("tile_tokens_dim * 2", "tile_tokens_dim * 4"),
            reason="twice or four times a tile of the precision", bound="4*T"),
    Bounded(_fns("trtllm_fp8_block_scale_moe_launcher", "trtllm_fp8_per_tensor_scale_moe_launcher"),
            codes=("max_num_padded_tokens * 2",),
            reason="twice the padded count P(n) <= CTAS x T", bound="2*CTAS*T"),
    Bounded(_fns("nextPowerOfTwo"), codes=("n - 1", "n --"),
            reason="n = ceil(n x K / local experts) (computeSelectedTileN's average tokens per expert), at most n x K",
            bound="N*K"),
    Bounded(_fns("nextPowerOfTwo"), codes=("n ++",),
            reason="the next power of two of the average a = ceil(n x K / L) over L local experts, at most 2a: at n "
                   "<= C the routing that sends min(K, L) of each token's experts to local ones has n x min(K, L) "
                   "routed rows in at most CTAS CTAs of T, so n x min(K, L) <= CTAS x T and a <= CTAS x T x K",
            bound="2*CTAS*T*K"),
    Bounded(_fns("prepare_moe", "prepare_external_gemm_buffers"),
            codes=("workspace . total_max_padded_tokens + args -> num_experts",),
            reason="the padded count P(n) <= CTAS x T plus the expert count", bound="CTAS*T + E"),
    Bounded(_fns("cast_fp32_to_bf16"), codes=("( num_elements + block_size - 1 ) / block_size",),
            reason="blocks of 256 over the routing weights' n x K elements", bound="N*K + 256"),
    Bounded(_fns("RoutingMetadataBuffers::bind"), codes=("permuted_idx_to_token_idx . size ( 0 ) - 1",),
            reason="rows of the permuted index map, sized P(n) <= CTAS x T (+1 for the routed GEMM's over-read)",
            bound="CTAS*T + 1"),
    Bounded(_fns("trtllm_fp4_block_scale_moe"),
            pattern=r"\(num_tokens\*hidden_size\)/(?:get_numel\(hidden_states_scale\.value\(\)\)|"
                    r"hidden_states_scale\.value\(\)\.numel\(\))",
            reason="the modeled product n x hidden divided by a positive element count: at most the product",
            entries=("hidden_states_scale_vec_size",)),
    Bounded(_fns("MoE::Runner::run", "Routing::Runner::run"),
            codes=("( baseTokensPerDevice + 1 ) * deviceIndex", "baseTokensPerDevice + 1",
                   "deviceIndex * baseTokensPerDevice", "remainingTokens + deviceIndex * baseTokensPerDevice"),
            reason="the first token (or count) of this device's share of the shared experts' n tokens: "
                   "baseTokensPerDevice = n / numDevices, deviceIndex < numDevices, and (base + 1) x deviceIndex only "
                   "when deviceIndex < n % numDevices",
            bound="N + 1"),
    Bounded(_fns("nvfp4QuantAndPerTokenScaleFP32Kernel"),
            codes=("rowIdx * num_sf_vecs_per_row", "rowIdx * num_sf_vecs_per_row + vecIdx"),
            reason="the same kernel's row times ceil(cols / 16) plus an index below it: at most the modeled vector "
                   "offset row x ceil(cols / 8) of the entry", entries=("per_token_quant_vec_offset",)),
    Bounded(_fns("get_sf_out_offset_128x4", "get_sf_out_offset_8x4"),
            pattern=r"numRows(?:\.value_or\(0\))?\+(?:128|8)(?:-1)?",
            reason="the scale factors' rows (the padded rows P(n) <= CTAS x T or the expanded rows n x K, or none) "
                   "rounded up to 128 or 8",
            bound="CTAS*T + N*K + 128"),
    # --- routing: the scores kernels, the small-n kernels, the main kernel -------------------
    Bounded(_fns("routingIndicesHistogramScoresKernel"),
            pattern=r"(?:blockIdx\.x|gridDim\.x)\*(?:NumThreads|NumWarpsHist|NumThreadsBlock|KernelParams::MaxNumExperts)"
                    r"(?:\+(?:threadIdx\.x|warpIdx))?"
                    r"|blockIdx\.x\*(?:NumThreadsBlock|KernelParams::MaxNumExperts)/WarpSize\+warpIdx"
                    r"|(?:globalWarpIdx|globalWarpStride)\*WarpSize(?:\+laneIdx)?",
            reason="a thread or warp index of a histogram-scores kernel, launched on at most SCORES_GRID blocks of at "
                   "most THREADS threads (KernelParams::MaxNumExperts where a block is one thread an expert)",
            bound="SCORES_GRID*THREADS"),
    Bounded(_fns("routingIndicesHistogramScoresKernel"), codes=("tokenIdx += globalWarpStride", "i += globalThreadStride"),
            reason="a grid-stride loop over the tokens (tokenIdx < n) or over the 2 x E expert counts: at most its "
                   "bound plus one stride of SCORES_GRID x THREADS",
            bound="N + SCORES_GRID*THREADS + 2*E"),
    Bounded(_fns("routingIndicesHistogramScoresKernel", "routingIndicesWarpKernel", "routingIndicesClusterKernel"),
            codes=("scoreOffset + expertIdx",),
            reason="a token's first score (tokenIdx x E) plus an expert below E: at most n x E - 1, the value of the "
                   "entry", entries=("routing_scores_offset",)),
    Bounded(_fns("routingIndicesHistogramScoresKernel"), codes=("( tokenIdx * params . mNumExperts ) / VecSize + laneIdx",),
            reason="a token's first score vector: the entry's tokenIdx x E over VecSize (= 4, a static_assert) plus a "
                   "lane below 32, so at most (n x E) / 4 + 31, below 2^29 + 32 where the entry keeps n x E <= 2^31",
            entries=("routing_scores_offset",)),
    Bounded(_fns("routingIndicesWarpKernel"), codes=("tokenIdx + 1", "++ tokenIdx", "tokenIdx ++"),
            reason="a token index of the warp kernel, below n <= SMALL_TOKENS", bound="SMALL_TOKENS + 1"),
    Bounded(_fns("routingIndicesBlockKernel", "routingIndicesDynBlockKernel"), codes=("++ tokenIdx", "tokenIdx ++",
                                                                                  "j ++", "++ j"),
            reason="a token index of the block and dyn-block kernels' loops over the call's tokens (tokenIdx, j < "
                   "mNumTokens), which run only for n <= SMALL_TOKENS", bound="SMALL_TOKENS + 1"),
    Bounded(_fns("routingIndicesWarpKernel"), codes=("mnLimit1 - params . mTileTokensDim",),
            reason="an expert's padded end (at most P(n) <= CTAS x T) less a tile", bound="CTAS*T + T"),
    Bounded(_fns("routingIndicesDynBlockKernel", "routingIndicesBlockKernel", "launchDynBlockKernel"),
            pattern=r"(?:tokenIdx|warpIdx|params\.mNumTokens|data\.mNumTokens)\*(?:MaxNumExperts|maxExperts)"
                    r"(?:\+(?:expert|expertIdx|threadIdx\.x|warpTopKExpertIdx\[laneIdx\]"
                    r"|static_cast<int>\(params\.mPtrTopKPacked\[warpIdx\*params"
                    r"\.mTopK\+laneIdx\]\.idx\)))?"
                    r"|data\.mNumTokens\*static_cast<int>\(WarpSize\)|tokenIdx\+=numWarps|i\+=blockDim\.x"
                    r"|numSlots\*2|numSlots\+numSlots\*2(?:\+128(?:\+2\*\(maxExperts/WarpSize\)\*static_cast<int>"
                    r"\(sizeof\(int32_t\)\))?)?",
            reason="a token (< n <= SMALL_TOKENS: these kernels run only for the smallest calls) times the experts "
                   "plus an expert or a thread, or the dyn-block kernel's shared-memory slots (numSlots = n x "
                   "maxExperts; 3 x numSlots + 128 + 8 x maxExperts / 32 bytes)",
            bound="3*SMALL_TOKENS*E + 128 + 8*E + THREADS"),
    Bounded(_fns("routingMainKernel"),
            pattern=r"blockIdx\.x\*params\.(?:mTopK|mTotalExpertsPerToken)(?:\+params\.mTopK)?(?:\+laneIdx)?",
            reason="a token's expanded index: the main kernel's block is its token (grid.x = n), times the experts "
                   "per token (with fused shared experts) plus a rank below them, at most n x K - 1",
            bound="N*K"),
    # --- the batched GEMM's configuration ------------------------------------------------
    Bounded(_fns("getDefaultValidConfigIndex", "getWorkspaceSizeInBytes", "isValidConfigIndex", "run"),
            pattern=r"config\.gemm[12]Config|mRunner\.getDefaultValidConfigIndex\(.*\)",
            reason="an index into the release's batched-GEMM configurations (the one chosen for the token count "
                   "is one of them)",
            bound="CONFIGS"),
    Bounded(_fns("getGridDim"), codes=("maxNumCtasInBatchDim . value ( ) * clusterDimInBatchDim",),
            reason="the grid's token dimension: the CTA count (<= CTAS at n <= C) times the cluster size along it "
                   "(1 or 2, the grid theorem's cluster_y)", bound="2*CTAS"),
    Bounded(_fns("MoE::Runner::getWorkspaceSizeInBytes"),
            pattern=r"m(?:Gemm2|PermuteGemm1)\.getWorkspaceSizeInBytes\(.*\)",
            reason="the batched GEMM's workspace is empty (BatchedGemmInterface::getWorkspaceSizesInBytes) unless "
                   "the configuration is DeepSeek FP8 with fused activation, which the runner never selects: its "
                   "only .fusedAct settings are !useDeepSeekFp8 and false (the fact checked), and the GEMM runner "
                   "keeps only configurations whose mFusedAct and mUseDeepSeekFp8 equal them",
            bound="0", facts=_FUSED_ACT),
    Bounded(_fns("nvfp4QuantAndPerTokenScaleKernel", "nvfp4QuantAndPerTokenScaleFP32Kernel"),
            codes=("rowIdx * num_sf_vecs_per_row", "rowIdx * num_sf_vecs_per_row + sfVecIdx"),
            reason="the linear scale-factor offset of the same row as the entry's vecOffset: num_sf_vecs_per_row = "
                   "ceil(n / SF_VEC_SIZE) with SF_VEC_SIZE = 16 >= ELTS_PER_THREAD, so at most num_vecs_per_row, and "
                   "sfVecIdx = vecIdx / NUM_THREADS_PER_SF <= vecIdx: at most the entry's value",
            entries=("per_token_quant_vec_offset",)),
)

UNREACHED_RULES = (
    Unreached(_fns("routingMainKernel", "routing::run"),
              codes=("localExpertIdx * gridDim . x", "localExpertIdx * gridDim . x + blockIdx . x",
                     "localExpertExtent * data . mNumTokens"),
              reason="0.2.8's full expert-weights output, written and cleared only when mPtrExpertWeightsFull is set, "
                     "which nothing on the path does (Data's default is nullptr)",
              facts=(SourceFact("csrc/**/*.cu", r"(\w+(?:\.|->)mPtrExpertWeightsFull)\s*=(?!=)", (), required=False),
                     SourceFact("include/**/*.h", r"(\w+(?:\.|->)mPtrExpertWeightsFull)\s*=(?!=)",
                                ("params.mPtrExpertWeightsFull",), required=False))),
    Unreached(_fns("activationKernel"), pattern=r".*",
              reason="activation::run launches activationKernel only when !data.mUseDeepSeekFp8; every caller (the "
                     "MoE runner, from 0.7.0 also the launcher) passes an activationData whose mUseDeepSeekFp8 is true",
              facts=(SourceFact("csrc/**/*.cu", r"activation::run\(\s*(\w+)", ("activationData",)),
                     SourceFact("csrc/**/*.cu", r"activationData\.mUseDeepSeekFp8\s*=\s*([^;]+);", ("true",)))),
    Unreached(_fns("permuteKernel"), pattern=r".*",
              reason="permute::run, its only launcher, has no caller in the release",
              facts=tuple(SourceFact(where, r"(permute::run)\s*\(", (), required=False) for where in _NO_CALLER)),
    Unreached(_fns("convertSfCommon"), pattern=r".*",
              reason="convertsf::run, the only launcher of the convert-SF kernels, has no caller in the release",
              facts=tuple(SourceFact(where, r"(convertsf::run)\s*\(", (), required=False) for where in _NO_CALLER)),
    Unreached(_fns("finalizeDeepSeekKernel"), pattern=r".*",
              reason="finalize::run launches finalizeDeepSeekKernel only when data.mUseDeepSeekFp8; every caller "
                     "passes a finalizeData whose mUseDeepSeekFp8 is false: the runner's literal, or from 0.7.0 the "
                     "launcher's run_staged_moe_finalize parameter, which its every call passes as false",
              facts=(SourceFact("csrc/**/*.cu", r"finalize::run\(\s*(\w+)", ("finalizeData",)),
                     SourceFact("csrc/**/*.cu", r"finalizeData\.mUseDeepSeekFp8\s*=\s*([^;]+);",
                                ("false", "use_deep_seek_fp8")),
                     SourceFact("csrc/**/*.cu", r"run_staged_moe_finalize\((?:[^,;{]+,){2}\s*([^,;{]+),[^;{]*\);",
                                ("/*use_deep_seek_fp8=*/false",), required=False))),
    Unreached(_fns("BatchedGemmInterface::getWorkspaceSizesInBytes", "BatchedGemmInterface::getWorkspaceSizeInBytes"),
              pattern=r".*",
              reason="inside `if (options.mUseDeepSeekFp8 && options.mFusedAct)` (and the sum of its sizes): the "
                     "runner never selects a DeepSeek FP8 configuration with fused activation",
              facts=_FUSED_ACT),
)
