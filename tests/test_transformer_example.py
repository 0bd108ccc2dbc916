"""The built-in transformer example: one pre-LN block learning to reverse digit sequences
with its generated fit (Adam), on held-out sequences, in under two minutes."""

import time

import numpy as np
import pytest

import symbp as sb
from symbp.examples import example
from symbp.examples.data import TRAINING, reversal
from symbp.examples.demo import accuracy


def test_transformer_example_has_the_expert_benchmark_parameters():
    model = example("transformer")
    assert [p.name for p in model.params] == ["E", "Pos", "g1", "b1", "Wq", "Wk", "Wv", "Wo",
                                              "g2", "b2", "W1", "c1", "W2", "c2", "Wout", "cout"]
    assert {p.name: tuple(p.shape) for p in model.params}["g1"] == (1, 32)


def test_generated_init_sets_layer_norm_gains_to_one_and_random_data_ids_to_integers():
    module = sb.compile(sb.derive(example("transformer")))
    params = module.init_params(rng=0)
    assert np.array_equal(params["g1"], np.ones((1, 32))) and not params["b1"].any()
    train, _ = reversal(train=8, test=1)
    assert train["ids"].dtype == np.int64
    loss, grads = module.loss_and_grad(params, **train)
    assert np.isfinite(loss) and grads["E"].shape == (10, 32)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_generated_fit_reverses_held_out_sequences(seed):
    module = sb.compile(sb.derive(example("transformer")))
    train, test = reversal(seed=seed)
    params = module.init_params(rng=seed)
    start = time.perf_counter()
    module.fit(params, train, optimizer="adam", seed=seed, verbose=False, **TRAINING["transformer"])
    seconds = time.perf_counter() - start
    assert train["ids"].dtype == np.int64  # fit keeps the ids integer
    share = accuracy(module, params, test)
    assert share >= 0.95, f"seed {seed}: held-out token accuracy {share:.1%}"
    assert seconds < 120, f"seed {seed}: fit took {seconds:.0f} s"
