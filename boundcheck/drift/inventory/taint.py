"""Which candidates grow with the token count, and which run from the launcher.

Taint starts at the token count (declarations named `num_tokens`, `numTokens`,
`mNumTokens`) and at the grid indices (`blockIdx`, `gridDim`: a grid over tokens or rows
grows with them) and follows every flow of the release's units to a fixpoint: a
declaration is tainted when anything stored into it reads a tainted one, a function when
it returns one, a parameter when some call passes one. Flow-insensitive and joined by
name-independent keys across units: an over-approximation (more candidates, never fewer).

Reachability: from every function defined in the launcher file (the MoE entry points and
their classes), through every function a body names (resolved calls, kernel pointers,
and, for dependent calls in templates, any identifier with a defined function's name).
Also an over-approximation: a candidate outside it runs on no MoE path.
"""

from __future__ import annotations

from collections import defaultdict

SEED_NAMES = frozenset({"num_tokens", "numTokens", "mNumTokens", "blockIdx", "gridDim"})
LAUNCHER_FILES = ("csrc/trtllm_fused_moe_kernel_launcher.cu",)


def tainted_keys(units) -> set:
    """The fixpoint: every declaration key whose value can grow with the token count."""
    names = {}
    readers = defaultdict(list)  # source key -> [(target key, sources)]
    for facts in units:
        names.update(facts.names)
        for target, sources in facts.flows:
            for source in sources:
                readers[source].append(target)
    tainted = {key for key, name in names.items() if name in SEED_NAMES}
    work = list(tainted)
    while work:
        source = work.pop()
        for target in readers.get(source, ()):
            if target not in tainted:
                tainted.add(target)
                work.append(target)
    return tainted


def reached_functions(units) -> set:
    """Qualified names of the functions reachable from the launcher file's definitions."""
    calls = defaultdict(set)
    roots = set()
    by_name = defaultdict(set)  # unqualified name -> qualified names defined
    for facts in units:
        for name, referenced in facts.calls.items():
            calls[name] |= referenced
            by_name[name.rsplit("::", 1)[-1]].add(name)
        for path in LAUNCHER_FILES:
            roots |= facts.defined.get(path, set())
    reached, work = set(roots), list(roots)
    while work:
        for edge in calls.get(work.pop(), ()):
            targets = {edge[2:]} if edge.startswith("q:") else by_name.get(edge[2:], set())
            for callee in targets:
                if callee in calls and callee not in reached:
                    reached.add(callee)
                    work.append(callee)
    return reached
