"""The cases of the per-configuration obligations: every precision under every policy."""

from __future__ import annotations

from boundcheck.policy import ANY, FLASHINFER, Policy
from boundcheck.solver.obligation import Case
from boundcheck.tiles import PRECISION_TILES

from .domain import slices


def policies_for(tiles):
    return [FLASHINFER, ANY] + [Policy("fixed", t) for t in tiles]


def _key(tiles, policy):
    # The queries depend on a precision only through its tile set, and `fixed:T` only
    # through T (the other tiles' clauses fold to True before the solver sees them).
    if policy.kind == "fixed":
        return ("fixed", policy.tile)
    return (policy.kind, tiles)


def key_with_largest_tile(tiles, policy):
    # For claims that also involve the precision's largest tile (bound_below_largest_tile).
    return _key(tiles, policy) + ((max(tiles),) if policy.kind == "fixed" else ())


def precision_policy_cases(obligation: str, key=_key) -> list[Case]:
    """Each precision under each policy; cases with equal keys share their queries."""
    cases = []
    for precision, tiles in PRECISION_TILES.items():
        for policy in policies_for(tiles):
            cases.append(
                Case(obligation, f"{precision} / {policy}", (precision, str(policy)),
                     key(tiles, policy), weight=len(slices(policy)))
            )
    return cases
