"""The model against flashinfer's OWN host code, compiled with g++ and executed.

boundcheck/drift/compiled.py extracts, by name, from each modeled release's shipped sources
(`$BOUNDCHECK_FLASHINFER_CACHE/<VERSION>/flashinfer/`, filled by
tools/fetch_flashinfer_sources.py) computeSelectedTileN, nextPowerOfTwo, selectDefaultTileN
and runner.h's getMaxNumCtasInBatchDim, compiles them (once per distinct text) and
evaluates arrays of points. Compared with the model:

- the tuner's candidate set (boundcheck.tiles.selected_tiles) and the default tile
  (boundcheck.tiles.default_tile), for every tile ladder of the release's era;
- the CTA count (boundcheck.geometry.max_num_ctas_in_batch_dim) where n * top_k fits int32;
- resolveMoeTileAndConfig (0.6.7+) against tiles.resolved_tactic, on the tactics
  boundcheck.drift.tactics chooses (the ones drift --execute runs).

Points: an exhaustive small domain (experts 1..64, top_k 1..8, tokens 0..4096; 0.7.4 also
under EP with num_experts > num_local_experts), then random points of the full domain
(tokens up to 2**24, top_k' 1..34, experts 1..2050) concentrated on ties
(n * top_k == tile * experts +- 1, local and global) and on the model's chunk bounds C and
C + 1 (and their autotuner buckets). The exhaustive domain evaluates the model's own
functions over numpy arrays (an `ops` backend like the solver ones); a sample of every
domain also goes through the scalar API named above, which must agree with both.

Releases whose compiled text AND era are both identical compute the very same arrays on
both sides; such a release reuses the first one's comparison (named in the output).
"""

from __future__ import annotations

import ast
import functools
import re
import zlib

import numpy as np
import pytest

from boundcheck import geometry
from boundcheck import tiles as tilesets
from boundcheck.bound import chunk_bound
from boundcheck.errors import BoundcheckInputError
from boundcheck.facts import INT32_MAX
from boundcheck.releases import MODELED_VERSIONS
from boundcheck.resolution import era_for

from boundcheck.drift import compiled as cref
from boundcheck.drift import tactics
from boundcheck.drift.compare import NP, as_set, ladders, model_ctas, model_default, model_mask, small_domain

ROOT = cref.sources_root()
SMALL_EXPERTS, SMALL_TOP_K, SMALL_TOKENS = 64, 8, 4096
RANDOM_POINTS = 20_000  # per ladder at least, uniform/log-uniform over the full domain
# Comparisons per release on the full domain, at least (the ladders share them out; the CTA
# count drops points whose int32 values would wrap, hence the margin in the sizes).
FULL_DOMAIN_COMPARISONS = 1_000_000
TIE_POINTS = 6_000  # per ladder
CHUNK_CONFIGS = 60  # per release
SCALAR_SAMPLE = 300  # per ladder and domain, through the scalar API


def _missing_reason(version: str) -> str | None:
    if cref.compiler() is None:
        return "g++ not found (tools/compiled_reference.py compiles flashinfer's host code with it)"
    folder = cref.release_folder(version, ROOT)
    for rel in (cref.LAUNCHER, cref.RUNNER_H):
        if not (folder / rel).is_file():
            return (f"flashinfer {version} sources not found: {folder / rel} is missing "
                    f"(tools/fetch_flashinfer_sources.py fills {ROOT}; set {cref.CACHE_VARIABLE})")
    return None


def _reference(version: str):
    reason = _missing_reason(version)
    if reason:
        pytest.skip(reason)
    return cref.reference_for(version, ROOT)


# --- the model over numpy arrays: boundcheck.drift.compare ------------------------------------

# --- comparison -----------------------------------------------------------------------------


def _fail_lines(version, what, idx, rows):
    lines = [f"flashinfer {version}: {what}: {len(idx)} mismatches; first ones:"]
    for i in idx[:10]:
        lines.append("  " + rows(i))
    return "\n".join(lines)


def compare_tiles(ref, version, era, ladder, n, k, local, experts):
    """Assert the compiled candidate set and default tile equal the model's; return #points."""
    n, k, local, experts = (np.ascontiguousarray(a, dtype=np.int64) for a in np.broadcast_arrays(n, k, local, experts))
    mask, default, status = ref.tiles(ladder, n, k, local, experts)
    bad = np.flatnonzero(status != 0)
    assert bad.size == 0, _fail_lines(
        version, f"compiled code failed (ladder {ladder}; last error: {ref.last_error})", bad,
        lambda i: f"tokens={n[i]} top_k={k[i]} local={local[i]} experts={experts[i]} status={status[i]}")
    m_mask = model_mask(ladder, n, k, local, experts, era)
    m_default = model_default(ladder, n, k, local, era)
    bad = np.flatnonzero((mask != m_mask) | (default != m_default))
    assert bad.size == 0, _fail_lines(
        version, f"candidate set / default tile (ladder {ladder}, era {era.name})", bad,
        lambda i: (f"tokens={n[i]} top_k={k[i]} num_local_experts={local[i]} num_experts={experts[i]}: "
                   f"flashinfer set={sorted(as_set(mask[i], ladder))} default={default[i]}; "
                   f"model set={sorted(as_set(m_mask[i], ladder))} default={m_default[i]}"))
    return n.size


def compare_scalar(ref, version, era, ladder, n, k, local, experts, rng):
    """The literal scalar API (selected_tiles, default_tile, max_num_ctas_in_batch_dim) on a
    sample of the points."""
    n, k, local, experts = np.broadcast_arrays(n, k, local, experts)
    pick = rng.choice(n.size, size=min(SCALAR_SAMPLE, n.size), replace=False)
    n, k, local, experts = (np.ascontiguousarray(a.ravel()[pick], dtype=np.int64) for a in (n, k, local, experts))
    mask, default, status = ref.tiles(ladder, n, k, local, experts)
    assert not status.any(), f"flashinfer {version}: compiled code failed: {ref.last_error}"
    fits = n * k <= INT32_MAX
    ctas_in = [(int(a), int(b), int(c), t) for a, b, c, f in zip(n, k, local, fits) if f for t in ladder]
    if ctas_in:
        arr = np.array(ctas_in, dtype=np.int64)
        out, st = ref.ctas(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
        assert not st.any(), f"flashinfer {version}: getMaxNumCtasInBatchDim failed: {ref.last_error}"
    for i in range(n.size):
        args = (int(n[i]), int(k[i]), int(local[i]))
        model_set = tilesets.selected_tiles(ladder, *args, era, num_experts=int(experts[i]))
        model_default_tile = tilesets.default_tile(ladder, *args, era)
        got = as_set(mask[i], ladder)
        assert got == model_set and default[i] == model_default_tile, (
            f"flashinfer {version} (scalar API, ladder {ladder}): tokens={args[0]} top_k={args[1]} "
            f"num_local_experts={args[2]} num_experts={experts[i]}: flashinfer set={sorted(got)} "
            f"default={default[i]}; model set={sorted(model_set)} default={model_default_tile}")
    for row, got in zip(ctas_in, out if ctas_in else []):
        want = geometry.max_num_ctas_in_batch_dim(*row)
        assert got == want, (f"flashinfer {version}: getMaxNumCtasInBatchDim{row} = {got}, "
                             f"model max_num_ctas_in_batch_dim = {want}")
    return n.size


def compare_ctas(ref, version, era, n, k, experts, tile):
    n, k, experts, tile = (np.ascontiguousarray(a, dtype=np.int64).ravel()
                           for a in np.broadcast_arrays(n, k, experts, tile))
    # Where every int32 value the formula forms fits (the proofs' int32 obligation covers
    # n <= C_max); beyond, the C++ wraps and the model does not claim to follow it.
    values = geometry.int32_expressions(n, k, experts, experts, tile, NP, era.cta_formula).values()
    keep = functools.reduce(np.logical_and, (v <= INT32_MAX for v in values), experts <= INT32_MAX)
    n, k, experts, tile = n[keep], k[keep], experts[keep], tile[keep]
    out, status = ref.ctas(n, k, experts, tile)
    assert not status.any(), f"flashinfer {version}: getMaxNumCtasInBatchDim failed: {ref.last_error}"
    want = model_ctas(n, k, experts, tile, era)
    bad = np.flatnonzero(out != want)
    assert bad.size == 0, _fail_lines(
        version, "getMaxNumCtasInBatchDim", bad,
        lambda i: (f"numTokens={n[i]} topK={k[i]} numExperts={experts[i]} tileTokensDim={tile[i]}: "
                   f"flashinfer {out[i]}, model {want[i]}"))
    return n.size


# --- the domains ----------------------------------------------------------------------------


def _rng(version, salt):
    return np.random.default_rng(zlib.crc32(f"{version}/{salt}".encode()))


def random_size(era) -> int:
    """Random points per ladder so that the release gets FULL_DOMAIN_COMPARISONS: each point
    is compared 3 times (tile choice, CTAs local and global), twice up to 0.4.1."""
    per_point = 3 if era.tile_source == "launcher" else 2
    wanted = int(FULL_DOMAIN_COMPARISONS * 1.3) // (per_point * len(ladders(era))) + 1
    return max(RANDOM_POINTS, wanted - TIE_POINTS)


def random_domain(era, ladder, rng):
    size = random_size(era)
    log_n = np.exp(rng.uniform(0, np.log(2**24), size)).astype(np.int64)
    uni_n = rng.integers(0, 2**24 + 1, size)
    n = np.where(rng.random(size) < 0.5, log_n, uni_n)
    k = rng.integers(1, 35, size)
    local = np.where(rng.random(size) < 0.3, rng.integers(1, 65, size), rng.integers(1, 2051, size))
    experts = local.copy()
    if era.global_tile:
        ep = rng.random(size) < 0.6
        experts = np.where(ep, local + rng.integers(0, 2051, size) % np.maximum(2051 - local, 1), local)
        experts = np.maximum(np.minimum(experts, 2050), local)
    # Ties: n * top_k == value * experts + d (d in -1, 0, 1), for every tile of the ladder
    # and every power of two (the centres of the power-of-two eras), local and global.
    values = np.array(sorted(set(ladder) | {2**m for m in range(10)}), dtype=np.int64)
    t = rng.choice(values, TIE_POINTS)
    tl = rng.integers(1, 2051, TIE_POINTS)
    tk = np.where(rng.random(TIE_POINTS) < 0.4, 1, rng.integers(1, 35, TIE_POINTS))
    d = rng.integers(-1, 2, TIE_POINTS)
    target = np.maximum(t * tl + d, 0)
    tn = target // tk + rng.integers(-1, 2, TIE_POINTS) * (target % tk != 0)
    tn = np.maximum(tn, 0)
    te = tl.copy()
    if era.global_tile:
        # the global tie: n * top_k == value * num_experts + d with num_local_experts < num_experts
        half = TIE_POINTS // 2
        te[:half] = np.maximum(tl[:half], 2)
        tl[:half] = rng.integers(1, 2**31, half) % (te[:half] - 1) + 1
    n, k, local, experts = (np.concatenate(p) for p in ((n, tn), (k, tk), (local, tl), (experts, te)))
    return n, k, local, experts


def chunk_points(version, era, rng):
    """{ladder: (n, k, local, experts)} at the model's chunk bounds C, C + 1 and their buckets."""
    pts = {}
    tries = 0
    made = 0
    while made < CHUNK_CONFIGS and tries < 20 * CHUNK_CONFIGS:
        tries += 1
        precision = str(rng.choice(list(era.precisions)))
        num_experts = int(rng.choice([rng.integers(1, 65), rng.integers(1, 2049)]))
        top_k = int(rng.integers(1, min(32, num_experts) + 1))
        local = int(rng.integers(1, num_experts + 1)) if rng.random() < 0.5 else num_experts
        shared = int(rng.integers(0, 3))
        tune = int(rng.choice([8192, 4096, 16384, int(rng.integers(1, 2**20))]))
        try:
            cb = chunk_bound(num_experts, top_k, flashinfer=version, precision=precision,
                             local_experts=local, shared_experts=shared, tune_max_num_tokens=tune)
        except BoundcheckInputError:
            continue
        made += 1
        c = cb.max_chunk_tokens
        kk, ll, ee = top_k + shared, local + shared, num_experts + shared
        ns = {c, c + 1, c - 1}
        for x in (c, c + 1):
            if x <= 2**tilesets.POWER_OF_TWO_EXPONENTS:
                ns.add(int(tilesets.bucket_of(x, tune, era)))
        rows = pts.setdefault(era.tiles[precision], [])
        rows.extend((x, kk, ll, ee) for x in ns if x >= 0)
    return {lad: tuple(np.array(col, dtype=np.int64) for col in zip(*rows)) for lad, rows in pts.items()}


# --- the tests ------------------------------------------------------------------------------

_DONE: dict = {}  # (library digest, era, domain) -> (first release, points)


def _once(ref, version, era, domain, run):
    key = (ref.digest, id(era), domain)
    if key in _DONE:
        first, points = _DONE[key]
        print(f"{version}: {domain}: same compiled text ({ref.digest}) and era ({era.name}) as "
              f"{first}: its {points} points hold")
        return
    points = run()
    _DONE[key] = (version, points)
    print(f"{version}: {domain}: {points} points compared (library {ref.digest}, era {era.name})")


@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_small_domain_exhaustive(version):
    ref = _reference(version)
    era = era_for(version)

    def run():
        n, k, local, experts = small_domain(era)
        total = 0
        rng = _rng(version, "small")
        for ladder in ladders(era) if era.tile_source == "launcher" else ():
            total += compare_tiles(ref, version, era, ladder, n, k, local, experts)
            compare_scalar(ref, version, era, ladder, n, k, local, experts, rng)
        all_tiles = np.array(sorted({t for lad in ladders(era) for t in lad}), dtype=np.int64)
        # getMaxNumCtasInBatchDim for every tile of the era, on the same domain (local experts)
        lo = local[: local.size // (2 if era.global_tile else 1)]
        nn, kk = n[: lo.size], k[: lo.size]
        for tile in all_tiles:
            total += compare_ctas(ref, version, era, nn, kk, lo, tile)
        return total

    _once(ref, version, era, "small domain (exhaustive)", run)


@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_full_domain_random_ties_and_bounds(version):
    ref = _reference(version)
    era = era_for(version)
    rng = _rng(version, "full")
    total = 0
    launcher_picks = era.tile_source == "launcher"  # before 0.5.0 the caller passes the tile
    for ladder in ladders(era):
        n, k, local, experts = random_domain(era, ladder, rng)
        if launcher_picks:
            total += compare_tiles(ref, version, era, ladder, n, k, local, experts)
            compare_scalar(ref, version, era, ladder, n, k, local, experts, rng)
        tile = rng.choice(np.array(ladder), n.size)
        total += compare_ctas(ref, version, era, n, k, local, tile)
        total += compare_ctas(ref, version, era, n, k, experts, tile)
    for ladder, (n, k, local, experts) in chunk_points(version, era, rng).items():
        if launcher_picks:
            total += compare_tiles(ref, version, era, ladder, n, k, local, experts)
            compare_scalar(ref, version, era, ladder, n, k, local, experts, rng)
        for tile in ladder:
            total += compare_ctas(ref, version, era, n, k, local, tile)
            total += compare_ctas(ref, version, era, n, k, experts, tile)
    print(f"{version}: full domain: {total} points compared (library {ref.digest}, era {era.name})")
    assert total >= FULL_DOMAIN_COMPARISONS


@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_extraction_shapes(version):
    """The functions found, their signatures and their callers are what the wrappers assume."""
    ref = _reference(version)
    ex = ref.extracted
    era = era_for(version)
    assert (ex.get_max_permuted_padded_count is not None) == (era.cta_formula == "permuted_min")
    assert (ex.resolve_moe_tile_and_config is not None) == tactics.expected(era)
    if era.tile_source == "caller":
        assert ex.compute_selected_tile_n is None and ex.select_default_tile_n is None
        return
    assert ex.takes_num_experts == era.global_tile
    assert (ex.next_power_of_two is not None) == (era.center == "power_of_two")
    code = re.sub(r"\s+", " ", cref.strip_comments((cref.release_folder(version, ROOT) / cref.LAUNCHER).read_text()))
    calls = re.findall(r"computeSelectedTileN\(([^()]*)\)", code)
    if ex.takes_num_experts:
        # 0.7.4: the launchers (what get_valid_tactics lists) pass num_experts and leave
        # num_smaller_tile_candidates at its default of 2, as the wrapper's mask does.
        tuner_calls = [c for c in calls if re.fullmatch(r"\s*\w+, num_tokens, top_k, num_local_experts, num_experts\s*", c)]
        assert tuner_calls, calls
    if ex.select_default_tile_n is None:
        # Before selectDefaultTileN (0.5.0 - 0.6.6) every launcher picks the default inline:
        # `if (tile_N == -1 || config == -1) { tile_N = *selected_tile_nums.begin(); ... }`
        # (the smallest candidate), which is what the wrapper evaluates.
        blocks = re.findall(r"if \(tile_N == -1 \|\| config == -1\) \{\s*([^}]*)\}", code)
        assert blocks and all(re.match(r"tile_N = \*selected_tile_nums\.begin\(\);", b) for b in blocks), blocks
    else:
        assert "selectDefaultTileN(" in ex.select_default_tile_n and "*selected.begin()" in ex.select_default_tile_n
    if ex.resolve_moe_tile_and_config is not None:
        # resolveMoeTileAndConfig is the launcher's only tactic fallback (no inline copy
        # left, which drift --execute would not run), and the entry functions call it.
        own = re.sub(r"\s+", " ", cref.strip_comments(ex.resolve_moe_tile_and_config))
        assert code.count("tile_N == -1") == own.count("tile_N == -1") == 1
        assert code.count("resolveMoeTileAndConfig(") >= 2


@pytest.mark.parametrize("version", ["0.5.0", "0.6.18.post1", "0.7.4"])
def test_shim_reports_exceptions(version):
    """A failing check in flashinfer's code comes back as a status, with its message."""
    ref = _reference(version)
    if ref.extracted.takes_num_experts:
        _, _, status = ref.tiles((8, 16, 32), [4], [1], [0])
        assert status.tolist() == [1] and "num_local_experts must be positive" in ref.last_error
    elif "FLASHINFER_CHECK" in ref.extracted.compute_selected_tile_n:
        _, _, status = ref.tiles((8, 24, 40), [10], [1], [1])  # nextPowerOfTwo(10) = 16: not in the ladder
        assert status.tolist() == [1] and "expected exact tile" in ref.last_error
    else:
        _, _, status = ref.tiles((8, 16), [0], [1], [1])
        assert status.tolist() == [0]


_NEIGHBOUR = re.compile(
    r"if \(it != supported_tile_nums\.begin\(\)\) \{\s*selected_tile_nums\.insert\(\*std::prev\(it\)\);\s*\}")
_TWO_SMALLER = """auto down = it;
  for (int i = 0; i < 2 && down != supported_tile_nums.begin(); ++i) {
    down = std::prev(down);
    selected_tile_nums.insert(*down);
  }"""


@pytest.mark.parametrize("mutation", ["no -1 neighbour", "0.7.4's two smaller candidates"])
def test_mutated_launcher_is_caught(mutation):
    """The comparison can fail: 0.7.2.post1's launcher, changed, disagrees with its era."""
    version = "0.7.2.post1"
    reason = _missing_reason(version)
    if reason:
        pytest.skip(reason)
    launcher, runner = cref.read_sources(cref.release_folder(version, ROOT))
    replacement = "" if mutation == "no -1 neighbour" else _TWO_SMALLER
    mutated, count = _NEIGHBOUR.subn(lambda m: replacement, launcher)
    assert count == 1, f"the -1 neighbour block of {version}'s computeSelectedTileN was not found once ({count})"
    ref = cref.reference_for_texts(mutated, runner, f"flashinfer {version} mutated: {mutation}")
    era = era_for(version)
    n, k, local, experts = small_domain(era)
    with pytest.raises(AssertionError, match=r"candidate set / default tile .* mismatches"):
        compare_tiles(ref, version, era, era.tiles["nvfp4"], n, k, local, experts)
    # and the unmutated text passes on the same points
    compare_tiles(cref.reference_for(version, ROOT), version, era, era.tiles["nvfp4"], n, k, local, experts)


def test_mutated_runner_is_caught():
    """getMaxNumCtasInBatchDim rounding the leftover up instead of down is caught."""
    version = "0.7.2.post1"
    reason = _missing_reason(version)
    if reason:
        pytest.skip(reason)
    launcher, runner = cref.read_sources(cref.release_folder(version, ROOT))
    mutated, count = re.subn(r"\(numRemainingTokens / tileTokensDim\)",
                             "((numRemainingTokens + tileTokensDim - 1) / tileTokensDim)", runner)
    assert count == 1, f"the leftover division of {version}'s runner.h was not found once ({count})"
    ref = cref.reference_for_texts(launcher, mutated, f"flashinfer {version} runner.h mutated")
    era = era_for(version)
    n, k, local, _ = small_domain(era)
    with pytest.raises(AssertionError, match="getMaxNumCtasInBatchDim: .* mismatches"):
        compare_ctas(ref, version, era, n, k, local, 64)


def test_mutated_older_runner_is_caught():
    """0.3.0's formula with the permuted-buffer bound dropped (the expert bound alone) is caught."""
    version = "0.3.0"
    reason = _missing_reason(version)
    if reason:
        pytest.skip(reason)
    launcher, runner = cref.read_sources(cref.release_folder(version, ROOT))
    mutated, count = re.subn(r"maxNumCtasInBatchDim = std::min\(maxNumCtasInBatchDim, tilesForPermutedBuffer\);",
                             "", runner)
    assert count == 1, f"the min with the permuted buffer in {version}'s runner.h was not found once ({count})"
    ref = cref.reference_for_texts(launcher, mutated, f"flashinfer {version} runner.h mutated")
    era = era_for(version)
    n, k, local, _ = small_domain(era)
    with pytest.raises(AssertionError, match="getMaxNumCtasInBatchDim: .* mismatches"):
        compare_ctas(ref, version, era, n, k, local, 8)


def test_0_4_1s_own_python_tile_choice_equals_the_model():
    """0.4.1's calculate_tile_tokens_dim (and the next_positive_power_of_2 it calls), taken
    by name from the release's utils.py and executed, against the model's index rule."""
    path = cref.release_folder("0.4.1", ROOT) / "utils.py"
    if not path.is_file():
        pytest.skip(f"flashinfer 0.4.1 sources not found: {path}")
    tree = ast.parse(path.read_text())
    wanted = {"calculate_tile_tokens_dim", "next_positive_power_of_2"}
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in wanted]
    assert {f.name for f in functions} == wanted
    namespace: dict = {}
    exec(compile(ast.Module(body=functions, type_ignores=[]), str(path), "exec"), namespace)
    theirs = namespace["calculate_tile_tokens_dim"]
    era = era_for("0.4.1")
    rng = np.random.default_rng(41)
    points = 0
    for precision, max_tile in (("nvfp4", 128), ("mxfp4_bf16", 64)):
        ladder = era.tiles[precision]
        for n, k, e in zip(rng.integers(0, 2**22, 20_000), rng.integers(1, 9, 20_000), rng.integers(1, 385, 20_000)):
            want = theirs(int(n), int(e), int(k), max_tile_tokens_dim=max_tile)
            assert ladder[tilesets.caller_heuristic_index(ladder, int(n), int(k), int(e))] == want, (n, k, e)
            points += 1
    print(f"0.4.1: calculate_tile_tokens_dim: {points} points compared")


RESOLVE_POINTS = 50_000  # random tactics per ladder, besides the exhaustive tactics


@pytest.mark.parametrize("version", [v for v in MODELED_VERSIONS if tactics.expected(era_for(v))])
def test_resolve_moe_tile_and_config_equals_the_model(version):
    """resolveMoeTileAndConfig (0.6.7+), compiled, on boundcheck.drift.tactics' domain (the
    one drift --execute runs, with more random tactics): the launched (tile, config) equals
    tiles.resolved_tactic with the model's default tile (0.7.4 keeps a tile whose config is
    -1; before, it falls back)."""
    ref = _reference(version)
    assert ref.extracted.resolve_moe_tile_and_config is not None, f"{version}: resolveMoeTileAndConfig not found"
    era = era_for(version)
    total = 0
    for result in tactics.compare(ref, era, _rng(version, "resolve"), random_tactics=RESOLVE_POINTS):
        bad = result.differing
        assert bad.size == 0, _fail_lines(version, f"resolveMoeTileAndConfig (ladder {result.domain.ladder})", bad,
                                          lambda i: result.describe(int(i), ref))
        # the launched tile is the default or the tactic's: what the flashinfer policy allows
        assert np.all((result.tile == result.model_default) | (result.tile == result.domain.tile))
        total += result.domain.size
    print(f"{version}: resolveMoeTileAndConfig: {total} tactics compared")


@pytest.mark.parametrize("version", ["0.6.7", "0.6.16", "0.7.2.post1", "0.7.4"])
def test_the_tactic_domain_covers_every_tile_and_the_fallbacks(version):
    """drift --execute's tactics (boundcheck.drift.tactics.domain), per ladder: every tile of
    the ladder, -1 and tiles outside it, each with config -1 and others, at points where
    each default tile the model picks on the whole small domain is the default."""
    era = era_for(version)
    for ladder in ladders(era):
        d = tactics.domain(era, ladder, _rng(version, "domain"))
        pairs = set(zip(d.tile.tolist(), d.config.tolist()))
        tiles = {t for t, _ in pairs}
        assert set(ladder) | {-1} <= tiles and len(tiles - set(ladder) - {-1}) >= 8, sorted(tiles)
        assert set(d.outside) == tiles - set(ladder) - {-1} and not set(d.outside) & set(ladder)
        for tile in tiles:
            assert {(tile, c) for c in tactics.CONFIGS} <= pairs, tile
        n, k, local, _ = small_domain(era, 64, 8, 4096)
        every_default = set(model_default(ladder, n, k, local, era).tolist())
        assert set(d.defaults) == every_default, (ladder, d.defaults, every_default)
        default = model_default(ladder, d.tokens, d.top_k, d.local, era)
        for tile in every_default:  # every default meets every fallback tactic
            at = default == tile
            assert {(-1, c) for c in tactics.CONFIGS} <= set(zip(d.tile[at].tolist(), d.config[at].tolist()))
            assert {(t, -1) for t in ladder} <= set(zip(d.tile[at].tolist(), d.config[at].tolist()))


_RESOLVE_EDITS = {
    # 0.7.4's rule pasted into 0.7.2.post1: a tactic without a config keeps its tile
    "a tile without a config is kept": (r"if \(tile_N == -1 \|\| config == -1\) \{", "if (tile_N == -1) {"),
    # tactics of the tiles above 128 fall back to the default tile
    "large tiles fall back": (r"if \(tile_N == -1 \|\| config == -1\) \{", "if (tile_N == -1 || config == -1 || tile_N > 128) {"),
}


@pytest.mark.parametrize("edit", sorted(_RESOLVE_EDITS))
def test_an_edited_resolve_moe_tile_and_config_is_caught(edit):
    version = "0.7.2.post1"
    if _missing_reason(version):
        pytest.skip(_missing_reason(version))
    pattern, replacement = _RESOLVE_EDITS[edit]
    launcher, runner = cref.read_sources(cref.release_folder(version, ROOT))
    edited, made = re.subn(pattern, replacement, launcher)
    assert made == 1, f"{pattern!r} matched {made} times in {version}'s launcher"
    era = era_for(version)
    mutated = cref.reference_for_texts(edited, runner, f"flashinfer {version} edited: {edit}")
    bad = [r for r in tactics.compare(mutated, era, _rng(version, "resolve")) if r.differing.size]
    assert bad, f"{edit}: no tactic resolves differently"
    first = bad[0].differing[0]
    kept = bad[0].domain.config[first] == -1 if edit == "a tile without a config is kept" else bad[0].domain.tile[first] > 128
    assert kept, bad[0].describe(int(first))
    # and the unedited text matches on the same domain
    assert not any(r.differing.size for r in tactics.compare(cref.reference_for(version, ROOT), era,
                                                            _rng(version, "resolve")))


def test_the_resolve_row_is_absent_before_0_6_7_and_a_difference_where_the_era_needs_it():
    """drift --execute's row: `absent` where the entry functions resolve the tactic inline
    (0.6.6), `differs` for a 0.6.7+ launcher whose function is gone under another name."""
    for version in ("0.6.6", "0.7.2.post1"):
        if _missing_reason(version):
            pytest.skip(_missing_reason(version))
    rng = _rng("row", "resolve")
    old = tactics.row(cref.reference_for("0.6.6", ROOT), era_for("0.6.6"), rng)
    assert old.status == "absent" and old.points == 0 and "inline" in old.detail, old
    launcher, runner = cref.read_sources(cref.release_folder("0.7.2.post1", ROOT))
    renamed = launcher.replace("resolveMoeTileAndConfig", "resolveTactic")
    assert renamed != launcher
    gone = tactics.row(cref.reference_for_texts(renamed, runner, "0.7.2.post1 renamed"), era_for("0.7.2.post1"), rng)
    assert gone.status == "differs" and "not found" in gone.detail, gone
    same = tactics.row(cref.reference_for("0.7.2.post1", ROOT), era_for("0.7.2.post1"), rng)
    assert same.status == "match" and same.points > 400_000, same


def test_resolve_before_0_7_4_differs_from_0_7_4_on_a_tile_without_config():
    """The one change: tactic [64, -1] runs 64 on 0.7.4 and the default tile before."""
    old, new = _reference("0.7.2.post1"), _reference("0.7.4")
    ladder = (8, 16, 32, 64, 128)
    assert old.resolve(ladder, [1000], [8], [256], [64], [-1])[0].tolist() == [16]
    assert new.resolve(ladder, [1000], [8], [256], [64], [-1])[0].tolist() == [64]


# --- the launchers' tile sets, compiled ---------------------------------------------------------

@pytest.mark.parametrize("version", [v for v in MODELED_VERSIONS if era_for(v).tile_source == "launcher"])
def test_compiled_tile_sets_equal_the_model(version):
    """Each launcher's tile-set code (class arrays and getSupportedTileNums from 0.5.3, the
    entry's inline vector before), compiled from the release's text, equals the era's tiles
    for every precision it serves, and the FP4 set equals the model's FP4 rule for every
    (act, weights, per-token) over the five FP4-path dtypes (50 inputs)."""
    from boundcheck.drift.compiled_tile_sets import FP4_DTYPES, compare_tile_sets, compiled_tile_sets

    if _missing_reason(version):
        pytest.skip(_missing_reason(version))
    era = era_for(version)
    ref = compiled_tile_sets(cref.release_folder(version, ROOT), f"flashinfer {version}")
    results = compare_tile_sets(ref, era)
    fp4 = [name for name in results if "FP4" in name or "fp4" in name]
    assert len(fp4) == 1 and results[fp4[0]][0] == 2 * len(FP4_DTYPES) ** 2, results
    # every precision the era runs is served by a compiled set (mxfp8 by the block-scale one)
    plain = {"bf16", "fp8_per_tensor", "fp8_per_channel", "fp8_block", "mxint4"} & set(era.tiles)
    assert sum(count for name, (count, _) in results.items() if name not in fp4) == len(plain) + ("mxfp8" in era.tiles)
    differences = [d for _, diffs in results.values() for d in diffs]
    assert not differences, "\n".join(f"flashinfer {version}: {d.function}({d.inputs}): flashinfer {d.flashinfer}, "
                                      f"model {d.model}" for d in differences)
    print(f"{version}: {sum(c for c, _ in results.values())} tile-set inputs compared over {len(results)} functions")


def test_compiled_tile_sets_follow_the_preprocessor_and_the_per_token_condition():
    """g++, not boundcheck, decides `#ifndef TLLM_RUBIN_FEATURES`, and 0.6.18 drops 192 for
    per-token NVFP4 while 0.7.0 keeps it: the compiled sets themselves say so."""
    from boundcheck.drift.compiled_tile_sets import compiled_tile_sets
    from boundcheck.releases import E2M1

    if _missing_reason("0.6.18") or _missing_reason("0.7.0"):
        pytest.skip(_missing_reason("0.6.18") or _missing_reason("0.7.0"))
    old = compiled_tile_sets(cref.release_folder("0.6.18", ROOT))
    new = compiled_tile_sets(cref.release_folder("0.7.0", ROOT))
    name = "FP4BlockScaleLauncher::getSupportedTileNums"
    assert old.tiles(name, act=E2M1, weights=E2M1, per_token=False) == (8, 16, 32, 64, 128, 192, 256)
    assert old.tiles(name, act=E2M1, weights=E2M1, per_token=True) == (8, 16, 32, 64, 128, 256)
    assert new.tiles(name, act=E2M1, weights=E2M1, per_token=True) == (8, 16, 32, 64, 128, 192, 256)
    assert old.code(name).roles == ("act", "weights", "per_token") and new.code(name).roles == ("act", "weights")


@pytest.mark.parametrize("edit", ["192 for any MxE2m1 weights", "an inline 256 for every FP4 pair"])
def test_an_edited_tile_set_is_caught(edit):
    from boundcheck.drift.compiled_tile_sets import CompiledTileSets, compare_tile_sets, extract_tile_sets

    version, pattern, replacement = {
        "192 for any MxE2m1 weights": ("0.7.2.post1", r"\(dtype_weights == btg::Dtype::MxE2m1 && dtype_act == btg::Dtype::MxE4m3\)",
                                       "(dtype_weights == btg::Dtype::MxE2m1)"),
        "an inline 256 for every FP4 pair": ("0.5.2", r"\(\(mDtypeAct == btg::Dtype::MxE4m3 && mDtypeWeights == btg::Dtype::MxE2m1\) \|\|",
                                             "(true || (mDtypeAct == btg::Dtype::MxE4m3 && mDtypeWeights == btg::Dtype::MxE2m1) ||"),
    }[edit]
    if _missing_reason(version):
        pytest.skip(_missing_reason(version))
    text = (cref.release_folder(version, ROOT) / cref.LAUNCHER).read_text()
    edited, made = re.subn(pattern, replacement, text)
    assert made >= 1, f"{pattern!r} not found in {version}"
    results = compare_tile_sets(CompiledTileSets(extract_tile_sets(edited), f"edited {version}"), era_for(version))
    differing = {name: diffs for name, (_, diffs) in results.items() if diffs}
    assert len(differing) == 1, differing
    (name, diffs), = differing.items()
    assert "FP4" in name or "fp4" in name
    assert all(256 in d.flashinfer or 192 in d.flashinfer for d in diffs)
