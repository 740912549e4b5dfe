"""flashinfer's releases as data: what each geometry era decides, and where it says so.

Trust: each era's facts were read in that era's shipped sources (`pip download --no-deps
flashinfer-python==V`; paths are relative to the `flashinfer/` package). The model
functions take an `Era` and branch only on its fields; no code anywhere compares
version strings except the lookups by version (`modeled_era` below, and
boundcheck.resolution, which adds the user's adoptions and the installed release). `boundcheck drift` re-reads an era's facts from
a flashinfer folder and names the era whose facts it matches.

Modeled: every release that ships trtllm-gen MoE, 0.2.8 to 0.7.4. Up to 0.4.1 the tile
is the caller's `tile_tokens_dim` (default 8; 0.4.1's FP4 picks it in Python when the
caller passes None) and, up to 0.4.0, runner.h has another CTA formula and the grid is
not rounded to the cluster; from 0.5.0 C++ picks the tile.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import BoundcheckInputError
from .installed import release_of
from .facts import LAUNCHER, RUNNER_H, Source
from .variants import Buckets, Center, CtaFormula, GridCluster, TileSource, TunedTileLaunchers

FUSED_MOE_CORE = "fused_moe/core.py"
FUSED_MOE_UTILS = "fused_moe/utils.py"
BACKEND_RUNNER = "fused_moe/backends/trtllm/sm100_runner.py"

_POW2_TO_128 = (8, 16, 32, 64, 128)
_POW2_TO_64 = (8, 16, 32, 64)


@dataclass(frozen=True)
class Fp4Rule:
    """FP4BlockScaleLauncher's supported tiles as a function of the deduced dtypes:
    {8, 16, 32, 64}, then 128 when dtype_act != Bfloat16, then 192 and 256 as below.
    A "pair" is (E2m1 weights, E2m1 act) or the MX pair named by `pair_mx`."""

    tile_192: str | None  # None | "pairs" | "pairs, nvfp4 without per-token scaling"
    tile_256: str  # "not bf16" | "pairs"
    pair_mx: tuple[str, str]  # (weights, act) of the MX pair that gets 192/256


@dataclass(frozen=True)
class Routing:
    """What the routing kernels of an era accept (checked by the guard before a launch;
    the proofs cover the widest era's domain, which contains every narrower one)."""

    max_experts: int
    max_top_k: int
    deepseek_grouped_experts: int
    deepseek_grouped_top_k: int
    deepseek_groups: int
    deepseek_topk_groups: int
    llama4_experts: int = 128
    llama4_top_k: int = 1
    policy_tiers: bool = False  # whether facts.ROUTING_POLICY_TIERS applies


_VARIANTS = {"center": Center, "buckets": Buckets, "tile_source": TileSource, "cta_formula": CtaFormula,
             "grid_cluster": GridCluster, "tuned_tile_launchers": TunedTileLaunchers}


@dataclass(frozen=True, repr=False)
class Era:
    """One stretch of releases whose launch geometry is the same."""

    name: str
    versions: tuple[str, ...]
    # precision -> the tiles its launcher supports (only precisions the era can run)
    tiles: dict = field(hash=False, compare=False)
    fp4: Fp4Rule
    # computeSelectedTileN's centre (variants.Center)
    center: Center
    # smaller neighbours in the tuner's candidate set (the default tile always takes 1)
    tuner_smaller: int
    # 0.7.4: under EP the tuner also offers the tile covering n*K/num_experts (global)
    global_tile: bool
    # 0.5.3-0.6.6: launchers exist only for the runtime candidates (launchers_map.at throws)
    tuned_tile_checked: bool
    buckets: Buckets  # the autotuner's bucket map (variants.Buckets)
    tune_max_default: int
    # launchers with num_fused_shared_experts (their GEMMs add them to top_k and experts)
    shared_experts: frozenset
    routing: Routing
    entry_points: tuple[str, ...]
    # 0.7.4: trtllm_fp4_block_scale_routed_moe(routing_metadata=...) runs the metadata's tile
    routing_metadata_tile: bool
    sources: dict = field(hash=False, compare=False)
    # 0.6.18+: FLASHINFER_DIST_AWARE_AUTOTUNE (fused_moe/da_config.py) lets the
    # distribution-aware tuner run tiles outside the candidate rule
    dist_aware_switch: bool = False
    # where the tile comes from (variants.TileSource: the launcher's pick, or up to 0.4.1 the caller's)
    tile_source: TileSource = TileSource.LAUNCHER
    # up to 0.4.1: the tile when the caller passes none
    caller_default_tile: int | None = None
    # 0.4.1: precisions whose tile_tokens_dim=None runs calculate_tile_tokens_dim(n, E, K,
    # max_tile) in Python; the precision's largest tile is max_tile
    caller_heuristic: frozenset = frozenset()
    # runner.h getMaxNumCtasInBatchDim (variants.CtaFormula: permuted_min up to 0.4.0, filled)
    cta_formula: CtaFormula = CtaFormula.FILLED
    # How BatchedGemmInterface.h getGridDim turns the token CTAs into grid.y for a Y
    # cluster size y (variants.GridCluster: ignored up to 0.4.0, round_up 0.4.1 - 0.6.10,
    # multiply from 0.6.11). GRID_ARTIFACTS says where each was read.
    grid_cluster: GridCluster = GridCluster.MULTIPLY
    # Which tiles the launcher builds a launcher (runner) for (variants.TunedTileLaunchers:
    # the candidate set 0.5.0 - 0.6.6, every tile from 0.6.7). With tuned_tile_checked False and candidates
    # (0.5.0 - 0.5.2) a tuned tile outside the set is undefined behaviour, counted as launched.
    tuned_tile_launchers: TunedTileLaunchers = TunedTileLaunchers.CANDIDATES
    # resolveMoeTileAndConfig keeps a tactic's tile whose config is -1 (0.7.4); before, such
    # a tactic falls back to the default tile, as one without a tile does
    keeps_explicit_tile: bool = False

    def __post_init__(self):
        # the variants as their Enums, whatever spelling built the record (a word is a member's value)
        for name, kind in _VARIANTS.items():
            object.__setattr__(self, name, kind(getattr(self, name)))

    def __repr__(self) -> str:
        return f"Era({self.name}: flashinfer {self.span})"

    @property
    def first(self) -> str:
        return self.versions[0]

    @property
    def last(self) -> str:
        return self.versions[-1]

    @property
    def span(self) -> str:
        return self.first if self.first == self.last else f"{self.first} - {self.last}"

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.tiles)

    def geometry_key(self) -> tuple:
        """What the proofs depend on besides a precision's tiles: eras with equal keys
        (and equal tiles) share their queries."""
        if self.tile_source.from_caller:
            return ("caller", self.cta_formula, self.grid_cluster)
        return (self.center, self.tuner_smaller, self.global_tile, self.tuned_tile_checked, self.buckets)

    def uses_caller_heuristic(self, precision: str) -> bool:
        return precision in self.caller_heuristic


# --- FP4 tile sets ----------------------------------------------------------------------

BFLOAT16, E2M1, MX_E2M1, E4M3, MX_E4M3 = "Bfloat16", "E2m1", "MxE2m1", "E4m3", "MxE4m3"


def fp4_launcher_tiles(rule: Fp4Rule, dtype_act, dtype_weights, per_token_scaling=False) -> tuple[int, ...]:
    """FP4BlockScaleLauncher::getSupportedTileNums of the era whose rule this is."""
    tiles = list(_POW2_TO_64)
    nv_pair = dtype_weights == E2M1 and dtype_act == E2M1
    mx_pair = (dtype_weights, dtype_act) == rule.pair_mx
    if dtype_act != BFLOAT16:
        tiles.append(128)
        if rule.tile_192 == "pairs" and (nv_pair or mx_pair):
            tiles.append(192)
        elif rule.tile_192 is not None and ((nv_pair and not per_token_scaling) or mx_pair):
            tiles.append(192)
        if rule.tile_256 == "not bf16":
            tiles.append(256)
    if rule.tile_256 == "pairs" and (nv_pair or mx_pair):
        tiles.append(256)
    return tuple(tiles)


# The FP4 precisions by the dtypes the launcher deduces (act, weights, per-token scaling).
FP4_PRECISIONS = {
    "nvfp4": (E2M1, E2M1, False),
    "nvfp4_per_token": (E2M1, E2M1, True),
    "mxfp4_mxfp8": (MX_E4M3, MX_E2M1, False),
    "mxfp4_bf16": (BFLOAT16, MX_E2M1, False),
}
ALL_PRECISIONS = (
    "nvfp4", "nvfp4_per_token", "mxfp4_mxfp8", "mxfp4_bf16", "bf16", "fp8_per_tensor",
    "fp8_per_channel", "fp8_block", "mxfp8", "mxint4",
)


def _tiles(fp4: Fp4Rule, **launchers) -> dict:
    """precision -> tiles, from the FP4 rule and the other launchers' sets (None: absent)."""
    out = {name: fp4_launcher_tiles(fp4, *dtypes) for name, dtypes in FP4_PRECISIONS.items()}
    for name in ALL_PRECISIONS:
        if name in launchers and launchers[name] is not None:
            out[name] = tuple(launchers[name])
    return {name: out[name] for name in ALL_PRECISIONS if name in out}


# --- the table ----------------------------------------------------------------------------

_ENTRY_0_5 = ("trtllm_fp8_per_tensor_scale_moe", "trtllm_fp8_block_scale_moe",
              "trtllm_fp4_block_scale_moe", "trtllm_fp4_block_scale_routed_moe")
_ENTRY_0_5_3 = _ENTRY_0_5 + ("trtllm_bf16_moe",)
_ENTRY_0_6_0 = _ENTRY_0_5_3 + ("trtllm_mxint4_block_scale_moe",)
_ENTRY_0_6_3 = _ENTRY_0_6_0 + ("trtllm_fp8_block_scale_routed_moe",)
_ENTRY_0_6_5 = _ENTRY_0_6_3 + ("trtllm_bf16_routed_moe",)
_ENTRY_0_6_13 = _ENTRY_0_6_5 + ("trtllm_mxint4_block_scale_routed_moe",)
_ENTRY_0_6_17 = _ENTRY_0_6_13 + ("trtllm_fp8_per_tensor_scale_routed_moe",)
_ENTRY_0_7_0 = _ENTRY_0_6_17 + ("trtllm_fp8_per_channel_scale_moe", "trtllm_fp8_per_channel_scale_routed_moe")

_ROUTING_0_5 = Routing(512, 10, 384, 8, 8, 4)
_ROUTING_0_6_3 = Routing(512, 22, 512, 22, 8, 4)
_ROUTING_0_6_7 = Routing(2048, 32, 512, 22, 8, 4)

_FP4_0_5_0 = Fp4Rule(tile_192=None, tile_256="none", pair_mx=(MX_E2M1, MX_E4M3))
_FP4_0_5_2 = Fp4Rule(tile_192=None, tile_256="pairs", pair_mx=(MX_E2M1, MX_E4M3))
_FP4_0_5_3 = Fp4Rule(tile_192=None, tile_256="not bf16", pair_mx=(MX_E2M1, MX_E4M3))
_FP4_0_6_16 = Fp4Rule(tile_192="pairs", tile_256="not bf16", pair_mx=(MX_E2M1, MX_E4M3))
_FP4_0_6_18 = Fp4Rule(tile_192="pairs, nvfp4 without per-token scaling", tile_256="not bf16",
                      pair_mx=(MX_E2M1, MX_E4M3))

_SOURCES_0_5_0 = {
    "cta_formula": Source(RUNNER_H, "getMaxNumCtasInBatchDim"),
    "candidate_rule": Source(LAUNCHER, "computeSelectedTileN: clamp(nextPowerOfTwo(float avg)); {t/2, t, 2t, 4t}"),
    "default_tile": Source(LAUNCHER, "trtllm_*_moe: if (tile_N == -1 || config == -1) tile_N = *selected_tile_nums.begin()"),
    "tuned_tile": Source(LAUNCHER, "trtllm_*_moe: mRunners built for selected_tile_nums, used as *mRunners[tile_N] (unchecked)"),
    "tiles": Source(LAUNCHER, "trtllm_fp8_per_tensor_scale_moe / trtllm_fp8_block_scale_moe / trtllm_fp4_block_scale_moe: mSupportedTileN"),
    "buckets": Source(FUSED_MOE_CORE, "refine_tuning_config: min(last_positive_power_of_2(x), tune_max_num_tokens)"),
    "tune_max_default": Source(FUSED_MOE_CORE, "tune_max_num_tokens: int = 8192"),
    "counts": Source(LAUNCHER, "args.local_num_experts, args.top_k (no fused shared experts)"),
    "routing": Source("data/csrc/trtllm_fused_moe_routing_renormalize.cu", "NumExpertsLimit = 512, MaxNumTopExperts = 10"),
}


def _next(previous: Era, name: str, versions, **changes) -> Era:
    """The era after `previous`: the same facts but those named (sources merged)."""
    sources = dict(previous.sources)
    sources.update(changes.pop("sources", {}))
    return dataclasses.replace(previous, name=name, versions=tuple(versions), sources=sources, **changes)


# --- 0.2.8 - 0.4.1: the caller's tile --------------------------------------------------

_ENTRY_0_2_8 = ("trtllm_fp8_per_tensor_scale_moe", "trtllm_fp8_block_scale_moe")
_ENTRY_0_2_9 = _ENTRY_0_2_8 + ("trtllm_fp4_block_scale_moe",)
_ENTRY_0_2_10 = _ENTRY_0_2_9 + ("trtllm_fp4_block_scale_routed_moe",)
# Up to 0.4.1 the routing kernels take at most 8 experts per token (TORCH_CHECK(top_k <= 8));
# 0.2.9 adds TORCH_CHECK(num_experts <= 256) (DeepSeek's grouped routing). DeepSeek's expert
# groups: `mNumExpertGroups <= NumWarps`, NumThreads / 32 = 8 (12 from 0.4.0's 384 threads;
# MaxNumGroups = 8 from 0.5.0); its top groups: MaxNumTopGroups = 4.
_ROUTING_0_2 = Routing(256, 8, 256, 8, 8, 4)
_FP4_CALLER = Fp4Rule(tile_192=None, tile_256="none", pair_mx=(MX_E2M1, MX_E4M3))
_CALLER_FP8 = {"fp8_per_tensor": _POW2_TO_64, "fp8_block": _POW2_TO_64}
_CALLER_NVFP4 = {"nvfp4": _POW2_TO_64}
_CALLER_FP4 = {"nvfp4": _POW2_TO_64, "mxfp4_mxfp8": _POW2_TO_64, "mxfp4_bf16": _POW2_TO_64}
RUNNER_CU = "data/csrc/trtllm_fused_moe_runner.cu"
# In the wheel up to 0.6.4 (and the sdists); from 0.6.5 in flashinfer-cubin's batched-GEMM
# artifact (include/trtllmGen_bmm_export/), 0.6.14+ downloaded at run time.
BMM_INTERFACE = "data/include/flashinfer/trtllm/batched_gemm/trtllmGen_bmm_export/BatchedGemmInterface.h"
KERNEL_LIST = "data/include/flashinfer/trtllm/batched_gemm/trtllmGen_bmm_export/KernelMetaInfo.h"
_SOURCES_0_2_8 = {
    "tile_source": Source("fused_moe.py", "trtllm_fp8_*_moe(..., tile_tokens_dim: int = 8) -> "
                          "Runner(dtypeElt, useDeepSeekFp8, tile_tokens_dim)"),
    "cta_formula": Source(RUNNER_H, "getMaxNumCtasInBatchDim: min(min(numTokens * topK, numExperts) * "
                          "ceilDiv(numTokens, tileTokensDim), ceilDiv(getMaxPermutedPaddedCount(...), tileTokensDim))"),
    "grid": Source(BMM_INTERFACE, "getGridDim: numCtasBatch = maxNumCtasInBatchDim.value() (no cluster "
                   "handling; read in 0.3.1's and 0.4.0's sdists)"),
    "counts": Source(RUNNER_CU, "Runner::run: mPermuteGemm1.run / mGemm2.run(..., args.local_num_experts, ...)"),
    "tiles": Source(KERNEL_LIST, "bmm_*_bN_dynBatch kernels: tileN in {8, 16, 32, 64} (0.2.8 - 0.2.11.post1; "
                    "later releases download the list at run time)"),
    "routing": Source("data/csrc/trtllm_fused_moe_routing_kernel.cu", "routing (DeepSeek): NumThreads = 256, "
                      "one expert per thread; MaxNumTopExperts = 8, MaxNumTopGroups = 4 (Llama4, Qwen3: 128 experts)"),
    "tune_max_default": Source("fused_moe.py", "no autotuning of the trtllm ops (tune_max_num_tokens is cutlass_fused_moe's)"),
}

E1 = Era(
    name="E1", versions=("0.2.8",), tiles=dict(_CALLER_FP8),
    fp4=_FP4_CALLER, center="power_of_two", tuner_smaller=1, global_tile=False,
    tuned_tile_checked=False, buckets="round_down", tune_max_default=8192,
    shared_experts=frozenset(), routing=_ROUTING_0_2,
    entry_points=_ENTRY_0_2_8, routing_metadata_tile=False, sources=_SOURCES_0_2_8,
    tile_source="caller", caller_default_tile=8, cta_formula="permuted_min", grid_cluster="ignored",
)
E2 = dataclasses.replace(
    E1, name="E2", versions=("0.2.9",), tiles={**_CALLER_FP8, **_CALLER_NVFP4}, routing=_ROUTING_0_2,
    entry_points=_ENTRY_0_2_9,
    sources={**E1.sources,
             "tile_source": Source("fused_moe/core.py", "trtllm_fp4_block_scale_moe(..., tile_tokens_dim: int = 8)"),
             "routing": Source(LAUNCHER, "TORCH_CHECK(num_experts <= 256); TORCH_CHECK(top_k <= 8); "
                               "DeepSeek routing NumThreads = 256")},
)
# RELEASES.md's E3 - E5 without 0.4.0: from 0.2.13 FP4 is autotuned, but the tactic is only
# a config index and the launch keeps the caller's tile, so the geometry does not change.
E3 = dataclasses.replace(
    E2, name="E3",
    versions=("0.2.10", "0.2.11", "0.2.11.post1", "0.2.11.post2", "0.2.11.post3", "0.2.12", "0.2.13", "0.2.14",
              "0.2.14.post1", "0.3.0", "0.3.0.post1", "0.3.1", "0.3.1.post1"),
    tiles={**_CALLER_FP8, **_CALLER_FP4}, entry_points=_ENTRY_0_2_10,
    sources={**E2.sources,
             "tiles_fp4": Source(LAUNCHER, "trtllm_fp4_block_scale_moe: dtype_act / dtype_weights incl. MxE4m3, MxE2m1"),
             "tune_max_default": Source("fused_moe/core.py", "from 0.2.13 trtllm_fp4_block_scale_moe(tune_max_num_tokens"
                                        "=1024, 8192 from 0.3.0): the tactic is a config index; the launch keeps the "
                                        "caller's tile_tokens_dim")},
)
# 0.4.0 (the end of RELEASES.md's E5): its DeepSeek routing kernel takes 384 experts.
E5 = dataclasses.replace(
    E3, name="E5", versions=("0.4.0",), routing=Routing(384, 8, 384, 8, 12, 4),
    sources={**E3.sources, "routing": Source("data/csrc/trtllm_fused_moe_routing_deepseek.cu",
                                             "NumThreads = 384 (one expert per thread; groups <= NumWarps = 12); "
                                             "launcher: top_k <= 8")},
)
E6 = dataclasses.replace(
    E5, name="E6", versions=("0.4.1",), cta_formula="filled", grid_cluster="round_up",
    tiles={**_CALLER_FP8, "nvfp4": _POW2_TO_128, "mxfp4_mxfp8": _POW2_TO_128, "mxfp4_bf16": _POW2_TO_64},
    caller_heuristic=frozenset({"nvfp4", "mxfp4_mxfp8", "mxfp4_bf16"}),
    sources={**E5.sources,
             "cta_formula": Source(RUNNER_H, "getMaxNumCtasInBatchDim: numExpertsFilled + numRemainingTokens / tileTokensDim"),
             "grid": Source(BMM_INTERFACE, "numCtasBatch = gemm::divUpMul(numCtasBatch, options.mClusterDimY)"),
             "caller_heuristic": Source("fused_moe/core.py", "if tile_tokens_dim is None: calculate_tile_tokens_dim(num_tokens, "
                                        "num_experts, top_k, max_tile_tokens_dim=64 if dtype_act == Bfloat16 else 128)"),
             "caller_heuristic_rule": Source("utils.py", "calculate_tile_tokens_dim: min(max(next_positive_power_of_2("
                                             "int((num_tokens * top_k) // num_experts * 1.3)), 8), max_tile_tokens_dim)")},
)

# --- 0.5.0 - 0.7.4: C++ picks the tile ------------------------------------------------------

E7 = Era(
    name="E7", versions=("0.5.0", "0.5.1"),
    tiles=_tiles(_FP4_0_5_0, fp8_per_tensor=_POW2_TO_128, fp8_block=_POW2_TO_64),
    fp4=_FP4_0_5_0, center="power_of_two", tuner_smaller=1, global_tile=False,
    tuned_tile_checked=False, buckets="round_down", tune_max_default=8192,
    shared_experts=frozenset(), routing=_ROUTING_0_5, entry_points=_ENTRY_0_5,
    routing_metadata_tile=False, grid_cluster="round_up",
    sources={**_SOURCES_0_5_0, "grid": Source(BMM_INTERFACE, "getGridDim: numCtasBatch = gemm::divUpMul(numCtasBatch, "
                                              "options.mClusterDimY) (batchN)")},
)
E8 = _next(
    E7, "E8", ("0.5.2",), fp4=_FP4_0_5_2,
    tiles=_tiles(_FP4_0_5_2, fp8_per_tensor=(8, 16, 32, 64, 128, 192, 256), fp8_block=_POW2_TO_128),
    sources={"candidate_rule": Source(LAUNCHER, "computeSelectedTileN: clamp(nextPowerOfTwo(float avg)); std::find; {it, +1, +2, -1}")},
)
E9 = _next(
    E8, "E9", ("0.5.3",), fp4=_FP4_0_5_3, tuned_tile_checked=True, entry_points=_ENTRY_0_5_3,
    tiles=_tiles(_FP4_0_5_3, bf16=_POW2_TO_128, fp8_per_tensor=_POW2_TO_128, fp8_block=_POW2_TO_128),
    sources={
        "tuned_tile": Source(LAUNCHER, "launchers_map built for selected_tile_nums; launchers_map.at(tile_N) throws"),
        "tiles": Source(LAUNCHER, "Bf16MoeLauncher / Fp8PerTensorLauncher / Fp8BlockScaleLauncher::mSupportedTileNums, "
                        "FP4BlockScaleLauncher::getSupportedTileNums"),
    },
)
E10 = _next(
    E9, "E10", ("0.6.0", "0.6.1", "0.6.2"), entry_points=_ENTRY_0_6_0,
    tiles=_tiles(_FP4_0_5_3, bf16=_POW2_TO_128, fp8_per_tensor=_POW2_TO_128, fp8_block=_POW2_TO_128,
                 mxint4=_POW2_TO_128),
)
E11 = _next(
    E10, "E11", ("0.6.3",), entry_points=_ENTRY_0_6_3, routing=_ROUTING_0_6_3,
    sources={"routing": Source("data/csrc/trtllm_fused_moe_routing_deepseek.cu", "NumNemotronExperts = 512; topK <= 22")},
)
E12 = _next(
    E11, "E12", ("0.6.4",),
    tiles=_tiles(_FP4_0_5_3, bf16=_POW2_TO_128, fp8_per_tensor=_POW2_TO_128, fp8_block=_POW2_TO_128,
                 mxfp8=_POW2_TO_128 + (256,), mxint4=_POW2_TO_128),
    sources={"tiles_mxfp8": Source(LAUNCHER, "Fp8BlockScaleLauncher::getSupportedTileNums(quantization_type): MxFp8 adds 256")},
)
E13 = _next(E12, "E13", ("0.6.5", "0.6.6"), entry_points=_ENTRY_0_6_5)
E14 = _next(
    E13, "E14", ("0.6.7", "0.6.7.post1", "0.6.7.post2", "0.6.7.post3"), tuned_tile_checked=False,
    tuned_tile_launchers="all",
    routing=_ROUTING_0_6_7,
    sources={
        "tuned_tile": Source(LAUNCHER, "Build launchers for ALL supported tiles; launchers_map.find(tile_N)"),
        "default_tile": Source(LAUNCHER, "selectDefaultTileN: return *selected.begin(); resolveMoeTileAndConfig"),
        "candidate_rule": Source(LAUNCHER, "computeSelectedTileN: nextPowerOfTwo(float avg); FLASHINFER_CHECK(it != end)"),
        "routing": Source("data/include/flashinfer/trtllm/fused_moe/RoutingKernel.h",
                          "MaxSupportedExperts = 2048, MaxSupportedTopExperts = 32"),
    },
)
E15 = _next(E14, "E15", ("0.6.8", "0.6.8.post1", "0.6.9"),
            sources={"buckets": Source(FUSED_MOE_CORE, "_make_tuning_config: min(last_positive_power_of_2(x), tune_max_num_tokens)")})
# 0.6.10 still rounds grid.y up to the Y cluster; 0.6.11 and 0.6.12 multiply by it. The era
# takes the multiplication: for every cluster size its budget is the smaller one.
E16 = _next(
    E15, "E16", ("0.6.10", "0.6.10.post1", "0.6.11", "0.6.11.post1", "0.6.11.post2", "0.6.11.post3", "0.6.12"),
    buckets="hybrid", grid_cluster="multiply",
    sources={"buckets": Source(FUSED_MOE_UTILS, "map_to_hybrid_bucket (phases 256/256/2048/512/4096)"),
             "grid": Source(BMM_INTERFACE, "getGridDim: numCtasBatch = maxNumCtasInBatchDim.value() * "
                            "clusterDimInBatchDim (0.6.11+; 0.6.10 divUpMul)")},
)
E17 = _next(E16, "E17", ("0.6.13", "0.6.14"), entry_points=_ENTRY_0_6_13)
E18 = _next(
    E17, "E18", ("0.6.15", "0.6.15.post1"), shared_experts=frozenset({"fp8_block"}),
    sources={"counts": Source("data/csrc/trtllm_fused_moe_runner.cu",
                              "MoE::Runner::run: totalLocalExperts, totalExpertsPerToken (num_fused_shared_experts)")},
)
E19 = _next(
    E18, "E19", ("0.6.16", "0.6.16.post1", "0.6.16.post2", "0.6.16.post3", "0.6.16.post4"), fp4=_FP4_0_6_16,
    tiles=_tiles(_FP4_0_6_16, bf16=_POW2_TO_128, fp8_per_tensor=_POW2_TO_128, fp8_block=_POW2_TO_128,
                 mxfp8=_POW2_TO_128 + (256,), mxint4=_POW2_TO_128),
    sources={"tiles_fp4": Source(LAUNCHER, "FP4BlockScaleLauncher::getSupportedTileNums: 192 for (E2m1, E2m1), (MxE2m1, MxE4m3)")},
)
E20 = _next(E19, "E20", ("0.6.17",), entry_points=_ENTRY_0_6_17, shared_experts=frozenset({"fp8_block", "fp4"}))
E21 = _next(
    E20, "E21", ("0.6.18", "0.6.18.post1"), fp4=_FP4_0_6_18, dist_aware_switch=True,
    tiles=_tiles(_FP4_0_6_18, bf16=_POW2_TO_128, fp8_per_tensor=_POW2_TO_128, fp8_block=_POW2_TO_128,
                 mxfp8=_POW2_TO_128 + (256,), mxint4=_POW2_TO_128),
    routing=dataclasses.replace(_ROUTING_0_6_7, policy_tiers=True),
    sources={"tiles_fp4": Source(LAUNCHER, "FP4BlockScaleLauncher::getSupportedTileNums(..., use_per_token_scaling): "
                                 "nvfp4 192 only && !use_per_token_scaling"),
             "dist_aware_switch": Source("fused_moe/da_config.py",
                                         "is_trtllm_da_enabled: FLASHINFER_DIST_AWARE_AUTOTUNE")},
)
E22 = _next(
    E21, "E22", ("0.7.0", "0.7.0.post1"), fp4=_FP4_0_6_16, entry_points=_ENTRY_0_7_0,
    tiles=_tiles(_FP4_0_6_16, bf16=_POW2_TO_128, fp8_per_tensor=_POW2_TO_128, fp8_per_channel=_POW2_TO_128,
                 fp8_block=_POW2_TO_128, mxfp8=_POW2_TO_128 + (256,), mxint4=_POW2_TO_128),
    sources={"tiles_fp4": Source(LAUNCHER, "FP4BlockScaleLauncher::getSupportedTileNums: 192 for (E2m1, E2m1), (MxE2m1, MxE4m3)")},
)
E23 = _next(
    E22, "E23", ("0.7.1", "0.7.2", "0.7.2.post1"), center="lower_bound",
    sources={"candidate_rule": Source(LAUNCHER, "computeSelectedTileN: lower_bound(double avg); {it, +1, +2, -1}")},
)
E24 = _next(
    E23, "E24", ("0.7.4",), tuner_smaller=2, global_tile=True, routing_metadata_tile=True, keeps_explicit_tile=True,
    sources={
        "candidate_rule": Source(LAUNCHER, "computeSelectedTileN(..., num_experts, num_smaller_tile_candidates = 2): "
                                 "lower_bound; +1, +2; two smaller; EP global tile"),
        "default_tile": Source(LAUNCHER, "selectDefaultTileN: computeSelectedTileN(..., num_local_experts, 1); "
                               "resolveMoeTileAndConfig: if (tile_N == -1)"),
        "global_experts": Source(BACKEND_RUNNER, "get_valid_tactics: self.num_experts + nfse"),
        "routing_metadata": Source(FUSED_MOE_CORE, "_run_fp4_body_from_routing_metadata: DABody(tile_n=routing_metadata.tile_n)"),
    },
)

ERAS: tuple[Era, ...] = (E1, E2, E3, E5, E6, E7, E8, E9, E10, E11, E12, E13, E14, E15, E16, E17, E18, E19, E20, E21, E22, E23, E24)
_BY_VERSION = {v: era for era in ERAS for v in era.versions}
MODELED_VERSIONS: tuple[str, ...] = tuple(v for era in ERAS for v in era.versions)
NEWEST = MODELED_VERSIONS[-1]
@dataclass(frozen=True)
class GridArtifact:
    """A release whose batched-GEMM grid code and kernel list were read (tools/
    fetch_launch_grid_artifacts.py; tests/test_launch_grid.py compiles getGridDim from it)."""

    rule: str  # its getGridDim's Y cluster handling (Era.grid_cluster's values)
    header: str  # where BatchedGemmInterface.h ships: "sdist" | "wheel" | "cubin"
    kernel_list: str | None  # the flashinfer-cubin release whose flashinferMetaInfo.h lists its configs


# Every MoE-selectable config (transposed output, dynamic batch) of these kernel lists has
# mClusterDimY = 1, so grid.y = getMaxNumCtasInBatchDim's count in all of them; the model
# still proves cluster_y 1 and 2 under each era's rule. Releases not listed share an
# artifact with a listed one (artifacts.py hashes) or are assumed: 0.2.8 - 0.3.0.post1 as
# 0.3.1, 0.6.14+ (artifact downloaded at run time) as 0.6.13.
GRID_ARTIFACTS = {
    "0.3.1": GridArtifact("ignored", "sdist", None),
    "0.4.0": GridArtifact("ignored", "sdist", "0.4.0"),
    "0.4.1": GridArtifact("round_up", "sdist", "0.4.1"),
    "0.5.0": GridArtifact("round_up", "wheel", "0.5.0"),
    "0.5.3": GridArtifact("round_up", "wheel", "0.5.3"),
    "0.6.4": GridArtifact("round_up", "wheel", "0.6.4"),
    "0.6.7": GridArtifact("round_up", "cubin", "0.6.7"),
    "0.6.10": GridArtifact("round_up", "cubin", "0.6.10"),
    "0.6.11": GridArtifact("multiply", "cubin", "0.6.11"),
    "0.6.12": GridArtifact("multiply", "cubin", "0.6.12"),
    "0.6.13": GridArtifact("multiply", "cubin", "0.6.13"),
}

# Releases engines pin (vLLM 0.33.0 and SGLang 0.5.23: 0.7.2.x; earlier vLLM 0.7.0.x and
# 0.6.18.x; TensorRT-LLM 0.6.18) and the newest: proved and tested first.
PINNED = ("0.6.18.post1", "0.7.0.post1", "0.7.2.post1", "0.7.4")


def modeled_range() -> str:
    return f"{MODELED_VERSIONS[0]} - {NEWEST} ({len(MODELED_VERSIONS)} releases)"


def era_named(name: str) -> Era:
    for era in ERAS:
        if era.name == name:
            return era
    raise BoundcheckInputError("era", f"no era {name!r}; eras are {', '.join(e.name for e in ERAS)}")


def modeled_era(version: str) -> Era | None:
    """The era of a modeled release (a local tag, `+cu128`, names its release); None for any
    other version (boundcheck.resolution also consults the user's adoptions)."""
    return _BY_VERSION.get(release_of(version))
