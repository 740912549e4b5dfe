"""The guarded function itself: the fast path, then a hand-off to the guard's slow path.

Why generated code: a (*args, **kwargs) wrapper packs the caller's keywords into a dict
and unpacks them again for the entry point, about 650 ns per call on this project's
2-core machine for the dozen keywords inference code passes. A function with the entry
point's own parameters, which passes them on by position, costs less, and its signature
is the entry point's (a missing argument is Python's own TypeError, with the entry
point's name). It is built only when the callable's parameters are all plain
positional-or-keyword or keyword-only ones with identifier names; anything else (a fully
variadic wrapper, extra *args / **kwargs) gets the generic wrapper (build_variadic,
generated too), which reads the same arguments by position or keyword and forwards
exactly what its caller passed.

What the fast path compares (key_terms): the call's key, i.e. its sizes (hidden_states'
stored width, output's width) and every argument whose value the slow path checks (the
counts, routing method and groups, tune_max_num_tokens, intermediate_size,
valid_hidden_size, fp8_quantization_type, and where the release reads them
tile_tokens_dim and routing_metadata), against the key the slow path last verified
(one tuple, replaced whole, so a thread never sees half of two keys). A call whose key
differs in anything goes to the slow path, which checks it and refuses it or records
its key: the fast path never forwards a call the slow path would refuse. Arguments
compare by identity first (inference code passes the same objects on every call), then
as exact ints of equal value: True, 1.0 or a numpy integer equals an int but is refused
by the slow path, so it never matches.

The generated source is built from parameter names alone (checked identifiers that do
not start with an underscore, so they cannot shadow the helpers, all of which do) and
the defaults are the callable's own objects, bound by name: the callee receives the same
values it would have taken itself."""

from __future__ import annotations

import inspect
import keyword

_PLAIN = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def generated_parameters(signature: inspect.Signature):
    """fn's parameters when a generated wrapper can mirror them, else None."""
    parameters = list(signature.parameters.values())
    for p in parameters:
        if p.kind not in _PLAIN or not p.name.isidentifier() or keyword.iskeyword(p.name) or p.name.startswith("_"):
            return None
    return parameters


# CPython (3.11 - 3.13) compiles a call of more than 30 arguments into a list, appended to
# one argument at a time and turned into a tuple: about 580 ns for 36 arguments on the
# 2-core machine, where 30 cost about 110. Above that, the arguments go as a sum of tuples
# of at most 19 (tuples below 20 items come from CPython's free lists): about 420 ns.
_CALL_ARGUMENTS_ON_STACK = 30
_FREE_LIST_TUPLE = 19


def _forwarded_call(positional, keywords) -> str:
    """The argument list of the forwarded call, as source."""
    if len(positional) + len(keywords) <= _CALL_ARGUMENTS_ON_STACK:
        return ", ".join(positional + [f"{k}={k}" for k in keywords])
    pieces = [positional[i:i + _FREE_LIST_TUPLE] for i in range(0, len(positional), _FREE_LIST_TUPLE)]
    source = "*" + " + ".join("(" + ", ".join(piece) + ",)" for piece in pieces)
    if keywords:
        source += ", **{" + ", ".join(f"{k!r}: {k}" for k in keywords) + "}"
    return source


# The arguments whose values the slow path checks (types, the proofs' domain, the routing
# kernels' limits, the sizes the other kernels' limits read), in the order the fast path
# compares them; each entry point has a subset. Guard.key_arguments picks those of the
# release (tile_tokens_dim where the caller picks the tile, routing_metadata where it
# carries one).
KEY_ARGUMENTS = (
    "intermediate_size", "valid_hidden_size", "num_experts", "top_k", "local_num_experts",
    "local_expert_offset", "num_fused_shared_experts", "tune_max_num_tokens", "routing_method_type",
    "n_group", "topk_group", "fp8_quantization_type", "tile_tokens_dim", "routing_metadata",
)


class _Unverified:
    """Stands in the key before any call was verified: equal to nothing a call has."""

    __slots__ = ()

    def __repr__(self):
        return "<unverified>"


UNVERIFIED = _Unverified()


def key_length(names, arguments) -> int:
    """hidden_states' stored width, output's width (where the entry point has `output`), the
    key arguments, hidden_states' dtype (where it has valid_hidden_size)."""
    return 1 + ("output" in names) + len(arguments) + ("valid_hidden_size" in names)


def unverified_key(names, arguments) -> tuple:
    return (UNVERIFIED,) * key_length(names, arguments)


def key_terms(names, arguments, local=None) -> list[str]:
    """The fast path's comparison, one source term per key item, in key order. Sizes read
    from shapes are ints and compare by value; an argument compares by identity (inference
    code passes the same objects on every call), else as an exact int of equal value; the
    dtype only matters (for valid_hidden_size's limit, the launcher's hidden size) when
    valid_hidden_size is given. `local`: the variable holding each argument, where it is not
    the parameter itself."""
    local = local or {}
    terms = ["_width == _k0"]
    if "output" in names:
        terms.append("_out == _k1")
    for i, name in enumerate(arguments, start=len(terms)):
        value = local.get(name, name)
        terms.append(f"({value} is _k{i} or _type({value}) is _int and {value} == _k{i})")
    if "valid_hidden_size" in names:
        terms.append(f"({local.get('valid_hidden_size', 'valid_hidden_size')} is None "
                     f"or hidden_states.dtype is _k{len(terms)})")
    return terms


def build(name, parameters, fn, hidden_error, fast, call_cap, guard_cap, slow, verified, arguments):
    """A function named `name` with `parameters`: calls `fn` directly when
    0 < M <= fast[0] (M: hidden_states' first dimension), no chunk_cap is in force, M is
    within the guard's own cap and the call's key (its sizes and the `arguments` the slow
    path checks, key_terms) is the one the guard last verified (verified[0]); otherwise
    slow(positional, keyword_only, M), which checks, refuses or chunks. hidden_states
    that is not a 2-D tensor is hidden_error(hidden_states) on every path; an `output`
    without a 2-D shape goes to the slow path, which names it."""
    namespace = {
        "_fn": fn, "_hidden_error": hidden_error, "_fast": fast, "_call_cap": call_cap,
        "_guard_cap": guard_cap, "_slow": slow, "_verified": verified, "_type": type, "_int": int,
    }
    declared, positional, keywords, star = [], [], [], False
    for i, p in enumerate(parameters):
        if p.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            declared.append("*")
            star = True
        if p.default is p.empty:
            declared.append(p.name)
        else:
            namespace[f"_default{i}"] = p.default
            declared.append(f"{p.name}=_default{i}")
        (keywords if star else positional).append(p.name)
    names = [p.name for p in parameters]
    missing = [a for a in arguments if a not in names]
    if missing:
        raise ValueError(f"key arguments {missing} are not parameters of {name}")
    forwarded = _forwarded_call(positional, keywords)
    rest = "{" + ", ".join(f"{k!r}: {k}" for k in keywords) + "}"
    terms = key_terms(names, arguments)
    unpack = ", ".join(f"_k{i}" for i in range(len(terms))) + ("," if len(terms) == 1 else "")
    output = (
        "        if output is None:\n"
        "            _out = -1\n"
        "        else:\n"
        "            try:\n"
        "                _rows, _out = output.shape\n"
        "            except (AttributeError, TypeError, ValueError):\n"
        "                _out = None  # the slow path names it\n"
    ) if "output" in names else ""
    # Element by element against the verified key, unpacked once: no tuple is built.
    source = (
        f"def {name}({', '.join(declared)}):\n"
        f"    try:\n"
        f"        _tokens, _width = hidden_states.shape\n"
        f"    except (AttributeError, TypeError, ValueError):\n"
        f"        raise _hidden_error(hidden_states) from None\n"
        f"    if 0 < _tokens <= _fast[0] and _call_cap() is None and _tokens <= _guard_cap:\n"
        f"        {unpack} = _verified[0]\n"
        f"{output}"
        f"        if {' and '.join(terms)}:\n"
        f"            return _fn({forwarded})\n"
        f"    return _slow(({', '.join(positional)}{',' if positional else ''}), {rest}, _tokens)\n"
    )
    exec(compile(source, f"<boundcheck guard of {name}>", "exec"), namespace)  # noqa: S102 (names checked above)
    return namespace[name]


def build_variadic(name, positions, defaults, fn, hidden_error, fast, call_cap, guard_cap, slow, verified,
                   arguments):
    """The same fast path for a callable that takes (*args, **kwargs) (or has parameters a
    generated signature cannot mirror): a (*args, **kwargs) function that reads hidden_states
    and the key's arguments by position or keyword (`positions`: the entry point's parameter
    order; `defaults`: the release's recorded defaults, for arguments the caller left out)
    and forwards exactly what its caller passed. hidden_error(args, kwargs) is the error for
    a missing or malformed hidden_states."""
    names = list(positions)
    missing = [a for a in arguments if a not in positions]
    if missing:
        raise ValueError(f"key arguments {missing} are not parameters of {name}")
    namespace = {
        "_fn": fn, "_hidden_error": hidden_error, "_fast": fast, "_call_cap": call_cap,
        "_guard_cap": guard_cap, "_slow": slow, "_verified": verified, "_type": type, "_int": int,
    }

    def read(local, parameter):
        namespace[f"_d_{parameter}"] = defaults.get(parameter)
        i = positions[parameter]
        return (f"        {local} = args[{i}] if _n > {i} else "
                f"(kwargs[{parameter!r}] if {parameter!r} in kwargs else _d_{parameter})\n")

    reads = "        _n = len(args)\n"
    if "output" in positions:
        reads += read("_o", "output") + (
            "        if _o is None:\n"
            "            _out = -1\n"
            "        else:\n"
            "            try:\n"
            "                _rows, _out = _o.shape\n"
            "            except (AttributeError, TypeError, ValueError):\n"
            "                _out = None  # the slow path names it\n"
        )
    for parameter in arguments:
        reads += read(f"_a_{parameter}", parameter)
    terms = key_terms(names, arguments, {parameter: f"_a_{parameter}" for parameter in arguments})
    unpack = ", ".join(f"_k{i}" for i in range(len(terms))) + ("," if len(terms) == 1 else "")
    at = positions["hidden_states"]
    source = (
        f"def {name}(*args, **kwargs):\n"
        f"    try:\n"
        f"        hidden_states = args[{at}] if len(args) > {at} else kwargs['hidden_states']\n"
        f"        _tokens, _width = hidden_states.shape\n"
        f"    except (KeyError, AttributeError, TypeError, ValueError):\n"
        f"        raise _hidden_error(args, kwargs) from None\n"
        f"    if 0 < _tokens <= _fast[0] and _call_cap() is None and _tokens <= _guard_cap:\n"
        f"        {unpack} = _verified[0]\n"
        f"{reads}"
        f"        if {' and '.join(terms)}:\n"
        f"            return _fn(*args, **kwargs)\n"
        f"    return _slow(args, kwargs, _tokens)\n"
    )
    exec(compile(source, f"<boundcheck guard of {name}>", "exec"), namespace)  # noqa: S102 (names checked)
    return namespace[name]
