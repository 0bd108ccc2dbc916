"""Hypothesis: random scalar expressions and random matrix chains match finite differences."""

import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symbp as sb

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

PARAMS = sp.symbols("c1 c2 c3")
DATA = sp.symbols("x1 x2")
UNARY = [sp.sin, sp.cos, sp.tanh, sb.sigmoid, sb.softplus, lambda u: u**2,
         lambda u: u / (1 + u**2), lambda u: sp.log(1 + u**2), lambda u: sp.sqrt(1 + u**2)]


def scalar_expressions():
    leaves = st.sampled_from([*PARAMS, *DATA, sp.Rational(1, 2), sp.Integer(3)])

    def extend(children):
        unary = st.builds(lambda f, e: f(e), st.sampled_from(UNARY), children)
        binary = st.builds(lambda op, a, b: op(a, b),
                           st.sampled_from([sp.Add, sp.Mul, lambda a, b: a - b]), children, children)
        return unary | binary
    return st.recursive(leaves, extend, max_leaves=8)


@SETTINGS
@given(scalar_expressions())
def test_random_scalar_expression_matches_finite_differences(expr):
    params = [p for p in PARAMS if p in expr.free_symbols]
    assume(params)
    model = sb.Model(expr, params=params, name="random_scalar")
    sb.check(model, "fd", rtol=1e-4)


SIZES = (2, 3)
FUNCS = [sp.tanh, sb.sigmoid, sp.sin, sb.softplus]


def matrix_expressions(shape, depth):
    """Random products, sums, transposes, elementwise maps and Hadamard products."""
    rows, cols = shape
    leaf = st.sampled_from([sp.MatrixSymbol(f"P{rows}{cols}", rows, cols),
                            sp.MatrixSymbol(f"Q{rows}{cols}", rows, cols),
                            sp.MatrixSymbol(f"D{rows}{cols}", rows, cols)])
    if depth == 0:
        return leaf
    sub = matrix_expressions(shape, depth - 1)
    transposed = matrix_expressions((cols, rows), depth - 1).map(lambda m: m.T)
    product = st.sampled_from(SIZES).flatmap(lambda k: st.tuples(
        matrix_expressions((rows, k), depth - 1), matrix_expressions((k, cols), depth - 1)
    )).map(lambda ab: ab[0] * ab[1])
    summed = st.tuples(sub, sub).map(lambda ab: ab[0] + ab[1])
    hadamard = st.tuples(sub, sub).map(lambda ab: sp.HadamardProduct(*ab))
    mapped = st.tuples(st.sampled_from(FUNCS), sub).map(lambda fm: fm[1].applyfunc(fm[0]))
    return st.one_of(leaf, transposed, product, summed, hadamard, mapped)


@SETTINGS
@given(st.sampled_from([(2, 3), (3, 2), (3, 3)]).flatmap(lambda s: matrix_expressions(s, 3)),
       st.booleans())
def test_random_matrix_chain_matches_finite_differences(expr, squared):
    if squared:
        loss = sp.Trace(expr.T * expr)
    else:
        readout = sp.MatrixSymbol("R", *expr.shape)
        loss = sp.Trace(readout.T * expr)
    params = sorted((s for s in loss.free_symbols if s.name[0] in "PQ"), key=str)
    assume(params)
    model = sb.Model(loss, params=params, name="random_chain")
    sb.check(model, "fd", rtol=1e-4)
