"""Wall time of `boundcheck prove` on this machine (a benchmark, not a test).

    python -m benchmarks.prove_time [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from .hardware import describe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "boundcheck", "prove"], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"boundcheck prove failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    summary = result.stdout.strip().splitlines()[-1]
    print(f"hardware: {describe()}")
    print(f"boundcheck prove, {args.runs} runs (process start to exit):")
    print(f"  median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s")
    print(f"  last run: {summary}")


if __name__ == "__main__":
    main()
