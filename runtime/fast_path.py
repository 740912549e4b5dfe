"""The guarded function itself: the fast path, then a hand-off to the guard's slow path.

Why generated code: a (*args, **kwargs) wrapper packs the caller's keywords into a dict
and unpacks them again for the entry point, about 650 ns per call on this project's
2-core machine for the dozen keywords inference code passes. A function with the entry
point's own parameters, which passes them on by position, costs less, and its signature
is the entry point's (a missing argument is Python's own TypeError, with the entry
point's name). It is built only when the callable's parameters are all plain
positional-or-keyword or keyword-only ones with identifier names; anything else (a fully
variadic wrapper, extra *args / **kwargs) gets the generic wrapper, which forwards
exactly what its caller passed.

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


def size_terms(names) -> list[str]:
    """The call's sizes as the guard's fast_key lists them, as source: hidden_states' stored
    width (`_shape`, read once), intermediate_size, and where the entry point has them,
    output's width (-1 without one) and valid_hidden_size (the other kernels' limits
    depend on these)."""
    terms = ["_shape[-1]", "intermediate_size"]
    if "output" in names:
        terms.append("(-1 if output is None else output.shape[-1])")
    if "valid_hidden_size" in names:
        terms.append("valid_hidden_size")
    return terms


def build(name, parameters, fn, hidden_error, fast, call_cap, guard_cap, slow, fast_sizes):
    """A function named `name` with `parameters`: calls `fn` directly when
    0 < M <= fast[0] (M: hidden_states' first dimension), no chunk_cap is in force, M is
    within the guard's own cap and the call's sizes are the ones the guard last found safe
    for the fast path (fast_sizes[0]); otherwise slow(positional, keyword_only, M)."""
    namespace = {
        "_fn": fn, "_hidden_error": hidden_error, "_fast": fast, "_call_cap": call_cap,
        "_guard_cap": guard_cap, "_slow": slow, "_fast_sizes": fast_sizes,
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
    forwarded = _forwarded_call(positional, keywords)
    rest = "{" + ", ".join(f"{k!r}: {k}" for k in keywords) + "}"
    # Element by element against the verified sizes: no tuple is built on the fast path.
    sizes = " and ".join(f"{term} == _sizes[{i}]" for i, term in enumerate(size_terms([p.name for p in parameters])))
    source = (
        f"def {name}({', '.join(declared)}):\n"
        f"    try:\n"
        f"        _shape = hidden_states.shape\n"
        f"        _tokens = _shape[0]\n"
        f"    except (AttributeError, IndexError, TypeError):\n"
        f"        raise _hidden_error(hidden_states) from None\n"
        f"    if 0 < _tokens <= _fast[0] and _call_cap() is None and _tokens <= _guard_cap:\n"
        f"        _sizes = _fast_sizes[0]\n"
        f"        if _sizes is not None and {sizes}:\n"
        f"            return _fn({forwarded})\n"
        f"    return _slow(({', '.join(positional)}{',' if positional else ''}), {rest}, _tokens)\n"
    )
    exec(compile(source, f"<boundcheck guard of {name}>", "exec"), namespace)  # noqa: S102 (names checked above)
    return namespace[name]
