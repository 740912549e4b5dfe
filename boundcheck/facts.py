"""The constants that hold in every modeled flashinfer release, with where they come from.

Trust: flashinfer-python 0.5.0 - 0.7.4 as shipped on the package registry (what changes
between releases is in boundcheck/releases.py, keyed by era). Paths are relative to the
installed `flashinfer/` package (the wheel ships its C++ sources under `data/`).
`boundcheck drift` re-reads these from a flashinfer folder; change a value here only
together with the sources.
"""

from __future__ import annotations

from dataclasses import dataclass

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
# The widest hidden and intermediate sizes boundcheck accepts (chunk's --hidden-size and
# --intermediate-size, the guard's hidden_states and intermediate_size): a bound of its own,
# not flashinfer's, that keeps the width-only arithmetic of the MoE path (the finalize
# dispatch's block count, the dev kernels' width loops) within int32.
MAX_WIDTH = 1 << 20
INT32_MIN = -(2**31)

# --- Autotuner buckets (fused_moe/utils.py: map_to_hybrid_bucket) ----------------------
BUCKET_PHASE1_END = 256  # _PHASE1_END: power-of-two buckets up to here
BUCKET_PHASE2_STEP = 256  # _PHASE2_STEP
BUCKET_PHASE2_END = 2048  # _PHASE2_END
BUCKET_PHASE3_STEP = 512  # _PHASE3_STEP
BUCKET_PHASE3_END = 4096  # _PHASE3_END; power-of-two buckets beyond
DEFAULT_TUNE_MAX_NUM_TOKENS = 8192  # tune_max_num_tokens default of every entry point

# --- Routing kernels: what the launcher accepts from 0.6.7 (0.6.18 for the tiers; older
# eras' limits are in releases.Routing) --------------------------------------------------
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
