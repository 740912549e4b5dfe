"""Solver backends for the model's `ops` interface: Z3 integers, Z3 bit-vectors, sympy.

Trust: Z3 and sympy. Each backend folds operations on plain Python ints back to
`boundcheck.ops.INT`, so the terms handed to the solver hold only what is symbolic.
"""

from __future__ import annotations

import z3

from ..ops import INT


def _is_concrete(*values) -> bool:
    return all(isinstance(v, (int, bool)) for v in values)


_INT_VALUES: dict = {}


def _z3_value(v):
    """Z3 numerals for the model's constants, made once (z3's own coercion is slow)."""
    if isinstance(v, bool) or not isinstance(v, int):
        return v
    if v not in _INT_VALUES:
        _INT_VALUES[v] = z3.IntVal(v)
    return _INT_VALUES[v]


class Z3IntOps:
    """Mathematical integers (Z3's Int sort): the model's intended semantics."""

    name = "z3-int"

    def min(self, a, b):
        return INT.min(a, b) if _is_concrete(a, b) else z3.If(a <= b, a, b)

    def max(self, a, b):
        return INT.max(a, b) if _is_concrete(a, b) else z3.If(a >= b, a, b)

    def ite(self, cond, then, otherwise):
        if isinstance(cond, bool):
            return then if cond else otherwise
        return z3.If(cond, _z3_value(then), _z3_value(otherwise))

    def div(self, a, b):
        # Z3's integer division is Euclidean; with the positive divisors the model uses it
        # is floor division, as INT.div.
        return INT.div(a, b) if _is_concrete(a, b) else a / b

    def and_(self, *conds):
        if any(c is False for c in conds):
            return False
        rest = [c for c in conds if c is not True]
        return True if not rest else (rest[0] if len(rest) == 1 else z3.And(*rest))

    def or_(self, *conds):
        if any(c is True for c in conds):
            return True
        rest = [c for c in conds if c is not False]
        return False if not rest else (rest[0] if len(rest) == 1 else z3.Or(*rest))

    def not_(self, cond):
        return (not cond) if isinstance(cond, bool) else z3.Not(cond)

    def implies(self, a, b):
        if isinstance(a, bool) or isinstance(b, bool):
            return self.or_(self.not_(a), b)
        return z3.Implies(a, b)

    def total(self, terms):
        terms = list(terms)
        concrete = sum(t for t in terms if isinstance(t, int))
        symbolic = [t for t in terms if not isinstance(t, int)]
        if not symbolic:
            return concrete
        # z3.Sum of one term prints as a unary (+ t), which SMT-LIB2 readers reject.
        total = symbolic[0] if len(symbolic) == 1 else z3.Sum(*symbolic)
        return total + concrete if concrete else total


class Z3BitVec32Ops(Z3IntOps):
    """C++ int32_t: two's-complement 32-bit words, wrapping, signed comparisons and division.

    Python's operators on z3 BitVecRef are already signed (<, <=, /), as C++ is on int32_t.
    """

    name = "z3-bv32"

    def ite(self, cond, then, otherwise):
        if isinstance(cond, bool):
            return then if cond else otherwise
        return z3.If(cond, then, otherwise)

    def div(self, a, b):
        if _is_concrete(a, b):
            return INT.div(a, b)
        return a / b  # bvsdiv: truncates toward zero, as C++ does


def _sympy():
    # Imported where the derivation runs, not with the solver stack: sympy's import is
    # about half a second of every `boundcheck prove`.
    import sympy

    return sympy


class SympyOps:
    """sympy expressions, for the closed-form derivation."""

    name = "sympy"

    def min(self, a, b):
        return _sympy().Min(a, b)

    def max(self, a, b):
        return _sympy().Max(a, b)

    def ite(self, cond, then, otherwise):
        return _sympy().Piecewise((then, cond), (otherwise, True))

    def div(self, a, b):
        return _sympy().floor(_sympy().Rational(1, 1) * a / b)

    def and_(self, *conds):
        return _sympy().And(*conds)

    def or_(self, *conds):
        return _sympy().Or(*conds)

    def not_(self, cond):
        return _sympy().Not(cond)

    def implies(self, a, b):
        return _sympy().Implies(a, b)

    def total(self, terms):
        return _sympy().Add(*terms)


Z3_INT = Z3IntOps()
Z3_BV32 = Z3BitVec32Ops()
SYMPY = SympyOps()
