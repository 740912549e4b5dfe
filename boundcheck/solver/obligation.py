"""Obligations, their cases and outcomes; running them (in parallel) through `decide`.

An obligation is a named claim with a one-line statement and its domain. Its cases
(a precision and policy, say) are checked on their own so that a failure names its
case. A case is a list of queries; each query is the negation of the claim on a slice
of the domain (one effective top_k, say) and must come back unsat.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import core

# Time to make one counterexample small before printing it.
SHRINK_SECONDS = 0.3


@dataclass(frozen=True)
class Query:
    name: str
    constraints: list
    shrink_vars: list = field(default_factory=list)
    # model values -> the counterexample as named numbers, evaluated on ints.
    explain: Callable[[dict], dict] | None = None
    arithmetic: bool = True  # False for bit-vector queries (see core.make_solver)


@dataclass(frozen=True)
class Case:
    obligation: str
    label: str  # e.g. "nvfp4 / flashinfer"
    params: tuple = ()  # picklable description the obligation's builder understands
    key: tuple = ()  # identical keys are identical queries: checked once
    weight: int = 1  # rough cost, to start the longest cases first


@dataclass(frozen=True)
class Obligation:
    name: str
    statement: str
    domain: str
    cases: Callable[[], list[Case]]
    build: Callable[[Case], Iterable[Query]]
    expect: str = core.PROVED  # broken twins expect core.REFUTED
    twin_of: str | None = None
    method: str = "z3"
    weight: int = 1  # rough cost of one of its queries relative to the others


@dataclass(frozen=True)
class Outcome:
    obligation: str
    case: str
    status: str
    seconds: float
    queries: int
    expect: str = core.PROVED
    counterexample: dict = field(default_factory=dict)
    query: str = ""
    reason: str = ""
    note: str = ""
    smt_files: tuple = ()

    @property
    def as_expected(self) -> bool:
        return self.status == self.expect

    def __str__(self) -> str:
        head = f"{self.obligation} [{self.case}]: {self.status}"
        if self.status == core.REFUTED and self.counterexample:
            return f"{head} at {format_counterexample(self.counterexample)}"
        if self.status == core.UNKNOWN:
            return f"{head} ({self.reason}; query {self.query})"
        return head


def format_counterexample(cex: dict) -> str:
    if not cex:
        return "satisfiable with no variables"
    if "message" in cex:
        return cex["message"]
    parts = [f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in cex.items()]
    return ", ".join(parts)


def check_case(obligation: Obligation, case: Case, timeout_s: float, smt_dir: str | None) -> Outcome:
    start = time.perf_counter()
    count = 0
    files = []
    for query in obligation.build(case):
        count += 1
        verdict = core.decide(
            query.constraints, name=f"{obligation.name}.{case.label}.{query.name}",
            timeout_s=timeout_s, smt_dir=smt_dir, arithmetic=query.arithmetic,
        )
        if verdict.smt_file:
            files.append(verdict.smt_file)
        if verdict.status == core.PROVED:
            continue
        common = dict(
            obligation=obligation.name, case=case.label, status=verdict.status, queries=count,
            expect=obligation.expect, query=query.name, smt_files=tuple(files),
        )
        if verdict.status == core.UNKNOWN:
            return Outcome(reason=verdict.reason, seconds=time.perf_counter() - start, **common)
        values = verdict.model
        if query.shrink_vars:
            values = core.shrink(query.constraints, query.shrink_vars, values, timeout_s=min(timeout_s, SHRINK_SECONDS))
        cex = query.explain(values) if query.explain else values
        return Outcome(counterexample=cex, seconds=time.perf_counter() - start, **common)
    return Outcome(
        obligation=obligation.name, case=case.label, status=core.PROVED,
        seconds=time.perf_counter() - start, queries=count, expect=obligation.expect,
        smt_files=tuple(files),
    )


# --- running many cases --------------------------------------------------------------

_REGISTRY: dict[str, Obligation] = {}


def _worker(job):
    """Check a group of cases that share their key: their queries share solver terms
    (proofs/domain.py memoizes them per process), so one worker builds them once."""
    group, timeout_s, smt_dir = job
    return [check_case(_REGISTRY[name], case, timeout_s, smt_dir) for name, case in group]


def run_obligations(obligations, *, timeout_s: float, smt_dir: str | None = None, jobs: int | None = None):
    """Check every case of every obligation; identical cases (same key) run once."""
    _REGISTRY.clear()
    _REGISTRY.update({o.name: o for o in obligations})
    cases = [(o, c) for o in obligations for c in o.cases()]

    def identity(o, c):
        return (o.name,) + (c.key or (c.label,))

    unique: dict[tuple, tuple] = {}
    for obligation, case in cases:
        unique.setdefault(identity(obligation, case), (obligation, case))
    groups: dict[tuple, list] = {}
    for obligation, case in unique.values():
        groups.setdefault(case.key or (obligation.name, case.label), []).append((obligation, case))
    # Longest group first, so that the workers finish together.
    ordered = sorted(groups.values(), key=lambda g: -sum(o.weight * c.weight for o, c in g))
    work = [([(o.name, c) for o, c in group], timeout_s, smt_dir) for group in ordered]
    jobs = jobs or min(len(work), os.cpu_count() or 1)
    if jobs > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs) as pool:
            results = pool.map(_worker, work, chunksize=1)
    else:
        results = [_worker(job) for job in work]
    by_identity = {}
    for group, outcomes in zip(ordered, results):
        for (o, c), outcome in zip(group, outcomes):
            by_identity[identity(o, c)] = outcome
    outcomes = []
    for obligation, case in cases:
        first_case = unique[identity(obligation, case)][1]
        first = by_identity[identity(obligation, case)]
        if first_case is case:
            outcomes.append(first)
        else:
            outcomes.append(
                Outcome(**{**first.__dict__, "case": case.label, "seconds": 0.0,
                           "note": f"same queries as [{first_case.label}]"})
            )
    return outcomes
