"""`boundcheck prove`: run every obligation and report, for people and for machines."""

from __future__ import annotations

import json
import time

from . import facts, releases, resolution
from .errors import BoundcheckInputError
from .solver.core import PROVED, REFUTED, UNKNOWN
from .solver.obligation import Outcome, format_counterexample, run_obligations


def installed_flashinfer_version() -> str | None:
    return resolution.installed_version()


def scope_eras(flashinfer: str | None):
    """The releases `prove` proves: every modeled one (None), or those named (comma-separated
    versions, or `installed`); each era once."""
    if flashinfer is None:
        return releases.ERAS, list(releases.MODELED_VERSIONS)
    names = [v.strip() for v in str(flashinfer).split(",")]
    if not all(names):
        raise BoundcheckInputError("flashinfer", f"expected VERSION[,VERSION...] or installed, got {flashinfer!r}")
    versions = [resolution.resolve_version(v) for v in names]
    eras = []
    for v in names:
        era = resolution.resolve(v)
        if era not in eras:
            eras.append(era)
    return tuple(eras), versions


def version_note(versions=None) -> tuple[str, bool]:
    """(line about the releases proved and the one installed, whether it is a warning)."""
    versions = versions or list(releases.MODELED_VERSIONS)
    if list(versions) == list(releases.MODELED_VERSIONS):
        proved = f"every modeled release, {releases.modeled_range()}"
    else:
        proved = ", ".join(f"{v} ({resolution.provenance(v)})" if resolution.provenance(v) else v for v in versions)
    installed = installed_flashinfer_version()
    if installed is None:
        return f"model of flashinfer {proved} (flashinfer not installed here)", False
    if installed not in releases.MODELED_VERSIONS and resolution.adoption_of(installed) is None:
        return (
            f"WARNING: flashinfer {installed} is installed, which is not modeled (modeled: "
            f"{releases.modeled_range()}); the guard falls back to the `any` bound over every "
            "modeled tile set",
            True,
        )
    if installed not in versions:
        return f"model of flashinfer {proved}; WARNING: {installed} is installed and was not proved here", True
    return f"model of flashinfer {proved} (installed: {installed})", False


def run(timeout_s: float, smt_dir: str | None, jobs: int | None, flashinfer: str | None = None,
        literal: bool = False):
    from boundcheck.proofs import THEOREMS, TWINS  # the solver stack loads only for `prove`
    from boundcheck.proofs.cases import scope, set_scope
    from boundcheck.proofs.tile_choice_lemmas import method, set_method

    eras, _ = scope_eras(flashinfer)
    before = scope(), method()
    set_scope(eras)
    set_method(_method(literal))
    try:
        start = time.perf_counter()
        outcomes = run_obligations(THEOREMS + TWINS, timeout_s=timeout_s, smt_dir=smt_dir, jobs=jobs)
        return THEOREMS, TWINS, outcomes, time.perf_counter() - start
    finally:  # this run's scope and method, not the process's: a later run starts from the defaults
        set_scope(before[0])
        set_method(before[1])


def _method(literal: bool) -> str:
    return "literal" if literal else "lemmas"


def method_line(literal: bool) -> str:
    if literal:
        return ("method: safety, tightness, global_covers_local, progress and bound_below_largest_tile of the "
                "tile-choosing policies checked directly, one query per top_k + shared")
    return ("method: safety, tightness, global_covers_local, progress and bound_below_largest_tile of the "
            "tile-choosing policies by the tile-choice lemmas (proofs/tile_choice_lemmas.py; --literal checks "
            "them directly)")


def summarize(obligations, outcomes: list[Outcome]):
    """One row per obligation: its cases, their outcome, what went wrong."""
    rows = []
    for obligation in obligations:
        mine = [o for o in outcomes if o.obligation == obligation.name]
        wrong = [o for o in mine if not o.as_expected]
        if not mine:
            # Nothing was checked: neither proved nor refuted, whatever is expected.
            wrong = [Outcome(obligation=obligation.name, case="(no case in scope)", status=UNKNOWN,
                             seconds=0.0, queries=0, expect=obligation.expect, reason="no case in scope")]
        if wrong:
            status = wrong[0].status
        else:
            status = obligation.expect
        rows.append(
            {
                "name": obligation.name,
                "statement": obligation.statement,
                "domain": obligation.domain,
                "method": obligation.method,
                "expect": obligation.expect,
                "status": status,
                "as_expected": not wrong,
                "cases": len(mine),
                "queries": sum(o.queries for o in mine),
                "seconds": round(sum(o.seconds for o in mine), 3),
                "twin_of": obligation.twin_of,
                "outcomes": mine,
                "wrong": wrong,
            }
        )
    return rows


def failures(rows) -> int:
    return sum(1 for r in rows if not r["as_expected"])


def _outcome_json(o: Outcome) -> dict:
    return {
        "case": o.case,
        "status": o.status,
        "expected": o.expect,
        "seconds": round(o.seconds, 4),
        "queries": o.queries,
        "counterexample": o.counterexample or None,
        "query": o.query or None,
        "reason": o.reason or None,
        "note": o.note or None,
        "smt_files": list(o.smt_files),
    }


def to_json(rows, seconds: float, derivation, versions=None, literal: bool = False) -> str:
    note, warn = version_note(versions)
    document = {
        "flashinfer": versions or list(releases.MODELED_VERSIONS),
        "method": _method(literal),
        "flashinfer_installed": installed_flashinfer_version(),
        "version_warning": note if warn else None,
        "grid_dim_y_max": facts.GRID_DIM_Y_MAX,
        "seconds": round(seconds, 3),
        "failures": failures(rows),
        "obligations": [
            {k: v for k, v in r.items() if k not in ("outcomes", "wrong")}
            | {"cases_detail": [_outcome_json(o) for o in r["outcomes"]]}
            for r in rows
        ],
        "closed_form_derivation": [[step, str(expr)] for step, expr in derivation],
    }
    return json.dumps(document, indent=2)


def to_table(rows, seconds: float, derivation, verbose: bool = False, versions=None, literal: bool = False) -> str:
    note, _ = version_note(versions)
    lines = [f"boundcheck prove: {note}", f"limit: grid.y <= {facts.GRID_DIM_Y_MAX:,} (cudaDevAttrMaxGridDimY)",
             method_line(literal), ""]
    for title, expect in (("THEOREMS (must be proved)", PROVED), ("BROKEN TWINS (must be refuted)", REFUTED)):
        lines.append(title)
        lines.append(f"  {'obligation':<28} {'cases':>5}  {'status':<8} {'seconds':>7}  statement")
        for r in (r for r in rows if r["expect"] == expect):
            mark = "" if r["as_expected"] else "  <-- FAILED"
            lines.append(
                f"  {r['name']:<28} {r['cases']:>5}  {r['status']:<8} {r['seconds']:>7.2f}  {r['statement']}{mark}"
            )
            lines.append(f"  {'':<28}        domain: {r['domain']}")
            shown = r["wrong"] if r["wrong"] else (r["outcomes"] if expect == REFUTED else [])
            for o in shown[: None if verbose else 3]:
                detail = o.reason if o.status == "unknown" else format_counterexample(o.counterexample)
                if o.note:  # a shared query: its counterexample names the case it was solved for
                    detail += f"  ({o.note}: the numbers are that case's)"
                lines.append(f"  {'':<28}        [{o.case}] {o.status}: {detail}")
            if verbose and expect == PROVED and not r["wrong"]:
                for o in r["outcomes"]:
                    extra = f" ({o.note})" if o.note else ""
                    lines.append(f"  {'':<28}        [{o.case}] {o.status} in {o.queries} queries{extra}")
        lines.append("")
    if verbose:
        lines.append("CLOSED FORM (derived by sympy, checked by Z3 in closed_form)")
        for step, expr in derivation:
            lines.append(f"  {step}:  {expr}")
        lines.append("")
    theorems = [r for r in rows if r["expect"] == PROVED]
    twins = [r for r in rows if r["expect"] == REFUTED]
    lines.append(
        f"{sum(r['as_expected'] for r in theorems)}/{len(theorems)} theorems proved, "
        f"{sum(r['as_expected'] for r in twins)}/{len(twins)} broken twins refuted, "
        f"{sum(r['cases'] for r in rows)} cases, {sum(r['queries'] for r in rows)} queries, {seconds:.1f} s"
    )
    return "\n".join(lines)
