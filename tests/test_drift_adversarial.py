"""`boundcheck drift` on adversarial folders (issue #24): each test fails on the code before
the fix.

1. The bucket map is compared on every small input, each side of every boundary, and by Z3
   on the whole domain: a map that differs at x = 2..4, or at one large input, is a mismatch.
2. The interpreters of the folder's code (the Python evaluator, the C++ tile-set program)
   have step, depth, size and time budgets: self-recursion, exponential recursion, repeated
   squaring, a nonlinear condition Z3 cannot decide, deep nesting are "too complex"; a
   division by zero is named with its file:line; never a hang or a traceback.
3. `drift --execute` runs each comparison (and g++) in a process group of its own and kills
   all of it: a sleeper the folder's code forks, and g++ blocked on a FIFO `#include`, do
   not survive.
4. Compiled libraries live in a private folder, verified against the sha256 recorded at
   compile time: a library planted at the old shared path or at the new one is not loaded.
5. A folder without fused-MoE sources is a one-line input error naming --flashinfer-root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from boundcheck.cli import main
from boundcheck.drift import FUSED_MOE_CORE, FUSED_MOE_UTILS, MATCH, MISMATCH, MISSING, BoundcheckInputError, rows
from boundcheck.drift import compiled as cref
from boundcheck.drift.compiled import LAUNCHER, RUNNER_H
from boundcheck.resolution import era_for

SOURCES = cref.sources_root()
E24 = era_for("0.7.4")


def release(version: str) -> Path:
    folder = SOURCES / version / "flashinfer"
    if not (folder / LAUNCHER).is_file():
        pytest.skip(f"flashinfer {version} sources not fetched: python tools/fetch_flashinfer_sources.py")
    return folder


def needs_compiler():
    if cref.compiler() is None:
        pytest.skip("no C++ compiler")


# --- a minimal folder whose tuning config maps buckets with map_to_hybrid_bucket -------------

_PHASES = "_PHASE1_END = 256\n_PHASE2_STEP = 256\n_PHASE2_END = 2048\n_PHASE3_STEP = 512\n_PHASE3_END = 4096\n\n"
_CEIL = "def _ceil_to_step(x: int, step: int) -> int:\n    return ((x + step - 1) // step) * step\n\n"
_MAP = """def map_to_hybrid_bucket(x: int, max_num_tokens: int) -> int:
    {first}
    if x <= 0:
        return 1
    if x >= max_num_tokens:
        return max_num_tokens
    if x <= _PHASE1_END:
        return next_positive_power_of_2(x)
    if x <= _PHASE2_END:
        return min(_ceil_to_step(x, _PHASE2_STEP), max_num_tokens)
    if x <= _PHASE3_END:
        return min(_ceil_to_step(x, _PHASE3_STEP), max_num_tokens)
    return min(next_positive_power_of_2(x), max_num_tokens)
"""


def hybrid_folder(root: Path, first: str = "pass", helpers: str = "", whole: str | None = None) -> Path:
    """fused_moe/core.py (a hybrid tuning config) and fused_moe/utils.py: the model's map with
    `first` as its first statement, `helpers` before it (or `whole` as the module)."""
    (root / "fused_moe").mkdir(parents=True, exist_ok=True)
    (root / FUSED_MOE_CORE).write_text(
        "def get_trtllm_moe_sm100_module():\n"
        "    def _make_tuning_config(tune_max_num_tokens):\n"
        "        return DynamicTensorSpec((0,), (0,), None, lambda x: map_to_hybrid_bucket(x, tune_max_num_tokens))\n")
    (root / FUSED_MOE_UTILS).write_text(whole if whole is not None else _PHASES + _CEIL + helpers + _MAP.format(first=first))
    return root


def buckets_row(root: Path):
    return {r.fact: r for r in rows(str(root), E24)}["buckets"]


def first_line(text: str) -> int:
    """The line of fused_moe/utils.py holding `text`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if "# here" in line)


# --- 1. the bucket map on every input --------------------------------------------------------

def test_the_models_map_matches_and_says_on_what_domain(tmp_path):
    row = buckets_row(hybrid_folder(tmp_path))
    assert row.status == MATCH and "every x <= 2**25" in row.source


def test_a_map_written_differently_with_the_same_values_matches(tmp_path):
    """Equal values, not equal text: chained comparisons, `a if c else b`, an assignment.
    (Phase 1 is not capped at max_num_tokens: capping it too differs at (5, 6).)"""
    whole = _PHASES + _CEIL + (
        "def map_to_hybrid_bucket(x: int, max_num_tokens: int) -> int:\n"
        "    capped = min(next_positive_power_of_2(x), max_num_tokens)\n"
        "    if 0 < x < max_num_tokens and x <= _PHASE1_END:\n"
        "        return next_positive_power_of_2(x) if x <= _PHASE1_END else 0\n"
        "    if x <= 0 or x >= max_num_tokens:\n"
        "        return 1 if x <= 0 else max_num_tokens\n"
        "    step = _PHASE2_STEP if x <= _PHASE2_END else _PHASE3_STEP\n"
        "    return capped if x > _PHASE3_END else min(_ceil_to_step(x, step), max_num_tokens)\n")
    assert buckets_row(hybrid_folder(tmp_path, whole=whole)).status == MATCH


def test_a_map_that_differs_at_two_to_four_tokens_is_a_mismatch(tmp_path):
    row = buckets_row(hybrid_folder(tmp_path, "if x >= 2 and x <= 4:\n        return 8"))
    assert row.status == MISMATCH
    assert "differs at (x, max) = (2, 2147483647): 8 vs the model's 2" in row.source


def test_a_map_that_differs_at_one_large_input_is_found_by_z3(tmp_path):
    row = buckets_row(hybrid_folder(tmp_path, "if x == 1234567 and max_num_tokens > 99999999:\n        return 3"))
    assert row.status == MISMATCH and "differs at (x, max) = (1234567, " in row.source, row.source


def test_a_map_that_returns_none_on_one_input_is_a_mismatch(tmp_path):
    row = buckets_row(hybrid_folder(tmp_path, "if x == 3000000:\n        return None"))
    assert row.status == MISMATCH and "differs at (x, max) = (3000000, " in row.source and "None vs" in row.source


def test_what_python_would_call_is_what_is_evaluated(tmp_path):
    """A helper rebound later in the module (here inside an `if`) or decorated is not
    evaluated as the plain first definition."""
    rebound = _PHASES + _CEIL + "if True:\n    def _ceil_to_step(x, step):\n        return 0\n\n" + _MAP.format(first="pass")
    row = buckets_row(hybrid_folder(tmp_path / "rebound", whole=rebound))
    assert row.status == MISSING and "a call of _ceil_to_step" in row.source, row.source
    decorated = _PHASES + "@flip\n" + _CEIL + _MAP.format(first="pass")
    row = buckets_row(hybrid_folder(tmp_path / "decorated", whole=decorated))
    assert row.status == MISSING and "decorated with @flip" in row.source, row.source
    cached = _PHASES + "@functools.lru_cache(maxsize=None)\n" + _CEIL + _MAP.format(first="pass")
    assert buckets_row(hybrid_folder(tmp_path / "cached", whole=cached)).status == MATCH


# --- 2. budgets of the interpreters -----------------------------------------------------------

_AGAIN = "map_to_hybrid_bucket"
ADVERSARIAL_MAPS = {
    # name: (first statement, helpers, what the row says); the map calls itself with
    # max_num_tokens = -1 to recurse (the model's map is never called so).
    "self-recursion": ("if x > 0:\n        return map_to_hybrid_bucket(x, max_num_tokens)", "",
                       "too complex: calls nested more than"),
    "exponential recursion": (f"if max_num_tokens < 0:\n        if x <= 0:\n            return 1\n"
                              f"        return {_AGAIN}(x - 1, -1) + {_AGAIN}(x - 1, -1)"
                              f"\n    if x > 0:\n        return {_AGAIN}(30, -1) * 0 + 1", "", "too complex: more than"),
    "repeated squaring": (f"if max_num_tokens < 0:\n        return {_AGAIN}(x * x, -1)"
                          f"\n    if x > 0:\n        return {_AGAIN}(x + 2, -1) * 0 + 1", "",
                          "too complex: an integer of more than 128 bits"),
    "repeated squaring in a helper": ("if x > 0:\n        return sq(sq(sq(sq(sq(sq(sq(sq(sq(sq(sq(sq(x + 1)))))))))))) * 0 + 1",
                                      "def sq(y):\n    return y * y\n\n", "too complex: an integer of more than 128 bits"),
    "deep nesting": ("return " + "(" * 150 + "x" + ")" * 150 + " * 0 + " + " + ".join(["1"] * 2000) + " - 1999", "",
                     "too complex"),
    "a nonlinear condition": ("if x * x * x == 12345 * x * max_num_tokens + 7:\n        return 5", "",
                              "too complex: Z3 could not compare"),
}


def _buckets_row_in_a_child(root: Path, seconds: float, timeout: float = 60):
    """The buckets row, read by a child process (so that a hang fails the test instead of
    hanging it) with the evaluator's time budget set to `seconds`."""
    script = ("import json, sys; from boundcheck.drift import python_evaluator, rows; "
              "from boundcheck.resolution import era_for; python_evaluator.MAX_SECONDS = float(sys.argv[2]); "
              "row = {r.fact: r for r in rows(sys.argv[1], era_for('0.7.4'))}['buckets']; "
              "print(json.dumps(row.__dict__))")
    result = subprocess.run([sys.executable, "-c", script, str(root), str(seconds)], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(ADVERSARIAL_MAPS))
def test_foreign_code_past_the_budget_is_too_complex(tmp_path, name):
    first, helpers, says = ADVERSARIAL_MAPS[name]
    start = time.monotonic()
    row = _buckets_row_in_a_child(hybrid_folder(tmp_path, first, helpers), 3.0)
    assert time.monotonic() - start < 30
    assert row["status"] == MISSING and says in row["source"], row["source"]
    assert "reader failed" not in row["source"]


def test_division_by_zero_is_named_with_its_line_and_input(tmp_path):
    root = hybrid_folder(tmp_path, "if x == 777777:  # here\n        return x // (x - 777777)")
    line = first_line((root / FUSED_MOE_UTILS).read_text()) + 1
    row = buckets_row(root)
    assert row.status == MISSING
    assert f"division by zero at {FUSED_MOE_UTILS}:{line}, for (x, max) = (777777, " in row.source, row.source


def _drift_cli(root: Path, *extra, timeout=120):
    return subprocess.run([sys.executable, "-m", "boundcheck", "drift", "--flashinfer-root", str(root),
                           "--flashinfer", "0.7.4", *extra], capture_output=True, text=True, timeout=timeout)


def test_the_command_neither_hangs_nor_shows_a_traceback(tmp_path):
    """Before the fix: a traceback for the division, and repeated squaring ran until killed."""
    divides = hybrid_folder(tmp_path / "divides", "if x == 40:\n        return x // (x - 40)")
    result = _drift_cli(divides)
    assert "Traceback" not in result.stderr and result.returncode not in (0, 2), result.stderr[-2000:]
    assert f"division by zero at {FUSED_MOE_UTILS}:12, for (x, max) = (40, 2147483647)" in result.stdout
    squares = hybrid_folder(tmp_path / "squares", ADVERSARIAL_MAPS["repeated squaring"][0])
    start = time.monotonic()
    result = _drift_cli(squares, timeout=60)
    assert time.monotonic() - start < 60 and "Traceback" not in result.stderr
    assert "too complex: an integer of more than 128 bits" in result.stdout


def test_the_tile_set_program_is_bounded_too():
    from boundcheck.drift.found import Missing
    from boundcheck.drift.tile_program import MAX_PROGRAM_CHARS, _run_tiles, _TileProgram

    with pytest.raises(Missing, match="too complex: tile-set code nested more than"):
        _TileProgram("std::vector<int32_t> t = {8}; if " + "(" * 400 + "x" + ")" * 400 + " t.push_back(16); return t;",
                     {}).parse()
    with pytest.raises(Missing, match="too complex: tile-set code nested more than"):
        _TileProgram("{" * 400 + "}" * 400, {}).parse()
    with pytest.raises(Missing, match="too complex: tile-set code of"):
        _TileProgram("std::vector<int32_t> t = {8};" + " t.push_back(16);" * (MAX_PROGRAM_CHARS // 16), {})
    program = _TileProgram("std::vector<int32_t> t = {8};" + " t.push_back(16);" * 9000 + " return t;", {})
    program.budget.steps = program.budget.steps_left = 5_000
    with pytest.raises(Missing, match="too complex: more than 5,000 evaluation steps"):
        _run_tiles(program.parse(), {}, budget=program.budget)


# --- 3. process groups of drift --execute -----------------------------------------------------

def _processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                command = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in command and "pytest" not in command:
                found.append(int(name))
    return found


@pytest.fixture
def marker():
    """A sleep duration no one else uses: its processes are found by it, and killed after."""
    text = f"{600 + os.getpid() % 1000 / 1000:.3f}{time.time_ns() % 10**6:06d}"
    yield text
    for pid in _processes_with(f"sleep {text}"):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def _buckets_only_copy(destination: Path, map_first: str) -> Path:
    """0.7.4's Python (fused_moe/ and utils.py) with `map_first` as the first statement of
    map_to_hybrid_bucket: the buckets comparison runs it; the compiled ones find no C++."""
    source = release("0.7.4")
    (destination / "fused_moe").mkdir(parents=True)
    for relative in ("utils.py", FUSED_MOE_UTILS, FUSED_MOE_CORE):
        shutil.copyfile(source / relative, destination / relative)
    utils = destination / FUSED_MOE_UTILS
    text = utils.read_text()
    anchor = 'The result is clamped to ``[1, max_num_tokens]``.\n    """\n'
    assert anchor in text
    utils.write_text(text.replace(anchor, anchor + f"    {map_first}\n", 1))
    return destination


# Python that hangs where no in-process budget can stop it: SIGALRM (the per-call budget
# of the executed bucket map) ignored first.
_HANGS = ("\n        __import__('signal').signal(__import__('signal').SIGALRM, __import__('signal').SIG_IGN)"
          "\n        while True: pass")


def _spawns(marker: str, detached: bool, then_hangs: bool = False) -> str:
    """Python that starts a sleeper once (at x = 5, max = 1), in the comparison's process
    group or (detached) in a group of its own, and then hangs or goes on."""
    group = ", process_group=0" if detached else ""
    null = "__import__('subprocess').DEVNULL"
    return (f"if x == 5 and max_num_tokens == 1:\n        __import__('subprocess').Popen(['sleep', '{marker}']{group}, "
            f"stdin={null}, stdout={null}, stderr={null})" + (_HANGS if then_hangs else ""))


@pytest.mark.parametrize("detached", [False, True], ids=["same group", "own group"])
def test_a_process_the_folders_code_starts_does_not_survive(tmp_path, marker, detached):
    """The comparison finishes; the sleeper it forked (in its group, or a group of its own in
    its session) is killed with it."""
    from boundcheck.drift import execute

    root = _buckets_only_copy(tmp_path / "flashinfer", _spawns(marker, detached))
    executed = {r.function: r for r in execute.run(str(root), E24, 120)}
    assert executed["map_to_hybrid_bucket"].status == "match", executed
    time.sleep(0.5)
    assert _processes_with(f"sleep {marker}") == []


def test_a_hanging_comparison_is_killed_with_what_it_started(tmp_path, marker):
    from boundcheck.drift import execute

    root = _buckets_only_copy(tmp_path / "flashinfer", _spawns(marker, False, then_hangs=True))
    start = time.monotonic()
    executed = {r.function: r for r in execute.run(str(root), E24, 8)}
    assert time.monotonic() - start < 50
    timeouts = [r for r in executed.values() if r.status == "timeout"]
    assert timeouts and "killed" in timeouts[0].detail, executed
    time.sleep(0.5)
    assert _processes_with(f"sleep {marker}") == []


def test_each_call_of_the_executed_bucket_map_has_a_time_budget(tmp_path):
    """Repeated squaring in the executed map is stopped after a second of one call, while
    its integers are still small, and named; the other comparisons are unaffected."""
    from boundcheck.drift import execute

    root = _buckets_only_copy(tmp_path / "flashinfer", "if x == 5:\n        y = x\n        while True: y = y * y")
    start = time.monotonic()
    executed = {r.function: r for r in execute.run(str(root), E24, 120)}
    assert time.monotonic() - start < 60
    row = executed["map_to_hybrid_bucket"]
    assert row.status == "error" and "too complex: map_to_hybrid_bucket(x=5, max_num_tokens=1) ran past 1 s" in row.detail


def _has_reader(fifo: Path) -> bool:
    """Does some process hold the FIFO open for reading (g++ blocked in its #include)?"""
    try:
        handle = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False  # ENXIO: no reader
    os.close(handle)  # the reader sees end of file and goes on
    return True


def test_g_plus_plus_blocked_on_a_fifo_include_is_killed(tmp_path):
    needs_compiler()
    source = release("0.7.4")
    root = tmp_path / "flashinfer"
    for relative in (LAUNCHER, RUNNER_H, "utils.py", FUSED_MOE_UTILS, FUSED_MOE_CORE):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, root / relative)
    fifo = tmp_path / "blocks.h"
    os.mkfifo(fifo)
    runner = root / RUNNER_H
    anchor = "  // For MoE, mNumTokens != 0 and the number of CTAs is known only at runtime.\n"
    assert anchor in runner.read_text()
    runner.write_text(runner.read_text().replace(anchor, f'#include "{fifo}"\n' + anchor, 1))
    from boundcheck.drift import execute

    try:
        start = time.monotonic()
        executed = {r.function: r for r in execute.run(str(root), E24, 10)}
        assert time.monotonic() - start < 90
        time.sleep(0.5)
        assert not _has_reader(fifo), "g++ is still blocked on the FIFO"
        failed = [r for r in executed.values() if r.status in ("error", "timeout")]
        assert failed and any("g++ ran past" in r.detail or "killed" in r.detail for r in failed), executed
        assert executed["map_to_hybrid_bucket"].status == "match"  # the other comparisons still ran
    finally:
        _has_reader(fifo)


def test_compile_library_kills_g_plus_plus_at_its_timeout(tmp_path):
    needs_compiler()
    fifo = tmp_path / "blocks.h"
    os.mkfifo(fifo)
    script = ("import sys; from boundcheck.drift import compiled; compiled.COMPILE_TIMEOUT_S = 3.0\n"
              "try:\n    compiled.compile_library('bc_fifo', '#include \"' + sys.argv[1] + '\"\\nint f() { return 1; }\\n', "
              "opt='-O0')\nexcept compiled.CompileError as error:\n    print(error)\n")
    try:
        result = subprocess.run([sys.executable, "-c", script, str(fifo)], capture_output=True, text=True, timeout=60,
                                env={**os.environ, cref.BUILD_VARIABLE: str(tmp_path / "cache")})
        assert "g++ ran past 3 s" in result.stdout, result.stdout + result.stderr[-2000:]
        time.sleep(0.5)
        assert not _has_reader(fifo), "g++ is still blocked on the FIFO"
    finally:
        _has_reader(fifo)


# --- 4. the compiled-library cache ------------------------------------------------------------

_PLANTED = r"""#include <cstdio>
__attribute__((constructor)) static void planted() {
  std::FILE* f = std::fopen("%s", "w");
  if (f) std::fclose(f);
}
"""


def _planted_library(tmp_path: Path, marker: Path) -> bytes:
    source = tmp_path / "planted.cpp"
    source.write_text(_PLANTED % marker)
    out = tmp_path / "planted.so"
    subprocess.run([cref.compiler(), "-shared", "-fPIC", "-o", str(out), str(source)], check=True, timeout=120)
    return out.read_bytes()


def test_a_library_planted_at_the_old_or_new_path_is_not_loaded(tmp_path, monkeypatch):
    """Before the fix the library was cached as <tmp>/boundcheck-compiled-reference/
    bc_ref_<digest>.so and loaded as found: the planted constructor ran."""
    needs_compiler()
    folder = release("0.7.4")
    marker = tmp_path / "constructor-ran"
    planted = _planted_library(tmp_path, marker)
    shared_tmp, xdg = tmp_path / "tmp", tmp_path / "xdg"
    shared_tmp.mkdir()
    ex = cref.extract(folder)
    headers = {"bc_shim.h": cref.SHIM_HEADER}
    old = shared_tmp / "boundcheck-compiled-reference" / f"bc_ref_{cref.library_digest(cref.generated_source(ex), headers)}.so"
    old.parent.mkdir()
    old.write_bytes(planted)
    monkeypatch.setenv("TMPDIR", str(shared_tmp))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.delenv(cref.BUILD_VARIABLE, raising=False)
    new = None
    if hasattr(cref, "library_path"):  # the new path, with a record that is not the planted file's sha256
        new = cref.library_path("bc_ref", cref.generated_source(ex), headers, "-O2")
        new.parent.mkdir(parents=True, mode=0o700)
        new.write_bytes(planted)
        new.with_name(new.name + ".sha256").write_text(hashlib.sha256(b"something else").hexdigest() + "\n")
    script = ("import sys; from pathlib import Path; from boundcheck.drift import compiled; "
              "ref = compiled.Reference(compiled.extract(Path(sys.argv[1]))); print(ref.path); "
              "out, status = ref.ctas([100], [8], [256], [8]); print(int(out[0]), int(status[0]))")
    result = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=600)
    assert not marker.exists(), "the planted library's constructor ran"
    assert result.returncode == 0, result.stderr[-3000:]
    path = Path(result.stdout.split()[0])
    assert path.parent == xdg / "boundcheck" / "compiled" and (path.parent.stat().st_mode & 0o777) == 0o700
    assert new is None or path == new
    assert path.read_bytes() != planted
    assert Path(str(path) + ".sha256").read_text().strip() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_changed_cached_library_is_compiled_again(tmp_path, monkeypatch):
    needs_compiler()
    monkeypatch.setenv(cref.BUILD_VARIABLE, str(tmp_path / "cache"))
    source = 'extern "C" int bc_one() { return 1; }\n'
    lib = cref.compile_library("bc_test", source, opt="-O0")
    assert (lib.parent.stat().st_mode & 0o777) == 0o700 and cref.verified(lib)
    good = lib.read_bytes()
    marker = tmp_path / "constructor-ran"
    lib.write_bytes(_planted_library(tmp_path, marker))  # same name, other bytes
    assert not cref.verified(lib)
    with pytest.raises(cref.UnsafeCacheError):
        cref.load_library(lib)
    assert cref.compile_library("bc_test", source, opt="-O0") == lib and lib.read_bytes() == good
    assert cref.load_library(lib).bc_one() == 1 and not marker.exists()


def test_a_cache_folder_others_can_write_or_do_not_own_is_refused(tmp_path, monkeypatch):
    needs_compiler()
    marker = tmp_path / "constructor-ran"
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    os.chmod(open_folder, 0o777)
    monkeypatch.setenv(cref.BUILD_VARIABLE, str(open_folder))
    source = 'extern "C" int bc_one() { return 1; }\n'
    # A planted library with a matching record: only the folder check stands in its way.
    lib = open_folder / cref.library_path("bc_test", source, opt="-O0").name
    lib.write_bytes(_planted_library(tmp_path, marker))
    Path(str(lib) + ".sha256").write_text(hashlib.sha256(lib.read_bytes()).hexdigest() + "\n")
    with pytest.raises(cref.UnsafeCacheError, match="group- or world-writable"):
        cref.compile_library("bc_test", source, opt="-O0")
    assert not cref.verified(lib)
    mine = tmp_path / "mine"
    monkeypatch.setenv(cref.BUILD_VARIABLE, str(mine))
    cref.private_build_root()
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(mine).st_uid + 1)
    with pytest.raises(cref.UnsafeCacheError, match="not by this user"):
        cref.compile_library("bc_test", source, opt="-O0")
    assert not marker.exists()


# --- 5. not a flashinfer folder ---------------------------------------------------------------

def test_a_folder_without_fused_moe_sources_is_an_input_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not flashinfer")
    (tmp_path / "data").mkdir()
    assert main(["drift", "--flashinfer-root", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "--flashinfer-root" in lines[0] and "not a flashinfer package folder" in lines[0]
    assert "MISSING" not in captured.out
    assert main(["drift", "--flashinfer-root", str(tmp_path), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["argument"] == "--flashinfer-root" and report["exit_code"] == 2
    with pytest.raises(BoundcheckInputError, match="--flashinfer-root"):
        rows(str(tmp_path), E24)


def test_the_folder_above_the_package_is_named_in_the_error(tmp_path, capsys):
    hybrid_folder(tmp_path / "flashinfer")
    assert main(["drift", "--flashinfer-root", str(tmp_path)]) == 2
    assert f"did you mean {tmp_path / 'flashinfer'}?" in capsys.readouterr().err
    assert main(["drift", "--flashinfer-root", str(tmp_path / "flashinfer"), "--flashinfer", "0.7.4"]) > 0
