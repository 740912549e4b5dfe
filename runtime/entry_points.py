"""The twelve trtllm-gen fused MoE entry points, as data.

Trust: flashinfer/fused_moe/core.py of 0.7.2.post1 for ENTRY_POINTS (parameter order,
return convention) and trtllm_fused_moe_kernel_launcher.cu (which launcher each reaches,
which arguments carry the token dimension); for other releases `entry_for` takes the
parameter order and return convention that release records (runtime/signatures.py, read
from its own sources). tests/test_runtime_signatures.py compares the parameter order
with the installed flashinfer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EntryPoint:
    name: str
    params: tuple[str, ...]
    launcher: str  # bf16 | fp8_per_tensor | fp8_per_channel | fp8_block | fp4 | mxint4
    routed: bool
    # True: `output` itself is returned when do_finalize and no LoRA delta (the deprecated
    # scalar return of the bf16 and fp8 entry points); False: `[output]`.
    scalar_return: bool
    # How hidden_states_scale carries the token dimension (None: no such argument).
    scale_layout: str | None = None
    index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "index", {p: i for i, p in enumerate(self.params)})

    @property
    def has_output(self) -> bool:
        return "output" in self.index

    def token_major(self) -> tuple[str, ...]:
        """Arguments whose leading dimension is the token dimension (when not None)."""
        names = ["topk_ids" if self.routed else "routing_logits", "hidden_states"]
        optional = ("hidden_states_scale", "per_token_scale", "gemm1_lora_delta", "output")
        return tuple(names + [n for n in optional if n in self.index])


# Scale layouts (launcher and core.py docstrings):
#   rows_or_flat : [M, H / vec] or the flat linear [M * H / vec] (FP4, MxFp8); swizzled rejected
#   fp8_block    : DeepSeekFp8 float32 [H / 128, M] (tokens are columns); MxFp8 uint8 rows_or_flat
#   rows         : [M, 1] per-token (FP8 per-channel)

_BF16 = (
    "routing_logits", "routing_bias", "hidden_states", "gemm1_weights", "gemm2_weights",
    "num_experts", "top_k", "n_group", "topk_group", "intermediate_size", "local_expert_offset",
    "local_num_experts", "routed_scaling_factor", "routing_method_type", "use_shuffled_weight",
    "weight_layout", "do_finalize", "enable_pdl", "tune_max_num_tokens", "activation_type",
    "norm_topk_prob", "routing_replay_out", "gemm1_alpha", "gemm1_beta", "gemm1_clamp_limit", "output",
)
_BF16_ROUTED = (
    "topk_ids", "hidden_states", "gemm1_weights", "gemm2_weights", "num_experts", "top_k",
    "n_group", "topk_group", "intermediate_size", "local_expert_offset", "local_num_experts",
    "routed_scaling_factor", "routing_method_type", "use_shuffled_weight", "weight_layout",
    "do_finalize", "enable_pdl", "gemm1_lora_delta", "tune_max_num_tokens", "activation_type",
    "routing_replay_out", "gemm1_alpha", "gemm1_beta", "gemm1_clamp_limit", "output",
)
_FP8_PER_TENSOR = (
    "routing_logits", "routing_bias", "hidden_states", "gemm1_weights", "output1_scales_scalar",
    "output1_scales_gate_scalar", "gemm2_weights", "output2_scales_scalar", "num_experts", "top_k",
    "n_group", "topk_group", "intermediate_size", "local_expert_offset", "local_num_experts",
    "routed_scaling_factor", "use_routing_scales_on_input", "routing_method_type", "do_finalize",
    "enable_pdl", "tune_max_num_tokens", "activation_type", "norm_topk_prob", "routing_replay_out",
    "output", "gemm1_clamp_limit",
)
_FP8_PER_TENSOR_ROUTED = (
    "topk_ids", "routing_bias", "hidden_states", "gemm1_weights", "output1_scales_scalar",
    "output1_scales_gate_scalar", "gemm2_weights", "output2_scales_scalar", "num_experts", "top_k",
    "n_group", "topk_group", "intermediate_size", "local_expert_offset", "local_num_experts",
    "routed_scaling_factor", "use_routing_scales_on_input", "routing_method_type", "do_finalize",
    "enable_pdl", "tune_max_num_tokens", "activation_type", "routing_replay_out", "output",
    "gemm1_clamp_limit",
)
_FP8_PER_CHANNEL = (
    "routing_logits", "routing_bias", "hidden_states", "hidden_states_scale", "gemm1_weights",
    "gemm1_per_channel_weight_scale", "output1_scale_scalar", "output1_scale_gate_scalar",
    "gemm2_weights", "gemm2_per_channel_weight_scale", "output2_scale_scalar", "num_experts",
    "top_k", "n_group", "topk_group", "intermediate_size", "local_expert_offset",
    "local_num_experts", "routed_scaling_factor", "use_routing_scales_on_input",
    "routing_method_type", "do_finalize", "enable_pdl", "tune_max_num_tokens", "activation_type",
    "norm_topk_prob",
)
_FP8_PER_CHANNEL_ROUTED = ("topk_ids",) + _FP8_PER_CHANNEL[1:-1]
_FP8_BLOCK = (
    "routing_logits", "routing_bias", "hidden_states", "hidden_states_scale", "gemm1_weights",
    "gemm1_weights_scale", "gemm2_weights", "gemm2_weights_scale", "num_experts", "top_k",
    "n_group", "topk_group", "intermediate_size", "local_expert_offset", "local_num_experts",
    "routed_scaling_factor", "routing_method_type", "use_shuffled_weight", "weight_layout",
    "do_finalize", "enable_pdl", "tune_max_num_tokens", "fp8_quantization_type",
    "num_fused_shared_experts", "activation_type", "norm_topk_prob", "routing_replay_out",
    "gemm1_alpha", "gemm1_beta", "gemm1_clamp_limit", "output", "valid_hidden_size",
    "valid_intermediate_size", "gemm1_bias", "gemm2_bias",
)
_FP8_BLOCK_ROUTED = (
    "topk_ids", "routing_bias", "hidden_states", "hidden_states_scale", "gemm1_weights",
    "gemm1_weights_scale", "gemm2_weights", "gemm2_weights_scale", "num_experts", "top_k",
    "n_group", "topk_group", "intermediate_size", "local_expert_offset", "local_num_experts",
    "routed_scaling_factor", "routing_method_type", "use_shuffled_weight", "weight_layout",
    "do_finalize", "enable_pdl", "gemm1_lora_delta", "output", "tune_max_num_tokens",
    "fp8_quantization_type", "activation_type", "gemm1_alpha", "gemm1_beta", "gemm1_clamp_limit",
    "valid_hidden_size", "valid_intermediate_size",
)
_FP4 = (
    "routing_logits", "routing_bias", "hidden_states", "hidden_states_scale", "gemm1_weights",
    "gemm1_weights_scale", "gemm1_bias", "gemm1_alpha", "gemm1_beta", "gemm1_clamp_limit",
    "gemm2_weights", "gemm2_weights_scale", "gemm2_bias", "output1_scale_scalar",
    "output1_scale_gate_scalar", "output2_scale_scalar", "num_experts", "top_k", "n_group",
    "topk_group", "intermediate_size", "local_expert_offset", "local_num_experts",
    "routed_scaling_factor", "routing_method_type", "do_finalize", "enable_pdl", "activation_type",
    "per_token_scale", "output", "tune_max_num_tokens", "norm_topk_prob", "routing_replay_out",
    "num_fused_shared_experts", "valid_hidden_size", "valid_intermediate_size",
    "hidden_states_scale_layout",
)
_FP4_ROUTED = (
    "topk_ids", "routing_bias", "hidden_states", "hidden_states_scale", "gemm1_weights",
    "gemm1_weights_scale", "gemm1_bias", "gemm1_alpha", "gemm1_beta", "gemm1_clamp_limit",
    "gemm2_weights", "gemm2_weights_scale", "gemm2_bias", "output1_scale_scalar",
    "output1_scale_gate_scalar", "output2_scale_scalar", "num_experts", "top_k", "n_group",
    "topk_group", "intermediate_size", "local_expert_offset", "local_num_experts",
    "routed_scaling_factor", "routing_method_type", "do_finalize", "enable_pdl", "activation_type",
    "per_token_scale", "output", "tune_max_num_tokens", "gemm1_lora_delta", "valid_hidden_size",
    "valid_intermediate_size", "num_fused_shared_experts", "hidden_states_scale_layout",
)
_MXINT4 = (
    "routing_logits", "routing_bias", "hidden_states", "gemm1_weights", "gemm1_weights_scale",
    "gemm1_alpha", "gemm1_beta", "gemm1_clamp_limit", "gemm2_weights", "gemm2_weights_scale",
    "num_experts", "top_k", "n_group", "topk_group", "intermediate_size", "local_expert_offset",
    "local_num_experts", "routed_scaling_factor", "routing_method_type", "do_finalize",
    "enable_pdl", "output", "tune_max_num_tokens", "norm_topk_prob", "routing_replay_out",
    "valid_hidden_size", "valid_intermediate_size",
)
_MXINT4_ROUTED = (
    "topk_ids", "hidden_states", "gemm1_weights", "gemm1_weights_scale", "gemm1_alpha",
    "gemm1_beta", "gemm1_clamp_limit", "gemm2_weights", "gemm2_weights_scale", "num_experts",
    "top_k", "n_group", "topk_group", "intermediate_size", "local_expert_offset",
    "local_num_experts", "routed_scaling_factor", "routing_method_type", "do_finalize",
    "enable_pdl", "gemm1_lora_delta", "output", "tune_max_num_tokens", "valid_hidden_size",
    "valid_intermediate_size",
)

ENTRY_POINTS: dict[str, EntryPoint] = {
    e.name: e
    for e in (
        EntryPoint("trtllm_bf16_moe", _BF16, "bf16", False, True),
        EntryPoint("trtllm_bf16_routed_moe", _BF16_ROUTED, "bf16", True, True),
        EntryPoint("trtllm_fp8_per_tensor_scale_moe", _FP8_PER_TENSOR, "fp8_per_tensor", False, True),
        EntryPoint("trtllm_fp8_per_tensor_scale_routed_moe", _FP8_PER_TENSOR_ROUTED, "fp8_per_tensor", True, True),
        EntryPoint("trtllm_fp8_per_channel_scale_moe", _FP8_PER_CHANNEL, "fp8_per_channel", False, True, "rows"),
        EntryPoint("trtllm_fp8_per_channel_scale_routed_moe", _FP8_PER_CHANNEL_ROUTED, "fp8_per_channel", True, True, "rows"),
        EntryPoint("trtllm_fp8_block_scale_moe", _FP8_BLOCK, "fp8_block", False, True, "fp8_block"),
        EntryPoint("trtllm_fp8_block_scale_routed_moe", _FP8_BLOCK_ROUTED, "fp8_block", True, True, "fp8_block"),
        EntryPoint("trtllm_fp4_block_scale_moe", _FP4, "fp4", False, False, "rows_or_flat"),
        EntryPoint("trtllm_fp4_block_scale_routed_moe", _FP4_ROUTED, "fp4", True, False, "rows_or_flat"),
        EntryPoint("trtllm_mxint4_block_scale_moe", _MXINT4, "mxint4", False, False),
        EntryPoint("trtllm_mxint4_block_scale_routed_moe", _MXINT4_ROUTED, "mxint4", True, False),
    )
}


def first_release_with(name: str) -> str | None:
    from boundcheck.releases import ERAS

    return next((era.first for era in ERAS if name in era.entry_points), None)


def _recorded(name: str, release):
    """(params, defaults, returns) as `release` records them; an unmodeled newer release
    takes the newest modeled record (the guard still checks the callable's own order), an
    adopted one its era's newest (`adopt` found its signatures equal to those)."""
    from .signatures import signature_for

    stand_in = release.fallback or getattr(release, "adoption", None) is not None
    return signature_for(name, release.era.last if stand_in else release.version)


def entry_for(name: str, release) -> EntryPoint:
    """The entry point as `release` defines it: its parameter order from the release's
    recorded signature (runtime.signatures). A release without the entry point is an
    error naming the first release that has it. An unmodeled newer release uses the
    newest modeled signature (the guard then checks the callable's own order on binding)."""
    from boundcheck.errors import BoundcheckInputError

    era = release.era
    if name not in era.entry_points:
        raise BoundcheckInputError(
            "entry_point",
            f"flashinfer {release.version} has no {name}; it exists from flashinfer {first_release_with(name)} "
            f"(this release has {', '.join(sorted(era.entry_points))})",
        )
    recorded = _recorded(name, release)
    base = ENTRY_POINTS[name]
    if recorded is None:
        return base
    params, _, returns = recorded
    scalar = {"output": True, "[output]": False}.get(returns, base.scalar_return)
    if tuple(params) == base.params and scalar == base.scalar_return:
        return base
    return dataclasses.replace(base, params=tuple(params), scalar_return=scalar)


# The enum defaults the entry points use, by value (flashinfer/tllm_enums.py): the guard
# reads them only to infer the precision, never passes them on.
ENUM_DEFAULTS = {
    "ActivationType.Swiglu.value": 3,
    "Fp8QuantizationType.DeepSeekFp8": 1,
    "WeightLayout.BlockMajorK": 2,
}


def recorded_defaults(name: str, release) -> dict:
    """The entry point's defaults in `release`: literals, and the enum values above."""
    from .signatures import Expr

    recorded = _recorded(name, release)
    if recorded is None:
        return {}
    out = {}
    for key, value in recorded[1].items():
        if isinstance(value, Expr):
            if value.source in ENUM_DEFAULTS:
                out[key] = ENUM_DEFAULTS[value.source]
        else:
            out[key] = value
    return out
