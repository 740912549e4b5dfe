"""Chunk-size functions as other engines write them, for `boundcheck audit --target`."""

MAX_GRID_Y = 65535
MAX_TILE_TOKENS_DIM = 128


def vllm_chunk_size(top_k: int, num_experts: int) -> int:
    """vLLM PR #43599's _get_chunk_size for NVFP4 (closure flattened)."""
    return min(300000, (num_experts + (MAX_GRID_Y - num_experts + 1) * MAX_TILE_TOKENS_DIM - 1) // top_k)


def tile64_with_branches(num_experts, top_k, num_fused_shared_experts=0):
    """A correct-for-tile-64 bound written with statements: if/else, +=, local names."""
    k = top_k
    k += num_fused_shared_experts
    experts = num_experts + num_fused_shared_experts
    if experts > MAX_GRID_Y:
        return MAX_GRID_Y // k
    else:
        budget = MAX_GRID_Y - experts + 1
        return (experts + 64 * budget - 1) // k


def uses_a_loop(num_experts, top_k):
    total = 0
    for _ in range(3):
        total += num_experts
    return total // top_k


def unknown_parameter(num_experts, hidden_size):
    return num_experts * hidden_size
