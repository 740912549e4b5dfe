"""The twelve trtllm-gen fused MoE entry points, as data.

Trust: the recorded signatures (runtime/signatures.json, read from each release's own
fused_moe/*.py) for the parameter order and return convention, 0.7.2.post1's for
ENTRY_POINTS and the installed release's through `entry_for`; and
trtllm_fused_moe_kernel_launcher.cu for which launcher each reaches and which arguments
carry the token dimension. tests/test_runtime_signatures.py compares the parameter order
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

# The release whose recorded signatures the base entry points take (entry_for replaces them
# with the installed release's): the one vLLM 0.33.0 pins.
REFERENCE_RELEASE = "0.7.2.post1"


def _entry(name: str, launcher: str, routed: bool, scale_layout: str | None = None) -> EntryPoint:
    """An entry point with its parameter order and return convention as REFERENCE_RELEASE
    records them (runtime/signatures.json): stated once, in the data the recorder reads
    from flashinfer's own sources."""
    from .signatures import signature_for

    params, _, returns = signature_for(name, REFERENCE_RELEASE)
    if returns not in ("output", "[output]"):
        raise RuntimeError(f"{name}: {REFERENCE_RELEASE}'s recorded return convention is {returns!r}")
    return EntryPoint(name, params, launcher, routed, returns == "output", scale_layout)


# Which launcher each reaches and how its scale carries the token dimension: the launcher's
# sources (trtllm_fused_moe_kernel_launcher.cu), not the Python signatures.
ENTRY_POINTS: dict[str, EntryPoint] = {
    e.name: e
    for e in (
        _entry("trtllm_bf16_moe", "bf16", False),
        _entry("trtllm_bf16_routed_moe", "bf16", True),
        _entry("trtllm_fp8_per_tensor_scale_moe", "fp8_per_tensor", False),
        _entry("trtllm_fp8_per_tensor_scale_routed_moe", "fp8_per_tensor", True),
        _entry("trtllm_fp8_per_channel_scale_moe", "fp8_per_channel", False, "rows"),
        _entry("trtllm_fp8_per_channel_scale_routed_moe", "fp8_per_channel", True, "rows"),
        _entry("trtllm_fp8_block_scale_moe", "fp8_block", False, "fp8_block"),
        _entry("trtllm_fp8_block_scale_routed_moe", "fp8_block", True, "fp8_block"),
        _entry("trtllm_fp4_block_scale_moe", "fp4", False, "rows_or_flat"),
        _entry("trtllm_fp4_block_scale_routed_moe", "fp4", True, "rows_or_flat"),
        _entry("trtllm_mxint4_block_scale_moe", "mxint4", False),
        _entry("trtllm_mxint4_block_scale_routed_moe", "mxint4", True),
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
