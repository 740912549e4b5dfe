"""Every finding of the 32-bit inventory is classified, in every modeled release, and each
class's evidence holds: a bounded rule's bound is checked arithmetic over stated maxima
(and a wrong bound is refused), an entry it leans on holds in the release, the source
facts an unreached or no-effect rule rests on are true in every release it classifies, the
maxima follow the model and the sources, and no rule is dead."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

import pytest

from boundcheck import facts
from boundcheck.drift.compiled import sources_root
from boundcheck.drift.inventory import bounds, classes, record, rules
from boundcheck.drift.inventory.release import Finding
from boundcheck.kernel_limits import LIMITS_TABLE, Shape, padded_rows
from boundcheck.releases import ERAS, MODELED_VERSIONS
from boundcheck.tiles import POWER_OF_TWO_EXPONENTS

RECORDED = record.load()


def _findings(version):
    return [Finding(k[0], 0, k[1], k[2], "", k[3], True) for k in RECORDED[version]["reached_findings"]]


def _classified():
    """rule -> the releases in which it classifies a finding."""
    used = defaultdict(set)
    for version in MODELED_VERSIONS:
        for finding in _findings(version):
            rule = classes.rule_for(finding, version)
            if rule is not None and classes.classify(finding, version)[0] != classes.UNCLASSIFIED:
                used[rule].add(version)
    return used


USED = _classified()


@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_every_finding_is_classified(version):
    """No finding of the release is left unclassified, and each class says why."""
    left = []
    for finding in _findings(version):
        kind, reason = classes.classify(finding, version)
        assert kind in classes.CLASSES and reason, (finding, kind)
        if kind == classes.UNCLASSIFIED:
            left.append(f"{finding.file} {finding.function}: {finding.code} ({finding.type})")
    assert not left, f"{version}: {len(left)} unclassified:\n" + "\n".join(left)


def test_every_rule_classifies_something():
    dead = [rule for rule in classes.RULES if rule not in USED]
    assert not dead, [(r.functions, r.codes or r.pattern) for r in dead]


@pytest.mark.parametrize("rule", [r for r in rules.BOUNDED_RULES if r.bound], ids=lambda r: r.bound)
def test_each_bound_is_checked_arithmetic_below_its_findings_limit(rule):
    value = bounds.value_of(rule.bound)
    for version in USED[rule]:
        for finding in _findings(version):
            if classes.rule_for(finding, version) is rule:
                holds, _, limit = bounds.check(rule.bound, finding.type)
                assert holds and value < limit, (rule.bound, finding)


def test_a_bound_past_the_limit_leaves_its_findings_unclassified():
    """The broken twin of the bounded class: the expanded index bounded as n x THREADS (it
    is not: 2^25 x 1024 passes 2^31) is refused, and the findings it would cover are
    reported unclassified, not bounded."""
    assert bounds.check("N*THREADS", "int") == (False, (2**25 - 1) * 1024, 2**31)
    assert bounds.check("N*K", "unsigned int")[0] and not bounds.check("2*N*K", "int")[0]
    rule = next(r for r in rules.BOUNDED_RULES if r.bound == "N*K + ROUTING_GRID*BLOCK_ELTS")
    finding = next(f for f in _findings("0.7.4") if classes.rule_for(f, "0.7.4") is rule)
    broken = replace(rule, bound="N*THREADS")
    assert classes.bounded_reason(broken, finding, "0.7.4") is None
    assert re.search(r"= 1,207,959,518 < 2\^3[12]$", classes.bounded_reason(rule, finding, "0.7.4"))


@pytest.mark.parametrize("ctype, limit", [("int", 2**31), ("unsigned int", 2**32), ("short", 2**15),
                                          ("unsigned short (from declarations)", 2**16), ("char", 2**7),
                                          ("signed char", 2**7), ("unsigned char", 2**8),
                                          ("int (from declarations)", 2**31)])
def test_a_narrow_counter_is_checked_against_its_own_width(ctype, limit):
    """A `short` counter (a `++` of one is listed) wraps at 2^15, not at int's 2^31."""
    assert bounds.limit_of(ctype) == limit
    assert bounds.check("WARPS", ctype)[0] and not bounds.check("THREADS*THREADS*THREADS*THREADS", ctype)[0]
    assert bounds.check("THREADS", ctype)[0] == (1024 < limit)


@pytest.mark.parametrize("bound", ["N - 1", "N * -1", "max(N, K)", "N ** 2", "FOO * N", "N * 1.5"])
def test_a_bound_is_a_monotone_expression_over_the_maxima(bound):
    with pytest.raises(bounds.BoundError):
        bounds.value_of(bound)


def test_an_entry_rule_holds_only_where_its_entry_does():
    """The finalize output index leans on 0.2.8's scalar-index entry up to 0.2.9, on the
    small-call arithmetic (n x width < 1184 x 256) from 0.2.10, and adds the unaligned
    entry from 0.7.2.post1; a rule whose entry is not in the release bounds nothing."""
    finding = Finding("dev_kernel.cu", 0, "moe::dev::finalize::finalizeKernel", "tokenIdx * params . hiddenDim", "",
                      "int (from declarations)", True)
    picked = {v: classes.rule_for(finding, v) for v in ("0.2.8", "0.2.10", "0.7.2", "0.7.2.post1", "0.7.4")}
    assert picked["0.2.8"].entries == ("finalize_scalar_index_0_2_8",)
    assert picked["0.2.10"] is picked["0.7.2"] and picked["0.2.10"].bound == "1184*256"
    assert picked["0.7.2.post1"] is picked["0.7.4"] and picked["0.7.4"].entries == ("finalize_scalar_index_unaligned",)
    for version, rule in picked.items():
        assert classes.bounded_reason(rule, finding, version), version
    assert classes.bounded_reason(picked["0.2.8"], finding, "0.7.4") is None  # 0.2.8's entry is not in 0.7.4
    assert classes.bounded_reason(replace(picked["0.7.4"], entries=("no_such_entry",)), finding, "0.7.4") is None
    assert {e for r in rules.BOUNDED_RULES for e in r.entries} <= {e.name for e in LIMITS_TABLE}


def test_the_maxima_follow_the_model():
    m = {name: x.value for name, x in bounds.MAXIMA.items()}
    assert m["N"] == 2**POWER_OF_TWO_EXPONENTS - 1  # the int32 theorem's n < 2^25
    assert m["K"] == facts.MAX_TOP_K + facts.MAX_FUSED_SHARED_EXPERTS
    assert m["E"] == facts.MAX_EXPERTS + facts.MAX_FUSED_SHARED_EXPERTS
    assert m["T"] == max(t for era in ERAS for tiles in era.tiles.values() for t in tiles) == 256
    assert m["CTAS"] == facts.GRID_DIM_Y_MAX and m["WIDTH"] == facts.MAX_WIDTH


# The routing constants the maxima rest on, as the sources write them (every release that
# has the name): each value within the maximum.
_SOURCE_MAXIMA = (
    (r"int32_t\s+const\s+maxNumBlocks\s*=\s*(\d+);", "ROUTING_GRID"),
    (r"static\s+constexpr\s+int\s+NumBlocksPerCluster\s*=\s*(\d+);", "CLUSTER"),
    (r"static\s+constexpr\s+int\s+MaxExpandedIdxPerThread\s*=\s*(\d+);", None),  # x 1,024 <= BLOCK_ELTS
    (r"(?:static\s+constexpr\s+int|int\s+constexpr)\s+(?:WarpKernelMaxNumTokens|BlockKernelMaxNumTokens)\s*=\s*(\d+);",
     "SMALL_TOKENS"),
)


@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_the_routing_constants_are_within_the_maxima(version):
    data = sources_root() / version / "flashinfer" / "data"
    if not data.is_dir():
        pytest.skip(f"flashinfer {version} not fetched (tools/fetch_flashinfer_sources.py)")
    text = "\n".join(p.read_text(errors="replace") for p in sorted(data.rglob("*"))
                     if p.suffix in (".cu", ".cuh", ".h") and "routing" in p.as_posix().lower())
    seen = 0
    for pattern, name in _SOURCE_MAXIMA:
        for value in map(int, re.findall(pattern, text)):
            limit = bounds.MAXIMA["BLOCK_ELTS"].value // 1024 if name is None else bounds.MAXIMA[name].value
            assert value <= limit, (version, pattern, value, limit)
            seen += 1
    assert seen, f"{version}: none of the routing constants found"


def _fact_cases():
    for rule, versions in USED.items():
        for fact in rule.facts:
            yield pytest.param(rule, fact, sorted(versions), id=f"{type(rule).__name__}:{fact.pattern[:40]}")


@pytest.mark.parametrize("rule,fact,versions", list(_fact_cases()))
def test_each_source_fact_holds_where_its_rule_classifies(rule, fact, versions):
    checked = 0
    for version in versions:
        data = sources_root() / version / "flashinfer" / "data"
        if not data.is_dir():
            continue
        holds, why = fact.holds(data)
        assert holds, f"{version}: {why}"
        checked += 1
    if not checked:
        pytest.skip("sources not fetched (tools/fetch_flashinfer_sources.py)")


def test_a_fact_that_is_false_is_reported(tmp_path):
    """The twin of the facts: a runner that sets mUseDeepSeekFp8 from the arguments, and a
    caller of permute::run, make the unreached rules' facts false."""
    (tmp_path / "csrc").mkdir()
    (tmp_path / "csrc" / "trtllm_fused_moe_runner.cu").write_text(
        "finalizeData.mUseDeepSeekFp8 = args.mUseDeepSeekFp8;\nmoe::dev::permute::run(data, stream);\n")
    finalize = next(r for r in rules.UNREACHED_RULES if r.functions == ("::finalizeDeepSeekKernel",))
    permute = next(r for r in rules.UNREACHED_RULES if r.functions == ("::permuteKernel",))
    assert not finalize.facts[0].holds(tmp_path)[0]
    assert not permute.facts[0].holds(tmp_path)[0]
    assert not rules.SourceFact("nowhere/*.cu", r"(x)", (), required=False).holds(tmp_path)[0]  # no file: no fact


def test_modeled_means_the_entrys_own_operation_in_its_own_function():
    """A bare operand inside an entry's code (num_tokens), the same text in an unreached
    kernel (permuteKernel's row index, the plain activation's base index) or a prefix of the
    entry's (hiddenDim of hiddenDimPadded) is not modeled by the entry: its own rule says why."""
    cases = [
        ("csrc/trtllm_fused_moe_kernel_launcher.cu", "flashinfer::trtllm_bf16_moe", "num_tokens", "int", "0.6.0"),
        ("csrc/trtllm_fused_moe_dev_kernel.cu", "moe::dev::permute::permuteKernel",
         "permutedIdx * params . hiddenDim", "int (from declarations)", "0.6.5"),
        ("csrc/trtllm_fused_moe_dev_kernel.cu", "moe::dev::activation::activationKernel",
         "permutedIdx * params . innerDim + hiddenIdx", "int", "0.6.5"),
    ]
    for file, function, code, ctype, version in cases:
        kind, _ = classes.classify(Finding(file, 0, function, code, "", ctype, True), version)
        assert kind != classes.MODELED, (function, code, kind)
    kernel = Finding("csrc/trtllm_fused_moe_dev_kernel.cu", 0, "moe::dev::activation::activationDeepSeekKernel",
                     "permutedIdx * params . innerDim + hiddenIdx", "", "int", True)
    assert classes.classify(kernel, "0.6.5") == (classes.MODELED, "deepseek_activation_index")


@pytest.mark.parametrize("formula", ["filled", "permuted_min"])
def test_a_token_index_is_below_the_padded_rows(formula):
    """n <= P(n), which the finalize rules use (the output row below the input row)."""
    for top_k in (1, 2, 8, 34):
        for experts in (1, 7, 256, 2050):
            for tile in (8, 64, 256):
                shape = Shape(top_k, experts, tile, 1024, 1024, formula)
                for n in (1, 2, 3, 100, 4097, 65_535, 1 << 20):
                    assert n <= padded_rows(n, shape), (formula, top_k, experts, tile, n)
