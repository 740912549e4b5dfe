"""Wall time of `boundcheck report` for one release on this machine (a benchmark, not a test).

    python -m benchmarks.report_time [--runs 3] [--flashinfer 0.7.2.post1]

Process start to exit, writing into a temporary folder.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from .hardware import describe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flashinfer", default="0.7.2.post1")
    args = parser.parse_args()
    print(f"hardware: {describe()}")
    times = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "boundcheck", "report", "--flashinfer", args.flashinfer,
                                     "--out", out], capture_output=True, text=True)
            times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"boundcheck report failed (exit {result.returncode}):\n{result.stderr}")
    print(f"boundcheck report --flashinfer {args.flashinfer}, {args.runs} runs (process start to exit): "
          f"median {statistics.median(times):.1f} s, min {min(times):.1f} s, max {max(times):.1f} s")


if __name__ == "__main__":
    main()
