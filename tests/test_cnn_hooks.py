"""Tensors where the teaching outputs show them: explain lists and prints tensors in their N-d
shape, the graph picture labels tensor edges with it, and the elementwise vocabulary of
tensors multiplies entry by entry (also with an integer batch)."""

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.explain import teaching_values

n = sp.Symbol("n", integer=True, positive=True)


def _tiny_cnn(batch=n):
    X = sb.tensor("X", (batch, 1, 4, 4))
    K, c = sb.tensor("K", (2, 1, 3, 3)), sb.tensor("c", (2,))
    W, b = sp.MatrixSymbol("W", 8, 3), sp.MatrixSymbol("b", 1, 3)
    P = sb.max_pool2d(sb.relu(sb.conv2d(X, K, c, padding=1)), 2)
    loss = sb.softmax_cross_entropy(sb.dense(sb.flatten(P), W, b), sp.MatrixSymbol("Y", batch, 3))
    return sb.Model(loss, params=[K, c, W, b], name="tiny_cnn")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_explain_lists_tensors_by_their_nd_shape(lang):
    text = sb.explain(_tiny_cnn(), lang=lang)
    assert "K (2×1×3×3)" in text and "c (2)" in text and "X (n×1×4×4)" in text
    assert "W (8×3)" in text  # matrices as before
    assert "K (2×9)" not in text and "X (n×16)" not in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_explain_values_of_tensor_steps_in_their_nd_shape(lang):
    model = _tiny_cnn()
    text = sb.explain(model, lang=lang, values=teaching_values(model))
    lines = {line.split(" = ")[0].strip(): line for line in text.splitlines() if " = " in line}
    assert "(2×2×4×4, ‖·‖ = " in lines["C1"]      # the conv output: samples x channels x 4 x 4
    assert "(2×2×2×2, ‖·‖ = " in lines["M1"]      # pooled
    assert "(2×1×3×3, ‖·‖ = " in lines["∂L/∂K"]   # the kernel's gradient
    assert "(2×3, ‖·‖ = " in lines["Z1"]          # a matrix stays a matrix
    assert "K = (2×1×3×3, ‖·‖ = " in text


def test_explained_tensor_value_is_the_nd_array():
    model = _tiny_cnn()
    values = teaching_values(model)
    text = sb.explain(model, values=values)
    line = next(x for x in text.splitlines() if x.strip().startswith("∂L/∂c ="))
    shown = line.rsplit(" = ", 1)[1]
    assert shown.startswith("[") and not shown.startswith("[["), shown  # (2,), not a 1 x 2 matrix


def test_graph_picture_labels_tensor_edges_with_their_nd_shapes():
    dot = sb.graph_dot(_tiny_cnn())
    assert '"X" -> "C1" [label=<n×1×4×4>]' in dot
    assert '"K" -> "C1" [label=<2×1×3×3>]' in dot
    assert '"C1" -> "A1" [label=<n×2×4×4>]' in dot
    assert '"A1" -> "M1" [label=<n×2×4×4>]' in dot
    assert '"M1" -> "Z1" [label=<n×2×2×2>]' in dot
    assert '"W" -> "Z1";' in dot  # matrices stay unlabelled without values


def test_graph_picture_values_of_tensor_edges_in_their_nd_shape():
    model = _tiny_cnn()
    dot = sb.graph_dot(model, values=teaching_values(model))
    edge = next(x for x in dot.splitlines() if x.strip().startswith('"C1" -> "A1"'))
    assert "(2×2×4×4, ‖·‖ = " in edge


@pytest.mark.parametrize("batch", [3, n], ids=["integer batch", "symbolic batch"])
def test_product_of_elementwise_tensors_is_elementwise_and_matches_torch(batch):
    torch = pytest.importorskip("torch")
    A, B = sb.tensor("A", (batch, 2, 2, 2)), sb.tensor("B", (batch, 2, 2, 2))
    prod = sb.tanh(A) * sb.tanh(B)
    assert tuple(prod.shape) == (batch, 8)
    loss = sb.mse(sb.flatten(prod), sp.MatrixSymbol("Y", batch, 8))
    module = sb.compile(sb.derive(sb.Model(loss, params=[A, B], name="tanh_product")))
    rng = np.random.default_rng(0)
    params = {"A": rng.normal(size=(3, 2, 2, 2)), "B": rng.normal(size=(3, 2, 2, 2))}
    Y = rng.normal(size=(3, 8))
    value, grads = module.loss_and_grad(params, Y=Y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ref = ((torch.flatten(torch.tanh(t["A"]) * torch.tanh(t["B"]), 1) - torch.tensor(Y)) ** 2).mean()
    ref.backward()
    assert abs(float(value) - ref.item()) < 1e-12
    for k in params:
        np.testing.assert_allclose(grads[k], t[k].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_demo_trains_the_digits_cnn_to_98_percent(capsys):
    pytest.importorskip("sklearn")
    from symbp.commands import _train_digits_cnn

    _train_digits_cnn()
    out = capsys.readouterr().out
    assert "Training the digits CNN" in out
    share = float(out.split("held-out accuracy ")[1].split("%")[0])
    assert share >= 98.0, out
