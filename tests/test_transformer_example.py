"""The built-in transformer example: one pre-LN block learning to reverse digit sequences
with its generated fit (Adam), on held-out sequences, in under two minutes."""

import time

import numpy as np
import pytest

import symbp as sb
from benchmarks import expert
from benchmarks.frameworks import FRAMEWORKS, to_numpy
from benchmarks.models import Workload, expert_inputs, key, setup
from symbp.examples.data import TRAINING, reversal
from symbp.examples.demo import accuracy
from symbp.examples.models import transformer


def test_transformer_example_has_the_expert_benchmark_parameters():
    model = transformer()
    assert [p.name for p in model.params] == ["E", "Pos", "g1", "b1", "Wq", "Wk", "Wv", "Wo",
                                              "g2", "b2", "W1", "c1", "W2", "c2", "Wout", "cout"]
    assert {p.name: tuple(p.shape) for p in model.params}["g1"] == (1, 32)


def test_generated_init_sets_layer_norm_gains_to_one_and_random_data_ids_to_integers():
    module = sb.compile(sb.derive(transformer()))
    params = module.init_params(rng=0)
    assert np.array_equal(params["g1"], np.ones((1, 32))) and not params["b1"].any()
    train, _ = reversal(train=8, test=1)
    assert train["ids"].dtype == np.int64
    loss, grads = module.loss_and_grad(params, **train)
    assert np.isfinite(loss) and grads["E"].shape == (10, 32)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_generated_fit_reverses_held_out_sequences(seed):
    module = sb.compile(sb.derive(transformer()))
    train, test = reversal(seed=seed)
    params = module.init_params(rng=seed)
    start = time.perf_counter()
    module.fit(params, train, optimizer="adam", seed=seed, verbose=False, **TRAINING["transformer"])
    seconds = time.perf_counter() - start
    assert train["ids"].dtype == np.int64  # fit keeps the ids integer
    share = accuracy(module, params, test)
    assert share >= 0.95, f"seed {seed}: held-out token accuracy {share:.1%}"
    assert seconds < 120, f"seed {seed}: fit took {seconds:.0f} s"


TRANSFORMER_CASES = [Workload("transformer block", "transformer", 5,
                              {"steps": 6, "vocab": 10, "width": 8, "hidden": 16}),
                     Workload("transformer block causal", "transformer", 3,
                              {"steps": 7, "vocab": 10, "width": 8, "hidden": 12, "causal": True})]


@pytest.mark.parametrize("workload", TRANSFORMER_CASES, ids=key)
def test_expert_transformer_matches_generated_gradients(workload):
    module, params, data = setup(workload, seed=3)
    loss, grads = module.loss_and_grad(params, **data)
    got_loss, got = expert.make(workload).loss_and_grad(params, *expert_inputs(workload, data))
    assert abs(got_loss - loss) <= 1e-10 * max(1.0, abs(loss))
    assert sorted(got) == sorted(grads)
    for name, g in grads.items():
        np.testing.assert_allclose(got[name], g, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("framework", ["PyTorch eager", "JAX jit", "autograd"])
@pytest.mark.parametrize("workload", TRANSFORMER_CASES, ids=key)
def test_framework_transformer_matches_generated_gradients(workload, framework):
    pytest.importorskip({"PyTorch eager": "torch", "JAX jit": "jax"}.get(framework, "autograd"))
    module, params, data = setup(workload, seed=4)
    loss, grads = module.loss_and_grad(params, **data)
    result = to_numpy(FRAMEWORKS[framework](workload, params, data)())
    assert abs(result[0] - loss) <= 1e-10 * max(1.0, abs(loss))
    for name, g in grads.items():
        np.testing.assert_allclose(result[1][name], g, rtol=1e-9, atol=1e-12, err_msg=name)
