"""The files drift reads, relative to a flashinfer package folder: those boundcheck.facts
cites, and the older layouts of the same facts."""

from __future__ import annotations

from .. import facts
from ..facts import FUSED_MOE_CORE, FUSED_MOE_UTILS, LAUNCHER, MOE_RUNNER, RUNNER_H

# 0.7.0+: the trtllm-gen runner's tuning config moved out of core.py.
FUSED_MOE_TUNING = "fused_moe/shared/tuning.py"
FUSED_MOE_DIR = "fused_moe"
FUSED_MOE_MODULE = "fused_moe.py"  # 0.2.8: one module
# The routing kernels' limits, newest layout first (0.6.8+, 0.6.7, up to 0.6.6): each
# limit is read from the first of its files that exists and defines it.
RENORMALIZE_LIMITS = (
    (facts.ROUTING_POLICY, "MaxSupportedExperts", "MaxSupportedTopExperts"),
    ("data/csrc/fused_moe/trtllm_backend/routingRenormalize/RoutingRenormalizeCommon.cuh",
     "MaxSupportedExperts", "MaxSupportedTopExperts"),
    ("data/csrc/trtllm_fused_moe_routing_renormalize.cu", "NumExpertsLimit", "MaxNumTopExperts"),
)
DEEPSEEK_FILES = (
    facts.ROUTING_DEEPSEEK,
    "data/csrc/fused_moe/trtllm_backend/routingDeepSeek/RoutingDeepSeekCommon.cuh",
    "data/csrc/trtllm_fused_moe_routing_deepseek.cu",
)
LLAMA4_LIMITS = (
    (facts.ROUTING_LLAMA4, "MaxSupportedExperts"),
    ("data/csrc/trtllm_fused_moe_routing_llama4.cu", "NumExpertsLimit"),
)
# The per-method checks of the routing runner (0.7.0+ its own file, before in the MoE runner).
ROUTING_CHECK_FILES = (facts.ROUTING_RUNNER, MOE_RUNNER)
# 0.2.8 - 0.2.9: every routing method in one file (DeepSeek's kernel first).
ROUTING_ONE_FILE = "data/csrc/trtllm_fused_moe_routing_kernel.cu"
FIXED_PATHS = (
    LAUNCHER, RUNNER_H, MOE_RUNNER, FUSED_MOE_CORE, FUSED_MOE_UTILS, FUSED_MOE_TUNING, FUSED_MOE_MODULE,
    ROUTING_ONE_FILE,
    *(path for path, *_ in RENORMALIZE_LIMITS), *DEEPSEEK_FILES, *(path for path, _ in LLAMA4_LIMITS),
    facts.ROUTING_RUNNER,
)
