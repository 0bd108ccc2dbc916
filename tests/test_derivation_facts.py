"""The Derivation carries what its consumers used to read off the graph: each step's N-d
shape and block title, the node kinds present, and each parameter's initialisation.
Expected values are written by hand from the models' definitions."""

import sympy as sp

import symbp as sb
from symbp.examples import EXAMPLES
from symbp.explain import full_shapes
from symbp.fans import Init


def test_tensor_steps_and_their_adjoints_have_their_nd_shape():
    d = sb.derive(EXAMPLES["digits_cnn"]())
    n = sp.Symbol("n", integer=True, positive=True)
    shapes = {s.name: s.full_shape for s in d.steps}
    assert shapes["C1"] == shapes["C1_bar"] == (n, 32, 8, 8)  # conv2d of 8×8 images, padding 1
    assert shapes["M1"] == shapes["M1_bar"] == (n, 32, 4, 4)  # 2×2 max-pooling
    assert shapes["K_bar"] == (32, 1, 3, 3) and shapes["c_bar"] == (32,)
    assert shapes["L"] == ()
    assert d.step("C1").shape == (n, 32 * 8 * 8)  # its matrix view
    assert full_shapes(d)[d.step("M1").symbol] == (n, 32, 4, 4)


def test_the_derivation_lists_the_node_kinds_present():
    kinds = sb.derive(EXAMPLES["digits_cnn"]()).kinds
    assert {"conv2d", "max_pool2d", "flatten"} <= set(kinds) and "einsum" not in kinds
    assert "einsum" in sb.derive(EXAMPLES["transformer"]()).kinds
    assert len(kinds) == len(set(kinds))


def test_parameters_know_their_initialisation():
    cnn = sb.derive(EXAMPLES["digits_cnn"]()).init
    k, c, w, b = cnn
    assert (k.name, c.name, w.name, b.name) == ("K", "c", "W", "b")
    assert cnn[k] == Init("he", 1 * 3 * 3, 32 * 3 * 3)  # a kernel (32, 1, 3, 3) before ReLU
    assert cnn[c] == Init("zeros") and cnn[b] == Init("zeros")
    assert cnn[w] == Init("glorot", 512, 10)
    tf = {p.name: i for p, i in sb.derive(EXAMPLES["transformer"]()).init.items()}
    assert tf["g1"] == Init("ones") and tf["b1"] == Init("zeros")  # a layer norm's gain, bias
    assert tf["W1"] == Init("glorot", 32, 64)


def test_scalar_weights_take_the_fan_in_of_their_sum():
    init = {p.name: i for p, i in sb.derive(EXAMPLES["xor"]()).init.items()}
    assert init["w11"] == Init("glorot", 2, 1) and init["b1"] == Init("zeros")


def test_the_steps_closing_a_block_carry_its_title():
    d = sb.derive(EXAMPLES["transformer"]())
    titles = {s.block for s in d.forward if s.block}
    assert titles == {"layer norm", "attention weights"}
    assert d.step("H1").block == "layer norm"
