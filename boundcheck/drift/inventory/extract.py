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
    calls: dict = field(default_factory=dict)  # qualified name -> {"q:" qualified, "t:" unresolved identifier}
    names: dict = field(default_factory=dict)  # declaration key -> spelling
    defined: dict = field(default_factory=dict)  # flashinfer file -> qualified names of the functions it defines
    # qualified name -> [(flashinfer file, first line, last line)] of its definitions: where a
    # parse error falls (release.holes_of), since a statement that did not parse is not read
    extents: dict = field(default_factory=dict)


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
        self.fields: dict = {}  # field name -> {(bytes, signed)} of flashinfer's declarations

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
        if decl.kind == self.k.FIELD_DECL:
            if self.own(decl) is None:
                # a system type's field (dim3::x, uint3::y): one key for all of them would taint
                # threadIdx.x as soon as any grid.x = numTokens; their values come from their object
                return None
            return self.field_key(decl.spelling)
        usr = decl.get_usr()
        if not usr:
            return None
        self.facts.names.setdefault(usr, decl.spelling)
        return usr

    def field_key(self, name: str) -> str:
        """Fields by name: a template's `params.mNumTokens` names no declaration until it is
        instantiated, so every field of that name is one key (an over-approximation)."""
        key = f"field:{name}"
        self.facts.names.setdefault(key, name)
        return key

    def reads(self, cursor) -> frozenset:
        out = set()
        for node in cursor.walk_preorder():
            if node.kind in (self.k.DECL_REF_EXPR, self.k.MEMBER_REF_EXPR, self.k.CALL_EXPR):
                key = self.key(node.referenced)
                if key is None and node.kind == self.k.MEMBER_REF_EXPR:
                    name = member_name(node)  # a dependent member
                    key = self.field_key(name) if name else None
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
        pending, bodies = list(root.get_children()), []
        while pending:
            cursor = pending.pop()
            path = self.own(cursor)
            if path is None:
                continue
            if cursor.kind in functions and cursor.is_definition():
                bodies.append((cursor, path))
            elif cursor.kind == self.k.FIELD_DECL:
                width = _integer_type(cursor.type)
                if width is not None:
                    self.fields.setdefault(cursor.spelling, set()).add(width)
            elif cursor.kind in scopes:
                pending.extend(cursor.get_children())
        for cursor, path in bodies:
            self.function(cursor, path)

    def function(self, fn, path: str):
        """One body: its flows, candidates and calls. Calls are qualified names where the
        reference resolves; an identifier that resolves to nothing here (a dependent call,
        a kernel passed to a launch macro) may be any defined function of that name, unless
        the body also resolves a call of that name (then `run` is the run it calls, not
        every `run` of the release)."""
        name = qualified(fn, self.k)
        self.facts.defined.setdefault(path, set()).add(name)
        self.facts.extents.setdefault(name, []).append((path, fn.extent.start.line, fn.extent.end.line))
        calls = self.facts.calls.setdefault(name, set())
        fn_key = self.key(fn)
        body = [c for c in fn.get_children() if c.kind == self.k.COMPOUND_STMT]  # not the declarator's names
        tokens = {t.spelling for b in body for t in b.get_tokens() if t.kind.name == "IDENTIFIER"}
        resolved = set()
        for node in fn.walk_preorder():
            kind = node.kind
            if kind in (self.k.CALL_EXPR, self.k.DECL_REF_EXPR, self.k.MEMBER_REF_EXPR) and node.referenced is not None:
                if node.referenced.kind in (self.k.FUNCTION_DECL, self.k.CXX_METHOD, self.k.FUNCTION_TEMPLATE,
                                            self.k.CONSTRUCTOR):
                    calls.add("q:" + qualified(node.referenced, self.k))
                    resolved.add(node.referenced.spelling)
            if kind == self.k.VAR_DECL:
                children = [c for c in node.get_children() if c.kind.is_expression()]
                if children:
                    self.flow(self.key(node), children[-1])
            elif kind == self.k.RETURN_STMT and fn_key:
                for child in node.get_children():
                    self.flow(fn_key, child)
            elif kind == self.k.CALL_EXPR:
                op = _dependent_operator(node, self.k)
                if op is not None:
                    self.binary(node, name, path, op)
                else:
                    self.call(node)
            elif kind in (self.k.BINARY_OPERATOR, self.k.COMPOUND_ASSIGNMENT_OPERATOR):
                self.binary(node, name, path)
            elif kind in (self.k.UNEXPOSED_EXPR, self.k.CSTYLE_CAST_EXPR, self.k.CXX_STATIC_CAST_EXPR,
                          self.k.CXX_FUNCTIONAL_CAST_EXPR):
                self.conversion(node, name, path)
            elif kind == self.k.OVERLOADED_DECL_REF and node.spelling:
                tokens.add(node.spelling)  # unresolved, also inside a macro's expansion (a kernel launch)
            if kind == self.k.DECL_REF_EXPR and node.referenced is None and node.spelling:
                tokens.add(node.spelling)
        calls.update("t:" + t for t in tokens - resolved)

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

    def operator(self, node) -> str | None:
        children = list(node.get_children())
        if len(children) != 2:
            return None
        end = children[0].extent.end.offset
        for token in node.get_tokens():
            if token.kind.name == "PUNCTUATION" and token.extent.start.offset >= end:
                return token.spelling
        return None

    def binary(self, node, function: str, path: str, op: str | None = None):
        """`a op b`; for a dependent operator call (`op` given) the operands are the call's
        children after the operator's name."""
        if op is None:
            op = self.operator(node)
            children = list(node.get_children())
        else:
            children = operands(node, self.k)
        if op is None or len(children) != 2:
            return
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
        typed = self.infer(node, children, op)
        if typed is None or typed[0] > 4:
            return
        self.candidate(node, function, path, op, self.reads(node), typed)

    def _plain_variable(self, side):
        """The variable a comparison side reads, if it is just a variable (casts aside)."""
        node = side
        while node.kind == self.k.UNEXPOSED_EXPR and len(list(node.get_children())) == 1:
            node = next(node.get_children())
        if node.kind == self.k.DECL_REF_EXPR and node.referenced is not None and node.referenced.kind in (
                self.k.VAR_DECL, self.k.PARM_DECL):
            if node.referenced.type.is_const_qualified():
                return None  # a constant's value is its initializer's: `i < WarpSize` bounds i, not WarpSize
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

    def candidate(self, node, function: str, path: str, op: str, reads: frozenset, typed=None):
        code = " ".join(t.spelling for t in node.get_tokens())
        if typed is None or typed[2] == "compiler":
            spelling = node.type.get_canonical().spelling
        else:  # a dependent expression typed from its operands' declarations
            spelling = ("int" if typed[1] else "unsigned int") + " (from declarations)"
        self.facts.candidates.append(Candidate(path, node.location.line, function, code, op, spelling, reads))

    # -- types -------------------------------------------------------------------------
    def infer(self, node, children=None, op=None, depth=0):
        """(bytes, signed, how) of an integer expression: the compiler's type where it is
        not dependent; in a template, the usual arithmetic conversions of its operands'
        declared types (a dependent member by the fields of that name, all of one type).
        None: not an integer, or not decidable from the declarations."""
        own = _integer_type(node.type)
        if own is not None:
            return own + ("compiler",)
        if depth > 8 or not _is_dependent(node.type):
            return None
        kind = node.kind
        if kind in (self.k.UNEXPOSED_EXPR, self.k.PAREN_EXPR) and children is None:
            inner = [c for c in node.get_children() if c.kind.is_expression()]
            return self.infer(inner[0], depth=depth + 1) if len(inner) == 1 else None
        if kind == self.k.MEMBER_REF_EXPR and node.referenced is None:
            types = self.fields.get(member_name(node), set())
            return next(iter(types)) + ("declarations",) if len(types) == 1 else None
        if kind == self.k.DECL_REF_EXPR and node.referenced is not None:
            decl = node.referenced
            typed = _integer_type(decl.type)
            if typed is not None:
                return typed + ("declarations",)
            inits = [c for c in decl.get_children() if c.kind.is_expression()]
            return self.infer(inits[-1], depth=depth + 1) if decl.kind == self.k.VAR_DECL and inits else None
        if children is None:
            op = _dependent_operator(node, self.k) if kind == self.k.CALL_EXPR else None
            if op is None and kind == self.k.BINARY_OPERATOR:
                op = self.operator(node)
            if op is None:
                return None
            children = operands(node, self.k)
        if op not in ARITHMETIC | COMPOUND or len(children) != 2:
            return None
        left, right = (self.infer(c, depth=depth + 1) for c in children)
        if left is None or right is None:
            return None
        if op in ("<<", "<<="):
            return _promoted(left[:2]) + ("declarations",)
        return _converted(left[:2], right[:2]) + ("declarations",)


def qualified(cursor, kinds) -> str:
    """namespace::class::name of a declaration."""
    parts = [cursor.spelling]
    parent = cursor.semantic_parent
    while parent is not None and parent.kind != kinds.TRANSLATION_UNIT:
        parts.append(parent.spelling or "(anonymous)")
        parent = parent.semantic_parent
    return "::".join(reversed(parts))


def _integer_type(ctype):
    """(bytes, signed) of a non-dependent integer type, else None."""
    from clang.cindex import TypeKind

    width = _integer_width(ctype)
    if width is None:
        return None
    unsigned = ctype.get_canonical().kind in (TypeKind.UCHAR, TypeKind.CHAR_U, TypeKind.USHORT, TypeKind.UINT,
                                              TypeKind.ULONG, TypeKind.ULONGLONG)
    return (width, not unsigned)


def _is_dependent(ctype) -> bool:
    from clang.cindex import TypeKind

    return ctype.kind in (TypeKind.DEPENDENT, TypeKind.UNEXPOSED, TypeKind.AUTO, TypeKind.INVALID) or (
        "type-parameter" in ctype.spelling or ctype.spelling in ("<dependent type>", "auto"))


def _promoted(typed):
    return (4, True) if typed[0] < 4 else typed


def _converted(a, b):
    """C++'s usual arithmetic conversions of two integer types (bytes, signed)."""
    a, b = _promoted(a), _promoted(b)
    if a[0] != b[0]:
        return a if a[0] > b[0] else b  # the wider is signed 64-bit or unsigned: either way it wins
    return (a[0], a[1] and b[1])


_OPERATOR_NAMES = {"operator" + op: op for op in ("*", "+", "-", "<<", "*=", "+=", "-=", "<<=", "=", "<", "<=",
                                                 ">", ">=", "!=")}


def _operator_callee(child, kinds):
    """The `operator*` an unresolved operator call names (libclang shows it as an
    OVERLOADED_DECL_REF, alone or under a DECL_REF_EXPR of overload type)."""
    if child.kind == kinds.OVERLOADED_DECL_REF:
        return child.spelling
    if child.kind == kinds.DECL_REF_EXPR and child.type.kind.name == "OVERLOAD":
        inner = [c for c in child.get_children() if c.kind == kinds.OVERLOADED_DECL_REF]
        return inner[0].spelling if inner else None
    return None


def operands(node, kinds) -> list:
    """A dependent operator call's operands: its children but the operator."""
    return [c for c in node.get_children() if _operator_callee(c, kinds) is None]


def _dependent_operator(node, kinds) -> str | None:
    """A binary operator on a dependent operand is an unresolved operator call: its op."""
    names = [n for n in (_operator_callee(c, kinds) for c in node.get_children()) if n]
    if len(names) != 1:
        return None
    op = _OPERATOR_NAMES.get(names[0])
    return op if op is not None and len(operands(node, kinds)) == 2 else None


def member_name(node) -> str | None:
    """A member expression's name: libclang leaves a dependent one unspelled, so the last
    identifier of its tokens (`params.mNumExperts` -> mNumExperts)."""
    if node.spelling:
        return node.spelling
    names = [t.spelling for t in node.get_tokens() if t.kind.name == "IDENTIFIER"]
    return names[-1] if names else None


def unit_facts(unit, data: str) -> UnitFacts:
    """The facts of one translation unit (`unit`: a clang TranslationUnit)."""
    import clang.cindex as cindex

    walker = _Walker(cindex, data)
    walker.unit(unit.cursor)
    return walker.facts
