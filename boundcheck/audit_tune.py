"""The tune_max_num_tokens an audited engine passes: a value, a range, or an expression in
the call's tokens n (and the formula F, the counts E, K, L, S), as engines write it:
`max(n, 8192)`, `next_pow2(n)`, `min(max(n, 8192), F)..F`.

A range `LOW..HIGH` (either side a value or an expression; `LOW..` runs to the largest
tune_max_num_tokens) says the engine passes some value in it: vLLM's
max(max_num_tokens * dp_size, 8192) is at least max(n, 8192) for every chunk of n tokens
of a batch, so `max(n, 8192)..` covers every batch size.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import domain as D
from . import facts
from .errors import BoundcheckInputError
from .lift import Lifted, parse_formula

ARGUMENT = "--tune-max-num-tokens"
TUNE_VARIABLES = ("n", "F", "E", "K", "L", "S")


@dataclass(frozen=True)
class TuneSpec:
    text: str
    low: object  # int or Lifted
    high: object  # int or Lifted

    @property
    def tied(self) -> bool:
        """Depends on the call's tokens (or the formula): no longer one value per configuration."""
        return isinstance(self.low, Lifted) or isinstance(self.high, Lifted)

    @property
    def single(self) -> bool:
        return self.low is self.high

    def value_at(self, ops, side, E, K, L, S, n, F):
        """(value, divisors) of one side at tokens n."""
        bound = self.low if side == "low" else self.high
        if isinstance(bound, Lifted):
            return bound(ops, E, K, L, S, n=n, F=F)
        return bound, []

    def describe(self) -> str:
        if self.single:
            return self.text if self.tied else f"{self.low:,}"
        return f"{self.text} (some value in the range)"


def _side(text: str):
    text = text.strip()
    if text.isascii() and text.isdigit():
        value = int(text)
        if not 1 <= value <= D.MAX_TUNE_MAX_NUM_TOKENS:
            raise BoundcheckInputError(ARGUMENT, f"{value:,} is outside [1, {D.MAX_TUNE_MAX_NUM_TOKENS:,}]")
        return value
    return parse_formula(text, ARGUMENT, TUNE_VARIABLES)


def parse_tune(text) -> TuneSpec:
    """None: flashinfer's default (8192), as `chunk`. Else VALUE, LOW..HIGH, LOW.. or an
    expression in n, F, E, K, L, S."""
    if text is None:
        value = facts.DEFAULT_TUNE_MAX_NUM_TOKENS
        return TuneSpec(str(value), value, value)
    if not isinstance(text, str) or not text.strip():
        raise BoundcheckInputError(ARGUMENT, "is empty; expected a value, LOW..HIGH or an expression in n")
    parts = text.split("..")
    if len(parts) > 2:
        raise BoundcheckInputError(ARGUMENT, f"expected VALUE, LOW..HIGH or an expression in n, got {text!r}")
    if len(parts) == 1:
        side = _side(parts[0])
        return TuneSpec(text.strip(), side, side)
    low = _side(parts[0]) if parts[0].strip() else 1
    high = _side(parts[1]) if parts[1].strip() else D.MAX_TUNE_MAX_NUM_TOKENS
    if isinstance(low, int) and isinstance(high, int) and low > high:
        raise BoundcheckInputError(ARGUMENT, f"the range {text!r} is empty")
    return TuneSpec(text.strip(), low, high)
