"""The routing kernels' limits (experts and top_k per method, DeepSeek groups), each read
from the first of its files, newest layout first, that defines it; and the routing policy
tiers (the largest Tier<E, K> of each PolicyTraits pair)."""

from __future__ import annotations

import re

from .. import facts
from .cxx import _int_constant
from .folder import _Folder
from .found import Found, Missing
from ..facts import LAUNCHER
from .paths import DEEPSEEK_FILES, LLAMA4_LIMITS, RENORMALIZE_LIMITS, ROUTING_CHECK_FILES, ROUTING_ONE_FILE

_ROUTING_FIELDS = ("max_experts", "max_top_k", "deepseek_grouped_experts", "deepseek_grouped_top_k",
                   "deepseek_groups", "deepseek_topk_groups", "llama4_experts", "llama4_top_k")


def _first_defining(folder: _Folder, candidates, read) -> tuple[int | None, str | None]:
    """`read(path)` of the first candidate file that exists and yields a value; a candidate
    that exists but cannot be read is Missing, never skipped."""
    for path in candidates:
        if folder.exists(path):
            value = read(path)
            if value is not None:
                return value, path
    return None, None


def _routing_limits(folder: _Folder) -> Found:
    """The limits of the routing kernels, as releases.Routing holds them: max_experts and
    max_top_k are the widest any method accepts (renormalize/custom, DeepSeek, Llama4)."""
    values, where, absent = {}, set(), []

    def take(field, candidates, read):
        value, path = _first_defining(folder, candidates, read)
        values[field] = value
        if value is None:
            absent.append(field)
        else:
            where.add(path)

    def constant(names):
        """The first of `names` the file defines as a constexpr int."""
        return lambda path: next((v for v in (_int_constant(folder.cpp(path).text, n) for n in names)
                                  if v is not None), None)

    def checked(pattern):
        """The literal of a runner check, found by its message (comments are blanked)."""
        return lambda path: int(m.group(1)) if (m := re.search(pattern, folder.cpp(path).text)) else None

    take("renormalize_experts", [p for p, _, _ in RENORMALIZE_LIMITS], constant([e for _, e, _ in RENORMALIZE_LIMITS]))
    take("renormalize_top_k", [p for p, _, _ in RENORMALIZE_LIMITS], constant([k for _, _, k in RENORMALIZE_LIMITS]))
    take("deepseek_grouped_experts", DEEPSEEK_FILES, lambda path: max(
        (v for v in (_int_constant(folder.cpp(path).text, n)
                     for n in ("NumNemotronExperts", "NumKimiK2Experts", "NumDeepseekExperts")) if v is not None),
        default=None))
    take("deepseek_groups", DEEPSEEK_FILES, constant(["MaxNumGroups"]))
    take("llama4_experts", [p for p, _ in LLAMA4_LIMITS], constant([n for _, n in LLAMA4_LIMITS]))
    take("deepseek_grouped_top_k", ROUTING_CHECK_FILES, checked(r"\btopK\s*<=\s*(\d+)\s*,\s*\"For DeepSeek"))
    take("deepseek_topk_groups", ROUTING_CHECK_FILES, checked(r"\btopkGroup\s*<=\s*(\d+)\s*,\s*\"For DeepSeek"))
    take("llama4_top_k", ROUTING_CHECK_FILES, checked(r"\btopK\s*==\s*(\d+)\s*,\s*\"For Llama"))
    if absent:
        raise Missing(f"not found: {', '.join(absent)}")
    value = (
        max(values["renormalize_experts"], values["deepseek_grouped_experts"], values["llama4_experts"]),
        max(values["renormalize_top_k"], values["deepseek_grouped_top_k"], values["llama4_top_k"]),
        values["deepseek_grouped_experts"], values["deepseek_grouped_top_k"], values["deepseek_groups"],
        values["deepseek_topk_groups"], values["llama4_experts"], values["llama4_top_k"],
    )
    return Found(value, _describe_routing(value), ", ".join(sorted(where)))


def _caller_routing_limits(folder: _Folder) -> Found:
    """Up to 0.4.1: (experts, top_k) the routing accepts. Experts: DeepSeek's kernel runs
    one expert per thread (NumThreads: 256, 384 from 0.4.0; the other methods take 128);
    top_k: the launcher's checks `top_k <= 8`."""
    path = next((p for p in (DEEPSEEK_FILES[-1], ROUTING_ONE_FILE) if folder.exists(p)), None)
    if path is None:
        raise Missing(f"neither {DEEPSEEK_FILES[-1]} nor {ROUTING_ONE_FILE}")
    threads = _int_constant(folder.cpp(path).text, "NumThreads")  # the first: DeepSeek's
    top_ks = {int(k) for k in re.findall(r"\btop_k\s*<=\s*(\d+)", folder.cpp(LAUNCHER).text)}
    if threads is None or len(top_ks) != 1:
        raise Missing(f"{path}: NumThreads {threads}; {LAUNCHER}: top_k checks {sorted(top_ks)}")
    value = (threads, top_ks.pop())
    return Found(value, _describe_caller_routing(value), where=path)


def _describe_caller_routing(value) -> str:
    return f"DeepSeek routing: {value[0]} experts (one per thread); top_k <= {value[1]}"


def _describe_routing(value) -> str:
    experts, top_k, ds_experts, ds_top_k, groups, topk_groups, llama_experts, llama_top_k = value
    return (f"any method: {experts} experts, top_k {top_k}; DeepSeek grouped: {ds_experts} experts, "
            f"top_k {ds_top_k}, {groups} groups, topk_group {topk_groups}; Llama4: {llama_experts} experts, "
            f"top_k {llama_top_k}")


def _expected_routing(routing) -> tuple:
    return tuple(getattr(routing, name) for name in _ROUTING_FIELDS)


def _policy_tiers(folder: _Folder) -> Found:
    """The largest Tier<E, K> of each PolicyTraits pair the routing methods use."""
    policy = folder.cpp(facts.ROUTING_POLICY)
    value = {}
    for name, (pair, _, _) in facts.ROUTING_POLICY_TIERS.items():
        first, second = (p.strip() for p in pair.split(","))
        m = re.search(rf"struct\s+PolicyTraits\s*<\s*{first}\s*,\s*{second}\s*>\s*\{{", policy.code)
        if m is None:
            raise Missing(f"no PolicyTraits<{pair}> (routing method {name})")
        body = policy.code[m.end() - 1:policy.matching(m.end() - 1)]
        tiers = [(int(e), int(k)) for e, k in re.findall(r"Tier\s*<\s*(\d+)\s*,\s*(\d+)\s*>", body)]
        if not tiers:
            raise Missing(f"PolicyTraits<{pair}> lists no Tier<E, K>")
        value[name] = (max(e for e, _ in tiers), max(k for _, k in tiers))
    return Found(value, _describe_tiers(value))


def _describe_tiers(value: dict) -> str:
    return ", ".join(f"{name}: {e}/{k}" for name, (e, k) in value.items())
