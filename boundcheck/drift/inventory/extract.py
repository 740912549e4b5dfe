"""What one parsed translation unit says: the 32-bit candidates, the flow facts, the calls.

Walks the function bodies located in flashinfer's own files (never cutlass, cub, torch or
the standard library) and records, as plain data so that the units of a release can be
joined:

- **candidates**: integer expressions of 32 bits or fewer that can grow: `*`, `+`, `-`,
  `<<`, their compound assignments, `++` and `--`, and conversions from a 64-bit integer
  down to 32 bits or fewer (implicit or written), with the declarations they read; an
  arithmetic expression in a template whose type the declarations do not decide is a
  candidate of type UNTYPED (release.py makes it a hole: the inventory cannot say whether
  it is 32-bit), never dropped;
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
OTHER_COMPOUND = {"/=", "%=", ">>=", "&=", "|=", "^="}  # flows only: none grows its left side
STEP = {"++", "--"}
# operators infer types by the usual conversions without listing them (a quotient, a mask
# or a right shift does not grow past its left operand)
TYPED_ONLY = {"/", "%", ">>", "&", "|", "^"}
# `i < numTokens`: a loop index compared with a count ranges up to it (a bound is a flow).
RELATIONAL = {"<", "<=", ">", ">=", "!="}
UNTYPED = "dependent (not typed)"


class _NotInteger:
    """infer's answer for an expression the declarations decide is no integer (a pointer,
    a float): unlike None (undecided), it is dropped."""

    def __repr__(self):
        return "NOT_INTEGER"


NOT_INTEGER = _NotInteger()
FIRST_PARAMETER = "returns its first template type parameter"


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
                TypeKind.ENUM, TypeKind.WCHAR, TypeKind.CHAR16, TypeKind.CHAR32):
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
        self.other_fields: set = set()  # field names some flashinfer declaration gives a non-integer type
        self.dependent_fields: set = set()  # field names some declaration gives a template parameter's type
        self.elements: dict = {}  # field name -> element types of its pointer, array or vector declarations
        self.results: dict = {}  # function name -> how its flashinfer declarations type the result

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
            if cursor.kind in functions:
                self.results.setdefault(cursor.spelling, set()).add((qualified(cursor, self.k),
                                                                     self._result_of(cursor)))
            if cursor.kind in functions and cursor.is_definition():
                bodies.append((cursor, path))
            elif cursor.kind == self.k.FIELD_DECL or (cursor.kind == self.k.VAR_DECL and cursor.semantic_parent.kind in (
                    self.k.CLASS_DECL, self.k.STRUCT_DECL, self.k.CLASS_TEMPLATE,
                    self.k.CLASS_TEMPLATE_PARTIAL_SPECIALIZATION)):
                # a static member (`KernelParams::MaxNumExperts`) is read by name too where
                # its class is a template parameter
                self.elements.setdefault(cursor.spelling, set()).add(self._element_of_type(cursor.type))
                typed = self.type_of(cursor.type)
                if typed is None:
                    self.dependent_fields.add(cursor.spelling)  # `T mTile`: any type, undecided
                elif typed is NOT_INTEGER:
                    self.other_fields.add(cursor.spelling)
                else:
                    self.fields.setdefault(cursor.spelling, set()).add(typed)
            elif cursor.kind in scopes:
                pending.extend(cursor.get_children())
        for cursor, path in bodies:
            self.function(cursor, path)

    def type_of(self, ctype):
        """How a declared type takes part in arithmetic: (bytes, signed) of an integer (a
        bool as the int it promotes to; an enum by its underlying type; a reference by what
        it refers to; a class by its one integer conversion, IntFastDiv's `operator int()`);
        NOT_INTEGER for a pointer, a float, an array or a class with neither conversions nor
        arithmetic operators; None where it is not decided (a template parameter, an alias
        of one, a class with other conversions or its own operators)."""
        from clang.cindex import TypeKind

        canonical = ctype.get_canonical()
        if canonical.kind in (TypeKind.LVALUEREFERENCE, TypeKind.RVALUEREFERENCE):
            return self.type_of(canonical.get_pointee())
        if canonical.kind in (TypeKind.POINTER, TypeKind.CONSTANTARRAY, TypeKind.INCOMPLETEARRAY,
                              TypeKind.VARIABLEARRAY, TypeKind.DEPENDENTSIZEDARRAY, TypeKind.MEMBERPOINTER):
            return NOT_INTEGER  # a pointer (or an array, which decays to one) to anything, a template's too
        if _is_dependent(ctype):
            return None
        if canonical.kind == TypeKind.BOOL:
            return (1, True)
        typed = _integer_type(ctype)
        if typed is not None:
            return typed
        if canonical.kind == TypeKind.RECORD:
            return self._class_type(canonical)
        return NOT_INTEGER

    def _class_type(self, canonical):
        """A class in arithmetic: its one integer conversion (bool conversions aside: an
        explicit one takes no part, an implicit one beside another is ambiguous); undecided
        where it has other conversions or arithmetic operators, or is a template's
        specialization (libclang does not list an implicit instantiation's members)."""
        decl = canonical.get_declaration()
        if decl is None:
            return None
        conversions = [c for c in decl.get_children() if c.kind == self.k.CONVERSION_FUNCTION
                       and c.result_type.get_canonical().kind.name != "BOOL"]
        integers = {_integer_type(c.result_type) for c in conversions}
        if len(integers) == 1 and None not in integers:
            return next(iter(integers))
        operators = [c for c in decl.get_children() if c.kind in (self.k.CXX_METHOD, self.k.FUNCTION_TEMPLATE)
                     and c.spelling in _ARITHMETIC_OPERATORS]
        if conversions or operators or canonical.get_num_template_arguments() > 0:
            return None
        return NOT_INTEGER

    def _result_of(self, fn):
        """A declaration's result: its type_of, or FIRST_PARAMETER where it returns its first
        template type parameter (`template <typename T> T mulLog2(T, T)`)."""
        parameters = [c.spelling for c in fn.get_children() if c.kind == self.k.TEMPLATE_TYPE_PARAMETER]
        spelling = fn.result_type.spelling.replace("const ", "").strip()
        if parameters and spelling == parameters[0]:
            return FIRST_PARAMETER
        return self.type_of(fn.result_type)

    def _called(self, node):
        """A dependent call's type from the flashinfer declarations of the function it names
        (by its qualifier where it is written, `cute::ceil_div`): their common result, or the
        explicit type argument where they return their first template parameter
        (`mulLog2<int32_t>(...)`). None: a member call, no declaration, or they disagree."""
        children = list(node.get_children())
        if not children or children[0].kind not in (self.k.DECL_REF_EXPR, self.k.OVERLOADED_DECL_REF):
            return None
        callee = children[0]
        names = [c for c in callee.walk_preorder() if c.kind == self.k.OVERLOADED_DECL_REF]
        name = names[0].spelling if names else callee.spelling
        tokens = [t.spelling for t in callee.get_tokens()]
        qualifier = "::".join(t for t in tokens[:tokens.index(name)] if t != "::") if name in tokens else ""
        results = {result for full, result in self.results.get(name, set())
                   if not qualifier or full.endswith(f"{qualifier}::{name}")}
        if len(results) != 1 or None in results:
            return None
        result = next(iter(results))
        if result is NOT_INTEGER:
            return NOT_INTEGER
        if result != FIRST_PARAMETER:
            return result + ("declarations",)
        explicit = [c for c in callee.walk_preorder() if c.kind == self.k.TYPE_REF][:1]
        typed = self.type_of(explicit[0].type) if explicit else None
        return typed + ("declarations",) if isinstance(typed, tuple) else None

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
                    self.dependent_narrowing(node, node.type, children[-1], name, path)
            elif kind == self.k.RETURN_STMT and fn_key:
                for child in node.get_children():
                    self.flow(fn_key, child)
            elif kind == self.k.CALL_EXPR:
                op = _dependent_operator(node, self.k)
                if op in STEP:
                    # a postfix one's second operand is the literal 0; its tokens say which it is
                    prefix = next((t.spelling for t in node.get_tokens()), "") == op
                    self.step(node, operands(node, self.k)[0], op, prefix, name, path)
                elif op is not None:
                    self.binary(node, name, path, op)
                else:
                    self.call(node)
            elif kind == self.k.UNARY_OPERATOR:
                op, operand, prefix = self.step_operator(node)
                if op is not None:
                    self.step(node, operand, op, prefix, name, path)
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
        if op in ASSIGN | OTHER_COMPOUND:
            target = self._target(children[0])
            if target:
                sources = self.reads(children[1]) | (self.reads(children[0]) if op != "=" else frozenset())
                self.facts.flows.append((target, sources))
        if op == "=":
            self.dependent_narrowing(node, children[0].type, children[1], function, path)
        if op in RELATIONAL:
            for mine, other in ((children[0], children[1]), (children[1], children[0])):
                target = self._plain_variable(mine)
                if target:
                    self.facts.flows.append((target, self.reads(other)))
        if op not in ARITHMETIC | COMPOUND:
            return
        typed = self._compiler_type(node) or self.infer(node, children, op)
        if typed is NOT_INTEGER or (typed is not None and typed[0] > 4):
            return
        self.candidate(node, function, path, op, self.reads(node), typed)

    @staticmethod
    def _compiler_type(node):
        """Outside a template the compiler's type decides: an integer's (bytes, signed,
        "compiler"), or NOT_INTEGER for anything else (a class's conversions matter only
        where it is an operand)."""
        if _is_dependent(node.type):
            return None
        typed = _integer_type(node.type)
        return typed + ("compiler",) if typed is not None else NOT_INTEGER

    def step_operator(self, node):
        """(`++` or `--`, its operand, prefix?) of an increment or decrement, by libclang's
        operator kind (a macro's `x++` has the macro's tokens); (None, None, False) for any
        other unary operator."""
        children = [c for c in node.get_children() if c.kind.is_expression()]
        kind = _unary_kind(node)
        op = _STEP_KINDS.get(kind)
        return (op, children[0], kind in _PREFIX_KINDS) if op is not None and len(children) == 1 else (None, None, False)

    def step(self, node, operand, op: str, prefix: bool, function: str, path: str):
        """`i++`, `--i`: a candidate where `i` is an integer of 32 bits or fewer (a loop
        index stepped toward a 64-bit bound wraps); the value flows back into `i`."""
        typed = self._compiler_type(operand) or self.infer(operand)
        if typed is NOT_INTEGER or (typed is not None and typed[0] > 4):
            return
        code = " ".join(t.spelling for t in operand.get_tokens())
        self.candidate(node, function, path, op, self.reads(operand), typed,
                       code=f"{op} {code}" if prefix else f"{code} {op}")

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

    def dependent_narrowing(self, node, target_type, source, function: str, path: str):
        """`int x = <a template's 64-bit expression>;` (or `x = ...`): in a template there is
        no implicit conversion node, so the narrowing is found from the declarations."""
        target = self.type_of(target_type)
        if not isinstance(target, tuple) or target[0] > 4 or not _is_dependent(source.type):
            return
        typed = self.infer(source)
        if isinstance(typed, tuple) and typed[0] > 4:
            code = " ".join(t.spelling for t in source.get_tokens())
            self.candidate(node, function, path, "narrowing", self.reads(source), target + ("declarations",),
                           code=code)

    def candidate(self, node, function: str, path: str, op: str, reads: frozenset, typed=None, code=None):
        code = code or " ".join(t.spelling for t in node.get_tokens())
        if typed is None and op != "narrowing":
            spelling = UNTYPED
        elif typed is None or typed[2] == "compiler":
            spelling = node.type.get_canonical().spelling
        else:  # a dependent expression typed from its operands' declarations
            spelling = _spelled(typed) + " (from declarations)"
        self.facts.candidates.append(Candidate(path, node.location.line, function, code, op, spelling, reads))

    # -- types -------------------------------------------------------------------------
    def infer(self, node, children=None, op=None, depth=0):
        """(bytes, signed, how) of an integer expression: the compiler's type where it is
        not dependent; in a template, the usual arithmetic conversions of its operands'
        declared types (a dependent member by the fields of that name, all of one type; a
        `?:` by its two branches; a subscript by the element type of what it indexes; a
        compound assignment by its left side). NOT_INTEGER: decidedly not an integer (a
        pointer, a float). None: not decidable from the declarations."""
        typed = self.type_of(node.type)
        if typed is not None or not _is_dependent(node.type):
            return typed + ("compiler",) if isinstance(typed, tuple) else typed
        if depth > 8:
            return None
        kind = node.kind
        if kind in (self.k.UNEXPOSED_EXPR, self.k.PAREN_EXPR) and children is None:
            inner = [c for c in node.get_children() if c.kind.is_expression()]
            return self.infer(inner[0], depth=depth + 1) if len(inner) == 1 else None
        if kind == self.k.MEMBER_REF_EXPR and node.referenced is None:
            return self._member_by_name(member_name(node))
        if kind in (self.k.DECL_REF_EXPR, self.k.MEMBER_REF_EXPR) and node.referenced is not None:
            return self._declared(node.referenced, depth)
        if kind == self.k.DECL_REF_EXPR and node.referenced is None:
            return self._member_by_name(member_name(node))  # `KernelParams::MaxNumExperts`
        if kind == self.k.CONDITIONAL_OPERATOR and children is None:
            branches = [c for c in node.get_children() if c.kind.is_expression()][1:]
            if len(branches) != 2:
                return None
            return self._combined([self.infer(c, depth=depth + 1) for c in branches], wide_decides=False)
        if kind == self.k.ARRAY_SUBSCRIPT_EXPR and children is None:
            base = [c for c in node.get_children() if c.kind.is_expression()][:1]
            return self._element(base[0]) if base else None
        if children is None:
            op = _dependent_operator(node, self.k) if kind == self.k.CALL_EXPR else None
            if op is None and kind == self.k.BINARY_OPERATOR:
                op = self.operator(node)
            if op is None:
                return self._called(node) if kind == self.k.CALL_EXPR else None
            children = operands(node, self.k)
        if op not in ARITHMETIC | COMPOUND | TYPED_ONLY or len(children) != 2:
            return None
        typed = [self.infer(c, depth=depth + 1) for c in children]
        if op in COMPOUND or op in ("<<", ">>"):
            # the value is stored in (or shifted within) the left operand's type
            left = typed[0]
            if not isinstance(left, tuple):
                return left
            return (left[:2] if op in COMPOUND else _promoted(left[:2])) + ("declarations",)
        return self._combined(typed)

    @staticmethod
    def _combined(typed, wide_decides=True):
        """Two operands' types joined by the usual arithmetic conversions: not an integer if
        either is not (a pointer plus an int is a pointer, a float times an int a float),
        undecided if either is, except that with a 64-bit integer operand the result is a
        64-bit integer, a float or a pointer whatever the other is: never a 32-bit value
        (an overloaded operator of a template argument's class returning a narrower integer
        from a 64-bit operand is not considered)."""
        if any(t is NOT_INTEGER for t in typed):
            return NOT_INTEGER
        wide = [t for t in typed if t is not None and t[0] >= 8]
        if wide and wide_decides and any(t is None for t in typed):
            return wide[0][:2] + ("declarations",)
        if any(t is None for t in typed):
            return None
        return _converted(typed[0][:2], typed[1][:2]) + ("declarations",)

    def _member_by_name(self, name):
        """A dependent member's type from every flashinfer declaration of that name: decided
        when they all agree on one integer type, or all are no integers; CUDA's vector
        components (x, y, z, w: int2's and float4's alike) only in the first case."""
        types = self.fields.get(name, set())
        if not name or name in self.dependent_fields:
            return None
        if len(types) == 1 and name not in self.other_fields:
            return next(iter(types)) + ("declarations",)
        if name in self.other_fields and not types and name not in _VECTOR_COMPONENTS:
            return NOT_INTEGER
        return None

    def _declared(self, decl, depth):
        """The type of a variable, parameter or field as declared; an `auto` variable by its
        initializer."""
        from clang.cindex import TypeKind

        typed = self.type_of(decl.type)
        if typed is not None:
            return typed + ("declarations",) if isinstance(typed, tuple) else typed
        declared_auto = decl.type.kind == TypeKind.AUTO or "auto" in decl.type.spelling.split()
        inits = [c for c in decl.get_children() if c.kind.is_expression()]
        if decl.kind == self.k.VAR_DECL and declared_auto and inits:
            inferred = self.infer(inits[-1], depth=depth + 1)
            return inferred[:2] + ("declarations",) if isinstance(inferred, tuple) else inferred
        return None

    def _element(self, base):
        """The element type of what a subscript indexes (an array, a pointer, a std::vector
        or std::array, a class by its `operator[]`), from its declaration; a dependent
        member's by the declarations of that name."""
        node = base
        while node.kind in (self.k.UNEXPOSED_EXPR, self.k.PAREN_EXPR) and len(list(node.get_children())) == 1:
            node = next(node.get_children())
        if node.kind not in (self.k.DECL_REF_EXPR, self.k.MEMBER_REF_EXPR):
            return None
        if node.referenced is not None:
            typed = self._element_of_type(node.referenced.type)
        else:
            types = self.elements.get(member_name(node), set())
            typed = next(iter(types)) if len(types) == 1 else None
        return typed + ("declarations",) if isinstance(typed, tuple) else typed

    def _element_of_type(self, ctype):
        from clang.cindex import TypeKind

        ctype = ctype.get_canonical()
        if ctype.kind in (TypeKind.LVALUEREFERENCE, TypeKind.RVALUEREFERENCE):
            ctype = ctype.get_pointee().get_canonical()
        if ctype.kind == TypeKind.POINTER:
            return self.type_of(ctype.get_pointee())
        if ctype.kind in (TypeKind.CONSTANTARRAY, TypeKind.INCOMPLETEARRAY, TypeKind.VARIABLEARRAY,
                          TypeKind.DEPENDENTSIZEDARRAY):
            return self.type_of(ctype.element_type)
        if _is_dependent(ctype):
            return None
        if ctype.kind == TypeKind.RECORD:
            decl = ctype.get_declaration()
            if decl.spelling in ("vector", "array") and ctype.get_num_template_arguments() > 0:
                return self.type_of(ctype.get_template_argument_type(0))  # std::vector<int32_t>[i] is an int32_t
            subscripts = [c for c in decl.get_children() if c.kind == self.k.CXX_METHOD and c.spelling == "operator[]"]
            results = {self.type_of(c.result_type) for c in subscripts}
            return next(iter(results)) if len(results) == 1 else None
        return NOT_INTEGER


def qualified(cursor, kinds) -> str:
    """namespace::class::name of a declaration."""
    parts = [cursor.spelling]
    parent = cursor.semantic_parent
    while parent is not None and parent.kind != kinds.TRANSLATION_UNIT:
        parts.append(parent.spelling or "(anonymous)")
        parent = parent.semantic_parent
    return "::".join(reversed(parts))


def _integer_type(ctype):
    """(bytes, signed) of a non-dependent integer type (an enum by its underlying type),
    else None."""
    from clang.cindex import TypeKind

    width = _integer_width(ctype)
    if width is None:
        return None
    canonical = ctype.get_canonical()
    if canonical.kind == TypeKind.ENUM:
        canonical = canonical.get_declaration().enum_type.get_canonical()
    unsigned = canonical.kind in (TypeKind.UCHAR, TypeKind.CHAR_U, TypeKind.USHORT, TypeKind.UINT, TypeKind.ULONG,
                                  TypeKind.ULONGLONG, TypeKind.CHAR16, TypeKind.CHAR32)
    return (width, not unsigned)


def _is_dependent(ctype) -> bool:
    """A type that names a template parameter, directly or through an alias."""
    from clang.cindex import TypeKind

    dependent = (TypeKind.DEPENDENT, TypeKind.UNEXPOSED, TypeKind.AUTO, TypeKind.INVALID)
    canonical = ctype.get_canonical()
    return ctype.kind in dependent or canonical.kind in dependent or any(
        "type-parameter" in t.spelling or t.spelling in ("<dependent type>", "auto") for t in (ctype, canonical))


def _spelled(typed) -> str:
    name = {1: "char", 2: "short", 4: "int"}.get(typed[0], "long")
    return name if typed[1] else "unsigned " + name


_ARITHMETIC_OPERATORS = {"operator" + op for op in ARITHMETIC | TYPED_ONLY}
_VECTOR_COMPONENTS = {"x", "y", "z", "w"}
# libclang's CXUnaryOperatorKind: PostInc, PostDec, PreInc, PreDec
_STEP_KINDS = {1: "++", 2: "--", 3: "++", 4: "--"}
_PREFIX_KINDS = {3, 4}


def _unary_kind(node) -> int:
    import ctypes

    import clang.cindex as cindex

    function = cindex.conf.lib.clang_getCursorUnaryOperatorKind
    if function.restype is not ctypes.c_int:
        function.argtypes, function.restype = [cindex.Cursor], ctypes.c_int
    return function(node)


def _promoted(typed):
    return (4, True) if typed[0] < 4 else typed


def _converted(a, b):
    """C++'s usual arithmetic conversions of two integer types (bytes, signed)."""
    a, b = _promoted(a), _promoted(b)
    if a[0] != b[0]:
        return a if a[0] > b[0] else b  # the wider is signed 64-bit or unsigned: either way it wins
    return (a[0], a[1] and b[1])


_OPERATOR_NAMES = {"operator" + op: op for op in ASSIGN | OTHER_COMPOUND | RELATIONAL | ARITHMETIC | TYPED_ONLY | STEP}


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
    """An operator on a dependent operand is an unresolved operator call: its op (binary,
    or `++`/`--` with its one operand)."""
    names = [n for n in (_operator_callee(c, kinds) for c in node.get_children()) if n]
    if len(names) != 1:
        return None
    op = _OPERATOR_NAMES.get(names[0])
    if op is None:
        return None
    found = operands(node, kinds)
    if op in STEP:
        # a postfix operator++ call has a second operand, the literal 0
        return op if len(found) == 1 or (len(found) == 2 and found[1].kind == kinds.INTEGER_LITERAL) else None
    return op if len(found) == 2 else None


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
