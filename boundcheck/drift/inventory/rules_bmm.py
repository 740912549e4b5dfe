"""The rules for the batched GEMM's host code: the export headers' KernelParams.h (TMA
shapes and the CTA maps set before each launch) and CudaKernelLauncher.h.

The parser reads this code only with TLLM_GEN_EXPORT_INTERFACE defined, as flashinfer's
JIT compiles it (front_end.jit_defines); before, it was invisible. It covers 0.2.8 - 0.6.13,
which ship the export headers (in the wheel or in flashinfer-cubin): from 0.6.14 they come
with the cubins at run time and no registry carries them, so 0.6.14 - 0.7.4's batched-GEMM
host code is not in the inventory (0.6.13's headers stand in only to type the runner's
calls, and findings in them are not recorded: extract.py keeps flashinfer's own files).
A fact about the export headers is checked in the release's own copy (or that stand-in,
where a rule applies from 0.6.14).

What the MoE path fixes, and the rules rest on (each a SourceFact checked per release):
- the MoE runner asks every GEMM for a dynamic batch (`.staticBatch = false`) and the GEMM
  runner keeps only configurations whose mIsStaticBatch equals it: setKernelParams's
  static-batch branch (per-expert CTA maps built on the host) never runs; its dynamic
  branch sets `ctaOffset = maxNumCtas`, the CTA count of the token dimension, which the
  grid theorem keeps at most CTAS;
- every MoE GEMM transposes its MMA output (`.transposeMmaOutput = true`), which the
  options check allows only when batching N: the tokens are N, the weights A.
"""

from __future__ import annotations

from .rules import _BMM_EXPORT as BMM_EXPORT
from .rules import Bounded, Independent, SourceFact, Unreached, _fns

_DYNAMIC_BATCH = (
    SourceFact("csrc/trtllm_fused_moe_runner.cu", r"\.staticBatch\s*=\s*([^,}\n]+)", ("false",)),
    SourceFact("csrc/trtllm_batched_gemm_runner.cu", r"(options\.mIsStaticBatch\s*==\s*mOptions\.staticBatch)",
               ("options.mIsStaticBatch == mOptions.staticBatch",)),
    # `cgaOffset` from 0.6.11, which counts clusters (CGAs) of the token dimension
    SourceFact(BMM_EXPORT + "KernelParams*.h", r"\n\s*((?:cta|cga)Offset\s*=\s*\w+);",
               ("ctaOffset = maxNumCtas", "cgaOffset = maxNumCtas")),
)
_BATCH_N = (
    SourceFact("csrc/trtllm_fused_moe_runner.cu", r"\.transposeMmaOutput\s*=\s*([^,}\n]+)", ("true",)),
    SourceFact("csrc/trtllm_batched_gemm_runner.cu",
               r"(options\.mTransposeMmaOutput\s*==\s*mOptions\.transposeMmaOutput)",
               ("options.mTransposeMmaOutput == mOptions.transposeMmaOutput",)),
    # the polarity too: batching M forbids the transposed output, batching N requires it
    SourceFact(BMM_EXPORT + "BatchedGemmOptions.h", r'TLLM_CHECK_ERROR\((!?options\.mTransposeMmaOutput,\s*"When batch[MN])',
               ('!options.mTransposeMmaOutput, "When batchM', 'options.mTransposeMmaOutput, "When batchN')),
)
_PARAMS = _fns("KernelParams::setKernelParams", "KernelParamsSetup::setKernelParams")
_TMA_SHAPE = _fns("KernelParams::makeTmaShapeStrideAbc", "KernelParamsSetup::makeTmaShapeStrideAbc")

BMM_RULES = (
    Unreached(_PARAMS,
              codes=("mM + options . mTileM", "mM + options . mTileM - 1", "mN + options . mTileN",
                     "mN + options . mTileN - 1", "ctaOffset + numCtas", "ctaOffset + cta", "ctaOffset + cta + 1",
                     "( ctaOffset + cta + 1 ) * tile", "ctaOffset * tile", "ctaOffset * tile + tokensPerTile",
                     "ctaOffset += numCtas", "numCtas * tile", "params . totalNumPaddedTokens += numCtas * tile",
                     "mM + options . mTileM * options . mClusterDimX",
                     "mM + options . mTileM * options . mClusterDimX - 1",
                     "( mM + options . mTileM * options . mClusterDimX - 1 ) / ( options . mTileM * options . "
                     "mClusterDimX ) * options . mClusterDimX",
                     # 0.6.11 on: the same per cluster (CGA)
                     "mM + cgaTile", "mM + cgaTile - 1", "mN + cgaTile", "mN + cgaTile - 1", "cgaOffset + numCgas",
                     "cgaOffset + cga", "cgaOffset + cga + 1", "( cgaOffset + cga + 1 ) * cgaTile",
                     "cgaOffset * cgaTile", "cgaOffset * cgaTile + tokensPerTile", "cgaOffset += numCgas",
                     "numCgas * cgaTile", "params . totalNumPaddedTokens += numCgas * cgaTile", "cta ++", "cga ++",
                     # 0.6.x's static batch of uniform size (the other static-batch branch)
                     "numTokens + tileTokensDim", "numTokens + tileTokensDim - 1",
                     "params . ctasInTokenDimPerBatch * tileTokensDim",
                     "params . ctasInTokenDimPerBatch * tileTokensDim * options . mNumBatches"),
              reason="setKernelParams's static-batch branch (the host builds the CTA maps from per-expert counts): "
                     "the MoE runner asks for a dynamic batch and the GEMM runner keeps only configurations that "
                     "match it", facts=_DYNAMIC_BATCH),
    Unreached(_fns("BatchedGemmInterface::getGridDim", "BatchedGemmInterface::run"),
              pattern=r"(?:numCtasBatch|numCtaXy)\+=batchM\?gemm::divUp\(options\.mBatchedM\[bi\],options\.mTileM"
                      r"(?:\*options\.mClusterDimX\)\*options\.mClusterDimX|\)):gemm::divUp\(options\.mBatchedN\[bi\],"
                      r"options\.mTileN(?:\*options\.mClusterDimY\)\*options\.mClusterDimY|\))"
                      r"|\+\+bi",
              reason="the static-batch sum of the experts' CTAs and its loop over the experts (`++bi`), inside `if "
                     "(options.mIsStaticBatch)`, in getGridDim and, to 0.2.13, in run: the MoE path's batch is dynamic",
              facts=_DYNAMIC_BATCH),
    Bounded(_PARAMS, codes=("ctaOffset * options . mTileN", "ctaOffset * options . mTileM"),
            reason="after the batch branch, on the dynamic batch the MoE path runs, ctaOffset = maxNumCtas, the "
                   "formula's CTA count of the token dimension (<= CTAS at n <= C; a persistent scheduler launches a "
                   "fixed grid, but this value is the formula's), times a CTA tile side (<= T: 256, the largest tile "
                   "of either GEMM dimension on sm100)",
            bound="CTAS*T", facts=_DYNAMIC_BATCH),
    Bounded(_PARAMS, codes=("cgaOffset * ( batchM ? options . mTileM : options . mTileN )",
                            "cgaOffset * ( batchM ? options . mTileM : options . mTileN ) * clusterDimInBatchDim"),
            reason="0.6.11 on: after the batch branch, on the dynamic batch, cgaOffset = maxNumCtas (<= CTAS at n <= "
                   "C), times the token dimension's CTA tile (<= T) and the cluster's extent along it (<= CLUSTER)",
            bound="CTAS*T*CLUSTER", facts=_DYNAMIC_BATCH),
    Independent(_PARAMS, codes=("options . mM * options . mNumBatches", "options . mN * options . mNumBatches"),
                reason="the scale-factor rows of the weights: the weights' side of the GEMM (M when batching N, N "
                       "when batching M) times the experts; the tokens are the other side",
                facts=_BATCH_N),
    Independent(_TMA_SHAPE, codes=("hiddenSize * numTokens", "numTokens * options . mBlockK"),
                reason="a weights matrix's batch stride: both stand in `if (isWeights)` or in the BlockMajorK layout "
                       "that only weights use, where numTokens is the weights' outer dimension",
                facts=(SourceFact(BMM_EXPORT + "KernelParams*.h", r"\n([^\n]*)\n[^\n]*hiddenSize \* numTokens",
                                  ("if (isWeights) {", "static_cast<uint64_t>(numTokens * options.mBlockK),"),
                                  required=False),
                       # what keeps the block layout to the weights: both activation operands must be K-major
                       SourceFact(BMM_EXPORT + "BatchedGemmOptions.h",
                                  r"TLLM_CHECK_ERROR\((options\.mLayout[AB]\s*==\s*gemm::MatrixLayout::MajorK),\s*"
                                  r'"Activations must be in k-major format"',
                                  ("options.mLayoutA == gemm::MatrixLayout::MajorK",
                                   "options.mLayoutB == gemm::MatrixLayout::MajorK")))),
    Bounded(_TMA_SHAPE, codes=("numTokens + ctaTileNumTokens",),
            reason="the outer dimension of a TMA box with out-of-bounds padding plus one tile: the dimension is the "
                   "call's token count (routed activations, <= N), a padded count ctaOffset x tile (<= CTAS x T) or "
                   "a weights dimension (<= 2 x WIDTH, a gated GEMM1's rows); the sum of the three bounds any one",
            bound="N + CTAS*T + 2*WIDTH + T"),
    Bounded(_fns("gen::launchKernel"), codes=("cluster3 . x * cluster3 . y", "cluster3 . x * cluster3 . y * cluster3 . z"),
            reason="the blocks of a thread-block cluster, each dimension at most CUDA's cluster limit",
            bound="CLUSTER*CLUSTER*CLUSTER"),
)
