"""The README's engine table: `boundcheck audit` of each engine path in examples/engines/
at five models, each path's chunk function lifted unchanged with --target and its
tune_max_num_tokens as the engine passes it, under the release the engine pins.

    python tools/engine_table.py [--json]

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
from boundcheck.releases import resolve  # noqa: E402

MODELS = [  # name, num_experts, top_k, fused shared experts
    ("Nemotron 3 Super", 512, 22, "0"),
    ("DeepSeek-V3", 256, 8, "0..1"),
    ("Kimi K2", 384, 8, "0"),
    ("Qwen3-235B", 128, 8, "0"),
    ("gpt-oss-120b", 128, 4, "0"),
]
ENGINES = [("vLLM 0.33.0", "vllm_0_33_0", False), ("SGLang 0.5.23", "sglang_0_5_23", True)]  # may fuse shared


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
    header = ["engine (flashinfer)", "path", "precision", "chunk", "tune_max_num_tokens"] + [
        f"{name} {e}/{k}" + (" +1 shared" if s != "0" else "") for name, e, k, s in MODELS]
    print(f"`python tools/engine_table.py`, boundcheck {_version()}; each cell: the first failing token "
          "count (tile), or the chunk the path passes where every smaller count launches.\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in table:
        chunk = "none" if row["chunk"] == "no_chunking" else f"`{row['chunk']}`"
        cells = [f"{row['engine']} ({row['flashinfer']})", row["path"], row["precision"], chunk,
                 f"`{row['tune_max_num_tokens']}`"] + [_cell(r) for r in row["cells"]]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
