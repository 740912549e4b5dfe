"""The proof suite itself: negative controls first, then every broken twin refuted with a
counterexample that the int model confirms, and honest unknowns."""

from __future__ import annotations

import pytest

from boundcheck.bound import bound_for_budget, effective_counts, grid_bound_and_tile, within_budget
from boundcheck.geometry import max_num_ctas_in_batch_dim, release_cta_budget
from boundcheck.plan import chunk_count, chunk_size
from boundcheck.policy import parse_policy
from boundcheck.solver import core
from boundcheck.solver.obligation import check_case, run_obligations
from boundcheck.resolution import era_for
from boundcheck.proofs import THEOREMS, TWINS
from boundcheck.proofs.cases import scope, set_scope
from boundcheck.proofs.closed_form import BUDGET, TILE, E, K, derive, vllm_off_by_one
from boundcheck.proofs.tile_choice_lemmas import set_method

BY_NAME = {o.name: o for o in THEOREMS + TWINS}
E23, E24 = era_for("0.7.2.post1"), era_for("0.7.4")
AT_E23 = " @ 0.7.1 - 0.7.2.post1"


@pytest.fixture(scope="module")
def twins():
    # 0.7.4 first, so that each twin's 0.7.2.post1 case (run last) is the one kept; the
    # twin about 0.7.4 exists only there.
    previous = scope()
    set_scope([E24, E23])
    try:
        return {o.obligation: o for o in run_obligations(TWINS, timeout_s=60, jobs=1)}
    finally:
        set_scope(previous)


def test_negative_control_false_is_refuted(twins):
    assert twins["control[False]"].status == core.REFUTED


def test_every_twin_is_refuted(twins):
    assert set(twins) == {o.name for o in TWINS}
    for outcome in twins.values():
        assert outcome.status == core.REFUTED, outcome
        assert outcome.as_expected


def _grid_counterexample_is_real(cex, limit=65535):
    counts = effective_counts(cex["num_experts"], cex["top_k"], cex["local_experts"], cex["shared_experts"])
    ctas = max_num_ctas_in_batch_dim(cex["tokens"], counts.top_k, counts.local_experts, cex["tile"])
    assert ctas == cex["ctas"]
    assert cex["grid_y"] > limit
    return counts


def test_off_by_one_counterexample_is_the_bound_plus_one(twins):
    cex = twins["safety[C+1]"].counterexample
    counts = _grid_counterexample_is_real(cex)
    tiles = E23.tiles["nvfp4"]
    bound, _ = grid_bound_and_tile(counts, tiles, parse_policy("flashinfer"), cex["tune_max_num_tokens"], E23,
                                   cex["cluster_y"])
    assert cex["tokens"] == bound + 1


def test_previous_release_bound_is_unsafe_on_0_7_4(twins):
    # The bound 0.7.2.post1's geometry gives, applied to 0.7.4: a smaller tile runs there.
    cex = twins["safety[0.7.2 bound on 0.7.4]"].counterexample
    counts = _grid_counterexample_is_real(cex)
    tiles = E24.tiles["bf16"]
    old, _ = grid_bound_and_tile(counts, tiles, parse_policy("flashinfer"), cex["tune_max_num_tokens"], E23,
                                 cex["cluster_y"])
    new, _ = grid_bound_and_tile(counts, tiles, parse_policy("flashinfer"), cex["tune_max_num_tokens"], E24,
                                 cex["cluster_y"])
    assert new < cex["tokens"] <= old


def test_vllm_tile_128_counterexample_runs_a_smaller_tile(twins):
    cex = twins["safety[vLLM tile 128]"].counterexample
    counts = _grid_counterexample_is_real(cex)
    assert cex["tile"] < 128
    vllm = (counts.local_experts + (65535 - counts.local_experts + 1) * 128 - 1) // counts.top_k
    assert cex["tokens"] <= vllm


def test_local_for_global_counterexample(twins):
    cex = twins["local_covers_global"].counterexample
    _grid_counterexample_is_real(cex)
    assert cex["bound_from_local_experts"] < cex["num_experts"]


def test_int32_wrap_counterexample(twins):
    cex = twins["int32[hidden 7168]"].counterexample
    assert cex["tokens"] * 7168 > 2**31 - 1
    assert cex["value"] == cex["tokens"] * 7168


def test_closed_form_twin_counterexample(twins):
    cex = twins["closed_form[vLLM off by one]"].counterexample
    assert vllm_off_by_one(cex["num_experts"], cex["top_k"]) != cex["closed_form"]


def test_floor_count_twin_counterexample(twins):
    cex = twins["partition[floor count]"].counterexample
    m, c = cex["tokens"], cex["max_chunk"]
    count = max(m // c, 1)
    assert max(chunk_size(i, m, count) for i in range(count)) > c
    assert count < chunk_count(m, c)


def test_tightness_twin_counterexample_launches(twins):
    cex = twins["tightness[C-1]"].counterexample
    counts = effective_counts(cex["num_experts"], cex["top_k"], cex["local_experts"], cex["shared_experts"])
    assert cex["grid_y"] <= 65535
    budget = release_cta_budget(65535, cex["cluster_y"], E23)
    bound, _ = bound_for_budget(counts, (128,), parse_policy("fixed:128"), 1, budget, E23)
    assert cex["tokens"] == bound
    assert within_budget(cex["tokens"], counts, (128,), parse_policy("fixed:128"), 1, budget, E23)


@pytest.mark.parametrize(
    "name,label",
    [("safety", "mxfp4_bf16 / flashinfer" + AT_E23), ("tightness", "bf16 / fixed:128" + AT_E23),
     ("safety", "nvfp4 / flashinfer @ 0.7.4"), ("safety", "fp8_per_tensor / flashinfer @ 0.5.3"),
     ("tightness", "nvfp4 / flashinfer @ 0.6.16 - 0.6.16.post4"), ("int32", "nvfp4 / all tiles" + AT_E23),
     ("partition", "equal split"), ("closed_form_vllm", "tile 128"), ("cluster_rounding", "grid.y")],
)
def test_theorem_cases_are_proved(name, label):
    obligation = BY_NAME[name]
    case = next(c for c in obligation.cases() if c.label == label)
    outcome = check_case(obligation, case, 60, None)
    assert outcome.status == core.PROVED, outcome
    assert outcome.queries >= 1


def test_a_timeout_is_unknown_never_proved():
    # The literal per-K' query (tens of milliseconds), not the lemmas (a millisecond each).
    obligation = BY_NAME["safety"]
    set_method("literal")
    try:
        case = next(c for c in obligation.cases() if c.label == "nvfp4 / flashinfer" + AT_E23)
        outcome = check_case(obligation, case, 0.001, None)
    finally:
        set_method("lemmas")
    assert outcome.status == core.UNKNOWN
    assert not outcome.as_expected
    assert "timeout" in outcome.reason or "canceled" in outcome.reason


def test_derivation_reaches_vllms_formula():
    steps, largest = derive()
    assert [s for s, _ in steps][0].startswith("CTAs(n)")
    assert "ceiling" in str(largest)
    assert int(largest.subs({E: 512, K: 22, TILE: 128, BUDGET: 65535})) == 378_344
    assert int(largest.subs({E: 256, K: 8, TILE: 64, BUDGET: 65535})) == 522_271


def test_twins_run_in_a_release_without_their_precision():
    """0.5.0 has no BF16 launcher and is not 0.7.4: the BF16 twins still run one case (in
    the newest release that has BF16) and are refuted with a counterexample, never
    'refuted' with zero cases."""
    previous = scope()
    set_scope([era_for("0.5.0")])
    try:
        wanted = {"tightness[C-1]", "safety[0.7.2 bound on 0.7.4]"}
        chosen = [t for t in TWINS if t.name in wanted]
        outcomes = run_obligations(chosen, timeout_s=60, jobs=1)
    finally:
        set_scope(previous)
    assert {o.obligation for o in outcomes} == wanted
    for outcome in outcomes:
        assert outcome.status == core.REFUTED and outcome.counterexample, outcome


def test_an_obligation_with_no_case_is_unknown():
    from boundcheck.prove import failures, summarize
    from boundcheck.solver.obligation import Obligation

    empty = Obligation(name="empty", statement="s", domain="d", cases=lambda: [], build=lambda case: [],
                       expect=core.REFUTED)
    rows = summarize([empty], run_obligations([empty], timeout_s=1, jobs=1))
    assert rows[0]["status"] == core.UNKNOWN and not rows[0]["as_expected"]
    assert failures(rows) == 1


def test_slices_cover_every_top_k_each_release_accepts():
    """A run proves K' = top_k + shared up to the largest value a release in scope accepts
    (0.5.x: 10, 0.6.3 - 0.6.6: 22, 0.7.x: 34), and every case of the run gets the same
    slices, so cases that share their queries cover each other."""
    from boundcheck import domain as D
    from boundcheck.policy import FLASHINFER
    from boundcheck.releases import ERAS
    from boundcheck.proofs.cases import slices

    previous = scope()
    try:
        for era in ERAS:
            set_scope([era])
            for precision in era.tiles:
                accepted = sum(D.limits(era, precision)[1:])
                got = slices(FLASHINFER, era, precision)
                assert got == list(range(1, len(got) + 1))
                assert len(got) >= accepted, (era.name, precision)
        set_scope([era_for("0.5.1")])
        assert slices(FLASHINFER, era_for("0.5.1"), "nvfp4") == list(range(1, 11))
        # a case of a release outside the scope (a twin's fallback) gets that release's K'
        assert len(slices(FLASHINFER, E24, "nvfp4")) == 34
        set_scope([era_for("0.5.1"), E23])
        assert len(slices(FLASHINFER, era_for("0.5.1"), "nvfp4")) == 34
        assert slices(parse_policy("fixed:64"), E23, "nvfp4") == [None]
    finally:
        set_scope(previous)


def test_previous_rule_twin_counterexample(twins):
    """0.7.4 allows a tile (at these expanded counts) that 0.7.2.post1's smallest-tile test
    puts below the smallest it allows: evaluated on ints."""
    from boundcheck.bound import smallest_allowed_at_most_expanded
    from boundcheck.policy import FLASHINFER, allowed_tiles_mask_expanded

    outcome = twins["choice[0.7.2 rule on 0.7.4]"]
    cex, j = outcome.counterexample, int(outcome.query.split("[")[1].rstrip("]"))
    tiles = E24.tiles["bf16"]
    x, y, z = cex["expanded_tokens"], cex["expanded_bucket"], cex["expanded_min_tokens_tune"]
    mask = allowed_tiles_mask_expanded(FLASHINFER, tiles, x, y, cex["local_experts"], cex["experts"], E24)
    assert mask[j]
    assert not smallest_allowed_at_most_expanded(x, y, z, cex["local_experts"], cex["experts"], tiles, j, E23,
                                                 policy=FLASHINFER)


@pytest.mark.parametrize("theorem", ["safety", "tightness", "global_covers_local", "progress",
                                     "bound_below_largest_tile"])
@pytest.mark.parametrize("label", ["mxfp4_bf16 / flashinfer @ 0.7.4", "mxfp4_bf16 / flashinfer" + AT_E23,
                                   "mxfp4_bf16 / default" + AT_E23, "fp8_block / flashinfer @ 0.5.3",
                                   "nvfp4 / flashinfer @ 0.4.1"])
def test_lemmas_and_literal_queries_both_prove(theorem, label):
    """The tile-choice lemmas (default) and the per-K' queries (--literal) prove the same
    cases: the 0.7.4 window and global tile, 0.7.2's meeting point min(n, T), autotuning
    off, 0.5.3's checked tuned tile, 0.4.1's caller heuristic."""
    obligation = BY_NAME[theorem]
    previous = scope()
    set_scope([era_for(label.split("@ ")[1].split(" - ")[-1])])
    try:
        outcomes = {}
        for method in ("lemmas", "literal"):
            set_method(method)
            case = next(c for c in obligation.cases() if c.label == label)
            outcomes[method] = check_case(obligation, case, 60, None)
    finally:
        set_method("lemmas")
        set_scope(previous)
    assert outcomes["lemmas"].status == outcomes["literal"].status == core.PROVED, outcomes


def test_lemmas_catch_a_wrong_smallest_tile_test(monkeypatch):
    """A smallest-tile test off by one (the window taken one tile higher) breaks the lemma
    safety rests on: refuted, not proved."""
    import boundcheck.proofs.tile_choice_lemmas as lemmas

    real = lemmas.smallest_allowed_at_most_expanded

    def off_by_one(x, y, z, local, experts, tiles, r, era, ops, policy=None):
        return real(x, y, z, local, experts, tiles, max(r - 1, 0), era, ops, policy)

    monkeypatch.setattr(lemmas, "smallest_allowed_at_most_expanded", off_by_one)
    obligation = BY_NAME["safety"]
    case = next(c for c in obligation.cases() if c.label == "nvfp4 / flashinfer @ 0.7.4")
    outcome = check_case(obligation, case, 60, None)
    assert outcome.status == core.REFUTED and outcome.query.startswith("choice_")


@pytest.mark.parametrize("theorem", ["safety", "tightness", "global_covers_local"])
def test_composition_is_checked_and_needs_every_instance(theorem):
    """The composition of the tile-choice lemmas: its premises are consistent (satisfiable
    without the negated theorem), they refute the negation, and each instance of a lemma
    or theorem is needed: without it the negation is satisfiable."""
    import z3

    from boundcheck.proofs.tile_choice_lemmas import composition_premises

    domain, instances, negated = composition_premises(theorem)

    def check(constraints):
        solver = z3.Solver()
        solver.set("timeout", 20_000)
        solver.add(*constraints)
        return solver.check()

    assert check(domain + instances) == z3.sat
    assert check(domain + instances + negated) == z3.unsat
    for i in range(len(instances)):
        assert check(domain + instances[:i] + instances[i + 1:] + negated) == z3.sat, instances[i]
