"""Run inside an engine's own environment (its venv's python) by tests/engines/test_*_env.py;
prints one JSON object per process on stdout. Not a test module itself.

    python env_probe.py plugin            # vLLM: flashinfer first, then vLLM's load_general_plugins()
    python env_probe.py children          # every kind of child process reports its guards
    python env_probe.py modules M1 M2 ... # import engine modules, report names bound to entry points
    python env_probe.py install-after M1 ... # the same, runtime.install() after the imports, then uninstall()
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))


def guard_state(label: str) -> dict:
    import flashinfer.fused_moe as fused_moe

    from boundcheck.runtime.entry_points import ENTRY_POINTS

    guards = {name: getattr(getattr(fused_moe, name, None), "boundcheck_guard", None) for name in ENTRY_POINTS}
    caps = sorted({str(g.cap) for g in guards.values() if g is not None})
    policies = sorted({str(g.policy) for g in guards.values() if g is not None})
    return {"process": label, "pid": os.getpid(), "guarded": sorted(n for n, g in guards.items() if g is not None),
            "caps": caps, "policies": policies}


def emit(document: dict) -> None:
    print(json.dumps(document), flush=True)


def plugin() -> None:
    """The issue's reproducer, then vLLM's own plugin loading after flashinfer was imported."""
    import flashinfer.fused_moe  # noqa: F401 (first, as an engine that imports flashinfer early)

    try:
        import runtime as top_level_runtime  # cutlass's base_dsl puts a `runtime` on sys.path

        top_level = getattr(top_level_runtime, "__file__", None) or str(getattr(top_level_runtime, "__path__", ""))
    except ImportError as error:
        top_level = f"ImportError: {error}"
    from vllm.logger import _configure_vllm_root_logger
    from vllm.plugins import load_general_plugins

    _configure_vllm_root_logger()  # as vLLM's engine does at start-up (VLLM_CONFIGURE_LOGGING)
    load_general_plugins()
    import boundcheck.runtime
    import tilelang  # noqa: F401 (the engine's dependency still imports)
    import z3

    emit(dict(guard_state("plugin"), runtime_file=boundcheck.runtime.__file__, top_level_runtime=top_level,
              z3=z3.get_version_string(), installed=len(boundcheck.runtime.installed())))


def _report_child(label: str) -> None:
    # the engine's plugin loads in each child as vLLM's processes do; it must keep exec's options
    from vllm.plugins import load_general_plugins

    import flashinfer.fused_moe  # noqa: F401

    load_general_plugins()
    emit(guard_state(label))


def _vllm_worker_init() -> None:
    """vLLM's own worker start-up (WorkerWrapperBase.init_worker: load_general_plugins, then
    the worker class) with a probe worker class; the config is a stand-in for the fields it
    reads (a real VllmConfig needs a device), and the multimodal cache, which needs a model
    config, is skipped."""
    sys.path.insert(0, HERE)
    from vllm.v1.worker import worker_base

    worker_base.worker_receiver_cache_from_config = lambda *args: None
    config = types.SimpleNamespace(
        enable_trace_function_call_for_thread=lambda: None,
        parallel_config=types.SimpleNamespace(worker_cls="env_probe.ProbeWorker", worker_extension_cls=None),
    )
    worker_base.WorkerWrapperBase(rpc_rank=0).init_worker([{"vllm_config": config}])


class ProbeWorker:
    """The worker class vLLM's init_worker instantiates: reports the guards it finds."""

    def __init__(self, **kwargs):
        emit(guard_state("vllm worker init"))


def children() -> None:
    import multiprocessing

    _report_child("command")
    for method in ("spawn", "forkserver"):
        context = multiprocessing.get_context(method)
        child = context.Process(target=_report_child, args=(method,))
        child.start()
        child.join(300)
        assert child.exitcode == 0, (method, child.exitcode)
    # vLLM's own process context (VLLM_WORKER_MULTIPROC_METHOD, spawn here) running its worker init
    from vllm.utils.system_utils import get_mp_context

    worker = get_mp_context().Process(target=_vllm_worker_init)
    worker.start()
    worker.join(300)
    assert worker.exitcode == 0, ("worker", worker.exitcode)
    code = f"import sys; sys.path.insert(0, {HERE!r}); import env_probe; env_probe._report_child('subprocess')"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def _module_level(names: list) -> dict:
    """Every module-level name of these modules that holds an entry point (flashinfer's
    function or a guard of it) -> whether it is guarded."""
    import importlib

    import flashinfer.fused_moe as fused_moe

    from boundcheck.runtime import unguarded
    from boundcheck.runtime.entry_points import ENTRY_POINTS

    functions = {id(unguarded(getattr(fused_moe, n))): n for n in ENTRY_POINTS if hasattr(fused_moe, n)}
    if os.environ.get("PROBE_SGLANG_FLASHINFER_AVAILABLE") and "sglang.srt.utils" not in sys.modules:
        # SGLang imports its flashinfer kernels only where is_flashinfer_available(), which
        # also asks is_cuda(): false on this CPU machine. The line below which CPU cannot go
        # is that check; everything else of the import is SGLang's own.
        import sglang.srt.utils
        import sglang.srt.utils.common

        sglang.srt.utils.is_flashinfer_available = sglang.srt.utils.common.is_flashinfer_available = lambda: True
    bound = {}
    for module_name in names:
        module = importlib.import_module(module_name)
        for attribute, value in list(vars(module).items()):
            if id(unguarded(value)) in functions:
                bound[f"{module_name}.{attribute}"] = getattr(value, "boundcheck_guard", None) is not None
    return bound


def modules(names: list) -> None:
    """Import engine modules (under `boundcheck exec`: guarded as they import)."""
    emit(dict(guard_state("modules"), module_level=_module_level(names)))


def install_after(names: list) -> None:
    """Import engine modules first, then runtime.install(), then uninstall()."""
    from boundcheck import runtime

    before = _module_level(names)
    runtime.install(quiet=True)
    during = _module_level(names)
    runtime.uninstall()
    emit({"before": before, "during": during, "after": _module_level(names)})


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"plugin": plugin, "children": children, "modules": lambda: modules(rest),
     "install-after": lambda: install_after(rest)}[command]()
