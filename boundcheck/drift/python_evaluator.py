"""A small evaluator of parsed Python on ints, so that flashinfer's map_to_hybrid_bucket is
run without importing or executing anything of flashinfer.

It knows if / return / assignment to a name / docstrings and pass, the expressions
+ - * //, comparisons (chained too), and / or / not (short-circuit, as Python), `a if c
else b`, min and max, flashinfer's next_positive_power_of_2 and calls of the module's own
functions (undecorated, or memoized with functools.cache / lru_cache); anything else is
Missing, naming the construct and file:line.

The folder's code is foreign input, so every evaluation runs on a `Budget`: at most
MAX_STEPS syntax nodes per call of the evaluated function, calls nested at most MAX_DEPTH
deep, no integer wider than MAX_BITS bits, and a deadline (MAX_SECONDS for a whole
comparison). Past any of them the evaluation stops with `TooComplex` ("too complex: ...");
an error the code would raise (division by zero, None used as a number) is
`EvaluationError` naming it and its file:line. Both are `Missing`: the fact's row says
why, the command never hangs and never shows a traceback.

The same evaluator also runs the code symbolically (`symbolic`): given Z3 integers for
arguments it returns the Z3 term of the result, forking at every `if` whose condition is
not a constant, and records every error a path can reach as a condition (`problems`), so
that Z3 can check the function against the model's on its whole domain
(boundcheck.drift.buckets). Symbolic runs are bounded by the same budget (steps and the
deadline; the solver gets what time is left)."""

from __future__ import annotations

import ast
import time

from .found import Missing

MAX_STEPS = 100_000  # syntax nodes per evaluated call (and per symbolic translation)
MAX_DEPTH = 32  # nested calls of the module's functions
MAX_BITS = 128  # bit length of any integer the code computes
MAX_SECONDS = 10.0  # a whole comparison: every evaluation, the translation and the proof


class TooComplex(Missing):
    """The code needs more than the evaluator's budget (steps, depth, bits or time)."""


class EvaluationError(Missing):
    """The code itself fails here (division by zero, None used as a number), at file:line."""


class Budget:
    """The limits of one comparison: a deadline shared by every evaluation in it, and per
    evaluated call at most `steps` syntax nodes, `depth` nested calls and `bits`-bit ints."""

    def __init__(self, seconds: float | None = None, steps: int | None = None, depth: int | None = None,
                 bits: int | None = None):
        self.seconds = MAX_SECONDS if seconds is None else seconds
        self.steps = MAX_STEPS if steps is None else steps
        self.depth = MAX_DEPTH if depth is None else depth
        self.bits = MAX_BITS if bits is None else bits
        self.deadline = time.monotonic() + self.seconds
        self.steps_left = self.steps

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TooComplex(f"too complex: the comparison ran past its {self.seconds:g} s budget")

    def start(self) -> None:
        """A new evaluated call: its own step budget, the same deadline."""
        self.check_time()
        self.steps_left = self.steps

    def step(self, where: str) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise TooComplex(f"too complex: more than {self.steps:,} evaluation steps (at {where})")
        if self.steps_left % 1024 == 0:
            self.check_time()


def _concrete(value) -> bool:
    return value is None or isinstance(value, (bool, int))


class _PyEvaluator:
    """Runs the module's functions on ints (call) or Z3 integers (symbolic), within a Budget."""

    def __init__(self, functions: dict, constants: dict, path: str = "the module", budget: Budget | None = None):
        self.functions = functions
        self.constants = constants
        self.path = path
        self.budget = budget or Budget()
        self.z3 = None  # the z3 module, in a symbolic run
        self.problems: list = []  # symbolic: (condition, message) of every error a path can reach
        self._depth = 0
        for name, value in constants.items():
            self._check_int(value, f"{path}: {name}")

    # --- entry points ----------------------------------------------------------------------

    def call(self, name: str, arguments: list):
        """The function's value on these ints (None if it returns nothing)."""
        self.z3 = None
        return self._entry(name, arguments)

    def symbolic(self, name: str, arguments: list):
        """(Z3 term of the result, problems) for Z3 arguments: problems lists (condition,
        message) for every error some input reaches (the condition over the arguments)."""
        import z3

        self.z3, self.problems = z3, []
        try:
            result = self._entry(name, arguments)
            if result is None:  # on every input: a difference from the model wherever it is looked at
                self.problems.append((z3.BoolVal(True), f"{name} returns None"))
                result = 0
            return self._as_int(result, True, f"{name}'s result"), list(self.problems)
        finally:
            self.z3 = None

    def _entry(self, name, arguments):
        self.budget.start()
        self._depth = 0
        try:
            return self._call(name, arguments, True, name)
        except RecursionError:
            raise TooComplex(f"too complex: {name} nests expressions or calls too deeply for drift") from None
        except MemoryError:
            raise TooComplex(f"too complex: {name} needs more memory than drift allows") from None

    # --- helpers ---------------------------------------------------------------------------

    def _where(self, node) -> str:
        return f"{self.path}:{getattr(node, 'lineno', '?')}"

    def _check_int(self, value, where):
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > self.budget.bits:
            raise TooComplex(f"too complex: an integer of more than {self.budget.bits} bits at {where}")
        return value

    def _fail(self, path, message: str):
        """An error of the evaluated code: raised at once where it is certain (a concrete run,
        or a symbolic path with no condition), else recorded with its path's condition."""
        if self.z3 is None or path is True:
            raise EvaluationError(message)
        self.problems.append((path, message))
        return 0

    def _and(self, path, condition):
        if path is True:
            return condition
        return self.z3.And(path, condition)

    def _not(self, condition):
        return (not condition) if isinstance(condition, bool) else self.z3.Not(condition)

    def _truth(self, value, path, where):
        """The value as a condition (Python truthiness)."""
        if value is None:
            return False
        if isinstance(value, (bool, int)):
            return bool(value)
        z3 = self.z3
        return value if z3.is_bool(value) else value != 0

    def _as_int(self, value, path, where):
        """A number operand: bools are 0/1, None is an error of the code."""
        if value is None:
            return self._fail(path, f"None used as a number at {where}")
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        return self.z3.If(value, 1, 0) if self.z3.is_bool(value) else value

    def _sym(self, value):
        return self.z3.IntVal(value) if isinstance(value, int) else value

    def _merge(self, condition, then, otherwise, path, where):
        """`then` where the (symbolic) condition holds, else `otherwise`."""
        z3 = self.z3
        if then is None and otherwise is None:
            return None
        if then is None or otherwise is None:
            self._fail(self._and(path, condition if then is None else self._not(condition)),
                       f"None where a number is needed at {where}")
            then = 0 if then is None else then
            otherwise = 0 if otherwise is None else otherwise
        both_bool = all(isinstance(v, bool) or (not _concrete(v) and z3.is_bool(v)) for v in (then, otherwise))
        if both_bool:
            return z3.If(condition, then, otherwise)
        return z3.If(condition, self._sym(self._as_int(then, path, where)), self._sym(self._as_int(otherwise, path, where)))

    # --- statements ------------------------------------------------------------------------

    def _call(self, name, arguments, path, where):
        if name in ("min", "max") and name not in self.functions:  # a module's own min shadows the builtin
            if len(arguments) < 2:
                raise Missing(f"{name} of fewer than two arguments at {where}, which drift does not evaluate")
            numbers = [self._as_int(a, path, where) for a in arguments]
            if all(isinstance(v, int) for v in numbers):
                return min(numbers) if name == "min" else max(numbers)
            result = self._sym(numbers[0])
            for value in numbers[1:]:
                value = self._sym(value)
                result = self.z3.If(value < result if name == "min" else value > result, value, result)
            return result
        if name == "next_positive_power_of_2":
            # flashinfer.utils.next_positive_power_of_2 (bit-twiddled there, and in the copy
            # some releases' fused_moe/utils.py define): 1 for x < 1, else the smallest power
            # of two >= x. Taken by its name, as before: its own code is not evaluated here
            # (drift --execute runs it).
            if len(arguments) != 1:
                raise Missing(f"next_positive_power_of_2 called with {len(arguments)} arguments at {where}")
            x = self._as_int(arguments[0], path, where)
            if isinstance(x, int):
                return self._check_int(1 if x < 1 else 1 << (x - 1).bit_length(), where)
            top = self.budget.bits - 1
            self.problems.append((self._and(path, x > 2**top),
                                  f"too complex: an integer of more than {self.budget.bits} bits at {where}"))
            result = self.z3.IntVal(2**top)
            for exponent in reversed(range(top)):
                result = self.z3.If(x <= 2**exponent, 2**exponent, result)
            return result
        if name not in self.functions:
            raise Missing(f"a call of {name} at {where}, which drift does not evaluate")
        function = self.functions[name]
        for decorator in function.decorator_list:
            # Only memoization keeps what the body computes; any other decorator may not.
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if _show(target) not in ("cache", "lru_cache", "functools.cache", "functools.lru_cache"):
                raise Missing(f"{name} is decorated with @{_show(decorator)}, which drift does not evaluate")
        parameters = function.args
        if parameters.vararg or parameters.kwarg or parameters.kwonlyargs or parameters.posonlyargs:
            raise Missing(f"{name} takes *args, **kwargs or keyword-only parameters, which drift does not evaluate")
        names = [a.arg for a in parameters.args]
        if len(names) != len(arguments):
            raise Missing(f"{name} called with {len(arguments)} arguments at {where}")
        if self._depth >= self.budget.depth:
            raise TooComplex(f"too complex: calls nested more than {self.budget.depth} deep (at {where})")
        self._depth += 1
        try:
            return self._block(list(function.body), dict(zip(names, arguments)), path, name)
        finally:
            self._depth -= 1

    def _block(self, statements, env, path, function):
        """Run statements (the rest of a function's body); its return value, None if it
        falls off the end. An `if` whose condition is symbolic runs both branches, each
        followed by the rest."""
        for index, statement in enumerate(statements):
            where = self._where(statement)
            self.budget.step(where)
            if isinstance(statement, ast.Return):
                return None if statement.value is None else self.value(statement.value, env, path)
            if isinstance(statement, ast.If):
                condition = self._truth(self.value(statement.test, env, path), path, where)
                rest = statements[index + 1:]
                if isinstance(condition, bool):
                    return self._block((statement.body if condition else statement.orelse) + rest, env, path, function)
                then = self._block(statement.body + rest, env, self._and(path, condition), function)
                otherwise = self._block(statement.orelse + rest, env, self._and(path, self._not(condition)), function)
                return self._merge(condition, then, otherwise, path, where)
            if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)):
                env = {**env, statement.targets[0].id: self.value(statement.value, env, path)}
            elif isinstance(statement, ast.Pass) or (
                    isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)):
                continue  # docstring
            else:
                raise Missing(f"a {type(statement).__name__} statement at {where}, which drift does not evaluate")
        return None

    # --- expressions -----------------------------------------------------------------------

    def value(self, node, env, path=True):
        where = self._where(node)
        self.budget.step(where)
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int))):
            return self._check_int(node.value, where)
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id in self.constants:
                return self.constants[node.id]
            raise Missing(f"unknown name {node.id} at {where}")
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
            left = self._as_int(self.value(node.left, env, path), path, where)
            right = self._as_int(self.value(node.right, env, path), path, where)
            return self._arithmetic(node.op, left, right, path, where)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            operand = self.value(node.operand, env, path)
            if isinstance(node.op, ast.Not):
                return self._not(self._truth(operand, path, where))
            operand = self._as_int(operand, path, where)
            return operand if isinstance(node.op, ast.UAdd) else -operand
        if isinstance(node, ast.BoolOp):
            return self._boolean(node, env, path, where)
        if isinstance(node, ast.Compare):
            return self._compare(node, env, path, where)
        if isinstance(node, ast.IfExp):
            condition = self._truth(self.value(node.test, env, path), path, where)
            if isinstance(condition, bool):
                return self.value(node.body if condition else node.orelse, env, path)
            then = self.value(node.body, env, self._and(path, condition))
            otherwise = self.value(node.orelse, env, self._and(path, self._not(condition)))
            return self._merge(condition, then, otherwise, path, where)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords
                and not any(isinstance(a, ast.Starred) for a in node.args)):
            return self._call(node.func.id, [self.value(a, env, path) for a in node.args], path, where)
        raise Missing(f"{_show(node)!r} at {where}, which drift does not evaluate")

    def _arithmetic(self, op, left, right, path, where):
        if isinstance(left, int) and isinstance(right, int):
            if isinstance(op, ast.FloorDiv):
                if right == 0:
                    return self._fail(path, f"division by zero at {where}")
                return self._check_int(left // right, where)
            result = left + right if isinstance(op, ast.Add) else left - right if isinstance(op, ast.Sub) else left * right
            return self._check_int(result, where)
        z3 = self.z3
        left, right = self._sym(left), self._sym(right)
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        # Python's floor division; Z3's integer division is Euclidean, the floor for a
        # positive divisor, so a negative one divides the negated operands.
        if z3.is_int_value(right):
            divisor = right.as_long()
            if divisor == 0:
                return self._fail(path, f"division by zero at {where}")
            return left / right if divisor > 0 else (-left) / (-right)
        self.problems.append((self._and(path, right == 0), f"division by zero at {where}"))
        return z3.If(right > 0, left / right, z3.If(right < 0, (-left) / (-right), 0))

    def _boolean(self, node, env, path, where):
        """`a and b` is a if a is falsy, else b; `a or b` is a if a is truthy, else b; the
        right operand is evaluated only where the left one does not decide."""
        conjunction = isinstance(node.op, ast.And)

        def fold(values, path):
            first = self.value(values[0], env, path)
            if len(values) == 1:
                return first
            truth = self._truth(first, path, where)
            decides = self._not(truth) if conjunction else truth
            if isinstance(decides, bool):
                return first if decides else fold(values[1:], path)
            rest = fold(values[1:], self._and(path, self._not(decides)))
            return self._merge(decides, first, rest, path, where)

        return fold(node.values, path)

    def _compare(self, node, env, path, where):
        """A comparison (chained as Python: each operand evaluated once, stopping at the
        first false one)."""
        left = self.value(node.left, env, path)
        result = True
        for op, comparator in zip(node.ops, node.comparators):
            if not isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)):
                raise Missing(f"a {type(op).__name__} comparison at {where}, which drift does not evaluate")
            step_path = self._and(path, result) if not isinstance(result, bool) else path
            right = self.value(comparator, env, step_path)
            a, b = self._as_int(left, step_path, where), self._as_int(right, step_path, where)
            if not (isinstance(a, int) and isinstance(b, int)):
                a, b = self._sym(a), self._sym(b)
            outcome = {ast.Lt: lambda: a < b, ast.LtE: lambda: a <= b, ast.Gt: lambda: a > b,
                       ast.GtE: lambda: a >= b, ast.Eq: lambda: a == b, ast.NotEq: lambda: a != b}[type(op)]()
            if isinstance(result, bool):
                result = outcome  # result is True here
            elif isinstance(outcome, bool):
                result = result if outcome else False
            else:
                result = self.z3.And(result, outcome)
            if result is False:
                return False
            left = right
        return result


def _show(node) -> str:
    try:
        text = ast.unparse(node)
    except (RecursionError, ValueError):
        text = type(node).__name__
    return text if len(text) <= 120 else text[:117] + "..."
