"""Facts of fused_moe/*.py read without importing it: the entry points def trtllm_*_moe,
the tune_max_num_tokens default (parsed with ast), and whether the routed FP4 entry runs
the routing metadata's tile."""

from __future__ import annotations

import ast
import re

from ..facts import FUSED_MOE_CORE
from .folder import _Folder
from .found import Found, Missing
from .paths import FUSED_MOE_DIR

_ENTRY_DEF = re.compile(r"^def\s+(trtllm_\w+_moe)\s*\(", re.M)


def _entry_points(folder: _Folder) -> Found:
    names, unread = set(), []
    for path in folder.python_modules(FUSED_MOE_DIR):
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
            positional = node.args.posonlyargs + node.args.args
            arguments = positional + node.args.kwonlyargs
            values = [None] * (len(positional) - len(node.args.defaults)) + node.args.defaults + node.args.kw_defaults
            for argument, default in zip(arguments, values):
                if argument.arg == "tune_max_num_tokens" and isinstance(default, ast.Constant):
                    defaults.add(default.value)
    if not defaults:
        raise Missing(f"{FUSED_MOE_CORE}: no entry point with a tune_max_num_tokens default")
    value = tuple(sorted(defaults))
    return Found(value, " / ".join(map(str, value)))


def _routing_metadata_tile(folder: _Folder) -> Found:
    """0.7.4: the routed FP4 entry runs the routing metadata's tile (DABody(tile_n=routing_metadata.tile_n))."""
    found = bool(re.search(r"\btile_n\s*=\s*routing_metadata\.tile_n\b", folder.text(FUSED_MOE_CORE)))
    return Found(found, "runs routing_metadata.tile_n" if found else "no tile taken from routing metadata")
