"""Comparison of one folder's extracted facts with an era (boundcheck.releases): one Row
per fact that applies to the era, MATCH, MISMATCH or MISSING; and the eras the folder
identifies as (those whose every fact matches)."""

from __future__ import annotations

from dataclasses import dataclass

from ..variants import Buckets as BucketMap
from .. import facts, releases
from ..facts import FUSED_MOE_CORE, LAUNCHER, MOE_RUNNER, RUNNER_H
from ..releases import FP4_PRECISIONS
from .buckets import MODEL_PHASES, SAME_MAPPING, Buckets, _describe_buckets, _era_bucket_builder
from .extraction import Extracted, extract
from .found import Found, Missing
from .launcher import CandidateRule, _describe_default, _describe_rule, tuned_tile_kind_of
from .routing import _describe_caller_routing, _describe_routing, _describe_tiers, _expected_routing
from .runner import _describe_shared

MATCH, MISMATCH, MISSING = "match", "MISMATCH", "MISSING"


@dataclass(frozen=True)
class Row:
    fact: str
    where: str
    model: str
    source: str
    status: str


@dataclass(frozen=True)
class _Fact:
    """One row to be: the era's value, how to show a value, what the source gave."""

    name: str
    where: str
    expected: object
    describe: object  # value -> str
    found: object  # Found | Missing
    matches: object = None  # (found value, expected) -> bool; None: equality


def _where(era, key: str, default: str) -> str:
    source = era.sources.get(key)
    return str(source) if source is not None else default


def _tiles_source_key(precision: str) -> str:
    if precision in FP4_PRECISIONS:
        return "tiles_fp4"
    return "tiles_mxfp8" if precision == "mxfp8" else "tiles"


def _describe_metadata(value) -> str:
    return "runs routing_metadata.tile_n" if value else "no tile taken from routing metadata"


def _facts_of(era, extracted: Extracted) -> list[_Fact]:
    """Every fact that applies to `era`, with the era's value and the source's."""
    found = extracted.facts.get
    builder = _era_bucket_builder(era)
    hybrid = era.buckets is BucketMap.HYBRID
    expected_buckets = Buckets(era.buckets, MODEL_PHASES if hybrid else None, SAME_MAPPING if hybrid else None,
                               frozenset({builder}) if builder else frozenset())

    def buckets_match(value: Buckets, expected: Buckets) -> bool:
        same = (value.kind, value.phases, value.mapping) == (expected.kind, expected.phases, expected.mapping)
        return same and (builder is None or builder in value.builders)

    launch = [
        _Fact("cta_formula", _where(era, "cta_formula", f"{RUNNER_H}: getMaxNumCtasInBatchDim"), era.cta_formula,
              str, found("cta_formula")),
        _Fact("padded_count", f"{RUNNER_H}: getMaxPermutedPaddedCount", era.cta_formula, str, found("padded_count")),
        _Fact("tile_source", _where(era, "tile_source", f"{LAUNCHER}: computeSelectedTileN"), _expected_tile_source(era),
              _describe_tile_source, found("tile_source")),
    ]
    if era.tile_source.from_caller:
        # Up to 0.4.1 no C++ picks a tile and the autotuner only picks a config index:
        # the tile is the caller's (or 0.4.1's Python choice), whatever the tuner does.
        return launch + [
            _Fact("entry_points", "fused_moe*.py: def trtllm_*_moe(", frozenset(era.entry_points),
                  lambda v: ", ".join(sorted(v)), found("entry_points")),
            _Fact("routing_limits", _where(era, "routing", "routing kernels"),
                  (era.routing.max_experts, era.routing.max_top_k), _describe_caller_routing,
                  found("caller_routing_limits")),
        ]
    rows = launch + [
        _Fact("candidate_rule", _where(era, "candidate_rule", f"{LAUNCHER}: computeSelectedTileN"),
              CandidateRule(era.center, era.tuner_smaller, 2, era.global_tile), _describe_rule,
              found("candidate_rule")),
        _Fact("default_tile", _where(era, "default_tile", f"{LAUNCHER}: selectDefaultTileN"),
              ("smallest candidate", 1, True), _describe_default, found("default_tile")),
        _Fact("tuned_tile", _where(era, "tuned_tile", f"{LAUNCHER}: launchers_map"), tuned_tile_kind_of(era),
              str, found("tuned_tile")),
        _Fact("precisions", f"{LAUNCHER}: launcher classes / entry functions, FP4 dtype deduction",
              tuple(era.tiles), ", ".join, found("precisions")),
    ]
    rows += [_Fact(f"tiles_{precision}", _where(era, _tiles_source_key(precision), _where(era, "tiles", LAUNCHER)),
                   tuple(tiles), str, extracted.tiles.get(precision, Missing("not read")))
             for precision, tiles in era.tiles.items()]
    rows += [
        _Fact("buckets", _where(era, "buckets", FUSED_MOE_CORE), expected_buckets,
              lambda v: _describe_buckets(v, builder), found("buckets"), buckets_match),
        _Fact("tune_max_default", _where(era, "tune_max_default", FUSED_MOE_CORE), (era.tune_max_default,),
              lambda v: " / ".join(map(str, v)), found("tune_max_default")),
        _Fact("shared_experts", _where(era, "counts", MOE_RUNNER),
              (bool(era.shared_experts), frozenset(era.shared_experts)), _describe_shared, found("shared_experts")),
        _Fact("entry_points", "fused_moe/*.py: def trtllm_*_moe(", frozenset(era.entry_points),
              lambda v: ", ".join(sorted(v)), found("entry_points")),
        _Fact("routing_limits", _where(era, "routing", "routing kernels"), _expected_routing(era.routing),
              _describe_routing, found("routing_limits")),
    ]
    if era.routing.policy_tiers:
        rows.append(_Fact("routing_policy_tiers", f"{facts.ROUTING_POLICY}: PolicyTraits",
                          {name: (e, k) for name, (_, e, k) in facts.ROUTING_POLICY_TIERS.items()},
                          _describe_tiers, found("routing_policy_tiers")))
    metadata = found("routing_metadata_tile")
    # A yes/no feature newer than the era is a row too, so that it shows as a mismatch.
    if era.routing_metadata_tile or (isinstance(metadata, Found) and metadata.value):
        rows.append(_Fact("routing_metadata_tile", _where(era, "routing_metadata", FUSED_MOE_CORE),
                          era.routing_metadata_tile, _describe_metadata, metadata))
    return rows


def _expected_tile_source(era) -> tuple:
    if not era.tile_source.from_caller:
        return ("launcher",)
    return ("caller", era.caller_default_tile, (64, 128) if era.caller_heuristic else None)


def _describe_tile_source(value) -> str:
    if value == ("launcher",):
        return "C++ picks the tile (computeSelectedTileN)"
    _, default, heuristic = value
    text = f"the caller's tile_tokens_dim (default {default})"
    return text + ("; None: calculate_tile_tokens_dim, at most 64 (bf16 activations) or 128" if heuristic else "")


def _row(fact: _Fact) -> Row:
    model = fact.describe(fact.expected)
    if not isinstance(fact.found, Found):
        return Row(fact.name, fact.where, model, f"(not found: {fact.found})", MISSING)
    value = fact.found.value
    ok = fact.matches(value, fact.expected) if fact.matches else value == fact.expected
    text = fact.found.text
    if not ok and isinstance(value, frozenset) and isinstance(fact.expected, frozenset):
        extra, absent = sorted(value - fact.expected), sorted(fact.expected - value)
        text += f" [extra: {', '.join(extra) or 'none'}; missing: {', '.join(absent) or 'none'}]"
    if fact.found.where:
        text += f" (read in {fact.found.where})"
    return Row(fact.name, fact.where, model, text, MATCH if ok else MISMATCH)


def compare(extracted: Extracted, era) -> list[Row]:
    return [_row(fact) for fact in _facts_of(era, extracted)]


def rows(root: str, era) -> list[Row]:
    """One row per fact of `era`, compared with the sources under `root`."""
    return compare(extract(root), era)


def _matching_eras(extracted: Extracted) -> list:
    return [era for era in releases.ERAS if all(r.status == MATCH for r in compare(extracted, era))]


def identify(root: str) -> list:
    """The modeled eras whose every fact the sources under `root` match (in release order)."""
    return _matching_eras(extract(root))


def identification_line(eras) -> str:
    if not eras:
        return "sources match no modeled era"
    named = "; ".join(f"{era.name} (versions {', '.join(era.versions)})" for era in eras)
    return f"sources match era {named}" if len(eras) == 1 else f"sources match eras {named}"
