"""Wall time of `boundcheck prove` on this machine (a benchmark, not a test).

    python -m benchmarks.prove_time [--runs 3] [--per-release] [--literal]

Times `boundcheck prove` (every modeled release) and, with --per-release, `boundcheck
prove --flashinfer V` for the last release of each era (all of an era's releases prove
the same queries; the median of --runs runs), process start to exit; with --literal, also `prove --literal` once.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from boundcheck.releases import ERAS

from .hardware import describe

# The budget for one release (issue 9), on this 2-core machine.
ONE_RELEASE_BUDGET_S = 5.0


def _timed(argv):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "boundcheck", *argv], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"boundcheck {' '.join(argv)} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--per-release", action="store_true", help="also each era's last release alone")
    parser.add_argument("--literal", action="store_true", help="also `prove --literal` once (every release)")
    args = parser.parse_args()
    print(f"hardware: {describe()}")
    times = []
    for _ in range(args.runs):
        seconds, summary = _timed(["prove"])
        times.append(seconds)
    print(f"boundcheck prove (every modeled release), {args.runs} runs (process start to exit):")
    print(f"  median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s")
    print(f"  last run: {summary}")
    if args.per_release:
        print(f"boundcheck prove --flashinfer V, each era's last release, median of {args.runs} runs:")
        per = []
        for era in ERAS:
            runs = [_timed(["prove", "--flashinfer", era.last]) for _ in range(args.runs)]
            seconds = statistics.median(s for s, _ in runs)
            per.append(seconds)
            spread = f"{min(s for s, _ in runs):.2f}-{max(s for s, _ in runs):.2f}"
            print(f"  {era.name} {era.last:<14} {seconds:6.2f} s  ({spread}; {runs[-1][1].split(', ', 2)[-1]})")
        print(f"  median {statistics.median(per):.2f} s, max {max(per):.2f} s")
        # Every release of an era proves the same queries: an era's time is each of its releases'.
        over = [(era, seconds) for era, seconds in zip(ERAS, per) if seconds >= ONE_RELEASE_BUDGET_S]
        within = len(ERAS) - len(over)
        releases = sum(len(era.versions) for era in ERAS) - sum(len(era.versions) for era, _ in over)
        print(f"  under {ONE_RELEASE_BUDGET_S:.0f} s: {within} of {len(ERAS)} eras, {releases} of "
              f"{sum(len(era.versions) for era in ERAS)} releases"
              + (f"; over: {', '.join(f'{era.last} ({seconds:.2f} s)' for era, seconds in over)}" if over else ""))
    if args.literal:
        seconds, summary = _timed(["prove", "--literal"])
        print(f"boundcheck prove --literal (every modeled release, one query per top_k + shared), one run: "
              f"{seconds:.2f} s")
        print(f"  {summary}")


if __name__ == "__main__":
    main()
