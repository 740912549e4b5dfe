"""The interpreter of the C++ statements that build a launcher's tile vector
(getSupportedTileNums, and the inline sets before 0.5.3): tokenised, parsed into a small
tree and run on given dtypes. Only what those functions use is modelled; anything else is
Missing.

The code is foreign input: a program longer than MAX_PROGRAM_CHARS or nested deeper than
MAX_NESTING is TooComplex, and parsing and running share a Budget (steps and a deadline,
boundcheck.drift.python_evaluator). The language has no loops and no calls, so a run is
one pass over the parsed statements and these limits bound its time and memory."""

from __future__ import annotations

import re

from .cxx import _Definition
from .found import Missing
from .python_evaluator import Budget, TooComplex

MAX_PROGRAM_CHARS = 200_000
MAX_NESTING = 64

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_]\w*(?:\s*::\s*[A-Za-z_]\w*)*)|(?P<int>\d+)"
                    r"|(?P<op>&&|\|\||==|!=|->|[-+*/!(){};,.<>=?:\[\]&|])|(?P<literal>\"[^\"\n]*\"|'[^'\n]*')"
                    r"|(?P<other>\S))")


def _preprocess(code: str) -> str:
    """Drop the lines a public build compiles out: no feature macro (TLLM_RUBIN_FEATURES,
    ...) is defined there, so `#ifndef X` keeps its branch and `#ifdef X` drops it."""
    kept, stack = [], []
    for line in code.split("\n"):
        directive = line.strip()
        if not directive.startswith("#"):
            if all(stack):
                kept.append(line)
            continue
        words = directive[1:].split()
        keyword = words[0] if words else ""
        if keyword == "ifndef" or directive.replace(" ", "").startswith("#if!defined"):
            stack.append(True)
        elif keyword == "ifdef" or directive.replace(" ", "").startswith("#ifdefined"):
            stack.append(False)
        elif keyword == "if":
            raise Missing(f"a condition drift does not evaluate: {directive}")
        elif keyword == "else" and stack:
            stack[-1] = not stack[-1]
        elif keyword == "endif" and stack:
            stack.pop()
    return "\n".join(kept)


def _tokens(code: str) -> list[tuple[str, str]]:
    out, position, code = [], 0, code.rstrip()
    while position < len(code):
        m = _TOKEN.match(code, position)
        if m is None:  # only trailing whitespace is left
            break
        kind = m.lastgroup
        out.append((kind, re.sub(r"\s+", "", m.group(kind))))
        position = m.end()
    return out


class _TileProgram:
    """The statements that build a launcher's tile vector, parsed and run on given dtypes:
    a declaration from a class array or a brace list, `v.push_back(N);`, if/else on
    `==`/`!=`/`&&`/`||`/`!` over the parameters, blocks and `return v;`. Anything else is
    Missing, except (with stop_at_other) the first other statement after the set is built,
    which is where an inline set (0.5.0-0.5.2) ends."""

    def __init__(self, code: str, arrays: dict, budget: Budget | None = None):
        if len(code) > MAX_PROGRAM_CHARS:
            raise TooComplex(f"too complex: tile-set code of {len(code):,} characters (at most {MAX_PROGRAM_CHARS:,})")
        self.budget = budget or Budget()
        self.tokens = _tokens(_preprocess(code))
        self.arrays = arrays
        self.position = 0
        self.depth = 0

    def _nest(self):
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise TooComplex(f"too complex: tile-set code nested more than {MAX_NESTING} deep")

    def _peek(self, offset=0):
        index = self.position + offset
        return self.tokens[index][1] if index < len(self.tokens) else None

    def _take(self, expected=None, kind=None):
        self.budget.step("the tile-set code")
        if self.position >= len(self.tokens):
            raise Missing(f"unexpected end, expected {expected or kind}")
        token_kind, value = self.tokens[self.position]
        if (expected is not None and value != expected) or (kind is not None and token_kind != kind):
            raise Missing(f"expected {expected or kind}, found {value!r}")
        self.position += 1
        return value

    def parse(self, stop_at_other=False) -> list:
        statements = []
        while self._peek() is not None and self._peek() != "}":
            statement = self._statement(stop_at_other)
            if statement is None:
                break
            statements.append(statement)
        return statements

    def _statement(self, stop_at_other=False):
        self._nest()
        try:
            return self._statement_at(stop_at_other)
        finally:
            self.depth -= 1

    def _statement_at(self, stop_at_other):
        word = self._peek()
        if word == "{":
            self._take("{")
            block = self.parse()
            self._take("}")
            return ("block", block)
        if word == "if":
            self._take("if")
            self._take("(")
            condition = self._or()
            self._take(")")
            then = self._statement()
            otherwise = None
            if self._peek() == "else":
                self._take("else")
                otherwise = self._statement()
            return ("if", condition, then, otherwise)
        if word == "std::vector" and self._peek(1) == "<":
            return self._declaration()
        if self._peek(1) == "." and self._peek(2) == "push_back":
            name = self._take(kind="name")
            for token in (".", "push_back", "("):
                self._take(token)
            value = int(self._take(kind="int"))
            self._take(")")
            self._take(";")
            return ("push", name, value)
        if word == "return":
            self._take("return")
            name = self._take(kind="name")
            self._take(";")
            return ("return", name)
        if stop_at_other:
            return None
        near = " ".join(value for _, value in self.tokens[self.position:self.position + 6])
        raise Missing(f"a statement drift does not model, at {near!r}")

    def _declaration(self):
        self._take("std::vector")
        self._take("<")
        self._take(kind="name")
        self._take(">")
        name = self._take(kind="name")
        if self._peek() == "(":  # (ARRAY.begin(), ARRAY.end())
            self._take("(")
            array = self._take(kind="name")
            for token in (".", "begin", "(", ")", ","):
                self._take(token)
            self._take(array)
            for token in (".", "end", "(", ")", ")", ";"):
                self._take(token)
            key = array.split("::")[-1]
            if key not in self.arrays:
                raise Missing(f"unknown tile array {array}")
            return ("declare", name, tuple(self.arrays[key]))
        self._take("=")
        self._take("{")
        values = []
        while self._peek() != "}":
            values.append(int(self._take(kind="int")))
            if self._peek() == ",":
                self._take(",")
        self._take("}")
        self._take(";")
        return ("declare", name, tuple(values))

    def _or(self):
        left = self._and()
        while self._peek() == "||":
            self._take("||")
            left = ("or", left, self._and())
        return left

    def _and(self):
        left = self._unary()
        while self._peek() == "&&":
            self._take("&&")
            left = ("and", left, self._unary())
        return left

    def _unary(self):
        self._nest()
        try:
            return self._unary_at()
        finally:
            self.depth -= 1

    def _unary_at(self):
        if self._peek() == "!":
            self._take("!")
            return ("not", self._unary())
        if self._peek() == "(":
            self._take("(")
            inner = self._or()
            self._take(")")
            return inner
        left = self._take(kind="name")
        if self._peek() in ("==", "!="):
            operator = self._take()
            return ("compare", operator, left, self._take(kind="name"))
        return ("flag", left)


def _condition(node, env) -> bool:
    def value(name):
        if "::" in name:  # an enumerator: btg::Dtype::E2m1, Fp8QuantizationType::MxFp8
            return name.split("::")[-1]
        if name not in env:
            raise Missing(f"the tile set depends on {name}, which drift does not model")
        return env[name]

    kind = node[0]
    if kind == "or":
        return _condition(node[1], env) or _condition(node[2], env)
    if kind == "and":
        return _condition(node[1], env) and _condition(node[2], env)
    if kind == "not":
        return not _condition(node[1], env)
    if kind == "compare":
        equal = value(node[2]) == value(node[3])
        return equal if node[1] == "==" else not equal
    return bool(value(node[1]))


def _run_tiles(statements, env, variables=None, budget: Budget | None = None):
    """Run parsed statements; returns (variables, returned vector or None)."""
    variables = {} if variables is None else variables
    budget = budget or Budget()
    for statement in statements:
        budget.step("the tile-set code")
        kind = statement[0]
        if kind == "declare":
            variables[statement[1]] = list(statement[2])
        elif kind == "push":
            if statement[1] not in variables:
                raise Missing(f"push_back on an undeclared {statement[1]}")
            variables[statement[1]].append(statement[2])
        elif kind == "block":
            _, returned = _run_tiles(statement[1], env, variables, budget)
            if returned is not None:
                return variables, returned
        elif kind == "if":
            branch = statement[2] if _condition(statement[1], env) else statement[3]
            if branch is not None:
                _, returned = _run_tiles([branch], env, variables, budget)
                if returned is not None:
                    return variables, returned
        elif kind == "return":
            return variables, tuple(variables[statement[1]])
    return variables, None


def _function_tiles(definition: _Definition, arrays: dict, env: dict) -> tuple[int, ...]:
    """The tiles a getSupportedTileNums-like function returns for `env`."""
    program = _TileProgram(definition.body[1:-1], arrays)
    _, returned = _run_tiles(program.parse(), env, budget=program.budget)
    if returned is None:
        raise Missing("the tile function returns no vector drift can follow")
    return returned


def _inline_tiles(entry_body: str, env: dict) -> tuple[int, ...] | None:
    """0.5.0-0.5.2: `std::vector<int32_t> mSupportedTileN = {...};` and the pushes after
    it, inline in the entry function; None when the entry declares no such set."""
    m = re.search(r"std::vector\s*<\s*int32_t\s*>\s*(\w+)\s*=\s*\{", entry_body)
    if m is None:
        return None
    # The set is complete where the candidates are computed from it.
    end = entry_body.find("computeSelectedTileN", m.start())
    program = _TileProgram(entry_body[m.start():end if end >= 0 else len(entry_body)], {})
    variables, _ = _run_tiles(program.parse(stop_at_other=True), env, budget=program.budget)
    return tuple(variables[m.group(1)])
