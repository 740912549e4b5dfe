"""flashinfer's distribution-aware autotuning switch, read the way flashinfer reads it.

Trust: fused_moe/da_config.py of 0.6.18 - 0.7.4 (`is_trtllm_da_enabled`): the variable
FLASHINFER_DIST_AWARE_AUTOTUNE is on unless unset or one of "", "0", "false", "no",
"off", "none" (case and surrounding blanks ignored). flashinfer reads it on every call, so
the guard does too, on its slow path only (the fast path's bound holds for every tile).
With the switch on, the tuner's plans may name any supported tile, so the guard's default
policy becomes `any`; a policy the caller passed explicitly is kept.
"""

from __future__ import annotations

import os

VARIABLE = "FLASHINFER_DIST_AWARE_AUTOTUNE"
_FALSE_VALUES = frozenset({"", "0", "false", "no", "off", "none"})


def dist_aware_autotune_on(era) -> bool:
    if not era.dist_aware_switch:
        return False  # releases before 0.6.18 have no such switch
    value = os.getenv(VARIABLE)
    return value is not None and value.strip().lower() not in _FALSE_VALUES


def default_policy(era) -> str:
    return "any" if dist_aware_autotune_on(era) else "flashinfer"
