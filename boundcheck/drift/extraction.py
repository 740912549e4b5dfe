"""Every fact read from one folder, once: each reader's Found, or Missing with the reason
(a reader that fails on code too different says so in the row instead of failing)."""

from __future__ import annotations

from dataclasses import dataclass

from ..releases import ALL_PRECISIONS
from .buckets import _buckets
from .folder import _Folder, check_root
from .found import Found, Missing
from .launcher import _candidate_rule_found, _default_tile, _tuned_tile
from .python_sources import _entry_points, _routing_metadata_tile, _tile_source, _tune_max_default
from .routing import _caller_routing_limits, _policy_tiers, _routing_limits
from .runner import _cta_formula, _padded_count, _shared_experts
from .tile_sets import _tile_sets


@dataclass
class Extracted:
    """Every fact read from one folder: fact -> Found | Missing (tile sets by precision)."""

    root: str
    facts: dict
    tiles: dict


def _attempt(read):
    try:
        return read()
    except Missing as missing:
        return missing
    except RecursionError:
        return Missing("too complex: code nested too deeply for drift's readers")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, ArithmeticError, MemoryError) as error:
        # code too different for a reader: say so in the row rather than fail the command
        return Missing(f"reader failed: {type(error).__name__}: {error}")


def _precisions_found(tile_sets) -> Found | Missing:
    if isinstance(tile_sets, Missing):
        return tile_sets
    present = tuple(p for p in ALL_PRECISIONS if tile_sets[1].get(p))
    return Found(present, ", ".join(present) or "none")


def extract(root: str) -> Extracted:
    """Read every fact from the folder once; compare() then checks them against any era."""
    folder = _Folder(check_root(root))
    readers = {
        "cta_formula": _cta_formula, "padded_count": _padded_count, "candidate_rule": _candidate_rule_found,
        "default_tile": _default_tile, "tuned_tile": _tuned_tile, "buckets": _buckets,
        "tune_max_default": _tune_max_default, "shared_experts": _shared_experts, "entry_points": _entry_points,
        "routing_limits": _routing_limits, "routing_policy_tiers": _policy_tiers,
        "routing_metadata_tile": _routing_metadata_tile, "tile_source": _tile_source,
        "caller_routing_limits": _caller_routing_limits,
    }
    found = {name: _attempt(lambda read=read: read(folder)) for name, read in readers.items()}
    tile_sets = _attempt(lambda: _tile_sets(folder))
    found["precisions"] = _precisions_found(tile_sets)
    tiles = {p: tile_sets for p in ALL_PRECISIONS} if isinstance(tile_sets, Missing) else tile_sets[0]
    return Extracted(root, found, tiles)
