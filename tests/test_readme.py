"""The README's console examples are what the commands print, line for line (`chunk`,
quick and deterministic; run with the installed flashinfer the project pins)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _examples():
    text = README.read_text()
    for block in re.findall(r"```console\n(.*?)\n```", text, flags=re.S):
        lines = block.split("\n")
        starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(lines)
            command = lines[start][2:]
            if command.startswith("boundcheck chunk"):
                yield command, lines[start + 1:end]


EXAMPLES = list(_examples())


def test_the_readme_has_chunk_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("command,expected", EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_console_example_is_what_the_command_prints(command, expected):
    argv = shlex.split(command)
    result = subprocess.run([sys.executable, "-m", "boundcheck", *argv[1:]], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n").split("\n") == expected
