"""Build the engines' own environments once, outside the repository, for tests/engines/.

    python tools/engine_envs.py [vllm] [sglang]

Each is a venv with exactly what `pip install ENGINE==VERSION` brings (vLLM 0.33.0: torch
2.14.0+cu130, flashinfer-python 0.7.2.post1, tilelang 0.1.12, z3-solver 4.15.4, ...;
SGLang 0.5.23: torch 2.14.1, flashinfer-python 0.7.2, the same tilelang and z3). The
first build downloads about 10 GB and takes about 5 minutes per engine on this machine;
afterwards a venv whose `.complete` marker exists is reused. Folders:
$BOUNDCHECK_VLLM_VENV / $BOUNDCHECK_SGLANG_VENV, else ~/.cache/boundcheck/engines/NAME.
Exit code: the number of environments that could not be built.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Engine:
    requirement: str
    folder: str
    variable: str


ENGINES = {
    "vllm": Engine("vllm==0.33.0", "vllm-0.33.0", "BOUNDCHECK_VLLM_VENV"),
    "sglang": Engine("sglang==0.5.23", "sglang-0.5.23", "BOUNDCHECK_SGLANG_VENV"),
}


def venv_path(engine: str) -> Path:
    spec = ENGINES[engine]
    return Path(os.environ.get(spec.variable) or Path.home() / ".cache/boundcheck/engines" / spec.folder)


def build(engine: str) -> bool:
    folder = venv_path(engine)
    marker = folder / ".complete"
    if marker.exists():
        print(f"{engine}: {folder} (cached)")
        return True
    start = time.monotonic()
    folder.parent.mkdir(parents=True, exist_ok=True)
    python = folder / "bin" / "python"
    steps = [[sys.executable, "-m", "venv", str(folder)],
             [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
             [str(python), "-m", "pip", "install", "-q", ENGINES[engine].requirement]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{engine}: {' '.join(step[-2:])} failed: {result.stderr.strip()[-500:]}", file=sys.stderr)
            return False
    marker.write_text(ENGINES[engine].requirement + "\n")
    print(f"{engine}: built {folder} in {time.monotonic() - start:.0f} s")
    return True


def main(argv=None) -> int:
    names = (sys.argv[1:] if argv is None else argv) or list(ENGINES)
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        print(f"unknown engines {unknown}; known: {', '.join(ENGINES)}", file=sys.stderr)
        return 2
    return sum(not build(name) for name in names)


if __name__ == "__main__":
    sys.exit(main())
