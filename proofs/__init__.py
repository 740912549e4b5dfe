"""The theorems `boundcheck prove` checks, in the order a paper would state them.

Every obligation reaches the solver through boundcheck.solver.core.decide. THEOREMS
must all be proved; each entry of TWINS is a broken variant of a theorem (off by one,
the wrong tile, global and local swapped, an int32 wrap, ...) that must be refuted
with a counterexample, or the checker itself is suspect. The list opens with a
negative control: the claim `False` must be refuted.
"""

from __future__ import annotations

import z3

from boundcheck.solver.core import REFUTED
from boundcheck.solver.obligation import Case, Obligation, Query

from . import bound, closed_form, int32, kernel_limits, monotonicity, partition, tile_choice, tile_choice_lemmas

FALSE_IS_REFUTED = Obligation(
    name="control[False]",
    statement="False (negative control: the checker must refute it)",
    domain="none",
    cases=lambda: [Case("control[False]", "control")],
    build=lambda case: [Query("false", [z3.BoolVal(True)])],
    expect=REFUTED,
    twin_of="control",
)

THEOREMS = (
    tile_choice.THEOREMS
    + monotonicity.THEOREMS
    + closed_form.THEOREMS
    + bound.THEOREMS
    + int32.THEOREMS
    + kernel_limits.THEOREMS
    + partition.THEOREMS
)
TWINS = (
    [FALSE_IS_REFUTED]
    + monotonicity.TWINS
    + closed_form.TWINS
    + bound.TWINS
    + tile_choice_lemmas.TWINS
    + int32.TWINS
    + kernel_limits.TWINS
    + partition.TWINS
)

__all__ = ["THEOREMS", "TWINS"]
