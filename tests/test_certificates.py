"""Every query `boundcheck prove --smt-dir` writes is a self-contained SMT-LIB2 file that
an independent solver, cvc5, decides the same way as Z3 (unsat: the claim holds; sat:
a broken twin's counterexample exists). Unknown from either solver fails."""

from __future__ import annotations

import multiprocessing

import pytest

TIME_LIMIT_S = 120


def z3_verdict(path: str) -> str:
    import z3

    solver = z3.Solver()
    solver.set("timeout", TIME_LIMIT_S * 1000)
    solver.add(z3.parse_smt2_file(path))
    return str(solver.check())


def cvc5_verdict(path: str) -> str:
    import cvc5

    solver = cvc5.Solver()
    solver.setOption("tlimit-per", str(TIME_LIMIT_S * 1000))
    solver.setLogic("ALL")
    symbols = cvc5.SymbolManager(solver)
    parser = cvc5.InputParser(solver, symbols)
    parser.setFileInput(cvc5.InputLanguage.SMT_LIB_2_6, path)
    verdict = "no check-sat"
    while True:
        command = parser.nextCommand()
        if command.isNull():
            return verdict
        answer = command.invoke(solver, symbols)
        if "check-sat" in str(command):
            verdict = answer.strip()


def _both(path):
    return path, z3_verdict(path), cvc5_verdict(path)


def test_cvc5_agrees_with_z3_on_every_query(proved):
    pytest.importorskip("cvc5")
    result, smt_dir, document = proved
    assert result.returncode == 0, result.stdout[-2000:]
    files = sorted(str(p) for p in smt_dir.glob("*.smt2"))
    assert len(files) > 1000
    with multiprocessing.get_context("fork").Pool(2) as pool:
        verdicts = pool.map(_both, files, chunksize=8)
    disagree = [(p, z, c) for p, z, c in verdicts if z != c or z not in ("sat", "unsat")]
    assert not disagree, disagree[:5]
    # The refuted twins' queries are the satisfiable ones, and nothing else is.
    sat = {p for p, z, _ in verdicts if z == "sat"}
    refuting = {
        f for o in document["obligations"] if o["expect"] == "refuted"
        for c in o["cases_detail"] for f in c["smt_files"][-1:]
    }
    assert sat == refuting
