"""Guard every flashinfer MoE call of a process without editing the code that makes it.

Trust: runtime.guard (the guards themselves), runtime.release (which entry points the
installed release has).

vLLM 0.33.0 looks the kernels up at call time (`flashinfer.fused_moe.trtllm_*(...)` after a
function-local `import flashinfer`); SGLang 0.5.23 imports most of them inside the calling
function and two at module level (`from flashinfer.fused_moe import trtllm_*` at the top of
a module). install() therefore replaces the entry points wherever a loaded module holds
them: flashinfer's own modules (`flashinfer.fused_moe`, the defining module, the package's
re-exports) and any other module that took the name at import time. uninstall() is its
exact inverse: every place that holds a guard install() made (including copies taken after
install, such as `flashinfer/__init__.py`'s re-exports when install_on_import() ran first)
gets flashinfer's function back; a place someone else has replaced since is left alone.
Names bound inside functions, objects or closures are not module attributes and are not
seen (a guard can only be installed where Python looks the name up).

install_on_import() does the same the moment flashinfer.fused_moe is first imported, so
that a process which never uses flashinfer never imports it (the vLLM plugin and
`boundcheck exec` use it).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import logging
import os
import sys
import threading

from boundcheck.resolution import STRICT_VERSION_VARIABLE, strict_version

from .announce import announce, say
from .entry_points import ENTRY_POINTS
from .guard import guard, unguarded
from .release import guarded_release

_LOCK = threading.RLock()
# Every guard install() has made in this process, by id (kept alive, so ids stay unique):
# what uninstall() and a later install() recognise as theirs, wherever it was copied to.
_OURS: dict = {}
# The guards in force now, by entry point, and the options they were made with.
_CURRENT: dict = {}
_OPTIONS: list = [None]
_TARGET = "flashinfer.fused_moe"


def _module_dicts():
    """(module name, its __dict__) of every loaded module that has a plain one."""
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None) if module is not None else None
        if isinstance(namespace, dict):
            yield name, namespace


def _places(targets: dict) -> list:
    """Every (module name, namespace, attribute, value) whose value's id is in targets.
    A serving process has thousands of modules and ~300k module-level names: the test of a
    whole namespace runs in C (isdisjoint over map(id, ...)); only a module that holds a
    target is walked in Python."""
    found = []
    wanted = set(targets)
    if not wanted:
        return found
    for name, namespace in _module_dicts():
        try:
            if wanted.isdisjoint(map(id, namespace.values())):
                continue
            items = list(namespace.items())
        except RuntimeError:  # changed while read (another thread importing): copy first
            items = list(dict(namespace).items())
        for attribute, value in items:
            if id(value) in targets and targets[id(value)] is value:
                found.append((name, namespace, attribute, value))
    return found


def _listing(places) -> dict:
    return {f"{module}.{attribute}": value.boundcheck_guard.entry.name
            for module, _, attribute, value in sorted(places, key=lambda p: (p[0], p[2]))}


def installed() -> dict:
    """What is guarded now: "module.attribute" -> the entry point whose guard it holds
    (empty when nothing is). Found by looking at every loaded module, so copies made after
    install() (re-exports, later `from ... import`) are listed too."""
    with _LOCK:
        return _listing(_places({id(g): g for g in _CURRENT.values()}))


def install(*, quiet: bool | None = None, **guard_options) -> dict:
    """Replace every trtllm-gen MoE entry point of the installed flashinfer with
    guard(entry point, **guard_options), wherever a loaded module holds it (flashinfer's
    modules and names other modules imported). Idempotent: a second call re-guards the
    originals with the options given, never a guard of a guard. Safe from several threads.
    The first install of a process prints one line (runtime.announce; quiet=True or
    BOUNDCHECK_QUIET=1 silences it). Returns installed()."""
    fused_moe = importlib.import_module(_TARGET)
    release = guarded_release(guard_options.get("flashinfer"))
    with _LOCK:
        replacements = {}  # id(old value) -> (old value, new guard)
        current = {}
        for name in sorted(ENTRY_POINTS):
            present = getattr(fused_moe, name, None)
            if present is None or name not in release.era.entry_points:
                continue  # the installed release does not have it
            original = unguarded(present)
            guarded = guard(original, entry_point=name, **guard_options)
            current[name] = guarded
            replacements[id(original)] = (original, guarded)
            for old in _OURS.values():
                if unguarded(old) is original:
                    replacements[id(old)] = (old, guarded)
        targets = {key: old for key, (old, _) in replacements.items()}
        places = _places(targets)
        now = []
        for module, namespace, attribute, value in places:
            # flashinfer's function or an earlier guard of ours: replaced in one step, so
            # no caller ever sees it unguarded in between.
            namespace[attribute] = replacements[id(value)][1]
            now.append((module, namespace, attribute, namespace[attribute]))
        for guarded in current.values():
            _OURS[id(guarded)] = guarded
        _CURRENT.clear()
        _CURRENT.update(current)
        _OPTIONS[0] = dict(guard_options)
        result = _listing(now)
    announce(release, len(current), len(result), guard_options, quiet)
    return result


def install_options() -> dict | None:
    """The options of the guards in force (None when none are installed)."""
    with _LOCK:
        return dict(_OPTIONS[0]) if _CURRENT else None


def uninstall() -> dict:
    """Put flashinfer's own functions back wherever a guard install() made is (an attribute
    someone else has replaced since is left as it is) and stop any pending
    install_on_import(). Returns installed() (empty)."""
    with _LOCK:
        for _, namespace, attribute, value in _places(_OURS):
            namespace[attribute] = unguarded(value)
        _CURRENT.clear()
        _OPTIONS[0] = None
        sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _InstallOnImport)]
    return installed()


def pending() -> bool:
    """install_on_import() is waiting for flashinfer.fused_moe to be imported."""
    return any(isinstance(finder, _InstallOnImport) for finder in sys.meta_path)


def install_on_import(*, quiet: bool | None = None, **guard_options) -> bool:
    """install(**guard_options) now if flashinfer.fused_moe is loaded, else right after it
    first is. Returns True when installed now."""
    with _LOCK:
        if _TARGET in sys.modules:
            install(quiet=quiet, **guard_options)
            return True
        if not pending():
            sys.meta_path.insert(0, _InstallOnImport(guard_options, quiet))
    return False


def ensure_installed(*, quiet: bool | None = None, **guard_options) -> str:
    """install_on_import(**guard_options) unless guards are already in force or pending,
    whose options are kept (the vLLM plugin: `boundcheck exec --cap N` or an explicit
    install(cap=...) in the process come first). Returns "kept", "now" or "on import"."""
    with _LOCK:
        if _CURRENT or pending():
            return "kept"
        return "now" if install_on_import(quiet=quiet, **guard_options) else "on import"


class _InstallOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of flashinfer.fused_moe so that install()
    runs once the module has executed (before `flashinfer/__init__.py` re-exports its
    names, which then are the guards)."""

    def __init__(self, options, quiet):
        self.options, self.quiet = options, quiet

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
        spec.loader = _InstallingLoader(spec.loader, self.options, self.quiet)
        return spec


class _InstallingLoader(importlib.abc.Loader):
    def __init__(self, loader, options, quiet):
        self.loader, self.options, self.quiet = loader, options, quiet

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        try:
            install(quiet=self.quiet, **self.options)
        except ValueError as error:
            # Inside the engine's own `import flashinfer`: a refusal here (an unmodeled
            # older release, say) must not break the engine's import; it is said loudly
            # instead, unless BOUNDCHECK_STRICT_VERSION asks for refusal.
            if strict_version():
                raise
            text = (f"boundcheck: flashinfer MoE calls in process {os.getpid()} are NOT guarded: {error} "
                    f"(set {STRICT_VERSION_VARIABLE}=1 to refuse instead)")
            say(text, logging.ERROR)
