"""The 32-bit inventory of one release folder: every unit of the MoE path parsed, joined,
tainted from the token count, and reduced to findings.

Units: every `trtllm_fused_moe*.cu` under `csrc/` (launcher, runner, routing, dev
kernels), the batched-GEMM runner and nv_internal's quantization kernels (per-token NVFP4
and FP8 requantization). Where the release ships no batched-GEMM export headers (0.6.14
on: they come with the cubins at run time), 0.6.13's stand in and the result says so.

A unit's facts are cached under `~/.cache/boundcheck/inventory`
(`$BOUNDCHECK_INVENTORY_CACHE`) keyed by the analysis code's digest and the digests of every flashinfer file
the unit read, so that releases sharing files share the work.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .extract import UNTYPED, Candidate, UnitFacts
from .statements import statement_at
from .taint import reached_functions, tainted_keys

CACHE_VARIABLE = "BOUNDCHECK_INVENTORY_CACHE"
HERE = Path(__file__).parent
STANDIN = "_bmm_export_standin"  # tools/fetch_flashinfer_sources.py puts 0.6.13's headers there
BMM_EXPORT = Path("include/flashinfer/trtllm/batched_gemm/trtllmGen_bmm_export")


@dataclass(frozen=True)
class Finding:
    """A 32-bit (or narrower) integer expression that grows with the token count."""

    file: str
    line: int
    function: str
    code: str
    operator: str
    type: str
    reached: bool  # on a call path from the launcher

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line} ({self.function})"


@dataclass(frozen=True)
class Hole:
    """A parse error in flashinfer's files: the statement it falls in is not read, so an
    expression there is in no finding. `function` is the innermost definition around it."""

    file: str
    line: int
    function: str  # qualified, or OUTSIDE
    message: str
    reached: bool  # inside a function on a call path from the launcher
    statement: str = ""  # the statement's text as shipped, whitespace removed (holes.statement_at)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line} ({self.function})"


OUTSIDE = "(outside any function)"


@dataclass
class ReleaseInventory:
    folder: str
    findings: list = field(default_factory=list)
    units: list = field(default_factory=list)  # (unit, errors in flashinfer files, stubs)
    standin: str | None = None  # where the batched-GEMM headers came from, if not the release
    holes: list = field(default_factory=list)  # distinct parse errors, each a Hole

    @property
    def reached(self) -> list:
        return [f for f in self.findings if f.reached]

    @property
    def holes_on_path(self) -> list:
        return [h for h in self.holes if h.reached]


def default_cache() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache/boundcheck/inventory")


def units_of(data: Path) -> list[Path]:
    csrc = data / "csrc"
    found = sorted(p for p in csrc.rglob("trtllm_fused_moe*.cu")) if csrc.is_dir() else []
    # 0.6.7 - 0.6.7.post3 split the routing methods into one launch*.cu a kernel
    # (fused_moe/trtllm_backend/routingDeepSeek/, routingRenormalize/)
    backend = csrc / "fused_moe" / "trtllm_backend"
    found += sorted(p for p in backend.glob("routing*/*.cu")) if backend.is_dir() else []
    for extra in ("trtllm_batched_gemm_runner.cu", "nv_internal/cpp/kernels/quantization.cu"):
        if (csrc / extra).is_file():
            found.append(csrc / extra)
    return found


def standin_for(data: Path) -> Path | None:
    if (data / BMM_EXPORT).is_dir():
        return None
    from boundcheck.drift.compiled import sources_root

    # beside the release in the sources cache (<cache>/<VERSION>/flashinfer/data), else the
    # cache's own, for a folder elsewhere (an installed flashinfer, an edited copy)
    for candidate in (data.parents[2] / STANDIN, sources_root() / STANDIN):
        if (candidate / ".from").is_file():
            return candidate.resolve()
    return None


def _analysis_digest() -> str:
    h = hashlib.sha256()
    for name in ("front_end.py", "extract.py", "cuda_prelude.h"):
        h.update((HERE / name).read_bytes())
    return h.hexdigest()[:16]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:20]


def _cache_slot(cache: Path, data: Path, unit: Path) -> Path:
    from .front_end import jit_defines

    # the macros come from the release's JIT spec, a file no unit includes
    key = f"{_analysis_digest()}:{unit.relative_to(data)}:{_file_digest(unit)}:{','.join(jit_defines(data))}"
    return cache / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")


def _cached(slot: Path, data: Path, standin: Path | None):
    if not slot.is_file():
        return None
    try:
        entries = json.loads(slot.read_text())
    except (OSError, ValueError):
        return None
    for entry in entries:
        if entry.get("standin") != (str(standin) if standin else None):
            continue
        if all((data / rel).is_file() and _file_digest(data / rel) == digest for rel, digest in entry["read"].items()):
            return entry
    return None


def _facts_to_json(facts: UnitFacts) -> dict:
    return {
        "candidates": [dict(asdict(c), reads=sorted(c.reads)) for c in facts.candidates],
        "flows": [[t, sorted(s)] for t, s in facts.flows],
        "calls": {k: sorted(v) for k, v in facts.calls.items()},
        "names": facts.names,
        "defined": {k: sorted(v) for k, v in facts.defined.items()},
        "extents": facts.extents,
    }


def _facts_from_json(raw: dict) -> UnitFacts:
    return UnitFacts(
        candidates=[Candidate(**dict(c, reads=frozenset(c["reads"]))) for c in raw["candidates"]],
        flows=[(t, frozenset(s)) for t, s in raw["flows"]],
        calls={k: set(v) for k, v in raw["calls"].items()},
        names=raw["names"],
        defined={k: set(v) for k, v in raw["defined"].items()},
        extents={k: [tuple(e) for e in v] for k, v in raw["extents"].items()},
    )


def _parse_unit(data: str, unit: str, work: str, standin: str | None) -> dict:
    """In a worker process: parse one unit and return its facts as JSON-able data."""
    from .extract import unit_facts
    from .front_end import parse

    parsed = parse(Path(unit), Path(data), work, Path(standin) if standin else None)
    facts = unit_facts(parsed.unit, data)
    return {
        "facts": _facts_to_json(facts),
        "errors": len(parsed.errors),
        "error_sites": [list(e) for e in parsed.errors],
        "stubs": parsed.stubs,
        "read": {rel: _file_digest(Path(data) / rel) for rel in parsed.included if (Path(data) / rel).is_file()},
        "standin": standin,
    }


def inventory(data: Path, cache: Path | None = None, jobs: int = 2) -> ReleaseInventory:
    """The findings of a release folder (`<...>/flashinfer/data`)."""
    data = Path(data).resolve()
    cache = cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    standin = standin_for(data)
    units = units_of(data)
    results: dict = {}
    todo = []
    for unit in units:
        hit = _cached(_cache_slot(cache, data, unit), data, standin)
        if hit is not None:
            results[unit] = hit
        else:
            todo.append(unit)
    if todo:
        with tempfile.TemporaryDirectory(prefix="boundcheck-inventory-") as work:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=context) as pool:
                futures = {unit: pool.submit(_parse_unit, str(data), str(unit), work, str(standin) if standin else None)
                           for unit in todo}
                for unit, future in futures.items():
                    results[unit] = future.result()
                    _store(_cache_slot(cache, data, unit), results[unit])
    return _join(data, units, results, standin)


def _store(slot: Path, entry: dict) -> None:
    entries = []
    if slot.is_file():
        try:
            entries = json.loads(slot.read_text())
        except (OSError, ValueError):
            entries = []
    entries.append(entry)
    temporary = slot.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(entries))
    temporary.replace(slot)


def _join(data: Path, units: list, results: dict, standin: Path | None) -> ReleaseInventory:
    facts = [_facts_from_json(results[u]["facts"]) for u in units]
    tainted = tainted_keys(facts)
    reached = reached_functions(facts)
    out = ReleaseInventory(str(data), standin=(Path(standin) / ".from").read_text().strip() if standin else None)
    out.units = [(str(u.relative_to(data)), results[u]["errors"], results[u]["stubs"]) for u in units]
    seen, untyped = set(), {}
    for unit_facts in facts:
        for c in unit_facts.candidates:
            key = (c.file, c.line, c.code, c.operator)
            if key in seen or not (c.reads & tainted):
                continue
            if c.type == UNTYPED:
                # the inventory cannot say whether it is 32-bit: a hole where it runs, like a
                # parse error, unless another unit's declarations type it
                untyped[key] = (c.file, c.line, f"{UNTYPED}: {c.code}")
                continue
            seen.add(key)
            out.findings.append(Finding(c.file, c.line, c.function, c.code, c.operator, c.type, c.function in reached))
    out.findings.sort(key=lambda f: (f.file, f.line, f.code))
    untyped = [site for key, site in untyped.items() if key not in seen]
    out.holes = holes_of(data, facts, [results[u]["error_sites"] for u in units] + [untyped], reached)
    return out


def holes_of(data: Path, facts: list, error_sites: list, reached: set) -> list:
    """Each distinct parse error (a header's, repeated by every unit that includes it,
    once) with the innermost function definition around it."""
    extents = defaultdict(set)  # file -> {(first, last, qualified name)}
    for unit_facts in facts:
        for name, spans in unit_facts.extents.items():
            for file, first, last in spans:
                extents[file].add((first, last, name))
    out = set()
    for sites in error_sites:
        for file, line, message in sites:
            inner = [(last - first, name) for first, last, name in extents[file] if first <= line <= last]
            name = min(inner)[1] if inner else OUTSIDE
            out.add(Hole(file, line, name, message, name in reached, statement_at(data / file, line)))
    return sorted(out, key=lambda h: (h.file, h.line, h.message))
