"""The README's bounds table: the proven bound of each model shape, per precision, for
every modeled release (consecutive eras with equal bounds share a row).

    python tools/bounds_table.py [--precision P ...]

Every number is boundcheck.bound.chunk_bound (the function `boundcheck chunk` and the
guard evaluate), flashinfer policy, tune_max_num_tokens 8192, cluster_y 1, grid bound
(before any empirical cap).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boundcheck.bound import chunk_bound  # noqa: E402
from boundcheck.domain import launcher_of  # noqa: E402
from boundcheck.releases import ALL_PRECISIONS, ERAS  # noqa: E402

# (name, experts, top_k, fused shared experts)
SHAPES = (
    ("Nemotron 3 Super 512/22", 512, 22, 0),
    ("DeepSeek-V3 256/8 +1 shared", 256, 8, 1),
    ("Kimi K2 384/8", 384, 8, 0),
    ("Qwen3-235B 128/8", 128, 8, 0),
    ("gpt-oss-120b 128/4", 128, 4, 0),
)


def cell(era, precision, experts, top_k, shared) -> str:
    if precision not in era.tiles:
        return "n/a"
    if top_k > era.routing.max_top_k or experts > era.routing.max_experts:
        return "routing refuses"
    note = ""
    if shared and launcher_of(precision) not in era.shared_experts:
        shared, note = 0, "*"
    result = chunk_bound(experts, top_k, flashinfer=era.last, precision=precision, shared_experts=shared)
    return f"{result.max_chunk_tokens:,} ({result.binding_tile}){note}"


def table(precision: str) -> list[str]:
    rows, previous = [], None
    for era in ERAS:
        cells = [cell(era, precision, e, k, s) for _, e, k, s in SHAPES]
        if previous is not None and cells == previous[1]:
            previous[0].append(era)
            continue
        previous = ([era], cells)
        rows.append(previous)
    lines = [f"| {precision} releases | " + " | ".join(name for name, *_ in SHAPES) + " |",
             "|---" * (len(SHAPES) + 1) + "|"]
    for eras, cells in rows:
        span = eras[0].first if eras[0].first == eras[-1].last else f"{eras[0].first} - {eras[-1].last}"
        lines.append(f"| {span} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", action="append", choices=ALL_PRECISIONS)
    args = parser.parse_args(argv)
    for precision in args.precision or ALL_PRECISIONS:
        print("\n".join(table(precision)))
        print()
    print("(tile that overflows at C + 1 in parentheses; * no fused shared experts on this launcher in that"
          " release, bound without them; n/a: no such launcher; routing refuses: top_k or experts beyond"
          " the release's routing kernels)")


if __name__ == "__main__":
    main()
