"""What one parsed translation unit says: the 32-bit candidates, the flow facts, the calls.

Walks the function bodies located in flashinfer's own files (never cutlass, cub, torch or
the standard library) and records, as plain data so that the units of a release can be
joined:

- **candidates**: integer expressions of 32 bits or fewer that can grow: `*`, `+`, `-`,
  `<<` and their compound assignments, and conversions from a 64-bit integer down to 32
  bits or fewer (implicit or written), with the declarations they read;
- **flows**: which declarations a value is stored into, from which declarations
  (initializers, assignments, call arguments into the callee's parameters by position,
  return values into the function), so that taint.py can follow the token count;
- **calls**: for each function, the functions it names (by name: a dependent call in a
  template has no resolved declaration), for reachability from the launcher.

Types are libclang's canonical types: the compiler decides int vs int64_t vs unsigned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARITHMETIC = {"*", "+", "-", "<<"}
COMPOUND = {"*=", "+=", "-=", "<<="}
ASSIGN = {"="} | COMPOUND
# `i < numTokens`: a loop index compared with a count ranges up to it (a bound is a flow).
RELATIONAL = {"<", "<=", ">", ">=", "!="}


@dataclass(frozen=True)
class Candidate:
    file: str  # relative to the release's data folder
    line: int
    function: str
    code: str  # the expression's tokens, one space apart
    operator: str  # "*", "+=", ..., or "narrowing"
    type: str  # canonical type of the result
    reads: frozenset  # keys of the declarations the expression reads


@dataclass
class UnitFacts:
    candidates: list = field(default_factory=list)
    flows: list = field(default_factory=list)  # (target key, frozenset of source keys)
    calls: dict = field(default_factory=dict)  # function name -> set of names it references
    names: dict = field(default_factory=dict)  # declaration key -> spelling
    defined: dict = field(default_factory=dict)  # flashinfer file -> names of the functions it defines


def _integer_width(ctype) -> int | None:
    """Bytes of an integer type (None for anything else)."""
    from clang.cindex import TypeKind

    kind = ctype.get_canonical().kind
    if kind in (TypeKind.BOOL,):
        return None
    if kind in (TypeKind.CHAR_S, TypeKind.SCHAR, TypeKind.UCHAR, TypeKind.CHAR_U, TypeKind.SHORT, TypeKind.USHORT,
                TypeKind.INT, TypeKind.UINT, TypeKind.LONG, TypeKind.ULONG, TypeKind.LONGLONG, TypeKind.ULONGLONG,
                TypeKind.ENUM):
        size = ctype.get_canonical().get_size()
        return size if size > 0 else None
    return None


class _Walker:
    def __init__(self, cindex, data: str):
        self.k = cindex.CursorKind
        self.data = data.rstrip("/") + "/"
        self.facts = UnitFacts()
        self._param_keys: dict = {}

    # -- declarations as keys ----------------------------------------------------------
    def key(self, decl) -> str | None:
        """A declaration's key: its USR, or function-USR#argN for a parameter (a header's
        declaration and the definition may name a parameter differently)."""
        if decl is None:
            return None
        if decl.kind == self.k.PARM_DECL:
            usr = decl.get_usr()
            if usr in self._param_keys:
                return self._param_keys[usr]
            parent = decl.semantic_parent
            key = usr
            if parent is not None and parent.kind in (self.k.FUNCTION_DECL, self.k.CXX_METHOD, self.k.CONSTRUCTOR,
                                                        self.k.FUNCTION_TEMPLATE):
                for i, arg in enumerate(parent.get_arguments() or ()):
                    if arg.get_usr() == usr or arg == decl:
                        key = f"{parent.get_usr()}#arg{i}"
                        break
            self._param_keys[usr] = key
            self.facts.names[key] = decl.spelling
            return key
        usr = decl.get_usr()
        if not usr:
            return None
        self.facts.names.setdefault(usr, decl.spelling)
        return usr

    def reads(self, cursor) -> frozenset:
        out = set()
        for node in cursor.walk_preorder():
            if node.kind in (self.k.DECL_REF_EXPR, self.k.MEMBER_REF_EXPR, self.k.CALL_EXPR):
                key = self.key(node.referenced)
                if key:
                    out.add(key)
        return frozenset(out)

    # -- the walk ------------------------------------------------------------------------
    def own(self, cursor) -> str | None:
        location = cursor.location.file
        if location is None or not location.name.startswith(self.data):
            return None
        return location.name[len(self.data):]

    def unit(self, root):
        """Declarations in flashinfer's files only: a system header's subtree is skipped
        whole (walking cub's and torch's trees would cost most of the time)."""
        functions = (self.k.FUNCTION_DECL, self.k.CXX_METHOD, self.k.FUNCTION_TEMPLATE, self.k.CONSTRUCTOR,
                     self.k.DESTRUCTOR)
        scopes = (self.k.NAMESPACE, self.k.CLASS_DECL, self.k.STRUCT_DECL, self.k.CLASS_TEMPLATE,
                  self.k.CLASS_TEMPLATE_PARTIAL_SPECIALIZATION, self.k.UNEXPOSED_DECL, self.k.LINKAGE_SPEC)
        pending = list(root.get_children())
        while pending:
            cursor = pending.pop()
            path = self.own(cursor)
            if path is None:
                continue
            if cursor.kind in functions and cursor.is_definition():
                self.function(cursor, path)
            elif cursor.kind in scopes:
                pending.extend(cursor.get_children())

    def function(self, fn, path: str):
        name = fn.spelling
        self.facts.defined.setdefault(path, set()).add(name)
        calls = self.facts.calls.setdefault(name, set())
        fn_key = self.key(fn)
        for token in fn.get_tokens():
            if token.kind.name == "IDENTIFIER":
                calls.add(token.spelling)
        for node in fn.walk_preorder():
            kind = node.kind
            if kind in (self.k.CALL_EXPR, self.k.DECL_REF_EXPR, self.k.MEMBER_REF_EXPR) and node.referenced is not None:
                if node.referenced.kind in (self.k.FUNCTION_DECL, self.k.CXX_METHOD, self.k.FUNCTION_TEMPLATE):
                    calls.add(node.referenced.spelling)
            if kind == self.k.VAR_DECL:
                children = [c for c in node.get_children() if c.kind.is_expression()]
                if children:
                    self.flow(self.key(node), children[-1])
            elif kind == self.k.RETURN_STMT and fn_key:
                for child in node.get_children():
                    self.flow(fn_key, child)
            elif kind == self.k.CALL_EXPR:
                self.call(node)
            elif kind in (self.k.BINARY_OPERATOR, self.k.COMPOUND_ASSIGNMENT_OPERATOR):
                self.binary(node, name, path)
            elif kind in (self.k.UNEXPOSED_EXPR, self.k.CSTYLE_CAST_EXPR, self.k.CXX_STATIC_CAST_EXPR,
                          self.k.CXX_FUNCTIONAL_CAST_EXPR):
                self.conversion(node, name, path)

    def flow(self, target, source):
        if target:
            self.facts.flows.append((target, self.reads(source)))

    def call(self, node):
        callee = node.referenced
        if callee is None:
            return
        args = list(node.get_arguments())
        callee_key = callee.get_usr()
        if not callee_key:
            return
        for i, arg in enumerate(args):
            self.facts.flows.append((f"{callee_key}#arg{i}", self.reads(arg)))
        if callee.kind == self.k.CONSTRUCTOR:  # `T x(a, b)`: the object reads its arguments
            return

    def operator(self, node) -> str | None:
        children = list(node.get_children())
        if len(children) != 2:
            return None
        end = children[0].extent.end.offset
        for token in node.get_tokens():
            if token.kind.name == "PUNCTUATION" and token.extent.start.offset >= end:
                return token.spelling
        return None

    def binary(self, node, function: str, path: str):
        op = self.operator(node)
        if op is None:
            return
        children = list(node.get_children())
        if op in ASSIGN:
            target = self._target(children[0])
            if target:
                sources = self.reads(children[1]) | (self.reads(children[0]) if op in COMPOUND else frozenset())
                self.facts.flows.append((target, sources))
        if op in RELATIONAL:
            for mine, other in ((children[0], children[1]), (children[1], children[0])):
                target = self._plain_variable(mine)
                if target:
                    self.facts.flows.append((target, self.reads(other)))
        if op not in ARITHMETIC | COMPOUND:
            return
        width = _integer_width(node.type)
        if width is None or width > 4:
            return
        self.candidate(node, function, path, op, self.reads(node))

    def _plain_variable(self, side):
        """The variable a comparison side reads, if it is just a variable (casts aside)."""
        node = side
        while node.kind == self.k.UNEXPOSED_EXPR and len(list(node.get_children())) == 1:
            node = next(node.get_children())
        if node.kind == self.k.DECL_REF_EXPR and node.referenced is not None and node.referenced.kind in (
                self.k.VAR_DECL, self.k.PARM_DECL):
            return self.key(node.referenced)
        return None

    def _target(self, lhs):
        for node in lhs.walk_preorder():
            if node.kind in (self.k.DECL_REF_EXPR, self.k.MEMBER_REF_EXPR):
                return self.key(node.referenced)
        return None

    def conversion(self, node, function: str, path: str):
        children = [c for c in node.get_children() if c.kind.is_expression()]
        if len(children) != 1:
            return
        to, source = _integer_width(node.type), _integer_width(children[0].type)
        if to is None or source is None or not (to <= 4 < source):
            return
        self.candidate(node, function, path, "narrowing", self.reads(children[0]))

    def candidate(self, node, function: str, path: str, op: str, reads: frozenset):
        code = " ".join(t.spelling for t in node.get_tokens())
        self.facts.candidates.append(Candidate(path, node.location.line, function, code, op,
                                               node.type.get_canonical().spelling, reads))


def unit_facts(unit, data: str) -> UnitFacts:
    """The facts of one translation unit (`unit`: a clang TranslationUnit)."""
    import clang.cindex as cindex

    walker = _Walker(cindex, data)
    walker.unit(unit.cursor)
    return walker.facts
