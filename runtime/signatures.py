"""The trtllm-gen fused MoE entry points' signatures in every modeled flashinfer release:
the one reader of runtime/signatures.json.

The data is written by `python tools/record_signatures.py` from each release's
flashinfer/fused_moe/*.py (parsed with ast; flashinfer is never imported or run), never by
hand; tests/test_signatures_data.py checks that a rerun reproduces it. Its form:

    "versions":   the releases recorded, in boundcheck.releases.MODELED_VERSIONS order
    "signatures": name -> [[first_version, last_version, params, defaults, returns], ...]
                  over runs of consecutive releases whose records are identical:
                  params    parameter names in order, as inspect.signature lists them
                  defaults  parameter -> default: a JSON literal, or {"expr": source text}
                            for anything else (read as Expr("ActivationType.Swiglu.value"))
                  returns   what a call with do_finalize=True and no gemm1_lora_delta
                            returns: "output" (the tensor), "[output]" (a one-element list)
                            or "unknown" (not readable from the Python sources)
    "structure":  name -> [[first_version, last_version, structure, module], ...]: the
                  positional-only / *args / keyword-only / **kwargs parameters and the
                  module the definition was read from.

An entry point absent from a release has no group there. Read once, at import: the
guard's per-call path never touches it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .default_expr import Expr

DATA = Path(__file__).with_name("signatures.json")


def _default(value):
    return Expr(value["expr"]) if isinstance(value, dict) else value


def _load(path: Path = DATA):
    raw = json.loads(path.read_text(encoding="utf-8"))
    signatures = {name: [(first, last, tuple(params), {k: _default(v) for k, v in defaults.items()}, returns)
                         for first, last, params, defaults, returns in groups]
                  for name, groups in raw["signatures"].items()}
    structure = {name: [(first, last, {k: tuple(v) if isinstance(v, list) else v for k, v in shape.items()}, module)
                        for first, last, shape, module in groups]
                 for name, groups in raw["structure"].items()}
    return tuple(raw["versions"]), signatures, structure


VERSIONS, SIGNATURES, STRUCTURE = _load()


def _group(groups, version: str):
    from boundcheck.releases import MODELED_VERSIONS

    if version not in MODELED_VERSIONS:
        raise ValueError(f"flashinfer {version!r} is not a modeled release ({', '.join(MODELED_VERSIONS)})")
    index = MODELED_VERSIONS.index(version)
    for group in groups:
        if MODELED_VERSIONS.index(group[0]) <= index <= MODELED_VERSIONS.index(group[1]):
            return group
    return None


def signature_for(name: str, version: str):
    """(params, defaults, returns) of entry point `name` in release `version`; None when
    that release has no such entry point. ValueError for a release that is not modeled."""
    group = _group(SIGNATURES.get(name, ()), version)
    return None if group is None else (group[2], dict(group[3]), group[4])


def structure_for(name: str, version: str):
    """(structure, module) of entry point `name` in release `version`, or None."""
    group = _group(STRUCTURE.get(name, ()), version)
    return None if group is None else (dict(group[2]), group[3])
