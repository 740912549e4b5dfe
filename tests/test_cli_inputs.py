"""Bad input to the CLI: a one-line error naming the argument and exit 2, never a
traceback, a hang or a silent acceptance; unknown has its own exit code."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from boundcheck.cli import main

COUNTS = ["--num-experts", "8", "--top-k", "2"]


def run(*args):
    return subprocess.run([sys.executable, "-m", "boundcheck", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["prove"], ["audit", "--formula", "1"]])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_timeouts_that_are_not_finite_and_positive_are_refused(command, value):
    result = run(*command, f"--timeout={value}")
    assert result.returncode == 2, result.stdout[-500:]
    assert "--timeout: must be a finite positive number of seconds" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_smt_dir_that_cannot_be_made_is_refused_before_proving(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for value, needle in (("", "must name a folder"), (str(blocker / "sub"), "cannot be created")):
        result = run("prove", "--smt-dir", value)
        assert result.returncode == 2 and needle in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("policy", ["fixed:\u00b2", "fixed:\u0663", "fixed:", "fixed:0", "fixed:-8"])
def test_fixed_policy_needs_an_ascii_positive_tile(policy):
    result = run("chunk", *COUNTS, "--policy", policy)
    assert result.returncode == 2 and "--policy" in result.stderr and "Traceback" not in result.stderr


def test_a_closed_stdout_is_not_a_traceback():
    process = subprocess.Popen([sys.executable, "-m", "boundcheck", "chunk", *COUNTS, "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before anything is written
    _, stderr = process.communicate(timeout=120)
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr
    assert process.returncode == 141


def test_unknown_has_its_own_exit_code():
    # A millisecond per query: the solver cannot decide, and that is never a pass.
    assert main(["audit", "--formula", "(E + (65535 - E + 1) * 8 - 1) // K", "--timeout", "0.0001"]) == 3


@pytest.mark.parametrize("command", ["chunk", "audit", "prove", "drift"])
def test_help_shows_defaults_precisions_policies_and_exit_codes(command):
    result = run(command, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "exit codes:" in text and "3 unknown" in text
    assert "--flashinfer" in text
    if command in ("chunk", "audit"):
        assert "(default: nvfp4)" in text and "nvfp4_per_token" in text and "fixed:T" in text
        assert "(default: flashinfer)" in text


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["audit", "--formula", "-5", "--num-experts", "4", "--top-k", "8"], "the domain is empty"),
        (["audit", "--formula", "E // 0", "--num-experts", "4", "--top-k", "8"], "the domain is empty"),
        (["audit", "--formula", ""], "--formula: is empty"),
        (["audit", "--formula", "1" + " + 1" * 3000], "at most 4,000"),
        (["audit", "--formula", "1" + " + 1" * 999, "--num-experts", "8", "--top-k", "2"], "nested too deeply"),
        (["audit", "--formula", "(" * 900 + "1" + ")" * 900], "--formula"),
    ],
)
def test_audit_formula_and_domain_input_errors(argv, needle):
    result = run(*argv)
    assert result.returncode == 2, result.stdout[-500:]
    assert needle in result.stderr and "Traceback" not in result.stderr


def test_negative_or_undefined_formulas_are_refuted_where_the_domain_is_not_empty():
    assert main(["audit", "--formula", "-5", "--num-experts", "4", "--top-k", "2"]) == 1
    assert main(["audit", "--formula", "E // 0", "--num-experts", "4", "--top-k", "2"]) == 1


@pytest.mark.parametrize("argv,flag", [
    (["audit", "--formula", "1000", "--num-experts", "4", "--top-k", "8", "--json"], "--num-experts"),
    (["chunk", "--num-experts", "4000", "--top-k", "8", "--json"], "--num-experts"),
    (["audit", "--formula", "100", "--timeout", "abc", "--json"], None),
])
def test_with_json_an_input_error_is_a_json_object_on_stdout(argv, flag):
    result = subprocess.run([sys.executable, "-m", "boundcheck", *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "error" in result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2 and document["error"]
    if flag is not None:
        assert document["argument"] == flag and flag in document["error"]


def test_version_names_boundcheck_and_the_releases_it_models():
    from boundcheck.releases import MODELED_VERSIONS

    result = subprocess.run([sys.executable, "-m", "boundcheck", "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("boundcheck ") and f"{MODELED_VERSIONS[0]} - {MODELED_VERSIONS[-1]}" in line, line


def test_chunk_says_what_it_assumed():
    """The precision, policy and routing the bound is for, each default named as one."""
    def header(*extra):
        result = subprocess.run([sys.executable, "-m", "boundcheck", "chunk", "--num-experts", "256", "--top-k", "8",
                                 "--flashinfer", "0.7.2.post1", *extra], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()[1]

    assert header() == "  precision nvfp4 (default), policy flashinfer (default), routing from logits (default; --routed: ids)"
    assert header("--precision", "bf16", "--routed") == (
        "  precision bf16, policy flashinfer (default), routed (precomputed top-k ids)")


@pytest.mark.parametrize("command", ["prove", "chunk", "audit", "drift", "report", "status", "exec", "adopt"])
def test_help_says_each_default_once(command):
    result = subprocess.run([sys.executable, "-m", "boundcheck", command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "(default: None)" not in result.stdout
    options = re.split(r"\n  (?=-)", result.stdout)
    twice = [o.split()[0] for o in options if o.count("(default") > 1]
    assert not twice, twice
