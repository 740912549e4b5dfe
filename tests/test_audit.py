"""`boundcheck audit`: formulas and functions checked against the model."""

from __future__ import annotations

import json

import pytest

from boundcheck.audit import audit
from boundcheck.cli import main
from boundcheck.errors import BoundcheckInputError
from boundcheck.lift import lift_function, parse_formula
from boundcheck.ops import INT

VLLM = "min(300000, (E + (65535 - E + 1) * 128 - 1) // K)"
VLLM_UNCAPPED = "(E + (65535 - E + 1) * 128 - 1) // K"


def test_vllm_formula_refuted_on_the_whole_domain_with_a_real_counterexample():
    report = audit(parse_formula(VLLM))
    assert report["status"] == "refuted" and report["failed"] == "safety"
    cex = report["counterexample"]
    assert cex["grid_y"] > 65535 and cex["tile"] < 128
    assert cex["tokens"] <= cex["formula"] and cex["tokens"] == cex["proven_bound"] + 1


def test_vllm_formula_proved_at_nemotron_shape_and_its_ratio():
    report = audit(parse_formula(VLLM), num_experts="512", top_k="22", tune_max_num_tokens="8192")
    assert report["status"] == "proved" and report["tight"] is False
    assert report["loosest"]["ratio"] == pytest.approx(300_000 / 567_505, abs=0.002)


def test_tile_128_formula_refuted_where_tile_64_runs_and_proved_where_it_holds():
    # FP8 per-tensor, DeepSeek shape: the flashinfer policy can run tile 64 (FACTS 4).
    report = audit(parse_formula(VLLM_UNCAPPED), precision="fp8_per_tensor", num_experts="256", top_k="8",
                   tune_max_num_tokens="8192")
    assert report["status"] == "refuted"
    assert report["counterexample"]["tile"] == 64 and report["counterexample"]["tokens"] > 500_000
    # Under fixed:128 it is exactly the proven bound: proved and tight.
    report = audit(parse_formula(VLLM_UNCAPPED), precision="nvfp4", policy="fixed:128", num_experts="1..2048",
                   top_k="1..32", shared_experts="0", cluster_y=1)
    assert report["status"] == "proved" and report["tight"] is True and report["loosest"]["ratio"] == report["tightest"]["ratio"] == 1.0


def test_no_chunking_is_refuted_for_every_precision_vllm_leaves_unchunked():
    for precision in ("bf16", "fp8_per_tensor", "fp8_block", "mxfp4_bf16"):
        report = audit(parse_formula("2147483647"), precision=precision, num_experts="256", top_k="8")
        assert report["status"] == "refuted", precision


def test_target_functions_are_lifted():
    vllm = lift_function("tests.examples.formulas:vllm_chunk_size")
    assert vllm(INT, 512, 22, 512, 0)[0] == 300_000
    report = audit(vllm, num_experts="512", top_k="22", tune_max_num_tokens="8192")
    assert report["status"] == "proved"
    branches = lift_function("tests.examples.formulas:tile64_with_branches")
    assert branches(INT, 256, 8, 256, 0)[0] == 522_271
    report = audit(branches, precision="fp8_per_tensor", policy="fixed:64", cluster_y=1)
    assert report["status"] == "proved" and report["tight"] is True


@pytest.mark.parametrize(
    "target,needle",
    [
        ("tests.examples.formulas:uses_a_loop", "unsupported statement For"),
        ("tests.examples.formulas:unknown_parameter", "parameter 'hidden_size'"),
        ("tests.examples.nowhere:f", "not found on sys.path"),
        ("no_colon", "expected FILE.py:FUNCTION or MODULE:FUNCTION"),
    ],
)
def test_unsupported_targets_are_named(target, needle):
    with pytest.raises(BoundcheckInputError, match=needle):
        lift_function(target)


@pytest.mark.parametrize(
    "formula,needle",
    [("E ** 2", "unsupported construct BinOp"), ("__import__('os')", "unsupported call"),
     ("E +", "not a Python expression"), ("E / K", "true division 'E / K' must be wrapped"), ("X + 1", "unknown name 'X'")],
)
def test_unsupported_formulas_are_named(formula, needle):
    with pytest.raises(BoundcheckInputError, match=needle):
        lifted = parse_formula(formula)
        lifted(INT, 1, 1, 1, 0)


def test_cli_exit_codes_and_json(capsys):
    assert main(["audit", "--formula", VLLM, "--num-experts", "512", "--top-k", "22",
                 "--tune-max-num-tokens", "8192", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "proved" and "tight" in report and report["counterexample"] is None
    assert main(["audit", "--formula", VLLM, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert set(report["counterexample"]) >= {"num_experts", "top_k", "tokens", "tile", "ctas"}
    assert main(["audit", "--formula", VLLM, "--num-experts", "0..3000"]) == 2
    assert "--num-experts" in capsys.readouterr().err
    assert main(["audit", "--formula", "E ** 2"]) == 2
    assert main(["audit", "--formula", "K - 1"]) == 1  # no progress at top_k = 1


def test_a_release_of_the_callers_tile_is_audited_with_its_own_formula():
    # 0.3.0 runs tile_tokens_dim's default 8 with runner.h's older formula: the permuted
    # buffer's bound (8 * 65535 - 7 E) // K is safe, one more slot per expert is not.
    proved = audit(parse_formula("(8*65535 - 7*L) // K"), precision="fp8_per_tensor", num_experts="1..256",
                   top_k="1..8", flashinfer="0.3.0")
    assert proved["status"] == "proved" and proved["policy"] == "fixed:8" and proved["era"] == "E3"
    refuted = audit(parse_formula("(8*65536 - 7*L) // K"), precision="fp8_per_tensor", num_experts="1..256",
                    top_k="1..8", flashinfer="0.3.0")
    cex = refuted["counterexample"]
    assert refuted["status"] == "refuted" and cex["tile"] == 8 and cex["ctas"] == 65_536
