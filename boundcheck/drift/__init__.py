"""`boundcheck drift`: read a flashinfer's sources and compare every fact the model uses
with what an era (boundcheck.releases) says; name the era(s) the sources match.

Trust: the files of the flashinfer package given (installed, or --flashinfer-root: a
folder laid out as installed, holding `data/` and `fused_moe/`; a folder holding none of
the fused-MoE sources is an input error). They are read as text; nothing from the folder
is imported or executed: C++ is read with comments and literals blanked, Python is parsed
with `ast`, and the one function whose behaviour matters, map_to_hybrid_bucket, is run by
a small evaluator that knows only if / return / comparisons / integer arithmetic / min /
max and the helpers it calls, and compared with the model's on every small input and, by
Z3, on the whole domain. The evaluators of the folder's code (Python, and the C++ that
builds the tile sets) run within step, depth, integer-size and time budgets: past them a
fact is MISSING "too complex", and an error of the code (division by zero) is MISSING
naming its file:line. `--execute` runs each comparison in a child process group of its own
with a timeout, killed with everything it started (processes), and loads only libraries
it compiled into a private cache, checked against their recorded sha256 (compiled).

Each fact is extracted once per folder as a value in the model's own terms and compared
with the era's value, one row per fact that applies to the era: the CTA formula and padded
count (runner.h); the candidate rule (centre, smaller neighbours, global tile), default
tile and whether a tuned tile is checked (computeSelectedTileN, selectDefaultTileN, the
launcher maps); which precisions exist and each one's tile set (getSupportedTileNums and
mSupportedTileNums run on the precision's dtypes, or the inline sets before 0.5.3); the
bucket map (round_down or hybrid with its phase constants, and for round-down eras the
function that builds it); the tune_max_num_tokens default; fused shared experts in the
GEMM counts; the entry points of fused_moe/*.py; the routing limits; the routing policy
tiers and the routing-metadata tile where the era has them.

A fact that cannot be found (file absent, unreadable, binary, not a regular file, or code
drift cannot read) is MISSING, with the reason; MISSING and MISMATCH both count in the exit
code. `identify(root)` returns the eras whose every fact the folder matches.

The package, one job a module: folder (reading files safely), cxx (C++ as text),
tile_program (the interpreter of the tile-set builders), tile_sets, launcher, runner,
python_sources, python_evaluator, buckets and routing (the readers of each fact), found
(what a reader returns), paths (the files read), extraction (every fact, once per folder),
comparison (one row per fact of an era; identify) and command (`boundcheck drift`); for
--execute: execute (the comparisons, each in its own child), compiled and
compiled_tile_sets (extraction, g++ and the private library cache), compare (the model
over numpy arrays) and processes (bounded children, killed with their process group).
"""

from ..errors import BoundcheckInputError
from ..facts import FUSED_MOE_CORE, FUSED_MOE_UTILS, LAUNCHER, MOE_RUNNER, RUNNER_H
from .buckets import MODEL_PHASES, SAME_MAPPING, Buckets
from .command import MAX_EXIT, add_parser, installed_root, run
from .comparison import MATCH, MISMATCH, MISSING, Row, compare, identification_line, identify, rows
from .extraction import Extracted, extract
from .folder import MAX_SOURCE_BYTES, check_root, source_paths
from .found import Found, Missing
from .launcher import CandidateRule
from .paths import (
    DEEPSEEK_FILES, FIXED_PATHS, FUSED_MOE_DIR, FUSED_MOE_TUNING, LLAMA4_LIMITS, RENORMALIZE_LIMITS,
    ROUTING_CHECK_FILES,
)

__all__ = [
    # reading and comparing
    "Extracted",
    "Row",
    "check_root",
    "compare",
    "extract",
    "identification_line",
    "identify",
    "rows",
    "source_paths",
    "MATCH",
    "MISMATCH",
    "MISSING",
    # the command
    "MAX_EXIT",
    "add_parser",
    "installed_root",
    "run",
    # what readers return, and the values of some facts
    "Buckets",
    "CandidateRule",
    "Found",
    "Missing",
    "MODEL_PHASES",
    "SAME_MAPPING",
    # the files read
    "DEEPSEEK_FILES",
    "FIXED_PATHS",
    "FUSED_MOE_CORE",
    "FUSED_MOE_DIR",
    "FUSED_MOE_TUNING",
    "FUSED_MOE_UTILS",
    "LAUNCHER",
    "LLAMA4_LIMITS",
    "MAX_SOURCE_BYTES",
    "MOE_RUNNER",
    "RENORMALIZE_LIMITS",
    "ROUTING_CHECK_FILES",
    "RUNNER_H",
    # bad input
    "BoundcheckInputError",
]
