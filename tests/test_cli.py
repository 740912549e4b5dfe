"""The command line: exit codes, JSON, and one-line errors that name the argument."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from boundcheck import max_chunk_tokens
from boundcheck.cli import main


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "boundcheck", *args], capture_output=True, text=True, env=env
    )


def test_chunk_nemotron_at_vllms_tile_matches_the_issue():
    result = run("chunk", "--num-experts", "512", "--top-k", "22", "--precision", "nvfp4",
                 "--policy", "fixed:128", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["grid_bound"] == 378_344
    assert report["binding_tile"] == 128
    assert report["max_chunk_tokens"] == 300_000  # NVFP4's empirical cap
    assert report["cap"] == 300_000 and "305k" in report["cap_provenance"]
    assert (report["ctas_at_bound"], report["ctas_past_bound"]) == (65_535, 65_536)


@pytest.mark.parametrize(
    "argv,kwargs",
    [
        (["--num-experts", "256", "--top-k", "8", "--precision", "fp8_per_tensor"], dict(precision="fp8_per_tensor")),
        (["--num-experts", "384", "--top-k", "8", "--local-experts", "48", "--precision", "mxfp8"],
         dict(precision="mxfp8", local_experts=48)),
        (["--num-experts", "256", "--top-k", "8", "--shared-experts", "1", "--tune-max-num-tokens", "1024"],
         dict(shared_experts=1, tune_max_num_tokens=1024)),
        (["--num-experts", "128", "--top-k", "4", "--precision", "mxfp4_bf16", "--policy", "any", "--cluster-y", "2"],
         dict(precision="mxfp4_bf16", policy="any", cluster_y=2)),
    ],
)
def test_chunk_reports_the_model_bound(argv, kwargs, capsys):
    assert main(["chunk", *argv, "--json", "--cap", "none"]) == 0
    report = json.loads(capsys.readouterr().out)
    experts, top_k = int(argv[1]), int(argv[3])
    expected = max_chunk_tokens(experts, top_k, **kwargs)
    assert report["grid_bound"] == expected
    assert report["max_chunk_tokens"] == expected
    assert report["cap"] is None


def test_chunk_human_output_says_why(capsys):
    assert main(["chunk", "--num-experts", "256", "--top-k", "8", "--precision", "fp8_per_tensor"]) == 0
    out = capsys.readouterr().out
    assert "522,271" in out and "tile 64" in out and "65,536 CTAs" in out


def test_environment_variable_sets_the_cap(monkeypatch, capsys):
    monkeypatch.setenv("BOUNDCHECK_MAX_CHUNK_TOKENS", "1000")
    assert main(["chunk", "--num-experts", "512", "--top-k", "22", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_chunk_tokens"] == 1000 and "BOUNDCHECK_MAX_CHUNK_TOKENS" in report["cap_provenance"]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--num-experts", "0", "--top-k", "1"], "--num-experts: must be in [1, 2048], got 0"),
        (["--num-experts", "2049", "--top-k", "1"], "--num-experts: must be in [1, 2048], got 2049"),
        (["--num-experts", "8", "--top-k", "9"], "--top-k: must be in [1, 8], got 9"),
        (["--num-experts", "64", "--top-k", "33"], "--top-k: must be in [1, 32], got 33"),
        (["--num-experts", "8", "--top-k", "2", "--precision", "fp5"], "--precision: unknown precision 'fp5'"),
        (["--num-experts", "8", "--top-k", "2", "--policy", "greedy"], "--policy: unknown policy 'greedy'"),
        (["--num-experts", "8", "--top-k", "2", "--policy", "fixed:192", "--precision", "bf16"],
         "--policy: tile 192 is not one this precision runs"),
        (["--num-experts", "8", "--top-k", "2", "--shared-experts", "-1"], "--shared-experts: must be in [0, 2], got -1"),
        (["--num-experts", "8", "--top-k", "2", "--local-experts", "9"], "--local-experts: must be in [1, 8], got 9"),
        (["--num-experts", "8", "--top-k", "2", "--tune-max-num-tokens", "0"], "--tune-max-num-tokens: must be in [1, 2147483647]"),
        (["--num-experts", "8", "--top-k", "2", "--cluster-y", "3"], "--cluster-y: must be one of 1, 2, got 3"),
        (["--num-experts", "8", "--top-k", "2", "--cap", "-5"], "cap: must be a positive integer or 'none'"),
        (["--num-experts", "eight", "--top-k", "2"], "--num-experts must be an integer"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, needle):
    result = run("chunk", *argv)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]


def test_prove_rejects_bad_timeout():
    result = run("prove", "--timeout", "0")
    assert result.returncode == 2 and "--timeout" in result.stderr


def test_prove_json_proves_everything(proved):
    result, _, _ = proved
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    document = json.loads(result.stdout)
    assert document["failures"] == 0
    from boundcheck.releases import PINNED

    assert document["flashinfer"] == list(PINNED)
    names = {o["name"] for o in document["obligations"]}
    for required in ("safety", "tightness", "progress", "ctas_monotone_tokens", "ctas_monotone_experts",
                     "ctas_antitone_tile", "global_covers_local", "int32", "closed_form", "closed_form_vllm",
                     "partition"):
        assert required in names
    for o in document["obligations"]:
        assert o["status"] == o["expect"], o["name"]
        assert o["statement"] and o["domain"]
        if o["expect"] == "refuted":
            assert any(c["counterexample"] for c in o["cases_detail"]) or o["name"] == "control[False]"
    safety = next(o for o in document["obligations"] if o["name"] == "safety")
    # Every release's era, every precision it runs, under every policy, is its own case.
    from boundcheck.resolution import era_for

    eras = {era_for(v).name: era_for(v) for v in PINNED}.values()
    assert safety["cases"] == sum(3 + len(t) for era in eras for t in era.tiles.values())  # flashinfer, default, any
    labels = {c["case"] for c in safety["cases_detail"]}
    assert "nvfp4_per_token / flashinfer @ 0.6.18 - 0.6.18.post1" in labels
    assert "bf16 / flashinfer @ 0.7.4" in labels and "bf16 / default @ 0.7.4" in labels
    assert document["closed_form_derivation"]


def test_prove_writes_one_smt_file_per_query(proved):
    result, smt_dir, _ = proved
    document = json.loads(result.stdout)
    files = {f for o in document["obligations"] for c in o["cases_detail"] for f in c["smt_files"]}
    on_disk = {str(p) for p in smt_dir.glob("*.smt2")}
    assert files and files <= on_disk
    # One file per query actually run (a case that repeats another's queries shares its files).
    run_queries = sum(c["queries"] for o in document["obligations"] for c in o["cases_detail"] if not c["note"])
    assert len(on_disk) == run_queries
    sample = sorted(on_disk)[0]
    text = open(sample).read()
    assert "(check-sat)" in text and "declare-fun" in text


def test_prove_human_table_and_exit_code(monkeypatch, capsys):
    # A broken model must fail CI: make the guard's bound one too large and re-prove.
    import boundcheck.bound as bound_module
    from boundcheck import prove

    real = bound_module.largest_safe_tokens_at_tile

    def off_by_one(top_k, experts, tile, budget, ops=bound_module.INT, formula="filled"):
        return real(top_k, experts, tile, budget, ops, formula) + 1

    monkeypatch.setattr(bound_module, "largest_safe_tokens_at_tile", off_by_one)
    import dataclasses

    from boundcheck.solver.obligation import run_obligations
    from boundcheck.proofs import bound as bound_proofs
    from boundcheck.proofs import domain

    monkeypatch.setattr(domain, "_SYMBOLS", {})  # no terms cached from the real model
    one_case = [c for c in bound_proofs.SAFETY.cases() if c.label == "bf16 / fixed:128 @ 0.7.1 - 0.7.2.post1"]
    theorems = [dataclasses.replace(bound_proofs.SAFETY, cases=lambda: one_case)]
    outcomes = run_obligations(theorems, timeout_s=30, jobs=1)
    rows = prove.summarize(theorems, outcomes)
    assert prove.failures(rows) == 1
    table = prove.to_table(rows, 1.0, [])
    assert "FAILED" in table and "refuted" in table and "tokens=" in table


def test_prove_names_the_modelled_flashinfer_and_warns_on_another(monkeypatch):
    from boundcheck import prove

    monkeypatch.setattr(prove, "installed_flashinfer_version", lambda: "0.7.2.post1")
    note, warn = prove.version_note()
    assert "0.7.2.post1" in note and "every modeled release" in note and not warn
    note, warn = prove.version_note(["0.7.4"])
    assert warn and "0.7.2.post1 is installed and was not proved" in note
    monkeypatch.setattr(prove, "installed_flashinfer_version", lambda: "0.8.0")
    note, warn = prove.version_note()
    assert warn and "0.8.0" in note and "not modeled" in note
    monkeypatch.setattr(prove, "installed_flashinfer_version", lambda: None)
    note, warn = prove.version_note()
    assert "not installed" in note and not warn


# --- releases: --flashinfer ---------------------------------------------------------------

def test_chunk_for_0_7_4_gives_the_bound_its_sources_imply():
    result = run("chunk", "--flashinfer", "0.7.4", "--num-experts", "256", "--top-k", "8",
                 "--precision", "fp8_per_tensor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["flashinfer"], report["era"]) == ("0.7.4", "E24")
    assert (report["grid_bound"], report["binding_tile"]) == (261_151, 32)


@pytest.mark.parametrize(
    "version,precision,bound",
    [("0.7.2.post1", "fp8_per_tensor", 522_271), ("0.6.18.post1", "nvfp4_per_token", None),
     ("0.6.9", "nvfp4", None), ("0.5.0", "nvfp4", None)],
)
def test_chunk_names_the_release_in_text_and_json(version, precision, bound):
    result = run("chunk", "--flashinfer", version, "--num-experts", "256", "--top-k", "8", "--precision", precision)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"flashinfer {version} (era ")
    report = json.loads(run("chunk", "--flashinfer", version, "--num-experts", "256", "--top-k", "8",
                            "--precision", precision, "--json").stdout)
    assert report["flashinfer"] == version
    assert report["grid_bound"] == max_chunk_tokens(256, 8, flashinfer=version, precision=precision)
    if bound is not None:
        assert report["grid_bound"] == bound


def test_chunk_default_release_is_the_installed_one():
    from boundcheck.releases import NEWEST
    from boundcheck.resolution import installed_version

    report = json.loads(run("chunk", "--num-experts", "8", "--top-k", "2", "--json").stdout)
    installed = installed_version()
    assert report["flashinfer"] == (installed if installed and installed != "0.9.0" else NEWEST)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["chunk", "--flashinfer", "0.2.7.post1", "--num-experts", "8", "--top-k", "2"], "0.2.8 - 0.7.4"),
        (["chunk", "--flashinfer", "0.7.3", "--num-experts", "8", "--top-k", "2"], "not modeled"),
        (["chunk", "--flashinfer", "0.5.3", "--num-experts", "8", "--top-k", "2", "--precision", "mxint4"],
         "no trtllm-gen launcher in flashinfer 0.5.3"),
        (["chunk", "--flashinfer", "0.6.9", "--num-experts", "8", "--top-k", "2", "--shared-experts", "1"],
         "takes no fused shared experts"),
        (["chunk", "--flashinfer", "0.6.2", "--num-experts", "1024", "--top-k", "2"], "[1, 512]"),
        (["prove", "--flashinfer", "0.7.4,"], "--flashinfer"),
    ],
)
def test_release_input_errors(argv, needle):
    result = run(*argv)
    assert result.returncode == 2, result.stdout
    assert needle in result.stderr and "Traceback" not in result.stderr


def test_audit_names_the_release():
    result = run("audit", "--formula", "(E + (65535 - E + 1) * 64 - 1) // K", "--precision", "bf16",
                 "--num-experts", "512", "--top-k", "22", "--tune-max-num-tokens", "8192", "--cluster-y", "1",
                 "--flashinfer", "0.7.4", "--json")
    report = json.loads(result.stdout)
    # 0.7.2.post1's tile-64 bound is refuted on 0.7.4, where tile 32 runs.
    assert (report["flashinfer"], report["status"]) == ("0.7.4", "refuted")
    assert report["counterexample"]["tile"] == 32
    again = json.loads(run("audit", "--formula", "(E + (65535 - E + 1) * 64 - 1) // K", "--precision", "bf16",
                           "--num-experts", "512", "--top-k", "22", "--tune-max-num-tokens", "8192", "--cluster-y", "1",
                           "--flashinfer", "0.7.2.post1", "--json").stdout)
    assert (again["flashinfer"], again["status"]) == ("0.7.2.post1", "proved")
