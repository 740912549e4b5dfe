"""Guard every flashinfer MoE call of a process without editing the code that makes it.

Trust: runtime.guard (the guards themselves), runtime.release (which entry points the
installed release has).

vLLM 0.33.0 looks the kernels up at call time (`flashinfer.fused_moe.trtllm_*(...)` after a
function-local `import flashinfer`) and SGLang 0.5.23 imports them inside the calling
function (`from flashinfer.fused_moe import trtllm_*`). Replacing the module attributes
with guards therefore protects every such call. install() replaces each entry point in
every loaded `flashinfer` module that holds flashinfer's own function (`flashinfer.fused_moe`,
its defining module, the `flashinfer` package's re-export, ...); code that bound the
function to a name of its own before install() keeps the unguarded one.

install_on_import() does the same the moment flashinfer.fused_moe is first imported, so
that a process which never uses flashinfer never imports it (the vLLM plugin and
`boundcheck exec` use it).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading

from .entry_points import ENTRY_POINTS
from .guard import guard, unguarded
from .release import guarded_release

_LOCK = threading.RLock()
# "module.attribute" -> (module, attribute, flashinfer's function, its guard)
_PATCHED: dict = {}
_TARGET = "flashinfer.fused_moe"


def installed() -> dict:
    """What is patched now: "module.attribute" -> the entry point guarding it (empty when
    nothing is)."""
    with _LOCK:
        return {where: guarded.boundcheck_guard.entry.name for where, (_, _, _, guarded) in sorted(_PATCHED.items())}


def install(**guard_options) -> dict:
    """Replace every trtllm-gen MoE entry point of the installed flashinfer with
    guard(entry point, **guard_options), wherever a loaded flashinfer module holds it.
    Idempotent (a second call re-guards the originals with the options given, never a
    guard of a guard), safe from several threads. Returns installed()."""
    fused_moe = importlib.import_module(_TARGET)
    release = guarded_release(guard_options.get("flashinfer"))
    with _LOCK:
        ours = {id(entry[3]) for entry in _PATCHED.values()}
        modules = [m for n, m in list(sys.modules.items()) if m is not None and (n == "flashinfer" or n.startswith("flashinfer."))]
        patched = {}
        for name in sorted(ENTRY_POINTS):
            current = getattr(fused_moe, name, None)
            if current is None or name not in release.era.entry_points:
                continue  # the installed release does not have it
            original = unguarded(current)
            guarded = guard(original, entry_point=name, **guard_options)
            for module in modules:
                for attribute, value in list(getattr(module, "__dict__", {}).items()):
                    # flashinfer's function, or our earlier guard of it: replaced in one
                    # step, so no caller ever sees it unguarded in between.
                    if value is original or (id(value) in ours and unguarded(value) is original):
                        setattr(module, attribute, guarded)
                        patched[f"{module.__name__}.{attribute}"] = (module, attribute, original, guarded)
        _PATCHED.clear()
        _PATCHED.update(patched)
    return installed()


def uninstall() -> dict:
    """Put flashinfer's own functions back (an attribute someone else has replaced since is
    left as it is) and stop any pending install_on_import(). Returns installed() (empty)."""
    with _LOCK:
        _restore()
        sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _InstallOnImport)]
    return installed()


def _restore():
    for module, attribute, original, guarded in _PATCHED.values():
        if getattr(module, attribute, None) is guarded:
            setattr(module, attribute, original)
    _PATCHED.clear()


def install_on_import(**guard_options) -> bool:
    """install(**guard_options) now if flashinfer.fused_moe is loaded, else right after it
    first is. Returns True when installed now."""
    with _LOCK:
        if _TARGET in sys.modules:
            install(**guard_options)
            return True
        if not any(isinstance(finder, _InstallOnImport) for finder in sys.meta_path):
            sys.meta_path.insert(0, _InstallOnImport(guard_options))
    return False


class _InstallOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of flashinfer.fused_moe so that install()
    runs once the module has executed (before `flashinfer/__init__.py` re-exports its
    names, which then are the guards)."""

    def __init__(self, options):
        self.options = options

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        with _LOCK:
            if self not in sys.meta_path:
                return None
            sys.meta_path.remove(self)  # one shot; also keeps find_spec below from finding us
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _InstallingLoader(spec.loader, self.options)
        return spec


class _InstallingLoader(importlib.abc.Loader):
    def __init__(self, loader, options):
        self.loader, self.options = loader, options

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        install(**self.options)
