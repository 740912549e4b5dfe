"""SGLang 0.5.23's calls of flashinfer's trtllm-gen MoE, transcribed for
`boundcheck audit --target examples/engines/sglang_0_5_23.py:FUNCTION`.

Read from the sglang-0.5.23 wheel (`pip download --no-deps sglang==0.5.23`), paths
relative to site-packages. SGLang 0.5.23 pins flashinfer 0.7.2. SGLang never chunks the
token dimension for these kernels: every call gets the whole batch of its rank.

tune_max_num_tokens: `next_power_of_2(M)` with M the rows of that call
(sglang/srt/utils/common.py:3693: `1 << (n - 1).bit_length() if n > 0 else 1`), so the
audit takes `next_pow2(n)`; the Muse Spark NVFP4 path passes nothing (8192).
"""


def no_chunking(num_experts: int, top_k: int) -> int:
    """Any token count reaches the kernel (int32 num_tokens): the audit's verdict is the
    first count that fails."""
    return 2147483647


PATHS = [
    ("flashinfer_trtllm fp8 per tensor", "srt/layers/moe/moe_runner/flashinfer_trtllm.py:_run_fp8_per_tensor_scale_moe "
     "L829/L845", ("fp8_per_tensor",), "no_chunking", "next_pow2(n)"),
    ("flashinfer_trtllm fp8 block / mxfp8", "moe_runner/flashinfer_trtllm.py:fused_experts_none_to_flashinfer_trtllm_fp8 "
     "L1026-L1089", ("fp8_block", "mxfp8"), "no_chunking", "next_pow2(n)"),
    ("flashinfer_trtllm mxfp4", "moe_runner/flashinfer_trtllm.py:_fused_experts_flashinfer_mxfp4_sm100_trtllm_gen "
     "L1220-L1306; quantization/mxfp4_flashinfer_trtllm_moe.py L499", ("mxfp4_bf16", "mxfp4_mxfp8"),
     "no_chunking", "next_pow2(n)"),
    ("flashinfer_trtllm nvfp4", "moe_runner/flashinfer_trtllm.py:fused_experts_none_to_flashinfer_trtllm_fp4 "
     "L1593/L1648", ("nvfp4",), "no_chunking", "next_pow2(n)"),
    ("flashinfer_trtllm bf16", "moe_runner/flashinfer_trtllm.py:fused_experts_none_to_flashinfer_trtllm_bf16 "
     "L1760/L1793", ("bf16",), "no_chunking", "next_pow2(n)"),
    ("compressed-tensors mxint4", "quantization/compressed_tensors/schemes/compressed_tensors_w4a4_mxint4_moe.py "
     "L341", ("mxint4",), "no_chunking", "next_pow2(n)"),
    ("Muse Spark nvfp4 (no tune passed)", "srt/layers/muse_spark/muse_spark_fp4_moe.py:forward L675", ("nvfp4",),
     "no_chunking", "8192"),
]
FLASHINFER = "0.7.2"
