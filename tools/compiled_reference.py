"""Build flashinfer's own host functions for releases and print a summary:

    python tools/compiled_reference.py [VERSION ...]

The extraction, shim and loader live in boundcheck.drift.compiled (also used by
`boundcheck drift --execute`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boundcheck.drift.compiled import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
