"""Scale-out, proven on this machine: the examples run in fresh processes (JAX needs its host
device count set before it is imported; DDP spawns processes) and report how far the
distributed result is from the single-process one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, *args: str, timeout: float = 120) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args, "--json"],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT "), done.stdout[-2000:]
    return json.loads(last[len("RESULT "):]) | {"stdout": done.stdout}


def test_jax_batch_sharded_over_8_host_devices_equals_one_device_and_trains_as_one_process():
    pytest.importorskip("jax")
    result = _run("jax_sharded.py", "--devices", "8", "--samples", "64", "--steps", "10")
    assert result["devices"] == 8 and result["shards"] == 8  # the batch really is split 8 ways
    assert result["loss_gap"] <= 1e-12
    assert result["grad_gap"] <= 1e-12
    assert result["train_gap"] <= 1e-9
    assert "step  10/10" in result["stdout"]  # progress is shown


def test_torch_ddp_over_two_gloo_processes_trains_identically_to_one_process():
    pytest.importorskip("torch")
    result = _run("torch_ddp.py", "--processes", "2", "--samples", "64", "--steps", "5", timeout=180)
    assert result["processes"] == 2
    assert result["train_gap"] <= 1e-9
    assert "[rank 1/2]" in result["stdout"]  # the second process trained too
