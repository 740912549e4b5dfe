"""Differential testing (deal's discipline): the same model functions evaluated on ints
and lifted to Z3 must agree on random points, so the solver proves what the guard runs."""

from __future__ import annotations

import functools

import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from boundcheck.bound import bound_for_budget, effective_counts, within_budget
from boundcheck.geometry import max_num_ctas_in_batch_dim
from boundcheck.policy import for_release, parse_policy
from boundcheck.solver.backends import Z3_BV32, Z3_INT
from boundcheck.releases import ERAS
from boundcheck.tiles import map_round_down_bucket, map_to_hybrid_bucket
from boundcheck.geometry import GRID_CLUSTER_RULES
from boundcheck.proofs.domain import budgets_for, symbols

from . import oracle

POLICIES = ["flashinfer", "flashinfer", "any", "fixed:8", "fixed:64", "fixed:128"]
PAIRS = sorted({(era.name, p) for era in ERAS for p in era.tiles})
ERA = {era.name: era for era in ERAS}
config = st.fixed_dictionaries(
    {
        "pair": st.sampled_from(PAIRS),
        "policy": st.sampled_from(POLICIES),
        "num_experts": st.integers(1, 2048),
        "top_k_frac": st.floats(0, 1),
        "shared": st.integers(0, 2),
        "local_frac": st.floats(0, 1),
        "tune_max": st.one_of(st.integers(1, 2**31 - 1), st.sampled_from([1, 256, 8192, 2**20])),
        # every CTA budget some release's grid rule gives a proven cluster size
        "budget": st.sampled_from(sorted({b for rule in GRID_CLUSTER_RULES for b in budgets_for(65535, rule)})),
        "tokens": st.integers(1, 2**24),
    }
)


def _concrete(c):
    e = c["num_experts"]
    k = max(1, min(32, e, round(c["top_k_frac"] * min(32, e))))
    local = max(1, round(c["local_frac"] * e))
    return e, k, local


@functools.lru_cache(maxsize=None)
def _terms(era_name, precision, tiles, policy_text):
    sym = symbols()
    era = ERA[era_name]
    policy = for_release(parse_policy(policy_text, tiles), era, precision)
    return sym, sym.bound(tiles, policy, era), sym.launches(sym.tokens, tiles, policy, era)


def _evaluate(term, sym, values):
    pairs = [(getattr(sym, name), z3.IntVal(v)) for name, v in values.items()]
    return z3.simplify(z3.substitute(term, *pairs))


@given(config)
@settings(max_examples=300, deadline=None)
def test_bound_and_launch_check_agree_between_ints_and_z3(c):
    era_name, precision = c["pair"]
    era = ERA[era_name]
    tiles = era.tiles[precision]
    if c["policy"].startswith("fixed:") and int(c["policy"][6:]) not in tiles:
        return
    e, k, local = _concrete(c)
    sym, bound_term, launches_term = _terms(era_name, precision, tiles, c["policy"])
    values = {"num_experts": e, "top_k": k, "shared": c["shared"], "local": local,
              "tune_max": c["tune_max"], "budget": c["budget"], "tokens": c["tokens"]}
    counts = effective_counts(e, k, local, c["shared"])
    policy = for_release(parse_policy(c["policy"], tiles), era, precision)
    expected_bound, _ = bound_for_budget(counts, tiles, policy, c["tune_max"], c["budget"], era)
    assert _evaluate(bound_term, sym, values).as_long() == expected_bound
    expected_launch = within_budget(c["tokens"], counts, tiles, policy, c["tune_max"], c["budget"], era)
    assert z3.is_true(_evaluate(launches_term, sym, values)) == expected_launch


@given(x=st.integers(0, 2**25), t=st.integers(1, 2**31 - 1))
@settings(max_examples=200, deadline=None)
def test_bucket_mapping_agrees_between_ints_and_z3(x, t):
    xs, ts = z3.Ints("x t")
    term = map_to_hybrid_bucket(xs, ts, Z3_INT)
    value = z3.simplify(z3.substitute(term, (xs, z3.IntVal(x)), (ts, z3.IntVal(t)))).as_long()
    assert value == map_to_hybrid_bucket(x, t)
    down = map_round_down_bucket(xs, ts, Z3_INT)
    value = z3.simplify(z3.substitute(down, (xs, z3.IntVal(x)), (ts, z3.IntVal(t)))).as_long()
    assert value == map_round_down_bucket(x, t)
    if x >= 1:  # flashinfer's own last_positive_power_of_2 (0 for x < 1, never asked)
        assert value == min(1 << (x.bit_length() - 1), t)


@given(
    tokens=st.integers(0, 2**31 - 1),
    top_k=st.integers(1, 34),
    experts=st.integers(1, 2050),
    tile=st.sampled_from([8, 16, 32, 64, 128, 192, 256]),
)
@settings(max_examples=200, deadline=None)
def test_bitvector_lifting_is_cxx_int32(tokens, top_k, experts, tile):
    # The same CTA function on 32-bit bit-vectors is C++'s int32 evaluation, wrap included.
    n, k, e = z3.BitVecs("n k e", 32)
    term = max_num_ctas_in_batch_dim(n, k, e, tile, Z3_BV32)
    value = z3.simplify(z3.substitute(
        term, (n, z3.BitVecVal(tokens, 32)), (k, z3.BitVecVal(top_k, 32)), (e, z3.BitVecVal(experts, 32))
    )).as_signed_long()
    assert value == oracle.get_max_num_ctas_in_batch_dim_int32(tokens, top_k, experts, tile)
    if tokens * top_k < 2**31:
        assert value == max_num_ctas_in_batch_dim(tokens, top_k, experts, tile)
