"""Child processes that run foreign code (`drift --execute`'s comparisons, g++ on extracted
text), bounded in time and killed with everything they started.

`run_bounded` starts the command in a process group of its own: in a new session
(`new_session=True`: the executed comparisons) or in a new group of the caller's session
(g++, so that a comparison that compiles keeps its compiler inside its own session). When
the time is up, or when the command has finished, the whole group is killed with SIGKILL,
and for a session every process still in it (Linux: read from /proc), so that neither a
process the folder's code forked nor a compiler blocked on a FIFO `#include` outlives it.
Output goes to unnamed temporary files, not pipes, so a leftover process holding them
cannot keep the wait open; at most MAX_OUTPUT_BYTES of each stream is read back.

What this does not cover: a process that leaves the session itself (setsid, or a daemon
that double-forks into a new session) is beyond a group kill; a container or cgroup is the
sandbox for that. `drift --execute` is opt-in for running the folder's code at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

MAX_OUTPUT_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Finished:
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    timed_out: bool


def _group_kwargs(new_session: bool) -> dict:
    if new_session:
        return {"start_new_session": True}
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}  # noqa: PLW1509 (3.10: no process_group argument)


def session_members(session: int) -> list[tuple[int, int]]:
    """(pid, process group) of every process in `session` (Linux /proc; [] elsewhere)."""
    members = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return members
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
        if len(fields) >= 4 and fields[3] == str(session):
            members.append((int(name), int(fields[2])))
    return members


def _kill(kill, target) -> None:
    try:
        kill(target, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_group(leader: int, session: bool) -> None:
    """SIGKILL the process group `leader` leads and, for a session, every process in it
    (repeated while forks race the sweep)."""
    _kill(os.killpg, leader)
    if not session:
        return
    for _ in range(20):
        members = [(pid, group) for pid, group in session_members(leader) if pid != os.getpid()]
        if not members:
            return
        for pid, group in members:
            if group != os.getpgrp():
                _kill(os.killpg, group)
            _kill(os.kill, pid)


def _read(handle) -> str:
    handle.seek(0)
    return handle.read(MAX_OUTPUT_BYTES).decode(errors="replace")


def run_bounded(argv: list, timeout_s: float, *, new_session: bool = True, cwd=None, env=None) -> Finished:
    """Run `argv` in its own process group (and session), at most `timeout_s` seconds;
    afterwards (finished or not) nothing it started is left running."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=env,
                                   **_group_kwargs(new_session))
        timed_out = False
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_group(process.pid, new_session)
            process.wait()
        return Finished(None if timed_out else process.returncode, _read(out), _read(err), timed_out)
