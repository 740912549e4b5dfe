"""The modeled eras as the independent oracle (tests/oracle.py) describes them.

The oracle knows the candidate rules by the names RELEASES.md gives them; this table maps
each era to that description by hand, from the release notes, not from the model's
fields, so that a wrong field in boundcheck.releases shows up as a disagreement."""

from __future__ import annotations

from boundcheck.releases import ERAS

# era -> (computeSelectedTileN rule, tuned tile checked, autotuner buckets)
ORACLE = {
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


def oracle_era(era, num_experts=None):
    rule, checked, buckets = ORACLE[era.name]
    return {"rule": rule, "checked": checked, "buckets": buckets, "num_experts": num_experts}


def distinct_geometries():
    """One (era, tiles) per distinct (oracle description, tile set): what the exhaustive
    tests scan."""
    seen, out = set(), []
    for era in ERAS:
        for tiles in era.tiles.values():
            key = (ORACLE[era.name], tiles)
            if key not in seen:
                seen.add(key)
                out.append((era, tiles))
    return out
