"""The verified bound at run time: cached, capped, and checked against the domain.

Trust: boundcheck.bound.chunk_bound (the function `boundcheck prove` verifies, evaluated
on ints; no solver is imported) and boundcheck.caps (empirical caps with provenance).
"""

from __future__ import annotations

import contextlib
import contextvars
import os

from boundcheck import facts
from boundcheck.bound import chunk_bound, smallest_bound
from boundcheck.caps import CAPS, DEFAULT, ENVIRONMENT_VARIABLE, parse_cap, strict_cap
from boundcheck.errors import BoundcheckInputError

from .dist_aware import default_policy
from .release import GuardedRelease, guarded_release

# Proven (theorem `progress`): every configuration of the domain launches this many
# tokens in one call, whatever its precision, policy or counts.
SMALLEST_BOUND = smallest_bound()

_BOUNDS: dict = {}
# Caps, innermost first: chunk_cap() (a context variable: this thread or task only),
# set_chunk_cap() (the whole process, every thread), BOUNDCHECK_MAX_CHUNK_TOKENS (read at
# import and by reload_caps()), the table. Each override is ("set", cap) or None.
_CALL_CAP: contextvars.ContextVar = contextvars.ContextVar("boundcheck_chunk_cap", default=None)
_PROCESS_CAP = [None]
_ENV_CAP = [None]
_ENV_ERROR: list = [None]  # a malformed BOUNDCHECK_MAX_CHUNK_TOKENS, raised by every use of a cap
# Tokens below which no call needs a lookup: recomputed whenever a process-wide cap changes.
FAST_TOKENS = [SMALLEST_BOUND]


def _refresh_fast() -> int:
    if _ENV_ERROR[0] is not None:
        FAST_TOKENS[0] = 0  # every call takes the slow path, which refuses
        return 0
    limits = [SMALLEST_BOUND, min(c.tokens for c in CAPS.values())]
    for override in (_PROCESS_CAP[0], _ENV_CAP[0]):
        if override is not None and override[1] is not None:
            limits.append(override[1])
    FAST_TOKENS[0] = min(limits)
    return FAST_TOKENS[0]


def reload_caps() -> int:
    """Re-read BOUNDCHECK_MAX_CHUNK_TOKENS (read once at import otherwise, so that no call
    reads the environment) and return the new fast threshold. Unset or empty: no override.
    A malformed value does not break `from boundcheck import runtime` (an engine imports it
    at start-up): it is kept as the error, every guarded call and max_chunk_tokens() then
    refuses with that one line (fail closed), and the fast path is off."""
    env = os.environ.get(ENVIRONMENT_VARIABLE)
    _ENV_ERROR[0] = None
    if env is None or not env.strip():
        _ENV_CAP[0] = None
    else:
        try:
            _ENV_CAP[0] = ("set", parse_cap(env, ENVIRONMENT_VARIABLE))
        except BoundcheckInputError as error:
            _ENV_CAP[0], _ENV_ERROR[0] = None, error
    return _refresh_fast()


def set_chunk_cap(tokens=DEFAULT) -> int:
    """Cap the chunk size of every guarded call in the process, in every thread, from now
    on (None: no cap at all; no argument: back to the environment and the table). A
    `chunk_cap` block still takes precedence in its own thread. Returns the fast threshold."""
    _PROCESS_CAP[0] = None if tokens is DEFAULT else ("set", strict_cap(tokens, "set_chunk_cap"))
    return _refresh_fast()


@contextlib.contextmanager
def chunk_cap(tokens):
    """Cap the chunk size of guarded calls made inside the block (None: no cap at all).

    A context variable: it holds for this thread (or asyncio task) and what it calls, not
    for threads started inside the block, which begin with no chunk_cap; use
    set_chunk_cap() for a cap every thread sees."""
    value = strict_cap(tokens, "chunk_cap")
    token = _CALL_CAP.set(("set", value))
    try:
        yield value
    finally:
        _CALL_CAP.reset(token)


def call_cap():
    """The innermost chunk_cap in force, as ("set", value), or None."""
    return _CALL_CAP.get()


def grid_bound(precision, num_experts, top_k, local_experts, shared_experts, tune_max_num_tokens,
               policy="flashinfer", cluster_y=1, release: GuardedRelease | None = None) -> int:
    """The proven bound, computed once per configuration (the domain is checked then).

    For an unmodeled newer release (release.fallback) the bound is the `any` policy's:
    every modeled tile may run, so the smallest (8) binds. With a witness (module and
    metadata disagree, runtime.release) the smaller of the two releases' bounds; a
    precision or tile the witness's release does not have leaves the module's alone."""
    release = release or guarded_release()
    for name, value in (("num_experts", num_experts), ("top_k", top_k), ("local_experts", local_experts),
                        ("shared_experts", shared_experts), ("tune_max_num_tokens", tune_max_num_tokens),
                        ("cluster_y", cluster_y)):
        # before the cache: 8.0 or True equal a cached 8 or 1 there, and must not pass for it
        if (not isinstance(value, int) or isinstance(value, bool)) and not (value is None and name == "local_experts"):
            raise BoundcheckInputError(name, f"must be an int, got {value!r}")
    counts = (precision, num_experts, top_k, local_experts, shared_experts, tune_max_num_tokens, policy, cluster_y)
    bound = _grid_bound(release, *counts)
    if release.witness is not None:
        try:
            bound = min(bound, _grid_bound(release.witness, *counts))
        except BoundcheckInputError:
            pass
    return bound


def _grid_bound(release, precision, num_experts, top_k, local_experts, shared_experts, tune_max_num_tokens,
                policy, cluster_y) -> int:
    if release.fallback:
        policy = "any"
    key = (release.version, precision, num_experts, top_k, local_experts, shared_experts,
           tune_max_num_tokens, str(policy), cluster_y)
    bound = _BOUNDS.get(key)
    if bound is None:
        bound = chunk_bound(
            num_experts, top_k, flashinfer=release.era.last if release.fallback else release.version,
            precision=precision, policy=policy, local_experts=local_experts,
            shared_experts=shared_experts, tune_max_num_tokens=tune_max_num_tokens, cluster_y=cluster_y,
        ).max_chunk_tokens
        _BOUNDS[key] = bound
    return bound


def kernel_bound(precision, top_k, experts, hidden, intermediate, output_width=None,
                 release: GuardedRelease | None = None, logits: bool = True) -> int:
    """The other kernels' bound (boundcheck.kernel_limits, proven by proofs/kernel_limits.py)
    for the counts the launcher uses (fused shared experts included) and the call's sizes;
    with a witness, the smaller of the two releases' (where the witness has the precision).
    `logits`: the entry point routes from logits (False for the routed entry points)."""
    release = release or guarded_release()
    sizes = (precision, top_k, experts, hidden, intermediate, output_width, logits)
    bound = _kernel_bound(release, *sizes)
    if release.witness is not None and precision in release.witness.era.tiles:
        bound = min(bound, _kernel_bound(release.witness, *sizes))
    return bound


def _kernel_bound(release, precision, top_k, experts, hidden, intermediate, output_width, logits=True) -> int:
    from boundcheck.kernel_limits import kernel_bound as model_bound

    key = ("kernels", release.version, precision, top_k, experts, hidden, intermediate, output_width, logits)
    bound = _BOUNDS.get(key)
    if bound is None:
        era = release.era
        bound = _BOUNDS[key] = model_bound(release.version, precision, era.tiles[precision], top_k, experts, hidden,
                                           intermediate, era.cta_formula, output_width, logits).tokens
    return bound


def fast_path_safe(stored_width, intermediate, output_width, release: GuardedRelease | None = None,
                   counts: tuple | None = None) -> bool:
    """May a call with these sizes skip the lookup at up to SMALLEST_BOUND tokens? Only if,
    for every precision of the release (and of its witness), no other kernel binds below
    SMALLEST_BOUND at `counts` (top_k', experts' with fused shared experts: the fast path
    compares the call's counts, so the recorded call's may be used) or, without them, at the
    largest counts the release accepts (the other kernels' values grow with the counts); the
    stored width is the hidden size or, for packed FP4 states, half of it: both are checked."""
    from boundcheck.domain import limits as release_limits

    release = release or guarded_release()
    key = ("fast", release.version, None if release.witness is None else release.witness.version,
           stored_width, intermediate, output_width, counts)
    safe = _BOUNDS.get(key)
    if safe is None:
        safe = True
        for one in release.releases():
            for precision in one.era.tiles:
                if counts is None:
                    experts, top_k, shared = release_limits(one.era, precision)
                    top_k, experts = top_k + shared, experts + shared
                else:
                    top_k, experts = counts
                for hidden in (stored_width, 2 * stored_width):
                    if _kernel_bound(one, precision, top_k, experts, hidden, intermediate,
                                     output_width) < SMALLEST_BOUND:
                        safe = False
        _BOUNDS[key] = safe
    return safe


def effective_cap(precision, cap=DEFAULT):
    """The cap in force: an explicit one, else chunk_cap(), else set_chunk_cap(), else the
    environment as last (re)loaded, else the table."""
    if cap is not DEFAULT:
        return strict_cap(cap, "cap")
    if _ENV_ERROR[0] is not None:
        raise _ENV_ERROR[0]
    override = _CALL_CAP.get() or _PROCESS_CAP[0] or _ENV_CAP[0]
    if override is not None:
        return override[1]
    entry = CAPS.get(precision)
    return entry.tokens if entry else None


def max_chunk_tokens(
    num_experts,
    top_k,
    *,
    precision="nvfp4",
    policy=None,
    local_experts=None,
    shared_experts=0,
    tune_max_num_tokens=facts.DEFAULT_TUNE_MAX_NUM_TOKENS,
    cluster_y=1,
    cap=DEFAULT,
    flashinfer=None,
) -> int:
    """The chunk size the guard uses: the proven grid bound, lowered by any empirical cap.

    `cap`: an int, or None for no cap; by default the innermost `chunk_cap(...)`, else
    BOUNDCHECK_MAX_CHUNK_TOKENS, else boundcheck.caps.CAPS[precision].
    `flashinfer`: the release (default: the installed one, see runtime.release); `policy`
    by default `flashinfer`, or `any` while FLASHINFER_DIST_AWARE_AUTOTUNE is on."""
    release = guarded_release(flashinfer)
    policy = policy or default_policy(release.era)
    bound = grid_bound(precision, num_experts, top_k, local_experts, shared_experts,
                       tune_max_num_tokens, policy, cluster_y, release)
    limit = effective_cap(precision, cap)
    return bound if limit is None else min(bound, limit)


# --- what the routing kernels accept (facts.py; checked before a guarded launch) -------

def check_routing(arguments: dict, routed: bool, era=None) -> None:
    """Counts outside what the routing kernel of this call accepts, named. Before 0.6.18
    only the era's overall limits and the DeepSeek/Llama4 limits are checked (the
    per-policy tiers are read from 0.6.18 on); flashinfer checks the rest itself."""
    routing = era.routing if era is not None else None
    method = arguments.get("routing_method_type", 0)
    name = facts.ROUTING_METHODS.get(int(method)) if method is not None else None
    if name is None:
        raise BoundcheckInputError(
            "routing_method_type", f"must be one of {sorted(facts.ROUTING_METHODS)}, got {method!r}"
        )
    if routed:
        return  # precomputed routing: the global caps, checked by the bound
    experts, top_k = arguments["num_experts"], arguments["top_k"]
    n_group = arguments.get("n_group") or 0
    if name == "DeepSeekV3" and n_group > 1:
        limits = ((routing.deepseek_grouped_experts, routing.deepseek_grouped_top_k) if routing
                  else (facts.DEEPSEEK_GROUPED_MAX_EXPERTS, facts.DEEPSEEK_GROUPED_MAX_TOP_K))
        topk_group = arguments.get("topk_group") or 0
        # the era's (stated once, in releases.Routing); the newest's without an era
        groups = routing.deepseek_groups if routing else facts.DEEPSEEK_MAX_GROUPS
        top_groups = routing.deepseek_topk_groups if routing else facts.DEEPSEEK_MAX_TOPK_GROUPS
        if n_group > groups:
            raise BoundcheckInputError("n_group", f"must be at most {groups}, got {n_group}")
        if topk_group > top_groups:
            raise BoundcheckInputError("topk_group", f"must be at most {top_groups}, got {topk_group}")
    elif name == "Llama4":
        limits = ((routing.llama4_experts, routing.llama4_top_k) if routing
                  else (facts.LLAMA4_MAX_EXPERTS, facts.LLAMA4_TOP_K))
    elif routing is not None and not routing.policy_tiers:
        limits = (routing.max_experts, routing.max_top_k)
    else:
        policy_name = "DeepSeekV3_ungrouped" if name == "DeepSeekV3" else name
        _, max_experts, max_top_k = facts.ROUTING_POLICY_TIERS[policy_name]
        limits = (max_experts, max_top_k)
    if experts > limits[0]:
        raise BoundcheckInputError(
            "num_experts", f"{name} routing takes at most {limits[0]} experts, got {experts}"
        )
    if top_k > limits[1]:
        raise BoundcheckInputError("top_k", f"{name} routing takes at most top_k {limits[1]}, got {top_k}")


reload_caps()
