"""The MoE runner: the CTA formula and padded count of runner.h, and whether
MoE::Runner::run's GEMMs count fused shared experts (with the launchers whose entry
functions take num_fused_shared_experts)."""

from __future__ import annotations

import re

from ..facts import LAUNCHER, MOE_RUNNER, RUNNER_H
from .cxx import _squash_tight
from .folder import _Folder
from .found import Found, Missing
from .launcher import _entry_definitions

# C++ entry function stem -> the launcher name the era's shared_experts uses.
_LAUNCHER_OF_ENTRY = {
    "bf16": "bf16", "fp8_per_tensor_scale": "fp8_per_tensor", "fp8_per_channel_scale": "fp8_per_channel",
    "fp8_block_scale": "fp8_block", "fp4_block_scale": "fp4", "mxint4_block_scale": "mxint4",
}


def _shared_experts(folder: _Folder) -> Found:
    """Do MoE::Runner::run's GEMMs count fused shared experts (local + shared, top_k +
    shared), and which launchers' entry functions take num_fused_shared_experts."""
    runner = folder.cpp(MOE_RUNNER)
    runs = [d for d in runner.definitions("Runner::run") if "MoERunnerArgs" in d.params]
    if not runs:
        raise Missing(f"{MOE_RUNNER}: no Runner::run(MoERunnerArgs const& args, ...)")
    body = _squash_tight(runs[0].body)
    local = "totalLocalExperts=args.local_num_experts+args.num_fused_shared_experts;" in body
    top_k = "totalExpertsPerToken=args.top_k+args.num_fused_shared_experts;" in body
    gemms = local and top_k
    launchers = frozenset(
        _LAUNCHER_OF_ENTRY.get(re.sub(r"^trtllm_|(?:_routed)?_moe$", "", name), name)
        for name, definition in _entry_definitions(folder.cpp(LAUNCHER)).items()
        if re.search(r"\bnum_fused_shared_experts\b", definition.params)
    )
    if local != top_k:
        return Found(("partly", launchers), f"GEMMs add shared experts to {'local experts' if local else 'top_k'} only")
    return Found((gemms, launchers), _describe_shared((gemms, launchers)))


def _describe_shared(value) -> str:
    gemms, launchers = value
    if gemms is True:
        head = "GEMMs count local + shared experts and top_k + shared"
    elif gemms is False:
        head = "GEMMs count local experts and top_k (no fused shared experts)"
    else:
        head = f"GEMMs: {gemms}"
    return f"{head}; launchers taking num_fused_shared_experts: {', '.join(sorted(launchers)) or 'none'}"


# getMaxNumCtasInBatchDim, statement for statement, by the name releases.Era.cta_formula
# gives it (geometry.CTA_FORMULAS).
_CTA_FORMULA_LINES = {
    "filled": [
        "int32_t numRemainingTokens = numTokens * topK;",
        "int32_t numExpertsFilled = std::min(numExperts, numRemainingTokens);",
        "maxNumCtasInBatchDim += numExpertsFilled;",
        "numRemainingTokens -= numExpertsFilled;",
        "if (numRemainingTokens > 0) {",
        "maxNumCtasInBatchDim += (numRemainingTokens / tileTokensDim);",
    ],
    "permuted_min": [
        "auto const maxCtasInBatchDimPerExpert = common::ceilDiv(numTokens, tileTokensDim);",
        "auto const maxEnabledExperts = std::min(numTokens * topK, numExperts);",
        "auto maxNumCtasInBatchDim = maxEnabledExperts * maxCtasInBatchDimPerExpert;",
        "auto const tilesForPermutedBuffer = common::ceilDiv("
        "getMaxPermutedPaddedCount(numTokens, topK, numExperts, tileTokensDim), tileTokensDim);",
        "maxNumCtasInBatchDim = std::min(maxNumCtasInBatchDim, tilesForPermutedBuffer);",
        "return maxNumCtasInBatchDim;",
    ],
}
# getMaxPermutedPaddedCount of each formula's releases.
_PADDED_COUNT_LINES = {
    "filled": ["return maxCtas * padding;"],
    "permuted_min": [
        "auto const expandedRowCount = numTokens * expertsPerToken;",
        "auto const maxPaddingRequired = (padding - 1) * numExperts;",
        "return common::roundUp(expandedRowCount + maxPaddingRequired, padding);",
    ],
}


def _which(body: str, table: dict) -> str:
    """The name whose every line the body holds (formatting aside), else where it differs
    from the nearest."""
    body = _squash_tight(body)
    missing = {name: [line for line in lines if _squash_tight(line) not in body] for name, lines in table.items()}
    for name, absent in missing.items():
        if not absent:
            return name
    nearest = min(missing, key=lambda name: len(missing[name]))
    return f"differs from {nearest} at: " + "; ".join(missing[nearest])


def _cta_formula(folder: _Folder) -> Found:
    value = _which(folder.cpp(RUNNER_H).definition("getMaxNumCtasInBatchDim").body, _CTA_FORMULA_LINES)
    return Found(value, value)


def _padded_count(folder: _Folder) -> Found:
    value = _which(folder.cpp(RUNNER_H).definition("getMaxPermutedPaddedCount").body, _PADDED_COUNT_LINES)
    return Found(value, value)
