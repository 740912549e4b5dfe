"""Where the 32-bit inventory cannot see, and why that hides nothing.

A statement libclang cannot parse is read by no rule, so the inventory is complete only
where every parse error on the path is accounted for: each recorded hole in a function on
a call path from the launcher is accepted in boundcheck/drift/inventory/holes.py with its
statement pinned (an edited statement is read again), every header the parse did not find
is a third-party one named there, and the macros the sources are parsed with are those
flashinfer's JIT compiles the MoE module with, read from each release's own Python."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from boundcheck.drift.compiled import sources_root
from boundcheck.releases import MODELED_VERSIONS

pytest.importorskip("clang.cindex", reason="libclang (pip install libclang) parses the sources")

from boundcheck.drift.inventory import holes, record  # noqa: E402
from boundcheck.drift.inventory.front_end import PLACEHOLDER, JitSpecNotFound, jit_defines  # noqa: E402
from boundcheck.drift.inventory.release import BMM_EXPORT  # noqa: E402
from boundcheck.drift.inventory.statements import statement_at  # noqa: E402

RECORDED = record.load()


@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_every_hole_on_the_path_is_accepted(version):
    unread = [k for k in RECORDED[version]["holes_on_path"] if holes.accepted(k) is None]
    assert not unread, "parse errors on the path that no one has read:\n" + "\n".join(map(str, unread))


def test_every_accepted_hole_is_still_seen():
    """An acceptance no release records any more is stale: it would accept a statement no
    one has read against this release's text."""
    seen = {tuple(k) for entry in RECORDED.values() for k in entry["holes_on_path"]}
    stale = [a for a in holes.ACCEPTED if not any(a.covers(k) for k in seen)]
    assert not stale, stale


def test_an_edited_statement_is_not_accepted():
    file, function, message, statement = next(k for e in RECORDED.values() for k in e["holes_on_path"])
    assert holes.accepted((file, function, message, statement)) is not None
    assert holes.accepted((file, function, message, statement.replace("(", "(1*", 1))) is None
    assert holes.accepted((file, function, "an error no one read", statement)) is None


@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_only_third_party_headers_are_missing(version):
    """flashinfer's own headers all come with the fetched release (the fetcher keeps them:
    0.6.18's da_moe.cuh was once missing, and its kernels unread); a header that is not
    found is one of the libraries the MoE path only names (cuBLAS, cuRAND, spdlog, ...)."""
    missing = set(RECORDED[version]["headers_not_found"]) - set(holes.THIRD_PARTY_HEADERS)
    assert not missing, f"{version}: headers not found, not known third-party ones: {sorted(missing)}"


def _data(version):
    data = sources_root() / version / "flashinfer" / "data"
    if not (data.parent / "jit").is_dir():
        pytest.skip(f"flashinfer {version} not fetched with its JIT specs: python tools/fetch_flashinfer_sources.py")
    return data


@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_the_macros_are_the_releases_own(version):
    """The MoE module's -D flags, read from the release's JIT spec: ENABLE_FP8 and ENABLE_FP4
    guard whole kernels, and TLLM_GEN_EXPORT_INTERFACE the batched-GEMM host code the
    inventory reads (setKernelParams, the TMA shapes)."""
    defines = jit_defines(_data(version))
    assert {"TLLM_GEN_EXPORT_INTERFACE", "TLLM_ENABLE_CUDA", "ENABLE_BF16"} <= set(defines)
    if version != "0.2.8":  # 0.2.8's spec lists BF16 only (its FP8 and FP4 kernels came with 0.2.9)
        assert {"ENABLE_FP8", "ENABLE_FP4"} <= set(defines)
    assert "TLLM_RUBIN_FEATURES" not in defines  # a conditional flag of another module variant
    # the cubin folder the batched-GEMM headers test for (its name changed in 0.5.2) is computed
    # by the JIT: a placeholder string, so that the branch it guards is parsed
    bmm = _data(version) / BMM_EXPORT
    tested = {m for p in bmm.glob("*.h") for m in re.findall(r"#ifdef\s+(TLLM_GEN_\w*CUBIN_PATH)", p.read_text())}
    assert {f'{name}="{PLACEHOLDER}"' for name in tested} <= set(defines)


def test_the_macro_reader_takes_only_unconditional_flags(tmp_path):
    package = tmp_path / "flashinfer"
    (package / "jit").mkdir(parents=True)
    (package / "jit" / "fused_moe.py").write_text(
        "def build(rubin, where):\n"
        "    extra = ['-DRUBIN'] if rubin else []\n"
        "    cflags = ['-DA', '-DPATH=\"x\"', *extra] + ['-DB']\n"
        "    cflags += [f'-DCUBINS=\\\\\"{where}\\\\\"', f'-DCOUNT={len(where)}', f'{where}-DNOT_A_FLAG']\n"
        "    if rubin:\n"
        "        cflags += ['-DC']\n"
        "    return ['csrc/trtllm_fused_moe_kernel_launcher.cu'], cflags\n"
        "def other():\n"
        "    return ['-DNOT_MOE']\n")
    assert jit_defines(package / "data")[:5] == ("A", 'PATH="x"', "B", f'CUBINS="{PLACEHOLDER}"',
                                                 "COUNT=boundcheck_placeholder")
    (package / "jit" / "fused_moe.py").write_text("def other():\n    return ['-DNOT_MOE']\n")
    with pytest.raises(JitSpecNotFound):
        jit_defines(package / "data")


def test_a_statement_is_read_across_its_lines(tmp_path):
    source = tmp_path / "a.cu"
    source.write_text("void f() {\n  int x = 1;\n  float y = g(a,\n            b + c);  // why\n  h();\n}\n")
    assert statement_at(source, 3) == statement_at(source, 4) == "floaty=g(a,b+c);"
    assert statement_at(source, 1) == "voidf(){"
    assert statement_at(Path(tmp_path / "none.cu"), 1) == ""


def test_a_new_unread_statement_on_the_path_is_a_change():
    """drift --inventory and adopt: a release whose inventory equals the recorded one but
    which has a statement on the path that does not parse, no one has read, and the
    recorded release did not have, is not the same (a finding may hide there)."""
    from boundcheck.drift.inventory.release import Hole, ReleaseInventory

    version = "0.7.4"
    entry = RECORDED[version]
    found = ReleaseInventory("x")
    found.findings = [_finding(k) for k in entry["reached_findings"]]
    found.holes = [Hole(k[0], 1, k[1], k[2], True, k[3]) for k in entry["holes_on_path"]]
    assert record.compare(found, version).same
    found.holes.append(Hole("csrc/x.cu", 7, "moe::dev::newKernel", "use of undeclared identifier 'q'", True,
                            "int32_tidx=q*numTokens;"))
    change = record.compare(found, version)
    assert not change.same and [k[1] for k in change.unread] == ["moe::dev::newKernel"]
    found.holes[-1] = Hole("csrc/x.cu", 7, "moe::dev::newKernel", "use of undeclared identifier 'q'", False,
                           "int32_tidx=q*numTokens;")  # off the path: nothing to read
    assert record.compare(found, version).same


def _finding(key):
    from boundcheck.drift.inventory.release import Finding

    file, function, code, ctype = key
    return Finding(file, 1, function, code, "*", ctype, True)
