"""`boundcheck audit` as an engine developer uses it (issue "audit answers the question an
engine actually asks"): tune_max_num_tokens tied to the call's tokens, the `default`
policy, the empirical cap, chunk's defaults, the first failing token count, the loosest
and tightest configurations, --target on engine-shaped code (never imported), and the
transcribed engine paths of examples/engines/."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from boundcheck.audit import audit
from boundcheck.bound import chunk_bound, effective_counts, is_safe
from boundcheck.errors import BoundcheckInputError
from boundcheck.lift import lift_function, parse_formula
from boundcheck.ops import INT
from boundcheck.policy import parse_policy
from boundcheck.resolution import era_for
from boundcheck.tiles import next_positive_power_of_2

ROOT = Path(__file__).resolve().parent.parent
ENGINE_LIKE = ROOT / "tests" / "examples" / "engine_like.py"
RELEASE = "0.7.2.post1"
NO_CHUNK = parse_formula("2147483647")


def test_tune_tied_to_n_finds_the_first_failing_count_by_brute_force():
    """SGLang's next_pow2(n): the audit's first failing n equals a scan of the literal
    definition with tune_max_num_tokens = next_pow2(n) at every n."""
    report = audit(NO_CHUNK, precision="bf16", num_experts="64", top_k="8", tune_max_num_tokens="next_pow2(n)",
                   flashinfer=RELEASE)
    assert report["status"] == "refuted" and report["failed"] == "safety"
    first = report["counterexample"]["tokens"]
    era = era_for(RELEASE)
    tiles, policy, counts = era.tiles["bf16"], parse_policy("flashinfer"), effective_counts(64, 8)
    scan = next(n for n in range(1, first + 2)
                if not is_safe(n, counts, tiles, policy, next_positive_power_of_2(n), era))
    assert scan == first
    assert report["counterexample"]["tune_max_num_tokens"] == next_positive_power_of_2(first)


@pytest.mark.parametrize("tune,value", [("n", None), ("max(n, 8192)", None), ("1048576", 1048576)])
def test_tied_and_fixed_tune_agree_with_chunk(tune, value):
    """Past 8192 tokens a tune >= n gives the bound chunk computes with a large tune."""
    report = audit(NO_CHUNK, precision="fp8_block", num_experts="512", top_k="22", tune_max_num_tokens=tune,
                   flashinfer=RELEASE)
    bound = chunk_bound(512, 22, flashinfer=RELEASE, precision="fp8_block", tune_max_num_tokens=1 << 20)
    assert report["counterexample"]["tokens"] == bound.max_chunk_tokens + 1 == 189_184


def test_default_policy_and_chunk_answer_alike():
    """Same defaults as chunk (tune 8192, no shared experts, cluster_y 1, printed); chunk's
    bound audits as proved and tight, one more as refuted at exactly that count."""
    c = chunk_bound(256, 8, flashinfer=RELEASE, precision="nvfp4", policy="default").max_chunk_tokens
    proved = audit(parse_formula(str(c)), policy="default", num_experts="256", top_k="8", flashinfer=RELEASE)
    assert proved["status"] == "proved" and proved["tight"] is True
    assert proved["domain"]["tune_max_num_tokens"] == 8192 and proved["domain"]["shared_experts"] == (0, 0)
    assert proved["domain"]["cluster_y"] == 1
    assert proved["loosest"]["ratio"] == proved["tightest"]["ratio"] == 1.0
    refuted = audit(parse_formula(str(c + 1)), policy="default", num_experts="256", top_k="8", flashinfer=RELEASE)
    assert refuted["status"] == "refuted" and refuted["counterexample"]["tokens"] == c + 1
    flashinfer = chunk_bound(256, 8, flashinfer=RELEASE, precision="nvfp4").max_chunk_tokens
    assert c >= flashinfer


def test_a_formula_above_the_cap_is_not_read_as_safe(capsys):
    from boundcheck.cli import main

    code = main(["audit", "--formula", "400000", "--num-experts", "512", "--top-k", "22", "--flashinfer", RELEASE])
    text = capsys.readouterr().out
    assert code == 4
    assert "ABOVE THE EMPIRICAL CAP" in text and "vLLM PR #43599" in text and "verdict: proved" in text
    assert "cluster_y 1" in text and "tune_max_num_tokens 8,192" in text
    assert main(["audit", "--formula", "300000", "--num-experts", "512", "--top-k", "22", "--flashinfer", RELEASE,
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cap"]["exceeded"] is False and report["cap"]["tokens"] == 300_000


def test_loosest_and_tightest_points_are_real_configurations():
    formula = parse_formula("(E + (65535 - E + 1) * 64 - 1) // K")
    report = audit(formula, precision="fp8_per_tensor", num_experts="1..64", top_k="1..8", flashinfer=RELEASE)
    assert report["status"] == "proved"
    loosest, tightest = report["loosest"], report["tightest"]
    for point in (loosest, tightest):
        assert point["ratio"] == round(point["formula"] / point["proven_bound"], 4) <= 1
        c = chunk_bound(point["num_experts"], point["top_k"], flashinfer=RELEASE, precision="fp8_per_tensor")
        assert c.max_chunk_tokens == point["proven_bound"]
    assert loosest["ratio"] <= tightest["ratio"]
    assert loosest["ratio_bound"] <= loosest["ratio"] < loosest["ratio_bound"] + 0.002
    assert tightest["ratio_bound"] <= tightest["ratio"] < tightest["ratio_bound"] + 0.002


def test_targets_are_read_not_imported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    nested = lift_function(f"{ENGINE_LIKE}:nested")
    assert nested(INT, 512, 22, 512, 0)[0] == 300000
    assert nested(INT, 8, 8, 8, 0)[0] == 300000 and nested(INT, 256, 64, 256, 0)[0] == (256 + 65280 * 128 - 1) // 64
    assert lift_function("tests.examples.engine_like:Experts.chunk")(INT, 100, 8, 100, 0)[0] == (65535 - 100) * 8 // 8
    assert time.perf_counter() - start < 10 and not (tmp_path / "IMPORTED_BY_AUDIT").exists()
    assert "tests.examples.engine_like" not in sys.modules


def test_true_division_floor_and_ceil():
    division = lift_function(f"{ENGINE_LIKE}:with_true_division")
    rounding = lift_function(f"{ENGINE_LIKE}:with_floor_and_ceil")
    import math

    for e, k in [(1, 1), (7, 3), (512, 22), (2048, 32)]:
        assert division(INT, e, k, e, 0)[0] == int((65535 - e) * 8 / k)
        assert rounding(INT, e, k, e, 0)[0] == math.floor((65535 - e) * 8 / k) - math.ceil(e / 1000) + 1
    report = audit(division, precision="mxfp4_bf16", policy="fixed:8", num_experts="1..512", top_k="1..8",
                   flashinfer=RELEASE)
    assert report["status"] == "proved"
    with pytest.raises(BoundcheckInputError, match="true division"):
        parse_formula("E / K")(INT, 1, 1, 1, 0)


@pytest.mark.parametrize("target,needle", [
    ("Experts.uses_self", r"engine_like.py:\d+: the method uses 'self'"),
    ("uses_attribute", r"engine_like.py:\d+: unsupported call"),
    ("Nope.chunk", "no class 'Nope'"),
    ("missing", "no function 'missing'"),
])
def test_unsupported_targets_name_file_and_line(target, needle):
    with pytest.raises(BoundcheckInputError, match=needle):
        lift_function(f"{ENGINE_LIKE}:{target}")


def test_a_shadowed_builtin_is_refused_or_lifted_as_written():
    shadows = ROOT / "tests" / "examples" / "shadows.py"
    with pytest.raises(BoundcheckInputError, match=r"'min' is rebound on line 3"):
        lift_function(f"{shadows}:uses_rebound_min")
    assert lift_function(f"{shadows}:uses_own_max")(INT, 4096, 2, 4096, 0)[0] == 100  # the file's max: its first


def test_a_module_that_hangs_on_import_does_not_hang_the_cli(tmp_path):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "boundcheck", "audit", "--target",
                             "tests.examples.engine_like:Experts.chunk", "--precision", "bf16", "--policy", "fixed:8",
                             "--num-experts", "128", "--top-k", "8", "--flashinfer", RELEASE],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert time.perf_counter() - start < 25, "the target module was imported"
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tests.examples.engine_like:Experts.chunk" in result.stdout


@pytest.mark.parametrize("module", ["vllm_0_33_0", "sglang_0_5_23"])
def test_every_engine_path_lifts_unchanged(module):
    import importlib

    engine = importlib.import_module(f"examples.engines.{module}")
    for name, where, precisions, function, tune in engine.PATHS:
        lifted = lift_function(f"{ROOT / 'examples' / 'engines' / (module + '.py')}:{function}")
        assert lifted(INT, 512, 22, 512, 0)[0] >= 1, name
        era = era_for(engine.FLASHINFER)
        assert all(p in era.tiles for p in precisions), (name, precisions)


def test_engine_table_rows():
    """Two of the README's cells, and what they mean in chunk's terms."""
    sys.path.insert(0, str(ROOT))
    from tools.engine_table import _cell

    vllm = lift_function(f"{ROOT / 'examples/engines/vllm_0_33_0.py'}:nvfp4_get_chunk_size")
    report = audit(vllm, num_experts="512", top_k="22", tune_max_num_tokens="min(max(n, 8192), F)..F",
                   flashinfer="0.7.2.post1")
    assert _cell(report) == "safe to 300,000"
    sglang = lift_function(f"{ROOT / 'examples/engines/sglang_0_5_23.py'}:no_chunking")
    report = audit(sglang, num_experts="512", top_k="22", tune_max_num_tokens="next_pow2(n)", flashinfer="0.7.2")
    c = chunk_bound(512, 22, flashinfer="0.7.2", precision="nvfp4", tune_max_num_tokens=1 << 20).max_chunk_tokens
    assert _cell(report) == f"fails at n = {c + 1:,} (tile 192)"


@pytest.mark.parametrize("text,needle", [
    ("", "is empty"), ("n..", None), ("0", "outside"), ("x + 1", "unknown name 'x'"), ("1..2..3", "expected VALUE"),
    ("9000..10", "is empty"), ("n // 0", "divisor"),
])
def test_tune_inputs(text, needle):
    if needle is None:
        assert audit(parse_formula("1000"), precision="bf16", num_experts="8", top_k="2", tune_max_num_tokens=text,
                     flashinfer=RELEASE)["status"] == "proved"
        return
    if needle == "divisor":
        report = audit(parse_formula("1000"), precision="bf16", num_experts="8", top_k="2", tune_max_num_tokens=text,
                       flashinfer=RELEASE)
        assert report["status"] == "refuted" and report["failed"] == "divisor"
        return
    with pytest.raises(BoundcheckInputError, match=needle):
        audit(parse_formula("1000"), precision="bf16", num_experts="8", top_k="2", tune_max_num_tokens=text,
              flashinfer=RELEASE)
