"""The trtllm-gen fused MoE entry points of a flashinfer package folder, read with `ast`
(flashinfer is never imported or run): each one's parameters, defaults, structure and what
its finalized call returns. tools/record_signatures.py records every modeled release's into
runtime/signatures.py with it; `boundcheck adopt` compares a new release's with its era's.
How the sources are read is tools/record_signatures.py's docstring.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from boundcheck.runtime.default_expr import Expr

ENTRY_RE = re.compile(r"^trtllm_[a-z0-9]+(?:_[a-z0-9]+)*_moe$")
# What the finalized call is assumed to look like when the return statements are read.
FINALIZED = {"do_finalize": True}
NO_LORA = "gemm1_lora_delta"
UNKNOWN = "unknown"
MAX_DEPTH = 10


# --- the sources of one release -----------------------------------------------------------


@dataclass
class Module:
    name: str  # dotted, relative to fused_moe ("core", "backends.trtllm.sm100_runner")
    path: Path
    rel: str  # "fused_moe/core.py"
    tree: ast.Module


class Package:
    """fused_moe/ of one release, parsed lazily (files are only parsed when needed).
    0.2.8 has one module, flashinfer/fused_moe.py: the package is then that file alone."""

    def __init__(self, root: Path):
        self.root = root  # .../<VERSION>/flashinfer/fused_moe
        self.single = root.with_suffix(".py") if not root.is_dir() and root.with_suffix(".py").is_file() else None
        self._modules: dict[str, Module | None] = {}

    def module_names(self) -> list[str]:
        if self.single is not None:
            return [""]
        names = []
        for path in sorted(self.root.rglob("*.py")):
            parts = list(path.relative_to(self.root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
        return names

    def path_of(self, name: str) -> Path | None:
        if self.single is not None:
            return self.single if name == "" else None
        base = self.root.joinpath(*name.split(".")) if name else self.root
        for candidate in (base.with_suffix(".py") if name else None, base / "__init__.py"):
            if candidate is not None and candidate.is_file():
                return candidate
        return None

    def module(self, name: str) -> Module | None:
        if name not in self._modules:
            path = self.path_of(name)
            if path is None:
                self._modules[name] = None
            else:
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
                rel = "fused_moe.py" if self.single else "fused_moe/" + path.relative_to(self.root).as_posix()
                self._modules[name] = Module(name, path, rel, tree)
        return self._modules[name]

    def text_contains(self, name: str, needle: str) -> bool:
        path = self.path_of(name)
        return path is not None and needle in path.read_text(encoding="utf-8")

    def resolve_relative(self, module: Module, level: int, target: str | None) -> str | None:
        """The dotted name (relative to fused_moe) of `from <.. target> import`, or None when
        it leaves fused_moe/."""
        is_package = module.path.name == "__init__.py"
        parts = module.name.split(".") if module.name else []
        if not is_package:
            parts = parts[:-1]
        up = level - 1
        if up > len(parts):
            return None
        parts = parts[: len(parts) - up]
        if target:
            parts += target.split(".")
        return ".".join(parts)


def top_level_defs(module: Module) -> dict[str, ast.FunctionDef]:
    """Module-level function definitions (the last one of each name)."""
    defs = {}
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs[node.name] = node
    return defs


PACKAGE = "flashinfer.fused_moe"


def import_target(pkg: Package, module: Module, node: ast.ImportFrom) -> str | None:
    """The module (dotted, relative to fused_moe) an ImportFrom reads, or None when it is
    outside fused_moe/."""
    if node.level >= 1:
        return pkg.resolve_relative(module, node.level, node.module)
    if node.module == PACKAGE:
        return ""
    if node.module and node.module.startswith(PACKAGE + "."):
        return node.module[len(PACKAGE) + 1:]
    return None


def import_source(pkg: Package, module: Module, name: str, statements=None) -> tuple[str, str] | None:
    """(module name, original name) that `module` (or the given statements of it) imports
    `name` from, within fused_moe/."""
    found = None
    for node in module.tree.body if statements is None else statements:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    target = import_target(pkg, module, node)
                    found = None if target is None else (target, alias.name)
    return found


def find_definition(pkg: Package, module_name: str, name: str, seen=None):
    """Follow `from .x import name` re-exports from `module_name` to the module-level def."""
    seen = set() if seen is None else seen
    if (module_name, name) in seen:
        return None
    seen.add((module_name, name))
    module = pkg.module(module_name)
    if module is None:
        return None
    defs = top_level_defs(module)
    if name in defs:
        return module, defs[name]
    source = import_source(pkg, module, name)
    if source is None:
        return None
    return find_definition(pkg, source[0], source[1], seen)


# --- what the finalized call returns ------------------------------------------------------


def walk_no_nested(node):
    """The nodes under `node`, not descending into nested functions, lambdas or classes."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        yield child
        yield from walk_no_nested(child)


def truth(test):
    """The value of an `if` test in the finalized, LoRA-free call: True, False or None."""
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.Name):
        return FINALIZED.get(test.id)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = truth(test.operand)
        return None if inner is None else not inner
    if isinstance(test, ast.BoolOp):
        values = [truth(v) for v in test.values]
        if isinstance(test.op, ast.And):
            if any(v is False for v in values):
                return False
            return True if all(v is True for v in values) else None
        if any(v is True for v in values):
            return True
        return False if all(v is False for v in values) else None
    if (
        isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Name)
        and test.left.id == NO_LORA and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    ):
        if isinstance(test.ops[0], ast.Is):
            return True
        if isinstance(test.ops[0], ast.IsNot):
            return False
    return None


def reachable_returns(stmts):
    """(return statements reachable in the finalized call, whether `stmts` always leave)."""
    returns = []
    for stmt in stmts:
        if isinstance(stmt, ast.Return):
            returns.append(stmt)
            return returns, True
        if isinstance(stmt, ast.Raise):
            return returns, True
        if isinstance(stmt, ast.If):
            value = truth(stmt.test)
            if value is True:
                found, leaves = reachable_returns(stmt.body)
            elif value is False:
                found, leaves = reachable_returns(stmt.orelse)
            else:
                body, body_leaves = reachable_returns(stmt.body)
                other, other_leaves = reachable_returns(stmt.orelse)
                found, leaves = body + other, body_leaves and other_leaves
            returns += found
            if leaves:
                return returns, True
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            found, leaves = reachable_returns(stmt.body)
            returns += found
            if leaves:
                return returns, True
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            returns += reachable_returns(stmt.body)[0] + reachable_returns(stmt.orelse)[0]
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            for block in [stmt.body, stmt.orelse, stmt.finalbody] + [h.body for h in stmt.handlers]:
                returns += reachable_returns(block)[0]
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                returns += reachable_returns(case.body)[0]
    return returns, False


def reachable_statements(stmts):
    """The statements (at any block depth, not in nested defs) that the finalized call can
    reach: `if` branches whose test is decided are pruned."""
    for stmt in stmts:
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, ast.If):
            value = truth(stmt.test)
            if value is not False:
                yield from reachable_statements(stmt.body)
            if value is not True:
                yield from reachable_statements(stmt.orelse)
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from reachable_statements(getattr(stmt, field, None) or [])
        for handler in getattr(stmt, "handlers", None) or []:
            yield from reachable_statements(handler.body)
        for case in getattr(stmt, "cases", None) or []:
            yield from reachable_statements(case.body)


@dataclass(frozen=True)
class Scope:
    module: Module
    functions: tuple  # enclosing function nodes, outermost first

    def inside(self, fn) -> "Scope":
        return Scope(self.module, self.functions + (fn,))


class Returns:
    """Reads what a function returns in the finalized call, following calls into Python
    functions of fused_moe/ (nested ones, module-level ones and `from .x import`s) and the
    `get_..._module().op(...)` SimpleNamespace pattern. C++ ops are "unknown"."""

    def __init__(self, pkg: Package):
        self.pkg = pkg
        self._known: dict = {}  # id(fn) -> a kind read without hitting a limit
        self._open: set = set()  # functions being read (recursion)

    def of_function(self, fn, scope: Scope, depth=0) -> str:
        key = id(fn)
        if key in self._known:
            return self._known[key]
        if key in self._open or depth > MAX_DEPTH:
            return UNKNOWN
        self._open.add(key)
        try:
            returns, leaves = reachable_returns(fn.body)
            kinds = {self.classify(r.value, scope, depth + 1) for r in returns}
        finally:
            self._open.discard(key)
        if not leaves:
            kinds.add(UNKNOWN)  # may fall off the end and return None
        result = kinds.pop() if len(kinds) == 1 else UNKNOWN
        if result != UNKNOWN:
            self._known[key] = result
        return result

    def resolve_function(self, name: str, scope: Scope):
        """(function node, its scope) for a call to `name` in `scope`, or None."""
        for i in range(len(scope.functions) - 1, -1, -1):
            fn = scope.functions[i]
            defs = [n for n in _direct_defs(fn) if n.name == name]
            if defs:
                outer = Scope(scope.module, scope.functions[: i + 1])
                return defs[-1], outer.inside(defs[-1])
            local_imports = [n for n in walk_no_nested(fn) if isinstance(n, ast.ImportFrom)]
            source = import_source(self.pkg, scope.module, name, local_imports)
            if source is not None:
                found = find_definition(self.pkg, source[0], source[1])
                return None if found is None else (found[1], Scope(found[0], (found[1],)))
        found = find_definition(self.pkg, scope.module.name, name)
        if found is None:
            return None
        module, node = found
        return node, Scope(module, (node,))

    def classify(self, expr, scope: Scope, depth: int) -> str:
        if expr is None or depth > MAX_DEPTH:
            return UNKNOWN
        if isinstance(expr, ast.List):
            if len(expr.elts) == 1 and self.classify(expr.elts[0], scope, depth + 1) == "output":
                return "[output]"
            return UNKNOWN
        if isinstance(expr, ast.Subscript):
            index = expr.slice
            if isinstance(index, ast.Constant) and index.value == 0:
                if self.classify(expr.value, scope, depth + 1) == "[output]":
                    return "output"
            return UNKNOWN
        if isinstance(expr, ast.Name):
            if expr.id == "output":
                return "output"  # the output buffer (a parameter or its allocation)
            return self.classify_name(expr.id, scope, depth)
        if isinstance(expr, ast.IfExp):
            value = truth(expr.test)
            if value is not None:
                return self.classify(expr.body if value else expr.orelse, scope, depth + 1)
            a = self.classify(expr.body, scope, depth + 1)
            return a if a == self.classify(expr.orelse, scope, depth + 1) else UNKNOWN
        if isinstance(expr, ast.Call):
            return self.classify_call(expr, scope, depth)
        return UNKNOWN

    def classify_name(self, name: str, scope: Scope, depth: int) -> str:
        if not scope.functions:
            return UNKNOWN
        fn = scope.functions[-1]
        values = []
        for node in reachable_statements(fn.body):
            if isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                    values.append(node.value)
                elif any(name in {n.id for n in ast.walk(t) if isinstance(n, ast.Name)} for t in node.targets):
                    return UNKNOWN  # tuple unpacking, item assignment and the like
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
                if node.target.id == name:
                    if node.value is None or isinstance(node, ast.AugAssign):
                        return UNKNOWN
                    values.append(node.value)
        if not values:
            return UNKNOWN
        kinds = {self.classify(v, scope, depth + 1) for v in values}
        return kinds.pop() if len(kinds) == 1 else UNKNOWN

    def classify_call(self, call: ast.Call, scope: Scope, depth: int) -> str:
        func = call.func
        if isinstance(func, ast.Name):
            found = self.resolve_function(func.id, scope)
            if found is None:
                return UNKNOWN
            node, inner = found
            kind = self.of_function(node, inner, depth + 1)
            if kind == UNKNOWN:
                kind = self.generic_result(node, inner, call, scope, depth + 1)
            return kind
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
            op = self.namespace_member(func.value, func.attr, scope, depth + 1)
            if op is None:
                return UNKNOWN
            node, inner = op
            return self.of_function(node, inner, depth + 1)
        return UNKNOWN

    def generic_result(self, fn, fn_scope: Scope, call: ast.Call, scope: Scope, depth: int) -> str:
        """A callee declared `-> T` (T a TypeVar of its module) whose callable parameters
        are declared `Callable[..., T]` returns what the callables passed to it return."""
        if not isinstance(fn.returns, ast.Name) or not _is_typevar(fn_scope.module, fn.returns.id):
            return UNKNOWN
        typevar = fn.returns.id
        args = fn.args
        positional = [a.arg for a in args.posonlyargs + args.args]
        bound = dict(zip(positional, call.args))
        bound.update({k.arg: k.value for k in call.keywords if k.arg is not None})
        callables = [
            a.arg for a in args.posonlyargs + args.args + args.kwonlyargs
            if _returns_typevar(a.annotation, typevar)
        ]
        if not callables:
            return UNKNOWN
        kinds = set()
        for name in callables:
            value = bound.get(name)
            if isinstance(value, ast.Lambda):
                kinds.add(self.classify(value.body, scope, depth + 1))
            elif isinstance(value, ast.Name):
                found = self.resolve_function(value.id, scope)
                kinds.add(UNKNOWN if found is None else self.of_function(found[0], found[1], depth + 1))
            else:
                kinds.add(UNKNOWN)
        return kinds.pop() if len(kinds) == 1 else UNKNOWN

    def namespace_member(self, getter: ast.Call, attr: str, scope: Scope, depth: int):
        """`getter(...).attr` where getter returns `SimpleNamespace(attr=fn, ...)`."""
        if depth > MAX_DEPTH or not isinstance(getter.func, ast.Name):
            return None
        found = self.resolve_function(getter.func.id, scope)
        if found is None:
            return None
        node, inner = found
        members = {}
        for ret in (n for n in walk_no_nested(node) if isinstance(n, ast.Return)):
            value = ret.value
            if not isinstance(value, ast.Call):
                continue
            if isinstance(value.func, ast.Name) and value.func.id == "SimpleNamespace":
                for keyword in value.keywords:
                    if keyword.arg == attr and isinstance(keyword.value, ast.Name):
                        fn = self.resolve_function(keyword.value.id, inner)
                        if fn is not None:
                            members[id(fn[0])] = fn
            else:
                fn = self.namespace_member(value, attr, inner, depth + 1)
                if fn is not None:
                    members[id(fn[0])] = fn
        return next(iter(members.values())) if len(members) == 1 else None


def _is_typevar(module: Module, name: str) -> bool:
    for node in module.tree.body:
        if (
            isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Call) and ast.unparse(node.value.func).split(".")[-1] == "TypeVar"
        ):
            return True
    return False


def _returns_typevar(annotation, typevar: str) -> bool:
    """Whether an annotation is `Callable[[...], typevar]` (or typing./collections.abc.)."""
    if not isinstance(annotation, ast.Subscript):
        return False
    if ast.unparse(annotation.value).split(".")[-1] != "Callable":
        return False
    index = annotation.slice
    return (
        isinstance(index, ast.Tuple) and len(index.elts) == 2
        and isinstance(index.elts[1], ast.Name) and index.elts[1].id == typevar
    )


def _direct_defs(fn):
    """Function definitions whose nearest enclosing function is `fn`, in source order."""
    defs = []
    for node in [fn, *walk_no_nested(fn)]:
        defs += [n for n in ast.iter_child_nodes(node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return sorted(defs, key=lambda n: (n.lineno, n.col_offset))


# --- signatures ---------------------------------------------------------------------------




def default_value(node):
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return Expr(ast.unparse(node))
    if value is None or type(value) in (bool, int, float, str):
        return value
    return Expr(ast.unparse(node))


def signature_of(fn) -> tuple[tuple, dict, dict]:
    """(parameter names in inspect order, defaults, structure) of a def."""
    args = fn.args
    positional = args.posonlyargs + args.args
    params = [a.arg for a in positional]
    defaults = {}
    for arg, node in zip(positional[len(positional) - len(args.defaults):], args.defaults):
        defaults[arg.arg] = default_value(node)
    if args.vararg is not None:
        params.append(args.vararg.arg)
    for arg, node in zip(args.kwonlyargs, args.kw_defaults):
        params.append(arg.arg)
        if node is not None:
            defaults[arg.arg] = default_value(node)
    if args.kwarg is not None:
        params.append(args.kwarg.arg)
    structure = {
        "positional_only": tuple(a.arg for a in args.posonlyargs),
        "var_positional": args.vararg.arg if args.vararg is not None else None,
        "keyword_only": tuple(a.arg for a in args.kwonlyargs),
        "var_keyword": args.kwarg.arg if args.kwarg is not None else None,
    }
    return tuple(params), defaults, structure


@dataclass
class Found:
    params: tuple
    defaults: dict
    structure: dict
    returns: str
    module: str  # fused_moe/core.py
    exported: bool


def record_release(root: Path, notes: list) -> dict[str, Found]:
    """Entry point name -> Found, for the release unpacked at root (.../<VERSION>)."""
    pkg = Package(root / "flashinfer" / "fused_moe")
    defined: dict[str, list[Module]] = {}
    for name in pkg.module_names():
        if not pkg.text_contains(name, "def trtllm_"):
            continue
        module = pkg.module(name)
        for fn_name in top_level_defs(module):
            if ENTRY_RE.match(fn_name):
                defined.setdefault(fn_name, []).append(module)
    init = pkg.module("")
    exported = set(defined) if pkg.single is not None else set()  # 0.2.8: the module itself
    if init is not None and pkg.single is None:
        for node in init.tree.body:
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                exported |= {a.asname or a.name for a in node.names if ENTRY_RE.match(a.asname or a.name)}
    returns = Returns(pkg)
    out = {}
    for name in sorted(set(defined) | exported):
        found = find_definition(pkg, "", name) if name in exported else None
        if found is None:
            modules = defined.get(name, [])
            if not modules:
                notes.append(f"{root.name}: {name} is imported by fused_moe/__init__.py but no def was found")
                continue
            if len(modules) > 1:
                notes.append(f"{root.name}: {name} is defined in {', '.join(m.rel for m in modules)} and not "
                             f"exported; took {modules[-1].rel}")
            module = modules[-1]
            found = (module, top_level_defs(module)[name])
        module, fn = found
        if name not in exported:
            notes.append(f"{root.name}: {name} is defined in {module.rel} but not imported by fused_moe/__init__.py")
        params, defaults, structure = signature_of(fn)
        kind = returns.of_function(fn, Scope(module, (fn,)))
        out[name] = Found(params, defaults, structure, kind, module.rel, name in exported)
    return out
