"""The vLLM plugin: vLLM calls `register` in every engine and worker process it starts
(entry point group `vllm.general_plugins`, name `boundcheck`; pyproject.toml declares it
as `boundcheck.runtime.plugin:register`). Installing the package enables it;
`VLLM_PLUGINS` set to a list without `boundcheck` disables it, as vLLM documents for every
general plugin.

vLLM may call a plugin several times in one process, and after flashinfer was imported.
Guards already in force or pending (`boundcheck exec`'s sitecustomize, an explicit
install(cap=...)) are kept with their options; otherwise the plugin installs with the
options `boundcheck exec` put in the environment, if any. flashinfer is not imported here:
the guards go in when vLLM first imports flashinfer.fused_moe (at once if it already has),
and that install prints the one line that says so (runtime.announce)."""

from __future__ import annotations

from .announce import engine_logger
from .install import ensure_installed
from .options import from_environment


def register() -> None:
    how = ensure_installed(**from_environment())
    engine_logger().debug("boundcheck plugin: guards %s", {
        "kept": "already in force or pending (options kept)",
        "now": "installed now",
        "on import": "go in when flashinfer.fused_moe is imported",
    }[how])
