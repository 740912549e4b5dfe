"""A reference NVFP4 fused MoE in pure PyTorch (CPU or GPU), batch-invariant by design.

It has the signatures of flashinfer 0.7.2.post1's (SIGNATURE_RELEASE)
`trtllm_fp4_block_scale_moe` and `trtllm_fp4_block_scale_routed_moe` and their semantics: E2M1 values with FP8 E4M3
16-element block scales and per-expert global scales; routing methods Default,
Renormalize(Naive), TopK and DeepSeekV3 (groups, bias, routed scaling, fused shared
experts); activations SwiGLU and ReLU2; expert parallelism; per-token scales;
routing replay. It is the oracle for running the guard end to end where flashinfer's
Blackwell kernels cannot run.

Batch invariance: a token's output must not depend on which other tokens share its call,
or chunked and unchunked runs could differ. So nothing here depends on the batch shape:
- a GEMM over K <= 1024 is one float64 matmul of integer-scaled operands whose every
  partial sum is an integer below 2^53, so exact in any summation order; for larger K,
  each 16-element block product is an exact float32 matmul and blocks are combined in
  float64 in a fixed order, elementwise;
- exp is computed from +, -, *, / and a power-of-two bit pattern (each exactly rounded,
  the same in vectorized and scalar code), never from a library exp;
- sums over experts or slots run in a fixed order, elementwise; top-k uses a stable sort.

Weight layout (its own, documented here; flashinfer's shuffled layout is not modelled):
- gemm1_weights uint8 [L + S, N1, H / 2], two E2M1 codes per byte, low nibble first, where
  N1 = 2 * I for SwiGLU (rows [0, I) the gate, [I, 2I) the up projection) and I for ReLU2;
  gemm1_weights_scale float8_e4m3fn [L + S, N1, H / 16];
- gemm2_weights uint8 [L + S, H, I / 2]; gemm2_weights_scale float8_e4m3fn [L + S, H, I / 16];
- output1_scale_scalar / output1_scale_gate_scalar / output2_scale_scalar float32 [L + S]:
  the global dequantization scales of GEMM1's up (or only) half, its gate half, GEMM2.
Hidden states are uint8 [M, H / 2] with float8_e4m3fn scales [M, H / 16] (or flat), linear.
The intermediate activation is re-quantized to NVFP4 (block amax / 6) before GEMM2.
"""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch

SWIGLU, RELU2 = 3, 6
DEFAULT, RENORMALIZE, DEEPSEEK_V3, RENORMALIZE_NAIVE, TOPK = 0, 1, 2, 4, 5
# The flashinfer release whose entry-point signatures these functions have: guard them
# with guard(..., flashinfer=SIGNATURE_RELEASE) where another release is installed or none.
SIGNATURE_RELEASE = "0.7.2.post1"
BLOCK = 16
E2M1_MAGNITUDES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
_THRESHOLDS = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)  # round half down between magnitudes
_ROW_TILE = 4096  # rows per block-product, to bound memory (rows are independent)
EXACT_K = 1024  # contraction widths up to which one float64 matmul is exact (see _block_matmul)

# --- deterministic elementwise math --------------------------------------------------

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_TAYLOR = [1.0 / float(__import__("math").factorial(i)) for i in range(14)]


def exp(x: torch.Tensor) -> torch.Tensor:
    """exp in float64 from exactly rounded operations only (|relative error| < 1e-15)."""
    x = x.to(torch.float64).clamp(-700.0, 700.0)
    n = torch.round(x * _INV_LN2)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = torch.full_like(r, _EXP_TAYLOR[13])
    for c in reversed(_EXP_TAYLOR[:13]):
        p = p * r + c
    two_n = ((n.to(torch.int64) + 1023) << 52).view(torch.float64)
    return p * two_n


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + exp(-x.to(torch.float64)))


def _ordered_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum over the last dimension, left to right, elementwise (no reduction kernel)."""
    total = torch.zeros(x.shape[:-1], dtype=torch.float64, device=x.device)
    for j in range(x.shape[-1]):
        total = total + x[..., j]
    return total


def softmax(x: torch.Tensor) -> torch.Tensor:
    x = x.to(torch.float64)
    e = exp(x - x.amax(dim=-1, keepdim=True))
    return e / _ordered_sum(e).unsqueeze(-1)


def topk(scores: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The k largest per row, ties to the lower index (a stable sort)."""
    values, indices = torch.sort(scores, dim=-1, descending=True, stable=True)
    return values[..., :k], indices[..., :k]


# --- NVFP4 encoding -------------------------------------------------------------------

def unpack_e2m1(packed: torch.Tensor) -> torch.Tensor:
    """uint8 [..., n/2] -> float32 [..., n]: two E2M1 codes a byte, low nibble first."""
    codes = torch.stack([packed & 0xF, packed >> 4], dim=-1).flatten(-2).to(torch.int64)
    table = torch.tensor(E2M1_MAGNITUDES, dtype=torch.float32, device=packed.device)
    magnitude = table[codes & 7]
    return torch.where((codes & 8) != 0, -magnitude, magnitude)


def e2m1_codes(values: torch.Tensor) -> torch.Tensor:
    """Nearest E2M1 code (saturating at 6) of each value."""
    magnitude = values.abs()
    code = torch.zeros(values.shape, dtype=torch.uint8, device=values.device)
    for threshold in _THRESHOLDS:
        code = code + (magnitude > threshold).to(torch.uint8)
    return code | ((values < 0).to(torch.uint8) << 3)


def pack_e2m1(codes: torch.Tensor) -> torch.Tensor:
    pairs = codes.view(*codes.shape[:-1], codes.shape[-1] // 2, 2)
    return pairs[..., 0] | (pairs[..., 1] << 4)


def quantize_nvfp4(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """x [..., n] -> (packed uint8 [..., n/2], float8_e4m3fn block scales [..., n/16])."""
    blocks = x.to(torch.float64).reshape(*x.shape[:-1], x.shape[-1] // BLOCK, BLOCK)
    amax = blocks.abs().amax(dim=-1)
    scale = (amax / 6.0).clamp(2.0**-9, 448.0).to(torch.float8_e4m3fn)
    q = blocks / scale.to(torch.float64).unsqueeze(-1)
    codes = e2m1_codes(q).reshape(x.shape)
    return pack_e2m1(codes), scale


def _integer_scaled(values, scales):
    """E2M1 values times their E4M3 block scales, as exact integers (in float64): 2 * e2m1
    is an integer in [-12, 12] and 512 * e4m3 an integer in [1, 229376] (E4M3's smallest
    subnormal is 2^-9), so the product is an integer of magnitude below 2^21.4."""
    expanded = torch.repeat_interleave(scales.to(torch.float64) * 512.0, BLOCK, dim=-1)
    return (values.to(torch.float64) * 2.0) * expanded


def _block_matmul(a_values, a_scales, w_values, w_scales) -> torch.Tensor:
    """sum_k (a[m,k] a_scale[m,k/16]) (w[n,k] w_scale[n,k/16]), batch-invariant.

    a_values [m, K], a_scales [m, K/16]; w_values [N, K], w_scales [N, K/16] (float32).
    Up to K = EXACT_K the float64 matmul of the integer-scaled operands is exact whatever
    order the library sums in: every partial sum is an integer below 1024 * 2^42.8 < 2^53.
    Beyond that, exact per-block products are combined block by block in a fixed order."""
    m, width = a_values.shape
    if width <= EXACT_K:
        a = _integer_scaled(a_values, a_scales)
        w = _integer_scaled(w_values, w_scales)
        return (a @ w.T) * 2.0**-20
    n, blocks = w_values.shape[0], width // BLOCK
    out = torch.zeros(m, n, dtype=torch.float64, device=a_values.device)
    w3 = w_values.view(n, blocks, BLOCK).permute(1, 2, 0)  # [b, 16, N]
    ws = w_scales.to(torch.float64)
    for start in range(0, m, _ROW_TILE):
        stop = min(start + _ROW_TILE, m)
        a3 = a_values[start:stop].view(stop - start, blocks, BLOCK).transpose(0, 1)  # [b, rows, 16]
        inner = torch.bmm(a3, w3)  # exact: multiples of 1/4, |partial sums| <= 576
        scales = a_scales[start:stop].to(torch.float64)
        acc = torch.zeros(stop - start, n, dtype=torch.float64, device=a_values.device)
        for b in range(blocks):
            acc = acc + inner[b].to(torch.float64) * (scales[:, b : b + 1] * ws[:, b].unsqueeze(0))
        out[start:stop] = acc
    return out


# --- routing --------------------------------------------------------------------------

def route(
    logits: torch.Tensor,
    top_k: int,
    method: int,
    routing_bias: Optional[torch.Tensor] = None,
    n_group: Optional[int] = None,
    topk_group: Optional[int] = None,
    routed_scaling_factor: Optional[float] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(expert ids int64 [M, top_k], weights float64 [M, top_k]) for the routing method."""
    logits = logits.to(torch.float64)
    if method == DEFAULT:
        weights, ids = topk(softmax(logits), top_k)
        return ids, weights
    if method in (RENORMALIZE, RENORMALIZE_NAIVE):
        values, ids = topk(logits, top_k)
        return ids, softmax(values)
    if method == TOPK:
        values, ids = topk(logits, top_k)
        return ids, values
    if method == DEEPSEEK_V3:
        scores = sigmoid(logits)
        biased = scores + (routing_bias.to(torch.float64) if routing_bias is not None else 0.0)
        if n_group is not None and n_group > 1:
            groups = biased.view(biased.shape[0], n_group, -1)
            best_two, _ = topk(groups, 2)
            group_scores = best_two[..., 0] + best_two[..., 1]
            _, chosen = topk(group_scores, topk_group)
            allowed = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, chosen, True)
            mask = allowed.unsqueeze(-1).expand_as(groups).reshape_as(biased)
            biased = torch.where(mask, biased, torch.full_like(biased, float("-inf")))
        _, ids = topk(biased, top_k)
        chosen_scores = torch.gather(scores, 1, ids)
        scale = routed_scaling_factor if routed_scaling_factor is not None else 1.0
        return ids, chosen_scores / _ordered_sum(chosen_scores).unsqueeze(-1) * scale
    raise NotImplementedError(
        f"routing_method_type {method}: the reference routes Default (0), Renormalize (1), "
        "DeepSeekV3 (2), RenormalizeNaive (4) and TopK (5)"
    )


def unpack_routing(topk_ids) -> Tuple[torch.Tensor, torch.Tensor]:
    """Precomputed routing: (ids, weights) or packed int32 (expert << 16) | bf16 weight bits."""
    if isinstance(topk_ids, tuple):
        ids, weights = topk_ids
        return ids.to(torch.int64), weights.to(torch.float64)
    packed = topk_ids.to(torch.int32)
    ids = (packed >> 16).to(torch.int64)
    weights = (packed & 0xFFFF).to(torch.int16).view(torch.bfloat16).to(torch.float64)
    return ids, weights


# --- the MoE --------------------------------------------------------------------------

_UNMODELLED = ("gemm1_bias", "gemm1_alpha", "gemm1_beta", "gemm1_clamp_limit", "gemm2_bias",
               "gemm1_lora_delta", "valid_hidden_size", "valid_intermediate_size")


def _check_supported(arguments):
    for name in _UNMODELLED:
        if arguments.get(name) is not None:
            raise NotImplementedError(f"{name} is not modelled by the reference kernel")
    if not arguments["do_finalize"] and arguments.get("output") is not None:
        raise NotImplementedError("do_finalize=False writes no output: pass output=None")


def _moe(
    ids, weights, *, hidden_states, hidden_states_scale, gemm1_weights, gemm1_weights_scale,
    gemm2_weights, gemm2_weights_scale, output1_scale_scalar, output1_scale_gate_scalar,
    output2_scale_scalar, num_experts, intermediate_size, local_expert_offset, local_num_experts,
    activation_type, per_token_scale, output, num_fused_shared_experts, do_finalize=True, **unused,
):
    if hidden_states.dtype != torch.uint8:
        raise NotImplementedError("the reference kernel takes NVFP4 (uint8) hidden states")
    if activation_type not in (SWIGLU, RELU2):
        raise NotImplementedError(f"activation_type {activation_type}: the reference runs SwiGLU (3) and ReLU2 (6)")
    device = hidden_states.device
    tokens, hidden = hidden_states.shape[0], hidden_states.shape[1] * 2
    shared = num_fused_shared_experts or 0
    if shared:  # every token also goes to each fused shared expert, with weight 1
        shared_ids = num_experts + torch.arange(shared, device=device).expand(tokens, shared)
        ids = torch.cat([ids, shared_ids], dim=1)
        weights = torch.cat([weights, torch.ones(tokens, shared, dtype=torch.float64, device=device)], dim=1)
    a_values = unpack_e2m1(hidden_states)
    a_scales = hidden_states_scale.reshape(tokens, hidden // BLOCK).to(torch.float32)
    result = torch.zeros(tokens, hidden, dtype=torch.float64, device=device)
    unfinalized = _Unfinalized(tokens, ids.shape[1], hidden, device) if not do_finalize else None
    gated = activation_type == SWIGLU
    # Experts in a fixed order: each token sums its experts' outputs in increasing id.
    for local in range(local_num_experts + shared):
        expert = local_expert_offset + local if local < local_num_experts else num_experts + local - local_num_experts
        token_idx, slot = (ids == expert).nonzero(as_tuple=True)
        if token_idx.numel() == 0:
            continue
        w1 = unpack_e2m1(gemm1_weights[local])
        h1 = _block_matmul(a_values[token_idx], a_scales[token_idx], w1, gemm1_weights_scale[local].to(torch.float32))
        if per_token_scale is not None:
            h1 = h1 * per_token_scale.to(torch.float64)[token_idx].unsqueeze(1)
        up_scale = float(output1_scale_scalar[local]) if output1_scale_scalar is not None else 1.0
        if gated:
            gate_scale = float(output1_scale_gate_scalar[local]) if output1_scale_gate_scalar is not None else up_scale
            gate = h1[:, :intermediate_size] * gate_scale
            up = h1[:, intermediate_size:] * up_scale
            activated = gate * sigmoid(gate) * up
        else:
            activated = torch.clamp(h1 * up_scale, min=0.0) ** 2
        packed, scales = quantize_nvfp4(activated)
        w2 = unpack_e2m1(gemm2_weights[local])
        h2 = _block_matmul(unpack_e2m1(packed), scales.to(torch.float32), w2, gemm2_weights_scale[local].to(torch.float32))
        if output2_scale_scalar is not None:
            h2 = h2 * float(output2_scale_scalar[local])
        if unfinalized is not None:
            unfinalized.add_expert(token_idx, slot, h2)
            continue
        result[token_idx] = result[token_idx] + weights[token_idx, slot].unsqueeze(1) * h2
    if unfinalized is not None:
        return unfinalized.result(weights)
    if output is None:
        output = torch.empty(tokens, hidden, dtype=torch.bfloat16, device=device)
    output.copy_(result[:, : output.shape[1]].to(torch.bfloat16))
    return [output]


# Rows of one expert in the unfinalized output are padded to a multiple of this, as the
# kernels pad each expert's rows to its tile (the value is the reference's own choice;
# consumers index rows through the map and never rely on the count).
UNFINALIZED_PADDING = 8


class _Unfinalized:
    """do_finalize=False: [gemm2 rows (bf16, permuted: local experts in order, each
    expert's routes in token order, padded with zero rows), expert weights (bf16,
    [M, top_k']), expanded_idx_to_permuted_idx (int32, [M * top_k'], -1 for a route to
    no local expert)], flashinfer's result contract (fused_moe/shared/inputs.py)."""

    def __init__(self, tokens, slots, hidden, device):
        self.slots, self.hidden, self.device = slots, hidden, device
        self.index = torch.full((tokens * slots,), -1, dtype=torch.int32, device=device)
        self.blocks, self.rows = [], 0

    def add_expert(self, token_idx, slot, h2):
        count = token_idx.numel()
        padded = -(-count // UNFINALIZED_PADDING) * UNFINALIZED_PADDING
        block = torch.zeros(padded, self.hidden, dtype=torch.bfloat16, device=self.device)
        block[:count] = h2.to(torch.bfloat16)
        self.index[token_idx * self.slots + slot] = torch.arange(self.rows, self.rows + count, dtype=torch.int32, device=self.device)
        self.blocks.append(block)
        self.rows += padded

    def result(self, weights):
        rows = torch.cat(self.blocks) if self.blocks else torch.empty(0, self.hidden, dtype=torch.bfloat16, device=self.device)
        return [rows, weights.to(torch.bfloat16), self.index]


def finalize(rows: torch.Tensor, weights: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The top-k reduction a consumer of do_finalize=False runs: out[t] = sum over k of
    weights[t, k] * rows[index[t * top_k + k]], skipping -1, in float64 and slot order,
    rounded to bf16 once."""
    tokens, slots = weights.shape
    index = index.view(tokens, slots).to(torch.int64)
    out = torch.zeros(tokens, rows.shape[1], dtype=torch.float64, device=rows.device)
    for k in range(slots):
        local = index[:, k] >= 0
        gathered = rows[index[:, k].clamp(min=0)].to(torch.float64)
        out = out + torch.where(local.unsqueeze(1), weights[:, k].to(torch.float64).unsqueeze(1) * gathered, 0.0)
    return out.to(torch.bfloat16)


def trtllm_fp4_block_scale_moe(
    routing_logits: torch.Tensor,
    routing_bias: Optional[torch.Tensor],
    hidden_states: torch.Tensor,
    hidden_states_scale: Optional[torch.Tensor],
    gemm1_weights: torch.Tensor,
    gemm1_weights_scale: torch.Tensor,
    gemm1_bias: Optional[torch.Tensor],
    gemm1_alpha: Optional[torch.Tensor],
    gemm1_beta: Optional[torch.Tensor],
    gemm1_clamp_limit: Optional[torch.Tensor],
    gemm2_weights: torch.Tensor,
    gemm2_weights_scale: torch.Tensor,
    gemm2_bias: Optional[torch.Tensor],
    output1_scale_scalar: Optional[torch.Tensor],
    output1_scale_gate_scalar: Optional[torch.Tensor],
    output2_scale_scalar: Optional[torch.Tensor],
    num_experts: int,
    top_k: int,
    n_group: Optional[int],
    topk_group: Optional[int],
    intermediate_size: int,
    local_expert_offset: int,
    local_num_experts: int,
    routed_scaling_factor: Optional[float],
    routing_method_type: int = 0,
    do_finalize: bool = True,
    enable_pdl: Optional[bool] = None,
    activation_type: int = SWIGLU,
    per_token_scale: Optional[torch.Tensor] = None,
    output: Optional[torch.Tensor] = None,
    tune_max_num_tokens: int = 8192,
    norm_topk_prob: bool = True,
    routing_replay_out: Optional[torch.Tensor] = None,
    num_fused_shared_experts: Optional[int] = None,
    valid_hidden_size: Optional[int] = None,
    valid_intermediate_size: Optional[int] = None,
    hidden_states_scale_layout=None,
) -> List[torch.Tensor]:
    """Reference for flashinfer.fused_moe.trtllm_fp4_block_scale_moe (routing inside)."""
    arguments = dict(locals())
    _check_supported(arguments)
    ids, weights = route(routing_logits, top_k, routing_method_type, routing_bias, n_group, topk_group,
                         routed_scaling_factor)
    if routing_replay_out is not None:
        routing_replay_out[: ids.shape[0]].copy_(ids.to(torch.int16))
    return _moe(ids, weights, **arguments)


def trtllm_fp4_block_scale_routed_moe(
    topk_ids: Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]],
    routing_bias: Optional[torch.Tensor],
    hidden_states: torch.Tensor,
    hidden_states_scale: Optional[torch.Tensor],
    gemm1_weights: torch.Tensor,
    gemm1_weights_scale: torch.Tensor,
    gemm1_bias: Optional[torch.Tensor],
    gemm1_alpha: Optional[torch.Tensor],
    gemm1_beta: Optional[torch.Tensor],
    gemm1_clamp_limit: Optional[torch.Tensor],
    gemm2_weights: torch.Tensor,
    gemm2_weights_scale: torch.Tensor,
    gemm2_bias: Optional[torch.Tensor],
    output1_scale_scalar: Optional[torch.Tensor],
    output1_scale_gate_scalar: Optional[torch.Tensor],
    output2_scale_scalar: Optional[torch.Tensor],
    num_experts: int,
    top_k: int,
    n_group: Optional[int],
    topk_group: Optional[int],
    intermediate_size: int,
    local_expert_offset: int,
    local_num_experts: int,
    routed_scaling_factor: Optional[float],
    routing_method_type: int = 0,
    do_finalize: bool = True,
    enable_pdl: Optional[bool] = None,
    activation_type: int = SWIGLU,
    per_token_scale: Optional[torch.Tensor] = None,
    output: Optional[torch.Tensor] = None,
    tune_max_num_tokens: int = 8192,
    gemm1_lora_delta: Optional[torch.Tensor] = None,
    valid_hidden_size: Optional[int] = None,
    valid_intermediate_size: Optional[int] = None,
    num_fused_shared_experts: Optional[int] = None,
    hidden_states_scale_layout=None,
) -> List[torch.Tensor]:
    """Reference for flashinfer.fused_moe.trtllm_fp4_block_scale_routed_moe (precomputed routing)."""
    arguments = dict(locals())
    _check_supported(arguments)
    ids, weights = unpack_routing(topk_ids)
    return _moe(ids, weights, **arguments)
