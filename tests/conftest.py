"""Shared fixtures: one `boundcheck prove --json --smt-dir` run per test session."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def proved(tmp_path_factory):
    smt_dir = tmp_path_factory.mktemp("smt")
    # The releases engines pin and the newest (`.ci/run` proves every modeled release).
    from boundcheck.releases import PINNED

    result = subprocess.run(
        [sys.executable, "-m", "boundcheck", "prove", "--json", "--smt-dir", str(smt_dir),
         "--flashinfer", ",".join(PINNED)],
        capture_output=True, text=True,
    )
    return result, smt_dir, (json.loads(result.stdout) if result.returncode == 0 else None)


def pytest_terminal_summary(terminalreporter):
    """What was skipped and how to run it, always (not only under -rs): each reason once,
    with its count. The reasons name the command that removes them (the fetcher, a GPU)."""
    from collections import Counter

    reasons = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if not reasons:
        return
    terminalreporter.write_sep("-", f"{sum(reasons.values())} skipped, and how to run them")
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"{count:5d}  {reason}")
