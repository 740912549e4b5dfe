"""The other kernels' limits (boundcheck/kernel_limits.py): each entry's code is in the
releases it names and gone after its last one; the closed form equals a search over the
literal value; `chunk --hidden-size --intermediate-size` reports the binding entry."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boundcheck.cli import main
from boundcheck.drift.compiled import sources_root
from boundcheck.kernel_limits import LIMITS_TABLE, Shape, kernel_bound, limits_for
from boundcheck.releases import MODELED_VERSIONS
from boundcheck.resolution import era_for

ROOT = sources_root()


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _source_text(version: str, entry) -> str | None:
    folder = ROOT / version / "flashinfer"
    names = entry.files or (entry.where.split(":")[0].split("/")[-1],)
    found = sorted(p for name in names for p in folder.rglob(name)) if folder.is_dir() else []
    return "\n".join(p.read_text(errors="replace") for p in found) or None


def _versions(entry):
    from boundcheck.versions import version_key as key

    return [v for v in MODELED_VERSIONS if key(v) >= key(entry.first) and (not entry.last or key(v) <= key(entry.last))]


@pytest.mark.parametrize("entry", LIMITS_TABLE, ids=lambda e: e.name)
def test_each_entry_is_in_the_sources_of_its_releases(entry):
    """The verbatim code is in the named file of every release of the range (whitespace
    aside); where the range ends before the newest release, the release after it no
    longer has it (0.6.6's int64 activation index, 0.6.8's int64 scale size, ...)."""
    checked = 0
    for version in _versions(entry):
        text = _source_text(version, entry)
        if text is None:
            continue
        assert _squash(entry.code_in(version)) in _squash(text), f"{entry.name}: not in flashinfer {version}"
        checked += 1
    if checked == 0:
        pytest.skip("sources not fetched (tools/fetch_flashinfer_sources.py)")
    if entry.last:
        after = MODELED_VERSIONS[MODELED_VERSIONS.index(entry.last) + 1]
        text = _source_text(after, entry)
        if text is not None:
            assert _squash(entry.code_in(after)) not in _squash(text), f"{entry.name}: still in {after}"


@settings(max_examples=400, deadline=None)
@given(entry=st.sampled_from(LIMITS_TABLE), top_k=st.integers(1, 34), experts=st.integers(1, 2050),
       tile=st.sampled_from([8, 16, 32, 64, 128, 192, 256]), hidden=st.integers(64, 16384),
       intermediate=st.integers(64, 16384), formula=st.sampled_from(["filled", "permuted_min"]))
def test_closed_form_is_the_largest_fitting_count(entry, top_k, experts, tile, hidden, intermediate, formula):
    shape = Shape(top_k, experts, tile, hidden, intermediate, formula)
    bound = entry.largest_tokens(shape)
    assert bound >= 0
    if bound >= 1:
        assert entry.value(bound, shape) <= entry.limit
    assert entry.value(bound + 1, shape) > entry.limit
    # values grow with n, so a binary search over the literal value finds the same count
    low, high = 0, 2**33  # a token-count entry with one expert fits up to 2^31 tokens
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if entry.value(middle, shape) <= entry.limit else (low, middle)
    assert low == bound


def _chunk_json(*args):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["chunk", "--json", *args])
    return code, json.loads(out.getvalue())


def test_nemotron_super_nvfp4_305k_is_not_explained():
    code, report = _chunk_json("--num-experts", "512", "--top-k", "22", "--precision", "nvfp4", "--hidden-size",
                               "1024", "--intermediate-size", "2688", "--flashinfer", "0.7.2.post1")
    # no 32-bit offset binds near 305k: the nearest is routing from logits at 2^31 / 512 tokens
    # (DeepSeek routing's main-kernel stride n x 512, applied to every routing method)
    assert code == 0 and report["kernel_limits"]["binding"]["name"] == "deepseek_routing_thread_stride"
    assert report["kernel_limits"]["bound"] == 4_194_302
    assert report["max_chunk_tokens"] == 300_000 == report["cap"]  # the cap stays, its cause unexplained
    code, routed = _chunk_json("--num-experts", "512", "--top-k", "22", "--precision", "nvfp4", "--hidden-size",
                               "1024", "--intermediate-size", "2688", "--flashinfer", "0.7.2.post1", "--routed")
    assert code == 0 and routed["kernel_limits"]["binding"] is None and routed["kernel_limits"]["bound"] == 2**31 - 1


@pytest.mark.parametrize("version,precision,hidden,intermediate,experts,top_k,expected,entry", [
    ("0.6.0", "fp8_block", 7168, 2048, 256, 8, 61_487, "deepseek_activation_index"),
    ("0.6.7", "nvfp4", 7168, 2048, 256, 8, 299_593, "hidden_states_scale_vec_size"),
    ("0.2.8", "fp8_block", 7168, 2048, 256, 8, None, "finalize_scalar_index_0_2_8"),
    ("0.7.4", "nvfp4", 1020, 2688, 512, 22, 89_774, "finalize_scalar_index_unaligned"),
])
def test_chunk_reports_the_binding_entry(version, precision, hidden, intermediate, experts, top_k, expected, entry):
    code, report = _chunk_json("--num-experts", str(experts), "--top-k", str(top_k), "--precision", precision,
                               "--hidden-size", str(hidden), "--intermediate-size", str(intermediate),
                               "--flashinfer", version)
    kernels = report["kernel_limits"]
    assert kernels["binding"]["name"] == entry
    if expected is not None:
        assert kernels["bound"] == expected
    assert kernels["binding"]["value_at_bound"] <= kernels["binding"]["limit"] < kernels["binding"]["value_past_bound"]
    assert report["max_chunk_tokens"] <= kernels["bound"] < report["grid_bound"]


@pytest.mark.parametrize("version,precision,hidden,intermediate,experts,top_k,routed,expected,entry", [
    # the Mixtral-shaped FP8 per-channel call: the grid allows 2,096,899
    ("0.7.2.post1", "fp8_per_channel", 4096, 14336, 8, 2, False, 1_197_891, "fp8_requant_src_offset"),
    ("0.7.0", "fp8_per_channel", 4096, 14336, 8, 2, True, None, None),  # before 0.7.1: no requantization
    # routing from logits at 1024 experts: (n - 1) x 1024 + 1023 <= 2^31 - 1
    ("0.7.2.post1", "bf16", 1024, 2688, 1024, 22, False, 2_097_152, "routing_scores_offset"),
    # DeepSeek routing's main kernel: its int32 stride n x blockDim (at most 512) wraps at 2^31
    ("0.7.2.post1", "bf16", 1024, 2688, 512, 22, False, 4_194_302, "deepseek_routing_thread_stride"),
    # ... and up to 0.6.7.post3 routed calls too: precomputed ids reach it packed (mPtrTopKIds unset)
    ("0.6.7", "nvfp4", 256, 256, 512, 1, True, 4_194_302, "deepseek_routing_thread_stride"),
    ("0.6.8", "nvfp4", 256, 256, 512, 1, True, None, None),  # from 0.6.8 they take runPostTopKPipeline
    # the scalar finalize at the smallest calls: 2048 experts, top_k 32, tile 256, rows of 7168
    ("0.7.4", "nvfp4", 7168, 2048, 2048, 32, True, 36, "finalize_scalar_index_small_batch"),
    ("0.7.4", "nvfp4", 7168, 2048, 256, 8, True, None, None),  # DeepSeek-V3's counts: never wraps there
    # 0.2.10 - 0.2.12 allocate GEMM1's FP4 output scales with an int size
    ("0.2.10", "nvfp4", 7168, 14336, 256, 8, True, 297_560, "fp4_gemm1_scale_size"),
    ("0.7.2.post1", "bf16", 1024, 2688, 512, 22, True, None, None),  # routed: top-k ids, no scores
    ("0.6.11", "nvfp4_per_token", 1024, 2688, 512, 22, True, None, "per_token_quant_vec_offset"),
])
def test_new_entries_bind_where_they_run(version, precision, hidden, intermediate, experts, top_k, routed, expected,
                                         entry):
    args = ["--num-experts", str(experts), "--top-k", str(top_k), "--precision", precision, "--hidden-size",
            str(hidden), "--intermediate-size", str(intermediate), "--flashinfer", version]
    code, report = _chunk_json(*args, *(["--routed"] if routed else []))
    kernels = report["kernel_limits"]
    assert code == 0 and kernels["routing_from_logits"] is (not routed)
    if entry is None:
        assert kernels["binding"] is None and kernels["bound"] == 2**31 - 1
        return
    assert kernels["binding"]["name"] == entry
    if expected is not None:
        assert kernels["bound"] == expected
    assert kernels["binding"]["value_at_bound"] <= kernels["binding"]["limit"] < kernels["binding"]["value_past_bound"]


def test_per_token_offset_counts_eight_elements_a_vector():
    """ELTS_PER_THREAD is 8 unless nvcc >= 12.9 builds for sm100: the larger vector count
    (ceil(I / 8)) is modeled, so the bound holds for either toolchain."""
    entry = next(e for e in LIMITS_TABLE if e.name == "per_token_quant_vec_offset")
    assert entry.multiplier(Shape(22, 512, 128, 1024, 2688)) == 336 == 2688 // 8


def test_fixed_releases_no_longer_bind():
    """0.6.8 made the scale size int64; 0.6.6 the activation index: the same shapes bind no more."""
    assert all(e.name != "hidden_states_scale_vec_size" for e in limits_for("0.6.8", "nvfp4"))
    assert all(e.name != "deepseek_activation_index" for e in limits_for("0.6.6", "fp8_block"))
    era = era_for("0.6.8")
    assert kernel_bound("0.6.8", "nvfp4", era.tiles["nvfp4"], 8, 256, 7168, 2048, logits=False).binding is None


@pytest.mark.parametrize("args,needle", [
    (["--hidden-size", "1024"], "--intermediate-size"),
    (["--intermediate-size", "1024"], "--hidden-size"),
    (["--hidden-size", "0", "--intermediate-size", "1"], "--hidden-size"),
])
def test_sizes_are_both_or_neither_and_in_range(args, needle, capsys):
    code = main(["chunk", "--num-experts", "8", "--top-k", "2", *args])
    assert code == 2 and needle in capsys.readouterr().err
