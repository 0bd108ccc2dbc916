"""Tensors and convolutional layers: the design's example end to end, shape errors, pooling
ties, elementwise arithmetic on tensors, initialisation and the printed forms."""

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.examples import EXAMPLES

torch = pytest.importorskip("torch")
F = torch.nn.functional
n = sp.Symbol("n", integer=True, positive=True)


def _design_model():
    X = sb.tensor("X", (n, 1, 8, 8))
    K1, c1 = sb.tensor("K1", (8, 1, 3, 3)), sb.tensor("c1", (8,))
    H = sb.relu(sb.conv2d(X, K1, c1, stride=1, padding=1))
    P = sb.max_pool2d(H, 2)
    W, b, Y = sp.MatrixSymbol("W", 128, 10), sp.MatrixSymbol("b", 1, 10), sp.MatrixSymbol("Y", n, 10)
    loss = sb.softmax_cross_entropy(sb.dense(sb.flatten(P), W, b), Y)
    return sb.Model(loss, params=[K1, c1, W, b], name="tiny_cnn")


@pytest.mark.parametrize("reference", ["torch", "autograd", "jax", "fd"])
def test_design_example_matches_every_reference(reference):
    pytest.importorskip({"fd": "numpy"}.get(reference, reference))
    report = sb.check(_design_model(), reference=reference, rtol=1e-5 if reference == "fd" else 1e-10)
    assert report.ok


def test_tensor_shapes_follow_torch():
    X, K = sb.tensor("X", (n, 1, 8, 8)), sb.tensor("K", (8, 1, 3, 3))
    assert sb.tensors.shape(sb.conv2d(X, K, padding=1)) == (n, 8, 8, 8)
    assert sb.tensors.shape(sb.conv2d(X, K, stride=5)) == (n, 8, 2, 2)
    assert sb.tensors.shape(sb.avg_pool2d(sb.relu(sb.conv2d(X, K, padding=1)), 2)) == (n, 8, 4, 4)
    assert sb.tensors.shape(sb.max_pool2d(X, 3, stride=1)) == (n, 1, 6, 6)
    assert sb.flatten(sb.max_pool2d(sb.conv2d(X, K, padding=1), 2)).shape == (n, 128)


def test_batch_dimension_stays_symbolic_and_is_read_from_the_data():
    module = sb.compile(sb.derive(_design_model()))
    assert module.DIMS == ["n"]
    params = module.init_params(rng=0)
    for rows in (1, 5):
        data = module.random_data(rng=1, samples=rows)
        assert data["X"].shape == (rows, 1, 8, 8)
        loss, grads = module.loss_and_grad(params, **data)
        assert np.isfinite(loss) and grads["K1"].shape == (8, 1, 3, 3) and grads["c1"].shape == (8,)


def test_kernel_gets_he_init_with_fan_in_of_channels_times_kernel_area():
    module = sb.compile(sb.derive(EXAMPLES["digits_cnn"]()))
    kernels = np.concatenate([module.init_params(rng=s)["K"].ravel() for s in range(20)])
    assert kernels.std() == pytest.approx(np.sqrt(2.0 / 9), rel=0.05)  # fan-in 1 * 3 * 3
    assert not module.init_params(rng=0)["c"].any()  # the conv bias starts at zero


def test_input_of_the_wrong_rank_is_refused_naming_it():
    module = sb.compile(sb.derive(_design_model()))
    params, data = module.init_params(rng=0), module.random_data(rng=1, samples=2)
    with pytest.raises(ValueError, match=r"X has shape \(2, 64\)"):
        module.loss(params, X=data["X"].reshape(2, 64), Y=data["Y"])


@pytest.mark.parametrize("build, message", [
    (lambda: sb.conv2d(sb.tensor("X", (n, 3, 8, 8)), sb.tensor("K", (4, 2, 3, 3))),
     r"conv2d: the kernel K of shape \(4, 2, 3, 3\) takes 2 input channels but X of shape "
     r"\(n, 3, 8, 8\) has 3\."),
    (lambda: sb.conv2d(sb.tensor("X", (n, 1, 4, 4)), sb.tensor("K", (2, 1, 7, 7)), padding=1),
     r"the kernel's height 7 is larger than the padded input's height 6\."),
    (lambda: sb.conv2d(sb.tensor("X", (n, 1, 8, 8)), sb.tensor("K", (2, 1, 3, 3)), stride=2),
     r"the output height \(8 - 3\) / 2 \+ 1 is not an integer"),
    (lambda: sb.max_pool2d(sb.tensor("X", (n, 1, 5, 4)), 2),
     r"max_pool2d of X \(n, 1, 5, 4\) with kernel 2: the output height"),
    (lambda: sb.conv2d(sb.tensor("X", (n, 1, 8, 8)), sb.tensor("K", (2, 1, 3, 3)),
                       sb.tensor("b", (3,))),
     r"the bias b has shape \(3,\) but the kernel K has 2 output channels"),
    (lambda: sb.conv2d(sp.MatrixSymbol("X", n, 64), sb.tensor("K", (2, 1, 3, 3))),
     r"the input of conv2d X has shape \(n, 64\); it must be an NCHW tensor"),
    (lambda: sb.tensor("X", (n, n, 8, 8)), r"axis 1 must be a positive integer"),
    (lambda: sb.max_pool2d(sb.tensor("X", (n, 1, 4, 4)), 0), r"kernel size is 0"),
])
def test_shape_errors_are_one_sentence_naming_tensors_and_shapes(build, message):
    with pytest.raises(sb.SymbpError, match=message):
        build()


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_like_torch():
    X = sb.tensor("X", (1, 1, 4, 4))
    P = sb.max_pool2d(X, 2)
    Y = sp.MatrixSymbol("Y", 1, 4)
    module = sb.compile(sb.derive(sb.Model(sb.mse(sb.flatten(P), Y), params=[X])))
    x = np.array([[[[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 2.0, 2.0],
                    [3.0, 0.0, 5.0, 5.0], [0.0, 3.0, 5.0, 5.0]]]])
    y = np.zeros((1, 4))
    _, grads = module.loss_and_grad({"X": x}, Y=y)
    tx = torch.tensor(x, requires_grad=True)
    ((F.max_pool2d(tx, 2).flatten(1) - torch.tensor(y)) ** 2).mean().backward()
    np.testing.assert_array_equal(grads["X"], tx.grad.numpy())
    assert np.count_nonzero(grads["X"]) == 4  # one entry per window, though every window ties


def test_elementwise_arithmetic_of_same_shape_tensors_matches_torch():
    X = sb.tensor("X", (3, 2, 5, 5))
    K1, K2 = sb.tensor("K1", (3, 2, 3, 3)), sb.tensor("K2", (3, 2, 3, 3))
    A, B = sb.conv2d(X, K1), sb.conv2d(X, K2)
    T = sb.sigmoid(A + B) * A - 2 * B + sp.HadamardProduct(sb.tanh(A), sb.tanh(B))
    Y = sp.MatrixSymbol("Y", 3, 27)
    model = sb.Model(sb.mse(sb.flatten(T), Y), params=[K1, K2, X])
    for reference in ("torch", "autograd"):
        assert sb.check(model, reference=reference, rtol=1e-10).ok


def test_product_of_two_activations_of_a_batch_of_any_size_is_elementwise():
    X = sb.tensor("X", (n, 2, 5, 5))
    K = sb.tensor("K", (3, 2, 3, 3))
    A = sb.conv2d(X, K)
    T = sb.sigmoid(A) * sb.tanh(A) + sb.tanh(A) * sb.tanh(A)  # SymPy reads T * T as T**2
    model = sb.Model(sb.mse(sb.flatten(T), sp.MatrixSymbol("Y", n, 27)), params=[K])
    for reference in ("torch", "autograd"):
        assert sb.check(model, reference=reference, rtol=1e-10).ok


def test_conv_backward_prints_as_the_transposed_convolution_and_the_correlation():
    d = sb.derive(_design_model())
    text = str(d)
    assert "M1_bar = reshape[8×4×4](Z1_bar Wᵀ)" in text
    assert "A1_bar = route_argmax(M1_bar, A1)" in text
    assert "K1_bar = corr(X, C1_bar)" in text
    source = sb.generate(d)
    assert "C1 = _conv2d(xp, X, K1, c1, 1, 1)" in source
    assert "K1_bar = _conv2d_backward_kernel(xp, X, C1_bar, (3, 3), 1, 1)" in source
    assert "c1_bar = xp.sum(C1_bar, axis=(0, 2, 3))" in source
    assert "def _max_pool2d_backward(" in source


def test_modules_without_tensors_carry_no_tensor_helpers():
    assert "_conv2d" not in sb.generate(sb.derive(EXAMPLES["mlp"]()))


def test_digits_cnn_reaches_98_percent_held_out_accuracy_across_seeds():
    pytest.importorskip("sklearn")
    from symbp.examples.data import TRAINING, digits_images

    module = sb.compile(sb.derive(EXAMPLES["digits_cnn"]()))
    train, test = digits_images()
    assert len(test["X"]) * 3 == pytest.approx(len(train["X"]), abs=3)  # a 75/25 split
    for seed in (0, 1, 2):
        params = module.init_params(rng=seed)
        module.fit(params, train, optimizer="adam", seed=seed, verbose=False,
                   **TRAINING["digits_cnn"])
        accuracy = np.mean(module.predict(params, X=test["X"]).argmax(1) == test["Y"].argmax(1))
        assert accuracy >= 0.98, (seed, accuracy)


def _tiny_cnn():
    X = sb.tensor("X", (2, 1, 4, 4))
    K, c = sb.tensor("K", (2, 1, 3, 3)), sb.tensor("c", (2,))
    P = sb.max_pool2d(sb.relu(sb.conv2d(X, K, c, padding=1)), 2)
    W, b, Y = sp.MatrixSymbol("W", 8, 3), sp.MatrixSymbol("b", 1, 3), sp.MatrixSymbol("Y", 2, 3)
    return sb.Model(sb.softmax_cross_entropy(sb.dense(sb.flatten(P), W, b), Y),
                    params=[K, c, W, b], name="tiny_cnn")


def test_explain_numbers_of_a_tiny_conv_net_are_torchs():
    from symbp.explain import step_values

    d = sb.derive(_tiny_cnn())
    rng = np.random.default_rng(3)
    values = {"X": rng.normal(size=(2, 1, 4, 4)).round(1), "K": rng.normal(size=(2, 1, 3, 3)).round(1),
              "c": np.array([0.1, -0.2]), "W": rng.normal(size=(8, 3)).round(1),
              "b": np.zeros((1, 3)), "Y": np.eye(3)[[0, 2]]}
    env = step_values(d, {d.model.symbols[[s.name for s in d.model.symbols].index(k)]: v
                          for k, v in values.items()})
    t = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    z = F.max_pool2d(torch.relu(F.conv2d(t["X"], t["K"], t["c"], padding=1)), 2).flatten(1) @ t["W"] + t["b"]
    loss = -(t["Y"] * torch.log_softmax(z, 1)).sum() / 2
    loss.backward()
    assert float(env[d.loss]) == pytest.approx(loss.item(), rel=1e-12)
    grad_k = np.array(env[d.gradient_symbols["K"]].tolist(), dtype=float).reshape(2, 1, 3, 3)
    np.testing.assert_allclose(grad_k, t["K"].grad.numpy(), rtol=1e-12, atol=1e-14)
    for lang, word in (("en", "route_argmax"), ("zh", "route_argmax")):
        assert word in sb.explain(d, lang=lang, values=True)


def test_latex_writes_the_conv_backward_and_pooling_in_index_notation():
    tex = sb.derive(_tiny_cnn()).latex()
    assert (r"\overline{K} &= \Big[\sum_{n, y, x} \overline{C}_{1}[n, o, y, x] \, "
            r"X[n, c, y + i - 1, x + j - 1]\Big]_{o c i j}") in tex
    assert (r"\big[(h, w) = \operatorname{argmax}_{(2 y, 2 x) + (i, j)} "
            r"A_{1}[n, c, \cdot, \cdot]\big]") in tex
    assert r"\overline{c} &= \Big[\sum_{n, y, x} \overline{C}_{1}[n, o, y, x]\Big]_{o}" in tex


def test_latex_of_the_input_gradient_is_the_full_correlation_with_the_kernel():
    X, K = sb.tensor("X", (2, 1, 5, 5)), sb.tensor("K", (1, 1, 3, 3))
    Y = sp.MatrixSymbol("Y", 2, 4)
    tex = sb.derive(sb.Model(sb.mse(sb.flatten(sb.conv2d(X, K, stride=2)), Y), params=[X, K])).latex()
    assert (r"\Big[\sum_{o, i, j,\ 2 y + i = h,\ 2 x + j = w} K[o, c, i, j] \, "
            r"\overline{C}_{1}[n, o, y, x]\Big]_{n c h w}") in tex


def test_graph_lists_tensor_shapes():
    text = str(sb.derive(_design_model()).graph)
    assert "conv2d(%0, %1, %2) [(1, 8, 8, 8, 3, 3, 1, 1)]  (n, 8, 8, 8)" in text
    assert "param c1  (8,)" in text


def test_einsum_over_tensors_and_matrices_matches_torch_and_autograd():
    A, W, v = sb.tensor("A", (n, 3, 4)), sp.MatrixSymbol("W", 4, 5), sb.tensor("v", (5,))
    H = sb.einsum("nik,k->ni", sb.tanh(sb.einsum("nij,jk->nik", A, W)), v)
    model = sb.Model(sb.mse(H, sp.MatrixSymbol("Y", n, 3)), params=[W, v])
    for reference in ("torch", "autograd"):
        assert sb.check(model, reference=reference, rtol=1e-10).ok
    d = sb.derive(model)
    assert "W_bar = einsum(nik,nij->jk, E1_bar, A)" in str(d)
    assert r"\overline{W} &= \Big[\sum_{i, n} \overline{E}_{1}[n, i, k] \, A[n, i, j]\Big]_{j k}" in d.latex()


def test_einsum_gradient_of_a_tensor_operand_matches_torch():
    X, K = sb.tensor("X", (2, 3, 4, 4)), sb.tensor("K", (5, 3))
    Z = sb.flatten(sb.einsum("nchw,oc->nohw", X, K))  # a 1x1 convolution
    model = sb.Model(sb.mse(Z, sp.MatrixSymbol("Y", 2, 80)), params=[X, K])
    assert sb.check(model, reference="torch", rtol=1e-10).ok


@pytest.mark.parametrize("args, message", [
    (("ij,jk", "A", "B"), r"must name the output explicitly"),
    (("ij,jk->ik", "A"), r"has 2 operands but 1 were given"),
    (("ij,kl->ik", "A", "B"), r"the index j of operand 1 .* is in no other operand"),
    (("ii->i", "S"), r"repeats an index"),
    (("ij,jk->ik", "A", "A"), r"the index j of 'ij,jk->ik' is 4 long in one operand but 3"),
])
def test_einsum_errors_name_the_spec_and_operands(args, message):
    mats = {"A": sp.MatrixSymbol("A", 3, 4), "B": sp.MatrixSymbol("B", 4, 2), "S": sp.MatrixSymbol("S", 3, 3)}
    spec, *names = args
    with pytest.raises(sb.SymbpError, match=message):
        sb.einsum(spec, *(mats[k] for k in names))


def test_lenet_benchmark_workload_agrees_with_torch_eager():
    from benchmarks.frameworks import agrees, make_torch
    from benchmarks.models import Workload, setup

    w = Workload("LeNet-5 conv 1x12x12", "cnn", 3, {"channels": 1, "size": 12, "classes": 4})
    module, params, data = setup(w)
    assert params["K1"].shape == (6, 1, 5, 5) and params["K2"].shape == (16, 6, 5, 5)
    assert agrees(module.loss_and_grad(params, **data), make_torch(w, params, data)())


def test_lesson_page_of_a_tiny_conv_net_steps_through_pooling():
    html = sb.lesson_html(sb.derive(_tiny_cnn()), values=True)
    assert "route_argmax" in html and "conv2d" in html


@pytest.mark.parametrize("combine, how", [(lambda a, b: a + b, "added"),
                                          (lambda a, b: a * b, "multiplied")])
def test_tensors_of_different_shapes_with_equal_matrix_views_are_refused(combine, how):
    A, B = sb.tensor("A", (n, 2, 4, 4)), sb.tensor("B", (n, 4, 2, 4))
    model = sb.Model(sb.mse(sb.flatten(combine(A, B)), sp.MatrixSymbol("Y", n, 32)), params=[A])
    with pytest.raises(sb.SymbpError, match=rf"the tensors A of shape \(n, 2, 4, 4\) and B of "
                                            rf"shape \(n, 4, 2, 4\) are {how} entry by entry"):
        sb.derive(model)


def test_conv_bias_must_be_a_vector_of_output_channels():
    X, K = sb.tensor("X", (n, 1, 8, 8)), sb.tensor("K", (2, 1, 3, 3))
    with pytest.raises(sb.SymbpError, match=r"the bias b has shape \(1, 2\) .* a tensor of shape \(2,\)"):
        sb.conv2d(X, K, sp.MatrixSymbol("b", 1, 2))
    assert sb.tensors.shape(sb.conv2d(X, K, 2 * sb.tensor("c", (2,)))) == (n, 2, 6, 6)
