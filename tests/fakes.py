"""Recording stand-ins for flashinfer's entry points, with their exact signatures, and
argument sets for each of the twelve; shared by the runtime tests."""

from __future__ import annotations

import inspect

import torch

from boundcheck.runtime.entry_points import ENTRY_POINTS


def flashinfer_signature(name):
    import pytest

    fused_moe = pytest.importorskip("flashinfer.fused_moe")
    return inspect.signature(getattr(fused_moe, name))


class Recorder:
    """A kernel stand-in: records every call's arguments, writes row r of its output as
    (sum of hidden_states row r) so that a misplaced row shows, and returns what the
    entry point returns."""

    def __init__(self, name, lora_rows_per_token=2):
        self.entry = ENTRY_POINTS[name]
        self.__signature__ = flashinfer_signature(name)
        self.calls = []
        self.lora_rows_per_token = lora_rows_per_token
        self.row_offset = 0  # routes seen by earlier calls (do_finalize=False numbering)

    def __call__(self, *args, **kwargs):
        bound = self.__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        a = dict(bound.arguments)
        self.calls.append(a)
        hidden = a["hidden_states"]
        if not a.get("do_finalize", True):
            return self._unfinalized(a)
        rows = (hidden.view(torch.uint8).to(torch.float32).sum(dim=1, keepdim=True) if hidden.dtype != torch.float32
                else hidden.sum(1, keepdim=True))
        output = a.get("output")
        if output is None:
            width = hidden.shape[1] * (2 if hidden.dtype == torch.uint8 else 1)
            output = torch.empty(hidden.shape[0], width, dtype=torch.bfloat16)
        output.copy_(rows.expand(-1, output.shape[1]).to(torch.bfloat16))
        if a.get("gemm1_lora_delta") is not None:
            m, k = hidden.shape[0], a["top_k"]
            index = torch.arange(m * k, dtype=torch.int32) % (m * self.lora_rows_per_token)
            index[::3] = -1
            activation = torch.arange(m * self.lora_rows_per_token, dtype=torch.float32).unsqueeze(1)
            return [output, index, activation]
        if self.entry.scalar_return:
            return output
        return [output]


    def _unfinalized(self, a):
        """do_finalize=False: [rows, weights, index], flashinfer's contract; route (t, k)
        gets row 3 * (t * top_k + k) + 1 of a padded buffer (holding that route's id
        t * top_k + k), so a misplaced index shows; every fifth route is remote (-1)."""
        m, k = a["hidden_states"].shape[0], a["top_k"]
        routes = torch.arange(m * k, dtype=torch.int32)
        index = torch.where(routes % 5 == 4, -1, 3 * routes + 1).to(torch.int32)
        rows = torch.zeros(3 * m * k + 2, 4, dtype=torch.float32)  # bf16 in flashinfer; ids need float32
        rows[3 * routes + 1] = (routes.to(torch.float32) + self.row_offset).unsqueeze(1)
        self.row_offset += m * k
        weights = torch.arange(m * k, dtype=torch.float32).view(m, k).to(torch.bfloat16)
        return [rows, weights, index]


def make_arguments(name, tokens, *, experts=8, top_k=2, hidden=64, local=None, offset=0, **overrides):
    """Plausible arguments for entry point `name` (CPU tensors; shapes as the launcher wants)."""
    entry = ENTRY_POINTS[name]
    local = experts if local is None else local
    launcher = entry.launcher
    a = {}
    if entry.routed:
        a["topk_ids"] = torch.randint(0, experts, (tokens, top_k), dtype=torch.int32)
    else:
        a["routing_logits"] = torch.randn(tokens, experts)
    if launcher == "fp4":
        a["hidden_states"] = torch.randint(0, 255, (tokens, hidden // 2), dtype=torch.uint8)
        a["hidden_states_scale"] = torch.ones(tokens * hidden // 16, dtype=torch.float32).to(torch.float8_e4m3fn)
        a["gemm1_weights"] = torch.zeros(local, 2 * 32, hidden // 2, dtype=torch.uint8)
        a["gemm1_weights_scale"] = torch.ones(local, 2 * 32, hidden // 16).to(torch.float8_e4m3fn)
        a["gemm2_weights"] = torch.zeros(local, hidden, 16, dtype=torch.uint8)
        a["gemm2_weights_scale"] = torch.ones(local, hidden, 2).to(torch.float8_e4m3fn)
    elif launcher in ("fp8_per_tensor", "fp8_per_channel", "fp8_block"):
        a["hidden_states"] = torch.randn(tokens, hidden).to(torch.float8_e4m3fn)
    else:
        a["hidden_states"] = torch.randn(tokens, hidden).to(torch.bfloat16)
    if launcher == "fp8_per_channel":
        a["hidden_states_scale"] = torch.rand(tokens, 1)
    if launcher == "fp8_block":
        a["hidden_states_scale"] = torch.rand(hidden // 128 if hidden >= 128 else 1, tokens)
    weights = ("gemm1_weights", "gemm2_weights", "gemm1_weights_scale", "gemm2_weights_scale",
               "gemm1_per_channel_weight_scale", "gemm2_per_channel_weight_scale",
               "output1_scales_scalar", "output1_scales_gate_scalar", "output2_scales_scalar",
               "output1_scale_scalar", "output1_scale_gate_scalar", "output2_scale_scalar")
    for p in weights:
        if p in entry.index:
            a.setdefault(p, torch.zeros(1))
    a.update(num_experts=experts, top_k=top_k, n_group=None, topk_group=None, intermediate_size=32,
             local_expert_offset=offset, local_num_experts=local, routed_scaling_factor=None)
    for p in ("routing_bias",):
        if p in entry.index:
            a[p] = None
    if "use_routing_scales_on_input" in entry.index:
        a["use_routing_scales_on_input"] = False
    for p in ("gemm1_bias", "gemm2_bias", "gemm1_alpha", "gemm1_beta", "gemm1_clamp_limit"):
        if p in entry.index:
            a[p] = None
    if launcher == "fp4":
        a["output1_scale_scalar"] = a["output1_scale_gate_scalar"] = a["output2_scale_scalar"] = None
    a.update(overrides)
    return {k: v for k, v in a.items() if k in entry.index}
