"""Each precision's tile set, read from the launcher file: the launcher class's
getSupportedTileNums (run by the tile program on the precision's dtypes) or its
mSupportedTileNums array, or the inline set of the entry function before 0.5.3; and which
precisions have a launcher at all (MxFp8, the FP4 dtype pairs the FP4 entry deduces)."""

from __future__ import annotations

import re

from ..facts import LAUNCHER
from ..releases import FP4_PRECISIONS
from .cxx import _class_arrays, _Cpp
from .folder import _Folder
from .found import Found, Missing
from .launcher import _entry_definitions
from .tile_program import _function_tiles, _inline_tiles

_FP4_ENTRY = "trtllm_fp4_block_scale_moe"
# The precisions with one array of tiles: launcher class (0.5.3+) and inline entry (before).
_PLAIN_LAUNCHERS = {
    "bf16": ("Bf16MoeLauncher", None),
    "fp8_per_tensor": ("Fp8PerTensorLauncher", "trtllm_fp8_per_tensor_scale_moe"),
    "fp8_per_channel": ("Fp8PerChannelLauncher", None),
    "fp8_block": ("Fp8BlockScaleLauncher", "trtllm_fp8_block_scale_moe"),
    "mxint4": ("MxInt4BlockScaleLauncher", None),
}


def _class_tiles(launcher: _Cpp, cls: str, env: dict) -> tuple[int, ...] | None:
    """A launcher class's tiles for `env`: its getSupportedTileNums when it has one, else
    its mSupportedTileNums array; None when the class does not exist."""
    span = launcher.class_span(cls)
    if span is None:
        return None
    arrays = _class_arrays(launcher.code[span[0]:span[1]])
    functions = launcher.definitions("getSupportedTileNums", *span)
    if functions:
        return _function_tiles(functions[0], arrays, env)
    if "mSupportedTileNums" not in arrays:
        raise Missing(f"{cls} has neither getSupportedTileNums nor mSupportedTileNums")
    return arrays["mSupportedTileNums"]


def _has_mxfp8(launcher: _Cpp) -> bool:
    """0.6.4+: Fp8BlockScaleLauncher::getSupportedTileNums(Fp8QuantizationType) and the
    enum's MxFp8 make MxFp8 a precision of the block-scale launcher."""
    enum = re.search(r"enum\s+class\s+Fp8QuantizationType\s*\{([^}]*)\}", launcher.code)
    span = launcher.class_span("Fp8BlockScaleLauncher")
    if enum is None or span is None or not re.search(r"\bMxFp8\b", enum.group(1)):
        return False
    return any("Fp8QuantizationType" in d.params for d in launcher.definitions("getSupportedTileNums", *span))


def _fp4_dtypes(entry_body: str) -> tuple[set, set]:
    """The activation and weight dtypes the FP4 entry can deduce (every btg::Dtype it
    assigns to mDtypeAct / mDtypeWeights)."""
    deduced = {"Act": set(), "Weights": set()}
    for m in re.finditer(r"\bmDtype(Act|Weights)\s*(?:=(?!=)|\{)([^;]*);", entry_body):
        deduced[m.group(1)].update(re.findall(r"btg::Dtype::(\w+)", m.group(2)))
    return deduced["Act"], deduced["Weights"]


def _fp4_env(precision: str) -> dict:
    act, weights, per_token = FP4_PRECISIONS[precision]
    return {"dtype_act": act, "mDtypeAct": act, "dtype_weights": weights, "mDtypeWeights": weights,
            "use_per_token_scaling": per_token}


def _tile_sets(folder: _Folder) -> tuple[dict, dict]:
    """(precision -> Found | Missing of its tiles, precision -> whether its launcher exists)."""
    launcher = folder.cpp(LAUNCHER)
    entries = _entry_definitions(launcher)
    tiles, exists = {}, {}

    def record(precision, compute):
        try:
            value = compute()
        except Missing as missing:  # the launcher is there, its tiles could not be read
            exists[precision], tiles[precision] = True, Missing(f"{LAUNCHER}: {missing}")
            return
        exists[precision] = value is not None
        tiles[precision] = (Missing(f"{LAUNCHER}: no launcher for {precision}") if value is None
                            else Found(tuple(value), str(tuple(value))))

    def plain(cls, inline_entry):
        value = _class_tiles(launcher, cls, {"quantization_type": "DeepSeekFp8"})
        if value is None and inline_entry in entries:
            value = _inline_tiles(entries[inline_entry].body, {})
        return value

    for precision, (cls, inline_entry) in _PLAIN_LAUNCHERS.items():
        record(precision, lambda cls=cls, inline_entry=inline_entry: plain(cls, inline_entry))
    if _has_mxfp8(launcher):
        record("mxfp8", lambda: _class_tiles(launcher, "Fp8BlockScaleLauncher", {"quantization_type": "MxFp8"}))
    else:
        exists["mxfp8"], tiles["mxfp8"] = False, Missing(f"{LAUNCHER}: Fp8BlockScaleLauncher has no MxFp8 tile set")

    def fp4(env):
        value = _class_tiles(launcher, "FP4BlockScaleLauncher", env)
        return _inline_tiles(entries[_FP4_ENTRY].body, env) if value is None else value

    acts, weights = _fp4_dtypes(entries[_FP4_ENTRY].body) if _FP4_ENTRY in entries else (set(), set())
    for precision, (act, weight, _) in FP4_PRECISIONS.items():
        if act in acts and weight in weights:
            record(precision, lambda env=_fp4_env(precision): fp4(env))
        else:
            exists[precision] = False
            tiles[precision] = Missing(f"{LAUNCHER}: {_FP4_ENTRY} deduces no ({act} act, {weight} weights)")
    return tiles, exists
