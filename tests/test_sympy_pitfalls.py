"""Regression tests for the places where ``sympy.diff`` fails on networks."""

import ast
import sys

import numpy as np
import sympy as sp
from conftest import assert_matches, matrices, n

import symbp as sb
from symbp.examples.models import scalar_net

X, Y, W1, b1, W2, b2 = matrices("X Y W1 b1 W2 b2", X=(n, 4), Y=(n, 2), W1=(4, 5), b1=(1, 5),
                                W2=(5, 2), b2=(1, 2))


def tanh_mlp_error():
    H = (X * W1 + sp.OneMatrix(n, 1) * b1).applyfunc(sp.tanh)
    return H * W2 + sp.OneMatrix(n, 1) * b2 - Y


def test_squared_loss_of_one_hidden_layer_net_derives():
    # sympy 1.14: ValueError: Permutation size must be the length of the shape of expr
    model = sb.Model(sb.mse(sb.dense(sb.sigmoid(sb.dense(X, W1, b1)), W2, b2), Y),
                     params=[W1, b1, W2, b2])
    assert_matches(model, ["autograd"])


def test_trace_loss_of_tanh_mlp_has_correctly_shaped_gradients():
    # sympy 1.14: Trace(E.T*E).diff(W1) has a term of the transposed shape
    E = tanh_mlp_error()
    model = sb.Model(sp.Trace(E.T * E) / n, params=[W1, b1, W2, b2])
    d = sb.derive(model)
    for p in model.params:
        assert d.gradients[p].shape == p.shape
    assert_matches(model, ["fd", "autograd"])


def test_trace_loss_computes_the_network_once():
    E = tanh_mlp_error()
    d = sb.derive(sb.Model(sp.Trace(E.T * E) / n, params=[W1, b1, W2, b2]))
    products = [s for s in d.forward if "@" in sb.generate(d) and s.expr.has(sp.MatMul)]
    source = sb.generate(d).split("def loss(")[1].split("def loss_and_grad")[0]
    assert source.count("X @ W1") == 1
    assert "W1.T @ X.T" not in source and ".T @" not in source.split("L =")[0]
    assert len([s for s in d.forward if s.expr.has(sp.tanh)]) == 1
    assert products


def test_trace_plus_one_gradient_is_identity_not_zero():
    # sympy 1.14: (Trace(E)+1).diff(E) silently returns 0
    E = sp.MatrixSymbol("E", 3, 3)
    d = sb.derive(sb.Model(sp.Trace(E) + 1, params=[E]))
    assert d.gradients[E] == sp.Identity(3)
    _, grads = sb.compile(d).loss_and_grad({"E": np.ones((3, 3))})
    np.testing.assert_array_equal(grads["E"], np.eye(3))


def test_matrix_element_gradient_is_a_unit_matrix_not_zero():
    # sympy 1.14: M[1, 1].diff(M) silently returns 0
    M = sp.MatrixSymbol("M", 3, 3)
    d = sb.derive(sb.Model(M[1, 1], params=[M]))
    _, grads = sb.compile(d).loss_and_grad({"M": np.zeros((3, 3))})
    expected = np.zeros((3, 3))
    expected[1, 1] = 1
    np.testing.assert_array_equal(grads["M"], expected)


def test_generated_code_has_no_sympy_array_forms_and_runs():
    # sympy 1.14 prints PermuteDims/ArrayDiagonal and Lambda(...) that lambdify cannot run
    model = sb.Model(sb.mse(sb.dense(sb.sigmoid(sb.dense(X, W1, b1)), W2, b2), Y),
                     params=[W1, b1, W2, b2])
    source = sb.generate(sb.derive(model))
    for word in ("Lambda", "PermuteDims", "ArrayDiagonal", "ArrayTensorProduct", "einsum"):
        assert word not in source
    imports = [node for node in ast.walk(ast.parse(source))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = {alias.name for node in imports for alias in node.names}
    lazy = {"array_api_compat"}  # imported inside the runtime, where installed, for other arrays
    assert "numpy" in names and names - {"numpy"} - lazy <= sys.stdlib_module_names


def test_scalar_net_gradient_costs_a_constant_times_the_forward_pass():
    # per-parameter sympy.diff of the whole loss swells (667k operations for 16-32-1)
    d = sb.derive(scalar_net(8, 16))
    forward = sum(sp.count_ops(s.expr) for s in d.forward)
    backward = sum(sp.count_ops(s.expr) for s in d.backward)
    assert backward <= 3 * forward
    assert_matches(d.model, ["autograd"])


def test_deep_network_derives_without_recursion_error():
    H = sp.MatrixSymbol("X", n, 3)
    params = []
    for k in range(200):
        W, b = sp.MatrixSymbol(f"W{k}", 3, 3), sp.MatrixSymbol(f"b{k}", 1, 3)
        params += [W, b]
        H = sb.sigmoid(sb.dense(H, W, b))
    model = sb.Model(sb.mse(H, sp.MatrixSymbol("Y", n, 3)), params=params, name="deep")
    d = sb.derive(model)
    assert len(d.forward) == 2 * 200 + 2
    assert_matches(model, ["autograd"], rtol=1e-6)
