"""The second adversarial round's CLI findings (issue #24): prove --jobs, exec with commands
it cannot run and options it cannot honour, report --out that cannot take the files, the
report's shared-expert rows, and a refusal inside the engine's import of flashinfer."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def boundcheck(*argv, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "boundcheck", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=env)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("jobs", ["2147483648", "257", "0", "-3"])
def test_prove_jobs_is_bounded(jobs):
    result = boundcheck("prove", "--jobs", jobs, "--flashinfer", "0.7.4")
    assert result.returncode == 2 and "--jobs" in one_line(result.stderr) and "256" in result.stderr


def test_exec_commands_that_cannot_run_are_one_line(tmp_path):
    script = tmp_path / "no-shebang"
    script.write_text("echo hi\n")
    script.chmod(0o755)
    cases = {
        "empty": ([""], 2, "empty string"),
        "no shebang": ([str(script)], 126, "cannot execute"),
        "a directory": ([str(tmp_path)], 126, "cannot execute"),
        "a 5,000-character name": (["x" * 5000], 126, "cannot execute"),
        "not found": (["no-such-command-boundcheck"], 127, "command not found"),
    }
    for label, (command, code, needle) in cases.items():
        result = boundcheck("exec", "--", *command)
        assert result.returncode == code, (label, result.stderr[-500:])
        line = one_line(result.stderr)
        assert needle in line and len(line) < 400, (label, line)


@pytest.mark.parametrize("argv, flag, needle", [
    (["--cluster-y", "3"], "--cluster-y", "must be one of 1, 2"),
    (["--policy", "fixed:999"], "--policy", "tile 999 is not one flashinfer"),
    (["--flashinfer", "0.5.0"], "--flashinfer", "is not the flashinfer that runs here"),
    (["--flashinfer", "9.9.9"], "--flashinfer", "not modeled"),
])
def test_exec_refuses_options_the_guards_cannot_honour_before_running(tmp_path, argv, flag, needle):
    pytest.importorskip("flashinfer")  # --flashinfer is checked against the flashinfer that runs
    marker = tmp_path / "ran"
    result = boundcheck("exec", *argv, "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')")
    assert result.returncode == 2 and not marker.exists()
    line = one_line(result.stderr)
    assert flag in line and needle in line, line


def test_exec_accepts_the_release_that_runs():
    flashinfer = pytest.importorskip("flashinfer")
    from boundcheck.installed import release_of

    result = boundcheck("exec", "--quiet", "--flashinfer", release_of(flashinfer.__version__), "--", sys.executable,
                        "-c", "import flashinfer.fused_moe as f; print(f.trtllm_bf16_moe.boundcheck_guard.release.version)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == release_of(flashinfer.__version__)


def test_a_refusal_inside_the_engines_import_is_one_line_and_the_import_goes_on(tmp_path):
    # An older, unmodeled flashinfer (0.2.7) under exec: the guards cannot go in; the
    # engine's `import flashinfer.fused_moe` still works, and the process says it is unguarded.
    package = tmp_path / "flashinfer"
    (package / "fused_moe").mkdir(parents=True)
    (package / "__init__.py").write_text("__version__ = '0.2.7'\n")
    (package / "fused_moe" / "__init__.py").write_text("def trtllm_bf16_moe(*a, **k):\n    return 'kernel'\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    code = "import flashinfer.fused_moe as f; print(f.trtllm_bf16_moe())"
    result = boundcheck("exec", "--", sys.executable, "-c", code, env=env)
    assert result.returncode == 0 and result.stdout.strip() == "kernel", result.stderr[-2000:]
    line = one_line(result.stderr)
    assert "are NOT guarded" in line and "0.2.7" in line and "BOUNDCHECK_STRICT_VERSION=1" in line
    strict = boundcheck("exec", "--", sys.executable, "-c", code, env=dict(env, BOUNDCHECK_STRICT_VERSION="1"))
    assert strict.returncode != 0 and "not modeled" in strict.stderr  # strict: refused loudly


def test_report_out_that_cannot_take_files_fails_before_computing():
    start = time.perf_counter()
    result = boundcheck("report", "--flashinfer", "0.7.4", "--out", "/proc")
    assert result.returncode == 2 and "--out" in one_line(result.stderr) and "not writable" in result.stderr
    assert time.perf_counter() - start < 30  # the report itself takes minutes


def test_smt_dir_is_probed_too():
    result = boundcheck("prove", "--flashinfer", "0.7.4", "--smt-dir", "/proc")
    assert result.returncode == 2 and "--smt-dir" in one_line(result.stderr)


def test_report_rows_show_the_shared_experts_their_bound_used():
    from boundcheck.report import data
    from boundcheck.shapes import SHAPES

    deepseek = next(s for s in SHAPES if s.shared)
    # 0.4.1's FP4 launcher takes no fused shared experts: the row must not claim one
    heat = data.heatmap("0.4.1", "nvfp4")
    (mark,) = [m for m in heat.marks if m[0] is deepseek]
    shape, bound, note, shared = mark
    assert shared == 0 and "takes no fused shared experts" in note
    from boundcheck.bound import chunk_bound

    assert bound == chunk_bound(256, 8, flashinfer="0.4.1", precision="nvfp4", shared_experts=0).max_chunk_tokens
    # 0.7.4 takes it: the row says 1 and the bound is with it
    (mark,) = [m for m in data.heatmap("0.7.4", "nvfp4").marks if m[0] is deepseek]
    assert mark[3] == 1 and mark[2] == ""


def test_shrink_finds_the_least_value_not_a_nearby_one():
    # kernel_limits[int64 as int32] printed 90,944 where the first failing n is 90,883: the
    # search stopped after 8 probes. It now runs to the least value.
    import z3

    from boundcheck.solver.core import shrink

    x, y = z3.Ints("x y")
    constraints = [x >= 90_883, x <= 10**9, y >= x - 5, y <= 2**40]
    best = shrink(constraints, [x, y], {"x": 500_000_000, "y": 2**39}, timeout_s=30)
    assert best == {"x": 90_883, "y": 90_878}


def test_the_twin_counterexample_is_the_first_failing_token_count():
    import json

    result = boundcheck("prove", "--json", "--flashinfer", "0.7.2.post1")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {row["name"]: row for row in json.loads(result.stdout)["obligations"]}
    (outcome,) = rows["kernel_limits[int64 as int32]"]["cases_detail"]
    assert outcome["counterexample"]["tokens"] == 90_883  # the README's number, the least n that fails


def test_a_shared_query_says_whose_numbers_its_counterexample_has():
    result = boundcheck("prove", "--flashinfer", "0.2.9,0.2.10")
    assert result.returncode == 0, result.stderr[-2000:]
    shared = [line for line in result.stdout.splitlines() if "[nvfp4 / flashinfer @ 0.2.10" in line and "refuted" in line]
    assert shared and all("same queries as [nvfp4 / flashinfer @ 0.2.9]: the numbers are that case's" in line
                          for line in shared), shared


# --- the fresh-eyes campaign's findings (806 inputs, 37 wrong, 9 causes) -------------------

@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "1e5"])
def test_a_malformed_cap_variable_never_breaks_the_import_and_every_call_refuses(value):
    code = ("from boundcheck import runtime\nfrom tests.fakes import Recorder, make_arguments\n"
            "rec = Recorder('trtllm_bf16_moe')\ng = runtime.guard(rec, entry_point='trtllm_bf16_moe')\n"
            "for tokens in (100, 10_000):\n"
            "    try:\n        g(**make_arguments('trtllm_bf16_moe', tokens)); print('launched')\n"
            "    except ValueError as e:\n        print('refused', e)\n"
            "print(len(rec.calls))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env=dict(os.environ, BOUNDCHECK_MAX_CHUNK_TOKENS=value))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "0"  # fail closed: nothing reached the kernel
    assert all(line.startswith("refused BOUNDCHECK_MAX_CHUNK_TOKENS: must be a positive integer") for line in lines[:-1])


def test_an_empty_cap_variable_is_unset():
    code = "from boundcheck import runtime; print(runtime.max_chunk_tokens(512, 22))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env=dict(os.environ, BOUNDCHECK_MAX_CHUNK_TOKENS=""))
    assert result.stdout.strip() == "300000", result.stderr[-2000:]


@pytest.mark.parametrize("argv, flag", [
    (["chunk", "--json", "--num-experts", "abc", "--top-k", "2"], "--num-experts"),
    (["chunk", "--json", "--num-experts", "8", "--top-k", "2", "--cluster-y", "both"], "--cluster-y"),
    (["prove", "--json", "--timeout", "abc"], "--timeout"),
])
def test_json_names_the_argument_of_a_parse_error(argv, flag):
    import json

    result = boundcheck(*argv)
    assert result.returncode == 2 and json.loads(result.stdout)["argument"] == flag


@pytest.mark.parametrize("digits", ["٣٢", "1_000", "３２"])
def test_integers_are_ascii_digits(digits):
    result = boundcheck("chunk", "--num-experts", digits, "--top-k", "2")
    assert result.returncode == 2 and "--num-experts must be an integer" in one_line(result.stderr)


@pytest.mark.parametrize("argv, flag", [
    (["--num-experts", "8", "--top-k", "2", "--hidden-size", "-1", "--intermediate-size", "5"], "--hidden-size"),
    (["--precision", "bf16"], "--precision"),
    (["--flashinfer", "0.1"], "--flashinfer"),
    (["--num-experts", "8", "--top-k", "2", "--precision", "nope"], "--precision"),
])
def test_status_refuses_what_it_would_ignore_or_misprint(argv, flag):
    result = boundcheck("status", *argv)
    assert result.returncode == 2 and flag in one_line(result.stderr)


def test_drift_checks_the_execute_timeout_even_without_execute():
    result = boundcheck("drift", "--execute-timeout", "-1")
    assert result.returncode == 2 and "--execute-timeout" in one_line(result.stderr)


@pytest.mark.parametrize("value, key", [('{"policy": "bogus"}', "policy"), ('{"flashinfer": "9.9.9"}', "flashinfer")])
def test_every_malformed_exec_option_names_the_variable(value, key):
    from boundcheck.runtime.options import from_environment

    with pytest.raises(ValueError, match=f"^BOUNDCHECK_GUARD_OPTIONS.{key}: "):
        from_environment({"BOUNDCHECK_GUARD_OPTIONS": value})


def test_counts_that_equal_a_cached_int_but_are_not_ints_are_refused():
    from boundcheck import runtime
    from tests.fakes import Recorder

    runtime.max_chunk_tokens(8, 1)  # cached
    for kwargs in ({"cluster_y": 1.0}, {"cluster_y": True}):
        with pytest.raises(ValueError, match="cluster_y"):
            runtime.guard(Recorder("trtllm_bf16_moe"), entry_point="trtllm_bf16_moe", **kwargs)
    with pytest.raises(ValueError, match="num_experts: must be an int"):
        runtime.max_chunk_tokens(8.0, 1)
