"""Facts of fused_moe/*.py (0.2.8: fused_moe.py) read without importing it: the entry
points def trtllm_*_moe, the tune_max_num_tokens default (parsed with ast), where the tile
comes from up to 0.4.1 (the callers' tile_tokens_dim default, 0.4.1's
calculate_tile_tokens_dim), and whether the routed FP4 entry runs the routing metadata's
tile."""

from __future__ import annotations

import ast
import re

from ..facts import FUSED_MOE_CORE, LAUNCHER
from .folder import _Folder
from .found import Found, Missing
from .paths import FUSED_MOE_DIR, FUSED_MOE_MODULE

_ENTRY_DEF = re.compile(r"^def\s+(trtllm_\w+_moe)\s*\(", re.M)


def _entry_modules(folder: _Folder) -> list[str]:
    """fused_moe/*.py, or 0.2.8's single module fused_moe.py."""
    if not folder.exists(FUSED_MOE_DIR) and folder.exists(FUSED_MOE_MODULE):
        return [FUSED_MOE_MODULE]
    return folder.python_modules(FUSED_MOE_DIR)


def _entry_points(folder: _Folder) -> Found:
    names, unread = set(), []
    for path in _entry_modules(folder):
        try:
            names.update(_ENTRY_DEF.findall(folder.text(path)))
        except Missing as missing:
            unread.append(str(missing))
    if unread:
        raise Missing("; ".join(unread))
    return Found(frozenset(names), ", ".join(sorted(names)) or "none")


def _tune_max_default(folder: _Folder) -> Found:
    """The default of tune_max_num_tokens in every module-level entry point of core.py."""
    defaults = set()
    for node in folder.python(FUSED_MOE_CORE).body:
        if isinstance(node, ast.FunctionDef) and _ENTRY_DEF.match(f"def {node.name}("):
            defaults |= {d.value for a, d in _defaults(node) if a == "tune_max_num_tokens" and isinstance(d, ast.Constant)}
    if not defaults:
        raise Missing(f"{FUSED_MOE_CORE}: no entry point with a tune_max_num_tokens default")
    value = tuple(sorted(defaults))
    return Found(value, " / ".join(map(str, value)))


# 0.4.1: FP4 with tile_tokens_dim=None picks the tile in Python, up to 64 with bf16
# activations and 128 otherwise.
_CALLER_HEURISTIC = re.compile(
    r"calculate_tile_tokens_dim\(\s*num_tokens\s*,\s*num_experts\s*,\s*top_k\s*,\s*"
    r"max_tile_tokens_dim\s*=\s*(\d+)\s+if\s+dtype_act\s*==\s*DtypeTrtllmGen\.Bfloat16\s+else\s+(\d+)\s*,?\s*\)")


def _tile_source(folder: _Folder) -> Found:
    """Where the launch's tile comes from: C++ computeSelectedTileN ("launcher", 0.5.0+),
    or the caller's tile_tokens_dim, with its default in the entry points and 0.4.1's
    Python choice when the caller passes None."""
    launcher = folder.cpp(LAUNCHER)
    if launcher.definitions("computeSelectedTileN"):
        return Found(("launcher",), "C++ picks the tile (computeSelectedTileN)")
    if not re.search(r"\btile_tokens_dim\b", launcher.code):
        raise Missing(f"{LAUNCHER}: neither computeSelectedTileN nor a tile_tokens_dim parameter")
    defaults = set()
    for path in _entry_modules(folder):
        for node in folder.python(path).body:
            if isinstance(node, ast.FunctionDef) and _ENTRY_DEF.match(f"def {node.name}("):
                defaults |= {d.value for a, d in _defaults(node) if a == "tile_tokens_dim" and isinstance(d, ast.Constant)}
    integers = sorted(d for d in defaults if isinstance(d, int))
    if len(integers) != 1:
        raise Missing(f"entry points' tile_tokens_dim defaults are {sorted(map(repr, defaults))}, not one integer")
    heuristic = None
    if None in defaults:
        call = _CALLER_HEURISTIC.search(folder.text(FUSED_MOE_CORE))
        if call is None:
            raise Missing(f"{FUSED_MOE_CORE}: tile_tokens_dim=None without the calculate_tile_tokens_dim call modelled")
        heuristic = (int(call.group(1)), int(call.group(2)))
    value = ("caller", integers[0], heuristic)
    text = f"the caller's tile_tokens_dim (default {integers[0]})"
    if heuristic:
        text += f"; None: calculate_tile_tokens_dim, at most {heuristic[0]} (bf16 activations) or {heuristic[1]}"
    return Found(value, text)


def _defaults(node: ast.FunctionDef):
    positional = node.args.posonlyargs + node.args.args
    values = [None] * (len(positional) - len(node.args.defaults)) + node.args.defaults + node.args.kw_defaults
    return [(a.arg, d) for a, d in zip(positional + node.args.kwonlyargs, values) if d is not None]


def _routing_metadata_tile(folder: _Folder) -> Found:
    """0.7.4: the routed FP4 entry runs the routing metadata's tile (DABody(tile_n=routing_metadata.tile_n))."""
    found = bool(re.search(r"\btile_n\s*=\s*routing_metadata\.tile_n\b", folder.text(FUSED_MOE_CORE)))
    return Found(found, "runs routing_metadata.tile_n" if found else "no tile taken from routing metadata")
