"""Lemmas about the tile choice in expanded tokens, and how they prove safety, tightness,
global_covers_local, progress and bound_below_largest_tile for the tile-choosing policies
without slicing K'.

Trust: boundcheck.policy.allowed_tiles_mask_expanded and
boundcheck.bound.smallest_allowed_at_most_expanded (the very functions the model and the
guard evaluate), boundcheck.bound.first_failure_chain, boundcheck.tiles.bucket_of, Z3,
and the composition below (a paper proof over theorems the suite checks).

The tile-choosing policies (`flashinfer`, `default`, 0.4.1's caller heuristic) compare
only x = n*K' (expanded tokens), y = b*K' (b the autotuner bucket of n) and, in the
releases that read it, z = min(n, T)*K', with tile * experts. The choice is a function of
x, y, z and the expert counts, so facts about it are linear facts without K': one query
each, instead of one per K' = 1..34 and per theorem.

Lemmas, for each release geometry, tile ladder t_0 < ... < t_m and policy, with A_j
"the policy allows a tile of index <= j" and M_i "it allows tile i"; x, y, z >= 1,
1 <= L' <= E' <= 2050 (E', L' the global and local counts with the shared experts):
- choice_antitone     A_j(x, y, z) and x' <= x, y' <= y, z' <= z imply A_j(x', y', z').
- choice_mask_bound   M_j(x, y) implies A_j(x, y, z), under REL.
- choice_mask_exists  A_j(x, y, z) implies M_i(x, y) for some i <= j, under REL.
- choice_experts      A_j with L' local experts implies A_j with all E' local (same x, y, z).
  REL: where the release reads z, (z = x and y >= x) or (z = y and y <= x), what
  bucket_rel gives for z = min(n, T)*K'; elsewhere nothing (y and z are free everywhere,
  so the lemmas hold for the 0 the model passes for what a release does not read).
- bucket_monotone     4096 < m <= n < 2^25 implies bucket(m, T) <= bucket(n, T), every T.
- bucket_rel          (hybrid map) n <= T implies bucket(n, T) >= n; n > T implies
                      bucket(n, T) = T.
- chain               for S_0 <= ... <= S_m and any conditions f, C = first_failure_chain(S, f)
                      has f_j => C <= S_j, C <= S_m, and C = S_r for an r with f_r or r = m.

Per-tile facts the suite proves for every release (S_r = the bound of tile r alone, the
`fixed:t_r` policy): D  CTAs_r(n) <= B exactly when n <= S_r (safety and tightness of
fixed:t_r, with ctas_monotone_tokens); F  S_r >= 7,288 (progress of fixed:t_r); CTAs are
antitone in the tile and monotone in the experts (ctas_antitone_tile,
ctas_monotone_experts), hence S_r <= S_{r+1}. The n < 2^25 of bucket_monotone holds for
n <= C + 1 (int32, bound_below_largest_tile). f_r is A_r at S_r + 1 (the chain's condition).

Composition (x(n) = n*K' and so on; K' >= 1 scales every inequality the same way):
- safety: let n <= C, tile j allowed at n (M_j) and CTAs_j(n) > B. By D, n > S_j, so
  j < m (n <= C <= S_m). choice_mask_bound: A_j at n. p = S_j + 1 <= n with p > 4096 (F),
  so x(p) <= x(n), y(p) <= y(n) (bucket_monotone), z(p) <= z(n); choice_antitone: A_j
  at p, that is f_j, and by chain C <= S_j < n: a contradiction.
- tightness: by chain C = S_r with f_r or r = m; at p = C + 1 A_r holds (A_m always
  does); choice_mask_exists: some tile i <= r is allowed at p, and
  CTAs_i(p) >= CTAs_r(p) > B (antitone, D): C + 1 does not launch.
- global_covers_local: C_L = S_q(L') with f_q or q = m; p = C_L + 1. Were p <= C_E (the
  bound with every expert local): A_q at p with L', so with E' (choice_experts);
  choice_mask_exists: a tile i <= q is allowed for the whole model at p, and
  CTAs_i(p; E') >= CTAs_q(p; E') >= CTAs_q(p; L') > B, against safety for the whole
  model at p <= C_E.
- progress and bound_below_largest_tile: by chain C = S_r for some r, and C <= S_m = C_max;
  each S_r >= 7,288 (F).
The steps of the first three are also checked (composition[...], below): each lemma and
theorem enters as an instance at the points the argument uses, the choice as an
uninterpreted predicate; every instance is needed (tests/test_proofs.py drops each).
`boundcheck prove --literal` checks these theorems directly instead, one query per K'
(the method before these lemmas; CI runs both).
"""

from __future__ import annotations

import z3

from boundcheck import tiles as tilesets
from boundcheck.bound import first_failure_chain, smallest_allowed_at_most_expanded, smallest_bound, smallest_tile_reads
from boundcheck.domain import MAX_EXPERTS, MAX_SHARED_EXPERTS, MAX_TUNE_MAX_NUM_TOKENS
from boundcheck.policy import allowed_tiles_mask_expanded
from boundcheck.solver.backends import Z3_INT
from boundcheck.solver.obligation import Query

# Above this many tokens every bucket map is monotone (the hybrid map's power of two is
# not clamped to T below 256 tokens); every per-tile bound is larger (F).
MONOTONE_ABOVE = 4096
# Token counts below this are where the model's power-of-two chain is exact (lemma int32:
# every n <= C_max is).
_EXACT_TOKENS = 2**tilesets.POWER_OF_TWO_EXPONENTS

_METHOD = ["lemmas"]
METHOD_TEXT = ("z3; the tile-choosing policies by the tile-choice lemmas and their composition "
               "(proofs/tile_choice_lemmas.py), or one query per K' with --literal")


def set_method(method: str) -> None:
    """"lemmas" (default) or "literal": how the next run proves safety, tightness and
    global_covers_local for the tile-choosing policies."""
    if method not in ("lemmas", "literal"):
        raise ValueError(f"unknown proof method {method!r}")
    _METHOD[0] = method


def method() -> str:
    return _METHOD[0]


def by_lemmas(policy) -> bool:
    return _METHOD[0] == "lemmas" and policy.kind in ("flashinfer", "default", "caller_heuristic")


def _bool(value):
    return z3.BoolVal(value) if isinstance(value, bool) else value


def _reads_meeting_point(era, policy) -> bool:
    return smallest_tile_reads(era, policy) == "meeting point"


class _Choice:
    """The policy's choice as Z3 terms of free x, y, z and expert counts."""

    def __init__(self, era, tiles, policy, suffix=""):
        self.era, self.tiles, self.policy = era, tiles, policy
        self.x, self.y, self.z = z3.Ints(f"x{suffix} y{suffix} z{suffix}")

    def at_most(self, j, local, experts):
        return _bool(smallest_allowed_at_most_expanded(
            self.x, self.y, self.z, local, experts, self.tiles, j, self.era, Z3_INT, self.policy))

    def mask(self, local, experts):
        return [_bool(m) for m in allowed_tiles_mask_expanded(
            self.policy, self.tiles, self.x, self.y, local, experts, self.era, Z3_INT)]

    def positive(self):
        return [self.x >= 1, self.y >= 1, self.z >= 1]

    def rel(self):
        if not _reads_meeting_point(self.era, self.policy):
            return []  # z free: the choice does not read it
        return [z3.Or(z3.And(self.z == self.x, self.y >= self.x), z3.And(self.z == self.y, self.y <= self.x))]


def _experts():
    experts, local = z3.Ints("experts_with_shared local_with_shared")
    return experts, local, [1 <= local, local <= experts, experts <= MAX_EXPERTS + MAX_SHARED_EXPERTS]


def choice_queries(era, tiles, policy, lemmas):
    """The named lemmas' queries for one geometry, ladder and policy, one per tile index."""
    experts, local, counts = _experts()
    c, c2 = _Choice(era, tiles, policy), _Choice(era, tiles, policy, "_lower")
    m = len(tiles) - 1
    mask, whole_mask = c.mask(local, experts), c.mask(experts, experts)
    for j in range(m + 1):
        at_most = c.at_most(j, local, experts)
        if "choice_antitone" in lemmas and j < m:
            yield Query(f"choice_antitone[{j}]", counts + c.positive() + c2.positive() + [
                c2.x <= c.x, c2.y <= c.y, c2.z <= c.z, at_most, z3.Not(c2.at_most(j, local, experts))])
        if "choice_mask_bound" in lemmas and j < m:
            yield Query(f"choice_mask_bound[{j}]", counts + c.positive() + c.rel() + [mask[j], z3.Not(at_most)])
        if "choice_mask_exists" in lemmas:
            yield Query(f"choice_mask_exists[{j}]", counts + c.positive() + c.rel() + [
                at_most, z3.Not(z3.Or(*mask[: j + 1]))])
            yield Query(f"choice_mask_exists[{j}, all local]", counts + c.positive() + c.rel() + [
                c.at_most(j, experts, experts), z3.Not(z3.Or(*whole_mask[: j + 1]))])
        if "choice_experts" in lemmas and j < m:
            yield Query(f"choice_experts[{j}]", counts + c.positive() + [
                at_most, z3.Not(c.at_most(j, experts, experts))])


def bucket_queries(era, policy):
    """bucket_monotone, and bucket_rel where the release reads min(n, T)."""
    if policy.kind != "flashinfer" or era.tile_source.from_caller:
        return
    m, n, t = z3.Ints("tokens_lower tokens tune_max_num_tokens")
    domain = [1 <= t, t <= MAX_TUNE_MAX_NUM_TOKENS, n < _EXACT_TOKENS]
    bucket = lambda v: tilesets.bucket_of(v, t, era, Z3_INT)  # noqa: E731
    yield Query("bucket_monotone", domain + [MONOTONE_ABOVE < m, m <= n, bucket(m) > bucket(n)])
    if _reads_meeting_point(era, policy):
        yield Query("bucket_rel", domain + [1 <= n, z3.Or(z3.And(n <= t, bucket(n) < n),
                                                            z3.And(n > t, bucket(n) != t))])


def chain_queries(tiles):
    """chain: what first_failure_chain returns, whatever its conditions, for sorted bounds."""
    m = len(tiles) - 1
    per_tile = list(z3.Ints(" ".join(f"S_{t}" for t in tiles)))
    fails = [z3.Bool(f"f_{t}") for t in tiles[:-1]]
    bound, _ = first_failure_chain(per_tile, tiles, fails, Z3_INT)
    sorted_bounds = [per_tile[r] <= per_tile[r + 1] for r in range(m)]
    picked = z3.Or(*[z3.And(bound == per_tile[r], fails[r] if r < m else True) for r in range(m + 1)])
    claims = [z3.Implies(fails[j], bound <= per_tile[j]) for j in range(m)] + [bound <= per_tile[m], picked]
    yield Query("chain", sorted_bounds + [z3.Not(z3.And(*claims))])


LEMMAS = {
    "safety": ("choice_mask_bound", "choice_antitone"),
    "tightness": ("choice_mask_exists",),
    "global_covers_local": ("choice_experts", "choice_mask_exists"),
}


def queries(theorem, era, tiles, policy):
    """The lemma queries a theorem's composition (module docstring) rests on, and the
    composition itself (progress and bound_below_largest_tile: the chain alone)."""
    if theorem in ("progress", "bound_below_largest_tile"):
        yield from chain_queries(tiles)
        return
    yield from choice_queries(era, tiles, policy, LEMMAS[theorem])
    if theorem == "safety":
        yield from bucket_queries(era, policy)
    elif _reads_meeting_point(era, policy):
        yield from (q for q in bucket_queries(era, policy) if q.name == "bucket_rel")
    yield from chain_queries(tiles)
    yield from composition_queries(theorem)


# --- broken twin ------------------------------------------------------------------------

def _previous_rule_queries(case):
    """0.7.4's allowed tiles against 0.7.2.post1's smallest-tile test (one smaller
    neighbour, no global tile): the lemma the safety composition needs must fail."""
    from boundcheck.policy import FLASHINFER
    from boundcheck.resolution import resolve

    new, old = resolve("0.7.4"), resolve("0.7.2.post1")
    tiles = new.tiles["bf16"]
    experts, local, counts = _experts()
    now, before = _Choice(new, tiles, FLASHINFER), _Choice(old, tiles, FLASHINFER)  # the same x, y, z
    mask = now.mask(local, experts)
    for j in range(len(tiles) - 1):
        yield Query(f"choice_mask_bound[{j}]", counts + now.positive() + before.rel() + [
            mask[j], z3.Not(before.at_most(j, local, experts))], explain=_explain_choice)


def _explain_choice(values):
    return {"expanded_tokens": values.get("x"), "expanded_bucket": values.get("y"),
            "expanded_min_tokens_tune": values.get("z"), "experts": values.get("experts_with_shared"),
            "local_experts": values.get("local_with_shared")}


def _twin():
    from boundcheck.solver.core import REFUTED
    from boundcheck.solver.obligation import Case, Obligation

    return Obligation(
        name="choice[0.7.2 rule on 0.7.4]",
        statement="0.7.2.post1's smallest-tile test bounds every tile 0.7.4 allows (BF16, flashinfer policy)",
        domain="expanded tokens, bucket and min(n, T) >= 1, experts 1..2050, local 1..experts",
        cases=lambda: [Case("choice[0.7.2 rule on 0.7.4]", "bf16 / flashinfer @ 0.7.4")],
        build=_previous_rule_queries,
        expect=REFUTED,
        twin_of="safety",
    )


TWINS = [_twin()]


# --- the composition, checked ------------------------------------------------------------
#
# The steps of the composition (module docstring) as one query per theorem: the choice
# A_j is an uninterpreted predicate of (x, y, z), the mask bits and CTA counts free
# values, and every lemma or theorem enters as an instance at the points the argument
# uses. Unsat means the argument's steps chain: no configuration satisfies every premise
# and the negated theorem. Each query is also checked satisfiable without the negation
# (tests/test_proofs.py), so the premises are consistent, not vacuous.

def _choice_predicate(name):
    return z3.Function(name, z3.IntSort(), z3.IntSort(), z3.IntSort(), z3.BoolSort())


def composition_premises(theorem):
    """(domain, instances of lemmas and theorems, negated theorem) of the composition for
    `theorem`."""
    k = z3.Int("top_k_effective")
    t = z3.Int("tune_max_num_tokens")
    budget = z3.Int("cta_budget")
    s_last, bound = z3.Ints("S_m C")
    common = [k >= 1, t >= 1, budget >= 1]

    def point(n, bucket):
        # (x, y, z) at n tokens: n*K', b*K', min(n, T)*K'
        return n * k, bucket * k, z3.If(n <= t, n, t) * k

    def rel(n, bucket):
        # bucket_rel where the era reads z (else vacuous): n <= T => b >= n, n > T => b = T
        return z3.And(z3.Implies(n <= t, bucket >= n), z3.Implies(n > t, bucket == t))

    if theorem == "safety":
        a = _choice_predicate("A_j")
        n, s_j, b_n, b_p, ctas_n = z3.Ints("n S_j bucket_n bucket_p ctas_j_n")
        mask_j, j_is_last = z3.Bools("M_j_n j_is_m")
        p = s_j + 1
        f_j = a(*point(p, b_p))
        domain = common + [n >= 1, b_n >= 1, b_p >= 1]
        instances = [
            (ctas_n <= budget) == (n <= s_j),                            # D
            s_j >= smallest_bound(),                                     # F
            z3.Implies(f_j, bound <= s_j), bound <= s_last,              # chain
            z3.Implies(j_is_last, s_j == s_last),
            bound < _EXACT_TOKENS,                                       # int32: C <= C_max < 2^25
            z3.Implies(z3.And(MONOTONE_ABOVE < p, p <= n, n < _EXACT_TOKENS), b_p <= b_n),  # bucket_monotone
            z3.Implies(z3.And(z3.Not(j_is_last), mask_j, rel(n, b_n)), a(*point(n, b_n))),  # choice_mask_bound
            rel(n, b_n),                                                 # bucket_rel (or z unread)
        ]
        xn, yn, zn = point(n, b_n)
        xp, yp, zp = point(p, b_p)
        instances.append(z3.Implies(z3.And(a(xn, yn, zn), xp <= xn, yp <= yn, zp <= zn), a(xp, yp, zp)))  # antitone
        return domain, instances, [n <= bound, mask_j, ctas_n > budget]
    if theorem == "tightness":
        a = _choice_predicate("A_r")
        s_r, b_p, ctas_r, ctas_i = z3.Ints("S_r bucket_p ctas_r_p ctas_i_p")
        f_r, r_is_last, mask_i = z3.Bools("f_r r_is_m M_i_p")
        p = bound + 1
        domain = common + [b_p >= 1]
        instances = [
            bound == s_r, z3.Or(f_r, r_is_last),                          # chain: C = S_r, f_r or r = m
            f_r == a(*point(p, b_p)), z3.Implies(r_is_last, a(*point(p, b_p))),  # A_m always holds
            rel(p, b_p),
            z3.Implies(z3.And(a(*point(p, b_p)), rel(p, b_p)), mask_i),  # choice_mask_exists: some i <= r
            ctas_i >= ctas_r,                                            # ctas_antitone_tile (i <= r)
            (ctas_r <= budget) == (p <= s_r),                            # D
        ]
        return domain, instances, [z3.Implies(mask_i, ctas_i <= budget)]  # C + 1 launches
    if theorem == "global_covers_local":
        a_local, a_whole = _choice_predicate("A_q_local"), _choice_predicate("A_q_whole")
        s_q, bound_whole, b_p, ctas_q_local, ctas_q_whole, ctas_i = z3.Ints(
            "S_q_local C_whole bucket_p ctas_q_p_local ctas_q_p_whole ctas_i_p_whole")
        f_q, q_is_last, mask_i = z3.Bools("f_q q_is_m M_i_p_whole")
        p = bound + 1
        here = point(p, b_p)
        domain = common + [b_p >= 1]
        instances = [
            bound == s_q, z3.Or(f_q, q_is_last),                          # chain at L'
            f_q == a_local(*here), z3.Implies(q_is_last, a_local(*here)),
            rel(p, b_p),
            z3.Implies(a_local(*here), a_whole(*here)),                   # choice_experts
            z3.Implies(z3.And(a_whole(*here), rel(p, b_p)), mask_i),      # choice_mask_exists, all local
            ctas_i >= ctas_q_whole, ctas_q_whole >= ctas_q_local,         # antitone tile, monotone experts
            (ctas_q_local <= budget) == (p <= s_q),                       # D at L'
            z3.Implies(z3.And(p <= bound_whole, mask_i), ctas_i <= budget),  # safety, whole model
        ]
        return domain, instances, [bound_whole > bound]
    raise ValueError(theorem)


def composition_queries(theorem):
    domain, instances, negated = composition_premises(theorem)
    yield Query(f"composition[{theorem}]", domain + instances + negated)
