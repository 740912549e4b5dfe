"""What each finding of the inventory is: modeled, not reached, or not yet classified.

- **modeled**: the expression is part of a boundcheck.kernel_limits entry that holds in the
  release (its verbatim code, whitespace aside, contains the expression), so its closed
  form, proof and twin cover it, and `chunk` and the guard apply it;
- **bounded**: within its limit whenever a modeled bound holds; each rule below names the
  obligation (the int32 theorem of proofs/int32.py: n x K, the padded counts and every
  intermediate of getMaxNumCtasInBatchDim and getMaxPermutedPaddedCount fit int32 at every
  n <= C) and why the expression is one of those values;
- **not reached**: no call path from the launcher's functions (taint.reached_functions);
- **unclassified**: everything else. Issue #23 asks for each to be modeled or shown
  bounded by a modeled bound; that classification is not done yet, and the counts say how
  much is left (never a silent pass).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from boundcheck.kernel_limits import LIMITS_TABLE
from boundcheck.releases import _version_key

MODELED, BOUNDED, NOT_REACHED, UNCLASSIFIED = "modeled", "bounded", "not reached", "unclassified"


@dataclass(frozen=True)
class Rule:
    """Findings in functions whose qualified name ends with one of `functions` (any
    function when empty) whose squashed expression matches `code` (a full match)."""

    functions: tuple
    code: str
    reason: str

    def matches(self, finding) -> bool:
        if self.functions and not finding.function.endswith(self.functions):
            return False
        return re.fullmatch(self.code, _squash(finding.code)) is not None


INT32_THEOREM = "the int32 theorem (proofs/int32.py)"
_TOKENS = r"(?:params\.|data\.|args\.|args->)?m?(?:[Nn]um_?[Tt]okens)"
# NumTopExperts: the top_k a routing kernel is compiled for (0.2.8 - 0.4.1's Qwen3 and Llama 4)
_TOP_K = r"(?:params\.|data\.|args\.|args->)?m?(?:[Tt]op_?[Kk]|totalExpertsPerToken|NumTopExperts)"
_TOKEN_INDEX = r"(?:tokenIdx|warpTokenIdx)"
_LANE = r"(?:k|laneIdx|kIdx|smemKIdx\[offset\]|smemKIdx\[\w+\])"
RULES = (
    Rule(("::getMaxNumCtasInBatchDim", "::getMaxPermutedPaddedCount"), r".*",
         f"{INT32_THEOREM}: every +, -, *, / of runner.h's getMaxNumCtasInBatchDim and getMaxPermutedPaddedCount "
         "fits int32 at every n <= C"),
    Rule((), rf"{_TOKENS}\*{_TOP_K}|\(?{_TOKENS}\*{_TOP_K}\)?",
         f"{INT32_THEOREM}: the expanded count num_tokens * top_k fits int32 at every n <= C"),
    Rule(("::routingIndicesHistogramScoresKernel", "::routingIndicesDynBlockKernel", "::routingIndicesBlockKernel",
          "::routingIndicesClusterKernel", "::routingIndicesClusterKernelBody", "::routingIndicesWarpKernel",
          "::finalizeKernel", "::finalizeDeepSeekKernel", "::activationKernel", "::activationDeepSeekKernel",
          "::permuteKernel"),
         rf"{_TOKEN_INDEX}\*(?:(?:params\.)?m?[Tt]op[Kk]|NumTopExperts)(?:\+(?:{_LANE}|i))?",
         f"{INT32_THEOREM}: an expanded index, a token index (< num_tokens: the bound of every loop that defines "
         "it in these kernels, read) times top_k plus a rank below top_k, at most n x K - 1"),
    Rule(("::routingIndicesHistogramScoresKernel", "::routingIndicesDynBlockKernel", "::routingIndicesBlockKernel",
          "::routingIndicesClusterKernel", "::routingIndicesClusterKernelBody", "::routingIndicesWarpKernel"),
         rf"{_TOKEN_INDEX}\*params\.mNumExperts(?:\+\w+)?",
         "kernel_limits routing_scores_offset: a token index (< num_tokens) times the expert count plus an expert "
         "below it, at most n x E - 1, the entry's value"),
    Rule((), r"num_tokens|numTokens|args->num_tokens",
         f"{INT32_THEOREM}: the token count itself, narrowed to 32 bits: every chunk is at most C < 2^25 tokens"),
    Rule((), r"max_num_padded_tokens\+1|maxNumPaddedTokens\+1",
         f"{INT32_THEOREM}: padded_count(global) + 1, one of its listed values"),
    Rule(("::run", "::runPostTopKPipeline", "::routingIndicesOffsetsKernel"),
         r"expandedIdxSize\+(?:offsetEltsPerBlock|histogramEltsPerBlock|MaxExpandedIdxPerBlock)(?:-1)?",
         f"{INT32_THEOREM}: n x K plus a per-block element count (a compile-time constant below 2^16, read): "
         "n < 2^25 and K <= 34 give at most 2^25 x 34 + 2^16 < 2^31"),
    Rule(("::run", "::routingIndicesClusterKernel", "::routingIndicesHistogramScoresKernel"),
         r"(?:params|data)\.mNumTokens\*(?:(?:params|data)\.mTopK|NumTopExperts)"
         r"\+\((?:params|data)\.mNumExperts<<(?:params|data)\.mPaddingLog2\)(?:-(?:params|data)\.mNumExperts)?",
         f"{INT32_THEOREM}: 0.2.8 - 0.4.1's padded count n x K + (t - 1) x E (t = 2^mPaddingLog2) and its partial "
         "sum n x K + t x E: n < 2^25, K <= 34, E <= 2050 and t <= 256 give at most 2^25 x 34 + 256 x 2050 < 2^31"),
)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _entries_in(version: str) -> list:
    v = _version_key(version)
    return [e for e in LIMITS_TABLE if e.kind != "grid" and v >= _version_key(e.first)
            and (not e.last or v <= _version_key(e.last))]


def classify(finding, version: str) -> tuple[str, str]:
    """(class, reason) of one finding of `version`'s inventory."""
    if not finding.reached:
        return NOT_REACHED, "no call path from the launcher's functions"
    code = _squash(finding.code)
    for entry in _entries_in(version):
        if code and code in _squash(entry.code_in(version)):
            return MODELED, entry.name
    for rule in RULES:
        if rule.matches(finding):
            return BOUNDED, rule.reason
    return UNCLASSIFIED, ""


def counts(inventory, version: str) -> Counter:
    return Counter(classify(f, version)[0] for f in inventory.findings)
