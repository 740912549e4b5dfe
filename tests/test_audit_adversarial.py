"""`boundcheck audit` against the adversarial review of issue #24: an empty tune range never
proves anything, a solver's unknown is never read as "no" (or "yes"), foreign input is
lifted within step, size and time budgets, and every printed configuration lies in the
printed domain, with --json carrying numbers as numbers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from boundcheck import audit as audit_module
from boundcheck import lift as lift_module
from boundcheck.audit import audit, exit_code, format_report
from boundcheck.cli import main
from boundcheck.errors import BoundcheckInputError
from boundcheck.lift import TooComplex, lift_function, parse_formula
from boundcheck.ops import INT

RELEASE = "0.7.2.post1"
VLLM = "min(300000, (E + (65535 - E + 1) * 128 - 1) // K)"
NO_CHUNK = "2147483647"


def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "boundcheck", *args], capture_output=True, text=True, timeout=timeout)


# --- 1. an empty tune range for some n <= F proves nothing -----------------------------------

def test_a_tune_range_empty_past_some_n_is_refused_naming_the_argument_and_the_first_n():
    """Issue #24: 'n..8192' is empty for n > 8192, so every query over those n held
    vacuously and 5,000,000 tokens was reported proved and tight."""
    with pytest.raises(BoundcheckInputError, match=r"^--tune-max-num-tokens: .*'n\.\.8192'.* at n = 8,193 "
                                                   r"\(the first such n"):
        audit(parse_formula("5000000"), precision="bf16", num_experts="512", top_k="22",
              tune_max_num_tokens="n..8192", flashinfer=RELEASE)
    # The first n over every configuration: here the one whose formula reaches it first.
    with pytest.raises(BoundcheckInputError, match=r"at n = 3,001 \(the first such n; num_experts=8,"):
        audit(parse_formula("1000 * K"), precision="bf16", num_experts="8", top_k="1..4",
              tune_max_num_tokens="n..3000", flashinfer=RELEASE)


def test_an_undecided_search_for_the_first_empty_n_names_an_empty_n_without_calling_it_first(monkeypatch):
    def call():
        return audit(parse_formula("5000000"), precision="bf16", num_experts="512", top_k="22",
                     tune_max_num_tokens="n..8192", flashinfer=RELEASE)

    with pytest.raises(BoundcheckInputError, match=r"\(an n where it holds none \(the first was not decided\)"):
        _with_unknown_at(monkeypatch, "first n where the tune_max_num_tokens range is empty", call)
    # undecided before any empty n is found: the verdict is unknown, not an input error and not proved
    report = _with_unknown_at(monkeypatch, "tune_max_num_tokens range query", call)
    assert report["status"] == "unknown" and exit_code(report) == 3


def test_the_cli_refuses_it_with_exit_2_and_one_line():
    result = run_cli("audit", "--formula", "5000000", "--num-experts", "512", "--top-k", "22", "--precision", "bf16",
                     "--tune-max-num-tokens", "n..8192", "--flashinfer", RELEASE)
    assert result.returncode == 2, result.stdout
    assert "--tune-max-num-tokens" in result.stderr and "n = 8,193" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_refutation_found_below_the_empty_range_still_stands():
    """The safety query's model has a value in the range: real, whatever happens above."""
    report = audit(parse_formula(NO_CHUNK), precision="bf16", num_experts="64", top_k="8",
                   tune_max_num_tokens="n..1000000", flashinfer=RELEASE)
    assert report["status"] == "refuted" and report["failed"] == "safety"
    cex = report["counterexample"]
    assert cex["tokens"] <= cex["tune_max_num_tokens"] <= 1_000_000


def test_tightness_is_not_claimed_where_the_range_is_empty_at_f_plus_1():
    report = audit(parse_formula("1000"), precision="bf16", num_experts="512", top_k="22",
                   tune_max_num_tokens="n..1000", flashinfer=RELEASE)
    assert report["status"] == "proved"
    assert report["tight"] is None and "n = F + 1" in report["tight_note"]
    assert "tightness is undefined" in format_report(report)


def test_no_ratio_rests_on_a_bound_checked_where_the_range_is_empty():
    """The bound C under a tied tune is checked up to C + 1: empty there, no ratio F / C."""
    report = audit(parse_formula("1000"), precision="bf16", num_experts="512", top_k="22",
                   tune_max_num_tokens="n if n <= 5000 else 0", flashinfer=RELEASE)
    assert report["status"] == "proved"
    assert report["loosest"] is None and report["tightest"] is None and "not proven" in report["ratio_note"]


@pytest.mark.parametrize("tune", [
    "n-10000000", "n..n-1", "min(n, 0)", "-5", "n if n > 10 else 0", "next_pow2(n) * 1000000000", "0", "n..0",
    "2147483648", "n..2147483648", "...", "1..2..3", "..n..", "n**2", "n / 2", "1e5", "x", "(", "n +", "", " ",
    "\uff18\uff11\uff19\uff12", "\x01", "n\x00", "n * " + "9" * 90, "9" * 90, "n < 5", "n and 1", "[n]",
    "n.bit_length()", "lambda: n", "F..F - 1", "E - 10000",
])
def test_every_malformed_or_out_of_range_tune_is_a_one_line_input_error(tune, capsys):
    code = main(["audit", "--formula", "5000", "--num-experts", "8", "--top-k", "2", "--precision", "bf16",
                 "--tune-max-num-tokens", tune, "--flashinfer", RELEASE])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("boundcheck: error: --tune-max-num-tokens") and len(err.strip().splitlines()) == 1


# --- 2. unknown is never "no" (or "yes") ------------------------------------------------------

def _kind(what: str) -> str:
    """A query's kind: its name without the slice and the probe's value."""
    return re.sub(r" \((?:p|n) [^)]*\)| for top_k' = \d+", "", what).strip()


def _recorded(monkeypatch, call):
    names = []
    real = audit_module._ask

    def recording(constraints, what, *args, **kwargs):
        names.append(_kind(what))
        return real(constraints, what, *args, **kwargs)

    monkeypatch.setattr(audit_module, "_ask", recording)
    report = call()
    monkeypatch.setattr(audit_module, "_ask", real)
    return report, list(dict.fromkeys(names))


def _with_unknown_at(monkeypatch, kind, call):
    real = audit_module._ask

    def undecided_there(constraints, what, *args, **kwargs):
        if _kind(what) == kind:
            raise audit_module._Undecided(what, "timeout (injected)")
        return real(constraints, what, *args, **kwargs)

    monkeypatch.setattr(audit_module, "_ask", undecided_there)
    try:
        return call()
    finally:
        monkeypatch.setattr(audit_module, "_ask", real)


PROVED_AUDITS = {
    # divisor, progress, safety, tight (F + 1 launches: not tight), ratios, cap
    "fixed tune": lambda: audit(parse_formula(VLLM), num_experts="512", top_k="22", flashinfer=RELEASE),
    # a tied tune: its divisor, its range, tightness with its gap at F + 1, the bound C's checks
    "tied tune": lambda: audit(parse_formula("1000"), precision="bf16", num_experts="512", top_k="22",
                               tune_max_num_tokens="n // 2 + 8192", flashinfer=RELEASE),
    "tied tune, tight": lambda: audit(parse_formula("1000"), precision="bf16", num_experts="512", top_k="22",
                                      tune_max_num_tokens="n..1000", flashinfer=RELEASE),
}


@pytest.mark.parametrize("name", list(PROVED_AUDITS))
def test_an_unknown_anywhere_makes_a_proved_audit_unknown_naming_the_query(monkeypatch, name):
    call = PROVED_AUDITS[name]
    report, kinds = _recorded(monkeypatch, call)
    assert report["status"] == "proved" and len(kinds) >= 5, kinds
    for kind in kinds:
        undecided = _with_unknown_at(monkeypatch, kind, call)
        assert undecided["status"] == "unknown", (kind, undecided)
        assert exit_code(undecided) == 3 and _kind(undecided["undecided"]) == kind
        assert kind in format_report(undecided)


def test_an_unknown_while_refuting_never_claims_more_than_was_decided(monkeypatch):
    def call():
        return audit(parse_formula(NO_CHUNK), precision="bf16", num_experts="64", top_k="8", flashinfer=RELEASE)

    report, kinds = _recorded(monkeypatch, call)
    assert report["status"] == "refuted" and report["counterexample"].get("first", True) is True
    assert "first failing token count query" in kinds and "shrinking tokens" in kinds
    for kind in kinds:
        result = _with_unknown_at(monkeypatch, kind, call)
        if kind in ("domain query", "progress query", "safety query"):
            assert result["status"] == "unknown" and exit_code(result) == 3, kind
        elif kind == "first failing token count query":
            # the formula fails there (a model), but that n is not shown to be the first
            cex = result["counterexample"]
            assert result["status"] == "refuted" and cex["first"] is False and kind in cex["undecided"]
            assert "a failing token count" in format_report(result) and "not shown to be the first" in \
                format_report(result)
        else:  # shrinking: a smaller model is not claimed, the one found is a model
            assert result["status"] == "refuted" and result["counterexample"]["tokens"] >= \
                report["counterexample"]["tokens"], kind


def test_ask_maps_unknown_to_undecided_and_is_the_only_reader_of_solver_answers():
    import inspect

    import z3

    x, y, z = z3.Ints("x y z")
    hard = [x * x * x + y * y * y + z * z * z == 42, x > 10 ** 6]
    with pytest.raises(audit_module._Undecided, match="hard query"):
        audit_module._ask(hard, "hard query", 0.01)
    assert audit_module._ask([x > 1, x < 1], "empty", 5) is None
    values = audit_module._ask([x == 3, y >= 5], "sat", 5, [x, y, z])  # z: in no constraint, still read
    assert values["x"] == 3 and values["y"] >= 5 and "z" in values
    # One reader: the solver is asked in _ask alone; core's decide is not used, and core's
    # shrink only with a probe that asks through _ask.
    source = inspect.getsource(audit_module)
    assert source.count(".check(") == 1 and source.count("make_solver(") == 1
    assert not re.search(r"(?<![_\w])decide\(", source)
    shrinks = re.findall(r"(?<![_\w])shrink\(([^)]*)\)", source)
    assert shrinks and all("probe=probe" in call for call in shrinks)


def test_a_cap_reached_only_where_the_solver_struggles_is_never_within_the_cap():
    """Issue #24: 300,001 tokens only where E**4 - L**4 == 4095 * 4096 (E = 64, L = 8): the
    cap query timed out and the audit said "within the empirical cap everywhere", exit 0.
    Now an unknown there (or in a ratio search) is exit 3, a model exit 4: never 0."""
    formula = "300001 if E*E*E*E - L*L*L*L == 4095*4096 else 1000"
    result = run_cli("audit", "--formula", formula, "--num-experts", "1..2048", "--local-experts", "1..2048",
                     "--top-k", "22", "--policy", "fixed:128", "--timeout", "1", "--flashinfer", RELEASE, timeout=300)
    assert result.returncode in (3, 4), result.stdout
    assert "within the empirical cap" not in result.stdout


# --- 3. lifting foreign input: budgets, never a hang ------------------------------------------

# 20-line files whose naive lifting is exponential: 2**17 paths, 2**18 inlined calls, a
# constant of 4**17 * 1.6 bits, a polynomial of degree 2**16 (and the same through calls).
ADVERSARIAL_FILES = {
    "sequential_ifs": "def f(num_experts, top_k):\n    x = num_experts\n"
    + "".join(f"    if x > {7 * i}: x = x + {i}\n" for i in range(17)) + "    return x // top_k\n",
    "calls_twice": "def g0(a, b): return a + b\n"
    + "".join(f"def g{i}(a, b): return g{i - 1}(a, b) + g{i - 1}(b, a)\n" for i in range(1, 19))
    + "def f(num_experts, top_k): return g18(num_experts, top_k) // top_k\n",
    "squared_constant": "C0 = 3\n"
    + "".join(f"C{i} = C{i - 1} * C{i - 1} * C{i - 1} * C{i - 1}\n" for i in range(1, 18))
    + "def f(num_experts, top_k):\n    return min(C17, 1000) // top_k\n",
    "squared_term": "def f(num_experts, top_k):\n    x = num_experts + top_k\n" + "    x = x * x\n" * 16
    + "    return min(x, 1000) // top_k\n",
    "squared_via_calls": "def sq(v): return v * v\ndef f(num_experts, top_k):\n    x = num_experts + 1\n"
    + "    x = sq(x)\n" * 16 + "    return min(x, 1000)\n",
}


@pytest.mark.parametrize("name", list(ADVERSARIAL_FILES))
def test_small_adversarial_targets_are_refused_as_too_complex_within_seconds(tmp_path, name):
    path = tmp_path / f"{name}.py"
    path.write_text(ADVERSARIAL_FILES[name])
    assert len(ADVERSARIAL_FILES[name].splitlines()) <= 20
    start = time.perf_counter()
    result = run_cli("audit", "--target", f"{path}:f", "--num-experts", "8", "--top-k", "2", "--flashinfer", RELEASE,
                     timeout=60)
    elapsed = time.perf_counter() - start
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("boundcheck: error: --target:") and "too complex" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert elapsed < 10, f"{elapsed:.1f} s"


def test_each_budget_is_enforced(monkeypatch):
    monkeypatch.setattr(lift_module, "MAX_STEPS", 50)
    with pytest.raises(TooComplex, match=r"^--formula: .*more than 50 interpreter steps"):
        parse_formula(" + ".join(["E"] * 40))
    monkeypatch.setattr(lift_module, "MAX_STEPS", 100_000)
    monkeypatch.setattr(lift_module, "MAX_SECONDS", 1e-9)
    with pytest.raises(TooComplex, match=r"too complex to lift: more than 1e-09 s"):
        parse_formula("E + K")
    monkeypatch.setattr(lift_module, "MAX_SECONDS", 5.0)
    with pytest.raises(TooComplex, match=r"an integer of more than 256 bits"):
        parse_formula("E * " + " * ".join(["4294967296"] * 9))
    monkeypatch.setattr(lift_module, "MAX_TERM_SIZE", 10)
    import z3

    from boundcheck.solver.backends import Z3_INT

    lifted = parse_formula("min(E, K) + min(E, K) * min(E, K)")  # fine on ints
    with pytest.raises(TooComplex, match=r"more than 10 nodes"):
        lifted(Z3_INT, *z3.Ints("E K L S"))


def test_a_large_target_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(lift_module, "MAX_SOURCE_CHARACTERS", 1000)
    path = tmp_path / "big.py"
    path.write_text("def f(num_experts, top_k):\n    return num_experts\n" + "# padding\n" * 200)
    with pytest.raises(TooComplex, match=r"^--target: .*too complex to lift: .*characters"):
        lift_function(f"{path}:f")


FLOWS = '''
def early(num_experts, top_k):
    if top_k > 4:
        return num_experts // top_k
    x = num_experts * 2
    if x > 100:
        x = x - 7
    elif x > 50:
        return x + 1
    else:
        x += 3
    if top_k == 1:
        return x
    return x + top_k


def nested(num_experts, top_k):
    if num_experts > 64:
        if top_k > 2:
            y = 1
        else:
            return 5
        y = y + num_experts
    else:
        y = top_k
    return y * 3


def chain(num_experts, top_k):
    x = num_experts
    if x > 10:
        x = x + 1
    else:
        x = x - 1
    if x > 30:
        x = x * 2
    if x > 100:
        x = x - 50
    else:
        x = x + top_k
    if x > 60 and top_k > 2:
        return x
    return x + 1000


def twice(num_experts, top_k):
    return helper(num_experts, top_k) + helper(num_experts, top_k) * helper(top_k, num_experts)


def helper(a, b):
    if a > b:
        return a - b
    return b - a + 1
'''


@pytest.mark.parametrize("function", ["early", "nested", "chain", "twice"])
def test_merged_branches_and_memoized_calls_compute_what_python_computes(tmp_path, function):
    """Each statement runs once (branches merged, calls inlined once per argument): on ints
    and as a solver term, the lifted function equals the function Python runs."""
    import z3

    from boundcheck.solver.backends import Z3_INT

    path = tmp_path / "flows.py"
    path.write_text(FLOWS)
    namespace = {}
    exec(compile(FLOWS, str(path), "exec"), namespace)  # the test's own code
    lifted = lift_function(f"{path}:{function}")
    E, K, L, S = z3.Ints("E K L S")
    term, _ = lifted(Z3_INT, E, K, L, S)
    for e in (1, 7, 26, 40, 49, 51, 60, 65, 99, 120, 2048):
        for k in (1, 2, 3, 4, 5, 8):
            expected = namespace[function](e, k)
            assert lifted(INT, e, k, e, 0)[0] == expected, (e, k)
            value = z3.simplify(z3.substitute(term, (E, z3.IntVal(e)), (K, z3.IntVal(k))))
            assert value.as_long() == expected, (e, k)


def test_a_name_assigned_on_some_paths_only_is_refused(tmp_path):
    path = tmp_path / "unbound.py"
    path.write_text("def f(num_experts, top_k):\n    if top_k > 1:\n        z = 3\n    return z + num_experts\n")
    with pytest.raises(BoundcheckInputError, match=r"'z' is assigned on some paths only \(the if statement on line 2"):
        lift_function(f"{path}:f")
    path.write_text("def f(num_experts, top_k):\n    if top_k > 1:\n        return 3\n")
    with pytest.raises(BoundcheckInputError, match="does not return a value on every path"):
        lift_function(f"{path}:f")


def test_next_pow2_of_a_term_is_exact_or_refuted_never_silently_clamped():
    """next_pow2 of a term is exact up to 2**32; past it the audit refutes it as undefined
    rather than reading 2**32 (an earlier lifter clamped at 2**25)."""
    report = audit(parse_formula("next_pow2(E * 4000000) // 2048"), precision="bf16", num_experts="1..2048",
                   top_k="1", flashinfer=RELEASE)
    assert report["status"] == "refuted" and report["failed"] == "divisor"
    assert "next_pow2" in report["counterexample"]["message"]
    lifted = parse_formula("next_pow2(E * 10000)")
    assert lifted(INT, 2048, 1, 2048, 0)[0] == 2 ** 25  # 20,480,000 -> 2**25, exactly


# --- 4. counterexamples within the printed domain; numbers in JSON ----------------------------

def _in_domain(point, report, tune):
    """The point lies in the domain the report prints, and its tune_max_num_tokens in
    `tune` (the value or (low, high) the test asked for, not read back from the report)."""
    domain = report["domain"]
    assert domain["num_experts"][0] <= point["num_experts"] <= domain["num_experts"][1], point
    assert domain["top_k"][0] <= point["top_k"] <= domain["top_k"][1], point
    assert domain["shared_experts"][0] <= point["shared_experts"] <= domain["shared_experts"][1], point
    if domain["local_experts"] == "= num_experts":
        assert point["local_experts"] == point["num_experts"], point
    else:
        assert domain["local_experts"][0] <= point["local_experts"] <= domain["local_experts"][1], point
    if isinstance(domain["cluster_y"], int):
        assert point["cluster_y"] == domain["cluster_y"], point
    low, high = (tune, tune) if isinstance(tune, int) else tune
    assert low <= point["tune_max_num_tokens"] <= high, point
    assert domain["tune_max_num_tokens"] == (tune if isinstance(tune, int) else list(tune))


@pytest.mark.parametrize("formula,kwargs,failed,tune", [
    ("K - 1", {"num_experts": "8", "top_k": "1..2"}, "progress", 8192),  # was tune_max_num_tokens=1
    ("E // (K - 1)", {"num_experts": "8..64", "top_k": "1..4", "tune_max_num_tokens": "4096..16384"}, "divisor",
     (4096, 16384)),
    (NO_CHUNK, {"precision": "bf16", "num_experts": "64..128", "top_k": "8", "tune_max_num_tokens": "4096..16384"},
     "safety", (4096, 16384)),
    ("K - 1", {"num_experts": "8", "top_k": "1..2", "local_experts": "2..4", "cluster_y": "2",
               "tune_max_num_tokens": "100000"}, "progress", 100000),
])
def test_counterexamples_lie_in_the_printed_domain(formula, kwargs, failed, tune):
    report = audit(parse_formula(formula), flashinfer=RELEASE, **kwargs)
    assert report["status"] == "refuted" and report["failed"] == failed
    _in_domain(report["counterexample"], report, tune)


def test_every_printed_configuration_of_a_proof_lies_in_the_domain():
    report = audit(parse_formula("300000 - E"), num_experts="256..512", top_k="8..22",
                   tune_max_num_tokens="8192..65536", flashinfer=RELEASE)
    assert report["status"] == "proved"
    points = [report["looser_at"], report["loosest"], report["tightest"]] + [(report["cap"] or {}).get("at")]
    assert report["loosest"] and report["tightest"]
    for point in points:
        if point:
            _in_domain(point, report, (8192, 65536))


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize("tune,expected", [(None, 8192), ("8192", 8192), ("4096..16384", [4096, 16384]),
                                           ("max(n, 8192)", "max(n, 8192)")])
def test_json_carries_numbers_as_numbers(capsys, tune, expected):
    argv = ["audit", "--formula", VLLM, "--num-experts", "512", "--top-k", "22", "--flashinfer", RELEASE, "--json"]
    if tune is not None:
        argv += ["--tune-max-num-tokens", tune]
    code = main(argv)
    report = json.loads(capsys.readouterr().out)
    assert code in (0, 4) and report["status"] == "proved"
    assert report["domain"]["tune_max_num_tokens"] == expected
    assert report["domain"]["num_experts"] == [512, 512] and report["domain"]["cluster_y"] == 1
    numbers_as_text = [s for s in _strings(report) if re.fullmatch(r"-?\d{1,3}(,\d{3})+|-?\d+", s.strip())]
    assert not numbers_as_text
