"""The launcher file (trtllm_fused_moe_kernel_launcher.cu): its entry functions
trtllm_*_moe, the candidate rule (computeSelectedTileN), the default tile
(selectDefaultTileN or inline) and whether a tuned tile is checked (the launchers map)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..facts import LAUNCHER
from .cxx import _call_arguments, _closing, _Cpp, _Definition, _squash, _squash_tight
from .folder import _Folder
from .found import Found, Missing


def _entry_definitions(launcher: _Cpp) -> dict[str, _Definition]:
    """The C++ entry functions trtllm_*_moe (the first definition of each name)."""
    if launcher.entries is None:
        launcher.entries = {}
        for name in sorted(set(re.findall(r"\b(trtllm_\w+?_moe)\s*\(", launcher.code))):
            found = launcher.definitions(name)
            if found:
                launcher.entries[name] = found[0]
    return launcher.entries


@dataclass(frozen=True)
class CandidateRule:
    center: str  # "power_of_two" | "lower_bound" | what else the source does
    smaller: int
    larger: int
    global_tile: bool


def _describe_rule(rule: CandidateRule) -> str:
    return (f"centre {rule.center}; {rule.smaller} smaller and {rule.larger} larger neighbours; "
            f"{'a' if rule.global_tile else 'no'} global (EP) tile")


def _candidate_rule(folder: _Folder) -> tuple[CandidateRule, str]:
    """computeSelectedTileN as (centre, smaller, larger, global tile), and a note on how it
    is spelled. 0.5.0-0.5.1 write the window as {t/2, t, 2t, 4t}: the same as {prev, it,
    next, next next} on a power-of-two ladder, which every ladder of theirs is (the tile
    rows check those ladders)."""
    launcher = folder.cpp(LAUNCHER)
    definition = launcher.definition("computeSelectedTileN")
    body = _squash_tight(definition.body)
    if "std::lower_bound(" in body:
        modelled = "static_cast<double>(tile)<average" in body and "it=std::prev(" in body
        center = "lower_bound" if modelled else "lower_bound (not the first tile >= avg in double)"
    elif "std::clamp(nextPowerOfTwo(" in body:
        center = "power_of_two"
    else:
        center = "unrecognised (neither lower_bound nor clamp(nextPowerOfTwo))"
    how = ""
    if "insert(*std::next(std::next(it)))" in body:
        larger = 2
    elif "tile_tokens_dim*4" in body and "tile_tokens_dim*2" in body:
        larger, how = 2, "{t/2, t, 2t, 4t}: the same window on a power-of-two ladder"
    elif "insert(*std::next(it))" in body:
        larger = 1
    else:
        larger = 0
    smaller_default = re.search(r"num_smaller_tile_candidates=(\d+)", _squash_tight(definition.params))
    if smaller_default and "std::prev(down)" in body:
        smaller = int(smaller_default.group(1))  # the tuner's count; selectDefaultTileN passes its own
    elif "insert(*std::prev(it))" in body or "tile_tokens_dim/2" in body:
        smaller = 1
    else:
        smaller = 0
    global_tile = "num_experts>num_local_experts" in body and body.count("std::lower_bound(") >= 2
    return CandidateRule(center, smaller, larger, global_tile), how


def _candidate_rule_found(folder: _Folder) -> Found:
    rule, how = _candidate_rule(folder)
    return Found(rule, f"{_describe_rule(rule)}: {how}" if how else _describe_rule(rule))


def _default_tile(folder: _Folder) -> Found:
    """selectDefaultTileN (0.6.7+) or the inline `tile_N = *selected_tile_nums.begin()`:
    the smallest candidate, of which window (smaller neighbours, local or global experts)."""
    launcher = folder.cpp(LAUNCHER)
    rule, _ = _candidate_rule(folder)
    selectors = launcher.definitions("selectDefaultTileN")
    if selectors:
        body = selectors[0].body
        if "return *selected.begin();" not in _squash(body):
            raise Missing("selectDefaultTileN does not return *selected.begin()")
        calls = _call_arguments(body, "computeSelectedTileN")
        if not calls:
            raise Missing("selectDefaultTileN does not call computeSelectedTileN")
        arguments = calls[0]
        smaller = int(arguments[5]) if len(arguments) > 5 and arguments[5].isdigit() else rule.smaller
        local_only = len(arguments) < 5 or "num_local_experts" in arguments[4] or not rule.global_tile
        where = "selectDefaultTileN"
    else:
        bodies = [d.body for d in _entry_definitions(launcher).values()]
        if not any("tile_N = *selected_tile_nums.begin();" in _squash(b) for b in bodies):
            raise Missing("no selectDefaultTileN and no inline tile_N = *selected_tile_nums.begin()")
        smaller, local_only, where = rule.smaller, True, "inline tile_N = *selected_tile_nums.begin()"
    value = ("smallest candidate", smaller, local_only)
    return Found(value, f"{_describe_default(value)} ({where})")


def _describe_default(value) -> str:
    kind, smaller, local_only = value
    experts = "local experts" if local_only else "global tile included"
    return f"{kind} of the window with {smaller} smaller neighbour(s), {experts}"


_BUILD_LOOP = re.compile(r"for\s*\(\s*(?:const\s+)?(?:int32_t|int64_t|int|auto)\s+(\w+)\s*:")


def _iterates_candidates(entry_body: str, loop_start: int, loop_range: str) -> bool:
    """Does the loop run over computeSelectedTileN's result (directly or via a variable)?"""
    if "computeSelectedTileN" in loop_range:
        return True
    name = loop_range.strip()
    if not re.fullmatch(r"\w+", name):
        return False
    declarations = list(re.finditer(rf"\b{name}\s*(?:=|\()([^;]*);", entry_body[:loop_start]))
    return bool(declarations) and "computeSelectedTileN" in declarations[-1].group(1)


def _lookup_throws(after_loop: str) -> bool:
    """launchers_map.at(tile_N), or .find(tile_N) with a check against end(): a tile with no
    launcher is an error. mRunners[tile_N] (before 0.5.3) inserts an empty runner instead."""
    if re.search(r"launchers_map\s*\.\s*at\s*\(", after_loop):
        return True
    return bool(re.search(r"launchers_map\s*\.\s*find\s*\(", after_loop)
                and re.search(r"!=\s*launchers_map\s*\.\s*end\s*\(\s*\)", after_loop))


# How an entry function treats a tuned tile (Era.tuned_tile_checked, Era.tuned_tile_launchers).
TUNED_CHECKED = "checked"
TUNED_CANDIDATES = "unchecked (runners for the candidates only, looked up without a check)"
TUNED_ALL = "unchecked (launchers for every supported tile)"


def tuned_tile_kind_of(era) -> str:
    if era.tuned_tile_checked:
        return TUNED_CHECKED
    return TUNED_ALL if era.tuned_tile_launchers.every_tile else TUNED_CANDIDATES


def _tuned_tile_kind(entry_body: str) -> str | None:
    """How one entry function treats a tuned tile: 'checked' (launchers only for the
    runtime candidates, a lookup that throws on any other), or why it is unchecked; None
    when the entry builds no launchers."""
    for m in _BUILD_LOOP.finditer(entry_body):
        header_close = _closing(entry_body, entry_body.index("(", m.start()))
        body_open = entry_body.index("{", header_close)
        body_close = _closing(entry_body, body_open)
        if not re.search(r"launchers_map\s*\[|mRunners\s*\.\s*emplace\s*\(|mRunners\s*\[",
                         entry_body[body_open:body_close]):
            continue  # a loop that builds no launchers (e.g. over configs)
        candidates = _iterates_candidates(entry_body, m.start(), entry_body[m.end():header_close])
        if candidates and _lookup_throws(entry_body[body_close:]):
            return TUNED_CHECKED
        return TUNED_CANDIDATES if candidates else TUNED_ALL
    return None


def _tuned_tile(folder: _Folder) -> Found:
    kinds = {}
    for name, definition in _entry_definitions(folder.cpp(LAUNCHER)).items():
        kind = _tuned_tile_kind(definition.body)
        if kind is not None:
            kinds[name] = kind
    if not kinds:
        raise Missing("no entry function builds launchers or runners per tile")
    distinct = sorted(set(kinds.values()))
    if len(distinct) == 1:
        return Found(distinct[0], distinct[0])
    text = "; ".join(f"{name}: {kind}" for name, kind in sorted(kinds.items()))
    return Found("mixed", f"mixed: {text}")
