"""Lift someone else's chunk-size formula or Python function to any `ops` backend.

Trust: Python's `ast` module. Nothing is imported, evaluated with eval/exec or run: the
source is read and parsed, the AST walked, and only integer arithmetic is interpreted:
integers, + - * //, unary -, min, max, `int()`, `math.floor` / `math.ceil` (also as
`floor` / `ceil`) of a true division a / b (exact: the quotient of integers below 2**52
rounds to the same integer in a double), `next_pow2` / `next_power_of_2` (the smallest
power of two >= x, 1 below 1), comparisons, if/else, local assignments, return, module
integer constants and calls of other functions defined in the same file (inlined; a
function of that file named `min` is the one called, as Python would). Anything else is
refused with the construct, its file and line.

A lifted formula is a function (ops, E, K, L, S, n=None, F=None) -> value, where E is
num_experts, K top_k, L the local experts, S the fused shared experts; n (the tokens of
the call) and F (the audited chunk formula) exist only where the caller allows them (an
engine's tune_max_num_tokens).

Budgets: the input is foreign, so every evaluation is bounded and work is linear in what
is evaluated. An if statement runs each branch once and merges the two environments with
if-then-else (never re-running the statements after it per path); a function called
again with the same arguments is not inlined again (the lifted language is pure). On top,
each evaluation has MAX_STEPS interpreter steps and MAX_SECONDS of wall clock, every
integer it computes at most MAX_INTEGER_BITS bits, a --target file at most
MAX_SOURCE_CHARACTERS characters, and the lifted value (and each divisor), written out as
a tree with shared subterms counted each time they occur, at most MAX_TERM_SIZE nodes:
what the solver's preprocessing may expand. Past any of them the input is refused as
"too complex", a one-line input error naming the argument (TooComplex).
"""

from __future__ import annotations

import ast
import os
import sys
import time
from pathlib import Path

from .errors import BoundcheckInputError
from .ops import INT as _SAMPLE_OPS

VARIABLES = ("E", "K", "L", "S")
# Parameter names a lifted function may use for each variable.
ALIASES = {
    "E": ("E", "num_experts", "experts", "global_num_experts", "n_experts", "n_routed_experts"),
    "K": ("K", "top_k", "topk", "num_experts_per_tok", "experts_per_token"),
    "L": ("L", "local_experts", "local_num_experts", "num_local_experts"),
    "S": ("S", "shared_experts", "num_fused_shared_experts", "n_shared_experts"),
    "n": ("n", "num_tokens", "tokens"),
}
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.FloorDiv: "div"}
_COMPARE = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_ROUNDING = {"int": "trunc", "floor": "floor", "ceil": "ceil"}
_POWER_OF_TWO = ("next_pow2", "next_power_of_2", "next_positive_power_of_2")
_BUILTINS = ("min", "max", "int") + _POWER_OF_TWO
MAX_INLINE_DEPTH = 32
# next_pow2 of a term is exact up to this power of two (past any int32 token count).
POWER_OF_TWO_LIMIT = 32

# Budgets for lifting foreign input (see the module docstring). Engine chunk formulas take
# tens of steps, integers below 2**64 and terms of a few hundred nodes.
MAX_STEPS = 100_000
MAX_SECONDS = 5.0
MAX_INTEGER_BITS = 256
MAX_TERM_SIZE = 1_000_000
MAX_SOURCE_CHARACTERS = 2_000_000


class TooComplex(BoundcheckInputError):
    """The input exceeds a lifting budget: refused, never a hang."""


class _Budget:
    """One evaluation's steps and deadline, and its memo of inlined calls."""

    def __init__(self):
        self.steps = 0
        self.deadline = time.perf_counter() + MAX_SECONDS
        self.calls: dict = {}

    def step(self, where, module, node):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TooComplex(where, f"{module.at(node)}: too complex to lift: more than {MAX_STEPS:,} interpreter "
                                    "steps")
        if time.perf_counter() > self.deadline:
            raise TooComplex(where, f"{module.at(node)}: too complex to lift: more than {MAX_SECONDS:g} s")


def _is_term(value) -> bool:
    """A solver term (not a Python int or bool)."""
    return not isinstance(value, (int, bool)) and type(value).__module__.startswith("z3")


def _key(value):
    """A memo key for an argument: the value of an int, the identity of a (hash-consed) term."""
    if isinstance(value, int):
        return ("int", type(value), value)
    if _is_term(value):
        return ("term", value.get_id())
    return ("object", id(value))


def _tree_sizes(values, deadline, where, label):
    """The largest size of `values` written out as trees (a shared subterm counted each time
    it occurs), computed over the terms' DAG and saturating at MAX_TERM_SIZE + 1."""
    sizes: dict = {}
    children_of: dict = {}
    largest = 0
    for value in values:
        if not _is_term(value):
            continue
        stack = [value]
        while stack:
            node = stack[-1]
            key = node.get_id()
            if key in sizes:
                stack.pop()
                continue
            if time.perf_counter() > deadline:
                raise TooComplex(where, f"{label}: too complex to lift: more than {MAX_SECONDS:g} s")
            if key not in children_of:
                children_of[key] = node.children()
            pending = [c for c in children_of[key] if c.get_id() not in sizes]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            sizes[key] = min(MAX_TERM_SIZE + 1, 1 + sum(sizes[c.get_id()] for c in children_of.pop(key)))
        largest = max(largest, sizes[value.get_id()])
    return largest


class Lifted:
    """A lifted formula; `divisors` collects every divisor met, which the audit requires
    to be positive (integer division by a value <= 0 has no meaning here), and for each
    next_pow2(x) of a term, 2**POWER_OF_TWO_LIMIT + 1 - x (positive where the lifted
    next_pow2 is exact). It is walked once on sample counts when made, so unsupported
    constructs are refused up front."""

    def __init__(self, evaluate, source: str, where: str = "--formula", label: str | None = None):
        self._evaluate = evaluate
        self.source = source
        self.where = where
        self.label = label or source.strip()  # how reports name it: the formula, or FILE:FUNCTION
        try:
            self(_SAMPLE_OPS, 8, 2, 8, 1, n=100, F=1000)
        except ZeroDivisionError:
            pass

    def __call__(self, ops, E, K, L, S, n=None, F=None):
        divisors = []
        env = {"E": E, "K": K, "L": L, "S": S}
        env.update({name: value for name, value in (("n", n), ("F", F)) if value is not None})
        budget = _Budget()
        value = self._evaluate(_Interpreter(ops, divisors, budget=budget), env)
        if _tree_sizes([value] + divisors, budget.deadline, self.where, self.label) > MAX_TERM_SIZE:
            raise TooComplex(self.where, f"{self.label}: too complex to lift: the lifted formula written out has "
                                         f"more than {MAX_TERM_SIZE:,} nodes (shared subterms counted each time)")
        return value, divisors


class _Module:
    """What a lifted function may reach in its file: integer constants, other functions,
    and names bound to anything else (a `min = ...` that shadows the builtin)."""

    def __init__(self, path: str = "--formula", tree: ast.Module | None = None):
        self.path = path
        self.functions: dict[str, ast.FunctionDef] = {}
        self.constants: dict[str, int] = {}
        self.other_names: dict[str, int] = {}  # name -> line
        self.too_complex: dict[str, str] = {}  # a constant past a budget -> why
        self.imported_floor_ceil: set[str] = set()
        if tree is None:
            return
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                try:
                    value, why = _constant_value(node.value, self.constants, self.too_complex), None
                except TooComplex as error:
                    value = None
                    why = getattr(error, "root", None) \
                        or f"{path}:{node.lineno}: {str(error).split('constant: ', 1)[-1]}"
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.constants.pop(target.id, None)
                        self.too_complex.pop(target.id, None)
                        if value is not None:
                            self.constants[target.id] = value
                        elif why is not None:
                            self.too_complex[target.id] = why
                        else:
                            self.other_names[target.id] = node.lineno
            elif isinstance(node, ast.ImportFrom) and node.module == "math":
                self.imported_floor_ceil |= {a.asname or a.name for a in node.names if a.name in ("floor", "ceil")}
            elif isinstance(node, (ast.ClassDef, ast.Import, ast.ImportFrom)):
                names = [node.name] if isinstance(node, ast.ClassDef) else [a.asname or a.name.split(".")[0]
                                                                          for a in node.names]
                for name in names:
                    self.other_names.setdefault(name, node.lineno)

    def at(self, node) -> str:
        if self.path.startswith("--"):  # a formula given on the command line: one line
            return f"column {getattr(node, 'col_offset', 0) + 1}"
        return f"{self.path}:{getattr(node, 'lineno', '?')}"


def _constant_value(node, constants, too_complex=None):
    """A module-level integer constant (literals and arithmetic on earlier constants), or
    None; TooComplex where one is past a budget, or uses a constant that is (raised where a
    lifted function uses it)."""
    if node is None:
        return None
    module = _Module()
    module.too_complex = too_complex or {}
    try:
        value = _Interpreter(_SAMPLE_OPS, [], module, budget=_Budget()).expression(node, constants, "constant")
    except TooComplex as error:
        raise error if hasattr(error, "root") else TooComplex(
            "constant", "too complex to lift: " + str(error).split("too complex to lift: ", 1)[-1]) from None
    except (BoundcheckInputError, ZeroDivisionError, RecursionError, TypeError, ValueError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Unbound:
    """A name assigned on some paths of an if statement and not on others."""

    def __init__(self, line):
        self.line = line


class _Flow:
    """Where a block stands: the environment of its paths that are still running, `path`
    (an ops condition, the enclosing if tests), and `all_returned` when every path has
    returned (structurally, so known without a solver)."""

    __slots__ = ("env", "path", "all_returned")

    def __init__(self, env, path=True, all_returned=False):
        self.env = env
        self.path = path
        self.all_returned = all_returned


class _Returns:
    """The returns of one function body: (guard, value) with disjoint guards (a path
    returns once), and `returned`: some return has happened. Guards are the return's path
    and not `returned`, so each value and path occurs once in the lifted value."""

    def __init__(self):
        self.pairs: list = []
        self.returned = False


class _Interpreter:
    def __init__(self, ops, divisors, module: _Module | None = None, depth: int = 0, budget: _Budget | None = None):
        self.ops = ops
        self.divisors = divisors
        self.module = module or _Module()
        self.depth = depth
        self.budget = budget or _Budget()

    def _refuse(self, where, node, what):
        raise BoundcheckInputError(where, f"{self.module.at(node)}: {what}")

    def _step(self, where, node):
        self.budget.step(where, self.module, node)

    def _integer(self, value, where, node):
        """Every integer the interpreter computes stays within MAX_INTEGER_BITS."""
        if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
            raise TooComplex(where, f"{self.module.at(node)}: too complex to lift: an integer of more than "
                                    f"{MAX_INTEGER_BITS} bits ({value.bit_length():,})")
        return value

    def _call_name(self, func):
        """'min', 'floor', 'ceil', a module function's name, ... or None."""
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math" \
                and func.attr in ("floor", "ceil"):
            return func.attr
        return None

    def expression(self, node, env, where):
        ops = self.ops
        self._step(where, node)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return self._integer(node.value, where, node)
        if isinstance(node, ast.Name):
            if node.id in env:
                value = env[node.id]
                if isinstance(value, _Unbound):
                    self._refuse(where, node, f"{node.id!r} is assigned on some paths only (the if statement on "
                                              f"line {value.line})")
                return value
            if node.id in self.module.constants:
                return self.module.constants[node.id]
            if node.id in self.module.too_complex:
                error = TooComplex(where, f"{self.module.at(node)}: the constant {node.id!r} is too complex: "
                                          f"{self.module.too_complex[node.id]}")
                error.root = self.module.too_complex[node.id]  # where a budget was passed
                raise error
            self._refuse(where, node, f"unknown name {node.id!r}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.expression(node.operand, env, where)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = self.expression(node.left, env, where)
            right = self.expression(node.right, env, where)
            kind = _BINARY[type(node.op)]
            if kind == "add":
                return self._integer(left + right, where, node)
            if kind == "sub":
                return self._integer(left - right, where, node)
            if kind == "mul":  # both within MAX_INTEGER_BITS: the product is cheap to compute
                return self._integer(left * right, where, node)
            self.divisors.append(right)
            return self._integer(ops.div(left, right), where, node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            self._refuse(where, node, f"true division {ast.unparse(node)!r} must be wrapped in int(), math.floor "
                                      "or math.ceil (an integer chunk size)")
        if isinstance(node, ast.Call):
            return self._call(node, env, where)
        if isinstance(node, ast.IfExp):
            return ops.ite(self.condition(node.test, env, where), self.expression(node.body, env, where),
                           self.expression(node.orelse, env, where))
        self._refuse(where, node, f"unsupported construct {type(node).__name__}: {ast.unparse(node)!r} (supported: "
                                  "integers, + - * //, min, max, int/floor/ceil of a / b, next_pow2, comparisons, "
                                  "if/else, calls of functions of the same file)")

    def _call(self, node, env, where):
        ops = self.ops
        name = self._call_name(node.func)
        if name is None:
            self._refuse(where, node, f"unsupported call {ast.unparse(node.func)!r}")
        if name in self.module.functions:
            return self._inline(self.module.functions[name], node, env, where)
        if isinstance(node.func, ast.Name) and name in self.module.other_names and name in _BUILTINS + ("floor", "ceil"):
            self._refuse(where, node, f"{name!r} is rebound on line {self.module.other_names[name]} of the file "
                                      "(it shadows the builtin); refusing to guess what it computes")
        if node.keywords:
            self._refuse(where, node, f"keyword arguments in {ast.unparse(node)!r}")
        if name in ("min", "max") and len(node.args) >= 2:
            values = [self.expression(a, env, where) for a in node.args]
            combine = ops.min if name == "min" else ops.max
            result = values[0]
            for value in values[1:]:
                result = combine(result, value)
            return result
        is_rounding = name == "int" or (name in ("floor", "ceil") and (
            isinstance(node.func, ast.Attribute) or name in self.module.imported_floor_ceil))
        if is_rounding and len(node.args) == 1:
            argument = node.args[0]
            if isinstance(argument, ast.BinOp) and isinstance(argument.op, ast.Div):
                return self._rounded_quotient(_ROUNDING[name], argument, env, where)
            return self.expression(argument, env, where)  # already an integer
        if name in _POWER_OF_TWO and len(node.args) == 1:
            argument = self.expression(node.args[0], env, where)
            if isinstance(argument, int):
                return self._integer(1 if argument <= 1 else 1 << (argument - 1).bit_length(), where, node)
            # Exact up to 2**POWER_OF_TWO_LIMIT; beyond it the term would be wrong, so the
            # argument joins the divisors as a term that must be positive (see Lifted).
            self.divisors.append(2**POWER_OF_TWO_LIMIT + 1 - argument)
            result = 2**POWER_OF_TWO_LIMIT
            for exponent in reversed(range(POWER_OF_TWO_LIMIT)):
                result = ops.ite(argument <= 2**exponent, 2**exponent, result)
            return result
        self._refuse(where, node, f"unsupported call {ast.unparse(node)!r}")

    def _rounded_quotient(self, how, node, env, where):
        """int(a / b), floor(a / b), ceil(a / b) for b > 0 (required of every divisor)."""
        ops = self.ops
        a = self.expression(node.left, env, where)
        b = self.expression(node.right, env, where)
        self.divisors.append(b)
        if how == "floor":
            return self._integer(ops.div(a, b), where, node)
        if how == "ceil":
            return self._integer(-ops.div(-a, b), where, node)
        return self._integer(ops.ite(a >= 0, ops.div(a, b), -ops.div(-a, b)), where, node)  # int() truncates

    def _inline(self, function: ast.FunctionDef, call, env, where):
        if self.depth >= MAX_INLINE_DEPTH:
            self._refuse(where, call, f"calls nest deeper than {MAX_INLINE_DEPTH} (recursion is not supported)")
        arguments = function.args
        if arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.posonlyargs:
            self._refuse(where, function, f"{function.name}: only plain positional parameters are supported")
        names = [a.arg for a in arguments.args]
        defaults = dict(zip(names[len(names) - len(arguments.defaults):], arguments.defaults))
        if len(call.args) > len(names):
            self._refuse(where, call, f"{function.name} takes {len(names)} arguments, {len(call.args)} given")
        scope = {}
        for name, value in zip(names, call.args):
            scope[name] = self.expression(value, env, where)
        for keyword in call.keywords:
            if keyword.arg not in names or keyword.arg in scope:
                self._refuse(where, call, f"unexpected or repeated argument {keyword.arg!r} to {function.name}")
            scope[keyword.arg] = self.expression(keyword.value, env, where)
        for name in names:
            if name not in scope:
                if name not in defaults:
                    self._refuse(where, call, f"{function.name}() missing argument {name!r}")
                scope[name] = self.expression(defaults[name], {}, where)
        # The lifted language is pure: the same function at the same arguments is the same
        # value (its divisors are already recorded), so it is inlined once per evaluation.
        key = (id(function), tuple(sorted((name, _key(value)) for name, value in scope.items())))
        if key in self.budget.calls:
            return self.budget.calls[key][0]
        inner = _Interpreter(self.ops, self.divisors, self.module, self.depth + 1, self.budget)
        value, _ = inner.block(function.body, scope, where)
        if value is None:
            self._refuse(where, function, f"{function.name} does not return a value on every path")
        self.budget.calls[key] = (value, scope)  # the scope keeps the arguments' terms (and ids) alive
        return value

    def condition(self, node, env, where):
        ops = self.ops
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            left = self.expression(node.left, env, where)
            right = self.expression(node.comparators[0], env, where)
            kind = _COMPARE[type(node.ops[0])]
            return {"lt": left < right, "le": left <= right, "gt": left > right, "ge": left >= right,
                    "eq": left == right, "ne": ops.not_(left == right)}[kind]
        if isinstance(node, ast.BoolOp):
            parts = [self.condition(v, env, where) for v in node.values]
            return ops.and_(*parts) if isinstance(node.op, ast.And) else ops.or_(*parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ops.not_(self.condition(node.operand, env, where))
        self._refuse(where, node, f"unsupported condition {ast.unparse(node)!r}")

    def block(self, statements, env, where):
        """Run a function body: (the value it returns, env), the value None unless every
        path ends in a return. Each statement runs once: an if statement runs both
        branches and merges them (_merge), so sequential ifs cost their sum, not the
        product of their paths."""
        returns = _Returns()
        flow = self._run(statements, _Flow(env), returns, where)
        pairs = [(guard, value) for guard, value in returns.pairs if guard is not False]
        if not flow.all_returned or not pairs:
            return None, flow.env
        value = pairs[-1][1]  # the guards are disjoint and cover every path: the last one needs no test
        for guard, returned in reversed(pairs[:-1]):
            value = returned if guard is True else self.ops.ite(guard, returned, value)
        return value, flow.env

    def _run(self, statements, flow, returns, where):
        ops = self.ops
        for statement in statements:
            if flow.all_returned:
                break  # unreachable, as in Python
            self._step(where, statement)
            env = flow.env
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue  # a docstring
            if isinstance(statement, ast.Return) and statement.value is not None:
                value = self.expression(statement.value, env, where)
                returns.pairs.append((ops.and_(flow.path, ops.not_(returns.returned)), value))
                returns.returned = ops.or_(returns.returned, flow.path)
                return _Flow(env, flow.path, True)
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                    and isinstance(statement.targets[0], ast.Name):
                value = self.expression(statement.value, env, where)
                flow = _Flow(dict(env, **{statement.targets[0].id: value}), flow.path)
                continue
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
                value = self.expression(statement.value, env, where)
                flow = _Flow(dict(env, **{statement.target.id: value}), flow.path)
                continue
            if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name) \
                    and type(statement.op) in _BINARY:
                node = ast.BinOp(left=ast.Name(statement.target.id, ast.Load(), lineno=statement.lineno),
                                 op=statement.op, right=statement.value, lineno=statement.lineno)
                flow = _Flow(dict(env, **{statement.target.id: self.expression(node, env, where)}), flow.path)
                continue
            if isinstance(statement, ast.If):
                test = self.condition(statement.test, env, where)
                then = self._run(statement.body, _Flow(env, ops.and_(flow.path, test)), returns, where)
                otherwise = self._run(statement.orelse, _Flow(env, ops.and_(flow.path, ops.not_(test))), returns,
                                      where)
                flow = _Flow(self._merge(test, then, otherwise, statement), flow.path,
                             then.all_returned and otherwise.all_returned)
                continue
            self._refuse(where, statement, f"unsupported statement {type(statement).__name__}: "
                                           f"{ast.unparse(statement)!r}")
        return flow

    def _merge(self, test, then, otherwise, statement):
        """The environment after `if test: then else: otherwise` for the paths that go on:
        a branch that returned on every path adds none; otherwise each name is selected
        with if-then-else (on ints, the branch taken), and a name assigned on one side
        only is unbound after the if, whatever the test (refused where it is read)."""
        if then.all_returned or otherwise.all_returned:
            return otherwise.env if then.all_returned else then.env
        env = {}
        for name in then.env.keys() | otherwise.env.keys():
            a, b = then.env.get(name), otherwise.env.get(name)
            if a is b:
                env[name] = a
            elif a is None or b is None or isinstance(a, _Unbound) or isinstance(b, _Unbound):
                env[name] = _Unbound(statement.lineno)
            else:
                env[name] = self.ops.ite(test, a, b)
        return env


# Longer than any engine's chunk formula by far; keeps parsing and lifting bounded.
MAX_FORMULA_CHARACTERS = 4000


def parse_formula(text: str, argument: str = "--formula", variables=VARIABLES) -> Lifted:
    """An expression in `variables` (E, K, L, S; an engine's tune may also use n and F),
    e.g. 'min(300000, (E + (65535 - E + 1) * 128 - 1) // K)'."""
    names = ", ".join(variables)
    if not isinstance(text, str) or not text.strip():
        raise BoundcheckInputError(argument, f"is empty; expected an integer expression in {names}")
    if len(text) > MAX_FORMULA_CHARACTERS:
        raise BoundcheckInputError(argument, f"has {len(text):,} characters; at most {MAX_FORMULA_CHARACTERS:,}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise BoundcheckInputError(argument, f"not a Python expression: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise BoundcheckInputError(argument, "is nested too deeply for Python's parser") from None
    module = _Module(argument)
    allowed = set(variables)

    def evaluate(interpreter, env):
        interpreter.module = module
        scope = {k: v for k, v in env.items() if k in allowed}
        try:
            return interpreter.expression(tree.body, scope, argument)
        except RecursionError:
            raise BoundcheckInputError(argument, "is nested too deeply to lift") from None

    return Lifted(evaluate, text, argument)


# --- --target: a function in a file, read and parsed, never imported -------------------------

def _module_file(module_name: str) -> Path:
    """The file of MODULE on sys.path (or under the current directory), found by name
    alone: nothing is imported, so no package __init__ runs."""
    parts = module_name.split(".")
    if not all(p.isidentifier() for p in parts):
        raise BoundcheckInputError("--target", f"{module_name!r} is not a module name")
    for entry in [os.getcwd()] + [p or os.getcwd() for p in sys.path]:
        base = Path(entry).joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    raise BoundcheckInputError("--target", f"module {module_name!r} not found on sys.path (nothing is imported; "
                                           "give a path/to/file.py instead)")


def _read_module(path: Path) -> tuple[ast.Module, str]:
    try:
        if not path.is_file():
            raise BoundcheckInputError("--target", f"{path} is not a file")
        size = path.stat().st_size
        if size > MAX_SOURCE_CHARACTERS * 4:  # at most 4 bytes a character
            raise TooComplex("--target", f"{path}: too complex to lift: {size:,} bytes")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise BoundcheckInputError("--target", f"cannot read {path}: {error}") from None
    if len(text) > MAX_SOURCE_CHARACTERS:
        raise TooComplex("--target", f"{path}: too complex to lift: {len(text):,} characters, at most "
                                     f"{MAX_SOURCE_CHARACTERS:,}")
    try:
        return ast.parse(text, filename=str(path)), text
    except SyntaxError as error:
        raise BoundcheckInputError("--target", f"{path}:{error.lineno}: not Python: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise BoundcheckInputError("--target", f"{path}: nested too deeply for Python's parser") from None


def _find_function(tree: ast.Module, qualified: str, path: Path):
    """(function node, is a method) for FUNCTION or Class.method."""
    parts = qualified.split(".")
    if len(parts) > 2 or not all(p.isidentifier() for p in parts):
        raise BoundcheckInputError("--target", f"expected FUNCTION or Class.method after ':', got {qualified!r}")
    body = tree.body
    if len(parts) == 2:
        classes = [n for n in body if isinstance(n, ast.ClassDef) and n.name == parts[0]]
        if not classes:
            raise BoundcheckInputError("--target", f"{path}: no class {parts[0]!r}")
        body = classes[-1].body
    functions = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == parts[-1]]
    if not functions:
        raise BoundcheckInputError("--target", f"{path}: no function {qualified!r}")
    function = functions[-1]
    if isinstance(function, ast.AsyncFunctionDef):
        raise BoundcheckInputError("--target", f"{path}:{function.lineno}: {qualified} is async")
    return function, len(parts) == 2


def _uses_name(function: ast.FunctionDef, name: str):
    return next((n for n in ast.walk(function) if isinstance(n, ast.Name) and n.id == name), None)


def lift_function(target: str) -> Lifted:
    """path/to/file.py:FUNCTION, path/to/file.py:Class.method, MODULE:FUNCTION or
    MODULE:Class.method: a function of (some of) E, K, L, S under the names in ALIASES,
    read from its file and parsed (never imported or run). A method's `self` / `cls` is
    dropped when the body never uses it, and refused when it does."""
    if not isinstance(target, str) or ":" not in target.replace(":\\", ""):
        raise BoundcheckInputError("--target", f"expected FILE.py:FUNCTION or MODULE:FUNCTION, got {target!r}")
    location, _, qualified = target.rpartition(":")
    if not location or not qualified:
        raise BoundcheckInputError("--target", f"expected FILE.py:FUNCTION or MODULE:FUNCTION, got {target!r}")
    path = Path(location) if location.endswith(".py") or os.sep in location else _module_file(location)
    tree, text = _read_module(path)
    function, is_method = _find_function(tree, qualified, path)
    module = _Module(str(path), tree)
    where = "--target"
    arguments = function.args
    if arguments.vararg or arguments.kwarg:
        raise BoundcheckInputError(where, f"{path}:{function.lineno}: *args / **kwargs are not supported")
    parameters = arguments.posonlyargs + arguments.args
    if is_method and parameters and parameters[0].arg in ("self", "cls") and not any(
            isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list):
        receiver = parameters[0].arg
        use = _uses_name(function, receiver)
        if use is not None:
            raise BoundcheckInputError(where, f"{path}:{use.lineno}: the method uses {receiver!r}; only a "
                                              "function of the counts can be lifted")
        parameters = parameters[1:]
    defaults = dict(zip([p.arg for p in parameters][len(parameters) - len(arguments.defaults):], arguments.defaults))
    defaults.update({a.arg: d for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults) if d is not None})
    binding = {}
    for p in parameters + arguments.kwonlyargs:
        variable = next((v for v, names in ALIASES.items() if p.arg in names and v in VARIABLES), None)
        if variable is not None:
            binding[p.arg] = variable
            continue
        try:
            value = _constant_value(defaults.get(p.arg), module.constants, module.too_complex)
        except TooComplex as error:
            raise TooComplex(where, f"{path}:{function.lineno}: the default of {p.arg!r} is too complex: "
                                    + (getattr(error, "root", None) or str(error).split("constant: ", 1)[-1])) from None
        if value is None:
            accepted = ", ".join(n for v in VARIABLES for n in ALIASES[v])
            raise BoundcheckInputError(where, f"{path}:{function.lineno}: parameter {p.arg!r} is none of: {accepted} "
                                              "(and has no integer default)")
        binding[p.arg] = value
    source = ast.get_source_segment(text, function) or ast.unparse(function)

    def evaluate(interpreter, env):
        interpreter.module = module
        scope = {name: env[v] if isinstance(v, str) else v for name, v in binding.items()}
        try:
            value, _ = interpreter.block(function.body, scope, where)
        except RecursionError:
            raise BoundcheckInputError(where, f"{path}: nested too deeply to lift") from None
        if value is None:
            raise BoundcheckInputError(where, f"{path}:{function.lineno}: {qualified} does not return a value on "
                                              "every path")
        return value

    return Lifted(evaluate, source, where, label=target)
