"""The primitive records: one home per vocabulary function, read by the whole pipeline."""

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.primitives import REGISTRY, Primitive, by_class, node_kinds, recognise, register
from symbp.text import unicode

x = sp.Symbol("x", real=True)
Z = sp.MatrixSymbol("Z", 3, 2)


def test_every_node_kind_of_the_graph_is_one_record_with_value_shape_and_rule():
    kinds = {r.name for r in node_kinds()}
    assert kinds == {"matmul", "add", "hadamard", "hpow", "scale", "transpose", "broadcast_rows",
                     "broadcast_cols", "colsum", "rowsum", "trace", "inverse", "frobenius",
                     "element", "map", "scalar", "softmax", "log_softmax", "sce", "det", "diag",
                     "slice", "block", "istd", "normalize", "causal_mask", "embedding", "kron",
                     "logdet", "conv2d", "max_pool2d", "avg_pool2d", "flatten", "einsum", "rows",
                     "batched", "batch_broadcast", "batch_sum"}
    for record in node_kinds():
        assert callable(record.value) and callable(record.shape) and callable(record.vjp)
        assert record.pair is None or REGISTRY[record.pair].pair == record.name


def test_the_rule_table_graph_sweep_and_namer_read_the_records():
    from importlib import import_module
    derive, graph, naming, rules = (import_module(f"symbp.{m}")
                                    for m in ("derive", "graph", "naming", "rules"))
    for record in node_kinds():
        assert rules.RULES[record.name] is record.vjp
    assert graph._TRANSPOSABLE == {"matmul", "add", "hadamard", "hpow", "scale", "map"}
    assert derive._INLINE == {"transpose", "broadcast_rows", "broadcast_cols", "flatten", "rows",
                              "batched"}
    assert derive._ABSORBING == {"add", "scale", "hadamard", "scalar"}
    assert naming._PREFIX == {"hadamard": "H", "hpow": "H", "trace": "t", "frobenius": "t",
                              "element": "t", "map": "A", "softmax": "P", "log_softmax": "S",
                              "det": "t", "diag": "D", "slice": "Z", "istd": "R",
                              "normalize": "H", "causal_mask": "S", "embedding": "E", "kron": "K",
                              "logdet": "t", "conv2d": "C", "max_pool2d": "M", "avg_pool2d": "M",
                              "einsum": "E"}


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        register(Primitive("ReLU", sb.functions.ReLU))


def test_relu_records_ask_for_he_initialisation():
    assert by_class(sb.relu(x)).init == "he"
    assert by_class(sb.leaky_relu(x)).init == "he"
    assert by_class(sb.sigmoid(x)).init is None


def test_max_of_zero_is_read_as_relu_and_other_forms_are_left_alone():
    assert recognise(sp.Max(0, x)) == sb.relu(x)
    assert recognise(sp.Max(1, x)) == sp.Max(1, x)
    assert recognise(sp.sin(x)) == sp.sin(x)


def test_str_stays_sympys_own_while_the_text_printer_uses_notation():
    assert str(sb.sigmoid(x)) == "Sigmoid(x)"
    assert str(sb.softmax(Z)) == "Softmax(Z)"
    assert unicode(sb.sigmoid(x)) == "σ(x)"
    assert unicode(sb.leaky_relu(x)) == "LeakyReLU_1/100(x)"
    assert unicode(sb.softmax_cross_entropy(Z, sp.MatrixSymbol("Y", 3, 2))) == "CE(softmax(Z), Y)"


@pytest.mark.parametrize(("make", "reference"), [
    (sb.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
    (sb.relu, lambda v: np.maximum(v, 0)),
    (sb.softplus, lambda v: np.log1p(np.exp(v))),
    (lambda v: sb.leaky_relu(v, sp.Rational(1, 10)), lambda v: np.where(v > 0, v, 0.1 * v)),
])
def test_the_numpy_form_on_the_class_works_in_plain_lambdify(make, reference):
    f = sp.lambdify(x, make(x), "numpy")
    v = np.array([-3.0, -0.5, 0.0, 0.25, 4.0])
    np.testing.assert_allclose(f(v), reference(v), rtol=1e-12)


def test_every_vocabulary_class_prints_in_latex_numpy_and_text():
    from symbp.primitives.algebra import Block, Det, Diag, Pad, Slice
    from symbp.primitives.conv import ChannelSum, Conv2dInputGrad, Conv2dKernelGrad
    from symbp.primitives.linalg import Kron, KronAdjoint
    from symbp.primitives.pool import AvgPool2dGrad, MaxPool2dGrad
    from symbp.primitives.tensor import Unflatten
    classes = [r.cls for r in REGISTRY.values() if r.cls.__module__.startswith("symbp.")]
    assert len(classes) == 27  # 8 + GELU, SiLU, ELU, φ, Φ, norm.py's 4, LogDet + 9 tensor ops
    backward = [Conv2dInputGrad, Conv2dKernelGrad, ChannelSum, MaxPool2dGrad, AvgPool2dGrad, Unflatten]
    for cls in [*classes, Det, Diag, Slice, Pad, Block, Kron, KronAdjoint, *backward]:
        for method in ("_latex", "_numpycode", "_sympystr"):
            assert method in vars(cls) or any(method in vars(b) for b in cls.__mro__[1:]
                                               if b.__module__.startswith("symbp.")), (cls, method)
