"""The vLLM plugin: vLLM calls `register` in every engine and worker process it starts
(entry point group `vllm.general_plugins`, name `boundcheck`; pyproject.toml declares it).
Installing the package enables it; `VLLM_PLUGINS` set to a list without `boundcheck`
disables it, as vLLM documents for every general plugin.

vLLM may call a plugin several times in one process; install_on_import is idempotent.
flashinfer is not imported here: the guards go in when vLLM first imports
flashinfer.fused_moe (at once if it already has)."""

from __future__ import annotations

import logging

from .install import install_on_import

logger = logging.getLogger("boundcheck")


def register() -> None:
    now = install_on_import()
    logger.info("boundcheck: flashinfer MoE entry points guarded %s",
                "now" if now else "when flashinfer.fused_moe is imported")
