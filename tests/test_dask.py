"""The generated module on a dask.distributed LocalCluster: full-batch loss and gradients over
chunked data equal NumPy's on the same rows; the example trains that way; the scaling
benchmark prints its table. Small sizes (the example and benchmark default to 10^6 rows)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symbp as sb
from symbp.examples import example

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("dask.distributed")
pytest.importorskip("array_api_compat")
import dask  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _load_example():
    spec = importlib.util.spec_from_file_location("dask_training", ROOT / "examples" / "dask_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def training():
    return _load_example()


@pytest.mark.parametrize("name", ["mlp", "softmax_regression", "autoencoder"])
def test_full_batch_gradients_on_the_cluster_equal_numpy(client, name):
    mod = sb.compile(sb.derive(example(name)))
    params = mod.init_params(rng=0)
    local = mod.random_data(rng=1, samples=3000)
    chunked = {k: client.persist(da.from_array(v, chunks=(500,) + v.shape[1:]))
               for k, v in local.items()}
    assert all(v.npartitions == 6 for v in chunked.values())
    value, grads = dask.compute(*mod.loss_and_grad(params, **chunked))
    expected_value, expected = mod.loss_and_grad(params, **local)
    assert float(value) == pytest.approx(float(expected_value), rel=1e-12)
    for key, g in expected.items():
        np.testing.assert_allclose(grads[key], g, rtol=1e-10, atol=1e-13)


def test_the_example_trains_on_the_cluster_as_numpy_does(client, training):
    mod = sb.compile(sb.derive(example("mlp")))
    lazy = training.teacher_data(4000, 1000, seed=3)
    data = dict(zip(lazy, client.persist(list(lazy.values())), strict=True))
    local = {k: v.compute() for k, v in data.items()}
    on_cluster, here = mod.init_params(rng=0), mod.init_params(rng=0)
    history = training.train(mod, on_cluster, data, steps=3, lr=1.0, log=lambda line: None)
    for _ in range(3):  # the same gradient descent, every row in one NumPy call
        _, grads = mod.loss_and_grad(here, **local)
        here = {k: here[k] - 1.0 * grads[k] for k in here}
    assert history[-1] < history[0]
    for key, value in here.items():
        np.testing.assert_allclose(on_cluster[key], value, rtol=1e-9, atol=1e-12)


def test_the_example_script_shows_its_progress():
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "dask_training.py"),
                          "--rows", "4000", "--steps", "2"], capture_output=True, text=True,
                         timeout=600, env=_env())
    assert run.returncode == 0, run.stderr
    assert "step 1/2  loss" in run.stdout and "step 2/2  loss" in run.stdout
    assert "on 2 workers" in run.stdout


def test_the_scaling_benchmark_prints_speedup_and_efficiency():
    run = subprocess.run([sys.executable, "-m", "benchmarks.scaling_dask", "--rows", "4000",
                          "--repeats", "1"], capture_output=True, text=True, timeout=600,
                         cwd=ROOT, env=_env())
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("| Dask")]
    assert [line.split("|")[2].strip() for line in lines] == ["1", "2"]
    assert lines[0].split("|")[4:6] == [" 1.00x ", " 100% "]


def test_the_scaling_benchmark_refuses_a_bad_size_in_one_sentence():
    run = subprocess.run([sys.executable, "-m", "benchmarks.scaling_dask", "--rows", "0"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env())
    assert run.returncode == 2
    assert run.stderr.strip() == "--rows, --chunks and --repeats must be positive integers."


def _env():
    import os
    return {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's symbp
