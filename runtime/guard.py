"""The guard: same signature as the entry point it wraps; chunks only when needed.

Trust: runtime.limits (the proven bound), boundcheck.plan (the proven chunk plan),
runtime.entry_points (which arguments carry tokens).

Per call, in order of cost:
1. 0 < M <= FAST_TOKENS (proven safe for every configuration), no cap below M, and the
   call's key (its sizes and every count the slow path checks) is the one the slow path
   last verified: call through. One shape read and one comparison of the key, item by
   item, in a function generated with the entry point's parameters (runtime.fast_path);
   no allocation, no device sync. So the fast path refuses (hands to the slow path) what
   the slow path refuses.
2. Otherwise check every argument the guard reads (types every call; the counts against
   the domain and the routing kernel's limits once per configuration), infer the
   precision, look up the cached bound C (and any cap). M <= C: call through, untouched.
3. M > C: split M into ceil(M / C) nearly equal chunks; each call gets row views of
   every token-major argument and writes its rows of one output buffer.
Checks are `if`s that raise GuardError (a ValueError naming the argument and the limit).
"""

from __future__ import annotations

import functools
import inspect

from boundcheck.caps import DEFAULT
from boundcheck.facts import INT32_MAX, MAX_WIDTH, ROUTING_METHODS
from boundcheck.errors import BoundcheckInputError
from boundcheck.plan import equal_chunks

from . import fast_path, limits
from .dist_aware import default_policy
from .entry_points import ENTRY_POINTS, EntryPoint, entry_for, recorded_defaults
from .precision import hidden_size, infer
from .release import GuardedRelease, guarded_release

# tllm_enums.SfLayout.layout_linear: the only activation scale layout the kernels read.
SF_LAYOUT_LINEAR = 2
# Fp8QuantizationType.DeepSeekFp8 carries float32 scales as [hidden_size / 128, M].
FP8_DEEPSEEK = 1
# The Fp8QuantizationType values the block-scale launcher runs (tllm_enums.py; the others
# name the per-tensor and per-channel launchers' schemes).
FP8_BLOCK_QUANTIZATION = {1: "DeepSeekFp8", 2: "MxFp8"}


class GuardError(BoundcheckInputError):
    """A call the guard cannot make safe; names the argument and the limit."""


# What the bound depends on, besides the precision.
_COUNT_NAMES = (
    "num_experts", "top_k", "local_num_experts", "local_expert_offset", "tune_max_num_tokens",
    "num_fused_shared_experts", "routing_method_type", "n_group", "topk_group",
)
# The model's argument names -> the entry points' names for the same thing.
_ARGUMENT_NAMES = {"local_experts": "local_num_experts", "shared_experts": "num_fused_shared_experts"}


def _kernel_counts(values) -> tuple:
    """(top_k', experts'): the counts the other kernels' limits read, fused shared experts in."""
    experts, top_k, _, shared = _counts(values)
    return top_k + shared, experts + shared


def _counts(arguments):
    shared = arguments.get("num_fused_shared_experts") or 0
    local = arguments["local_num_experts"]
    return arguments["num_experts"], arguments["top_k"], local, shared


def _is_int(value) -> bool:
    """An int (an IntEnum member included), never a bool, float or numpy scalar."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_types(values):
    """Every count an int (the optional ones None or an int), routing_method_type one of the
    routing methods: on every slow call, before anything reads or caches them (1.0 == 1
    and True == 1, so a cache lookup alone would let them through)."""
    for name in ("num_experts", "top_k", "local_num_experts", "local_expert_offset", "tune_max_num_tokens"):
        if not _is_int(values[name]):
            raise GuardError(name, f"must be an integer, got {values[name]!r}")
    for name in ("num_fused_shared_experts", "n_group", "topk_group"):
        value = values[name]
        if value is not None and not _is_int(value):
            raise GuardError(name, f"must be None or an integer, got {value!r}")
    method = values["routing_method_type"]
    if not _is_int(method) or int(method) not in ROUTING_METHODS:
        raise GuardError("routing_method_type", f"must be one of {sorted(ROUTING_METHODS)}, got {method!r}")


def _check_counts(arguments):
    """Each count in range, each error naming its own argument (types: _check_types)."""
    for name in ("n_group", "topk_group"):
        value = arguments.get(name)
        if value is not None and value < 0:
            raise GuardError(name, f"must be None or a non-negative integer, got {value}")
    experts, offset, local = arguments["num_experts"], arguments["local_expert_offset"], arguments["local_num_experts"]
    if experts < 1:
        raise GuardError("num_experts", f"must be at least 1, got {experts}")
    if not 1 <= local <= experts:
        raise GuardError("local_num_experts", f"must be in [1, num_experts={experts}], got {local}")
    if not 0 <= offset <= experts - local:
        raise GuardError(
            "local_expert_offset",
            f"local experts [{offset}, {offset + local}) must lie in [0, num_experts={experts}): "
            f"the offset must be in [0, {experts - local}]",
        )


class _Arguments:
    """Read-only view of a call's arguments by name, without binding the signature
    (binding costs tens of microseconds; this reads a tuple or a dict)."""

    __slots__ = ("args", "kwargs", "guard")

    def __init__(self, guard, args, kwargs):
        self.guard, self.args, self.kwargs = guard, args, kwargs

    def get(self, name, default=None):
        position = self.guard.entry.index.get(name)
        if position is None:
            return default
        if position < len(self.args):
            return self.args[position]
        return self.kwargs.get(name, self.guard.defaults.get(name, default))

    def __getitem__(self, name):
        return self.get(name)


class Guard:
    """The guarded version of one entry point's callable (see `guard`)."""

    def __init__(self, fn, entry: EntryPoint, policy=None, cluster_y=1, cap=DEFAULT,
                 release: GuardedRelease | None = None):
        self.fn = fn
        self.entry = entry
        self.release = release or guarded_release()
        self.policy = policy
        self.cluster_y = cluster_y
        self.cap = cap
        self.variadic = is_variadic(fn)
        self.signature = _entry_signature(fn, entry, self.release)
        self._positions = {name: i for i, name in enumerate(self.signature.parameters)}
        # The release's own defaults, then the callable's (flashinfer's function has the
        # same ones; a (*args, **kwargs) wrapper has none of its own).
        self.defaults = recorded_defaults(entry.name, self.release)
        if not self.variadic:
            self.defaults |= {
                name: p.default for name, p in self.signature.parameters.items() if p.default is not p.empty
            }
        self._bounds: dict = {}  # (precision, counts..., sizes) -> proven bound, checked once
        era = self.release.era
        # The arguments the fast path compares besides the sizes: every one the slow path
        # checks that this release's entry point has (tile_tokens_dim only where the
        # caller's tile runs, routing_metadata only where its tile does).
        skip = set()
        if not era.tile_source.from_caller:
            skip.add("tile_tokens_dim")
        if not era.routing_metadata_tile:
            skip.add("routing_metadata")
        self.key_arguments = tuple(
            name for name in fast_path.KEY_ARGUMENTS if name in self._positions and name not in skip
        )
        # The key (fast_path.key_terms) the slow path last verified: one tuple, replaced whole.
        self.verified = [fast_path.unverified_key(self._positions, self.key_arguments)]
        # Its sizes (hidden width, intermediate_size, output width, valid_hidden_size), for reading.
        self.fast_sizes = [None]
        # Tiles every precision of this launcher runs in the release: a fixed tile (the
        # guard's policy, the caller's tile_tokens_dim) among them is valid whatever the
        # call's precision, which the fast path does not read.
        from boundcheck.domain import launcher_of

        sets = [set(tiles) for name, tiles in era.tiles.items() if launcher_of(name) == entry.launcher]
        self._common_tiles = frozenset(set.intersection(*sets)) if sets else frozenset()

    # -- the slow path: everything past the fast threshold -------------------------------

    def bind(self, args, kwargs) -> inspect.BoundArguments:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.entry.name}: {error}") from None
        if not self.variadic:
            bound.apply_defaults()
        return bound

    def chunk_size(self, arguments, num_tokens=None) -> int:
        """C for this call. Every argument the guard reads is checked (types on every call;
        the counts against the proofs' domain, then the routing kernel's limits, the first
        time each configuration is seen; its bound is cached). A call of at most
        FAST_TOKENS tokens (the one the fast path just missed) whose key may take the fast
        path from now on is recorded (see fast_path.build)."""
        values = {name: arguments.get(name) for name in _COUNT_NAMES}
        if "tune_max_num_tokens" not in self.entry.index:
            # Entry points without the parameter (FP8 before 0.5.2) tune up to the default.
            values["tune_max_num_tokens"] = self.release.era.tune_max_default
        _check_types(values)
        sizes = self.call_sizes(arguments)
        if "fp8_quantization_type" in self.entry.index:
            quantization = arguments.get("fp8_quantization_type")
            if not _is_int(quantization) or int(quantization) not in FP8_BLOCK_QUANTIZATION:
                raise GuardError(
                    "fp8_quantization_type",
                    f"must be one of {', '.join(f'{v} ({n})' for v, n in FP8_BLOCK_QUANTIZATION.items())}, "
                    f"got {quantization!r}",
                )
        precision, capped = infer(self.entry, arguments, self.release.era)
        policy = self.policy or default_policy(self.release.era)
        metadata = arguments.get("routing_metadata")
        if metadata is not None:
            # 0.7.4: the caller's routing metadata fixes the tile (and is built for the
            # whole batch, so it cannot be split by tokens).
            policy = f"fixed:{_metadata_tile(metadata)}"
        elif self.release.era.tile_source.from_caller and arguments.get("tile_tokens_dim") is not None:
            # Up to 0.4.1 the launch runs the caller's tile_tokens_dim.
            policy = f"fixed:{_caller_tile(arguments['tile_tokens_dim'], self.release.era.tiles[precision])}"
        key = (precision, policy, *values.values(), sizes)
        bound = self._bounds.get(key)
        if bound is None:
            hidden = hidden_size(arguments.get("hidden_states"))
            bound = self._bounds[key] = self._checked_bound(values, precision, policy, hidden, sizes)
        if (num_tokens is None or num_tokens <= limits.FAST_TOKENS[0]) and metadata is None \
                and self._any_precision(policy) and limits.fast_path_safe(*sizes, self.release,
                                                                          counts=_kernel_counts(values)):
            # This call's key may take the fast path from now on: at up to SMALLEST_BOUND
            # tokens nothing the fast path does not compare (the precision, the policy)
            # changes what the slow path decides. Calls with routing metadata (a new
            # object per batch, whose tile is checked per precision) always come here.
            self.verified[0] = self._key_of(arguments, values, sizes)
            self.fast_sizes[0] = self._sizes_of(sizes, arguments)
        cap = limits.effective_cap(capped, self.cap)
        return bound if cap is None else min(bound, cap)

    def _any_precision(self, policy) -> bool:
        """True when the policy's validity does not depend on the call's precision: not a
        fixed tile, or one every precision of this launcher runs."""
        policy = str(policy)
        if not policy.startswith("fixed:"):
            return True
        tile = policy[len("fixed:"):]
        return tile.isdigit() and int(tile) in self._common_tiles

    def call_sizes(self, arguments) -> tuple:
        """(stored hidden width, intermediate_size, finalize's output width or None): what the
        other kernels' limits read from a call (boundcheck.kernel_limits), each checked."""
        hidden = arguments.get("hidden_states")
        intermediate = arguments.get("intermediate_size")
        if not _is_int(intermediate) or not 1 <= intermediate <= MAX_WIDTH:
            raise GuardError("intermediate_size", f"must be a positive int up to {MAX_WIDTH:,} (the widest the "
                                                  f"proofs cover), got {intermediate!r}")
        if hidden_size(hidden) > MAX_WIDTH:
            raise GuardError("hidden_states", f"hidden size {hidden_size(hidden):,} exceeds {MAX_WIDTH:,} (the widest "
                                              "the proofs cover)")
        valid = arguments.get("valid_hidden_size")
        if valid is not None:
            limit = hidden_size(hidden)
            if not _is_int(valid) or not 1 <= valid <= limit:
                raise GuardError(
                    "valid_hidden_size", f"must be None or an int in [1, {limit}] (the hidden size), got {valid!r}"
                )
        columns = self._output_columns(arguments)
        return hidden.shape[1], intermediate, valid if valid is not None else columns

    def _output_columns(self, arguments):
        """output's width (None without one); anything but a 2-D shape is named."""
        output = arguments.get("output")
        if output is None:
            return None
        try:
            _, columns = output.shape
        except (AttributeError, TypeError, ValueError):
            tokens = arguments.get("hidden_states").shape[0]
            width = self._output_width(arguments)
            shape = getattr(output, "shape", None)
            got = f"shape {tuple(shape)}" if shape is not None else f"{type(output).__name__} {output!r:.60}"
            raise GuardError(
                "output", f"must have shape [{tokens}, <= {width}] (a 2-D bfloat16 tensor, or None), got {got}"
            ) from None
        return columns

    def _sizes_of(self, sizes, arguments) -> tuple:
        """The verified sizes (call_sizes'): hidden width, intermediate_size, and where the
        entry point has them the output's width (-1 without one) and valid_hidden_size."""
        verified = sizes[:2]
        if "output" in self._positions:
            columns = self._output_columns(arguments)
            verified += (-1 if columns is None else columns,)
        if "valid_hidden_size" in self._positions:
            verified += (arguments.get("valid_hidden_size"),)
        return verified

    def _key_of(self, arguments, values, sizes) -> tuple:
        """The call's key as the fast path compares it (fast_path.key_terms, same order),
        from the checked counts and sizes."""
        key = [sizes[0]]
        if "output" in self._positions:
            columns = self._output_columns(arguments)
            key.append(-1 if columns is None else columns)
        key.extend(values[name] if name in values else arguments.get(name) for name in self.key_arguments)
        if "valid_hidden_size" in self._positions:
            valid = arguments.get("valid_hidden_size")
            key.append(None if valid is None else arguments.get("hidden_states").dtype)
        return tuple(key)

    def _checked_bound(self, values, precision, policy, hidden, sizes) -> int:
        """min(grid bound, the other kernels' bound at the call's sizes), the counts checked."""
        _check_counts(values)
        experts, top_k, local, shared = _counts(values)
        try:
            bound = limits.grid_bound(
                precision, experts, top_k, local, shared, values["tune_max_num_tokens"], policy, self.cluster_y,
                self.release,
            )
            _, intermediate, width = sizes
            bound = min(bound, limits.kernel_bound(precision, top_k + shared, experts + shared, hidden, intermediate,
                                                   width, self.release, logits=not self.entry.routed))
            limits.check_routing(values, self.entry.routed, self.release.era)
        except GuardError:
            raise
        except BoundcheckInputError as error:
            name = _ARGUMENT_NAMES.get(error.argument, error.argument)
            raise GuardError(name, str(error).split(": ", 1)[1]) from None
        if bound < 1:
            stored, intermediate, width = sizes
            raise GuardError(
                "hidden_states",
                f"at hidden size {hidden} and intermediate_size {intermediate}"
                + ("" if width is None else f" (output width {width})")
                + f", the other kernels' 32-bit limits of flashinfer {self.release.version} fit no token at all",
            )
        return bound

    def call(self, args, kwargs, num_tokens):
        # Checked on every path, M = 0 included: an argument error is the same GuardError
        # whatever the token count.
        limit = self.chunk_size(_Arguments(self, args, kwargs), num_tokens)
        if num_tokens == 0:
            return self._empty(self.bind(args, kwargs))
        if num_tokens <= limit:
            return self.fn(*args, **kwargs)
        return self._chunked(self.bind(args, kwargs), num_tokens, limit, args, kwargs)

    # -- M = 0 ----------------------------------------------------------------------------

    def _empty(self, bound):
        """M = 0 never reaches the kernel: a grid with zero Y is an invalid launch, and the
        FP4 launcher divides by hidden_states_scale.numel(). What flashinfer's result
        contract (fused_moe/shared/inputs.py, fake_trtllm_moe_output) gives for zero
        tokens, on every path: the finalized output with no rows; with gemm1_lora_delta also
        the expanded-to-permuted index (int32, M * top_k' entries) and the FC1 output
        (bf16, no rows, intermediate_size wide); with do_finalize=False the unfinalized
        FC2 rows (bf16, none, hidden_size wide), the expert weights (bf16, [0, top_k']) and
        the index."""
        import torch

        arguments = bound.arguments
        finalize = arguments.get("do_finalize", True)
        lora = arguments.get("gemm1_lora_delta") is not None
        hidden = arguments["hidden_states"]
        device = hidden.device
        top_k = (arguments.get("top_k") or 0) + (arguments.get("num_fused_shared_experts") or 0)
        index = torch.empty(0, dtype=torch.int32, device=device)
        if finalize:
            output = arguments.get("output")
            if output is None:
                output = self._new_output(arguments, 0)
            if not lora:
                return output if self.entry.scalar_return else [output]
            result = [output, index]
        else:
            rows = torch.empty(0, hidden_size(hidden), dtype=torch.bfloat16, device=device)
            weights = torch.empty(0, top_k, dtype=torch.bfloat16, device=device)
            result = [rows, weights, index]
        if lora:
            result.append(torch.empty(0, arguments.get("intermediate_size") or 0, dtype=torch.bfloat16, device=device))
        return result

    # -- M > C: the chunk loop ----------------------------------------------------------------

    def _output_width(self, arguments) -> int:
        valid = arguments.get("valid_hidden_size")
        return valid if valid is not None else hidden_size(arguments["hidden_states"])

    def _new_output(self, arguments, num_tokens):
        import torch

        hidden = arguments["hidden_states"]
        return torch.empty(num_tokens, self._output_width(arguments), dtype=torch.bfloat16, device=hidden.device)

    def _slicers(self, arguments, num_tokens):
        """name -> (start, stop) -> the argument for those rows; checks token dims first."""
        slicers = {}
        for name in self.entry.token_major():
            value = arguments.get(name)
            if value is None:
                continue
            if name == "topk_ids" and isinstance(value, tuple):
                if len(value) != 2:
                    raise GuardError(
                        "topk_ids",
                        f"must be a tensor or an (ids, weights) pair of tensors, got a tuple of {len(value)}",
                    )
                for part, tensor in zip(("topk_ids[0]", "topk_ids[1]"), value):
                    self._check_rows(part, tensor, num_tokens)
                slicers[name] = lambda s, e, v=value: (v[0][s:e], v[1][s:e])
            elif name == "hidden_states_scale":
                slicers[name] = self._scale_slicer(arguments, value, num_tokens)
            elif name == "output":
                self._check_output(arguments, value, num_tokens)
                slicers[name] = lambda s, e, v=value: v[s:e]
            else:
                self._check_rows(name, value, num_tokens)
                slicers[name] = lambda s, e, v=value: v[s:e]
        replay = arguments.get("routing_replay_out")
        if replay is not None:
            _require_tensor("routing_replay_out", replay, f"with at least {num_tokens} rows")
            if replay.dim() < 1 or replay.shape[0] < num_tokens:
                raise GuardError("routing_replay_out", f"needs at least {num_tokens} rows, got shape {tuple(replay.shape)}")
            slicers["routing_replay_out"] = lambda s, e, v=replay: v[s:e]
        return slicers

    @staticmethod
    def _check_rows(name, tensor, num_tokens):
        _require_tensor(name, tensor, f"whose first dimension is the {num_tokens} tokens of hidden_states")
        if tensor.dim() < 1 or tensor.shape[0] != num_tokens:
            raise GuardError(
                name, f"has {tuple(tensor.shape)}; its first dimension must be the {num_tokens} tokens of hidden_states"
            )

    def _check_output(self, arguments, output, num_tokens):
        import torch

        width = self._output_width(arguments)
        valid = arguments.get("valid_hidden_size")
        expected = f"[{num_tokens}, {width}]" if valid is not None else f"[{num_tokens}, <= {width}]"
        shape = tuple(getattr(output, "shape", ()))
        if len(shape) != 2 or shape[0] != num_tokens or (shape[1] != width if valid is not None else shape[1] > width):
            raise GuardError("output", f"must have shape {expected}, got {shape if hasattr(output, 'shape') else output!r}")
        if output.dtype != torch.bfloat16:
            raise GuardError("output", f"must be bfloat16 (the kernel writes bf16 rows), got {output.dtype}")

    def _scale_slicer(self, arguments, scale, num_tokens):
        layout = self.entry.scale_layout
        _require_tensor("hidden_states_scale", scale, f"to be split into the chunks of {num_tokens} tokens")
        if layout == "fp8_block" and int(arguments.get("fp8_quantization_type", FP8_DEEPSEEK)) == FP8_DEEPSEEK:
            # DeepSeek FP8: [hidden_size / 128, M], tokens are columns. A column range is
            # strided, and the kernel reads the scales densely: this is the one argument
            # the guard copies (hidden_size / 128 floats per token).
            if scale.dim() != 2 or scale.shape[1] != num_tokens:
                raise GuardError(
                    "hidden_states_scale",
                    f"DeepSeek FP8 scales must be [hidden_size / 128, {num_tokens}], got {tuple(scale.shape)}",
                )
            return lambda s, e, v=scale: v[:, s:e].contiguous()
        if layout == "rows":
            self._check_rows("hidden_states_scale", scale, num_tokens)
            return lambda s, e, v=scale: v[s:e]
        declared = arguments.get("hidden_states_scale_layout")
        if declared is not None and (not _is_int(declared) or int(declared) != SF_LAYOUT_LINEAR):
            raise GuardError(
                "hidden_states_scale_layout",
                f"only the linear layout ({SF_LAYOUT_LINEAR}) can be split by rows, got {declared!r}",
            )
        if scale.dim() == 2:
            self._check_rows("hidden_states_scale", scale, num_tokens)
            return lambda s, e, v=scale: v[s:e]
        if scale.dim() == 1 and scale.numel() % num_tokens == 0 and scale.is_contiguous():
            per_token = scale.numel() // num_tokens
            rows = scale.view(num_tokens, per_token)
            return lambda s, e, v=rows: v[s:e].reshape(-1)
        raise GuardError(
            "hidden_states_scale",
            f"layout not recognized for {num_tokens} tokens: shape {tuple(scale.shape)} is neither "
            f"[{num_tokens}, n] nor a contiguous flat multiple of {num_tokens}",
        )

    def _call_with(self, args, kwargs, replaced):
        """Call fn as its caller did (the same positions and keywords), with some
        arguments replaced; an argument the caller did not pass goes in by keyword."""
        args, kwargs = list(args), dict(kwargs)
        for name, value in replaced.items():
            position = self._positions.get(name)
            if position is not None and position < len(args):
                args[position] = value
            else:
                kwargs[name] = value
        return self.fn(*args, **kwargs)

    def _chunked(self, bound, num_tokens, limit, args=(), kwargs=None):
        arguments = bound.arguments
        if arguments.get("routing_metadata") is not None:
            raise GuardError(
                "routing_metadata",
                f"fixes tile {_metadata_tile(arguments['routing_metadata'])} for the whole batch and cannot be "
                f"split by tokens; {num_tokens} tokens exceed that tile's verified bound {limit}",
            )
        slicers = self._slicers(arguments, num_tokens)

        def call(start, stop):  # the caller's call, on rows [start, stop) of every token-major argument
            return self._call_with(args, kwargs or {}, {name: slicer(start, stop) for name, slicer in slicers.items()})

        if not arguments.get("do_finalize", True):
            return _concatenate_unfinalized([call(start, stop) for start, stop in equal_chunks(num_tokens, limit)])
        output = arguments.get("output") if self.entry.has_output else None
        if output is None:
            output = self._new_output(arguments, num_tokens)
            if self.entry.has_output:
                slicers["output"] = lambda s, e, v=output: v[s:e]
        extras = []
        for start, stop in equal_chunks(num_tokens, limit):
            result = call(start, stop)
            rows = result if not isinstance(result, (list, tuple)) else result[0]
            if not self.entry.has_output:
                output[start:stop].copy_(rows)  # FP8 per-channel allocates its own output
            if isinstance(result, (list, tuple)) and len(result) > 1:
                extras.append(result[1:])
        if extras:
            return [output, *_concatenate_permuted(extras)]
        return output if self.entry.scalar_return else [output]


class _Omitted:
    """The default of every parameter of a variadic wrapper's stand-in signature: never
    applied, so the wrapper receives exactly what its caller passed."""

    def __repr__(self):
        return "<as flashinfer defaults it>"


def is_variadic(fn) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False  # no signature: _entry_signature names it
    kinds = {p.kind for p in parameters}
    return bool(kinds) and kinds <= {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}


def _entry_signature(fn, entry: EntryPoint, release) -> inspect.Signature:
    """fn's signature when it is the entry point's, as `release` records it (parameter
    names in order; extra *args / **kwargs are fine); for a fully variadic wrapper, a
    stand-in with the entry point's parameter order, so that calls can be read and split
    by name. Any other signature would have the guard read arguments at the wrong
    positions: refused, naming the first parameter that differs."""
    if is_variadic(fn):
        omitted = _Omitted()
        return inspect.Signature([
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=omitted)
            for name in entry.params
        ])
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as error:
        raise GuardError("fn", f"has no inspectable signature ({error}); wrap it in def f(*args, **kwargs)") from None
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    names = tuple(p.name for p in signature.parameters.values() if p.kind not in variadic)
    if names != entry.params:
        at = next((i for i, (a, b) in enumerate(zip(names, entry.params)) if a != b), min(len(names), len(entry.params)))
        theirs = repr(names[at]) if at < len(names) else "nothing"
        ours = repr(entry.params[at]) if at < len(entry.params) else "nothing"
        raise GuardError(
            "fn",
            f"parameter {at} is {theirs} where {entry.name} of flashinfer {release.version} has {ours}; "
            f"pass a callable with that entry point's signature, a (*args, **kwargs) wrapper, "
            f"or flashinfer=VERSION for the release whose signature it has",
        )
    return signature


def _hidden_states_error(name, args, kwargs, position) -> Exception:
    if len(args) <= position and "hidden_states" not in kwargs:
        # What Python says when the entry point itself is called without it.
        return TypeError(f"{name}() missing 1 required positional argument: 'hidden_states'")
    return _not_a_tensor(args[position] if len(args) > position else kwargs["hidden_states"])


def _not_a_tensor(value) -> GuardError:
    """hidden_states is not a 2-D tensor [tokens, hidden] (every launcher checks ndim == 2)."""
    shape = getattr(value, "shape", None)
    if shape is not None and not callable(shape):
        try:
            got = f"shape {tuple(shape)}"
        except TypeError:
            got = repr(shape)
        return GuardError("hidden_states", f"must be a 2-D tensor [tokens, hidden], got {got}")
    return GuardError("hidden_states", f"must be a tensor whose first dimension is the tokens, got {value!r}")


def _require_tensor(name, value, what):
    """A token-major argument the guard slices must be a tensor (or have its dim and shape)."""
    if not callable(getattr(value, "dim", None)) or getattr(value, "shape", None) is None:
        raise GuardError(name, f"must be a tensor {what}, got {type(value).__name__} {value!r:.60}")


# A guard cap no token count reaches (the fast path compares with it unconditionally).
_UNCAPPED = 1 << 62


def _metadata_tile(metadata) -> int:
    """The tile of 0.7.4's TrtllmMoERoutingMetadataSlot (its `tile_n`)."""
    tile = getattr(metadata, "tile_n", None)
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise GuardError("routing_metadata", f"must carry a positive int tile_n, got {tile!r}")
    return tile


def _caller_tile(tile, tiles) -> int:
    """The tile_tokens_dim of a call to flashinfer 0.2.8 - 0.4.1, one its kernels run."""
    if isinstance(tile, bool) or not isinstance(tile, int) or tile not in tiles:
        raise GuardError("tile_tokens_dim", f"must be one of {', '.join(map(str, tiles))} in this release, got {tile!r}")
    return tile


def _concatenate_permuted(extras):
    """With gemm1_lora_delta each chunk also returns (expanded_idx_to_permuted_idx,
    gemm1_output): one chunk's index points into its own gemm1_output. Concatenate the
    outputs and shift each chunk's indices by the rows before it (-1, a slot routed to
    no local expert, stays -1), so the index still unpermutes the whole batch."""
    import torch

    indices = _shifted_indices([index for index, _ in extras], [activation.shape[0] for _, activation in extras])
    return [indices, torch.cat([activation for _, activation in extras])]


def _concatenate_unfinalized(parts):
    """do_finalize=False: each chunk returns [gemm2 rows (permuted, padded, unweighted),
    expert weights [m, top_k'], expanded_idx_to_permuted_idx [m * top_k']] and, with
    gemm1_lora_delta, its gemm1 rows. The batch's result is the chunks' rows and weights
    concatenated, with each chunk's indices shifted by the rows before it: slot (t, k)
    still points at the row that holds route (t, k), and -1 (not a local expert) stays
    -1. Consumers index the rows by that map and never read their count (flashinfer's
    own count is padding-dependent too: fake_trtllm_moe_output declares it dynamic)."""
    import torch

    for part in parts:
        if not isinstance(part, (list, tuple)) or len(part) not in (3, 4):
            raise GuardError("do_finalize", "False: expected [rows, weights, index(, gemm1 rows)] from each chunk, "
                                            f"got {type(part).__name__}")
        if len(part) == 4 and part[3].shape[0] != part[0].shape[0]:
            raise GuardError(
                "gemm1_lora_delta",
                f"with do_finalize=False one index maps into gemm2 rows ({part[0].shape[0]}) and gemm1 rows "
                f"({part[3].shape[0]}) of a chunk; they differ, so the index cannot be shifted for both",
            )
    rows = [part[0].shape[0] for part in parts]
    result = [torch.cat([part[0] for part in parts]), torch.cat([part[1] for part in parts]),
              _shifted_indices([part[2] for part in parts], rows)]
    if len(parts[0]) == 4:
        result.append(torch.cat([part[3] for part in parts]))
    return result


def _shifted_indices(indices, rows):
    import torch

    if sum(rows) - 1 > INT32_MAX:  # expanded_idx_to_permuted_idx is int32
        raise GuardError("hidden_states", f"the chunks' {sum(rows)} permuted rows exceed the int32 index of their map")
    shifted, offset = [], 0
    for index, count in zip(indices, rows):
        shifted.append(torch.where(index >= 0, index + offset, index))
        offset += count
    return torch.cat(shifted)


def unguarded(fn):
    """The callable a guard wraps (fn itself when it is not a guard)."""
    state = getattr(fn, "boundcheck_guard", None)
    while isinstance(state, Guard):
        fn = state.fn
        state = getattr(fn, "boundcheck_guard", None)
    return fn


def guard(fn, *, entry_point: str, policy=None, cluster_y=1, cap=DEFAULT, flashinfer=None):
    """The guarded version of `fn`, a callable with the signature of flashinfer's
    `entry_point`: chunks only when needed, at the verified bound (lowered by `cap`, an
    int or None; by default chunk_cap(), BOUNDCHECK_MAX_CHUNK_TOKENS or the table).
    `policy` and `cluster_y` are the tile policy and Y cluster size the bound assumes (no
    policy: `flashinfer`, or `any` while FLASHINFER_DIST_AWARE_AUTOTUNE is on, as the
    release reads it on each call);
    `flashinfer` the release whose geometry applies (default: the flashinfer module that
    runs, read once; see runtime.release). A guard passed as `fn` is
    replaced by the callable it guards: guards never nest."""
    fn = unguarded(fn)
    if not callable(fn):
        raise GuardError("fn", f"must be a callable with the signature of flashinfer's {entry_point}, got {fn!r:.60}")
    if entry_point not in ENTRY_POINTS:
        raise GuardError("entry_point", f"unknown entry point {entry_point!r}; expected one of {sorted(ENTRY_POINTS)}")
    try:
        release = guarded_release(flashinfer)
        entry = entry_for(entry_point, release)
    except BoundcheckInputError as error:
        raise GuardError(error.argument, str(error).split(": ", 1)[1]) from None
    state = Guard(fn, entry, policy, cluster_y, cap, release)
    # Validate the static settings now rather than on the first large call.
    try:
        # (cap: the guard's own, not the environment's, which every call reads and, when it
        # is malformed, refuses: a guard is made at start-up, inside the engine's import)
        limits.max_chunk_tokens(8, 1, policy=policy or "flashinfer", cluster_y=cluster_y,
                                cap=None if cap is DEFAULT else cap,
                                flashinfer=None if flashinfer is None else release.version)
    except GuardError:
        raise
    except BoundcheckInputError as error:
        raise GuardError(error.argument, str(error).split(": ", 1)[1]) from None
    fast = limits.FAST_TOKENS
    call_cap = limits._CALL_CAP.get  # the context variable's own C method: no Python frame
    guard_cap = state.cap if isinstance(state.cap, int) else _UNCAPPED
    slow = state.call
    parameters = None if state.variadic else fast_path.generated_parameters(state.signature)
    if parameters is not None:
        guarded = fast_path.build(entry.name, parameters, fn, _not_a_tensor, fast, call_cap, guard_cap, slow,
                                  state.verified, state.key_arguments)
        functools.update_wrapper(guarded, fn)
        guarded.__signature__ = state.signature
        guarded.boundcheck_guard = state
        return guarded
    position = entry.index["hidden_states"]
    guarded = fast_path.build_variadic(
        entry.name, state._positions, state.defaults, fn,
        lambda args, kwargs: _hidden_states_error(entry.name, args, kwargs, position),
        fast, call_cap, guard_cap, slow, state.verified, state.key_arguments,
    )
    functools.update_wrapper(guarded, fn)
    guarded.__signature__ = state.signature
    guarded.boundcheck_guard = state
    return guarded
