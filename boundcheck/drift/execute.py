"""`drift --execute`: run a flashinfer folder's own geometry code and compare its answers with
the model's, so that a change of meaning shows even where the text still reads the same.

Only with the flag, and only in child processes with a timeout (the parent never loads or
runs anything from the folder). Each of the three comparisons (PARTS) runs in a child of
its own (`python -m boundcheck.drift.execute ROOT ERA PART DEADLINE`), in a new session
and process group, at most `--execute-timeout` seconds; when it is done or its time is up,
the whole group and every process left in its session are killed
(boundcheck.drift.processes), so nothing the folder's code started survives, and a
comparison that hangs is that comparison's TIMEOUT row while the others still report.
g++ runs inside the child's session, in a group of its own, until the child's deadline.

The children extract by name and compile with g++ (boundcheck.drift.compiled): runner.h's
getMaxNumCtasInBatchDim and, where the launcher picks the tile, computeSelectedTileN, the
default tile and, from 0.6.7, resolveMoeTileAndConfig (the tuner's tactic -> the tile and
config launched; boundcheck.drift.tactics) ("compiled"), and each launcher's tile set with
its dtype conditions (boundcheck.drift.compiled_tile_sets, "tile_sets"); and execute the folder's Python
tuning-bucket map (map_to_hybrid_bucket, or last_positive_power_of_2 for the round-down
map) from its own source ("buckets"). Each is compared with the model's function for the
era on an exhaustive small domain and random points of the full one. A child prints one
JSON object per function: its status ("match", "differs", "error", "absent"), the points
compared and, where they differ, one input with both answers. executed_functions names,
from the text alone, what a folder's run compiles or executes (the README's table)."""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

MATCH, DIFFERS, ERROR, ABSENT, TIMEOUT = "match", "differs", "error", "absent", "timeout"
DEFAULT_TIMEOUT_S = 300.0
RANDOM_POINTS = 20_000


@dataclass(frozen=True)
class Executed:
    function: str
    status: str
    points: int
    detail: str  # where it differs: one input and both answers; else what was compared


# The comparisons, each in a child of its own, and the row that stands for one that fails.
PARTS = {"compiled": "(compiled functions)", "tile_sets": "(tile sets)", "buckets": "(tuning buckets)"}


def run(root: str, era, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Executed]:
    """The children's verdicts for `root` against `era`: each comparison's rows, or one
    TIMEOUT or ERROR row for a comparison whose child ran out of time or failed."""
    rows = []
    for part in PARTS:
        rows.extend(run_part(root, era, part, timeout_s))
    return rows


def run_part(root: str, era, part: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Executed]:
    import time

    from .processes import run_bounded

    name = PARTS[part]
    deadline = time.time() + timeout_s
    command = [sys.executable, "-m", "boundcheck.drift.execute", str(root), era.name, part, repr(deadline)]
    result = run_bounded(command, timeout_s)
    if result.timed_out:
        return [Executed(name, TIMEOUT, 0, f"ran past {timeout_s:g} s; it and every process it started were killed")]
    rows = []
    for line in result.stdout.splitlines():
        try:
            rows.append(Executed(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    if result.returncode != 0 or not rows:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        rows.append(Executed(name, ERROR, 0, f"the child exited {result.returncode}: {tail[0][:300]}"))
    return rows


# --- in the child -----------------------------------------------------------------------------

def _first(bad, describe) -> str:
    return f"{len(bad)} points differ; first: {describe(int(bad[0]))}"


def _ctas(ref, era, rng, np) -> Executed:
    from .compare import ctas_mismatches, small_domain

    tiles = sorted({t for ladder in era.tiles.values() for t in ladder})
    n, k, local, _ = small_domain(era, 64, 8, 2048)
    n, k, local, tile = (a.ravel() for a in np.broadcast_arrays(n[:, None], k[:, None], local[:, None], np.array(tiles)[None, :]))
    rn = np.where(rng.random(RANDOM_POINTS) < 0.5, rng.integers(1, 2**24, RANDOM_POINTS),
                  np.exp(rng.uniform(0, np.log(2**24), RANDOM_POINTS)).astype(np.int64))
    rk, re_ = rng.integers(1, 35, RANDOM_POINTS), rng.integers(1, 2051, RANDOM_POINTS)
    rt = rng.choice(np.array(tiles), RANDOM_POINTS)
    points, bad, out, want, (pn, pk, pe, pt), status = ctas_mismatches(
        ref, era, np.concatenate([n, rn]), np.concatenate([k, rk]), np.concatenate([local, re_]), np.concatenate([tile, rt]))
    if bad.size:
        return Executed("getMaxNumCtasInBatchDim", DIFFERS, points, _first(bad, lambda i: (
            f"numTokens={pn[i]} topK={pk[i]} numExperts={pe[i]} tileTokensDim={pt[i]}: flashinfer "
            f"{out[i] if not status[i] else 'threw'}, model {want[i]}")))
    return Executed("getMaxNumCtasInBatchDim", MATCH, points, f"tiles {tiles}")


def _tile_choice(ref, era, rng, np) -> list[Executed]:
    from .compare import as_set, ladders, small_domain, tiles_mismatches

    if ref.extracted.compute_selected_tile_n is None:
        return [Executed("computeSelectedTileN", ABSENT, 0, "the caller's tile_tokens_dim (no C++ tile choice)")]
    set_bad, default_bad, total = [], [], 0
    for ladder in ladders(era):
        n, k, local, experts = small_domain(era)
        rn = rng.integers(0, 2**24, RANDOM_POINTS)
        rk, rl = rng.integers(1, 35, RANDOM_POINTS), rng.integers(1, 2051, RANDOM_POINTS)
        re_ = np.maximum(rl, rng.integers(1, 2051, RANDOM_POINTS)) if era.global_tile else rl
        points, bad_set, bad_default, (mask, default, status), (m_mask, m_default), (pn, pk, pl, pe) = tiles_mismatches(
            ref, era, ladder, np.concatenate([n, rn]), np.concatenate([k, rk]), np.concatenate([local, rl]),
            np.concatenate([experts, re_]))
        total += points
        where = lambda i: f"tokens={pn[i]} top_k={pk[i]} num_local_experts={pl[i]} num_experts={pe[i]} (ladder {ladder})"  # noqa: E731
        if bad_set.size and not set_bad:
            i = int(bad_set[0])
            set_bad.append(f"{bad_set.size} points differ; first: {where(i)}: flashinfer "
                           f"{sorted(as_set(mask[i], ladder)) if status[i] in (0, 2) else 'threw'}, "
                           f"model {sorted(as_set(m_mask[i], ladder))}")
        if bad_default.size and not default_bad:
            i = int(bad_default[0])
            default_bad.append(f"{bad_default.size} points differ; first: {where(i)}: flashinfer "
                               f"{default[i] if status[i] != 2 else 'threw'}, model {m_default[i]}")
    default_name = "selectDefaultTileN" if ref.extracted.select_default_tile_n else DEFAULT_INLINE
    return [
        Executed("computeSelectedTileN", DIFFERS if set_bad else MATCH, total, set_bad[0] if set_bad else "candidate sets"),
        Executed(default_name, DIFFERS if default_bad else MATCH, total, default_bad[0] if default_bad else "default tiles"),
    ]


def _tile_sets(folder: Path, era) -> list[Executed]:
    from .compiled_tile_sets import compare_tile_sets, compiled_tile_sets, describe_inputs

    if era.tile_source.from_caller:
        return [Executed("tile sets", ABSENT, 0, "the caller's tile_tokens_dim: no C++ tile set (the kernel list's "
                                                 "tiles are checked as text)")]
    rows = []
    for name, (compared, differences) in compare_tile_sets(compiled_tile_sets(folder), era).items():
        if differences:
            d = differences[0]
            rows.append(Executed(name, DIFFERS, compared, f"{len(differences)} inputs differ; first: {d.inputs}: "
                                                          f"flashinfer {list(d.flashinfer)}, model {list(d.model)}"))
        else:
            rows.append(Executed(name, MATCH, compared, "the tile set for " + describe_inputs(name, compared)))
    return rows


def _python_functions(root: Path) -> tuple[dict, dict]:
    """Top-level functions and integer constants of the folder's utils.py and fused_moe/utils.py."""
    functions, constants = {}, {}
    for relative in ("utils.py", "fused_moe/utils.py"):
        path = root / relative
        if not path.is_file():
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                functions[node.name] = node
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, int):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = node.value.value
    return functions, constants


def _closure(name, functions) -> dict:
    """`name` and the module functions it calls (transitively), by name: what is executed."""
    needed, queue = {}, [name]
    while queue:
        current = queue.pop()
        if current in needed or current not in functions:
            continue
        node = functions[current]
        needed[current] = node
        queue.extend(n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))
    return needed


def _executable(name, functions, constants):
    """`name` and the module functions it calls, executed from their source (decorators
    dropped) with the modules' integer constants and math in scope."""
    import math

    needed = _closure(name, functions)
    module = ast.Module(body=[ast.FunctionDef(**{**{f: getattr(n, f) for f in n._fields}, "decorator_list": []})
                              for n in needed.values()], type_ignores=[])
    namespace = {"math": math, **constants}
    exec(compile(ast.fix_missing_locations(module), "<flashinfer buckets>", "exec"), namespace)  # noqa: S102 (the --execute flag)
    return namespace[name]


# Each call of the folder's bucket map gets at most this long (a call takes microseconds;
# repeated squaring is stopped here while its integers are still small), within the
# comparison's own timeout.
CALL_SECONDS = 1.0


class _TooLong(BaseException):
    """Raised in the folder's code when one call runs past CALL_SECONDS (a BaseException,
    so that `except Exception` in that code does not swallow it)."""


def _per_call_budget(function):
    """`function`, each call stopped (_TooLong) after CALL_SECONDS of wall time (SIGALRM)."""
    import signal

    def expired(signum, frame):
        raise _TooLong

    signal.signal(signal.SIGALRM, expired)

    def call(*arguments):
        signal.setitimer(signal.ITIMER_REAL, CALL_SECONDS)
        try:
            return function(*arguments)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    return call


def _buckets(root: Path, era, rng, np) -> Executed:
    from ..tiles import last_positive_power_of_2, map_to_hybrid_bucket

    if era.tile_source.from_caller:
        return Executed("tuning buckets", ABSENT, 0, "the caller's tile_tokens_dim: no bucket chooses the tile")
    functions, constants = _python_functions(root)
    xs = np.unique(np.concatenate([np.arange(0, 9000), rng.integers(0, 2**22, 5000)]))
    tunes = [1, 256, 1024, 4096, 8192, 16384, 3000, 1 << 20]
    if _bucket_function(era) == "map_to_hybrid_bucket":
        name, model = "map_to_hybrid_bucket", map_to_hybrid_bucket
        if name not in functions:
            return Executed(name, DIFFERS, 0, f"{name} not found in utils.py / fused_moe/utils.py")
        theirs = _executable(name, functions, constants)
        pairs = [(int(x), t) for t in tunes for x in xs]
        ours_of, theirs_of = (lambda x, t: model(x, t)), (lambda x, t: theirs(x, t))
    else:
        name, model = "last_positive_power_of_2", last_positive_power_of_2
        if name not in functions:
            return Executed(name, DIFFERS, 0, f"{name} not found in utils.py")
        theirs = _executable(name, functions, constants)
        pairs = [(int(x), None) for x in xs if x >= 1]
        ours_of, theirs_of = (lambda x, t: model(x)), (lambda x, t: theirs(x))
    bounded = _per_call_budget(theirs_of)
    for x, t in pairs:
        try:
            a = bounded(x, t)
        except _TooLong:
            args = f"x={x}" + (f", max_num_tokens={t}" if t is not None else "")
            return Executed(name, ERROR, len(pairs), f"too complex: {name}({args}) ran past {CALL_SECONDS:g} s "
                                                     f"(each call's budget)")
        b = ours_of(x, t)
        if a != b:
            args = f"x={x}" + (f", max_num_tokens={t}" if t is not None else "")
            return Executed(name, DIFFERS, len(pairs), f"first difference: {name}({args}): flashinfer {a}, model {b}")
    return Executed(name, MATCH, len(pairs), "executed from the folder's source")


# --- what --execute runs, by name (text only: nothing is compiled or run) ------------------------

DEFAULT_INLINE = "default tile (*selected.begin())"  # the row before selectDefaultTileN (0.5.0 - 0.6.6)
COUNTERPARTS = {
    "getMaxNumCtasInBatchDim": "`geometry.ctas_function` (the era's CTA formula)",
    "getMaxPermutedPaddedCount": "called by getMaxNumCtasInBatchDim",
    "computeSelectedTileN": "`tiles.tuner_candidate` (the tuner's candidate set)",
    "nextPowerOfTwo": "called by computeSelectedTileN",
    "selectDefaultTileN": "`tiles.default_tile_index`",
    DEFAULT_INLINE: "`tiles.default_tile_index` (the entry functions' inline `*selected_tile_nums.begin()`, "
                    "executed as `*computeSelectedTileN(...).begin()`)",
    "resolveMoeTileAndConfig": "`tiles.resolved_tactic` with the model's default tile",
    "map_to_hybrid_bucket": "`tiles.map_to_hybrid_bucket`",
    "last_positive_power_of_2": "`tiles.last_positive_power_of_2`",
}


class _Unrun:
    """A folder's tile-set code, extracted and not compiled: compare_tile_sets on it (every
    answer empty) names the functions that drift --execute runs, by the same selection."""

    def __init__(self, extracted):
        self.extracted = extracted

    @property
    def names(self) -> tuple:
        return tuple(c.name for c in self.extracted.codes)

    def code(self, name: str):
        return self.extracted.codes[self.extracted.index(name)]

    def tiles(self, name: str, **call) -> tuple:
        return ()


def _bucket_function(era) -> str:
    return era.buckets.source_function


def executed_functions(folder: Path, era) -> dict[str, str]:
    """{function: what it is compared with, or which executed function calls it}: every
    function of the folder that `drift --execute` against `era` compiles or executes and
    calls, found as the children find them, from the text alone."""
    from . import compiled
    from .compiled_tile_sets import FP4_CLASS, compare_tile_sets, extract_tile_sets
    from .tile_sets import _FP4_ENTRY

    folder = Path(folder)
    ex = compiled.extract(folder)
    out = {}
    for name, text in ex.functions().items():
        if text is not None:
            out[name] = COUNTERPARTS[name]
    if ex.compute_selected_tile_n is not None and ex.select_default_tile_n is None:
        out[DEFAULT_INLINE] = COUNTERPARTS[DEFAULT_INLINE]
    if era.tile_source.from_caller:
        return out
    unrun = _Unrun(extract_tile_sets((folder / compiled.LAUNCHER).read_text()))
    for name in compare_tile_sets(unrun, era):
        fp4 = name.startswith(FP4_CLASS) or name.startswith(_FP4_ENTRY)
        out[name] = ("`releases.fp4_launcher_tiles` (the model's FP4 rule)" if fp4
                     else "the era's tile set (`Era.tiles`)")
    functions, _ = _python_functions(folder)
    bucket = _bucket_function(era)
    for name in _closure(bucket, functions):
        out[name] = COUNTERPARTS[bucket] if name == bucket else f"called by {bucket}"
    return out


def _spans(versions, order) -> str:
    """Runs of consecutive releases of `order`, as `first - last`."""
    index = sorted(order.index(v) for v in versions)
    runs, start = [], index[0]
    for previous, current in zip(index, index[1:] + [None]):
        if current != previous + 1:
            runs.append(order[start] if start == previous else f"{order[start]} - {order[previous]}")
            start = current
    return ", ".join(runs)


def executed_function_releases(root: Path | None = None) -> dict[str, dict[str, list[str]]]:
    """{function: {what it is compared with: the modeled releases}} over the sources of
    every modeled release (boundcheck.drift.compiled.sources_root())."""
    from ..releases import MODELED_VERSIONS
    from ..resolution import era_for
    from . import compiled

    found: dict[str, dict[str, list[str]]] = {}
    for version in MODELED_VERSIONS:
        for name, counterpart in executed_functions(compiled.release_folder(version, root), era_for(version)).items():
            found.setdefault(name, {}).setdefault(counterpart, []).append(version)
    return found


def executed_functions_markdown(root: Path | None = None) -> str:
    """The README's table (python tools/compiled_reference.py --executed-list prints it)."""
    from ..releases import MODELED_VERSIONS

    order = list(MODELED_VERSIONS)
    found = {name: (sorted((v for vs in by.values() for v in vs), key=order.index), by)
             for name, by in executed_function_releases(root).items()}
    lines = ["| executed | modeled releases | compared with |", "|---|---|---|"]
    for name, (versions, by) in sorted(found.items(), key=lambda item: (order.index(item[1][0][0]), item[0])):
        if len(by) == 1:
            (compared,) = by
        else:
            compared = "; ".join(f"{c} ({_spans(vs, order)})" for c, vs in by.items())
        lines.append(f"| `{name}` | {_spans(versions, order)} ({len(versions)}) | {compared} |")
    return "\n".join(lines)


def _error(name: str, error: BaseException) -> Executed:
    return Executed(name, ERROR, 0, f"{type(error).__name__}: {str(error)[:300]}")


def check(root: str, era_name: str, parts=tuple(PARTS)) -> list[Executed]:
    """In the child: the rows of the comparisons `parts` (an exception is that one's ERROR row)."""
    import numpy as np

    from ..releases import ERAS
    from . import compiled, tactics

    era = next(e for e in ERAS if e.name == era_name)
    folder = Path(root)
    rng = np.random.default_rng(20261128)
    rows = []
    if "compiled" in parts:
        try:
            ref = compiled.Reference(compiled.extract(folder), label=str(folder))
        except Exception as error:  # noqa: BLE001 (reported as the row's verdict)
            rows.append(_error(PARTS["compiled"], error))
        else:
            rows.append(_ctas(ref, era, rng, np))
            rows.extend(_tile_choice(ref, era, rng, np))
            try:
                rows.append(tactics.row(ref, era, rng))
            except Exception as error:  # noqa: BLE001
                rows.append(_error(tactics.NAME, error))
    if "tile_sets" in parts:
        try:
            rows.extend(_tile_sets(folder, era))
        except Exception as error:  # noqa: BLE001
            rows.append(_error(PARTS["tile_sets"], error))
    if "buckets" in parts:
        try:
            rows.append(_buckets(folder, era, rng, np))
        except Exception as error:  # noqa: BLE001
            rows.append(_error(PARTS["buckets"], error))
    return rows


def main(argv: list[str]) -> None:
    """ROOT ERA [PART [DEADLINE]]: print the rows of one comparison (all without PART);
    g++ stops by DEADLINE (time.time()), before the parent kills the child."""
    from . import compiled

    root, era_name = argv[0], argv[1]
    parts = (argv[2],) if len(argv) > 2 else tuple(PARTS)
    if len(argv) > 3:
        compiled.COMPILE_DEADLINE = float(argv[3]) - 1.0
    for row in check(root, era_name, parts):
        print(json.dumps(row.__dict__), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
