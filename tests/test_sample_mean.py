"""A scalar model's mean over samples is a step of the derivation (comments equal code).

A scalar model describes one sample; its generated code averages the loss over N samples.
``derive`` wraps each per-sample term of a parameter's gradient in ``BatchMean``, so the
derivation, explain, the LaTeX and the generated code's comments all show the mean the code
computes. Gradients are checked against a hand-written NumPy gradient and against autograd
and PyTorch (``sb.check``), never against symbp's own derivation.
"""

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.examples import EXAMPLES
from symbp.primitives.mean import BatchMean
from symbp.text import unicode

w, c, x, y = sp.symbols("w c x y")


def two_paths():
    """w reaches the loss along two per-sample paths; c along a per-sample one and a
    regulariser that reads no data."""
    return sb.Model((w * x + w**2 * sp.sin(x) + c - y) ** 2 + c**2, params=[w, c])


def test_a_parameter_gradient_averages_each_per_sample_term():
    d = sb.derive(two_paths())
    assert str(d.step("w_bar")) == "w_bar = meanₙ(x·z1_bar) + meanₙ(2·a1·w·z1_bar)"
    assert str(d.step("c_bar")) == "c_bar = 2·c + meanₙ(z1_bar)"  # c² is the same for all


def test_the_terms_of_a_step_add_up_to_its_expression():
    for model in (two_paths(), EXAMPLES["xor"](), EXAMPLES["tanh_4_8_1"]()):
        for step in sb.derive(model).backward:
            assert sp.Add(*[t.expr for t in step.terms]) == step.expr, step.name


def test_steps_reading_data_are_per_sample_and_gradients_are_not():
    d = sb.derive(two_paths())
    assert {s.name for s in d.steps if s.per_sample} == {"a1", "z1", "L", "z1_bar"}


def test_models_without_samples_have_no_mean():
    for name in ("mlp", "shopping"):  # a matrix model; a scalar model without data
        d = sb.derive(EXAMPLES[name]())
        assert not any(s.expr.has(BatchMean) for s in d.steps)


def test_generated_gradient_is_the_mean_of_the_hand_written_per_sample_gradient():
    rng = np.random.default_rng(3)
    xs, ys = rng.normal(size=7), rng.normal(size=7)
    pw, pc = 0.4, -0.3
    z = pw * xs + pw**2 * np.sin(xs) + pc - ys
    mod = sb.compile(sb.derive(two_paths()))
    loss, grads = mod.loss_and_grad({"w": pw, "c": pc}, x=xs, y=ys)
    assert loss == pytest.approx(np.mean(z**2 + pc**2), rel=1e-12)
    assert grads["w"] == pytest.approx(np.mean(2 * z * (xs + 2 * pw * np.sin(xs))), rel=1e-12)
    assert grads["c"] == pytest.approx(np.mean(2 * z) + 2 * pc, rel=1e-12)


@pytest.mark.parametrize("reference", ["autograd", "torch"])
def test_scalar_gradients_match_autodiff_of_the_mean_loss(reference):
    sb.check(two_paths(), reference=reference)
    sb.check(EXAMPLES["xor"](), reference=reference)


def test_comments_of_the_generated_code_equal_the_code():
    source = sb.generate(sb.derive(two_paths()))
    assert "    # dL/dw = meanₙ(x·dL/dz1) + meanₙ(2·a1·w·dL/dz1)\n" \
           "    w_bar = xp.vecdot(x, z1_bar) / N + xp.vecdot(a1, 2 * w * z1_bar) / N\n" in source
    assert "    c_bar = 2 * c + xp.sum(z1_bar) / N\n" in source


def test_explain_shows_the_mean_of_each_path():
    text = sb.explain(two_paths())
    assert "  ∂L/∂c = meanₙ(∂L/∂z1 · ∂z1/∂c) + ∂L/∂L · ∂L/∂c = meanₙ(∂L/∂z1) + 2·c\n" in text
    assert "meanₙ(…) averages a per-sample term" in text
    assert "平均损失的梯度" in sb.explain(two_paths(), lang="zh")


def test_explain_with_values_shows_one_sample():
    text = sb.explain(EXAMPLES["xor"](), values=True)
    assert "N = 1, so each mean is its one term" in text
    assert "  ∂L/∂c = meanₙ(∂L/∂z3 · ∂z3/∂c) = meanₙ(∂L/∂z3) = 0.272758\n" in text


def test_latex_writes_the_mean_as_a_sum_over_the_samples():
    d = sb.derive(two_paths())
    assert r"\overline{c} &= 2 c + \frac{1}{N} \sum_{n=1}^{N} \overline{z}_{1}" in d.latex()
    assert r"each gradient is the mean $\frac{1}{N}\sum_{n=1}^{N}$" in sb.latex_document(d)
    assert "mean" not in sb.latex_document(sb.derive(EXAMPLES["shopping"]()))


def test_the_mean_prints_itself():
    g = sp.Symbol("g")
    assert unicode(BatchMean(x * g)) == "meanₙ(g·x)"
    assert sp.latex(BatchMean(x + g)) == r"\frac{1}{N} \sum_{n=1}^{N} \left(g + x\right)"
    f = sp.lambdify([x], BatchMean(2 * x), "numpy")  # outside generated code: numpy.mean
    assert f(np.array([1.0, 2.0, 6.0])) == pytest.approx(6.0)


def test_the_mean_of_one_number_is_the_number():
    assert BatchMean(sp.Float(0.25)) == sp.Float(0.25)
    assert BatchMean(x).xreplace({x: sp.Integer(3)}) == 3
