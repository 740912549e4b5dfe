"""The README's engine table: `boundcheck audit` of each engine path in examples/engines/
at five models, each path's chunk function lifted unchanged with --target and its
tune_max_num_tokens as the engine passes it, under the release the engine pins.

    python tools/engine_table.py [--json]

The "looked up" column says how the path's call sites find the entry point (each map's
LOOKUPS; every one is a place runtime.install() guards). Below the table, one line per engine
with its call sites (CALL_SITES, checked against the engine's sources by
tests/test_engine_maps.py) and what is not audited or not guardable.

Each cell: "safe to F" (F the largest chunk the path passes: every n <= F launches with the
engine's tune_max_num_tokens at n), "fails at n = X" (the first token count that does not
launch, with the tile) or "safe, above cap" (launches, but above the empirical NVFP4 cap).
Fused shared experts: vLLM 0.33.0 passes the routed experts only (no fusion); SGLang may
fuse DeepSeek-V3's shared expert into the routed ones where the launcher takes fused shared
experts, so there both 0 and 1 are audited and the cell shows the earlier failure. Every expert local (no EP): by the theorem
global_covers_local a bound safe for all E experts is safe for any local count.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from boundcheck import domain as D  # noqa: E402
from boundcheck.audit import audit  # noqa: E402
from boundcheck.lift import lift_function  # noqa: E402
from boundcheck.resolution import resolve  # noqa: E402

MODELS = [  # name, num_experts, top_k, fused shared experts
    ("Nemotron 3 Super", 512, 22, "0"),
    ("DeepSeek-V3", 256, 8, "0..1"),
    ("Kimi K2", 384, 8, "0"),
    ("Qwen3-235B", 128, 8, "0"),
    ("gpt-oss-120b", 128, 4, "0"),
]
ENGINES = [("vLLM 0.33.0", "vllm_0_33_0", False), ("SGLang 0.5.23", "sglang_0_5_23", True)]  # may fuse shared


# Short labels of the maps' lookup kinds (LOOKUPS in examples/engines/*.py) for the table.
LOOKUP_LABELS = {
    "fused_moe_attr": "`flashinfer.fused_moe.X` at the call",
    "local_from_flashinfer": "`from flashinfer import X` in the function",
    "local_from_fused_moe": "`from flashinfer.fused_moe import X` in the function",
    "sglang_wrapper": "SGLang custom-op wrapper, import in it",
    "module_bound": "module-level `from flashinfer.fused_moe import X`",
}


def looked_up(module, path_name) -> str:
    """How the call sites of one path find the entry point: the labels of their lookup kinds."""
    kinds = []
    for _, _, _, kind, _ in module.SITES[path_name]:
        if module.LOOKUPS[kind][0] == "call" and kind not in kinds:
            kinds.append(kind)
    return "; ".join(LOOKUP_LABELS.get(kind, kind) for kind in kinds)


def call_sites_line(engine, module) -> str:
    """One line per engine: its call sites, and what the table leaves out."""
    def lines(rows):
        return sorted({(file, line) for file, line, _, _, _ in rows})

    audited = [row for rows in module.SITES.values() for row in rows if module.LOOKUPS[row[3]][0] == "call"]
    direct = lines(row for row in audited if row[3] != "sglang_wrapper")
    wrapped = lines(row for row in audited if row[3] == "sglang_wrapper")
    text = f"{engine}: {len(direct)} lines call an entry point"
    if wrapped:
        text += f" and {len(wrapped)} call the engine's wrappers of one"
    text += f", in {len(module.PATHS)} paths"
    text += ", all guarded by runtime.install()" if all(module.LOOKUPS[row[3]][1] is True for row in audited) else ""
    others = lines(row for row in module.OTHER_SITES if module.LOOKUPS[row[3]][0] == "call")
    if others:
        text += ("; not audited and not guardable: the experimental TRT-LLM LoRA MoE (same-named copies and compiled "
                 f"ops at {', '.join(f'{f.rsplit(chr(47), 1)[1]}:{n}' for f, n in others)}, and "
                 f"{len(module.EXPERIMENTAL_LORA)} calls of its own kernels)")
    return text + "."


def _first_failure(report):
    cex = report.get("counterexample") or {}
    return cex.get("tokens", float("inf")) if report["status"] == "refuted" else float("inf")


def _cell(report) -> str:
    if report["status"] == "refuted":
        cex = report["counterexample"]
        if "grid_y" in cex:
            shared = f", {cex['shared_experts']} fused shared" if cex["shared_experts"] else ""
            return f"fails at n = {cex['tokens']:,} (tile {cex['tile']}{shared})"
        return f"fails: {cex.get('message') or cex.get('int32')}"
    if report["status"] != "proved":
        return report["status"]
    point = (report.get("loosest") or report.get("looser_at") or {})
    formula = point.get("formula")
    text = f"safe to {formula:,}" if isinstance(formula, int) else "safe"
    if (report.get("cap") or {}).get("exceeded"):
        text += ", above cap"
    return text


def rows():
    for engine, module_name, may_fuse in ENGINES:
        module = importlib.import_module(f"examples.engines.{module_name}")
        path_file = ROOT / "examples" / "engines" / f"{module_name}.py"
        era = resolve(module.FLASHINFER)
        for name, where, precisions, function, tune in module.PATHS:
            lifted = lift_function(f"{path_file}:{function}")
            for precision in precisions:
                cells = []
                for _, experts, top_k, shared in MODELS:
                    takes_shared = may_fuse and D.launcher_of(precision) in era.shared_experts
                    options = ["0", "1"] if takes_shared and shared != "0" else ["0"]
                    reports = [audit(lifted, precision=precision, num_experts=str(experts), top_k=str(top_k),
                                     shared_experts=option, tune_max_num_tokens=tune, flashinfer=module.FLASHINFER)
                               for option in options]
                    cells.append(min(reports, key=_first_failure))
                yield {"engine": engine, "path": name, "where": where, "precision": precision,
                       "looked_up": looked_up(module, name), "sites": module.SITES[name],
                       "chunk": function, "tune_max_num_tokens": tune, "flashinfer": module.FLASHINFER,
                       "cells": cells}


def _version() -> str:
    from importlib.metadata import version

    return version("boundcheck")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    table = list(rows())
    if args.json:
        print(json.dumps(table, indent=1, default=str))
        return 0
    header = ["engine (flashinfer)", "path", "looked up", "precision", "chunk", "tune_max_num_tokens"] + [
        f"{name} {e}/{k}" + (" +1 shared" if s != "0" else "") for name, e, k, s in MODELS]
    print(f"`python tools/engine_table.py`, boundcheck {_version()}; each cell: the first failing token "
          "count (tile), or the chunk the path passes where every smaller count launches.\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in table:
        chunk = "none" if row["chunk"] == "no_chunking" else f"`{row['chunk']}`"
        cells = [f"{row['engine']} ({row['flashinfer']})", row["path"], row["looked_up"], row["precision"], chunk,
                 f"`{row['tune_max_num_tokens']}`"] + [_cell(r) for r in row["cells"]]
        print("| " + " | ".join(cells) + " |")
    print()
    for engine, module_name, _ in ENGINES:
        print(call_sites_line(engine, importlib.import_module(f"examples.engines.{module_name}")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
