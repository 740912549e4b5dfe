"""What runtime.install() and uninstall() cost in a process with an engine fully imported
(a benchmark, not a test). install() looks at every module-level name of every loaded
module (that is how it finds names engines imported at module level), so its cost grows
with the modules loaded; vLLM's engine and model code is the case that matters.

Run with the engine's own python, boundcheck installed there:

    ~/.cache/boundcheck/engines/vllm-0.33.0/bin/python -m benchmarks.install_cost [--repeats 20]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time

from .hardware import describe

# vLLM 0.33.0's server, its engine core and worker, the fused-MoE layers with every
# trtllm experts module, and the MoE models in use: what a serving process has loaded.
VLLM_MODULES = (
    "vllm",
    "vllm.entrypoints.openai.api_server",
    "vllm.v1.engine.core",
    "vllm.v1.worker.gpu_worker",
    "vllm.model_executor.layers.fused_moe",
    "vllm.model_executor.layers.fused_moe.experts.trtllm_nvfp4_moe",
    "vllm.model_executor.layers.fused_moe.experts.trtllm_mxfp4_moe",
    "vllm.model_executor.layers.fused_moe.experts.trtllm_fp8_moe",
    "vllm.model_executor.layers.fused_moe.experts.trtllm_bf16_moe",
    "vllm.model_executor.models.deepseek_v2",
    "vllm.model_executor.models.qwen3_moe",
    "vllm.model_executor.models.gpt_oss",
    "vllm.model_executor.models.nemotron_h",
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    import flashinfer.fused_moe  # noqa: F401

    loaded = []
    for name in VLLM_MODULES:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as error:  # noqa: BLE001 (reported: a module that needs a GPU to import)
            print(f"  (not imported: {name}: {type(error).__name__}: {str(error)[:100]})")
    imported = time.perf_counter() - start
    from boundcheck import runtime

    names = sum(len(vars(m)) for m in list(sys.modules.values()) if isinstance(getattr(m, "__dict__", None), dict))
    installs, uninstalls = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        places = runtime.install(quiet=True)
        t1 = time.perf_counter()
        runtime.uninstall()
        t2 = time.perf_counter()
        installs.append(t1 - t0)
        uninstalls.append(t2 - t1)
    print(f"install_cost: {describe()}")
    print(f"  modules loaded: {len(sys.modules):,} ({names:,} module-level names); engine modules imported: "
          f"{len(loaded)}/{len(VLLM_MODULES)} in {imported:.1f} s")
    print(f"  install():   median {statistics.median(installs) * 1e3:.1f} ms, min {min(installs) * 1e3:.1f} ms, "
          f"max {max(installs) * 1e3:.1f} ms over {args.repeats} ({len(places)} places guarded)")
    print(f"  uninstall(): median {statistics.median(uninstalls) * 1e3:.1f} ms, min {min(uninstalls) * 1e3:.1f} ms, "
          f"max {max(uninstalls) * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
