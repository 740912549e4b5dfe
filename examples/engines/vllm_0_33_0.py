"""vLLM 0.33.0's chunk sizes for flashinfer's trtllm-gen MoE, transcribed for
`boundcheck audit --target examples/engines/vllm_0_33_0.py:FUNCTION`.

Read from the vllm-0.33.0 wheel (`pip download --no-deps vllm==0.33.0`), paths relative to
site-packages. vLLM 0.33.0 pins flashinfer 0.7.2.post1. E is `moe_config.num_experts`
(global: routed + redundant, no fused shared experts), K the experts per token.

tune_max_num_tokens: `fi_moe_largest_bucket(moe_config)` =
`max(moe_config.max_num_tokens * dp_size, 8192)` (fused_moe/utils.py:566-581), at least
max(n, 8192) for every call of n tokens (a chunk of a gathered batch of at most
max_num_tokens * dp_size): the audit takes `max(n, 8192)..` (any value from there up).

Call sites: vLLM 0.33.0 calls the entry points at 13 lines (SITES, keyed like PATHS), all
looked up at call time (LOOKUPS): `flashinfer.fused_moe.NAME(...)` after a function-local
`import flashinfer` (9), or a function-local `from flashinfer[.fused_moe] import NAME` (4); no
module-level import of one. Only the NVFP4 and MXFP4 modular experts chunk. CALL_SITES, the
flat list with the lines that only name an entry point in a string, is what
tests/test_engine_maps.py compares with every line of the installed vLLM that names one.
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


# (path, file:function and call lines, precisions, chunk function, tune_max_num_tokens). Files
# relative to vllm/model_executor/layers/ (models/... to vllm/); each path's call sites are in SITES.
PATHS = [
    ("TrtLlmNvFp4ExpertsModular (chunked)",
     "fused_moe/experts/trtllm_nvfp4_moe.py:TrtLlmNvFp4ExpertsModular._invoke_kernel L355, apply L439-474 "
     "(also MuseSparkTrtLlmNvFp4ExpertsModular)", ("nvfp4",),
     "nvfp4_get_chunk_size", "min(max(n, 8192), F)..F"),  # min(fi_moe_largest_bucket, chunk)
    ("TrtLlmNvFp4ExpertsMonolithic", "fused_moe/experts/trtllm_nvfp4_moe.py:TrtLlmNvFp4ExpertsMonolithic.apply L568",
     ("nvfp4",), "no_chunking", "max(n, 8192).."),
    ("TrtLlmMxfp4ExpertsModular (chunked)",
     "fused_moe/experts/trtllm_mxfp4_moe.py:TrtLlmMxfp4ExpertsModular._invoke_kernel L373, apply L457-475",
     ("mxfp4_bf16", "mxfp4_mxfp8"),
     "TrtLlmMxfp4ExpertsModular._max_supported_tokens", "max(n, 8192).."),  # not capped by the chunk
    ("TrtLlmMxfp4ExpertsMonolithic", "fused_moe/experts/trtllm_mxfp4_moe.py:TrtLlmMxfp4ExpertsMonolithic.apply L243",
     ("mxfp4_bf16", "mxfp4_mxfp8"), "no_chunking", "max(n, 8192).."),
    ("TrtLlmFp8Experts (modular, monolithic block scale)",
     "fused_moe/experts/trtllm_fp8_moe.py:TrtLlmFp8ExpertsModular.apply L306, "
     "TrtLlmFp8ExpertsMonolithic._apply_block_scale L518", ("fp8_block", "mxfp8"),
     "no_chunking", "max(n, 8192).."),
    ("TrtLlmFp8ExpertsMonolithic per tensor",
     "fused_moe/experts/trtllm_fp8_moe.py:TrtLlmFp8ExpertsMonolithic._apply_per_tensor L553",
     ("fp8_per_tensor",), "no_chunking", "max(n, 8192).."),
    ("TrtLlmBf16ExpertsMonolithic", "fused_moe/experts/trtllm_bf16_moe.py:TrtLlmBf16ExpertsMonolithic.apply L300",
     ("bf16",), "no_chunking", "max(n, 8192).."),
    ("TrtLlmBf16ExpertsModular (no tune passed)",
     "fused_moe/experts/trtllm_bf16_moe.py:TrtLlmBf16ExpertsModular.apply L210", ("bf16",), "no_chunking", "8192"),
    ("TrtLlmBf16LoRAExperts (no tune passed)",
     "fused_moe/experts/trtllm_lora_moe.py:TrtLlmBf16LoRAExperts.invoke_routed_moe L554, called once per batch "
     "by _TrtLlmLoRAExpertsBase.apply L277/L353", ("bf16",), "no_chunking", "8192"),
    ("TrtLlmMxfp4LoRAExperts",
     "fused_moe/experts/trtllm_lora_moe.py:TrtLlmMxfp4LoRAExperts.invoke_routed_moe L694 (MXFP4 weights, BF16 "
     "activations only), called once per batch by _TrtLlmLoRAExpertsBase.apply L277/L353", ("mxfp4_bf16",),
     "no_chunking", "max(n, 8192).."),  # dp_size 1 only: fi_moe_largest_bucket = max(max_num_tokens, 8192)
    ("MuseSparkTrtLlmNvFp4Experts.apply_routed (Muse Spark)",
     "models/muse_spark/nvidia/muse_moe_runner.py:MuseSparkTrtLlmNvFp4Experts.apply_routed L514 (from "
     "MuseMoERunner.forward_prepared_nvfp4 L855)", ("nvfp4",), "no_chunking", "max(n, 8192).."),
    ("flashinfer_trtllm_mxint4_moe",
     "quantization/utils/flashinfer_mxint4_moe.py:flashinfer_trtllm_mxint4_moe L244 (tune 8192; called by "
     "fused_moe/experts/trtllm_mxint4_moe.py L146)", ("mxint4",), "no_chunking", "8192"),
]
FLASHINFER = "0.7.2.post1"

# How a site finds the entry point: kind -> (role, guarded by runtime.install(), how). role "call":
# the line calls it; "string": the line only names it in a string (no call).
LOOKUPS = {
    "fused_moe_attr": ("call", True, "`flashinfer.fused_moe.NAME(...)` after a function-local `import flashinfer`: "
                       "the attribute of flashinfer.fused_moe is read at every call"),
    "local_from_flashinfer": ("call", True, "`from flashinfer import NAME` inside the calling function: read from "
                              "the flashinfer package (its re-export) at every call"),
    "local_from_fused_moe": ("call", True, "`from flashinfer.fused_moe import NAME` inside the calling function: "
                             "read at every call"),
    "string": ("string", None, "the name as a string, no call: vllm/utils/flashinfer.py's lazy wrappers "
               "(_lazy_import_wrapper, getattr at call time; flashinfer_trtllm_bf16_moe, "
               "flashinfer_trtllm_fp8_block_scale_moe, flashinfer_trtllm_fp8_per_tensor_scale_moe and "
               "trtllm_fp4_block_scale_moe are defined but never called in vLLM 0.33.0), the hasattr checks of "
               "has_flashinfer_trtllm_fused_moe / has_flashinfer_cutlass_fused_moe, and __all__"),
}

_E = "vllm/model_executor/layers/fused_moe/experts/"
# Every call site, keyed like PATHS: (file relative to site-packages, line, entry point, lookup kind,
# the name called on that line).
SITES = {
    "TrtLlmNvFp4ExpertsModular (chunked)": [
        (_E + "trtllm_nvfp4_moe.py", 355, "trtllm_fp4_block_scale_routed_moe", "fused_moe_attr",
         "trtllm_fp4_block_scale_routed_moe"),  # import flashinfer L337
    ],
    "TrtLlmNvFp4ExpertsMonolithic": [
        (_E + "trtllm_nvfp4_moe.py", 568, "trtllm_fp4_block_scale_moe", "fused_moe_attr",
         "trtllm_fp4_block_scale_moe"),  # import flashinfer L535
    ],
    "TrtLlmMxfp4ExpertsModular (chunked)": [
        (_E + "trtllm_mxfp4_moe.py", 373, "trtllm_fp4_block_scale_routed_moe", "local_from_flashinfer",
         "trtllm_fp4_block_scale_routed_moe"),  # from flashinfer import ... L371
    ],
    "TrtLlmMxfp4ExpertsMonolithic": [
        (_E + "trtllm_mxfp4_moe.py", 243, "trtllm_fp4_block_scale_moe", "local_from_flashinfer",
         "trtllm_fp4_block_scale_moe"),  # from flashinfer import ... L223
    ],
    "TrtLlmFp8Experts (modular, monolithic block scale)": [
        (_E + "trtllm_fp8_moe.py", 306, "trtllm_fp8_block_scale_routed_moe", "fused_moe_attr",
         "trtllm_fp8_block_scale_routed_moe"),  # import flashinfer L281
        (_E + "trtllm_fp8_moe.py", 518, "trtllm_fp8_block_scale_moe", "fused_moe_attr",
         "trtllm_fp8_block_scale_moe"),  # import flashinfer L453
    ],
    "TrtLlmFp8ExpertsMonolithic per tensor": [
        (_E + "trtllm_fp8_moe.py", 553, "trtllm_fp8_per_tensor_scale_moe", "fused_moe_attr",
         "trtllm_fp8_per_tensor_scale_moe"),  # import flashinfer L540
    ],
    "TrtLlmBf16ExpertsMonolithic": [
        (_E + "trtllm_bf16_moe.py", 300, "trtllm_bf16_moe", "fused_moe_attr", "trtllm_bf16_moe"),  # L290
    ],
    "TrtLlmBf16ExpertsModular (no tune passed)": [
        (_E + "trtllm_bf16_moe.py", 210, "trtllm_bf16_routed_moe", "fused_moe_attr",
         "trtllm_bf16_routed_moe"),  # import flashinfer L204
    ],
    "TrtLlmBf16LoRAExperts (no tune passed)": [
        (_E + "trtllm_lora_moe.py", 554, "trtllm_bf16_routed_moe", "fused_moe_attr",
         "trtllm_bf16_routed_moe"),  # import flashinfer L546
    ],
    "TrtLlmMxfp4LoRAExperts": [
        (_E + "trtllm_lora_moe.py", 694, "trtllm_fp4_block_scale_routed_moe", "local_from_flashinfer",
         "trtllm_fp4_block_scale_routed_moe"),  # from flashinfer import ... L688
    ],
    "MuseSparkTrtLlmNvFp4Experts.apply_routed (Muse Spark)": [
        ("vllm/models/muse_spark/nvidia/muse_moe_runner.py", 514, "trtllm_fp4_block_scale_routed_moe",
         "fused_moe_attr", "trtllm_fp4_block_scale_routed_moe"),  # import flashinfer L508
    ],
    "flashinfer_trtllm_mxint4_moe": [
        ("vllm/model_executor/layers/quantization/utils/flashinfer_mxint4_moe.py", 244,
         "trtllm_mxint4_block_scale_moe", "local_from_fused_moe",
         "trtllm_mxint4_block_scale_moe"),  # from flashinfer.fused_moe import ... L221
    ],
}
# Lines that name an entry point (or one of vLLM's lazy wrappers of one) without calling it.
_U = "vllm/utils/flashinfer.py"
OTHER_SITES = [
    (_U, 282, "trtllm_bf16_moe", "string", "trtllm_bf16_moe"),
    (_U, 285, "trtllm_fp8_block_scale_moe", "string", "trtllm_fp8_block_scale_moe"),
    (_U, 288, "trtllm_fp8_per_tensor_scale_moe", "string", "trtllm_fp8_per_tensor_scale_moe"),
    (_U, 324, "trtllm_fp4_block_scale_moe", "string", "trtllm_fp4_block_scale_moe"),
    (_U, 550, "trtllm_fp8_block_scale_moe", "string", "trtllm_fp8_block_scale_moe"),
    (_U, 551, "trtllm_fp8_per_tensor_scale_moe", "string", "trtllm_fp8_per_tensor_scale_moe"),
    (_U, 552, "trtllm_fp4_block_scale_moe", "string", "trtllm_fp4_block_scale_moe"),
    (_U, 553, "trtllm_mxint4_block_scale_moe", "string", "trtllm_mxint4_block_scale_moe"),
    (_U, 554, "trtllm_bf16_moe", "string", "trtllm_bf16_moe"),
    (_U, 574, "trtllm_fp4_block_scale_moe", "string", "trtllm_fp4_block_scale_moe"),
    (_U, 1279, "trtllm_fp8_block_scale_moe", "string", "flashinfer_trtllm_fp8_block_scale_moe"),
    (_U, 1291, "trtllm_fp4_block_scale_moe", "string", "trtllm_fp4_block_scale_moe"),
]
# Names of the engine's own that reach an entry point when called (the scan looks for these too).
WRAPPERS = {
    "flashinfer_trtllm_bf16_moe": "trtllm_bf16_moe",
    "flashinfer_trtllm_fp8_block_scale_moe": "trtllm_fp8_block_scale_moe",
    "flashinfer_trtllm_fp8_per_tensor_scale_moe": "trtllm_fp8_per_tensor_scale_moe",
}
# The machine-readable list: every line of site-packages/vllm that calls or names an entry point
# (tests/test_engine_maps.py checks it against the installed vLLM). 13 call sites, none chunked but
# the two `(chunked)` paths.
CALL_SITES = [row for rows in SITES.values() for row in rows] + OTHER_SITES
ENGINE = ("vllm", "0.33.0")
