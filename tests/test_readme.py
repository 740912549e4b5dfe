"""The README's console examples are what the commands print, line for line (`chunk`,
quick and deterministic; run with the installed flashinfer the project pins)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


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


def test_the_generated_tables_are_current(tmp_path):
    """The bounds per release and the era table's releases follow from the code
    (tools/readme_tables.py); a stale row is named, and a README without the markers is
    refused rather than half-rewritten."""
    tool = [sys.executable, str(ROOT / "tools" / "readme_tables.py")]
    done = subprocess.run(tool + ["--check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    # the broken twin: one bound and one era range edited by hand are found
    text = (ROOT / "README.md").read_text()
    edited = tmp_path / "README.md"
    edited.write_text(text.replace("| 0.7.4 | 378,344 (128) |", "| 0.7.4 | 378,345 (128) |", 1)
                      .replace("| E21 | 0.6.18 - 0.6.18.post1 |", "| E21 | 0.6.18 |", 1))
    done = subprocess.run(tool + ["--check", "--readme", str(edited)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "-| 0.7.4 | 378,345 (128) |" in done.stdout and "+| E21 | 0.6.18 - 0.6.18.post1 |" in done.stdout
    edited.write_text(text.replace("<!-- end of the generated bounds -->", ""))
    done = subprocess.run(tool + ["--check", "--readme", str(edited)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "expected one" in done.stderr
