"""SGLang 0.5.23's calls of flashinfer's trtllm-gen MoE, transcribed for
`boundcheck audit --target examples/engines/sglang_0_5_23.py:FUNCTION`.

Read from the sglang-0.5.23 wheel (`pip download --no-deps sglang==0.5.23`), paths
relative to site-packages. SGLang 0.5.23 pins flashinfer 0.7.2. SGLang never chunks the
token dimension for these kernels: every call gets the whole batch of its rank.

tune_max_num_tokens: `next_power_of_2(M)` with M the rows of that call
(sglang/srt/utils/common.py:3693: `1 << (n - 1).bit_length() if n > 0 else 1`), so the
audit takes `next_pow2(n)`; the Muse Spark NVFP4 path passes nothing (8192).

Call sites (SITES, keyed like PATHS; LOOKUPS says how each finds the entry point): most import
the entry point inside the calling function (`from flashinfer[.fused_moe] import NAME`, read at
every call); the FP8 paths call it inside SGLang's custom-op wrappers
(srt/layers/moe/flashinfer_trtllm_moe.py); two import it at module level, bound once at import
(install() replaces such module globals too): quantization/mxfp4_flashinfer_trtllm_moe.py
(MXFP4, L34-35) and compressed-tensors MXINT4 (L45). The experimental TRT-LLM LoRA MoE bypasses flashinfer's public entry points and is not
guardable (EXPERIMENTAL_LORA). CALL_SITES is what tests/test_engine_maps.py compares with every
line of the installed SGLang (or its wheel) that names an entry point or a wrapper of one.
"""


def no_chunking(num_experts: int, top_k: int) -> int:
    """Any token count reaches the kernel (int32 num_tokens): the audit's verdict is the
    first count that fails."""
    return 2147483647


_R = "moe/moe_runner/flashinfer_trtllm.py"
# (path, file:function and call lines, precisions, chunk function, tune_max_num_tokens). Files relative
# to sglang/srt/layers/; each path's call sites (and lookup sites) are in SITES.
PATHS = [
    ("flashinfer_trtllm fp8 per tensor",
     f"{_R}:_run_fp8_per_tensor_scale_moe L829/L845 and ../lora/trtllm_lora_temp/sgl_fp8_moe.py:"
     "fused_experts_fp8_sgl L216, through the custom ops of moe/flashinfer_trtllm_moe.py "
     "(flashinfer called at L385/L325)", ("fp8_per_tensor",), "no_chunking", "next_pow2(n)"),
    ("flashinfer_trtllm fp8 block / mxfp8",
     f"{_R}:fused_experts_none_to_flashinfer_trtllm_fp8 L1026/L1085 (deferred finalize) and L1030/L1089 "
     "through the custom ops of moe/flashinfer_trtllm_moe.py (flashinfer called at L233/L118)",
     ("fp8_block", "mxfp8"), "no_chunking", "next_pow2(n)"),
    ("flashinfer_trtllm mxfp4",
     f"{_R}:_fused_experts_flashinfer_mxfp4_sm100_trtllm_gen L1220/L1268/L1306",
     ("mxfp4_bf16", "mxfp4_mxfp8"), "no_chunking", "next_pow2(n)"),
    ("Mxfp4FlashinferTrtllmMoEMethod mxfp4 (module-level import)",
     "quantization/mxfp4_flashinfer_trtllm_moe.py:Mxfp4FlashinferTrtllmMoEMethod.apply L499 (moe_call, set at "
     "L405/L419 from the module-level import L34-35)", ("mxfp4_bf16", "mxfp4_mxfp8"), "no_chunking",
     "next_pow2(n)"),
    ("flashinfer_trtllm nvfp4", f"{_R}:fused_experts_none_to_flashinfer_trtllm_fp4 L1593/L1648", ("nvfp4",),
     "no_chunking", "next_pow2(n)"),
    ("flashinfer_trtllm bf16", f"{_R}:fused_experts_none_to_flashinfer_trtllm_bf16 L1760/L1793", ("bf16",),
     "no_chunking", "next_pow2(n)"),
    ("compressed-tensors mxint4 (module-level import)",
     "quantization/compressed_tensors/schemes/compressed_tensors_w4a4_mxint4_moe.py:"
     "CompressedTensorsMxInt4MoE.apply_weights L341 (module-level import L45)", ("mxint4",), "no_chunking",
     "next_pow2(n)"),
    ("Muse Spark nvfp4 (no tune passed)", "muse_spark/muse_spark_fp4_moe.py:MuseSpark1xFp4Experts.forward L675",
     ("nvfp4",), "no_chunking", "8192"),
    ("Muse Spark bf16", "muse_spark/muse_spark_bf16_moe.py:MuseSpark1xBf16Experts._forward_trtllm L453", ("bf16",),
     "no_chunking", "next_pow2(n)"),
]
FLASHINFER = "0.7.2"

# How a site finds the entry point: kind -> (role, guarded by runtime.install(), how). role "call": the
# line calls it; "import": a module-level import binds the name (a lookup site); "ref": the line reads
# the bound name without calling it; "string": names it in a string only (guarded None: no call).
# A module-level binding is guarded too: install() replaces flashinfer's function in every loaded
# module's globals, and a module imported later copies the guard (runtime/install.py).
LOOKUPS = {
    "local_from_fused_moe": ("call", True, "`from flashinfer.fused_moe import NAME` inside the calling function: "
                             "read at every call"),
    "local_from_flashinfer": ("call", True, "`from flashinfer import NAME` inside the calling function: read from "
                              "the flashinfer package (its re-export) at every call"),
    "module_import": ("import", True, "module-level `from flashinfer.fused_moe import (NAME, ...)` under "
                      "`if is_flashinfer_available():`: the lookup site, run once when the module is imported"),
    "module_bound": ("call", True, "a call of the name that module-level import bound (directly, or through "
                     "a local alias: the name on the line)"),
    "module_bound_ref": ("ref", True, "reads the name that module-level import bound (`moe_call = NAME`)"),
    "sglang_wrapper": ("call", True, "a call of SGLang's custom-op wrapper (srt/layers/moe/flashinfer_trtllm_moe.py, "
                       "register_custom_op) that runs `from flashinfer.fused_moe import NAME` at every call; the "
                       "caller passes tune_max_num_tokens"),
    "module_import_wrapper": ("import", True, "module-level import of those wrappers: SGLang's own functions, "
                              "flashinfer's entry point is looked up inside them at every call"),
    "sglang_copy": ("call", False, "SGLang's own function of the same name (sglang/kernels/ops/lora/moe/"
                    "trtllm_lora_temp/core.py), not flashinfer's: see EXPERIMENTAL_LORA"),
    "module_import_sglang_copy": ("import", False, "module-level import of SGLang's own copies (their package "
                                  "__init__): see EXPERIMENTAL_LORA"),
    "compiled_op": ("call", False, "a method of the compiled module SGLang builds from its overlay sources: "
                    "see EXPERIMENTAL_LORA"),
    "string": ("string", None, "the name as a string, no call (__all__)"),
}

_W = "sglang/srt/layers/moe/flashinfer_trtllm_moe.py"
_M = "sglang/srt/layers/" + _R
_X = "sglang/srt/layers/quantization/mxfp4_flashinfer_trtllm_moe.py"
_I = "sglang/srt/layers/quantization/compressed_tensors/schemes/compressed_tensors_w4a4_mxint4_moe.py"
_FP4 = "trtllm_fp4_block_scale_moe"
_FP4R = "trtllm_fp4_block_scale_routed_moe"
# Every call and lookup site, keyed like PATHS: (file relative to site-packages, line, entry point,
# lookup kind, the name on that line).
SITES = {
    "flashinfer_trtllm fp8 per tensor": [
        (_W, 325, "trtllm_fp8_per_tensor_scale_moe", "local_from_fused_moe",
         "trtllm_fp8_per_tensor_scale_moe"),  # trtllm_fp8_per_tensor_scale_moe_wrapper, import L290
        (_W, 385, "trtllm_fp8_per_tensor_scale_routed_moe", "local_from_fused_moe",
         "trtllm_fp8_per_tensor_scale_routed_moe"),  # ..._routed_moe_out_wrapper, import L351
        (_M, 28, "trtllm_fp8_per_tensor_scale_moe", "module_import_wrapper", "trtllm_fp8_per_tensor_scale_moe_wrapper"),
        (_M, 29, "trtllm_fp8_per_tensor_scale_routed_moe", "module_import_wrapper",
         "trtllm_fp8_per_tensor_scale_routed_moe_out_wrapper"),
        (_M, 829, "trtllm_fp8_per_tensor_scale_routed_moe", "sglang_wrapper",
         "trtllm_fp8_per_tensor_scale_routed_moe_out_wrapper"),
        (_M, 845, "trtllm_fp8_per_tensor_scale_moe", "sglang_wrapper", "trtllm_fp8_per_tensor_scale_moe_wrapper"),
        # experimental_sgl_trtllm backend, per-tensor FP8: reaches flashinfer's own entry point
        ("sglang/srt/lora/trtllm_lora_temp/sgl_fp8_moe.py", 216, "trtllm_fp8_per_tensor_scale_moe", "sglang_wrapper",
         "trtllm_fp8_per_tensor_scale_moe_wrapper"),  # function-local import of the wrapper, L31-38
    ],
    "flashinfer_trtllm fp8 block / mxfp8": [
        (_W, 118, "trtllm_fp8_block_scale_moe", "local_from_fused_moe",
         "trtllm_fp8_block_scale_moe"),  # trtllm_fp8_block_scale_moe_out_wrapper, import L74
        (_W, 233, "trtllm_fp8_block_scale_routed_moe", "local_from_fused_moe",
         "trtllm_fp8_block_scale_routed_moe"),  # trtllm_fp8_block_scale_routed_moe_out_wrapper, import L189
        (_M, 26, "trtllm_fp8_block_scale_moe", "module_import_wrapper", "trtllm_fp8_block_scale_moe_out_wrapper"),
        (_M, 27, "trtllm_fp8_block_scale_routed_moe", "module_import_wrapper",
         "trtllm_fp8_block_scale_routed_moe_out_wrapper"),
        (_M, 1026, "trtllm_fp8_block_scale_routed_moe", "local_from_fused_moe",
         "trtllm_fp8_block_scale_routed_moe"),  # import L1010
        (_M, 1030, "trtllm_fp8_block_scale_routed_moe", "sglang_wrapper",
         "trtllm_fp8_block_scale_routed_moe_out_wrapper"),
        (_M, 1085, "trtllm_fp8_block_scale_moe", "local_from_fused_moe", "trtllm_fp8_block_scale_moe"),  # L1070
        (_M, 1089, "trtllm_fp8_block_scale_moe", "sglang_wrapper", "trtllm_fp8_block_scale_moe_out_wrapper"),
    ],
    "flashinfer_trtllm mxfp4": [
        (_M, 1220, _FP4R, "local_from_fused_moe", _FP4R),  # import L1208
        (_M, 1268, _FP4, "local_from_flashinfer", _FP4),  # from flashinfer import ... L1207
        (_M, 1306, _FP4, "local_from_flashinfer", _FP4),  # from flashinfer import ... L1304
    ],
    "Mxfp4FlashinferTrtllmMoEMethod mxfp4 (module-level import)": [
        (_X, 34, _FP4, "module_import", _FP4),
        (_X, 35, _FP4R, "module_import", _FP4R),
        (_X, 405, _FP4R, "module_bound_ref", _FP4R),  # moe_call = ... (standard top-k)
        (_X, 419, _FP4, "module_bound_ref", _FP4),  # moe_call = ... (bypassed top-k)
        (_X, 499, _FP4R, "module_bound", "moe_call"),
        (_X, 499, _FP4, "module_bound", "moe_call"),
    ],
    "flashinfer_trtllm nvfp4": [
        (_M, 1593, _FP4R, "local_from_fused_moe", _FP4R),  # import L1441-1443
        (_M, 1648, _FP4, "local_from_fused_moe", _FP4),  # import L1441-1443
    ],
    "flashinfer_trtllm bf16": [
        (_M, 1760, "trtllm_bf16_routed_moe", "local_from_fused_moe", "trtllm_bf16_routed_moe"),  # import L1699
        (_M, 1793, "trtllm_bf16_moe", "local_from_fused_moe", "trtllm_bf16_moe"),  # import L1707
    ],
    "compressed-tensors mxint4 (module-level import)": [
        (_I, 45, "trtllm_mxint4_block_scale_moe", "module_import", "trtllm_mxint4_block_scale_moe"),
        (_I, 341, "trtllm_mxint4_block_scale_moe", "module_bound", "trtllm_mxint4_block_scale_moe"),
    ],
    "Muse Spark nvfp4 (no tune passed)": [
        ("sglang/srt/layers/muse_spark/muse_spark_fp4_moe.py", 675, _FP4R, "local_from_fused_moe", _FP4R),  # L657
    ],
    "Muse Spark bf16": [
        ("sglang/srt/layers/muse_spark/muse_spark_bf16_moe.py", 453, "trtllm_bf16_routed_moe", "local_from_fused_moe",
         "trtllm_bf16_routed_moe"),  # import L439 (L64 is an availability check, no call)
    ],
}

# SGLang's experimental TRT-LLM LoRA MoE (MoE runner backend "experimental_sgl_trtllm", with
# SGLANG_EXPERIMENTAL_LORA_OPTI), NOT guardable: its block-scale FP8, BF16 and NVFP4 kernels never
# call flashinfer's public entry points (its per-tensor FP8 path, sgl_fp8_moe.py L216, and its no-LoRA
# delegation, sgl_backend.py, do reach flashinfer's: they are in SITES).
# sglang/kernels/ops/lora/moe/trtllm_lora_temp/core.py defines its own trtllm_fp8_block_scale_moe
# (L55) and trtllm_fp8_block_scale_routed_moe (L130), which call the compiled op
# `get_sgl_trtllm_moe_sm100_module().trtllm_fp8_block_scale_moe(...)` (L95, L168): a module built by
# flashinfer's private `flashinfer.fused_moe.core.get_trtllm_moe_sm100_module()` (L23) while
# `gen_trtllm_gen_fused_moe_sm100_module` is swapped for SGLang's JIT spec (L18-20); the LoRA kernels
# call the raw compiled ops `get_sgl_trtllm_moe_sm100_raw_module().sgl_trtllm_*_lora(...)` (L253, L300,
# L355, L449, L506). runtime.install() replaces the attributes of flashinfer's modules, which none of
# these calls reads, so the guard never sees them; and they run SGLang's overlay launcher and runner
# (trtllm_lora_temp/data/csrc, data/include/flashinfer/trtllm/fused_moe/runner.h), not flashinfer
# 0.7.2's, so the proved geometry is not known to apply. Every call of it: (file, line, name called).
_K = "sglang/kernels/ops/lora/moe/trtllm_lora_temp/"
_L = "sglang/srt/lora/trtllm_lora_temp/"
EXPERIMENTAL_LORA = [
    (_K + "core.py", 23, "get_trtllm_moe_sm100_module"),  # flashinfer's private builder
    (_K + "core.py", 253, "sgl_trtllm_fp8_block_scale_moe_lora"),
    (_K + "core.py", 300, "sgl_trtllm_fp8_block_scale_moe_lora_finalize"),
    (_K + "core.py", 355, "sgl_trtllm_bf16_routed_moe_lora"),
    (_K + "core.py", 449, "sgl_trtllm_fp4_block_scale_moe_lora"),
    (_K + "core.py", 506, "sgl_trtllm_fp4_block_scale_moe_lora_finalize"),
    (_L + "lora_dispatch.py", 88, "fused_experts_fp8_sgl"),  # FP8, no active LoRA
    (_L + "lora_dispatch.py", 179, "trtllm_fp8_block_scale_routed_moe_lora"),
    (_L + "lora_dispatch.py", 289, "trtllm_fp8_block_scale_moe_lora_finalize"),
    (_L + "lora_dispatch.py", 416, "trtllm_bf16_routed_moe_lora"),
    (_L + "lora_dispatch.py", 574, "trtllm_fp4_block_scale_routed_moe_lora"),
    (_L + "moe_overlap.py", 233, "trtllm_fp8_block_scale_routed_moe_lora"),
    (_L + "moe_overlap.py", 501, "trtllm_fp4_block_scale_routed_moe_lora"),
    (_L + "moe_overlap.py", 743, "trtllm_bf16_routed_moe_lora"),
    # sgl_trtllm_fp8_block_scale_[routed_]moe_wrapper (experimental_sgl_trtllm_moe.py), imported as
    # trtllm_fp8_block_scale_[routed_]moe_wrapper; they call the copies at L103/L203 (OTHER_SITES).
    (_L + "sgl_fp8_moe.py", 123, "trtllm_fp8_block_scale_routed_moe_wrapper"),
    (_L + "sgl_fp8_moe.py", 157, "trtllm_fp8_block_scale_moe_wrapper"),
]
# The names whose every call EXPERIMENTAL_LORA lists (tests/test_engine_maps.py scans for them).
EXPERIMENTAL_LORA_NAMES = (
    "get_trtllm_moe_sm100_module", "sgl_trtllm_fp8_block_scale_moe_lora",
    "sgl_trtllm_fp8_block_scale_moe_lora_finalize",
    "sgl_trtllm_bf16_routed_moe_lora", "sgl_trtllm_fp4_block_scale_moe_lora",
    "sgl_trtllm_fp4_block_scale_moe_lora_finalize", "fused_experts_fp8_sgl", "trtllm_fp8_block_scale_routed_moe_lora",
    "trtllm_fp8_block_scale_moe_lora_finalize", "trtllm_bf16_routed_moe_lora", "trtllm_fp4_block_scale_routed_moe_lora",
    "trtllm_fp4_block_scale_moe_lora_finalize", "sgl_trtllm_fp8_block_scale_moe_wrapper",
    "sgl_trtllm_fp8_block_scale_routed_moe_wrapper",
)
# Lines that name an entry point outside the PATHS: the experimental LoRA MoE's same-named copies.
OTHER_SITES = [
    (_K + "__init__.py", 9, "trtllm_fp8_block_scale_moe", "module_import_sglang_copy", "trtllm_fp8_block_scale_moe"),
    (_K + "__init__.py", 11, "trtllm_fp8_block_scale_routed_moe", "module_import_sglang_copy",
     "trtllm_fp8_block_scale_routed_moe"),
    (_K + "__init__.py", 20, "trtllm_fp8_block_scale_moe", "string", "trtllm_fp8_block_scale_moe"),
    (_K + "__init__.py", 21, "trtllm_fp8_block_scale_routed_moe", "string", "trtllm_fp8_block_scale_routed_moe"),
    (_K + "core.py", 95, "trtllm_fp8_block_scale_moe", "compiled_op", "trtllm_fp8_block_scale_moe"),
    (_K + "core.py", 168, "trtllm_fp8_block_scale_moe", "compiled_op", "trtllm_fp8_block_scale_moe"),
    (_L + "experimental_sgl_trtllm_moe.py", 103, "trtllm_fp8_block_scale_moe", "sglang_copy",
     "trtllm_fp8_block_scale_moe"),  # from sglang.kernels.ops.lora.moe.trtllm_lora_temp import ... L73
    (_L + "experimental_sgl_trtllm_moe.py", 203, "trtllm_fp8_block_scale_routed_moe", "sglang_copy",
     "trtllm_fp8_block_scale_routed_moe"),  # L171-173
]
# SGLang's own functions that reach an entry point when called (the scan looks for these too).
WRAPPERS = {
    "trtllm_fp8_block_scale_moe_out_wrapper": "trtllm_fp8_block_scale_moe",
    "trtllm_fp8_block_scale_routed_moe_out_wrapper": "trtllm_fp8_block_scale_routed_moe",
    "trtllm_fp8_per_tensor_scale_moe_wrapper": "trtllm_fp8_per_tensor_scale_moe",
    "trtllm_fp8_per_tensor_scale_routed_moe_out_wrapper": "trtllm_fp8_per_tensor_scale_routed_moe",
}
# The machine-readable list: every line of site-packages/sglang that calls, imports at module level,
# reads or names an entry point or a wrapper of one (tests/test_engine_maps.py checks it against the
# installed SGLang or its wheel). None of these paths chunks.
CALL_SITES = [row for rows in SITES.values() for row in rows] + OTHER_SITES
ENGINE = ("sglang", "0.5.23")
