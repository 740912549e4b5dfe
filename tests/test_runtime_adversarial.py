"""The guard against an adversarial review (issue #24): every test here failed before its fix.

1. The fast path (M <= SMALLEST_BOUND) compares the call's whole key, sizes and every count
   the slow path checks, so it never forwards a call the slow path refuses.
2. The NVFP4 empirical cap applies to every precision that runs the NVFP4 kernels
   (per-token scaling, NVFP4 activations with other weights).
3. Every argument the guard reads is checked: a wrong type or range is a one-line
   GuardError naming the argument, on the fast path, the slow path, the chunk path and
   for M = 0 alike, never a raw ValueError / TypeError / IndexError.
4. BOUNDCHECK_STRICT_VERSION is read as a boolean the way FLASHINFER_DIST_AWARE_AUTOTUNE is.
5. A release named explicitly (flashinfer="0.8.0") that no model covers warns, once per
   version, as the installed one does.
"""

from __future__ import annotations

import enum
import json
import subprocess
import sys
import warnings

import pytest
import torch

from boundcheck import caps, releases, resolution
from boundcheck.errors import BoundcheckInputError
from boundcheck.runtime import GuardError, guard, limits
from boundcheck.runtime import release as release_module
from boundcheck.runtime.entry_points import ENTRY_POINTS

from .fakes import Recorder, make_arguments

pytest.importorskip("flashinfer.fused_moe")  # the recorders take the installed signatures

BF16 = "trtllm_bf16_moe"
FP4 = "trtllm_fp4_block_scale_moe"
FP4_ROUTED = "trtllm_fp4_block_scale_routed_moe"
FP8_BLOCK = "trtllm_fp8_block_scale_moe"
FAST = limits.SMALLEST_BOUND  # 7,288: every call at or below it may take the fast path


def _guarded(name, variadic=False, **options):
    """(recorder, guard): the guard of flashinfer's signature (the generated fast path) or
    of a (*args, **kwargs) wrapper (the generic one)."""
    kernel = Recorder(name)
    if variadic:
        def wrapper(*args, **kwargs):
            return kernel(*args, **kwargs)

        return kernel, guard(wrapper, entry_point=name, **options)
    return kernel, guard(kernel, entry_point=name, **options)


def _refused(g, arguments):
    with pytest.raises(GuardError) as caught:
        g(**arguments)
    assert "\n" not in str(caught.value)
    return caught.value


WRAPPERS = pytest.mark.parametrize("variadic", [False, True], ids=["generated", "variadic"])


# --- 1. the fast path refuses what the slow path refuses ----------------------------------

BAD_COUNTS = [
    (BF16, dict(num_experts=100_000, top_k=64, local_num_experts=100_000), "num_experts"),
    (BF16, dict(num_experts=-5), "num_experts"),
    (BF16, dict(top_k=999), "top_k"),
    (BF16, dict(local_num_experts=0), "local_num_experts"),
    (BF16, dict(local_expert_offset=7, local_num_experts=4), "local_expert_offset"),
    (BF16, dict(tune_max_num_tokens="x"), "tune_max_num_tokens"),
    (BF16, dict(tune_max_num_tokens=0), "tune_max_num_tokens"),
    (BF16, dict(routing_method_type=42), "routing_method_type"),
    (BF16, dict(routing_method_type=3, num_experts=256, local_num_experts=256), "num_experts"),  # Llama4: 128
    (BF16, dict(routing_method_type=2, num_experts=256, local_num_experts=256, top_k=8, n_group=9, topk_group=4),
     "n_group"),
    (BF16, dict(n_group=-1), "n_group"),
    (FP4, dict(num_fused_shared_experts=3), "num_fused_shared_experts"),
    (FP4_ROUTED, dict(num_experts=100_000, top_k=64, local_num_experts=100_000), "num_experts"),
    (FP8_BLOCK, dict(top_k=999), "top_k"),
]


@WRAPPERS
@pytest.mark.parametrize("name,counts,argument", BAD_COUNTS,
                         ids=[f"{n}-{a}-{i}" for i, (n, _, a) in enumerate(BAD_COUNTS)])
def test_after_a_valid_call_the_fast_path_refuses_bad_counts_as_the_slow_path_does(name, counts, argument, variadic):
    """The review's case: one valid call, then num_experts 100000 / top_k 64 at M = 7,000
    reached the kernel (the model counts over 100,000 CTAs) while M = 8,000 was refused."""
    kernel, g = _guarded(name, variadic)
    g(**make_arguments(name, 100))
    assert len(kernel.calls) == 1
    for tokens in (100, 7_000, 8_000):
        arguments = make_arguments(name, tokens)
        arguments.update(counts)
        assert _refused(g, arguments).argument == argument
    assert len(kernel.calls) == 1  # nothing reached the kernel
    g(**make_arguments(name, 100))  # the verified configuration still takes it
    assert len(kernel.calls) == 2


@WRAPPERS
@pytest.mark.parametrize(
    "argument,value",
    [("routing_method_type", True), ("routing_method_type", 1.0), ("num_experts", 8.0),
     ("top_k", True), ("local_expert_offset", False), ("intermediate_size", 32.0)],
)
def test_a_value_equal_to_the_verified_int_but_not_an_int_never_matches(argument, value, variadic):
    """True == 1 and 1.0 == 1: a comparison by value alone lets through what the slow path
    refuses (and the slow path's own cache of bounds, keyed by value, did too)."""
    np = pytest.importorskip("numpy")
    kernel, g = _guarded(BF16, variadic)
    verified = dict(routing_method_type=1, num_experts=8, top_k=1, local_expert_offset=0, intermediate_size=32)
    g(**make_arguments(BF16, 100, **{argument: verified[argument]}))
    for tokens in (100, 20_000):
        assert _refused(g, make_arguments(BF16, tokens, **{argument: value})).argument == argument
    numpy_value = np.int64(verified[argument])
    assert _refused(g, make_arguments(BF16, 100, **{argument: numpy_value})).argument == argument
    assert len(kernel.calls) == 1


@WRAPPERS
def test_int_subclasses_and_fresh_int_objects_are_accepted_and_take_the_fast_path(monkeypatch, variadic):
    class Method(enum.IntEnum):  # as flashinfer's RoutingMethodType
        Renormalize = 1

    kernel, g = _guarded(BF16, variadic)
    g(**make_arguments(BF16, 100, routing_method_type=Method.Renormalize, intermediate_size=int("1000"),
                       tune_max_num_tokens=int("8192")))
    monkeypatch.setattr(g.boundcheck_guard, "call", lambda *a: pytest.fail("slow path taken"))
    # new int objects of the same values (> 256, so not CPython's cached small ints), and
    # the plain int for the IntEnum member: the fast path
    g(**make_arguments(BF16, 100, routing_method_type=1, intermediate_size=int("1000"),
                       tune_max_num_tokens=int("8192")))
    assert len(kernel.calls) == 2


@WRAPPERS
def test_another_configuration_is_checked_once_then_fast(monkeypatch, variadic):
    """The key is replaced whole by the last configuration the slow path verified."""
    kernel, g = _guarded(BF16, variadic)
    state = g.boundcheck_guard
    checked = []
    original = state.chunk_size

    def counting(arguments, tokens=None):
        checked.append(arguments.get("top_k"))
        return original(arguments, tokens)

    monkeypatch.setattr(state, "chunk_size", counting)
    for top_k in (2, 2, 3, 3, 2, 2):
        g(**make_arguments(BF16, 100, top_k=top_k))
    assert checked == [2, 3, 2]
    assert len(kernel.calls) == 6


def test_the_key_covers_every_argument_the_slow_path_checks():
    """Structural: what the slow path reads and checks (its count names, the sizes, the
    enums) is in the fast path's key for every entry point that has it."""
    from boundcheck.runtime.fast_path import KEY_ARGUMENTS
    from boundcheck.runtime.guard import _COUNT_NAMES

    assert set(_COUNT_NAMES) <= set(KEY_ARGUMENTS)
    assert {"intermediate_size", "valid_hidden_size", "fp8_quantization_type"} <= set(KEY_ARGUMENTS)
    for name, entry in ENTRY_POINTS.items():
        kernel = Recorder(name)
        state = guard(kernel, entry_point=name).boundcheck_guard
        expected = {p for p in _COUNT_NAMES + ("intermediate_size", "valid_hidden_size", "fp8_quantization_type")
                    if p in entry.index}
        assert expected <= set(state.key_arguments), name


@WRAPPERS
def test_a_fixed_tile_one_precision_lacks_is_refused_on_the_fast_path_too(variadic):
    """policy fixed:128 is valid for NVFP4 but not for bf16 activations (tiles up to 64),
    a difference the fast path's key (which has no dtypes) cannot see: such calls are never
    recorded for the fast path, so the bf16-activation call is refused at M = 100 too."""
    kernel, g = _guarded(FP4, variadic, policy="fixed:128")
    nvfp4 = make_arguments(FP4, 100, hidden=128)  # packed: stored width 64
    g(**nvfp4)
    assert len(kernel.calls) == 1
    for tokens in (100, 8_000):
        bf16_activations = make_arguments(FP4, tokens, hidden=128)
        bf16_activations.update(hidden_states=torch.zeros(tokens, 64, dtype=torch.bfloat16), hidden_states_scale=None)
        error = _refused(g, bf16_activations)
        assert error.argument == "policy" and "tile 128" in str(error)
    assert len(kernel.calls) == 1


@WRAPPERS
def test_valid_hidden_size_is_checked_against_the_hidden_size_of_each_call(variadic):
    """valid_hidden_size 100 fits packed FP4 states of 64 bytes (hidden size 128), not bf16
    states of 64 elements: the same stored width, so the key holds the dtype too."""
    kernel, g = _guarded(FP4_ROUTED, variadic)
    g(**make_arguments(FP4_ROUTED, 100, hidden=128, valid_hidden_size=100))
    for tokens in (100, 8_000):
        arguments = make_arguments(FP4_ROUTED, tokens, hidden=128, valid_hidden_size=100)
        arguments.update(hidden_states=torch.zeros(tokens, 64, dtype=torch.bfloat16), hidden_states_scale=None)
        error = _refused(g, arguments)
        assert error.argument == "valid_hidden_size" and "[1, 64]" in str(error)
    assert len(kernel.calls) == 1


# --- 2. the NVFP4 cap on every precision that runs the NVFP4 kernels ---------------------

def test_every_precision_with_nvfp4_activations_has_the_nvfp4_cap():
    nvfp4 = [name for name, (act, _, _) in releases.FP4_PRECISIONS.items() if act == releases.E2M1]
    assert set(nvfp4) == {"nvfp4", "nvfp4_per_token"}
    for name in nvfp4:
        assert caps.CAPS[name].tokens == 300_000 and "305k" in caps.CAPS[name].provenance
        assert caps.cap_for(name)[0] == 300_000
    assert limits.max_chunk_tokens(512, 22, precision="nvfp4_per_token", policy="fixed:128") == 300_000
    assert limits.max_chunk_tokens(512, 22, precision="nvfp4_per_token", policy="fixed:128", cap=None) == 378_344


def test_per_token_nvfp4_at_400k_tokens_is_chunked_at_the_cap():
    """The review's case: 400,000 tokens at 512/22 with per_token_scale went as one launch
    (grid bound 567,505 on 0.7.2.post1, no cap for nvfp4_per_token)."""
    kernel, g = _guarded(FP4_ROUTED)
    tokens = 400_000
    arguments = make_arguments(FP4_ROUTED, tokens, experts=512, top_k=22)
    arguments["per_token_scale"] = torch.ones(tokens)
    g(**arguments)
    sizes = [c["hidden_states"].shape[0] for c in kernel.calls]
    assert sizes == [200_000, 200_000]
    assert all(c["per_token_scale"].shape[0] == 200_000 for c in kernel.calls)


def test_nvfp4_activations_with_mx_weights_are_capped_as_nvfp4():
    """E2M1 activations paired with MxE2m1 weights run the tile set named `mxfp8`, but their
    activation scale factors are NVFP4's: the cap follows the kernels, not the name."""
    from boundcheck.runtime.precision import infer

    era = resolution.era_for("0.7.2.post1")
    fp4 = ENTRY_POINTS[FP4]
    nv = make_arguments(FP4, 32, hidden=64, activation_type=3, num_fused_shared_experts=None)
    assert infer(fp4, nv, era) == ("nvfp4", "nvfp4")
    assert infer(fp4, dict(nv, per_token_scale=torch.ones(32)), era)[1] == "nvfp4_per_token"
    mx_weights = dict(nv, gemm1_weights_scale=torch.ones(8, 64, 2).to(torch.float8_e4m3fn))
    assert infer(fp4, mx_weights, era) == ("mxfp8", "nvfp4")
    mx_activations = dict(mx_weights, hidden_states=torch.randn(32, 64).to(torch.float8_e4m3fn),
                          hidden_states_scale=torch.ones(32 * 2, dtype=torch.uint8))
    assert infer(fp4, mx_activations, era) == ("mxfp4_mxfp8", "mxfp4_mxfp8")  # MX scales: not capped


def test_the_cli_shows_the_cap_for_per_token_nvfp4():
    result = subprocess.run(
        [sys.executable, "-m", "boundcheck", "chunk", "--flashinfer", "0.7.2.post1", "--num-experts", "512",
         "--top-k", "22", "--precision", "nvfp4_per_token", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cap"] == 300_000 and report["max_chunk_tokens"] == 300_000


# --- 3. every argument error is a GuardError, on every path ------------------------------

BAD_ARGUMENTS = [
    (BF16, lambda m: dict(routing_method_type="abc"), "routing_method_type"),
    (BF16, lambda m: dict(routing_method_type=1.9), "routing_method_type"),
    (BF16, lambda m: dict(routing_method_type=None), "routing_method_type"),
    (BF16, lambda m: dict(n_group="2"), "n_group"),
    (BF16, lambda m: dict(topk_group=[1]), "topk_group"),
    (BF16, lambda m: dict(top_k=[2]), "top_k"),
    (BF16, lambda m: dict(intermediate_size=32.0), "intermediate_size"),
    (BF16, lambda m: dict(intermediate_size=2**40), "intermediate_size"),
    (BF16, lambda m: dict(output=[1, 2]), "output"),
    (BF16, lambda m: dict(output=torch.empty(m * 64, dtype=torch.bfloat16)), "output"),
    (BF16, lambda m: dict(hidden_states=torch.zeros(m, dtype=torch.bfloat16)), "hidden_states"),
    (BF16, lambda m: dict(hidden_states=torch.zeros(m, 4, 64, dtype=torch.bfloat16)), "hidden_states"),
    (BF16, lambda m: dict(hidden_states=[[0.0] * 64] * m), "hidden_states"),
    (FP8_BLOCK, lambda m: dict(fp8_quantization_type="x"), "fp8_quantization_type"),
    (FP8_BLOCK, lambda m: dict(fp8_quantization_type=7), "fp8_quantization_type"),
    (FP8_BLOCK, lambda m: dict(fp8_quantization_type=2.0), "fp8_quantization_type"),
    (FP4, lambda m: dict(valid_hidden_size="64"), "valid_hidden_size"),
    (FP4, lambda m: dict(valid_hidden_size=-1), "valid_hidden_size"),
    (FP4, lambda m: dict(valid_hidden_size=2**40), "valid_hidden_size"),
    (FP4, lambda m: dict(valid_hidden_size=65), "valid_hidden_size"),
    (FP4, lambda m: dict(num_fused_shared_experts="1"), "num_fused_shared_experts"),
]
PATHS = {"fast": 100, "slow": 20_000, "chunked": 1_000, "empty": 0}


@WRAPPERS
@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("name,bad,argument", BAD_ARGUMENTS,
                         ids=[f"{n}-{a}-{i}" for i, (n, _, a) in enumerate(BAD_ARGUMENTS)])
def test_a_bad_argument_is_a_guard_error_on_every_path(name, bad, argument, path, variadic):
    tokens = PATHS[path]
    kernel, g = _guarded(name, variadic, **({"cap": 300} if path == "chunked" else {}))
    g(**make_arguments(name, 100))  # the fast path knows a valid call
    kernel.calls.clear()
    arguments = make_arguments(name, tokens)
    arguments.update(bad(tokens))
    assert _refused(g, arguments).argument == argument
    assert kernel.calls == []


@pytest.mark.parametrize(
    "bad,argument",
    [
        (lambda a: dict(topk_ids=a["topk_ids"].tolist()), "topk_ids"),
        (lambda a: dict(topk_ids=(a["topk_ids"], a["topk_ids"].float(), a["topk_ids"])), "topk_ids"),
        (lambda a: dict(topk_ids=(a["topk_ids"],)), "topk_ids"),
        (lambda a: dict(topk_ids=(a["topk_ids"].tolist(), a["topk_ids"].float())), "topk_ids[0]"),
        (lambda a: dict(per_token_scale=[1.0] * 1000), "per_token_scale"),
        (lambda a: dict(hidden_states_scale=a["hidden_states_scale"].tolist()), "hidden_states_scale"),
        (lambda a: dict(hidden_states_scale_layout="x"), "hidden_states_scale_layout"),
        (lambda a: dict(hidden_states_scale_layout=2.0), "hidden_states_scale_layout"),
        (lambda a: dict(gemm1_lora_delta=[0] * 1000), "gemm1_lora_delta"),
    ],
)
def test_token_major_arguments_the_chunk_path_splits_are_checked(bad, argument):
    """Arguments the guard reads only to split them: refused by name on the chunk path (a
    3-tuple topk_ids used to lose its third element there)."""
    kernel, g = _guarded(FP4_ROUTED, cap=300)
    arguments = make_arguments(FP4_ROUTED, 1000)
    arguments.update(bad(arguments))
    assert _refused(g, arguments).argument == argument
    assert kernel.calls == []


def test_routing_logits_and_replay_rows_that_are_not_tensors_are_named():
    kernel, g = _guarded(BF16, cap=300)
    assert _refused(g, make_arguments(BF16, 1000, routing_logits=[[0.0] * 8] * 1000)).argument == "routing_logits"
    assert _refused(g, make_arguments(BF16, 1000, routing_replay_out=[0] * 1000)).argument == "routing_replay_out"
    assert kernel.calls == []


@pytest.mark.parametrize("fn", [5, None, "trtllm_bf16_moe", object()])
def test_guarding_something_that_is_not_callable_names_fn(fn):
    with pytest.raises(GuardError) as caught:
        guard(fn, entry_point=BF16)
    assert caught.value.argument == "fn" and "callable" in str(caught.value)


def test_an_activation_type_that_is_not_an_int_is_in_doubt_not_an_error():
    """The precision inference reads activation_type and the scales; one it cannot read
    leaves it in doubt (the smaller tile set), as the launcher's own error will follow.
    No raw TypeError from the guard (a list is unhashable)."""
    kernel, g = _guarded(FP4)
    g(**make_arguments(FP4, 20_000, activation_type=[3]))
    g(**make_arguments(FP4, 20_000, gemm1_weights_scale=[1.0]))
    assert len(kernel.calls) == 2


# --- 4. BOUNDCHECK_STRICT_VERSION as a boolean --------------------------------------------

@pytest.mark.parametrize(
    "value,strict",
    [(None, False), ("", False), ("0", False), ("false", False), ("False", False), (" no ", False),
     ("off", False), ("OFF", False), ("none", False), ("1", True), ("true", True), ("yes", True),
     ("on", True), ("2", True)],
)
def test_strict_version_is_read_as_a_boolean(monkeypatch, value, strict):
    if value is None:
        monkeypatch.delenv(resolution.STRICT_VERSION_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(resolution.STRICT_VERSION_VARIABLE, value)
    monkeypatch.setattr(release_module, "_WARNED", set(), raising=False)
    assert resolution.strict_version() is strict
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if strict:
            with pytest.raises(BoundcheckInputError, match="forbids the unproven fallback"):
                release_module.for_version("0.8.0")
        else:
            assert release_module.for_version("0.8.0").fallback


# --- 5. an unmodeled newer release named explicitly warns, once per version --------------

def test_an_explicitly_named_unmodeled_release_warns_once_per_version(monkeypatch):
    monkeypatch.delenv(resolution.STRICT_VERSION_VARIABLE, raising=False)
    monkeypatch.setattr(release_module, "_WARNED", set(), raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        def kernel(*args, **kwargs):  # 0.8.0's signature is not recorded: a wrapper takes any
            return None

        guard(kernel, entry_point=BF16, flashinfer="0.8.0")
        guard(kernel, entry_point=BF16, flashinfer="0.8.0")
        bound = limits.max_chunk_tokens(512, 22, precision="bf16", flashinfer="0.8.0", cap=None)
        limits.max_chunk_tokens(512, 22, precision="bf16", flashinfer="0.8.1", cap=None)
        limits.max_chunk_tokens(512, 22, precision="bf16", flashinfer="0.7.4", cap=None)  # modeled: silent
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 2, messages
    assert "flashinfer 0.8.0 (not modeled" in messages[0] and "`any` bound" in messages[0]
    assert "flashinfer 0.8.1 (not modeled" in messages[1]
    assert all(resolution.STRICT_VERSION_VARIABLE in m for m in messages)
    # attributed to the caller's line
    assert all(w.filename == __file__ for w in caught if issubclass(w.category, RuntimeWarning))
    assert bound == limits.max_chunk_tokens(512, 22, precision="bf16", policy="any", cap=None,
                                            flashinfer=releases.NEWEST)
