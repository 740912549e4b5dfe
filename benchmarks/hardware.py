"""Name the hardware a benchmark ran on, so every number carries it."""

from __future__ import annotations

import datetime
import os
import platform


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe() -> str:
    today = datetime.date.today().isoformat()
    return f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, {today}"
