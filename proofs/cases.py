"""The cases of the per-configuration obligations: every release in scope, every
precision it runs, under every policy.

Cases share their queries (run once) when the queries are the same: a `fixed:T` case
depends on T alone, an `any` case on the smallest tile, and a `flashinfer` case on the
tile set and the era's geometry (boundcheck.releases.Era.geometry_key), normalized so
that a candidate-rule difference that cannot matter on this tile set (a ladder of
powers of two, where both centres agree) does not split the work.
"""

from __future__ import annotations

from boundcheck.policy import ANY, DEFAULT, FLASHINFER, Policy, for_release, parse_policy
from boundcheck.releases import ERAS, Era
from boundcheck.solver.obligation import Case

from . import domain, tile_choice_lemmas
from .tile_choice_lemmas import method
from .domain import proof_limits

_SCOPE: list = [ERAS]
_BY_NAME = {era.name: era for era in ERAS}


def set_scope(eras) -> None:
    """The eras the next run proves (all by default; `prove --flashinfer V` picks one)."""
    _SCOPE[0] = tuple(eras)


def scope() -> tuple[Era, ...]:
    return tuple(_SCOPE[0])


def slices(policy, era, precision):
    """The effective top_k slices of a case of `era` in this run (domain.slices): up to
    the largest K' a release in scope accepts."""
    return domain.slices(policy, era, precision, eras=scope())


def lemmas_or(theorem, literal):
    """A case's builder: a tile-choosing policy's case by the tile-choice lemmas
    (proofs/tile_choice_lemmas.py) unless `prove --literal`; every other case by `literal`."""
    def build(case):
        era, _, tiles, policy = resolve(case)
        if tile_choice_lemmas.by_lemmas(policy):
            return tile_choice_lemmas.queries(theorem, era, tiles, policy)
        return literal(case)

    return build


def era_named(name: str) -> Era:
    return _BY_NAME[name]


def resolve(case) -> tuple:
    """(era, precision, tiles, policy) of a per-configuration case, with the policy as it
    runs in that release (policy.for_release: up to 0.4.1 the caller's tile)."""
    era_name, precision, policy_text = case.params[:3]
    era = era_named(era_name)
    tiles = era.tiles[precision]
    return era, precision, tiles, for_release(parse_policy(policy_text, tiles), era, precision)


def geometry(era: Era, tiles) -> tuple:
    """What a `flashinfer`-policy query of these tiles depends on in this era."""
    if era.tile_source.from_caller:
        return era.geometry_key()
    center, smaller, global_tile, checked, buckets = era.geometry_key()
    if all(t & (t - 1) == 0 for t in tiles):
        center = "lower_bound"  # equal on power-of-two ladders (see tiles._center_value)
    return (center, smaller, global_tile, checked, buckets)


def policies_for(tiles):
    return [FLASHINFER, DEFAULT, ANY] + [Policy("fixed", t) for t in tiles]


def _key(era, precision, tiles, policy):
    # The CTA formula, the grid's cluster rounding (0.2.8 - 0.4.0 differ) and the domain
    # the release accepts for the precision split every key.
    launch = (era.cta_formula, era.grid_cluster, proof_limits(era, precision))
    if policy.kind == "fixed":
        return launch + ("fixed", policy.tile)
    if policy.kind == "any":
        return launch + ("any", min(tiles))
    if policy.kind == "default":
        # the untuned tile depends on the centre rule and the ladder alone (no tuner)
        return launch + ("default", geometry(era, tiles)[0], tiles, method())
    return launch + (policy.kind, geometry(era, tiles), tiles, method())


def key_with_largest_tile(era, precision, tiles, policy):
    # For claims that also involve the precision's largest tile (bound_below_largest_tile).
    return _key(era, precision, tiles, policy) + (max(tiles),)


def label(era: Era, precision: str, policy) -> str:
    return f"{precision} / {policy} @ {era.span}"


def precision_policy_cases(obligation: str, key=_key) -> list[Case]:
    """Each era in scope, each precision it runs, each policy; equal keys share queries."""
    cases = []
    for era in scope():
        for precision, tiles in era.tiles.items():
            for policy in policies_for(tiles):
                runs = for_release(policy, era, precision)
                cases.append(
                    Case(obligation, label(era, precision, policy), (era.name, precision, str(policy)),
                         key(era, precision, tiles, runs), weight=len(slices(runs, era, precision)))
                )
    return cases
