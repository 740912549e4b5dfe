"""Expr: a recorded entry-point default that is not a literal, kept as its source text
(e.g. Expr("ActivationType.Swiglu.value")). Shared by runtime/signatures.py, the reader of
runtime/signatures.json, and the recorder that writes it (tools/record_signatures.py)."""

from __future__ import annotations


class Expr:
    """A default that is not a literal, kept as its source text."""

    __slots__ = ("source",)

    def __init__(self, source: str):
        self.source = source

    def __repr__(self):
        return f"Expr({self.source!r})"

    def __eq__(self, other):
        return isinstance(other, Expr) and other.source == self.source

    def __hash__(self):
        return hash(("Expr", self.source))
