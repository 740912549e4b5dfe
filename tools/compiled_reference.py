"""Build flashinfer's own host functions for releases and print a summary:

    python tools/compiled_reference.py [VERSION ...]
    python tools/compiled_reference.py --executed-list

The extraction, shim and loader live in boundcheck.drift.compiled (also used by
`boundcheck drift --execute`). The libraries are cached in a private folder
($BOUNDCHECK_COMPILED_CACHE, else $XDG_CACHE_HOME/boundcheck/compiled or
~/.cache/boundcheck/compiled: 0700, refused if others can write it) and each is loaded only
after its sha256, recorded when it was compiled, is checked; g++ runs in a process group
of its own with a timeout.

`--executed-list` prints, from the text of every modeled release's sources (nothing is
compiled), the table of every function `drift --execute` compiles or executes, with the
modeled releases it exists in and what it is compared with: the README's drift section
holds it (tests/test_drift_execute.py checks that it is current)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boundcheck.drift.compiled import main  # noqa: E402

if __name__ == "__main__":
    if sys.argv[1:] == ["--executed-list"]:
        from boundcheck.drift.execute import executed_functions_markdown

        print(executed_functions_markdown())
        sys.exit(0)
    sys.exit(main())
