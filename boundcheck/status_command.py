"""`boundcheck status`: what the guard does in this environment.

It reads which flashinfer runs (the module and the package metadata), which release and
era the guard applies, whether the vLLM plugin is registered and enabled and whether this
process runs under `boundcheck exec`; then it installs the guards in its own process, as
the plugin or exec would, lists every entry point and every place (module attribute)
guarded, and uninstalls them. With --num-experts and --top-k it also prints the bounds the
guard would use for that model shape, per precision of the release. A known fault of the
release that chunking cannot fix (boundcheck/known_faults.py) is named on a line of its own.

Exit code 0 when the guards engage here; 1 when they cannot (flashinfer missing, not
importable, or a release the guard refuses); 2 for bad arguments."""

from __future__ import annotations

import json
import os
import sys

PLUGIN_GROUP = "vllm.general_plugins"
INT32_MAX = 2**31 - 1  # kernel_limits' answer when no other kernel binds


def add_parser(sub):
    from .cli import _int_arg, add_flashinfer  # here, not at module level: cli imports this module

    p = sub.add_parser("status", help="which flashinfer runs here, which release the guard applies, what it guards",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--num-experts", type=_int_arg("--num-experts"), default=None,
                   help="with --top-k: print the guard's bounds for this model shape")
    p.add_argument("--top-k", type=_int_arg("--top-k"), default=None, help="experts per token (with --num-experts)")
    p.add_argument("--precision", default=None, help="one precision (default: every precision of the release)")
    p.add_argument("--hidden-size", type=_int_arg("--hidden-size"), default=None,
                   help="with --intermediate-size: the other kernels' int32 bound at these sizes too")
    p.add_argument("--intermediate-size", type=_int_arg("--intermediate-size"), default=None,
                   help="the experts' intermediate size")
    add_flashinfer(p, "VERSION: the bounds of this release instead of the one that runs (the report of what "
                      "runs is unchanged)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def _plugin() -> dict:
    from importlib import metadata

    entry = next((e for e in metadata.entry_points(group=PLUGIN_GROUP) if e.name == "boundcheck"), None)
    allowed = os.environ.get("VLLM_PLUGINS")
    enabled = entry is not None and (allowed is None or "boundcheck" in [p.strip() for p in allowed.split(",")])
    loads = None
    if entry is not None:
        try:
            loads = callable(entry.load())
        except Exception as error:  # noqa: BLE001 (reported: a plugin that does not load is the finding)
            loads = f"{type(error).__name__}: {error}"
    return {"registered": entry is not None, "target": entry.value if entry else None, "loads": loads,
            "enabled": enabled, "VLLM_PLUGINS": allowed}


def _engines() -> dict:
    from importlib import metadata

    found = {}
    for name in ("vllm", "sglang", "tensorrt_llm"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _exec_state() -> dict:
    from .runtime.announce import QUIET_VARIABLE
    from .runtime.autoinstall import FOLDER
    from .runtime.options import OPTIONS_VARIABLE

    on_path = FOLDER in os.environ.get("PYTHONPATH", "").split(os.pathsep)
    return {"under_exec": on_path and OPTIONS_VARIABLE in os.environ, "options": os.environ.get(OPTIONS_VARIABLE),
            "quiet": os.environ.get(QUIET_VARIABLE)}


def _guards(release) -> dict:
    """Install in this process as the plugin would, list what is guarded, uninstall."""
    from .runtime import install, uninstall
    from .runtime.entry_points import ENTRY_POINTS

    try:
        import flashinfer.fused_moe as fused_moe
    except Exception as error:  # noqa: BLE001 (any failure to import is what status reports)
        return {"engaged": False, "error": f"import flashinfer.fused_moe failed: {type(error).__name__}: {error}"}
    try:
        places = install(quiet=True)
    except ValueError as error:
        return {"engaged": False, "error": str(error)}
    uninstall()
    entry_points = {}
    for name in sorted(ENTRY_POINTS):
        where = sorted(p for p, entry in places.items() if entry == name)
        entry_points[name] = {"in_release": name in release.era.entry_points,
                              "in_module": hasattr(fused_moe, name), "guarded_at": where}
    return {"engaged": bool(places), "places": len(places), "entry_points": entry_points}


def _bounds(args, release) -> list:
    from .runtime import max_chunk_tokens
    from .runtime.limits import kernel_bound

    precisions = [args.precision] if args.precision else list(release.era.tiles)
    rows = []
    for precision in precisions:
        row = {"precision": precision,
               "grid_bound": max_chunk_tokens(args.num_experts, args.top_k, precision=precision, cap=None,
                                              flashinfer=args.flashinfer),
               "with_cap": max_chunk_tokens(args.num_experts, args.top_k, precision=precision,
                                            flashinfer=args.flashinfer)}
        if args.hidden_size is not None and args.intermediate_size is not None:
            from .runtime.release import guarded_release

            row["kernels_bound"] = kernel_bound(precision, args.top_k, args.num_experts, args.hidden_size,
                                                args.intermediate_size, None, guarded_release(args.flashinfer))
        rows.append(row)
    return rows


def report(args) -> dict:
    from . import installed as installed_flashinfer
    from . import releases
    from .errors import BoundcheckInputError
    from .runtime.release import guarded_release

    if (args.num_experts is None) != (args.top_k is None):
        raise BoundcheckInputError("num_experts" if args.num_experts is None else "top_k",
                                   "is needed too: the bounds are for --num-experts with --top-k")
    if (args.hidden_size is None) != (args.intermediate_size is None):
        raise BoundcheckInputError("hidden_size" if args.hidden_size is None else "intermediate_size",
                                   "is needed too: the other kernels' bound reads both sizes")
    if args.num_experts is None:
        # options that only shape the bounds are refused without a shape, never ignored
        for name in ("precision", "flashinfer", "hidden_size"):
            if getattr(args, name) is not None:
                raise BoundcheckInputError(name, "applies to the bounds: give --num-experts and --top-k too")
    for name in ("num_experts", "top_k", "hidden_size", "intermediate_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise BoundcheckInputError(name, f"must be at least 1, got {value}")
    if args.precision is not None:
        from .tiles import PRECISIONS

        if args.precision not in PRECISIONS:
            raise BoundcheckInputError("precision", f"must be one of {', '.join(PRECISIONS)}, got {args.precision!r}")
    found = installed_flashinfer.detect()
    document = {
        "boundcheck": os.path.dirname(os.path.abspath(__file__)),
        "python": sys.executable,
        "flashinfer": {"module": found.module, "metadata": found.metadata, "location": found.location,
                       "release": found.release, "disagree": found.disagree},
        # faults of the release that runs here that no chunk size avoids (known_faults.py)
        "known_faults": _faults(found.release),
        "engines": _engines(),
        "vllm_plugin": _plugin(),
        "exec": _exec_state(),
    }
    if found.release is None:
        document["guard"] = {"engaged": False, "error": "flashinfer is not installed in this environment"}
        return document
    try:
        release = guarded_release()
    except BoundcheckInputError as error:
        document["guard"] = {"engaged": False, "error": str(error)}
        return document
    document["release"] = {"version": release.version, "era": release.era.name, "fallback": release.fallback,
                           "witness": release.witness.version if release.witness else None,
                           "modeled": "modeled" if not release.fallback else
                           f"not modeled (newest modeled {releases.NEWEST}): the any bound",
                           "describe": release.describe()}
    document["guard"] = _guards(release)
    if args.num_experts is not None:
        rows = _bounds(args, release)
        bounds_release = release.version if args.flashinfer in (None, "installed") else args.flashinfer
        document["bounds"] = {"num_experts": args.num_experts, "top_k": args.top_k,
                              "flashinfer": args.flashinfer or release.version, "rows": rows,
                              "known_faults": _faults(bounds_release)}
    return document


def _faults(version) -> list:
    from .known_faults import faults_for

    return [fault.to_json(version) for fault in faults_for(version)]


def render(document: dict) -> str:
    fi = document["flashinfer"]
    lines = [f"boundcheck: {document['boundcheck']} (python {document['python']})",
             f"flashinfer module: {fi['module'] or 'not found'}" + (f" at {fi['location']}" if fi["location"] else ""),
             f"flashinfer metadata: {fi['metadata'] or 'absent'}"
             + ("  (DISAGREES with the module: the guard takes the smaller bound of the two)" if fi["disagree"] else "")]
    if "release" in document:
        r = document["release"]
        lines.append(f"guarded release: {r['describe']}; {r['modeled']}")
    lines.extend(fault["message"] for fault in document["known_faults"])
    engines = ", ".join(f"{k} {v}" for k, v in document["engines"].items()) or "none found"
    lines.append(f"engines installed: {engines}")
    plugin = document["vllm_plugin"]
    if plugin["registered"]:
        state = "enabled" if plugin["enabled"] else f"disabled by VLLM_PLUGINS={plugin['VLLM_PLUGINS']}"
        loads = "loads" if plugin["loads"] is True else f"does NOT load: {plugin['loads']}"
        lines.append(f"vLLM plugin: {plugin['target']} ({state}; {loads})")
    else:
        lines.append("vLLM plugin: not registered (boundcheck is not installed with its entry points)")
    ex = document["exec"]
    lines.append(f"boundcheck exec: {'this process runs under it, options ' + ex['options'] if ex['under_exec'] else 'not in use here'}")
    guard = document["guard"]
    if not guard["engaged"]:
        lines.append(f"guards: NOT engaged: {guard.get('error', 'no entry point found')}")
    else:
        lines.append(f"guards: engaged at {guard['places']} places (installed and removed again by this command):")
        for name, entry in guard["entry_points"].items():
            if entry["guarded_at"]:
                lines.append(f"  {name}: {', '.join(entry['guarded_at'])}")
            elif entry["in_module"] or entry["in_release"]:
                lines.append(f"  {name}: NOT guarded (in release: {entry['in_release']}, in module: {entry['in_module']})")
    if "bounds" in document:
        b = document["bounds"]
        lines.append(f"bounds at {b['num_experts']} experts, top_k {b['top_k']} (flashinfer {b['flashinfer']}), tokens per launch:")
        for row in b["rows"]:
            text = f"  {row['precision']:<16} grid {row['grid_bound']:>9,}   with the cap {row['with_cap']:>9,}"
            if "kernels_bound" in row:
                kernels = row["kernels_bound"]
                text += ("   other kernels: none binds below 2^31" if kernels >= INT32_MAX
                         else f"   other kernels {kernels:>9,}")
            lines.append(text)
        shown = {fault["message"] for fault in document["known_faults"]}
        lines.extend(fault["message"] for fault in b["known_faults"] if fault["message"] not in shown)
    return "\n".join(lines)


def run(args) -> int:
    document = report(args)
    print(json.dumps(document, indent=2) if args.json else render(document))
    return 0 if document["guard"]["engaged"] else 1
