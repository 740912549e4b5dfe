"""`boundcheck drift`: compare every fact the model uses with a flashinfer's sources.

Trust: boundcheck.facts (what the model assumes) and the files of the flashinfer package
given (installed, or --flashinfer-root: a folder laid out as installed, holding `data/`
and `fused_moe/`). The sources are read as text; nothing of flashinfer is imported. One
row per fact: where it is, what the model assumes, what the source says, match or not.
A fact that cannot be found is a failure too: the exit code counts both.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from dataclasses import dataclass

from . import facts
from .errors import BoundcheckInputError
from .tiles import map_to_hybrid_bucket

MATCH, MISMATCH, MISSING = "match", "MISMATCH", "MISSING"


@dataclass(frozen=True)
class Row:
    fact: str
    where: str
    model: str
    source: str
    status: str


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _read(root, path):
    full = os.path.join(root, path)
    try:
        with open(full) as handle:
            return handle.read()
    except OSError:
        return None


def _function_body(text, signature_regex):
    """The brace-balanced body of the first C++ function whose header matches."""
    match = re.search(signature_regex, text)
    if not match:
        return None
    start = text.index("{", match.end() - 1 if text[match.end() - 1] == "{" else match.end())
    depth = 0
    for position in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        if depth == 0:
            return text[start : position + 1]
    return None


def _class_body(text, name):
    return _function_body(text, rf"class\s+{name}\b[^{{;]*\{{")


def _int_list(text):
    return tuple(int(x) for x in re.findall(r"\d+", text))


def _tile_array(text, cls, member):
    body = _class_body(text, cls) if text else None
    if body is None:
        return None
    match = re.search(rf"{member}\s*=\s*\{{([^}}]*)\}}", body)
    return _int_list(match.group(1)) if match else None


# --- the facts, each: (name, file, symbol, expected value as text, extractor) --------------

def _cta_formula(text):
    body = _function_body(text, r"int32_t\s+getMaxNumCtasInBatchDim\s*\([^)]*\)\s*\{")
    if body is None:
        return None
    lines = [
        "int32_t numRemainingTokens = numTokens * topK;",
        "int32_t numExpertsFilled = std::min(numExperts, numRemainingTokens);",
        "maxNumCtasInBatchDim += numExpertsFilled;",
        "numRemainingTokens -= numExpertsFilled;",
        "if (numRemainingTokens > 0) {",
        "maxNumCtasInBatchDim += (numRemainingTokens / tileTokensDim);",
    ]
    squashed = _squash(re.sub(r"//[^\n]*", "", body))
    missing = [line for line in lines if _squash(line) not in squashed]
    return "as modelled" if not missing else "differs at: " + "; ".join(missing)


def _padded_count(text):
    body = _function_body(text, r"int32_t\s+getMaxPermutedPaddedCount\s*\([^)]*\)\s*\{")
    if body is None:
        return None
    return "CTAs * padding" if "return maxCtas * padding;" in _squash(body) else _squash(body)[:120]


def _fp8_block_tiles(text):
    body = _function_body(text, r"getSupportedTileNums\s*\(\s*Fp8QuantizationType[^)]*\)\s*\{")
    base = _tile_array(text, "Fp8BlockScaleLauncher", "mBaseSupportedTileNums")
    if body is None or base is None:
        return None
    extra = re.search(r"Fp8QuantizationType::MxFp8\s*\)\s*\{\s*tiles\.push_back\((\d+)\);", body)
    return f"{base} + MxFp8: {extra.group(1) if extra else 'none'}"


def _fp4_tiles(text):
    base = _tile_array(text, "FP4BlockScaleLauncher", "mBaseSupportedTileNums")
    body = _function_body(text, r"getSupportedTileNums\s*\(\s*btg::Dtype dtype_act[^)]*\)\s*\{")
    if base is None or body is None:
        return None
    body = re.sub(r"//[^\n]*", "", body)
    pushes = [int(x) for x in re.findall(r"tiles\.push_back\((\d+)\)", body)]
    pairing = re.search(r"if\s*\(\s*\((.*?)\)\s*\|\|\s*\((.*?)\)\s*\)\s*\{\s*tiles\.push_back\(192\)", _squash(body))
    pairs = "; ".join(_squash(p) for p in pairing.groups()) if pairing else "none"
    not_bf16 = "dtype_act != btg::Dtype::Bfloat16" in body
    return f"{base} + (act != bf16: {pushes if not_bf16 else 'unconditional ' + str(pushes)}; 192 when {pairs})"


def _candidate_rule(text):
    body = _function_body(text, r"std::set<int32_t>\s+computeSelectedTileN\s*\([^)]*\)\s*\{")
    if body is None:
        return None
    body = _squash(re.sub(r"//[^\n]*", "", body))
    pieces = {
        "avg = double(num_tokens) * double(top_k) / num_local_experts":
            "static_cast<double>(num_tokens) * static_cast<double>(top_k) / num_local_experts" in body,
        "lower_bound(tile < avg)": "std::lower_bound" in body and "static_cast<double>(tile) < average" in body,
        "none >= avg: last tile": "it = std::prev(supported_tile_nums.end());" in body,
        "+1 and +2 neighbours": body.count("std::next") >= 3,
        "-1 neighbour": "selected_tile_nums.insert(*std::prev(it));" in body,
    }
    return "; ".join(k for k, ok in pieces.items() if ok) + ("" if all(pieces.values()) else " [incomplete]")


def _default_tile(text):
    body = _function_body(text, r"int64_t\s+selectDefaultTileN\s*\([^)]*\)\s*\{")
    if body is None:
        return None
    return "smallest candidate" if "return *selected.begin();" in _squash(body) else _squash(body)[:120]


def _counts(runner_text, launcher_text):
    if runner_text is None or launcher_text is None:
        return None
    body = _function_body(runner_text, r"void\s+Runner::run\s*\(\s*MoERunnerArgs const& args[^)]*\)\s*\{")
    if body is None:
        return None
    runner = _squash(body)
    gemm_local = "int32_t const totalLocalExperts = args.local_num_experts + args.num_fused_shared_experts;" in runner
    gemm_top_k = "int32_t const totalExpertsPerToken = args.top_k + args.num_fused_shared_experts;" in runner
    launcher = _squash(launcher_text)
    routing = "int32_t const totalNumExperts = args->num_experts + args->num_fused_shared_experts;" in launcher
    parts = []
    if gemm_local and gemm_top_k:
        parts.append("GEMMs: local + shared, top_k + shared")
    if routing:
        parts.append("routing buffers: global + shared")
    return "; ".join(parts) if parts else "not found as modelled"


def _bucket(text):
    if text is None:
        return None
    try:
        module = ast.parse(text)
    except SyntaxError:
        return None
    constants = {}
    function = None
    for node in module.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.Constant):
            constants[node.targets[0].id] = node.value.value
        if isinstance(node, ast.FunctionDef) and node.name == "map_to_hybrid_bucket":
            function = node
    names = ("_PHASE1_END", "_PHASE2_STEP", "_PHASE2_END", "_PHASE3_STEP", "_PHASE3_END")
    if function is None or any(n not in constants for n in names):
        return None
    phases = ", ".join(f"{n}={constants[n]}" for n in names)
    # Run the source's own function (its module constants, flashinfer's power-of-two rule)
    # and compare its behaviour with the model's on a grid of inputs.
    namespace = dict(constants)
    namespace["next_positive_power_of_2"] = lambda x: 1 if x < 1 else 1 << (x - 1).bit_length()
    namespace["_ceil_to_step"] = lambda x, step: ((x + step - 1) // step) * step
    code = compile(ast.Module(body=[function], type_ignores=[]), "map_to_hybrid_bucket", "exec")
    exec(code, namespace)  # noqa: S102 - the package's own function, no input from the user
    theirs = namespace["map_to_hybrid_bucket"]
    samples = [(x, t) for t in (1, 100, 256, 3000, 8192, 2**20) for x in
               list(range(-1, 5000, 7)) + [8191, 8192, 8193, 2**19 + 3, 2**20 + 1]]
    differ = [(x, t) for x, t in samples if theirs(x, t) != map_to_hybrid_bucket(x, t)]
    return f"{phases}; " + ("same mapping" if not differ else f"differs at (x, max) = {differ[0]}")


def _tune_default(text):
    if text is None:
        return None
    found = re.findall(r"tune_max_num_tokens:\s*int\s*=\s*(\d+)", text)
    return str(sorted(set(int(v) for v in found))) if found else None


def _routing(policy_text, deepseek_text, runner_text, llama_text):
    if None in (policy_text, deepseek_text, runner_text, llama_text):
        return None

    def const(text, name):
        m = re.search(rf"constexpr int {name}\s*=\s*(\d+);", text)
        return int(m.group(1)) if m else None

    values = {
        "MaxSupportedExperts": const(policy_text, "MaxSupportedExperts"),
        "MaxSupportedTopExperts": const(policy_text, "MaxSupportedTopExperts"),
        "DeepSeek MaxSupportedExpertCount": max(
            filter(None, (const(deepseek_text, n) for n in ("NumNemotronExperts", "NumKimiK2Experts", "NumDeepseekExperts"))),
            default=None),
        "DeepSeek MaxNumGroups": const(deepseek_text, "MaxNumGroups"),
        "DeepSeek max topK": int(m.group(1)) if (m := re.search(r"topK <= (\d+), \"For DeepSeek", runner_text)) else None,
        "DeepSeek max topkGroup": int(m.group(1)) if (m := re.search(r"topkGroup <= (\d+), \"For DeepSeek", runner_text)) else None,
        "Llama4 MaxSupportedExperts": const(llama_text, "MaxSupportedExperts"),
        "Llama4 topK": int(m.group(1)) if (m := re.search(r"topK == (\d+), \"For Llama", runner_text)) else None,
    }
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _policy_tiers(text):
    if text is None:
        return None
    out = []
    for pair, name in (("SoftmaxPreprocess, NoOpPostprocess", "Default"),
                       ("NoOpPreprocess, SoftmaxPostprocess", "Renormalize"),
                       ("NoOpPreprocess, NoOpPostprocess", "TopK"),
                       ("SigmoidPreprocess, SumNormalizePostprocess", "SigmoidRenorm"),
                       ("NoOpPreprocess, SigmoidPostprocess", "TopKSigmoid"),
                       ("SigmoidBiasPreprocess, ScaledSumNormalizePostprocess", "MiniMax2")):
        m = re.search(rf"struct PolicyTraits<{re.escape(pair)}>\s*\{{(.*?)\}};", text, re.S)
        if not m:
            return None
        tiers = [(int(e), int(k)) for e, k in re.findall(r"Tier<(\d+),\s*(\d+)>", m.group(1))]
        out.append(f"{name}: {max(e for e, _ in tiers)}/{max(k for _, k in tiers)}")
    return ", ".join(out)


def _expected_routing():
    return ", ".join([
        f"MaxSupportedExperts={facts.MAX_EXPERTS}", f"MaxSupportedTopExperts={facts.MAX_TOP_K}",
        f"DeepSeek MaxSupportedExpertCount={facts.DEEPSEEK_GROUPED_MAX_EXPERTS}",
        f"DeepSeek MaxNumGroups={facts.DEEPSEEK_MAX_GROUPS}", f"DeepSeek max topK={facts.DEEPSEEK_GROUPED_MAX_TOP_K}",
        f"DeepSeek max topkGroup={facts.DEEPSEEK_MAX_TOPK_GROUPS}", f"Llama4 MaxSupportedExperts={facts.LLAMA4_MAX_EXPERTS}",
        f"Llama4 topK={facts.LLAMA4_TOP_K}",
    ])


def _expected_tiers():
    names = ("Default", "Renormalize", "TopK", "SigmoidRenorm", "TopKSigmoid", "MiniMax2")
    return ", ".join(f"{n}: {facts.ROUTING_POLICY_TIERS[n][1]}/{facts.ROUTING_POLICY_TIERS[n][2]}" for n in names)


def rows(root: str) -> list[Row]:
    F = facts
    read = {path: _read(root, path) for path in (F.LAUNCHER, F.RUNNER_H, F.MOE_RUNNER, F.FUSED_MOE_UTILS,
                                                  F.FUSED_MOE_CORE, F.ROUTING_POLICY, F.ROUTING_DEEPSEEK,
                                                  F.ROUTING_RUNNER, F.ROUTING_LLAMA4)}
    launcher = read[F.LAUNCHER]
    fp4_expected = (f"{F.TILES_FP4_BASE} + (act != bf16: [{F.TILE_FP4_NOT_BF16}, {F.TILE_FP4_192}, {F.TILE_FP4_256}]; "
                    "192 when dtype_weights == btg::Dtype::E2m1 && dtype_act == btg::Dtype::E2m1; "
                    "dtype_weights == btg::Dtype::MxE2m1 && dtype_act == btg::Dtype::MxE4m3)")
    bucket_expected = (f"_PHASE1_END={F.BUCKET_PHASE1_END}, _PHASE2_STEP={F.BUCKET_PHASE2_STEP}, "
                       f"_PHASE2_END={F.BUCKET_PHASE2_END}, _PHASE3_STEP={F.BUCKET_PHASE3_STEP}, "
                       f"_PHASE3_END={F.BUCKET_PHASE3_END}; same mapping")
    table = [
        ("cta_formula", "as modelled", lambda: _cta_formula(read[F.RUNNER_H]) if read[F.RUNNER_H] else None),
        ("padded_count", "CTAs * padding", lambda: _padded_count(read[F.RUNNER_H]) if read[F.RUNNER_H] else None),
        ("gemm_and_routing_counts", "GEMMs: local + shared, top_k + shared; routing buffers: global + shared",
         lambda: _counts(read[F.MOE_RUNNER], launcher)),
        ("tiles_bf16", str(F.TILES_BF16), lambda: _str(_tile_array(launcher, "Bf16MoeLauncher", "mSupportedTileNums"))),
        ("tiles_fp8_per_tensor", str(F.TILES_FP8_PER_TENSOR),
         lambda: _str(_tile_array(launcher, "Fp8PerTensorLauncher", "mSupportedTileNums"))),
        ("tiles_fp8_per_channel", str(F.TILES_FP8_PER_CHANNEL),
         lambda: _str(_tile_array(launcher, "Fp8PerChannelLauncher", "mSupportedTileNums"))),
        ("tiles_fp8_block", f"{F.TILES_FP8_BLOCK_BASE} + MxFp8: {F.TILE_FP8_BLOCK_MXFP8_EXTRA}",
         lambda: _fp8_block_tiles(launcher) if launcher else None),
        ("tiles_mxint4", str(F.TILES_MXINT4), lambda: _str(_tile_array(launcher, "MxInt4BlockScaleLauncher", "mSupportedTileNums"))),
        ("tiles_fp4", fp4_expected, lambda: _fp4_tiles(launcher) if launcher else None),
        ("candidate_rule", "avg = double(num_tokens) * double(top_k) / num_local_experts; lower_bound(tile < avg); "
         "none >= avg: last tile; +1 and +2 neighbours; -1 neighbour",
         lambda: _candidate_rule(launcher) if launcher else None),
        ("default_tile", "smallest candidate", lambda: _default_tile(launcher) if launcher else None),
        ("bucket_mapping", bucket_expected, lambda: _bucket(read[F.FUSED_MOE_UTILS])),
        ("tune_max_default", f"[{F.DEFAULT_TUNE_MAX_NUM_TOKENS}]", lambda: _tune_default(read[F.FUSED_MOE_CORE])),
        ("routing_limits", _expected_routing(),
         lambda: _routing(read[F.ROUTING_POLICY], read[F.ROUTING_DEEPSEEK], read[F.ROUTING_RUNNER], read[F.ROUTING_LLAMA4])),
        ("routing_policy_tiers", _expected_tiers(), lambda: _policy_tiers(read[F.ROUTING_POLICY])),
    ]
    where = {
        "gemm_and_routing_counts": f"{F.MOE_RUNNER}: MoE::Runner::run; {F.LAUNCHER}: prepare_routing_common",
        "tiles_fp8_block": str(F.SOURCES["tiles_fp8_block"]),
        "tiles_fp4": str(F.SOURCES["tiles_fp4"]),
        "routing_limits": f"{F.ROUTING_POLICY}, {F.ROUTING_DEEPSEEK}, {F.ROUTING_RUNNER}, {F.ROUTING_LLAMA4}",
        "routing_policy_tiers": f"{F.ROUTING_POLICY}: PolicyTraits",
    }
    out = []
    for name, expected, extract in table:
        try:
            found = extract()
        except Exception as error:  # a source too different to parse is "missing", named
            found = None
            expected = f"{expected} (reader failed: {error})"
        status = MISSING if found is None else (MATCH if found == expected else MISMATCH)
        out.append(Row(name, where.get(name, str(F.SOURCES.get(name, "")) or name), expected,
                       found if found is not None else "(not found)", status))
    return out


def _str(value):
    return None if value is None else str(value)


def installed_root() -> str:
    import importlib.util

    spec = importlib.util.find_spec("flashinfer")
    if spec is None or not spec.submodule_search_locations:
        raise BoundcheckInputError("--flashinfer-root", "flashinfer is not installed here; pass a source folder")
    return list(spec.submodule_search_locations)[0]


def add_parser(sub):
    p = sub.add_parser("drift", help="compare the model's facts with a flashinfer's sources")
    p.add_argument("--flashinfer-root", default=None,
                   help="a flashinfer package folder (with data/ and fused_moe/); default: the installed one")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    root = args.flashinfer_root or installed_root()
    if not os.path.isdir(root):
        raise BoundcheckInputError("--flashinfer-root", f"not a folder: {root}")
    table = rows(root)
    failures = sum(r.status != MATCH for r in table)
    if args.json:
        print(json.dumps({"flashinfer_root": root, "model": facts.FLASHINFER_VERSION, "failures": failures,
                          "facts": [r.__dict__ for r in table]}, indent=2))
    else:
        print(f"boundcheck drift: model of flashinfer {facts.FLASHINFER_VERSION} against {root}")
        for r in table:
            print(f"  {r.status:<8} {r.fact:<24} {r.where}")
            if r.status != MATCH:
                print(f"           model:  {r.model}\n           source: {r.source}")
        print(f"{len(table) - failures}/{len(table)} facts match")
    return min(failures, 100)


if __name__ == "__main__":
    sys.exit("use `boundcheck drift`")
