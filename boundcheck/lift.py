"""Lift someone else's chunk-size formula or Python function to any `ops` backend.

Trust: Python's `ast` module. Nothing is evaluated with eval/exec: the AST is walked and
only integer arithmetic (+ - * //, unary -, min, max, integer literals, comparisons,
if/else, local assignments, return) is interpreted. Anything else is refused with the
construct and its line named.

A lifted formula is a function (ops, E, K, L, S) -> value, where E is num_experts, K top_k,
L the local experts and S the fused shared experts.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap

from .errors import BoundcheckInputError
from .ops import INT as _SAMPLE_OPS

VARIABLES = ("E", "K", "L", "S")
# Parameter names a lifted function may use for each variable.
ALIASES = {
    "E": ("E", "num_experts", "experts", "global_num_experts", "n_experts", "n_routed_experts"),
    "K": ("K", "top_k", "topk", "num_experts_per_tok", "experts_per_token"),
    "L": ("L", "local_experts", "local_num_experts", "num_local_experts"),
    "S": ("S", "shared_experts", "num_fused_shared_experts", "n_shared_experts"),
}
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.FloorDiv: "div"}
_COMPARE = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}


class Lifted:
    """A lifted formula; `divisors` collects every divisor met, which the audit requires
    to be positive (integer division by a value <= 0 has no meaning here). It is walked
    once on sample counts when made, so unsupported constructs are refused up front."""

    def __init__(self, evaluate, source: str):
        self._evaluate = evaluate
        self.source = source
        try:
            self(_SAMPLE_OPS, 8, 2, 8, 1)
        except ZeroDivisionError:
            pass

    def __call__(self, ops, E, K, L, S):
        divisors = []
        value = self._evaluate(_Interpreter(ops, divisors), {"E": E, "K": K, "L": L, "S": S})
        return value, divisors


class _Interpreter:
    def __init__(self, ops, divisors):
        self.ops = ops
        self.divisors = divisors

    def expression(self, node, env, where):
        ops = self.ops
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            raise BoundcheckInputError(where, f"unknown name {node.id!r} on line {node.lineno}")
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
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max") \
                and len(node.args) >= 2 and not node.keywords:
            values = [self.expression(a, env, where) for a in node.args]
            combine = ops.min if node.func.id == "min" else ops.max
            result = values[0]
            for value in values[1:]:
                result = combine(result, value)
            return result
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int" \
                and len(node.args) == 1 and not node.keywords:
            return self.expression(node.args[0], env, where)  # already an integer
        if isinstance(node, ast.IfExp):
            return ops.ite(self.condition(node.test, env, where), self.expression(node.body, env, where),
                           self.expression(node.orelse, env, where))
        raise BoundcheckInputError(
            where, f"unsupported construct {type(node).__name__} on line {getattr(node, 'lineno', '?')}: "
            f"{ast.unparse(node)!r} (supported: integers, + - * //, min, max, comparisons, if/else)"
        )

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
        raise BoundcheckInputError(where, f"unsupported condition on line {node.lineno}: {ast.unparse(node)!r}")

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
                    raise BoundcheckInputError(where, f"line {statement.lineno}: every path must end in a return")
                return self.ops.ite(test, then_value, else_value), env
            raise BoundcheckInputError(
                where, f"unsupported statement {type(statement).__name__} on line {statement.lineno}: "
                f"{ast.unparse(statement)!r}"
            )
        return None, env


# Longer than any engine's chunk formula by far; keeps parsing and lifting bounded.
MAX_FORMULA_CHARACTERS = 4000


def parse_formula(text: str) -> Lifted:
    """An expression in E, K, L, S, e.g. 'min(300000, (E + (65535 - E + 1) * 128 - 1) // K)'."""
    if not text.strip():
        raise BoundcheckInputError("--formula", "is empty; expected an integer expression in E, K, L, S")
    if len(text) > MAX_FORMULA_CHARACTERS:
        raise BoundcheckInputError("--formula", f"has {len(text):,} characters; at most {MAX_FORMULA_CHARACTERS:,}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise BoundcheckInputError("--formula", f"not a Python expression: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise BoundcheckInputError("--formula", "is nested too deeply for Python's parser") from None

    def evaluate(interpreter, env):
        try:
            return interpreter.expression(tree.body, env, "--formula")
        except RecursionError:
            raise BoundcheckInputError("--formula", "is nested too deeply to lift") from None

    return Lifted(evaluate, text)


def lift_function(target: str) -> Lifted:
    """MODULE:FUNCTION, a function of (some of) E, K, L, S under the names in ALIASES."""
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise BoundcheckInputError("--target", f"expected MODULE:FUNCTION, got {target!r}")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        source = textwrap.dedent(inspect.getsource(function))
    except (ImportError, AttributeError, OSError, TypeError) as error:
        raise BoundcheckInputError("--target", f"cannot load {target!r}: {error}") from None
    node = ast.parse(source).body[0]
    if not isinstance(node, ast.FunctionDef):
        raise BoundcheckInputError("--target", f"{target!r} is not a plain function")
    parameters = list(inspect.signature(function).parameters.values())
    binding = {}
    for p in parameters:
        variable = next((v for v, names in ALIASES.items() if p.name in names), None)
        if variable is not None:
            binding[p.name] = variable
        elif isinstance(p.default, int) and not isinstance(p.default, bool):
            binding[p.name] = p.default
        else:
            accepted = ", ".join(n for names in ALIASES.values() for n in names)
            raise BoundcheckInputError("--target", f"parameter {p.name!r} is none of: {accepted}")
    constants = {k: v for k, v in getattr(function, "__globals__", {}).items()
                 if isinstance(v, int) and not isinstance(v, bool)}

    def evaluate(interpreter, env):
        scope = dict(constants)
        scope.update({name: env[v] if isinstance(v, str) else v for name, v in binding.items()})
        value, _ = interpreter.block(node.body, scope, "--target")
        if value is None:
            raise BoundcheckInputError("--target", f"{target!r} does not return a value on every path")
        return value

    return Lifted(evaluate, source)
