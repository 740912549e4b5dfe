"""boundcheck: a verified chunk bound for flashinfer's trtllm-gen fused MoE launches.

The model (no solver imports) is what the runtime guard evaluates; `boundcheck prove`
checks the same functions with Z3 and sympy.
"""

from .bound import ChunkBound, chunk_bound, max_chunk_tokens
from .errors import BoundcheckInputError
from .facts import GRID_DIM_Y_MAX
from .releases import MODELED_VERSIONS, NEWEST
from .resolution import era_for
from .tiles import PRECISIONS

__all__ = [
    "BoundcheckInputError",
    "ChunkBound",
    "GRID_DIM_Y_MAX",
    "MODELED_VERSIONS",
    "NEWEST",
    "PRECISIONS",
    "chunk_bound",
    "era_for",
    "max_chunk_tokens",
]
