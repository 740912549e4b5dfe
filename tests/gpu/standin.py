"""A geometry stand-in for the trtllm-gen batched GEMM: a CUDA kernel launched with the
GEMM's grid (y = the model's CTA count under the release's Y cluster rule), each CTA recording
its blockIdx.y the way ctaIdxXyToBatchIdx is indexed. Needs CuPy and a CUDA GPU.

`StandIn` has the signature of trtllm_fp4_block_scale_routed_moe, so the guard wraps it
as it wraps flashinfer's function. It launches one grid per call on torch's current
stream (so CUDA graphs capture it) and keeps each launch's per-CTA counts.
`TileWork` launches the same grid but makes each CTA read and write its tile of rows,
for timing: its cost grows with the tokens as the GEMM's does.
"""

from __future__ import annotations

import inspect

import cupy
import torch

from boundcheck.bound import effective_counts
from boundcheck.geometry import launched_grid_y, max_num_ctas_in_batch_dim
from boundcheck.resolution import era_for
from boundcheck.tiles import default_tile
from boundcheck.runtime import reference
from boundcheck.runtime.reference import SIGNATURE_RELEASE

# The stand-in launches as the release whose signature it has would (its default tile).
ERA = era_for(SIGNATURE_RELEASE)

_SOURCE = r"""
extern "C" __global__ void record_cta(int* counts) {
    if (threadIdx.x == 0) atomicAdd(&counts[blockIdx.y], 1);
}

extern "C" __global__ void tile_rows(const unsigned short* in, unsigned short* out,
                                     long long rows, int tile, int width) {
    long long first = (long long)blockIdx.y * tile;
    for (int r = 0; r < tile; ++r) {
        long long row = first + r;
        if (row >= rows) return;
        for (int c = threadIdx.x; c < width; c += blockDim.x)
            out[row * width + c] = in[row * width + c] ^ (unsigned short)1;
    }
}
"""
_MODULE = cupy.RawModule(code=_SOURCE)
RECORD = _MODULE.get_function("record_cta")
TILE_ROWS = _MODULE.get_function("tile_rows")


def max_grid_dim_y(device=0) -> int:
    """cudaDevAttrMaxGridDimY, read off the device."""
    return int(cupy.cuda.Device(device).attributes["MaxGridDimY"])


class StandIn:
    """tile: a fixed tile (128 is vLLM's assumption), or "default" for the tile the
    untuned launcher picks at each call's token count (selectDefaultTileN)."""

    def __init__(self, tile=128, precision="nvfp4", cluster_y=1):
        self.tile, self.precision, self.cluster_y = tile, precision, cluster_y
        self.launches = []  # (tokens, ctas, grid_y, per-CTA counts or None)
        self.__signature__ = inspect.signature(reference.trtllm_fp4_block_scale_routed_moe)

    def geometry(self, arguments):
        tokens = arguments["hidden_states"].shape[0]
        counts = effective_counts(arguments["num_experts"], arguments["top_k"], arguments["local_num_experts"],
                                  arguments["num_fused_shared_experts"] or 0)
        tile = self.tile
        if tile == "default":
            tile = default_tile(ERA.tiles[self.precision], tokens, counts.top_k, counts.local_experts, ERA)
        ctas = max_num_ctas_in_batch_dim(tokens, counts.top_k, counts.local_experts, tile)
        return tokens, counts, tile, ctas, launched_grid_y(ctas, self.cluster_y, rule=ERA.grid_cluster)

    def launch(self, grid_y, tokens, counts, tile):
        per_cta = torch.zeros(grid_y, dtype=torch.int32, device="cuda")
        RECORD((1, grid_y, 1), (32, 1, 1), (per_cta.data_ptr(),))
        return per_cta

    def __call__(self, *args, **kwargs):
        bound = self.__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        tokens, counts, tile, ctas, grid_y = self.geometry(arguments)
        with cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream):
            recorded = self.launch(grid_y, tokens, counts, tile)
        self.launches.append((tokens, ctas, grid_y, recorded))
        output = arguments["output"]
        return [output if output is not None else torch.empty(tokens, 0, device="cuda")]


class TileWork(StandIn):
    """The same grid, each CTA reading and writing its `tile` rows of `width` bf16."""

    def __init__(self, max_rows, width=256, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.source = torch.randn(max_rows, width, device="cuda").to(torch.bfloat16)
        self.target = torch.empty_like(self.source)

    def launch(self, grid_y, tokens, counts, tile):
        rows = tokens * counts.top_k  # the expanded tokens, as many rows as the GEMM's M
        TILE_ROWS((1, grid_y, 1), (128, 1, 1), (self.source.data_ptr(), self.target.data_ptr(),
                                                cupy.int64(rows), cupy.int32(tile), cupy.int32(self.width)))
        return None


def routed_arguments(tokens, experts=512, top_k=22, hidden=64, device="cuda"):
    """A routed FP4 call's arguments (NVFP4 dtypes and scale shapes; tiny hidden size: the
    stand-in reads only shapes)."""
    return dict(
        topk_ids=torch.zeros(tokens, top_k, dtype=torch.int32, device=device), routing_bias=None,
        hidden_states=torch.zeros(tokens, hidden // 2, dtype=torch.uint8, device=device),
        hidden_states_scale=torch.zeros(tokens * hidden // 16, dtype=torch.uint8, device=device).view(torch.float8_e4m3fn),
        gemm1_weights=torch.zeros(1, dtype=torch.uint8, device=device),
        gemm1_weights_scale=torch.zeros(experts, 64, hidden // 16, dtype=torch.uint8, device=device).view(torch.float8_e4m3fn),
        gemm1_bias=None, gemm1_alpha=None, gemm1_beta=None, gemm1_clamp_limit=None,
        gemm2_weights=torch.zeros(1, dtype=torch.uint8, device=device), gemm2_weights_scale=torch.zeros(1, device=device),
        gemm2_bias=None, output1_scale_scalar=None, output1_scale_gate_scalar=None, output2_scale_scalar=None,
        num_experts=experts, top_k=top_k, n_group=None, topk_group=None, intermediate_size=32,
        local_expert_offset=0, local_num_experts=experts, routed_scaling_factor=None, routing_method_type=1,
    )
