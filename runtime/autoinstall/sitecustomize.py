"""Run by Python at start-up in the processes of `boundcheck exec` (this folder is first
on their PYTHONPATH): guards flashinfer's MoE entry points when flashinfer.fused_moe is
first imported, then runs the sitecustomize module this one shadows, if there is one.

Guard options come from BOUNDCHECK_GUARD_OPTIONS (JSON, set by `boundcheck exec`). A
Python that cannot import boundcheck's runtime, or finds the options malformed, says so
on stderr in one line and runs unguarded: it is the user's command, never broken by us."""

import os
import sys


def _install():
    try:
        from boundcheck.runtime.install import install_on_import
        from boundcheck.runtime.options import from_environment
    except ImportError as error:
        sys.stderr.write(
            f"boundcheck exec: {sys.executable} cannot import boundcheck's runtime ({error}); "
            f"flashinfer MoE calls in process {os.getpid()} are not guarded\n"
        )
        return
    try:
        options = from_environment()
    except ValueError as error:  # BoundcheckInputError: names the variable and what is wrong
        sys.stderr.write(f"boundcheck exec: {error}; flashinfer MoE calls in process {os.getpid()} are not guarded\n")
        return
    install_on_import(**options)


def _chain():
    """Import the next sitecustomize on the path (the one this module shadows)."""
    here = os.path.dirname(os.path.abspath(__file__))
    ours = sys.modules.pop("sitecustomize", None)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        import sitecustomize  # noqa: F401 (run for its side effects)
    except ModuleNotFoundError as error:
        if error.name != "sitecustomize":
            raise  # the shadowed module's own import failed: as it would without us
    finally:
        sys.path[:] = saved
        if ours is not None:
            sys.modules["sitecustomize"] = ours


_install()
_chain()
