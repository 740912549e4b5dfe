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
"""

from __future__ import annotations

import ast
import os
import sys
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


class Lifted:
    """A lifted formula; `divisors` collects every divisor met, which the audit requires
    to be positive (integer division by a value <= 0 has no meaning here). It is walked
    once on sample counts when made, so unsupported constructs are refused up front."""

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
        value = self._evaluate(_Interpreter(ops, divisors), env)
        return value, divisors


class _Module:
    """What a lifted function may reach in its file: integer constants, other functions,
    and names bound to anything else (a `min = ...` that shadows the builtin)."""

    def __init__(self, path: str = "--formula", tree: ast.Module | None = None):
        self.path = path
        self.functions: dict[str, ast.FunctionDef] = {}
        self.constants: dict[str, int] = {}
        self.other_names: dict[str, int] = {}  # name -> line
        self.imported_floor_ceil: set[str] = set()
        if tree is None:
            return
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = _constant_value(node.value, self.constants)
                for target in targets:
                    if isinstance(target, ast.Name):
                        if value is not None:
                            self.constants[target.id] = value
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


def _constant_value(node, constants):
    """A module-level integer constant (literals and arithmetic on earlier constants)."""
    if node is None:
        return None
    try:
        value = _Interpreter(_SAMPLE_OPS, [], _Module()).expression(node, dict(constants), "constant")
    except (BoundcheckInputError, ZeroDivisionError, RecursionError, TypeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Interpreter:
    def __init__(self, ops, divisors, module: _Module | None = None, depth: int = 0):
        self.ops = ops
        self.divisors = divisors
        self.module = module or _Module()
        self.depth = depth

    def _refuse(self, where, node, what):
        raise BoundcheckInputError(where, f"{self.module.at(node)}: {what}")

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
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id in self.module.constants:
                return self.module.constants[node.id]
            self._refuse(where, node, f"unknown name {node.id!r}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.expression(node.operand, env, where)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = self.expression(node.left, env, where)
            right = self.expression(node.right, env, where)
            kind = _BINARY[type(node.op)]
            if kind == "add":
                return left + right
            if kind == "sub":
                return left - right
            if kind == "mul":
                return left * right
            self.divisors.append(right)
            return ops.div(left, right)
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
            from .tiles import next_positive_power_of_2

            return next_positive_power_of_2(self.expression(node.args[0], env, where), ops)
        self._refuse(where, node, f"unsupported call {ast.unparse(node)!r}")

    def _rounded_quotient(self, how, node, env, where):
        """int(a / b), floor(a / b), ceil(a / b) for b > 0 (required of every divisor)."""
        ops = self.ops
        a = self.expression(node.left, env, where)
        b = self.expression(node.right, env, where)
        self.divisors.append(b)
        if how == "floor":
            return ops.div(a, b)
        if how == "ceil":
            return -ops.div(-a, b)
        return ops.ite(a >= 0, ops.div(a, b), -ops.div(-a, b))  # int() truncates toward zero

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
        inner = _Interpreter(self.ops, self.divisors, self.module, self.depth + 1)
        value, _ = inner.block(function.body, scope, where)
        if value is None:
            self._refuse(where, function, f"{function.name} does not return a value on every path")
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
        """Run statements; return (returned value or None, env). Both branches of an if
        must end in a return, or neither may; assignments merge with if-then-else."""
        for index, statement in enumerate(statements):
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue  # a docstring
            if isinstance(statement, ast.Return) and statement.value is not None:
                return self.expression(statement.value, env, where), env
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                    and isinstance(statement.targets[0], ast.Name):
                env = dict(env, **{statement.targets[0].id: self.expression(statement.value, env, where)})
                continue
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
                env = dict(env, **{statement.target.id: self.expression(statement.value, env, where)})
                continue
            if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name) \
                    and type(statement.op) in _BINARY:
                node = ast.BinOp(left=ast.Name(statement.target.id, ast.Load(), lineno=statement.lineno),
                                 op=statement.op, right=statement.value, lineno=statement.lineno)
                env = dict(env, **{statement.target.id: self.expression(node, env, where)})
                continue
            if isinstance(statement, ast.If):
                test = self.condition(statement.test, env, where)
                rest = statements[index + 1:]
                then_value, then_env = self.block(statement.body + rest, env, where)
                else_value, else_env = self.block(statement.orelse + rest, env, where)
                if then_value is None or else_value is None:
                    self._refuse(where, statement, "every path must end in a return")
                return self.ops.ite(test, then_value, else_value), env
            self._refuse(where, statement, f"unsupported statement {type(statement).__name__}: "
                                           f"{ast.unparse(statement)!r}")
        return None, env


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


def _read_module(path: Path) -> ast.Module:
    try:
        if not path.is_file():
            raise BoundcheckInputError("--target", f"{path} is not a file")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise BoundcheckInputError("--target", f"cannot read {path}: {error}") from None
    try:
        return ast.parse(text, filename=str(path))
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
    tree = _read_module(path)
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
        value = _constant_value(defaults.get(p.arg), module.constants)
        if value is None:
            accepted = ", ".join(n for v in VARIABLES for n in ALIASES[v])
            raise BoundcheckInputError(where, f"{path}:{function.lineno}: parameter {p.arg!r} is none of: {accepted} "
                                              "(and has no integer default)")
        binding[p.arg] = value
    source = ast.get_source_segment(path.read_text(), function) or ast.unparse(function)

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
