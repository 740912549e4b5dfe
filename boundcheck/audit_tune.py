"""The tune_max_num_tokens an audited engine passes: a value, a range, or an expression in
the call's tokens n (and the formula F, the counts E, K, L, S), as engines write it:
`max(n, 8192)`, `next_pow2(n)`, `min(max(n, 8192), F)..F`.

A range `LOW..HIGH` (either side a value or an expression; `LOW..` runs to the largest
tune_max_num_tokens) says the engine passes some value in it: vLLM's
max(max_num_tokens * dp_size, 8192) is at least max(n, 8192) for every chunk of n tokens
of a batch, so `max(n, 8192)..` covers every batch size. Tied to n, the range must hold a
value in [1, 2**31 - 1] at every n the audit asks about (none_at; the audit refuses it
otherwise, naming the first n where it holds none).
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

    def none_at(self, ops, E, K, L, S, n, F):
        """(condition, divisors): the range holds no tune_max_num_tokens in [1, 2**31 - 1]
        at tokens n: the engine passes nothing there, and a query over n holds vacuously."""
        low, low_divisors = self.value_at(ops, "low", E, K, L, S, n, F)
        high, high_divisors = self.value_at(ops, "high", E, K, L, S, n, F)
        return ops.or_(low > high, low > D.MAX_TUNE_MAX_NUM_TOKENS, high < 1), low_divisors + high_divisors

    def to_json(self):
        """The value (a number), [low, high] (numbers) or, tied to n, the expression's text."""
        if self.tied:
            return self.text
        return self.low if self.single else [self.low, self.high]


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
