"""The modeled eras as the independent oracle (tests/oracle.py) describes them.

The oracle knows the candidate rules by the names RELEASES.md gives them; this table maps
each era to that description by hand, from the release notes, not from the model's
fields, so that a wrong field in boundcheck.releases shows up as a disagreement."""

from __future__ import annotations

from boundcheck.releases import ERAS

# era -> (computeSelectedTileN rule, tuned tile checked, autotuner buckets); up to 0.4.1
# the caller's tile ("caller"), with runner.h's older CTA formula and no cluster rounding
# of the grid up to 0.4.0.
ORACLE = {
    "E1": ("caller", False, "round_down"),
    "E2": ("caller", False, "round_down"),
    "E3": ("caller", False, "round_down"),
    "E5": ("caller", False, "round_down"),
    "E6": ("caller", False, "round_down"),
    "E7": ("v1", False, "round_down"),
    "E8": ("v2", False, "round_down"),
    "E9": ("v2", True, "round_down"),
    "E10": ("v2", True, "round_down"),
    "E11": ("v2", True, "round_down"),
    "E12": ("v2", True, "round_down"),
    "E13": ("v2", True, "round_down"),
    "E14": ("v2", False, "round_down"),
    "E15": ("v2", False, "round_down"),
    "E16": ("v2", False, "hybrid"),
    "E17": ("v2", False, "hybrid"),
    "E18": ("v2", False, "hybrid"),
    "E19": ("v2", False, "hybrid"),
    "E20": ("v2", False, "hybrid"),
    "E21": ("v2", False, "hybrid"),
    "E22": ("v2", False, "hybrid"),
    "E23": ("v3", False, "hybrid"),
    "E24": ("v4", False, "hybrid"),
}


OLD_CTA_FORMULA = {"E1", "E2", "E3", "E5"}
# getGridDim's Y cluster handling, read in BatchedGemmInterface.h of 0.3.1 and 0.4.0 (none),
# 0.4.1 - 0.6.10 (divUpMul) and 0.6.11 - 0.6.13 (times the cluster); E16 holds 0.6.10 and
# 0.6.11 - 0.6.12, so it takes the smaller budget, the multiplication.
GRID_RULE = {**{name: "ignored" for name in OLD_CTA_FORMULA},
             **{f"E{i}": "round_up" for i in range(6, 16)},
             **{f"E{i}": "multiply" for i in range(16, 25)}}
# 0.4.1's fused_moe/core.py: FP4 with tile_tokens_dim=None runs calculate_tile_tokens_dim.
PYTHON_PICKS_TILE = {("E6", "nvfp4"), ("E6", "mxfp4_mxfp8"), ("E6", "mxfp4_bf16")}


def oracle_era(era, precision, num_experts=None):
    rule, checked, buckets = ORACLE[era.name]
    if (era.name, precision) in PYTHON_PICKS_TILE:
        rule = "caller_heuristic"
    old = era.name in OLD_CTA_FORMULA
    return {"rule": rule, "checked": checked, "buckets": buckets, "num_experts": num_experts,
            "formula": "permuted_min" if old else "filled", "grid": GRID_RULE[era.name]}


def distinct_geometries():
    """One (era, precision, tiles) per distinct (oracle description, tile set): what the
    exhaustive tests scan."""
    seen, out = set(), []
    for era in ERAS:
        for precision, tiles in era.tiles.items():
            key = (tuple(oracle_era(era, precision).items()), tiles)
            if key not in seen:
                seen.add(key)
                out.append((era, precision, tiles))
    return out
