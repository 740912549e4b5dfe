"""Build flashinfer's own host functions for releases and print a summary:

    python tools/compiled_reference.py [VERSION ...]

The extraction, shim and loader live in boundcheck.drift.compiled (also used by
`boundcheck drift --execute`). The libraries are cached in a private folder
($BOUNDCHECK_COMPILED_CACHE, else $XDG_CACHE_HOME/boundcheck/compiled or
~/.cache/boundcheck/compiled: 0700, refused if others can write it) and each is loaded only
after its sha256, recorded when it was compiled, is checked; g++ runs in a process group
of its own with a timeout."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boundcheck.drift.compiled import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
