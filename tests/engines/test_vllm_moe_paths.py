"""vLLM 0.33.0's own trtllm-gen MoE experts, driven on CPU at 400,000 tokens, with
flashinfer's compiled launcher replaced by a recording fake below flashinfer's Python
(tests/engines/vllm_driver.py says exactly what is replaced and why).

For every path (NVFP4 modular, which chunks by itself at min(300000, ...), and monolithic;
BF16 modular and monolithic; FP8 per-tensor, monolithic, the only FP8 per-tensor experts
vLLM has; MXFP4 with bf16 activations, modular and monolithic, and with MXFP8 activations,
modular) and shape ((512 experts, top_k 22) and (1024, 2) at vLLM's default
tune_max_num_tokens 8192; (1024, 2) again with a DP-sized FusedMoEConfig.max_num_tokens
of 400,000, which vLLM turns into tune_max_num_tokens 400,000 where it passes one: the
BF16 modular path passes none, so flashinfer's default 8192 applies there):

- control, nothing installed: the path runs as vLLM ships it; the paths that do not chunk
  by themselves launch all 400,000 tokens at once, above the proven bound;
- guarded, `runtime.install()` after flashinfer is imported: every launch holds at most
  the bound the guard applied, which is at most runtime.max_chunk_tokens(...) for the
  call's precision and counts (the guard's also covers the other kernels' int32 limits),
  the guard splits exactly the calls above it, the launches cover the 400,000 tokens once
  in order, and every output row holds its own token.

The driver runs in the vLLM venv's python ($BOUNDCHECK_VLLM_VENV, default
~/.cache/boundcheck/engines/vllm-0.33.0) with this repository importable from a temporary
folder (a regular `pip install --no-deps --target` of a copy of the working tree); the
venv itself is left as it is. One driver process runs everything: about 45 s on two idle
cores (up to 90 s on a busy machine), 3.6 GB peak memory (the router logits of 400,000
tokens x 1024 experts, float32).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import engine_python

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "vllm_driver.py"
TOKENS = 400_000
SHAPES = ("512x22", "1024x2")
# FusedMoEConfig.max_num_tokens as a DP deployment that gathers 400k tokens sets it: vLLM
# then passes tune_max_num_tokens 400,000 (fi_moe_largest_bucket), and the bound follows.
DP_SHAPE = "1024x2@400000"
ALL_SHAPES = SHAPES + (DP_SHAPE,)
# Paths of the working tree that never go into the temporary install.
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache",
                                     ".hypothesis", ".device", ".whl", "smt")


def _load_driver():
    """The driver as a module (it imports only the standard library at module level)."""
    spec = importlib.util.spec_from_file_location("boundcheck_vllm_driver", DRIVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


driver = _load_driver()
PATHS = driver.PATHS  # name -> (builder, the flashinfer entry point vLLM calls, chunks by itself)
CASES = [(path, shape) for shape in ALL_SHAPES for path in PATHS]
IDS = [f"{path}-{shape}" for path, shape in CASES]


def venv_python() -> Path:
    """The vLLM venv's python (tests/engines/conftest.py), or a skip that says where it was looked for."""
    python = engine_python("vllm")
    packages = list(python.parent.parent.glob("lib/python3*/site-packages"))
    missing = [name for name in ("vllm", "flashinfer", "torch")
               if not any((site / name).is_dir() for site in packages)]
    if missing:
        pytest.skip(f"the environment at {python.parent.parent} lacks {', '.join(missing)}")
    return python


def build_boundcheck(folder: Path) -> Path:
    """A regular (non-editable) install of a copy of the working tree into folder/site,
    for PYTHONPATH: nothing is written into the repository or the vLLM venv."""
    source, site = folder / "src", folder / "site"
    shutil.copytree(ROOT, source, ignore=_NOT_COPIED)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--no-compile", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=300, cwd=str(folder),
    )
    assert result.returncode == 0, f"pip install --target failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert (site / "boundcheck" / "runtime" / "install.py").exists(), sorted(p.name for p in site.iterdir())
    return site


@pytest.fixture(scope="module")
def site_and_report(tmp_path_factory):
    python = venv_python()
    folder = tmp_path_factory.mktemp("vllm-moe-paths")
    site = build_boundcheck(folder)
    out = folder / "report.json"
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("BOUNDCHECK_", "FLASHINFER_")) and k not in ("PYTHONPATH", "PYTHONHOME")}
    environment.update({
        "PYTHONPATH": str(site),  # the temporary boundcheck, ahead of anything the venv holds
        "PYTHONNOUSERSITE": "1",
        "VLLM_PLUGINS": "",  # no general plugin (boundcheck's, if installed there) guards the control
    })
    command = [str(python), str(DRIVER), "--tokens", str(TOKENS), "--shapes", ",".join(ALL_SHAPES),
               "--paths", ",".join(PATHS), "--modes", "control,guarded", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=environment, cwd=str(folder))
    assert result.returncode == 0 and out.exists(), (
        f"driver failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    report = json.loads(out.read_text())
    print(f"\nvLLM MoE paths report: {out} (driver {report['total_seconds']} s)")
    return site, report


@pytest.fixture(scope="module")
def report(site_and_report):
    return site_and_report[1]


def run_of(report, mode, path, shape) -> dict:
    found = [r for r in report["runs"] if (r["mode"], r["path"], r["shape"]) == (mode, path, shape)]
    assert len(found) == 1, f"{mode} {path} {shape}: {len(found)} runs in the report"
    run = found[0]
    assert run["ok"], f"{mode} {path} {shape}: {run.get('error')}\n{run.get('traceback', '')}"
    return run


def assert_every_row_is_its_own(run):
    where = f"{run['mode']} {run['path']} {run['shape']}"
    assert run["total_launched"] == TOKENS, f"{where}: launched {run['launches']}"
    assert run["output_shape"][0] == TOKENS, where
    assert run["rows_wrong"] == 0, f"{where}: {run['rows_wrong']} rows hold another token (first {run.get('first_wrong_row')})"
    assert run["rows_unmarked"] == 0, f"{where}: {run['rows_unmarked']} rows never written by a launch"
    assert run["launches_contiguous"], f"{where}: a launch got non-consecutive tokens"
    assert not any(run["mismatched_inputs"].values()), f"{where}: per-token inputs out of step {run['mismatched_inputs']}"
    # the launches tile [0, TOKENS) once, in order
    ranges = run["launch_ranges"]
    assert ranges[0][0] == 0 and ranges[-1][1] == TOKENS - 1, f"{where}: {ranges}"
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:])), f"{where}: {ranges}"


def test_the_driver_ran_vllm_and_flashinfer_with_the_temporary_boundcheck(site_and_report):
    site, report = site_and_report
    assert report["versions"]["vllm"] == "0.33.0"
    assert report["versions"]["flashinfer"].startswith("0.7.2")
    assert Path(report["prefix"]).resolve() == venv_python().parent.parent.resolve(), report["prefix"]
    assert Path(report["boundcheck_file"]).resolve().is_relative_to(site.resolve()), report["boundcheck_file"]
    assert Path(report["runtime_file"]).resolve().is_relative_to(site.resolve()), report["runtime_file"]
    assert report["guarded_release"].startswith("flashinfer 0.7.2"), report["guarded_release"]


def test_the_fake_sits_below_flashinfers_python(report):
    """The positions the fake reads come from flashinfer's own `moe_op.<op>(...)` calls, and
    every path reached the compiled op through flashinfer's Python entry point and op."""
    positions = report["kernel_positions"]
    for kernel in ("trtllm_bf16_moe", "trtllm_fp8_per_tensor_scale_moe", "trtllm_fp4_block_scale_moe"):
        assert {"hidden_states", "output", "num_experts", "top_k", "do_finalize"} <= set(positions[kernel]), kernel
    expected = {"bf16": "trtllm_bf16_moe", "fp8_per_tensor": "trtllm_fp8_per_tensor_scale_moe"}
    for run in report["runs"]:
        assert run["ok"], f"{run['mode']} {run['path']} {run['shape']}: {run.get('error')}"
        assert run["kernels"] == [expected.get(run["precision"], "trtllm_fp4_block_scale_moe")], run["path"]


@pytest.mark.parametrize("path,shape", CASES, ids=IDS)
def test_without_the_guard(report, path, shape):
    """Control: nothing installed. vLLM's own chunking, if any, is all there is; the paths
    that do not chunk launch the whole batch at once, above the proven bound."""
    assert report["control_installed"] == {}
    assert all(report["control_unguarded"].values()), report["control_unguarded"]
    run = run_of(report, "control", path, shape)
    assert run["guard_calls"] == [] and run["guard_bounds"] == []
    assert_every_row_is_its_own(run)
    _, _, chunks_itself = PATHS[path]
    if chunks_itself:
        assert run["launches"] == _vllm_chunks(run["vllm_chunk_size"]), run["launches"]
    else:
        assert run["launches"] == [TOKENS]  # what the guard prevents ...
        if shape in SHAPES:
            assert TOKENS > run["expected_bound"]  # ... since it is above the proven bound


@pytest.mark.parametrize("path,shape", CASES, ids=IDS)
def test_with_the_guard(report, path, shape):
    run = run_of(report, "guarded", path, shape)
    control = run_of(report, "control", path, shape)
    entry = PATHS[path][1]
    # vLLM looks the entry point up on flashinfer.fused_moe (MXFP4: on flashinfer) at call time
    assert f"flashinfer.fused_moe.{entry}" in report["installed"] and f"flashinfer.{entry}" in report["installed"]
    # the guard sits below vLLM: it sees exactly the calls vLLM made without it
    assert run["guard_calls"] == control["launches"]
    assert run["guard_bounds"], "the guard never computed a bound (fast path above its threshold?)"
    guard_bound = min(run["guard_bounds"])
    assert len(set(run["guard_bounds"])) == 1, run["guard_bounds"]  # one configuration per path and shape
    assert guard_bound <= run["expected_bound"], (guard_bound, run["expected_bound"])
    assert max(run["launches"]) <= guard_bound, (run["launches"], guard_bound)
    # it splits exactly the calls above its bound, into ceil(tokens / bound) launches
    assert len(run["launches"]) == sum(math.ceil(tokens / guard_bound) for tokens in run["guard_calls"])
    assert_every_row_is_its_own(run)


def _vllm_chunks(chunk):
    return [min(chunk, TOKENS - start) for start in range(0, TOKENS, chunk)]


def test_summary(report):
    """The numbers, one line per path and shape (shown with -s or -rP)."""
    lines = [f"{'path':27} {'shape':14} {'tune':>6} {'vllm':>7} {'bound':>7} {'guard':>7}  "
             f"control launches -> guarded launches"]
    for shape in ALL_SHAPES:
        for path in PATHS:
            control, guarded = run_of(report, "control", path, shape), run_of(report, "guarded", path, shape)
            lines.append(
                f"{path:27} {shape:14} {guarded['tune_max_num_tokens']:>6} {str(guarded.get('vllm_chunk_size', '-')):>7} "
                f"{guarded['expected_bound']:>7} {min(guarded['guard_bounds']):>7}  "
                f"{_compact(control['launches'])} -> {_compact(guarded['launches'])}")
    print("\n" + "\n".join(lines))
    assert len(lines) == 1 + len(CASES)


def _compact(launches):
    if len(launches) > 4:
        return f"{len(launches)} x <= {max(launches)}"
    return "[" + ", ".join(str(n) for n in launches) + "]"


# --- the fake's own checks, without vLLM (torch only) ------------------------------------

def test_the_token_digits_are_exact_in_every_input_dtype():
    torch = pytest.importorskip("torch")
    index = torch.arange(TOKENS, dtype=torch.int64)
    for dtype in (torch.uint8, torch.bfloat16, torch.float8_e4m3fn):
        assert torch.equal(driver.decode_digits(driver.encode_digits(index, dtype)), index), dtype


def test_the_fake_launch_flags_rows_out_of_step():
    """A launch whose scale rows belong to the next tokens is counted, the output rows get
    the hidden states' tokens, and the launch is recorded with its counts."""
    torch = pytest.importorskip("torch")
    recorder = driver.Recorder()
    positions = {"hidden_states": 0, "output": 1, "hidden_states_scale": 2, "num_experts": 3, "top_k": 4,
                 "do_finalize": 5}
    fake = driver.FakeMoeOp({"trtllm_fp4_block_scale_moe": positions}, recorder)
    tokens = torch.arange(10, 20, dtype=torch.int64)
    hidden = torch.zeros(10, 8, dtype=torch.uint8)
    hidden[:, :driver.DIGITS] = driver.encode_digits(tokens, torch.uint8)
    scale = torch.zeros(10, 8, dtype=torch.uint8)
    scale[:, :driver.DIGITS] = driver.encode_digits(tokens + 1, torch.uint8)
    output = torch.zeros(10, 16, dtype=torch.bfloat16)
    assert fake.trtllm_fp4_block_scale_moe(hidden, output, scale.view(torch.float8_e4m3fn), 64, 4, True) == []
    (launch,) = recorder.launches
    assert launch["tokens"] == 10 and launch["contiguous"] and (launch["first_token"], launch["last_token"]) == (10, 19)
    assert launch["mismatched_inputs"] == {"hidden_states_scale": 10}
    assert torch.equal(driver.decode_digits(output), tokens)
    assert bool((output[:, driver.MARKER_COLUMN] == 1).all())
    with pytest.raises(NotImplementedError, match="does not emulate trtllm_moe_run_routing"):
        fake.trtllm_moe_run_routing()
