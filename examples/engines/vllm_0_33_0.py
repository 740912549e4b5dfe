"""vLLM 0.33.0's chunk sizes for flashinfer's trtllm-gen MoE, transcribed for
`boundcheck audit --target examples/engines/vllm_0_33_0.py:FUNCTION`.

Read from the vllm-0.33.0 wheel (`pip download --no-deps vllm==0.33.0`), paths relative to
site-packages. vLLM 0.33.0 pins flashinfer 0.7.2.post1. E is `moe_config.num_experts`
(global: routed + redundant, no fused shared experts), K the experts per token.

tune_max_num_tokens: `fi_moe_largest_bucket(moe_config)` =
`max(moe_config.max_num_tokens * dp_size, 8192)` (fused_moe/utils.py:566-581), at least
max(n, 8192) for every call of n tokens (a chunk of a gathered batch of at most
max_num_tokens * dp_size): the audit takes `max(n, 8192)..` (any value from there up).
"""

# vllm/model_executor/layers/fused_moe/experts/trtllm_nvfp4_moe.py:259-279,
# TrtLlmNvFp4ExpertsBase._get_chunk_size(self): the nested helper as written; the method
# reads self.topk and self.moe_config.num_experts, passed here as top_k and num_experts.
MAX_GRID_Y = 65535
MAX_TILE_TOKENS_DIM = 128


def _calc_max_supported_tokens(top_k: int, num_experts: int) -> int:
    return (
        num_experts + (MAX_GRID_Y - num_experts + 1) * MAX_TILE_TOKENS_DIM - 1
    ) // top_k


def nvfp4_get_chunk_size(top_k: int, num_experts: int) -> int:
    # Using 305k or more causes IMA error in the kernel, so limit to 300k.
    return min(
        300000, _calc_max_supported_tokens(top_k, num_experts)
    )


class TrtLlmMxfp4ExpertsModular:
    """vllm/model_executor/layers/fused_moe/experts/trtllm_mxfp4_moe.py:339-353 (as written)."""

    def _max_supported_tokens(self, top_k: int, global_num_experts: int) -> int:
        MAX_GRID_Y = 65535
        MIN_TILE_TOKENS_DIM = 8
        max_tokens = (MAX_GRID_Y - global_num_experts) * MIN_TILE_TOKENS_DIM // top_k
        return max(1, min(300000, max_tokens))


def no_chunking(num_experts: int, top_k: int) -> int:
    """The paths that pass the whole batch in one call: any token count reaches the kernel
    (int32 num_tokens: the audit's verdict is the first count that fails)."""
    return 2147483647


# (path, file:function and call lines, precisions, chunk function, tune_max_num_tokens)
PATHS = [
    ("TrtLlmNvFp4ExpertsModular (chunked)",
     "fused_moe/experts/trtllm_nvfp4_moe.py:_invoke_kernel L355, apply L438-474", ("nvfp4",),
     "nvfp4_get_chunk_size", "min(max(n, 8192), F)..F"),  # min(fi_moe_largest_bucket, chunk)
    ("TrtLlmNvFp4ExpertsMonolithic", "fused_moe/experts/trtllm_nvfp4_moe.py:apply L568", ("nvfp4",),
     "no_chunking", "max(n, 8192).."),
    ("TrtLlmMxfp4ExpertsModular (chunked)",
     "fused_moe/experts/trtllm_mxfp4_moe.py:_invoke_kernel L373, apply L456-475", ("mxfp4_bf16", "mxfp4_mxfp8"),
     "TrtLlmMxfp4ExpertsModular._max_supported_tokens", "max(n, 8192).."),  # not capped by the chunk
    ("TrtLlmMxfp4ExpertsMonolithic", "fused_moe/experts/trtllm_mxfp4_moe.py:apply L243",
     ("mxfp4_bf16", "mxfp4_mxfp8"), "no_chunking", "max(n, 8192).."),
    ("TrtLlmFp8Experts (modular, monolithic block scale)",
     "fused_moe/experts/trtllm_fp8_moe.py:apply L306, _apply_block_scale L518", ("fp8_block", "mxfp8"),
     "no_chunking", "max(n, 8192).."),
    ("TrtLlmFp8ExpertsMonolithic per tensor", "fused_moe/experts/trtllm_fp8_moe.py:_apply_per_tensor L553",
     ("fp8_per_tensor",), "no_chunking", "max(n, 8192).."),
    ("TrtLlmBf16ExpertsMonolithic", "fused_moe/experts/trtllm_bf16_moe.py:apply L300", ("bf16",),
     "no_chunking", "max(n, 8192).."),
    ("TrtLlmBf16ExpertsModular, bf16 LoRA", "fused_moe/experts/trtllm_bf16_moe.py:apply L210 (no tune passed)",
     ("bf16",), "no_chunking", "8192"),
    ("flashinfer_trtllm_mxint4_moe", "quantization/utils/flashinfer_mxint4_moe.py L244 (tune 8192)", ("mxint4",),
     "no_chunking", "8192"),
]
FLASHINFER = "0.7.2.post1"
