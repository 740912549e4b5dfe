"""Drive vLLM 0.33.0's own trtllm-gen MoE experts on CPU, with flashinfer's compiled op
replaced by a recording fake below the guard, and print one JSON report.

Run with the vLLM venv's python and `boundcheck` importable (tests/engines/
test_vllm_moe_paths.py puts a regular `pip install --target` copy of this repository on
PYTHONPATH; the venv itself is not modified):

    PYTHONPATH=/tmp/bc-site VLLM_PLUGINS= /path/to/vllm-venv/bin/python vllm_driver.py \
        --tokens 400000 --shapes 512x22,1024x2 --out report.json

What runs, top to bottom, for every path and shape:

    vLLM's experts object (apply / _invoke_kernel, vLLM's own code, unmodified)
      -> flashinfer.fused_moe.trtllm_*            (the boundcheck guard, when installed)
      -> flashinfer's Python entry point           (unmodified)
      -> get_trtllm_moe_sm100_module().<op>        (flashinfer's Python op: autotuner lookup,
                                                    runner, output allocation; unmodified)
      -> moe_op.<op>(...)                          (the compiled TVM-FFI launcher: THE FAKE)

What is replaced, and only this (the compiled launcher needs an SM100 GPU to run; building
it would run nvcc and fetch the trtllm-gen cubins):

1. `flashinfer.fused_moe.core.gen_trtllm_gen_fused_moe_sm100_module`: returns a stand-in
   JIT spec whose build_and_load() is the fake module (FakeMoeOp) and whose library
   list is empty (so no cubin loader is set up). flashinfer's own
   `_get_trtllm_moe_sm100_module_impl` then runs unchanged and closes its Python ops
   (trtllm_fp4_block_scale_moe_op, ...) over the fake `moe_op`.
2. `flashinfer.fused_moe.core.get_trtllm_moe_sm100_module`: its body asks torch.cuda for
   the current device and its compute capability (to pick the Rubin cubins), which raises
   "Found no NVIDIA driver" here; replaced by `_get_trtllm_moe_sm100_module_impl(False)`
   (non-Rubin), flashinfer's own cached impl. The entry points look it up in core's
   globals at call time, so they get the replacement.
3. While the experts objects are constructed only: `torch.accelerator.current_device_index`
   (vLLM's NVFP4, FP8 and MXFP4 experts read it in __init__ for the device of optional
   per-expert SwiGLU tensors, which these configs leave None) returns the CPU device; it
   raises "Found no NVIDIA driver" otherwise.
4. Observation only: each Python op of that module namespace is wrapped to note the
   tune_max_num_tokens its entry point passed (vLLM's value, or flashinfer's default where
   vLLM passes none), then called unchanged; the expected bound is computed with it.

Everything else runs as shipped: vLLM's experts (chunking included), flashinfer's entry
points, their validation, the AutoTuner lookup (no tuning: the fallback tactic), the
runner and tuning-config construction and the output allocation.

The fake launcher decodes each row's token index from the hidden states it is given (five
base-16 digits in the first columns, exact in uint8, fp8 e4m3 and bf16), checks that the
row's other per-token inputs (topk weights and ids, scales, router logits) carry the same
token, records the launch (token count, counts, which rows), and writes that token's
digits into the row of `output` (plus a marker 1.0 in column 5). The driver then checks
that every output row of the 400,000 holds its own token.

Modes: `control` runs every path with nothing installed (flashinfer's functions as they
are); `guarded` calls `runtime.install()` (after flashinfer is imported, before the calls)
and runs them again. Observation of the guard: Guard.call and Guard.chunk_size are
wrapped (before install, calling through) to record what vLLM passed and the bound the
guard applied.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import inspect
import json
import os
import sys
import time
import traceback

DIGITS = 5  # base-16 digits of the token index: 16**5 = 1,048,576 tokens
BASE = 16
MARKER_COLUMN = DIGITS

# The tensors of a compiled-op call the fake reads, by the name flashinfer's Python op
# passes them under (positions are read from flashinfer's own source, see kernel_positions).
_TRACKED = ("hidden_states", "output", "hidden_states_scale", "topk_ids", "topk_weights",
            "expert_weights", "routing_logits", "num_experts", "top_k", "num_local_experts",
            "local_num_experts", "do_finalize", "intermediate_size")
_KERNELS = ("trtllm_bf16_moe", "trtllm_fp8_per_tensor_scale_moe", "trtllm_fp8_per_tensor_scale_routed_moe",
            "trtllm_fp8_per_channel_scale_moe", "trtllm_fp8_block_scale_moe", "trtllm_fp4_block_scale_moe",
            "trtllm_mxint4_block_scale_moe")


# --------------------------------------------------------------------------- the fake ---

def kernel_positions(core_module) -> dict:
    """For each compiled op, the position of each tracked argument in flashinfer's own
    call `moe_op.<op>(...)` (fused_moe/core.py, read with ast: nothing hand-copied). Every
    call site of one op must agree."""
    tree = ast.parse(inspect.getsource(core_module))
    found: dict = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "moe_op"
                and node.func.attr in _KERNELS):
            continue
        if node.keywords:
            raise RuntimeError(f"moe_op.{node.func.attr} is called with keywords; the fake reads positions only")
        positions = {arg.id: i for i, arg in enumerate(node.args) if isinstance(arg, ast.Name) and arg.id in _TRACKED}
        previous = found.setdefault(node.func.attr, positions)
        if previous != positions:
            raise RuntimeError(f"moe_op.{node.func.attr}: call sites disagree: {previous} vs {positions}")
    missing = [k for k in ("trtllm_bf16_moe", "trtllm_fp8_per_tensor_scale_moe", "trtllm_fp4_block_scale_moe")
               if k not in found]
    if missing:
        raise RuntimeError(f"no moe_op call found for {missing} in {core_module.__file__}")
    return found


def encode_digits(index, dtype):
    """[M] int64 token indices -> [M, DIGITS] digits (least significant first) in dtype."""
    import torch

    digits = torch.stack([(index // BASE**j) % BASE for j in range(DIGITS)], dim=1)
    return digits.to(dtype)


def decode_digits(rows):
    """[M, >= DIGITS] -> [M] int64: the token index the first DIGITS columns encode."""
    import torch

    values = rows[:, :DIGITS]
    if values.dtype != torch.uint8:
        values = values.float()  # fp8 and bf16 hold the digits 0..15 exactly
    values = values.to(torch.int64)
    weights = torch.tensor([BASE**j for j in range(DIGITS)], dtype=torch.int64)
    return (values * weights).sum(dim=1)


class Recorder:
    """Launches of the fake compiled op, and the guard's decisions, per label."""

    def __init__(self):
        self.label = None
        self.tune = None  # tune_max_num_tokens of the op call in progress (_reading_tune)
        self.launches: list = []
        self.guard_calls: list = []
        self.guard_bounds: list = []

    def reset(self, label):
        self.label = label
        self.launches, self.guard_calls, self.guard_bounds = [], [], []


class FakeMoeOp:
    """Stands in for flashinfer's compiled trtllm-gen MoE module (the TVM-FFI module that
    `gen_trtllm_gen_fused_moe_sm100_module(...).build_and_load()` returns). The MoE ops
    record and write each row's own token; anything else it is asked for raises."""

    def __init__(self, positions, recorder):
        self._positions = positions
        self._recorder = recorder

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._positions:
            return functools.partial(self._launch, name)

        def not_emulated(*args, **kwargs):
            raise NotImplementedError(f"the CPU fake of flashinfer's compiled MoE module does not emulate {name}")

        not_emulated.__name__ = name
        return not_emulated

    def _launch(self, kernel, *args):
        import torch

        where = self._positions[kernel]

        def arg(name):
            return args[where[name]] if name in where else None

        hidden = arg("hidden_states")
        output = arg("output")
        tokens = hidden.shape[0]
        if not arg("do_finalize"):
            raise NotImplementedError("the fake emulates do_finalize=True only (the configs here never defer)")
        if output is None or output.dim() != 2 or output.shape[0] != tokens or output.dtype != torch.bfloat16:
            raise AssertionError(f"{kernel}: output {None if output is None else (tuple(output.shape), output.dtype)} "
                                 f"for {tokens} tokens")
        index = decode_digits(hidden)
        mismatched = {}
        logits = arg("routing_logits")
        # With router logits the op allocates topk ids and weights as the routing's output:
        # they carry nothing yet. Precomputed routing passes the caller's.
        weights = None if logits is not None else (arg("topk_weights") if "topk_weights" in where
                                                   else arg("expert_weights"))
        if weights is not None and weights.numel():
            mismatched["topk_weights"] = int((weights[:, 0].to(torch.int64) != index).sum())
        ids = None if logits is not None else arg("topk_ids")
        if ids is not None and ids.numel():
            experts = int(arg("num_experts"))
            mismatched["topk_ids"] = int((ids[:, 0].to(torch.int64) != index % experts).sum())
        scale = arg("hidden_states_scale")
        if scale is not None and scale.numel():
            rows = scale.view(torch.uint8).reshape(tokens, -1)
            mismatched["hidden_states_scale"] = int((decode_digits(rows) != index).sum())
        if logits is not None and logits.numel():
            mismatched["routing_logits"] = int((logits[:, 0].to(torch.int64) != index).sum())
        first = int(index[0]) if tokens else 0
        contiguous = bool((index == torch.arange(first, first + tokens, dtype=torch.int64)).all())
        output[:, :DIGITS] = encode_digits(index, torch.bfloat16)
        output[:, MARKER_COLUMN] = 1.0
        self._recorder.launches.append({
            "kernel": kernel,
            "tokens": int(tokens),
            "contiguous": contiguous,
            "first_token": int(index[0]) if tokens else None,
            "last_token": int(index[-1]) if tokens else None,
            "tune_max_num_tokens": self._recorder.tune,
            "num_experts": int(arg("num_experts")),
            "top_k": int(arg("top_k")),
            "mismatched_inputs": mismatched,
        })
        return []  # the launcher's Array<Tensor>; with do_finalize the Python op returns [output]


def install_fake_kernels(recorder) -> dict:
    """Replace the compiled module below flashinfer's Python (see the module docstring)."""
    from flashinfer.fused_moe import core

    positions = kernel_positions(core)
    fake = FakeMoeOp(positions, recorder)

    class FakeJitSpec:
        """What gen_trtllm_gen_fused_moe_sm100_module returns, minus nvcc and cubins."""

        def build_and_load(self):
            return fake

        def get_library_paths(self):
            return []

    core.gen_trtllm_gen_fused_moe_sm100_module = lambda enable_rubin=False: FakeJitSpec()
    core._get_trtllm_moe_sm100_module_impl.cache_clear()
    core.get_trtllm_moe_sm100_module = lambda: core._get_trtllm_moe_sm100_module_impl(False)
    module = core.get_trtllm_moe_sm100_module()
    assert module.moe_op is fake
    for name in _KERNELS:
        setattr(module, name, _reading_tune(getattr(module, name), recorder))
    return positions


def _reading_tune(op, recorder):
    """flashinfer's Python op as it is, which notes the tune_max_num_tokens its entry point
    passed it (vLLM passes it on most paths, flashinfer's default applies on the others):
    the bound the driver expects is computed with it. Reads only, then calls through."""
    signature = inspect.signature(op)

    @functools.wraps(op)
    def read_then_call(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        recorder.tune = bound.arguments.get("tune_max_num_tokens")
        return op(*args, **kwargs)

    return read_then_call


@contextlib.contextmanager
def cpu_accelerator_index():
    """vLLM's experts __init__ ask torch.accelerator for the current device (which raises
    without a driver); answer the CPU while they are built."""
    import torch

    original = torch.accelerator.current_device_index
    torch.accelerator.current_device_index = lambda: torch.device("cpu")
    try:
        yield
    finally:
        torch.accelerator.current_device_index = original


# ----------------------------------------------------------------------- vLLM paths ---

class Shape:
    """EXPERTSxTOP_K[@MAX_NUM_TOKENS]: the counts, and optionally FusedMoEConfig.max_num_tokens
    (what vLLM's fi_moe_largest_bucket turns into the tune_max_num_tokens it passes; vLLM's
    default otherwise, which gives flashinfer's floor of 8192)."""

    def __init__(self, text, tokens, hidden, intermediate):
        counts, _, max_num_tokens = text.lower().partition("@")
        self.experts, self.top_k = (int(v) for v in counts.split("x"))
        self.max_num_tokens = int(max_num_tokens) if max_num_tokens else None
        self.tokens, self.hidden, self.intermediate = tokens, hidden, intermediate

    def __str__(self):
        text = f"{self.experts}x{self.top_k}"
        return text if self.max_num_tokens is None else f"{text}@{self.max_num_tokens}"


def moe_config(shape, in_dtype, routing):
    import torch
    from vllm.model_executor.layers.fused_moe.activation import MoEActivation
    from vllm.model_executor.layers.fused_moe.config import FusedMoEConfig, FusedMoEParallelConfig

    extra = {} if shape.max_num_tokens is None else {"max_num_tokens": shape.max_num_tokens}
    return FusedMoEConfig(
        **extra,
        num_experts=shape.experts,
        experts_per_token=shape.top_k,
        hidden_dim=shape.hidden,
        intermediate_size=shape.intermediate,
        num_local_experts=shape.experts,
        num_logical_experts=shape.experts,
        activation=MoEActivation.SILU,
        device=torch.device("cpu"),
        routing_method=routing,
        moe_parallel_config=FusedMoEParallelConfig.make_no_parallel(),
        in_dtype=in_dtype,
    )


class Inputs:
    """Per-token inputs of one shape, each carrying its row's token index: hidden states
    (digits in the first columns), activation scales (digits), topk weights (the index in
    column 0, float32 exact), topk ids (index mod experts in column 0), router logits (the
    index in column 0). Built once per shape and dtype, reused across paths."""

    def __init__(self, shape):
        import torch

        self.shape = shape
        self.index = torch.arange(shape.tokens, dtype=torch.int64)
        self._cache = {}

    def get(self, kind):
        import torch

        if kind in self._cache:
            return self._cache[kind]
        s, index = self.shape, self.index
        if kind == "topk_ids":
            offsets = torch.arange(s.top_k, dtype=torch.int64)
            value = ((index[:, None] + offsets[None, :]) % s.experts).to(torch.int32)
        elif kind == "topk_weights":
            value = torch.zeros(s.tokens, s.top_k, dtype=torch.float32)
            value[:, 0] = index.to(torch.float32)
        elif kind == "router_logits":
            value = torch.empty(s.tokens, s.experts, dtype=torch.float32)
            value[:, 0] = index.to(torch.float32)
        elif kind.startswith("hidden:"):
            dtype, width = kind.split(":")[1], int(kind.split(":")[2])
            value = torch.zeros(s.tokens, width, dtype=getattr(torch, dtype))
            value[:, :DIGITS] = encode_digits(index, value.dtype)
        elif kind.startswith("scale:"):
            width = int(kind.split(":")[1])
            value = torch.zeros(s.tokens, width, dtype=torch.uint8)
            value[:, :DIGITS] = encode_digits(index, torch.uint8)
        else:
            raise KeyError(kind)
        self._cache[kind] = value
        return value

    def release(self):
        self._cache.clear()


def _modular_call(experts, shape, inputs, hidden, w1, w2, a1q_scale, out_width):
    import torch
    from vllm.model_executor.layers.fused_moe.activation import MoEActivation

    output = torch.empty(shape.tokens, out_width, dtype=torch.bfloat16)
    experts.apply(
        output=output,
        hidden_states=hidden,
        w1=w1,
        w2=w2,
        topk_weights=inputs.get("topk_weights"),
        topk_ids=inputs.get("topk_ids"),
        activation=MoEActivation.SILU,
        global_num_experts=shape.experts,
        expert_map=None,
        a1q_scale=a1q_scale,
        a2_scale=None,
        workspace13=torch.empty(0),
        workspace2=torch.empty(0),
        expert_tokens_meta=None,
        apply_router_weight_on_input=False,
    )
    return output


def _monolithic_call(experts, shape, inputs, hidden, w1, w2, a1q_scale):
    from vllm.model_executor.layers.fused_moe.activation import MoEActivation

    result = experts.apply(
        hidden_states=hidden,
        w1=w1,
        w2=w2,
        router_logits=inputs.get("router_logits"),
        activation=MoEActivation.SILU,
        global_num_experts=shape.experts,
        expert_map=None,
        a1q_scale=a1q_scale,
        apply_router_weight_on_input=False,
    )
    return result[0] if isinstance(result, (list, tuple)) else result


def _nvfp4(shape, inputs, monolithic):
    """TrtLlmNvFp4Experts{Modular,Monolithic}: NVFP4 weights (uint8, two values a byte,
    fp8 block scales per 16), NVFP4 activations quantized before apply (a1q_scale)."""
    import torch
    from vllm.model_executor.layers.fused_moe.config import RoutingMethodType, nvfp4_moe_quant_config
    from vllm.model_executor.layers.fused_moe.experts import trtllm_nvfp4_moe as m

    E, H, I = shape.experts, shape.hidden, shape.intermediate
    ones = torch.ones(E, dtype=torch.float32)
    quant = nvfp4_moe_quant_config(
        g1_alphas=ones, g2_alphas=ones.clone(), a1_gscale=ones.clone(), a2_gscale=ones.clone(),
        w1_scale=torch.ones(E, 2 * I, H // 16, dtype=torch.uint8),
        w2_scale=torch.ones(E, H, I // 16, dtype=torch.uint8),
    )
    config = moe_config(shape, torch.bfloat16, RoutingMethodType.Renormalize)
    cls = m.TrtLlmNvFp4ExpertsMonolithic if monolithic else m.TrtLlmNvFp4ExpertsModular
    with cpu_accelerator_index():
        experts = cls(config, quant)
    w1 = torch.zeros(E, 2 * I, H // 2, dtype=torch.uint8)
    w2 = torch.zeros(E, H, I // 2, dtype=torch.uint8)
    hidden = inputs.get(f"hidden:uint8:{H // 2}")
    scale = inputs.get(f"scale:{H // 16}")
    # The modular class chunks at this size by itself (min(300000, the tile-128 formula));
    # the monolithic one has the same method and never calls it.
    extra = {} if monolithic else {"vllm_chunk_size": experts._get_chunk_size()}
    if monolithic:
        run = lambda: _monolithic_call(experts, shape, inputs, hidden, w1, w2, scale)  # noqa: E731
    else:
        run = lambda: _modular_call(experts, shape, inputs, hidden, w1, w2, scale, H)  # noqa: E731
    return experts, run, "nvfp4", extra


def _bf16(shape, inputs, monolithic):
    """TrtLlmBf16Experts{Modular,Monolithic}: unquantized bf16 (BlockMajorK weights)."""
    import torch
    from vllm.model_executor.layers.fused_moe.config import FUSED_MOE_UNQUANTIZED_CONFIG, RoutingMethodType
    from vllm.model_executor.layers.fused_moe.experts import trtllm_bf16_moe as m

    E, H, I = shape.experts, shape.hidden, shape.intermediate
    config = moe_config(shape, torch.bfloat16, RoutingMethodType.Renormalize)
    cls = m.TrtLlmBf16ExpertsMonolithic if monolithic else m.TrtLlmBf16ExpertsModular
    with cpu_accelerator_index():
        experts = cls(config, FUSED_MOE_UNQUANTIZED_CONFIG)
    w1 = torch.zeros(E, 2 * I, H, dtype=torch.bfloat16)
    w2 = torch.zeros(E, H, I, dtype=torch.bfloat16)
    hidden = inputs.get(f"hidden:bfloat16:{H}")
    if monolithic:
        run = lambda: _monolithic_call(experts, shape, inputs, hidden, w1, w2, None)  # noqa: E731
    else:
        run = lambda: _modular_call(experts, shape, inputs, hidden, w1, w2, None, H)  # noqa: E731
    return experts, run, "bf16", {}


def _fp8_per_tensor(shape, inputs, monolithic):
    """TrtLlmFp8ExpertsMonolithic with per-tensor scales (the only FP8 per-tensor experts
    vLLM has: the modular class takes block and MXFP8 scales only)."""
    import torch
    from vllm.model_executor.layers.fused_moe.config import RoutingMethodType, fp8_w8a8_moe_quant_config
    from vllm.model_executor.layers.fused_moe.experts import trtllm_fp8_moe as m

    assert monolithic
    E, H, I = shape.experts, shape.hidden, shape.intermediate
    quant = fp8_w8a8_moe_quant_config(
        w1_scale=torch.ones(E, dtype=torch.float32), w2_scale=torch.ones(E, dtype=torch.float32),
        a1_scale=torch.ones(1, dtype=torch.float32), a2_scale=torch.ones(1, dtype=torch.float32),
        per_act_token_quant=False, per_out_ch_quant=False, block_shape=None,
    )
    assert quant.is_per_tensor
    config = moe_config(shape, torch.float8_e4m3fn, RoutingMethodType.Renormalize)
    with cpu_accelerator_index():
        experts = m.TrtLlmFp8ExpertsMonolithic(config, quant)
    w1 = torch.zeros(E, 2 * I, H, dtype=torch.float8_e4m3fn)
    w2 = torch.zeros(E, H, I, dtype=torch.float8_e4m3fn)
    hidden = inputs.get(f"hidden:float8_e4m3fn:{H}")
    run = lambda: _monolithic_call(experts, shape, inputs, hidden, w1, w2, None)  # noqa: E731
    return experts, run, "fp8_per_tensor", {}


def _mxfp4(shape, inputs, monolithic, activation):
    """TrtLlmMxfp4Experts{Modular,Monolithic}: MXFP4 weights (uint8, scales per 32), with
    bf16 activations (kMxfp4Static, None) or MXFP8 activations (kMxfp8Dynamic: fp8 e4m3
    states and one uint8 scale per 32)."""
    import torch
    from vllm.model_executor.layers.fused_moe.config import (
        RoutingMethodType,
        mxfp4_mxfp8_moe_quant_config,
        mxfp4_w4a16_moe_quant_config,
    )
    from vllm.model_executor.layers.fused_moe.experts import trtllm_mxfp4_moe as m

    E, H, I = shape.experts, shape.hidden, shape.intermediate
    w1_scale = torch.ones(E, 2 * I, H // 32, dtype=torch.uint8)
    w2_scale = torch.ones(E, H, I // 32, dtype=torch.uint8)
    if activation == "bf16":
        quant = mxfp4_w4a16_moe_quant_config(w1_scale=w1_scale, w2_scale=w2_scale)
        hidden, scale, precision = inputs.get(f"hidden:bfloat16:{H}"), None, "mxfp4_bf16"
        in_dtype = torch.bfloat16
    else:
        quant = mxfp4_mxfp8_moe_quant_config(w1_scale=w1_scale, w2_scale=w2_scale)
        hidden, scale, precision = inputs.get(f"hidden:float8_e4m3fn:{H}"), inputs.get(f"scale:{H // 32}"), "mxfp4_mxfp8"
        in_dtype = torch.float8_e4m3fn
    config = moe_config(shape, in_dtype, RoutingMethodType.Renormalize)
    cls = m.TrtLlmMxfp4ExpertsMonolithic if monolithic else m.TrtLlmMxfp4ExpertsModular
    with cpu_accelerator_index():
        experts = cls(config, quant)
    w1 = torch.zeros(E, 2 * I, H // 2, dtype=torch.uint8)
    w2 = torch.zeros(E, H, I // 2, dtype=torch.uint8)
    extra = {}
    if monolithic:
        run = lambda: _monolithic_call(experts, shape, inputs, hidden, w1, w2, scale)  # noqa: E731
    else:
        extra["vllm_chunk_size"] = experts._max_supported_tokens(shape.top_k, shape.experts)
        run = lambda: _modular_call(experts, shape, inputs, hidden, w1, w2, scale, H)  # noqa: E731
    return experts, run, precision, extra


# name -> (builder, the flashinfer entry point vLLM calls, chunks by itself)
PATHS = {
    "nvfp4_modular": (functools.partial(_nvfp4, monolithic=False), "trtllm_fp4_block_scale_routed_moe", True),
    "nvfp4_monolithic": (functools.partial(_nvfp4, monolithic=True), "trtllm_fp4_block_scale_moe", False),
    "bf16_modular": (functools.partial(_bf16, monolithic=False), "trtllm_bf16_routed_moe", False),
    "bf16_monolithic": (functools.partial(_bf16, monolithic=True), "trtllm_bf16_moe", False),
    "fp8_per_tensor_monolithic": (functools.partial(_fp8_per_tensor, monolithic=True),
                                  "trtllm_fp8_per_tensor_scale_moe", False),
    "mxfp4_bf16_modular": (functools.partial(_mxfp4, monolithic=False, activation="bf16"),
                           "trtllm_fp4_block_scale_routed_moe", True),
    "mxfp4_bf16_monolithic": (functools.partial(_mxfp4, monolithic=True, activation="bf16"),
                              "trtllm_fp4_block_scale_moe", False),
    "mxfp4_mxfp8_modular": (functools.partial(_mxfp4, monolithic=False, activation="mxfp8"),
                            "trtllm_fp4_block_scale_routed_moe", True),
}


# ------------------------------------------------------------------------ the runs ---

def observe_guard(recorder):
    """Wrap Guard.call (what vLLM passed: tokens per entry-point call) and Guard.chunk_size
    (the bound the guard applied) so they record, then call through. Done before install():
    guard() binds state.call when it builds each guard."""
    import importlib

    guard_module = importlib.import_module("boundcheck.runtime.guard")  # the module, not runtime.guard()
    call, chunk_size = guard_module.Guard.call, guard_module.Guard.chunk_size

    # Whatever else these methods take is passed on as given (their signatures may grow).
    def recording_call(self, args, kwargs, num_tokens, *rest, **options):
        recorder.guard_calls.append({"entry_point": self.entry.name, "tokens": int(num_tokens)})
        return call(self, args, kwargs, num_tokens, *rest, **options)

    def recording_chunk_size(self, arguments, *rest, **options):
        bound = chunk_size(self, arguments, *rest, **options)
        recorder.guard_bounds.append(int(bound))
        return bound

    guard_module.Guard.call = recording_call
    guard_module.Guard.chunk_size = recording_chunk_size


def run_path(name, shape, inputs, recorder, mode):
    import torch
    from boundcheck import runtime
    from vllm.model_executor.layers.fused_moe.utils import fi_moe_largest_bucket

    builder, entry_point, self_chunking = PATHS[name]
    record = {"path": name, "shape": str(shape), "num_experts": shape.experts, "top_k": shape.top_k,
              "tokens": shape.tokens, "max_num_tokens": shape.max_num_tokens, "mode": mode, "entry_point": entry_point,
              "vllm_chunks_itself": self_chunking}
    try:
        experts, run, precision, extra = builder(shape, inputs)
        record.update(extra)
        record["experts_class"] = type(experts).__name__
        record["precision"] = precision
        # vLLM's tune estimate; whether a path passes it is read from the calls (below).
        record["vllm_fi_moe_largest_bucket"] = fi_moe_largest_bucket(experts.moe_config)
        recorder.reset(f"{mode}:{name}:{shape}")
        started = time.perf_counter()
        output = run()
        record["seconds"] = round(time.perf_counter() - started, 3)
        launches = recorder.launches
        # The bound for the call's own counts: precision, experts and top_k as launched, and
        # the tune_max_num_tokens flashinfer's op received (one value per path and shape).
        tunes = sorted({launch["tune_max_num_tokens"] for launch in launches})
        counts = sorted({(launch["num_experts"], launch["top_k"]) for launch in launches})
        if len(tunes) != 1 or counts != [(shape.experts, shape.top_k)]:
            raise AssertionError(f"launches disagree on their counts: tunes {tunes}, (experts, top_k) {counts}")
        tune = record["tune_max_num_tokens"] = tunes[0]
        record["expected_bound"] = runtime.max_chunk_tokens(
            shape.experts, shape.top_k, precision=precision, local_experts=shape.experts,
            tune_max_num_tokens=tune)
        record["grid_bound_uncapped"] = runtime.max_chunk_tokens(
            shape.experts, shape.top_k, precision=precision, local_experts=shape.experts,
            tune_max_num_tokens=tune, cap=None)
        record["launches"] = [launch["tokens"] for launch in launches]
        record["kernels"] = sorted({launch["kernel"] for launch in launches})
        record["max_launch"] = max(record["launches"]) if launches else 0
        record["total_launched"] = sum(record["launches"])
        mismatched = {}
        for launch in launches:
            for key, count in launch["mismatched_inputs"].items():
                mismatched[key] = mismatched.get(key, 0) + count
        record["mismatched_inputs"] = mismatched
        record["launches_contiguous"] = all(launch["contiguous"] for launch in launches)
        record["launch_ranges"] = sorted([launch["first_token"], launch["last_token"]] for launch in launches)
        record["guard_calls"] = [call["tokens"] for call in recorder.guard_calls]
        record["guard_bounds"] = sorted(set(recorder.guard_bounds))
        decoded = decode_digits(output)
        wrong = decoded != inputs.index
        record["output_shape"] = list(output.shape)
        record["rows_wrong"] = int(wrong.sum())
        record["rows_unmarked"] = int((output[:, MARKER_COLUMN].float() != 1.0).sum())
        if record["rows_wrong"]:
            record["first_wrong_row"] = int(torch.nonzero(wrong)[0, 0])
        record["ok"] = True
    except Exception as error:  # reported, and the test fails on it
        record["ok"] = False
        record["error"] = f"{type(error).__name__}: {error}"
        record["traceback"] = traceback.format_exc()[-4000:]
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=400_000)
    parser.add_argument("--shapes", default="512x22,1024x2", help="EXPERTSxTOP_K[@MAX_NUM_TOKENS],...")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--modes", default="control,guarded", help="control and/or guarded, in this order")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--intermediate", type=int, default=64)
    parser.add_argument("--out", help="write the JSON report here (default: stdout)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    import flashinfer
    import flashinfer.fused_moe as fused_moe
    import vllm

    import boundcheck
    from boundcheck import runtime

    recorder = Recorder()
    positions = install_fake_kernels(recorder)
    observe_guard(recorder)
    report = {
        "python": sys.executable,
        "prefix": sys.prefix,
        "boundcheck_file": boundcheck.__file__,
        "runtime_file": runtime.__file__,
        "versions": {"torch": torch.__version__, "flashinfer": flashinfer.__version__, "vllm": vllm.__version__},
        "cuda_available": torch.cuda.is_available(),
        "guarded_release": runtime.guarded_release().describe(),
        "fast_tokens": runtime.SMALLEST_BOUND,
        "kernel_positions": positions,
        "import_seconds": round(time.perf_counter() - started, 2),
        "runs": [],
    }
    shapes = [Shape(text, args.tokens, args.hidden, args.intermediate) for text in args.shapes.split(",") if text]
    paths = [p for p in args.paths.split(",") if p]
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown paths {unknown}; known: {sorted(PATHS)}")

    for mode in [m for m in args.modes.split(",") if m]:
        if mode == "control":
            runtime.uninstall()
            unguarded = {name: not hasattr(getattr(fused_moe, name), "boundcheck_guard")
                         for name in sorted({PATHS[p][1] for p in paths})}
            report["control_installed"] = runtime.installed()
            report["control_unguarded"] = unguarded
        elif mode == "guarded":
            report["installed"] = runtime.install()
        else:
            parser.error(f"unknown mode {mode!r}")
        for shape in shapes:
            inputs = Inputs(shape)
            for name in paths:
                report["runs"].append(run_path(name, shape, inputs, recorder, mode))
            inputs.release()
    report["total_seconds"] = round(time.perf_counter() - started, 2)
    text = json.dumps(report, indent=1, sort_keys=True)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
