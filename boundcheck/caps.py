"""Empirical caps, applied on top of the proven bound, with where each comes from.

Trust: reports, not proofs. A cap here is a failure someone observed below the grid
bound, cause not established; the guard never chunks above min(proven bound, cap).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import BoundcheckInputError
from .releases import E2M1, FP4_PRECISIONS

ENVIRONMENT_VARIABLE = "BOUNDCHECK_MAX_CHUNK_TOKENS"


@dataclass(frozen=True)
class Cap:
    tokens: int
    provenance: str


_NVFP4 = Cap(
    300_000,
    "vLLM PR #43599: illegal memory access from 305k tokens on Nemotron 3 Super "
    "(512 experts, top_k 22) with grid.y near 52,900; cause not established "
    "(an int32 scale-factor offset is suspected: 2^31 / (22 * 320) ~ 305,040)",
)
# The precisions that run the NVFP4 kernels: E2M1 activations with E4M3 scale factors of
# 16 elements, the buffers the suspected int32 offset indexes (releases.FP4_PRECISIONS;
# per-token scaling adds a factor per token and keeps them). The cap applies to each.
NVFP4_PRECISIONS = tuple(name for name, (activations, _, _) in FP4_PRECISIONS.items() if activations == E2M1)

CAPS: dict[str, Cap] = {
    name: _NVFP4 if name == "nvfp4" else Cap(
        _NVFP4.tokens,
        f"the nvfp4 cap: {name} runs the same NVFP4 kernels and activation scale factors; " + _NVFP4.provenance,
    )
    for name in NVFP4_PRECISIONS
}

# What a caller passes for "use the table (or the environment variable)".
DEFAULT = object()


def parse_cap(value, argument: str):
    """A cap from text (the environment, the command line): digits, or 'none' for no cap."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    return strict_cap(value, argument, text=True)


def strict_cap(value, argument: str, text: bool = False):
    """A cap from code: a positive int, or None for no cap. A string is refused rather
    than parsed, so that a cap is never honoured on one path and ignored on another."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        expected = "a positive integer or 'none'" if text else "a positive int or None"
        raise BoundcheckInputError(argument, f"must be {expected}, got {value!r}")
    return value


def cap_for(precision: str, override=DEFAULT) -> tuple[int | None, str]:
    """(cap, why) for a precision: an explicit override, else the environment, else the table."""
    if override is not DEFAULT:
        cap = parse_cap(override, "cap")
        return cap, "set by the caller" if cap is not None else "removed by the caller"
    if ENVIRONMENT_VARIABLE in os.environ:
        cap = parse_cap(os.environ[ENVIRONMENT_VARIABLE], ENVIRONMENT_VARIABLE)
        return cap, f"set by {ENVIRONMENT_VARIABLE}"
    entry = CAPS.get(precision)
    return (entry.tokens, entry.provenance) if entry else (None, "no cap recorded for this precision")
