"""The guard's hard cases: every way inference code really calls it, and bad input.
Each test here failed before its fix (see issue "The guard keeps its promise on every input")."""

from __future__ import annotations

import inspect
import threading

import pytest
import torch

from boundcheck import runtime
from boundcheck.caps import DEFAULT
from boundcheck.errors import BoundcheckInputError
from boundcheck.runtime import GuardError, chunk_cap, guard, set_chunk_cap
from boundcheck.runtime.dist_aware import VARIABLE as DA_VARIABLE
from boundcheck.runtime.entry_points import ENTRY_POINTS

from .fakes import Recorder, make_arguments

pytest.importorskip("flashinfer.fused_moe")  # the recorders take the installed signatures


def _guarded(name="trtllm_bf16_moe", **options):
    kernel = Recorder(name)
    return kernel, guard(kernel, entry_point=name, **options)


# --- 1. caps are ints or None, everywhere -----------------------------------------------

@pytest.mark.parametrize("bad", ["100", 100.0, True, 0, -5, [100]])
def test_a_cap_that_is_not_a_positive_int_is_refused_at_every_entry(bad):
    with pytest.raises(GuardError) as caught:
        _guarded(cap=bad)
    assert caught.value.argument == "cap" and "positive int or None" in str(caught.value)
    with pytest.raises(BoundcheckInputError, match="chunk_cap"):
        with chunk_cap(bad):
            pass
    with pytest.raises(BoundcheckInputError, match="set_chunk_cap"):
        set_chunk_cap(bad)
    with pytest.raises(BoundcheckInputError, match="cap"):
        runtime.max_chunk_tokens(8, 2, cap=bad)


def test_an_int_cap_is_honoured_on_the_fast_path_too():
    kernel, g = _guarded(cap=100)
    g(**make_arguments("trtllm_bf16_moe", 1000))  # far below the fast threshold
    assert [c["hidden_states"].shape[0] for c in kernel.calls] == [100] * 10


# --- 2. FLASHINFER_DIST_AWARE_AUTOTUNE ---------------------------------------------------

@pytest.mark.parametrize("value,on", [("1", True), ("true", True), (" Yes ", True), ("0", False),
                                      ("off", False), ("", False), ("None", False)])
def test_the_dist_aware_switch_is_read_as_flashinfer_reads_it(monkeypatch, value, on):
    from boundcheck.runtime.dist_aware import dist_aware_autotune_on

    monkeypatch.setenv(DA_VARIABLE, value)
    era = runtime.guarded_release("0.7.2.post1").era
    assert dist_aware_autotune_on(era) is on
    assert dist_aware_autotune_on(runtime.guarded_release("0.6.17").era) is False  # no switch before 0.6.18


def test_dist_aware_autotuning_makes_the_default_policy_any(monkeypatch):
    # Nemotron NVFP4: 567,505 under the flashinfer policy, 23,668 when any tile may run.
    name = "trtllm_fp4_block_scale_routed_moe"
    kernel, g = _guarded(name, cap=None)
    explicit_kernel, explicit = _guarded(name, cap=None, policy="flashinfer")
    monkeypatch.setenv(DA_VARIABLE, "1")
    any_bound = runtime.max_chunk_tokens(512, 22, cap=None)
    assert any_bound == runtime.max_chunk_tokens(512, 22, cap=None, policy="any") == 23_668
    g(**make_arguments(name, 30_000, experts=512, top_k=22))
    assert max(c["hidden_states"].shape[0] for c in kernel.calls) <= any_bound
    assert len(kernel.calls) == 2
    explicit(**make_arguments(name, 30_000, experts=512, top_k=22))
    assert len(explicit_kernel.calls) == 1  # an explicit policy is kept
    monkeypatch.setenv(DA_VARIABLE, "0")
    kernel.calls.clear()
    g(**make_arguments(name, 30_000, experts=512, top_k=22))
    assert len(kernel.calls) == 1


# --- 3. M = 0 never launches -------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(n for n, e in ENTRY_POINTS.items() if "do_finalize" in e.index))
def test_zero_tokens_unfinalized_never_launches(name):
    kernel, g = _guarded(name)
    arguments = make_arguments(name, 0, do_finalize=False)
    result = g(**arguments)
    assert kernel.calls == []
    rows, weights, index = result
    hidden = arguments["hidden_states"]
    width = hidden.shape[1] * (2 if hidden.dtype == torch.uint8 else 1)
    assert rows.shape == (0, width) and rows.dtype == torch.bfloat16
    top_k = arguments["top_k"] + (arguments.get("num_fused_shared_experts") or 0)
    assert weights.shape == (0, top_k) and weights.dtype == torch.bfloat16
    assert index.shape == (0,) and index.dtype == torch.int32


@pytest.mark.parametrize("name", sorted(n for n, e in ENTRY_POINTS.items() if "gemm1_lora_delta" in e.index))
@pytest.mark.parametrize("finalize", [True, False])
def test_zero_tokens_with_lora_delta_never_launches(name, finalize):
    kernel, g = _guarded(name)
    arguments = make_arguments(name, 0, do_finalize=finalize)
    arguments["gemm1_lora_delta"] = torch.zeros(0, arguments["top_k"], 2 * arguments["intermediate_size"])
    result = g(**arguments)
    assert kernel.calls == []
    assert result[0].shape[0] == 0 and result[-1].shape == (0, arguments["intermediate_size"])
    assert len(result) == (3 if finalize else 4)


@pytest.mark.parametrize("name", sorted(n for n, e in ENTRY_POINTS.items() if "do_finalize" in e.index))
def test_deferred_finalize_is_chunked_with_shifted_indices(name):
    """do_finalize=False (vLLM's deferred top-k reduction on BF16 and FP8) above the bound:
    chunked, rows and weights concatenated, each chunk's index shifted by the rows before
    it, -1 kept: every route still finds its own row. (Equality with an unchunked run on
    real numbers: tests/test_reference.py.)"""
    kernel, g = _guarded(name, cap=400)
    tokens = 1000
    arguments = make_arguments(name, tokens, do_finalize=False)
    arguments.pop("output", None)
    rows, weights, index = g(**arguments)
    assert [c["hidden_states"].shape[0] for c in kernel.calls] == [334, 333, 333]
    top_k = arguments["top_k"]
    routes = torch.arange(tokens * top_k)
    remote = torch.tensor([r % 5 == 4 for r in range(334 * top_k)] + [r % 5 == 4 for r in range(333 * top_k)] * 2)
    assert torch.equal(index < 0, remote) and index.dtype == torch.int32
    # Chunks number their routes from 0 in their own rows; the recorder offsets the value
    # it writes by the routes of earlier calls, so row value == global route id.
    local = index >= 0
    assert torch.equal(rows[index[local].long(), 0].float(), routes[local].float())
    assert weights.shape == (tokens, top_k)


# --- 4. the callable's signature -----------------------------------------------------------

def test_a_fully_variadic_wrapper_is_guarded_with_the_entry_points_signature():
    name = "trtllm_fp4_block_scale_routed_moe"
    inner = Recorder(name)
    calls = []

    def wrapper(*args, **kwargs):  # what inference code writes around flashinfer
        calls.append((len(args), sorted(kwargs)))
        return inner(*args, **kwargs)

    g = guard(wrapper, entry_point=name, cap=400)
    arguments = make_arguments(name, 1000)
    g(**arguments)
    assert [c["hidden_states"].shape[0] for c in inner.calls] == [334, 333, 333]
    # Called back as it was called: by keyword, with nothing the caller did not pass
    # except the output rows it needs (flashinfer's defaults stay flashinfer's).
    assert all(n == 0 for n, _ in calls)
    assert set(calls[0][1]) <= set(arguments) | {"output"}
    # The first three by position, as flashinfer orders them (hidden_states among them).
    first = ENTRY_POINTS[name].params[:3]
    rest = {k: v for k, v in arguments.items() if k not in first}
    calls.clear()
    g(*(arguments.get(p) for p in first), **rest)
    assert inner.calls[-1]["hidden_states"].shape[0] == 333
    assert all(n == 3 for n, _ in calls)  # still by position


def _kernel_with_keyword_only_tail(name, keyword_only, own_default):
    """A kernel with the entry point's parameter names, the last `keyword_only` of them
    keyword-only, flashinfer's defaults except `own_default`, whose default is an object
    of its own (the guard never reads that parameter); it records what it receives."""
    params = ENTRY_POINTS[name].params
    inner = Recorder(name)
    defaults = {p: q.default for p, q in inner.__signature__.parameters.items()}
    sentinel = defaults[own_default] = object()
    split = len(params) - keyword_only
    declared = [p if defaults[p] is inspect.Parameter.empty else f"{p}=_d[{p!r}]" for p in params]
    source = f"def kernel({', '.join(declared[:split])}, *, {', '.join(declared[split:])}):\n    return _record(locals())\n"
    received = []

    def record(a):
        received.append(dict(a))
        return inner(**{k: None if v is sentinel else v for k, v in a.items()})

    namespace = {"_d": defaults, "_record": record}
    exec(source, namespace)
    return namespace["kernel"], defaults, received


@pytest.mark.parametrize("tokens", [100, 1000], ids=["fast path", "chunked"])
def test_the_generated_wrapper_mirrors_keyword_only_parameters_and_the_callees_defaults(tokens):
    name = "trtllm_fp4_block_scale_routed_moe"
    tail = ENTRY_POINTS[name].params[-3:]
    assert "valid_intermediate_size" in tail
    kernel, defaults, received = _kernel_with_keyword_only_tail(name, 3, own_default="valid_intermediate_size")
    g = guard(kernel, entry_point=name, cap=400)
    assert g.__code__.co_filename.startswith("<boundcheck guard")  # the generated one, not *args
    assert inspect.signature(g) == inspect.signature(kernel)
    arguments = make_arguments(name, tokens, num_fused_shared_experts=0)
    g(**arguments)
    assert [r["hidden_states"].shape[0] for r in received] == ([100] if tokens == 100 else [334, 333, 333])
    # The keyword-only argument the caller passed arrives as passed; what it left out
    # arrives as the kernel's own default object.
    assert all(r["num_fused_shared_experts"] is arguments["num_fused_shared_experts"] for r in received)
    assert all(r["valid_intermediate_size"] is defaults["valid_intermediate_size"] for r in received)
    untouched = set(ENTRY_POINTS[name].params) - set(arguments) - {"output"}
    assert all(r[p] is defaults[p] for r in received for p in untouched)


def test_a_callable_with_another_signature_is_refused_naming_the_parameter():
    wrong = Recorder("trtllm_fp8_block_scale_moe")
    with pytest.raises(GuardError) as caught:
        guard(wrong, entry_point="trtllm_bf16_moe")
    assert caught.value.argument == "fn"
    assert "parameter 3 is 'hidden_states_scale' where trtllm_bf16_moe" in str(caught.value)
    assert "'gemm1_weights'" in str(caught.value)

    def fewer(routing_logits, routing_bias, hidden_states):
        return None

    with pytest.raises(GuardError, match="parameter 3 is nothing"):
        guard(fewer, entry_point="trtllm_bf16_moe")


# --- 5-7. one-line errors naming the argument ------------------------------------------------

@pytest.mark.parametrize(
    "override,argument,needle",
    [
        (lambda a: torch.empty(1000 * 64, dtype=torch.bfloat16), "output", "must have shape [1000, "),
        (lambda a: torch.empty(1000, 64, dtype=torch.float32), "output", "must be bfloat16"),
    ],
)
def test_bad_output_is_named(override, argument, needle):
    kernel, g = _guarded(cap=300)
    arguments = make_arguments("trtllm_bf16_moe", 1000)
    arguments["output"] = override(arguments)
    with pytest.raises(GuardError) as caught:
        g(**arguments)
    assert caught.value.argument == argument and needle in str(caught.value)
    assert kernel.calls == []


@pytest.mark.parametrize(
    "counts,argument,needle",
    [
        (dict(num_experts=0, local_num_experts=0), "num_experts", "at least 1"),
        (dict(local_num_experts=9), "local_num_experts", "[1, num_experts=8]"),
        (dict(local_num_experts=0), "local_num_experts", "[1, num_experts=8]"),
        (dict(local_expert_offset=5, local_num_experts=4), "local_expert_offset", "[0, 4]"),
        (dict(tune_max_num_tokens=[8192]), "tune_max_num_tokens", "must be an integer"),
        (dict(top_k={2}), "top_k", "must be an integer"),
    ],
)
def test_bad_counts_are_named(counts, argument, needle):
    kernel, g = _guarded()
    arguments = make_arguments("trtllm_bf16_moe", 20_000)
    arguments.update(counts)
    with pytest.raises(GuardError) as caught:
        g(**arguments)
    assert caught.value.argument == argument and needle in str(caught.value)


@pytest.mark.parametrize("variadic", [False, True], ids=["entry-point signature", "variadic wrapper"])
def test_missing_or_none_hidden_states_are_named(variadic):
    kernel = Recorder("trtllm_bf16_moe")
    fn = (lambda *args, **kwargs: kernel(*args, **kwargs)) if variadic else kernel
    g = guard(fn, entry_point="trtllm_bf16_moe")
    arguments = make_arguments("trtllm_bf16_moe", 100)
    arguments["hidden_states"] = None
    with pytest.raises(GuardError, match="hidden_states: must be a tensor"):
        g(**arguments)
    # Missing: what Python says when the entry point itself is called without it.
    del arguments["hidden_states"]
    with pytest.raises(TypeError, match=r"^trtllm_bf16_moe\(\) missing 1 required positional argument: 'hidden_states'$"):
        g(**arguments)
    assert kernel.calls == []


# --- 8. caps across threads ------------------------------------------------------------------

def _tokens_per_call_in_a_thread(g, arguments):
    kernel = g.boundcheck_guard.fn
    seen = []

    def work():
        kernel.calls.clear()
        g(**arguments)
        seen.extend(c["hidden_states"].shape[0] for c in kernel.calls)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return seen


def test_chunk_cap_is_per_thread_and_set_chunk_cap_is_process_wide():
    kernel, g = _guarded()
    arguments = make_arguments("trtllm_bf16_moe", 1000)
    with chunk_cap(250):
        g(**arguments)
        assert len(kernel.calls) == 4
        # A thread started inside the block does not inherit the context variable.
        assert _tokens_per_call_in_a_thread(g, arguments) == [1000]
    try:
        set_chunk_cap(250)
        assert _tokens_per_call_in_a_thread(g, arguments) == [250] * 4
        with chunk_cap(500):  # the innermost wins in its own thread
            kernel.calls.clear()
            g(**arguments)
            assert len(kernel.calls) == 2
        set_chunk_cap(None)
        assert runtime.max_chunk_tokens(512, 22, policy="fixed:128") == 378_344
    finally:
        set_chunk_cap(DEFAULT)
    assert runtime.max_chunk_tokens(512, 22, policy="fixed:128") == 300_000
    assert _tokens_per_call_in_a_thread(g, arguments) == [1000]
