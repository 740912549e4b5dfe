"""`boundcheck exec -- COMMAND...`: run a command with flashinfer's MoE entry points
guarded in it and in every Python process it starts, without editing its code.

The command runs in place of this process (exec: same pid, signals and exit status).
Its environment is the caller's with these changes, inherited by its children:
PYTHONPATH gains boundcheck/runtime/autoinstall first (its sitecustomize installs the
guards when flashinfer.fused_moe is first imported, then runs any sitecustomize it
shadows), BOUNDCHECK_GUARD_OPTIONS carries the guard options given here, as JSON (the
vLLM plugin reads them too), and with --quiet BOUNDCHECK_QUIET=1 silences the line each
process prints when its guards go in."""

from __future__ import annotations

import argparse
import os
import sys

from . import releases
from .caps import parse_cap
from .errors import BoundcheckInputError



def add_parser(sub):
    from .cli import _int_arg  # here, not at module level: cli imports this module

    p = sub.add_parser(
        "exec", help="run a command with every flashinfer MoE call guarded, in it and its Python children",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--policy", default=None,
                   help="the guards' tile policy: flashinfer | default (autotuning off) | any | fixed:T (default: flashinfer, or any while "
                        "FLASHINFER_DIST_AWARE_AUTOTUNE is on)")
    p.add_argument("--cap", default=None, help="the guards' cap: N or 'none' (default: the environment, then the table)")
    p.add_argument("--cluster-y", type=_int_arg("--cluster-y"), default=None, help="Y cluster size (default: 1)")
    p.add_argument("--flashinfer", default=None,
                   help=f"the release whose geometry applies (default: the installed one; modeled: {releases.modeled_range()})")
    p.add_argument("--quiet", action="store_true",
                   help="no line per process when its guards go in (sets BOUNDCHECK_QUIET=1)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    p.set_defaults(run=run)


def guard_options(args) -> dict:
    """The options each guard gets, checked here as the processes will check them (and
    against the flashinfer that runs here), so that a typo fails before the command runs."""
    from boundcheck.runtime.options import checked

    options = {}
    if args.policy is not None:
        options["policy"] = args.policy
    if args.cap is not None:
        options["cap"] = parse_cap(args.cap, "cap")
    if args.cluster_y is not None:
        options["cluster_y"] = args.cluster_y
    if args.flashinfer is not None:
        options["flashinfer"] = args.flashinfer
    return checked(options, where=None)


def child_environment(options, environ=None, quiet=False) -> dict:
    from boundcheck.runtime.announce import QUIET_VARIABLE
    from boundcheck.runtime.autoinstall import FOLDER
    from boundcheck.runtime.options import OPTIONS_VARIABLE, to_environment

    env = dict(os.environ if environ is None else environ)
    env["PYTHONPATH"] = os.pathsep.join([FOLDER, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env[OPTIONS_VARIABLE] = to_environment(options)
    if quiet:
        env[QUIET_VARIABLE] = "1"
    return env


def run(args) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise BoundcheckInputError("command", "is missing: boundcheck exec [OPTIONS] -- COMMAND [ARGS...]")
    if not command[0]:
        raise BoundcheckInputError("command", "is an empty string: boundcheck exec [OPTIONS] -- COMMAND [ARGS...]")
    env = child_environment(guard_options(args), quiet=args.quiet)
    sys.stdout.flush()
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        print(f"boundcheck exec: {_shown(command[0])}: command not found", file=sys.stderr)
        return 127  # the shell's codes for a command that cannot run
    except OSError as error:  # a directory, no permission, no shebang (ENOEXEC), a name too long, ...
        print(f"boundcheck exec: {_shown(command[0])}: cannot execute: {error.strerror or error}", file=sys.stderr)
        return 126
    return 0  # not reached: exec replaced this process


def _shown(name: str) -> str:
    return name if len(name) <= 200 else f"{name[:100]}...({len(name):,} characters)"
