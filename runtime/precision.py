"""Which tile set a call runs, inferred from its arguments as the launcher infers it.

Trust: trtllm_fused_moe_kernel_launcher.cu of flashinfer 0.7.2.post1 (the dtype
deduction in trtllm_fp4_block_scale_moe and the fp8 block-scale quantization types, the
same in every modeled release) and the release's era (boundcheck.releases: which FP4
dtype pairs get 192 and 256, and 0.6.18's per-token exception). When the inference is in
doubt (a scale that is not a tensor, an activation_type that is not an int) it answers the
precision with the smaller tile set; it never raises for such arguments (the guard has
checked the counts and fp8_quantization_type before).
"""

from __future__ import annotations

from boundcheck.releases import BFLOAT16, E2M1, E4M3, MX_E2M1, MX_E4M3, fp4_launcher_tiles

# runner.h isGatedActivation: Swiglu, Geglu, SwigluBias, SwigluStep, GegluTanh, Situ.
GATED_ACTIVATIONS = frozenset({3, 4, 5, 7, 8, 10})
# tllm_enums.Fp8QuantizationType.MxFp8
FP8_QUANTIZATION_MXFP8 = 2

_FP4_NAMES = {(E2M1, E2M1): "nvfp4", (MX_E4M3, MX_E2M1): "mxfp4_mxfp8", (BFLOAT16, None): "mxfp4_bf16"}
_FP4_ORDER = ("mxfp4_bf16", "nvfp4_per_token", "nvfp4", "mxfp4_mxfp8")


def _dtype_name(tensor) -> str:
    return str(tensor.dtype).replace("torch.", "")


def hidden_size(hidden_states) -> int:
    """The launcher's hidden_size: two FP4 values per byte of packed (uint8) states."""
    return hidden_states.shape[1] * (2 if _dtype_name(hidden_states) == "uint8" else 1)


def _numel(value):
    """value.numel() for a tensor; None for anything else."""
    try:
        count = value.numel()
    except (AttributeError, TypeError):
        return None
    return count if isinstance(count, int) else None


def fp4_dtypes(arguments: dict) -> tuple[str, str]:
    """(dtype_act, dtype_weights) exactly as trtllm_fp4_block_scale_moe deduces them; None
    for one it cannot tell (an argument that is not a tensor, an unknown activation)."""
    hidden = arguments["hidden_states"]
    scale = arguments.get("hidden_states_scale")
    num_tokens = hidden.shape[0]
    width = hidden_size(hidden)
    scale_count = None if scale is None else _numel(scale)
    act_vec = (num_tokens * width) // scale_count if scale_count else -1
    kind = _dtype_name(hidden)
    if kind == "uint8":
        act = {16: E2M1, 32: MX_E2M1}.get(act_vec)
    elif kind == "float8_e4m3fn":
        act = (MX_E4M3 if act_vec == 32 else None) if scale is not None else E4M3
    else:
        act = BFLOAT16
    activation = arguments.get("activation_type", 3)
    if isinstance(activation, bool) or not isinstance(activation, int):
        return act, None  # not an ActivationType: no pair, the smaller tile set
    shared = arguments.get("num_fused_shared_experts") or 0
    factor = 2 if activation in GATED_ACTIVATIONS else 1
    logical = (arguments["local_num_experts"] + shared) * arguments["intermediate_size"] * factor * width
    weight_count = _numel(arguments.get("gemm1_weights_scale"))
    if not weight_count:
        return act, None  # unknown weights pair with no activation: no 192 tile
    raw = logical // weight_count
    weights = MX_E2M1 if raw > 16 else E2M1
    return act, weights


def infer_precision(entry, arguments: dict, era) -> str:
    """The precision name whose tile set the launcher of this call runs in `era`."""
    return infer(entry, arguments, era)[0]


def infer(entry, arguments: dict, era) -> tuple[str, str]:
    """(precision, the precision whose empirical cap applies): the precision names the
    tile set; the cap follows the kernels. FP4 calls with NVFP4 activations (E2M1, E4M3
    scale factors of 16 elements) are capped as NVFP4 (or NVFP4 per-token) whatever
    weights they pair with: the cap's suspected cause is the activations' scale-factor
    offset (boundcheck.caps)."""
    launcher = entry.launcher
    if launcher in ("bf16", "fp8_per_tensor", "fp8_per_channel", "mxint4"):
        return launcher, launcher
    if launcher == "fp8_block":
        mxfp8 = int(arguments.get("fp8_quantization_type", 1)) == FP8_QUANTIZATION_MXFP8
        name = "mxfp8" if mxfp8 and "mxfp8" in era.tiles else "fp8_block"
        return name, name
    act, weights = fp4_dtypes(arguments)
    per_token = arguments.get("per_token_scale") is not None
    named = _infer_fp4(act, weights, per_token, era)
    if act == E2M1 and not era.tile_source.from_caller:
        return named, "nvfp4_per_token" if per_token else "nvfp4"
    return named, named


def _infer_fp4(act, weights, per_token, era) -> str:
    if act is None:
        # A scale the launcher would reject: assume the set with the smallest bound, the
        # bf16-activation one (every other FP4 set adds larger tiles to it).
        act = BFLOAT16
    if era.tile_source.from_caller:
        # Up to 0.4.1 the FP4 tiles differ only by whether the activations are bf16
        # (0.4.1's max_tile_tokens_dim 64 or 128; 0.2.9 has NVFP4 alone).
        return "mxfp4_bf16" if act == BFLOAT16 and "mxfp4_bf16" in era.tiles else "nvfp4"
    named = _FP4_NAMES.get((act, weights)) or _FP4_NAMES.get((act, None))
    if named == "nvfp4" and per_token:
        named = "nvfp4_per_token"
    if named is not None:
        return named
    # Other pairings (MxE2m1 or E4m3 activations, mixed NVFP4/MX) run the tiles the era's
    # rule gives them; name the precision with that tile set.
    # (The bound depends on the tile set alone; any precision with this set will do.)
    tiles = fp4_launcher_tiles(era.fp4, act, weights, per_token)
    for name in _FP4_ORDER + tuple(era.tiles):
        if era.tiles.get(name) == tiles:
            return name
    return "mxfp4_bf16"  # no precision has this set: the FP4 set with the fewest tiles
