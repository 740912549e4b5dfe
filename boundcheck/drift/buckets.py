"""The trtllm-gen runner's tuning-bucket map: round-down or hybrid (and which function
builds it), read with ast from fused_moe/*.py; a hybrid map's phase constants, and its
map_to_hybrid_bucket run by the evaluator (boundcheck.drift.python_evaluator, within its
budget) against the model's: on every small input and each side of every boundary one at
a time, then symbolically, by Z3, on the whole domain (every x <= 2**25, every
tune_max_num_tokens 1..2**31-1)."""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass

from .. import facts
from ..facts import FUSED_MOE_CORE, FUSED_MOE_UTILS
from ..tiles import POWER_OF_TWO_EXPONENTS, map_to_hybrid_bucket
from .folder import _Folder
from .found import Found, Missing
from .paths import FUSED_MOE_TUNING
from .python_evaluator import Budget, EvaluationError, TooComplex, _PyEvaluator


@dataclass(frozen=True)
class Buckets:
    kind: str  # "round_down" | "hybrid" | what else
    phases: tuple | None  # hybrid: (_PHASE1_END, _PHASE2_STEP, _PHASE2_END, _PHASE3_STEP, _PHASE3_END)
    mapping: str | None  # hybrid: "same as the model's" | where it differs
    builders: frozenset  # the functions that build the trtllm-gen runner's tuning buckets


_PHASE_NAMES = ("_PHASE1_END", "_PHASE2_STEP", "_PHASE2_END", "_PHASE3_STEP", "_PHASE3_END")
MODEL_PHASES = (facts.BUCKET_PHASE1_END, facts.BUCKET_PHASE2_STEP, facts.BUCKET_PHASE2_END,
                facts.BUCKET_PHASE3_STEP, facts.BUCKET_PHASE3_END)
SAME_MAPPING = "same mapping as the model's on every x <= 2**25 and max_num_tokens 1..2**31-1"


def _call_name(node) -> str | None:
    if isinstance(node, ast.Call):
        function = node.func
        return function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)
    return None


def _bucket_kind(mapper) -> str:
    """round_down: lambda x: min(last_positive_power_of_2(x), T); hybrid: lambda x:
    map_to_hybrid_bucket(x, T); hybrid_mapper: make_hybrid_bucket_mapper(T) (0.6.15+)."""
    if _call_name(mapper) == "make_hybrid_bucket_mapper":
        return "hybrid_mapper"
    if isinstance(mapper, ast.Lambda) and len(mapper.args.args) == 1 and isinstance(mapper.body, ast.Call):
        x, body = mapper.args.args[0].arg, mapper.body
        first = body.args[0] if body.args else None
        if (_call_name(body) == "min" and len(body.args) == 2 and _call_name(first) == "last_positive_power_of_2"
                and len(first.args) == 1 and isinstance(first.args[0], ast.Name) and first.args[0].id == x):
            return "round_down"
        if _call_name(body) == "map_to_hybrid_bucket" and isinstance(first, ast.Name) and first.id == x:
            return "hybrid"
    return f"unrecognised: {ast.unparse(mapper)}"


def _bucket_specs(tree: ast.AST) -> list[tuple[str, str]]:
    """(innermost enclosing function, kind) of every DynamicTensorSpec's bucket map."""
    found = []

    def visit(node, function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if _call_name(node) == "DynamicTensorSpec":
            mapper = node.args[3] if len(node.args) > 3 else next(
                (k.value for k in node.keywords if k.arg == "map_to_tuning_buckets"), None)
            if mapper is not None:
                found.append((function, _bucket_kind(mapper)))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def _trtllm_bucket_specs(folder: _Folder) -> tuple[list, str]:
    """The trtllm-gen runner's bucket maps: in core.py's get_trtllm_moe_sm100_module up to
    0.6.15 (its _get_trtllm_moe_sm100_module_impl in 0.6.16-0.6.18), in
    fused_moe/shared/tuning.py from 0.7.0. core.py's other runner is CUTLASS's."""
    for node in folder.python(FUSED_MOE_CORE).body:
        if isinstance(node, ast.FunctionDef) and "trtllm_moe_sm100_module" in node.name:
            specs = _bucket_specs(node)
            if specs:
                return specs, f"{FUSED_MOE_CORE}: {node.name}"
    if folder.exists(FUSED_MOE_TUNING):
        specs = _bucket_specs(folder.python(FUSED_MOE_TUNING))
        if specs:
            return specs, FUSED_MOE_TUNING
    raise Missing(f"no DynamicTensorSpec of the trtllm-gen runner in {FUSED_MOE_CORE} or {FUSED_MOE_TUNING}")


def _mapper_is_hybrid(folder: _Folder) -> bool:
    """make_hybrid_bucket_mapper(T) is partial(map_to_hybrid_bucket, max_num_tokens=T)."""
    for node in folder.python(FUSED_MOE_UTILS).body:
        if isinstance(node, ast.FunctionDef) and node.name == "make_hybrid_bucket_mapper":
            returns = [n.value for n in ast.walk(node) if isinstance(n, ast.Return)]
            return (len(returns) == 1 and _call_name(returns[0]) == "partial" and bool(returns[0].args)
                    and isinstance(returns[0].args[0], ast.Name) and returns[0].args[0].id == "map_to_hybrid_bucket")
    return False


# The domain on which the folder's map must equal the model's: every token count the model
# describes (boundcheck.tiles: up to 2**POWER_OF_TWO_EXPONENTS, and every count below 1)
# and every tune_max_num_tokens, 1..2**31-1. Z3 checks the whole of it.
X_MIN, X_MAX = -(2**31), 2**POWER_OF_TWO_EXPONENTS
CAP_MIN, CAP_MAX = 1, 2**31 - 1
# Compared one input at a time first (a small input where they differ, and a check of the
# symbolic translation): every x in [-2, 1100] with the largest max, every x in [-2, 40]
# with each max in 1..40, and each side of every phase boundary and step multiple.
_BUCKET_CAPS = (1, 100, 256, 3000, 8192, 2**20, CAP_MAX)


def _bucket_samples(phases) -> list[tuple[int, int]]:
    """(x, tune_max) pairs: all small values, and each side of every phase boundary and
    step multiple of both the source's and the model's constants."""
    pairs = [(x, CAP_MAX) for x in range(-2, 1101)]
    pairs += [(x, cap) for cap in range(1, 41) for x in range(-2, 41)]
    points = {8191, 8192, 8193, 2**19 + 3, 2**20 + 1, X_MAX - 1, X_MAX}
    for boundary in set(phases) | set(MODEL_PHASES):
        for multiple in range(1, 17):
            points |= {boundary * multiple - 1, boundary * multiple, boundary * multiple + 1}
    pairs += [(x, cap) for cap in _BUCKET_CAPS for x in sorted(points) if X_MIN <= x <= X_MAX]
    return list(dict.fromkeys(pairs))


_MODEL_BUCKETS: dict = {}


def _model_bucket(x: int, cap: int) -> int:
    if (x, cap) not in _MODEL_BUCKETS:
        _MODEL_BUCKETS[(x, cap)] = int(map_to_hybrid_bucket(x, cap))
    return _MODEL_BUCKETS[(x, cap)]


def _bound_names(node) -> set:
    """Every name a statement binds, at any depth (defs, classes, imports, assignment targets, del)."""
    names = set()
    for inner in ast.walk(node):
        if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(inner.name)
        elif isinstance(inner, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in inner.names}
        elif isinstance(inner, ast.Name) and isinstance(inner.ctx, (ast.Store, ast.Del)):
            names.add(inner.id)
    return names


def _module_definitions(module: ast.Module) -> tuple[dict, dict]:
    """(functions, integer constants) bound at the module's top level, as Python leaves
    them: the last binding of a name wins; a name bound to anything but a plain `def` or an
    integer literal (an import, a class, another value, a binding inside if / try / with /
    a loop) is neither, so that code calling it is not evaluated."""
    functions, constants = {}, {}
    for node in module.body:
        if isinstance(node, ast.FunctionDef):
            functions[node.name] = node
            constants.pop(node.name, None)
            continue
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant) and type(node.value.value) is int):
            constants[node.targets[0].id] = node.value.value
            functions.pop(node.targets[0].id, None)
            continue
        for name in _bound_names(node):
            functions.pop(name, None)
            constants.pop(name, None)
    return functions, constants


def _the_same_map(evaluator: _PyEvaluator, budget: Budget, phases) -> str:
    """SAME_MAPPING, or where the folder's map differs from the model's: first on the
    samples, one at a time, then by Z3 on the whole domain (X_MIN..X_MAX x CAP_MIN..CAP_MAX).
    An error of the code is Missing naming it; past the budget, TooComplex."""

    def differs(x, cap) -> str | None:
        try:
            theirs = evaluator.call("map_to_hybrid_bucket", [x, cap])
        except (EvaluationError, TooComplex) as error:
            raise type(error)(f"{error}, for (x, max) = ({x}, {cap})") from None
        if theirs is None or theirs != _model_bucket(x, cap):
            return f"differs at (x, max) = ({x}, {cap}): {theirs} vs the model's {_model_bucket(x, cap)}"
        return None

    for x, cap in _bucket_samples(phases):
        found = differs(x, cap)
        if found:
            return found
    witness = _z3_witness(evaluator, budget)
    if witness is None:
        return SAME_MAPPING
    found = differs(*witness)  # raises the code's own error there, if that is what Z3 found
    if found is None:
        raise Missing(f"Z3 and the evaluator disagree at (x, max) = {witness}; not compared")
    return found


def _z3_witness(evaluator: _PyEvaluator, budget: Budget) -> tuple[int, int] | None:
    """An input of the domain where the folder's map differs from the model's or fails,
    None if there is none (Z3 proves it); TooComplex if Z3 cannot tell in the time left."""
    import z3

    from ..solver.backends import Z3IntOps

    x, cap = z3.Int("x"), z3.Int("max_num_tokens")
    theirs, problems = evaluator.symbolic("map_to_hybrid_bucket", [x, cap])
    model = map_to_hybrid_bucket(x, cap, ops=Z3IntOps())
    seconds = budget.remaining()
    if seconds <= 0:
        budget.check_time()
    solver = z3.Solver()
    solver.set("timeout", max(1, int(seconds * 1000)))
    solver.add(x >= X_MIN, x <= X_MAX, cap >= CAP_MIN, cap <= CAP_MAX)
    solver.add(z3.Or(theirs != model, *(condition for condition, _ in problems)))
    verdict = solver.check()
    if verdict == z3.unsat:
        return None
    if verdict == z3.sat:
        found = solver.model()
        return (found.eval(x, model_completion=True).as_long(), found.eval(cap, model_completion=True).as_long())
    raise TooComplex(f"too complex: Z3 could not compare map_to_hybrid_bucket with the model's on the whole domain "
                     f"within the {budget.seconds:g} s budget ({solver.reason_unknown()})")


_SAME_MAPS: dict = {}


def _hybrid_map(folder: _Folder) -> tuple[tuple, str]:
    """fused_moe/utils.py's phase constants, and whether its map_to_hybrid_bucket (run by
    the evaluator, never imported) maps every input of the domain as the model's does."""
    module = folder.python(FUSED_MOE_UTILS)
    functions, constants = _module_definitions(module)
    absent = [name for name in _PHASE_NAMES if name not in constants]
    if "map_to_hybrid_bucket" not in functions or absent:
        raise Missing(f"{FUSED_MOE_UTILS}: no map_to_hybrid_bucket or no {', '.join(absent) or 'phase constants'}")
    phases = tuple(constants[name] for name in _PHASE_NAMES)
    key = hashlib.sha256(folder.text(FUSED_MOE_UTILS).encode()).hexdigest()  # what functions and constants come from
    if key not in _SAME_MAPS:
        budget = Budget()
        evaluator = _PyEvaluator(functions, constants, FUSED_MOE_UTILS, budget)
        try:
            mapping = _the_same_map(evaluator, budget, phases)
        except Missing as missing:
            raise Missing(f"{FUSED_MOE_UTILS}: map_to_hybrid_bucket: {missing}") from None
        except (ArithmeticError, RecursionError, MemoryError) as error:  # a backstop: the evaluator names its own
            raise Missing(f"{FUSED_MOE_UTILS}: map_to_hybrid_bucket: {type(error).__name__}") from None
        _SAME_MAPS[key] = mapping
    return phases, _SAME_MAPS[key]


def _buckets(folder: _Folder) -> Found:
    specs, where = _trtllm_bucket_specs(folder)
    builders = frozenset(function for function, _ in specs if function)
    if any(kind == "hybrid_mapper" for _, kind in specs):
        hybrid = "hybrid" if _mapper_is_hybrid(folder) else "unrecognised: make_hybrid_bucket_mapper"
        specs = [(function, hybrid if kind == "hybrid_mapper" else kind) for function, kind in specs]
    kinds = sorted({kind for _, kind in specs})
    if kinds == ["hybrid"]:
        phases, mapping = _hybrid_map(folder)
        value = Buckets("hybrid", phases, mapping, builders)
        return Found(value, _describe_buckets(value), f"{where}; {FUSED_MOE_UTILS}: map_to_hybrid_bucket")
    value = Buckets(kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds), None, None, builders)
    return Found(value, _describe_buckets(value), where)


def _describe_buckets(value: Buckets, builder: str | None = None) -> str:
    if value.kind == "round_down":
        text = "round_down: min(last_positive_power_of_2(x), tune_max_num_tokens)"
    elif value.kind == "hybrid" and value.phases is not None:
        text = (f"hybrid: phases {'/'.join(map(str, value.phases))} "
                f"({', '.join(f'{n}={v}' for n, v in zip(_PHASE_NAMES, value.phases))}); {value.mapping}")
    else:
        text = value.kind
    if builder:
        return f"{text}; built in {builder}"
    if value.builders and value.kind == "round_down":
        return f"{text}; built in {', '.join(sorted(value.builders))}"
    return text


def _era_bucket_builder(era) -> str | None:
    """The function the era records as building the round-down buckets (core.py
    refine_tuning_config up to 0.6.7.x, _make_tuning_config in 0.6.8-0.6.9). E14 and E15
    have the same geometry and differ only there, so it is what tells their sources apart."""
    source = era.sources.get("buckets")
    if source is None or source.path != FUSED_MOE_CORE:
        return None
    m = re.match(r"(\w+)\s*:", source.symbol)
    return m.group(1) if m else None
