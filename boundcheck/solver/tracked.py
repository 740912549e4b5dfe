"""Explicit no-overflow predicates for C++ int32 arithmetic, as Alive2 encodes them.

Trust: Z3. A `Checked` value is a Z3 integer that records, for every +, -, * and / it
takes part in, the predicate "the mathematical result fits int32" (and, for /, "the
numerator is nonnegative", the case proofs/int32.py's bit-vector lemma covers).
Evaluating a model function on Checked values with `CHECKED_INT32` yields its value and
the list of predicates: the C++ int32 evaluation equals the mathematical one when all
hold (lemma int32_semantics proves that per operation in 32-bit bit-vectors).
"""

from __future__ import annotations

import z3

from ..facts import INT32_MAX, INT32_MIN
from ..ops import INT


def _fits(term):
    return z3.And(INT32_MIN <= term, term <= INT32_MAX)


class Checked:
    __slots__ = ("term", "log")

    def __init__(self, term, log):
        self.term = term
        self.log = log

    @staticmethod
    def _t(value):
        return value.term if isinstance(value, Checked) else value

    def _result(self, term):
        self.log.append(_fits(term))
        return Checked(term, self.log)

    def __add__(self, other):
        return self._result(self.term + self._t(other))

    def __radd__(self, other):
        return self._result(self._t(other) + self.term)

    def __sub__(self, other):
        return self._result(self.term - self._t(other))

    def __rsub__(self, other):
        return self._result(self._t(other) - self.term)

    def __mul__(self, other):
        return self._result(self.term * self._t(other))

    def __rmul__(self, other):
        return self._result(self._t(other) * self.term)

    def __lt__(self, other):
        return self.term < self._t(other)

    def __le__(self, other):
        return self.term <= self._t(other)

    def __gt__(self, other):
        return self.term > self._t(other)

    def __ge__(self, other):
        return self.term >= self._t(other)

    def __eq__(self, other):
        return self.term == self._t(other)

    __hash__ = None


class CheckedInt32Ops:
    """`ops` over Checked values; min and if-then-else select and cannot overflow."""

    name = "z3-int32-checked"

    @staticmethod
    def _log(*values):
        for v in values:
            if isinstance(v, Checked):
                return v.log
        return None

    def min(self, a, b):
        log = self._log(a, b)
        if log is None:
            return INT.min(a, b)
        ta, tb = Checked._t(a), Checked._t(b)
        return Checked(z3.If(ta <= tb, ta, tb), log)

    def max(self, a, b):
        log = self._log(a, b)
        if log is None:
            return INT.max(a, b)
        ta, tb = Checked._t(a), Checked._t(b)
        return Checked(z3.If(ta >= tb, ta, tb), log)

    def ite(self, cond, then, otherwise):
        if isinstance(cond, bool):
            return then if cond else otherwise
        log = self._log(then, otherwise)
        term = z3.If(cond, Checked._t(then), Checked._t(otherwise))
        return Checked(term, log) if log is not None else term

    def div(self, a, b):
        log = self._log(a, b)
        if log is None:
            return INT.div(a, b)
        ta, tb = Checked._t(a), Checked._t(b)
        log.append(z3.And(ta >= 0, tb > 0))
        return Checked(ta / tb, log)

    @staticmethod
    def and_(*conds):
        rest = [c for c in conds if c is not True]
        if any(c is False for c in rest):
            return False
        return True if not rest else z3.And(*rest)

    @staticmethod
    def or_(*conds):
        rest = [c for c in conds if c is not False]
        if any(c is True for c in rest):
            return True
        return False if not rest else z3.Or(*rest)

    @staticmethod
    def not_(cond):
        return (not cond) if isinstance(cond, bool) else z3.Not(cond)

    def implies(self, a, b):
        return self.or_(self.not_(a), b)


CHECKED_INT32 = CheckedInt32Ops()
