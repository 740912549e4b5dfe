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


def test_names_other_modules_imported_are_rebound_and_restored(recorder):
    # SGLang 0.5.23 imports two kernels at module level (`from flashinfer.fused_moe import
    # trtllm_...` at the top of a module): install() rebinds such names, uninstall() puts
    # flashinfer's function back.
    import types

    engine = types.ModuleType("engine_with_module_level_import")
    engine.trtllm_bf16_moe = fused_moe.trtllm_bf16_moe
    engine.alias = fused_moe.trtllm_bf16_moe  # any name, as long as it holds the function
    sys.modules[engine.__name__] = engine
    try:
        patched = install(cap=400)
        assert f"{engine.__name__}.trtllm_bf16_moe" in patched and f"{engine.__name__}.alias" in patched
        assert unguarded(engine.trtllm_bf16_moe) is recorder and engine.alias is engine.trtllm_bf16_moe
        engine.trtllm_bf16_moe(**make_arguments(NAME, 1000))
        assert [c["hidden_states"].shape[0] for c in recorder.calls] == [334, 333, 333]
        install(cap=250)  # a new install reaches them too
        assert engine.alias.boundcheck_guard.cap == 250
        uninstall()
        assert engine.trtllm_bf16_moe is recorder and engine.alias is recorder
    finally:
        del sys.modules[engine.__name__]


def test_uninstall_is_the_inverse_of_install_on_import_reexports_included():
    # install_on_import() guards flashinfer.fused_moe before flashinfer/__init__.py copies
    # its names: those copies are guards too, and uninstall() and a later install() reach them.
    out = _python(
        "import json, sys\nfrom boundcheck import runtime\n"
        "runtime.install_on_import(cap=400)\n"
        "import flashinfer, flashinfer.fused_moe as f\n"
        "names = [n for n in runtime.ENTRY_POINTS if hasattr(f, n)]\n"
        "before = {n: getattr(flashinfer, n, None) for n in names}\n"
        "assert all(getattr(v, 'boundcheck_guard', None) for v in before.values() if v is not None)\n"
        "runtime.uninstall()\n"
        "after = [n for n in names if hasattr(getattr(flashinfer, n, None), 'boundcheck_guard')\n"
        "         or hasattr(getattr(f, n), 'boundcheck_guard')]\n"
        "runtime.install(cap=250)\n"
        "caps = sorted({getattr(flashinfer, n).boundcheck_guard.cap for n in names if hasattr(flashinfer, n)})\n"
        "print(json.dumps({'exported': sum(v is not None for v in before.values()), 'left': after, 'caps': caps}))\n"
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert result["exported"] >= 6 and result["left"] == [] and result["caps"] == [250]


def test_the_plugin_keeps_the_options_of_guards_already_in_force():
    # flashinfer imported before vLLM loads its plugins, under `boundcheck exec --cap 123`:
    # the plugin keeps exec's options instead of re-installing with defaults.
    env = dict(os.environ, BOUNDCHECK_GUARD_OPTIONS='{"cap": 123, "policy": "any"}')
    code = (
        "import flashinfer.fused_moe as f\nfrom boundcheck import runtime\nfrom boundcheck.runtime import plugin\n"
        "{setup}\nplugin.register(); plugin.register()\n"
        "g = f.trtllm_bf16_moe.boundcheck_guard\nprint(g.cap, g.policy)\n"
    )
    # the plugin installs first, from the environment
    assert _python(code.format(setup=""), env).split() == ["123", "any"]
    # an explicit install(cap=...) before the plugin is kept
    assert _python(code.format(setup="runtime.install(cap=77)"), env).split() == ["77", "None"]


def test_one_line_per_process_when_the_guards_go_in_and_quiet_silences_it():
    code = ("import flashinfer.fused_moe\nfrom boundcheck import runtime\n"
            "runtime.install(); runtime.install(cap=5); runtime.uninstall(); runtime.install()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("boundcheck:")]
    assert len(lines) == 1, result.stderr
    assert "guarding 12 flashinfer MoE entry points at" in lines[0]
    assert "flashinfer 0.7.2.post1" in lines[0] and " in process " in lines[0]
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                           env=dict(os.environ, BOUNDCHECK_QUIET="1"))
    assert quiet.returncode == 0 and "boundcheck:" not in quiet.stderr


def test_the_line_goes_through_the_engines_logger():
    # vLLM configures the `vllm` logger tree: a child logger reaches its handlers.
    code = ("import logging, sys, types\n"
            "sys.modules['vllm'] = types.ModuleType('vllm')\n"
            "handler = logging.StreamHandler(sys.stdout)\n"
            "handler.setFormatter(logging.Formatter('%(name)s %(levelname)s %(message)s'))\n"
            "logging.getLogger('vllm').addHandler(handler); logging.getLogger('vllm').setLevel(logging.INFO)\n"
            "import flashinfer.fused_moe\nfrom boundcheck import runtime\nruntime.install()\n")
    out = _python(code)
    assert out.startswith("vllm.boundcheck INFO boundcheck: guarding 12 flashinfer MoE entry points")


@pytest.mark.parametrize("value, message", [
    ("{not json", "is not JSON"), ('{"cap": "ten"}', "cap: must be a positive int"),
    ('{"capp": 5}', "unknown keys ['capp']"), ('[1]', "must be a JSON object"),
    ('{"cluster_y": 0}', "cluster_y: must be one of 1, 2"),
])
def test_malformed_exec_options_are_one_line_naming_the_variable(value, message):
    from boundcheck.runtime.options import from_environment

    with pytest.raises(ValueError, match="BOUNDCHECK_GUARD_OPTIONS") as caught:
        from_environment({"BOUNDCHECK_GUARD_OPTIONS": value})
    assert message in str(caught.value) and "\n" not in str(caught.value)
    # a process started by exec with such options says so in one line and runs unguarded
    env = dict(os.environ, BOUNDCHECK_GUARD_OPTIONS=value,
               PYTHONPATH=os.path.join(os.path.dirname(runtime.__file__), "autoinstall"))
    result = subprocess.run([sys.executable, "-c", "print('ran')"], capture_output=True, text=True, env=env,
                            timeout=120, cwd=ROOT)
    assert result.stdout == "ran\n" and result.returncode == 0
    said = [line for line in result.stderr.splitlines() if line]
    assert len(said) == 1 and "BOUNDCHECK_GUARD_OPTIONS" in said[0] and "not guarded" in said[0]
