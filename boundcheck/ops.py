"""The arithmetic interface the launch-geometry model is written against.

Trust: nothing here but Python's own integers.

The model (geometry.py, tiles.py, policy.py, bound.py) is plain integer Python. Where
Python's operators cannot be shared between an int and a solver term (min, if-then-else,
floor division, boolean connectives) it calls an `ops` object instead. `INT` evaluates
on Python ints and is the only backend the runtime guard ever sees; the solver backends
in `boundcheck.solver.backends` implement the same names for Z3 integers, Z3 32-bit
bit-vectors and sympy, so the proofs check the very functions the guard runs.
"""

from __future__ import annotations


class IntOps:
    """Concrete evaluation on Python ints (and bools for conditions)."""

    name = "int"

    @staticmethod
    def min(a, b):
        return a if a <= b else b

    @staticmethod
    def max(a, b):
        return a if a >= b else b

    @staticmethod
    def ite(cond, then, otherwise):
        return then if cond else otherwise

    @staticmethod
    def div(a, b):
        # The model only divides nonnegative numerators by positive divisors, where
        # Python's floor division and C++'s truncating division agree.
        return a // b

    @staticmethod
    def and_(*conds):
        return all(conds)

    @staticmethod
    def or_(*conds):
        return any(conds)

    @staticmethod
    def not_(cond):
        return not cond

    @staticmethod
    def implies(a, b):
        return (not a) or b

    @staticmethod
    def total(terms):
        return sum(terms)


INT = IntOps()
