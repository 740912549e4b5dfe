"""A small evaluator of parsed Python on ints (if / return / comparisons / + - * // /
and, or, not / min, max / the module's helpers), so that flashinfer's map_to_hybrid_bucket
is run without importing or executing anything of flashinfer."""

from __future__ import annotations

import ast

from .found import Missing


class _PyEvaluator:
    """Runs one parsed function on ints: if / return / comparisons / + - * // / and, or,
    not / min, max and calls of the module's small helpers; nothing else (Missing)."""

    def __init__(self, functions: dict, constants: dict):
        self.functions = functions
        self.constants = constants

    def call(self, name, arguments):
        if name == "min":
            return min(arguments)
        if name == "max":
            return max(arguments)
        if name == "next_positive_power_of_2":
            # flashinfer.utils.next_positive_power_of_2 (bit-twiddled there): 1 for x < 1,
            # else the smallest power of two >= x.
            (x,) = arguments
            return 1 if x < 1 else 1 << (x - 1).bit_length()
        if name in self.functions:
            function = self.functions[name]
            parameters = [a.arg for a in function.args.args]
            if len(parameters) != len(arguments):
                raise Missing(f"{name} called with {len(arguments)} arguments")
            return self._run(function.body, dict(zip(parameters, arguments)))
        raise Missing(f"a call of {name}, which drift does not evaluate")

    def _run(self, statements, env):
        for statement in statements:
            if isinstance(statement, ast.Return):
                return self.value(statement.value, env)
            if isinstance(statement, ast.If):
                branch = statement.body if self.value(statement.test, env) else statement.orelse
                result = self._run(branch, env)
                if result is not None:
                    return result
            elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue  # docstring
            else:
                raise Missing(f"a {type(statement).__name__} statement, which drift does not evaluate")
        return None

    def value(self, node, env):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id in self.constants:
                return self.constants[node.id]
            raise Missing(f"unknown name {node.id}")
        if isinstance(node, ast.BinOp):
            left, right = self.value(node.left, env), self.value(node.right, env)
            operations = {ast.Add: lambda: left + right, ast.Sub: lambda: left - right,
                          ast.Mult: lambda: left * right, ast.FloorDiv: lambda: left // right}
            if type(node.op) in operations:
                return operations[type(node.op)]()
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            operand = self.value(node.operand, env)
            return -operand if isinstance(node.op, ast.USub) else not operand
        if isinstance(node, ast.BoolOp):
            values = [self.value(v, env) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = self.value(node.left, env), self.value(node.comparators[0], env)
            operations = {ast.Lt: left < right, ast.LtE: left <= right, ast.Gt: left > right,
                          ast.GtE: left >= right, ast.Eq: left == right, ast.NotEq: left != right}
            return operations[type(node.ops[0])]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            return self.call(node.func.id, [self.value(a, env) for a in node.args])
        raise Missing(f"{ast.unparse(node)!r}, which drift does not evaluate")
