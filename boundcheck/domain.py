"""The configurations boundcheck models, proves and accepts, and their checks.

The proofs quantify over exactly these ranges (proofs/domain.py builds its solver
constraints from the same constants), so an input accepted here is one the proofs cover.
"""

from __future__ import annotations

from . import facts
from .errors import BoundcheckInputError
from .releases import ALL_PRECISIONS

MAX_EXPERTS = facts.MAX_EXPERTS
MAX_TOP_K = facts.MAX_TOP_K
MAX_SHARED_EXPERTS = facts.MAX_FUSED_SHARED_EXPERTS
MAX_TUNE_MAX_NUM_TOKENS = facts.INT32_MAX
# The Y cluster sizes proven: 1 (no clustering along the token dimension) and 2 (a
# CTA pair, as Blackwell's 2-CTA MMA kernels launch).
CLUSTER_Y_SIZES = (1, 2)


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int):
        raise BoundcheckInputError(name, f"must be an integer, got {value!r}")
    if value < low or value > high:
        raise BoundcheckInputError(name, f"must be in [{low}, {high}], got {value}")
    return value


def launcher_of(precision: str) -> str:
    """The launcher class a precision runs on (the unit of a release's entry points)."""
    if precision.startswith(("nvfp4", "mxfp4")):
        return "fp4"
    if precision in ("fp8_block", "mxfp8"):
        return "fp8_block"
    return precision


def limits(era, precision: str) -> tuple[int, int, int]:
    """(largest num_experts, largest top_k, most fused shared experts) that release `era`
    accepts for `precision`: the routing kernels' limits within the proven domain, and
    shared experts only on launchers that take them. The proofs quantify over exactly
    these (proofs/domain.py), the CLI and the guard reject anything else."""
    return (
        min(MAX_EXPERTS, era.routing.max_experts),
        min(MAX_TOP_K, era.routing.max_top_k),
        MAX_SHARED_EXPERTS if launcher_of(precision) in era.shared_experts else 0,
    )


def check_configuration(
    num_experts,
    top_k,
    *,
    era,
    precision="nvfp4",
    local_experts=None,
    shared_experts=0,
    tune_max_num_tokens=facts.DEFAULT_TUNE_MAX_NUM_TOKENS,
    cluster_y=1,
):
    """Raise BoundcheckInputError naming the first argument outside the proven domain or
    outside what the release `era` accepts."""
    release = f"flashinfer {era.span} ({era.name})"
    if precision not in ALL_PRECISIONS:
        raise BoundcheckInputError(
            "precision",
            f"unknown precision {precision!r}; expected one of {', '.join(ALL_PRECISIONS)}",
        )
    if precision not in era.tiles:
        raise BoundcheckInputError(
            "precision",
            f"{precision} has no trtllm-gen launcher in {release}; it has {', '.join(era.tiles)}",
        )
    max_experts, max_top_k, max_shared = limits(era, precision)
    _check_int("num_experts", num_experts, 1, max_experts)
    _check_int("top_k", top_k, 1, min(max_top_k, num_experts))
    if max_shared:
        _check_int("shared_experts", shared_experts, 0, max_shared)
    elif shared_experts != 0:
        _check_int("shared_experts", shared_experts, 0, MAX_SHARED_EXPERTS)
        raise BoundcheckInputError(
            "shared_experts",
            f"the {launcher_of(precision)} launcher of {release} takes no fused shared experts, got {shared_experts}",
        )
    if local_experts is not None:
        _check_int("local_experts", local_experts, 1, num_experts)
    _check_int("tune_max_num_tokens", tune_max_num_tokens, 1, MAX_TUNE_MAX_NUM_TOKENS)
    if not isinstance(cluster_y, int) or isinstance(cluster_y, bool) or cluster_y not in CLUSTER_Y_SIZES:  # not 1.0, True
        raise BoundcheckInputError(
            "cluster_y", f"must be one of {', '.join(map(str, CLUSTER_Y_SIZES))}, got {cluster_y!r}"
        )
