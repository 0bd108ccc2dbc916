"""The benchmark harness: the expert NumPy contestants compute the generated modules' math, and
the quick run writes its report (timings are never asserted in unit tests)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import expert
from benchmarks.models import QUICK, Workload, expert_inputs, key, setup

ROOT = Path(__file__).resolve().parent.parent

CASES = [*QUICK,
         Workload("MLP relu, wide batch", "mlp", 600, {"sizes": [5, 7, 4]}),
         Workload("MLP sigmoid 3 layers", "mlp", 9, {"sizes": [6, 5, 4, 3], "act": "sigmoid"}),
         Workload("RNN T=6 wide batch", "rnn", 100, {"steps": 6, "inputs": 2, "hidden": 4, "classes": 3}),
         Workload("tied autoencoder wide batch", "autoencoder", 520, {"inputs": 5, "code": 2}),
         Workload("LeNet 1x12x12", "cnn", 5, {"channels": 1, "size": 12, "classes": 3}),
         Workload("LeNet 2x16x16", "cnn", 3, {"channels": 2, "size": 16, "classes": 4})]


@pytest.mark.parametrize("workload", CASES, ids=key)
def test_expert_matches_generated_gradients(workload):
    module, params, data = setup(workload, seed=3)
    loss, grads = module.loss_and_grad(params, **data)
    mine = expert.make(workload)
    for _ in range(2):  # the second call reuses the workspace
        got_loss, got = mine.loss_and_grad(params, *expert_inputs(workload, data))
        assert abs(got_loss - loss) <= 1e-10 * max(1.0, abs(loss))
        assert sorted(got) == sorted(grads)
        for name, g in grads.items():
            np.testing.assert_allclose(got[name], g, rtol=1e-10, atol=1e-12, err_msg=name)


def test_quick_benchmark_writes_a_report_of_every_section(tmp_path):
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    for heading in ("## How measured", "## Targets", "## 1. Loss and gradients",
                    "## 2. First calls in a fresh process", "## 3. Derivation cost", "## 4. Digits training",
                    "## 5. Backends and scale-out"):
        assert heading in report, heading
    assert "threadpoolctl" in report and "--quick" in report
    assert "Earlier" not in report and "earlier measurements" not in report.lower()


def test_a_framework_ahead_of_the_expert_too_is_explained_not_hidden():
    from benchmarks.summary import _peer_text

    stats = lambda **m: {"stats": {k.replace("_", " "): {"median": v} for k, v in m.items()}}  # noqa: E731
    ahead_of_both = _peer_text(stats(symbp_generated=1.0, expert_NumPy=0.98, JAX_jit=0.7), "JAX jit", 0.7)
    assert "JAX jit 0.70x generated and 0.71x the expert NumPy: XLA" in ahead_of_both
    only_generated = _peer_text(stats(symbp_generated=1.0, expert_NumPy=0.5, JAX_jit=0.7), "JAX jit", 0.7)
    assert only_generated == "JAX jit 0.70x generated"


@pytest.mark.parametrize("jax_steady, explained", [(0.1, True), (0.5, False)])
def test_the_digits_target_explains_a_jax_loop_ahead_without_its_compilation(jax_steady, explained):
    from benchmarks.summary import targets

    digits = {"symbp generated": [{"seconds": 0.24, "accuracy": 0.97}],
              "JAX jit": [{"seconds": 0.8, "accuracy": 0.97, "first_step": 0.8 - jax_steady}]}
    rows = {name: (text, ok) for name, text, ok in targets([], {"pinned": {}}, {}, digits)}
    text, ok = rows["digits fit at least as fast as the JAX jit loop, its compilation excluded"]
    assert ok is not explained
    assert ("XLA compiles the whole training step" in text) is explained
    assert text.startswith(f"{0.24 / jax_steady:.2f}x")


@pytest.mark.parametrize("jax, disturbed, status", [
    (0.99, True, None),    # within the noise of a disturbed median: no verdict
    (0.99, False, False),  # a quiet median: the target is missed
    (0.64, True, False),   # far ahead even of a disturbed median: missed
    (1.30, True, True),
])
def test_a_peer_target_on_a_disturbed_median_reads_na_only_within_its_noise(jax, disturbed, status):
    from benchmarks.summary import targets

    stats = {"symbp generated": {"median": 1.0, "disturbed": False},
             "expert NumPy": {"median": 1.0, "disturbed": False},
             "JAX jit": {"median": jax, "disturbed": disturbed}}
    run = {"stats": stats, "memory": {"symbp generated": 1, "expert NumPy": 1}}
    w = QUICK[0]
    rows = {name: ok for name, _, ok in targets([w], {"pinned": {key(w): run}}, {}, {})}
    assert rows[f"{key(w)}: generated ahead of JAX jit"] is status


def test_the_stacked_table_times_the_two_bodies_of_one_rnn(capsys):
    from benchmarks import stacked

    stacked.main(["--repeats", "1", "8"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 8 |")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert all(c.endswith("x)") for c in cells[2:4]) and 0.5 < float(cells[4]) < 2


def test_a_pinned_fresh_worker_runs_blas_on_one_thread(tmp_path):
    """The fresh-process job imports no framework before pinning, and its BLAS ran on 2 threads
    (threadpoolctl limits only libraries already loaded): its result must say one thread."""
    import json

    from benchmarks.models import emit

    w = next(w for w in QUICK if w.family == "autoencoder")
    done = subprocess.run([sys.executable, "-m", "benchmarks.worker", "fresh", "pinned", key(w),
                           "symbp generated", emit(w, tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    blas = json.loads(done.stdout.strip().splitlines()[-1])["blas"]  # what runner.one_thread reads
    assert blas and all("(1 threads)" in info for info in blas), blas
