"""Every constant the model takes from flashinfer, with the line it comes from.

Trust: flashinfer-python 0.7.2.post1 as shipped on the package registry. Paths are
relative to the installed `flashinfer/` package (the wheel ships its C++ sources under
`data/`). `boundcheck drift` re-reads each of these from an installed flashinfer and
fails when one no longer matches; change a value here only together with the source.
"""

from __future__ import annotations

from dataclasses import dataclass

FLASHINFER_VERSION = "0.7.2.post1"

LAUNCHER = "data/csrc/trtllm_fused_moe_kernel_launcher.cu"
RUNNER_H = "data/include/flashinfer/trtllm/fused_moe/runner.h"
MOE_RUNNER = "data/csrc/trtllm_fused_moe_runner.cu"
ROUTING_RUNNER = "data/csrc/fused_moe/trtllm_backend/trtllm_fused_moe_routing_runner.cu"
ROUTING_POLICY = "data/include/flashinfer/trtllm/fused_moe/RoutingCustomPolicy.cuh"
ROUTING_DEEPSEEK = "data/csrc/fused_moe/trtllm_backend/trtllm_fused_moe_routing_deepseek.cu"
ROUTING_LLAMA4 = "data/csrc/fused_moe/trtllm_backend/trtllm_fused_moe_routing_llama4.cu"
FUSED_MOE_UTILS = "fused_moe/utils.py"
FUSED_MOE_CORE = "fused_moe/core.py"


@dataclass(frozen=True)
class Source:
    """Where a fact lives: a file of the flashinfer package and the symbol in it."""

    path: str
    symbol: str

    def __str__(self) -> str:
        return f"{self.path}: {self.symbol}"


# --- The launch limit (CUDA, not flashinfer) ------------------------------------------
# cudaDevAttrMaxGridDimY is 65535 on every CUDA GPU to date; tests/gpu reads it off the
# device. The batched GEMMs launch their CTAs of the token dimension along grid Y.
GRID_DIM_Y_MAX = 65535
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

# --- Tile sets (trtllm_fused_moe_kernel_launcher.cu) ----------------------------------
TILES_BF16 = (8, 16, 32, 64, 128)  # Bf16MoeLauncher::mSupportedTileNums
TILES_FP8_PER_TENSOR = (8, 16, 32, 64, 128)  # Fp8PerTensorLauncher::mSupportedTileNums
TILES_FP8_PER_CHANNEL = (8, 16, 32, 64, 128)  # Fp8PerChannelLauncher::mSupportedTileNums
TILES_FP8_BLOCK_BASE = (8, 16, 32, 64, 128)  # Fp8BlockScaleLauncher::mBaseSupportedTileNums
TILE_FP8_BLOCK_MXFP8_EXTRA = 256  # Fp8BlockScaleLauncher::getSupportedTileNums (MxFp8)
TILES_MXINT4 = (8, 16, 32, 64, 128)  # MxInt4BlockScaleLauncher::mSupportedTileNums
TILES_FP4_BASE = (8, 16, 32, 64)  # FP4BlockScaleLauncher::mBaseSupportedTileNums
TILE_FP4_NOT_BF16 = 128  # FP4BlockScaleLauncher::getSupportedTileNums: dtype_act != Bfloat16
TILE_FP4_192 = 192  # ... (E2m1 w, E2m1 act) or (MxE2m1 w, MxE4m3 act)
TILE_FP4_256 = 256  # ... dtype_act != Bfloat16

# --- Autotuner buckets (fused_moe/utils.py: map_to_hybrid_bucket) ----------------------
BUCKET_PHASE1_END = 256  # _PHASE1_END: power-of-two buckets up to here
BUCKET_PHASE2_STEP = 256  # _PHASE2_STEP
BUCKET_PHASE2_END = 2048  # _PHASE2_END
BUCKET_PHASE3_STEP = 512  # _PHASE3_STEP
BUCKET_PHASE3_END = 4096  # _PHASE3_END; power-of-two buckets beyond
DEFAULT_TUNE_MAX_NUM_TOKENS = 8192  # tune_max_num_tokens default of every entry point

# --- Routing kernels: what the launcher accepts ----------------------------------------
MAX_EXPERTS = 2048  # RoutingCustomPolicy.cuh: MaxSupportedExperts
MAX_TOP_K = 32  # RoutingCustomPolicy.cuh / RoutingKernelTopK.cuh: MaxSupportedTopExperts
DEEPSEEK_GROUPED_MAX_EXPERTS = 512  # routing_deepseek.cu: MaxSupportedExpertCount
DEEPSEEK_GROUPED_MAX_TOP_K = 22  # routing_runner.cu: "must have topK <= 22"
DEEPSEEK_MAX_GROUPS = 8  # routing_deepseek.cu: MaxNumGroups
DEEPSEEK_MAX_TOPK_GROUPS = 4  # routing_runner.cu: "must have topkGroup <= 4"
LLAMA4_MAX_EXPERTS = 128  # routing_llama4.cu: MaxSupportedExperts
LLAMA4_TOP_K = 1  # routing_runner.cu: "must have topK == 1"

# The largest Tier<E, K> of each routing-custom policy pair (PolicyTraits in
# RoutingCustomPolicy.cuh), keyed by the routing methods that use the pair
# (trtllm_fused_moe_routing_runner.cu). These bound what routing from logits accepts.
ROUTING_POLICY_TIERS = {
    # routing method name: (PolicyTraits<PreProc, PostProc>, max experts, max top_k)
    "Default": ("SoftmaxPreprocess, NoOpPostprocess", 256, 8),
    "Renormalize": ("NoOpPreprocess, SoftmaxPostprocess", 2048, 32),
    "RenormalizeNaive": ("NoOpPreprocess, SoftmaxPostprocess", 2048, 32),
    "TopK": ("NoOpPreprocess, NoOpPostprocess", 256, 8),
    "SigmoidRenorm": ("SigmoidPreprocess, SumNormalizePostprocess", 256, 8),
    "Sigmoid": ("SigmoidPreprocess, SumNormalizePostprocess", 256, 8),
    "TopKSigmoid": ("NoOpPreprocess, SigmoidPostprocess", 256, 8),
    "MiniMax2": ("SigmoidBiasPreprocess, ScaledSumNormalizePostprocess", 1024, 32),
    "DeepSeekV3_ungrouped": ("SigmoidBiasPreprocess, ScaledSumNormalizePostprocess", 1024, 32),
}

# RoutingMethodType (runner.h), the int the entry points take as routing_method_type.
ROUTING_METHODS = {
    0: "Default",
    1: "Renormalize",
    2: "DeepSeekV3",
    3: "Llama4",
    4: "RenormalizeNaive",
    5: "TopK",
    6: "SigmoidRenorm",
    7: "MiniMax2",
    8: "Sigmoid",
    9: "TopKSigmoid",
}

# Fused shared experts: the proof domain. flashinfer appends them to every token's
# routing (topK + numFusedSharedExpert) and to the local experts; DeepSeek-V3 uses 1.
MAX_FUSED_SHARED_EXPERTS = 2

SOURCES = {
    "cta_formula": Source(RUNNER_H, "getMaxNumCtasInBatchDim"),
    "padded_count": Source(RUNNER_H, "getMaxPermutedPaddedCount"),
    "gemm_counts": Source(MOE_RUNNER, "MoE::Runner::run (totalLocalExperts, totalExpertsPerToken)"),
    "routing_counts": Source(LAUNCHER, "FusedMoeLauncher::prepare_routing_common"),
    "candidate_rule": Source(LAUNCHER, "computeSelectedTileN"),
    "default_tile": Source(LAUNCHER, "selectDefaultTileN"),
    "tiles_bf16": Source(LAUNCHER, "Bf16MoeLauncher::mSupportedTileNums"),
    "tiles_fp8_per_tensor": Source(LAUNCHER, "Fp8PerTensorLauncher::mSupportedTileNums"),
    "tiles_fp8_per_channel": Source(LAUNCHER, "Fp8PerChannelLauncher::mSupportedTileNums"),
    "tiles_fp8_block": Source(LAUNCHER, "Fp8BlockScaleLauncher::getSupportedTileNums"),
    "tiles_mxint4": Source(LAUNCHER, "MxInt4BlockScaleLauncher::mSupportedTileNums"),
    "tiles_fp4": Source(LAUNCHER, "FP4BlockScaleLauncher::getSupportedTileNums"),
    "bucket_mapping": Source(FUSED_MOE_UTILS, "map_to_hybrid_bucket"),
    "tune_max_default": Source(FUSED_MOE_CORE, "tune_max_num_tokens: int = 8192"),
    "routing_limits": Source(ROUTING_POLICY, "MaxSupportedExperts, MaxSupportedTopExperts"),
}
