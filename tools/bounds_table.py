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

from boundcheck.releases import ALL_PRECISIONS, ERAS  # noqa: E402
from boundcheck.shapes import SHAPES, shape_bound  # noqa: E402


def cell(era, precision, shape) -> str:
    bound = shape_bound(era, era.last, precision, shape)
    if bound.result is None:
        return bound.why_none
    return f"{bound.result.max_chunk_tokens:,} ({bound.result.binding_tile}){'*' if bound.shared_dropped else ''}"


def table(precision: str) -> list[str]:
    rows, previous = [], None
    for era in ERAS:
        cells = [cell(era, precision, shape) for shape in SHAPES]
        if previous is not None and cells == previous[1]:
            previous[0].append(era)
            continue
        previous = ([era], cells)
        rows.append(previous)
    lines = [f"| {precision} releases | " + " | ".join(shape.name for shape in SHAPES) + " |",
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
