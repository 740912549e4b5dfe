"""Zero-code adoption: runtime.install() / uninstall(), install_on_import(), the vLLM
plugin entry point and `boundcheck exec`, with call sites written as vLLM's and SGLang's."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import threading

import pytest

from boundcheck import runtime
from boundcheck.runtime import install, installed, unguarded, uninstall
from boundcheck.runtime.entry_points import ENTRY_POINTS

from .fakes import Recorder, make_arguments

fused_moe = pytest.importorskip("flashinfer.fused_moe")  # install() patches the installed flashinfer
import flashinfer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "trtllm_bf16_moe"


@pytest.fixture(autouse=True)
def _restored():
    uninstall()
    yield
    uninstall()


@pytest.fixture
def recorder(monkeypatch):
    """flashinfer.fused_moe's BF16 entry point replaced by a recorder (the real kernel needs
    a Blackwell GPU): what install() finds there is what it guards."""
    kernel = Recorder(NAME)
    monkeypatch.setattr(fused_moe, NAME, kernel)
    return kernel


def _vllm_call_site(arguments):
    # vllm/model_executor/layers/fused_moe/experts/trtllm_bf16_moe.py: a function-local
    # `import flashinfer`, the kernel looked up on the module at call time.
    import flashinfer

    return flashinfer.fused_moe.trtllm_bf16_moe(**arguments)


def _sglang_call_site(arguments):
    # sglang/srt/layers/moe/moe_runner/flashinfer_trtllm.py: imported inside the function.
    from flashinfer.fused_moe import trtllm_bf16_moe

    return trtllm_bf16_moe(**arguments)


def test_install_uninstall_round_trip_covers_every_reexport():
    originals = {name: getattr(fused_moe, name) for name in ENTRY_POINTS if hasattr(fused_moe, name)}
    patched = install()
    assert patched and installed() == patched
    for name, original in originals.items():
        guarded = getattr(fused_moe, name)
        assert guarded is not original and unguarded(guarded) is original
        assert getattr(flashinfer, name, guarded) is guarded  # the package's re-export too
        assert f"flashinfer.fused_moe.{name}" in patched and patched[f"flashinfer.fused_moe.{name}"] == name
        defining = sys.modules[original.__module__]
        if getattr(defining, name, None) is not None:
            assert getattr(defining, name) is guarded  # and where it is defined
    assert uninstall() == {} and installed() == {}
    for name, original in originals.items():
        assert getattr(fused_moe, name) is original
        assert getattr(flashinfer, name, original) is original


@pytest.mark.parametrize("call_site", [_vllm_call_site, _sglang_call_site], ids=["vLLM", "SGLang"])
def test_engine_call_sites_go_through_the_guard(recorder, call_site):
    arguments = make_arguments(NAME, 1000)
    call_site(arguments)
    assert [c["hidden_states"].shape[0] for c in recorder.calls] == [1000]  # not installed: one call
    recorder.calls.clear()
    install(cap=400)
    call_site(arguments)
    assert [c["hidden_states"].shape[0] for c in recorder.calls] == [334, 333, 333]
    recorder.calls.clear()
    uninstall()
    call_site(arguments)
    assert [c["hidden_states"].shape[0] for c in recorder.calls] == [1000]


def test_install_is_idempotent_and_guards_never_nest(recorder):
    install(cap=400)
    first = getattr(fused_moe, NAME)
    install(cap=250)
    second = getattr(fused_moe, NAME)
    assert second is not first and unguarded(second) is recorder
    assert second.boundcheck_guard.fn is recorder and second.boundcheck_guard.cap == 250
    # runtime's own wrappers and explicit guards wrap flashinfer's function, not the guard.
    assert runtime.guard(second, entry_point=NAME).boundcheck_guard.fn is recorder
    _vllm_call_site(make_arguments(NAME, 1000))
    assert [c["hidden_states"].shape[0] for c in recorder.calls] == [250, 250, 250, 250]


def test_install_and_uninstall_from_many_threads_leave_one_consistent_state(recorder):
    errors = []

    def work(i):
        try:
            for _ in range(20):
                install(cap=100 + i) if i % 2 else uninstall()
        except Exception as error:  # noqa: BLE001 (collected and asserted below)
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    current = getattr(fused_moe, NAME)
    if installed():
        assert current.boundcheck_guard.fn is recorder  # one layer
    else:
        assert current is recorder
    uninstall()
    assert getattr(fused_moe, NAME) is recorder


def test_an_attribute_replaced_by_someone_else_is_left_alone(recorder, monkeypatch):
    install()
    mine = object()
    monkeypatch.setattr(fused_moe, NAME, mine)
    uninstall()
    assert getattr(fused_moe, NAME) is mine


def _python(code, env=None):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_install_on_import_guards_flashinfer_when_first_imported():
    out = _python(
        "import sys\nfrom boundcheck import runtime\n"
        "assert runtime.install_on_import() is False\n"
        "assert 'flashinfer' not in sys.modules  # nothing imported until the engine does\n"
        "import flashinfer\n"
        "g = flashinfer.fused_moe.trtllm_bf16_moe\n"
        "assert g.boundcheck_guard is not None and flashinfer.trtllm_bf16_moe is g\n"
        "print(len(runtime.installed()))\n"
    )
    assert int(out) >= len(ENTRY_POINTS)


def test_the_vllm_plugin_is_discoverable_and_installs():
    plugins = {e.name: e for e in importlib.metadata.entry_points(group="vllm.general_plugins")}
    assert plugins["boundcheck"].value == "boundcheck.runtime.plugin:register"
    out = _python(
        "import importlib.metadata as m, sys\n"
        "plugin = {e.name: e for e in m.entry_points(group='vllm.general_plugins')}['boundcheck'].load()\n"
        "plugin(); plugin()  # vLLM may load a plugin more than once per process\n"
        "import flashinfer.fused_moe as f\nfrom boundcheck import runtime\n"
        "print(f.trtllm_fp4_block_scale_moe.boundcheck_guard.fn.__module__)\n"
    )
    assert out.strip() == "flashinfer.fused_moe.core"


_CHILD = (
    "import json, os, subprocess, sys\n"
    "import flashinfer.fused_moe as f\nfrom boundcheck import runtime\n"
    "g = f.trtllm_bf16_moe.boundcheck_guard\n"
    "print(json.dumps({'pid': os.getpid(), 'guarded': len(runtime.installed()), 'cap': g.cap}))\n"
    "sys.stdout.flush()\n"
    "if len(sys.argv) > 1:\n"
    "    subprocess.run([sys.executable, '-c', sys.argv[1]], check=True)\n"
)


def test_boundcheck_exec_guards_the_command_and_its_python_children(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(tmp_path))  # the user's own path entry is kept
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['USER_SITECUSTOMIZE_RAN'] = '1'\n")
    grandchild = _CHILD + "print(json.dumps({'user_sitecustomize': os.environ.get('USER_SITECUSTOMIZE_RAN')}))\n"
    result = subprocess.run(
        [sys.executable, "-m", "boundcheck", "exec", "--cap", "123", "--", sys.executable, "-c", _CHILD, grandchild],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3
    child, grand, user = lines
    assert child["guarded"] >= len(ENTRY_POINTS) and child["cap"] == 123
    assert grand["guarded"] >= len(ENTRY_POINTS) and grand["cap"] == 123 and grand["pid"] != child["pid"]
    assert user == {"user_sitecustomize": "1"}  # the shadowed sitecustomize still ran


def test_boundcheck_exec_keeps_the_exit_status_and_refuses_bad_input():
    def run(*argv):
        return subprocess.run([sys.executable, "-m", "boundcheck", "exec", *argv], capture_output=True, text=True,
                              timeout=300, cwd=ROOT)

    assert run("--", sys.executable, "-c", "raise SystemExit(7)").returncode == 7
    missing = run("--", "no-such-command-boundcheck")
    assert missing.returncode == 127 and "command not found" in missing.stderr
    empty = run()
    assert empty.returncode == 2 and "command" in empty.stderr
    bad = run("--cap", "ten", "--", sys.executable, "-c", "pass")
    assert bad.returncode == 2 and "--cap" in bad.stderr
    policy = run("--policy", "fixed:x", "--", sys.executable, "-c", "pass")
    assert policy.returncode == 2 and "--policy" in policy.stderr
