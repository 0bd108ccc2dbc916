"""An independent evaluator of SymPy matrix and scalar expressions on ``autograd.numpy``.

It knows nothing of symbp's graph, rules, printers or reference module: it walks the
SymPy tree itself, one small function per SymPy class, and returns an autograd-traceable
value, so ``autograd.value_and_grad`` gives the loss and every gradient to compare with.

Semantics, stated once:

* dimension symbols (``n``) take the integers in ``dims``; every other symbol its value in
  ``env``;
* a sum or Hadamard product of terms whose shapes differ only by axes of size 1 broadcasts
  as in NumPy (``X W + b`` with ``b`` of shape ``(1, m)`` is a row broadcast, its transpose
  a column broadcast);
* ``softmax`` / ``log_softmax`` are row-wise, ``softmax_cross_entropy(Z, Y)`` is the mean
  over the rows of ``-sum_j Y_ij log softmax(Z)_ij``; ``relu'(0) = 0``.
"""

from __future__ import annotations

import autograd.numpy as anp
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from symbp.functions import (
    LeakyReLU,
    LogSoftmax,
    LogSumExp,
    ReLU,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Softplus,
)

__all__ = ["evaluate", "concrete_shape", "UnsupportedExpression"]


class UnsupportedExpression(TypeError):
    """The evaluator has no rule for this SymPy class (a gap of the reference, not of symbp)."""


def _log_softmax(z):
    shifted = z - anp.max(z, axis=1, keepdims=True)
    return shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))


def _relu(x):
    return anp.where(x > 0, x, 0.0 * x)


def _leaky(x, alpha):
    return anp.where(x > 0, x, alpha * x)


UNARY = {
    sp.exp: anp.exp, sp.log: anp.log, sp.tanh: anp.tanh, sp.sin: anp.sin, sp.cos: anp.cos,
    sp.sinh: anp.sinh, sp.cosh: anp.cosh, sp.atan: anp.arctan, sp.Abs: anp.abs,
    Sigmoid: lambda x: 1.0 / (1.0 + anp.exp(-x)),
    ReLU: _relu,
    Softplus: lambda x: anp.logaddexp(0.0, x),
}


class _Evaluator:
    def __init__(self, env, dims):
        self.env = env
        self.dims = dims
        self.memo = {}

    def __call__(self, expr):
        if expr in self.memo:
            return self.memo[expr]
        for cls in type(expr).__mro__:
            rule = RULES.get(cls)
            if rule is not None:
                value = rule(self, expr)
                self.memo[expr] = value
                return value
            if cls in UNARY and UNARY[cls] is not None:
                value = UNARY[cls](self(expr.args[0]))
                self.memo[expr] = value
                return value
        raise UnsupportedExpression(f"no reference rule for {type(expr).__name__}: {expr}")

    def size(self, dim) -> int:
        value = sp.sympify(dim).subs(self.dims)
        if not value.is_Integer:
            raise UnsupportedExpression(f"dimension {dim} is not bound by {self.dims}")
        return int(value)

    def shape(self, expr) -> tuple:
        return tuple(self.size(d) for d in expr.shape)


def concrete_shape(expr, dims) -> tuple:
    """The SymPy shape of ``expr`` with the dimension symbols replaced by ``dims``."""
    return _Evaluator({}, dims).shape(expr)


def _symbol(ev, s):
    if s in ev.dims:
        return float(ev.dims[s])
    if s in ev.env:
        return ev.env[s]
    raise UnsupportedExpression(f"symbol {s} has no value")


def _matrix_symbol(ev, s):
    value = ev.env[s]
    if anp.shape(value) != ev.shape(s):
        raise ValueError(f"{s} has value of shape {anp.shape(value)}, expected {ev.shape(s)}")
    return value


def _matmul(ev, e):
    scalar, matrices = 1.0, []
    for a in e.args:
        if getattr(a, "is_Matrix", False):
            matrices.append(ev(a))
        else:
            scalar = scalar * ev(a)
    out = matrices[0]
    for m in matrices[1:]:
        if anp.shape(out)[1] != anp.shape(m)[0]:
            raise ValueError(f"product of shapes {anp.shape(out)} and {anp.shape(m)} in {e}")
        out = anp.dot(out, m)
    return scalar * out


def _check_broadcast(values, e):
    """Check that ``values`` broadcast as in NumPy: on each axis one size, or 1."""
    shapes = [anp.shape(v) for v in values]
    for axis in (0, 1):
        if len({s[axis] for s in shapes} - {1}) > 1:
            raise ValueError(f"terms of shapes {shapes} do not broadcast in {e}")


def _matadd(ev, e):
    values = [ev(a) for a in e.args]
    _check_broadcast(values, e)
    out = values[0]
    for v in values[1:]:
        out = out + v
    return out


def _hadamard(ev, e):
    values = [ev(a) for a in e.args]
    _check_broadcast(values, e)
    out = values[0]
    for v in values[1:]:
        out = out * v
    return out


def _power(base, exponent):
    if isinstance(exponent, float) and exponent.is_integer():
        return base ** int(exponent)
    return base ** exponent


def _exponent(ev, exp):
    return int(exp) if exp.is_Integer else ev(exp)


def _hadamard_power(ev, e):
    return _power(ev(e.base), _exponent(ev, e.exp))


def _pow(ev, e):
    return _power(ev(e.base), _exponent(ev, e.exp))


def _matpow(ev, e):
    base, exp = ev(e.base), e.exp
    if not exp.is_Integer:
        raise UnsupportedExpression(f"matrix power with exponent {exp}")
    k = int(exp)
    if k < 0:
        base, k = anp.linalg.inv(base), -k
    out = anp.eye(anp.shape(base)[0])
    for _ in range(k):
        out = anp.dot(out, base)
    return out


def _elementwise(ev, e):
    fn, arg = e.function, ev(e.expr)
    if isinstance(fn, sp.Lambda):
        (var,) = fn.variables
        inner = _Evaluator({**ev.env, var: arg}, ev.dims)
        body = inner(fn.expr)
        return body + 0.0 * arg if anp.ndim(body) == 0 else body
    if fn in UNARY and UNARY[fn] is not None:
        return UNARY[fn](arg)
    raise UnsupportedExpression(f"elementwise function {fn}")


def _element(ev, e):
    parent, i, j = e.args
    return ev(parent)[ev.size(i), ev.size(j)]


def _softmax_ce(ev, e):
    z, y = ev(e.args[0]), ev(e.args[1])
    return -anp.sum(y * _log_softmax(z)) / anp.shape(z)[0]


def _log_sum_exp(ev, e):
    xs = [ev(a) for a in e.args]
    top = xs[0]
    for x in xs[1:]:
        top = anp.maximum(top, x)
    total = 0.0
    for x in xs:
        total = total + anp.exp(x - top)
    return top + anp.log(total)


def _fold(op):
    def rule(ev, e):
        values = [ev(a) for a in e.args]
        out = values[0]
        for v in values[1:]:
            out = op(out, v)
        return out
    return rule


RULES = {
    sp.Number: lambda ev, e: float(e),
    sp.NumberSymbol: lambda ev, e: float(e),
    sp.Symbol: _symbol,
    sp.MatrixSymbol: _matrix_symbol,
    sp.OneMatrix: lambda ev, e: anp.ones(ev.shape(e)),
    sp.ZeroMatrix: lambda ev, e: anp.zeros(ev.shape(e)),
    sp.Identity: lambda ev, e: anp.eye(ev.shape(e)[0]),
    sp.MatMul: _matmul,
    sp.MatAdd: _matadd,
    sp.Transpose: lambda ev, e: anp.transpose(ev(e.arg)),
    sp.HadamardProduct: _hadamard,
    sp.HadamardPower: _hadamard_power,
    sp.Inverse: lambda ev, e: anp.linalg.inv(ev(e.arg)),
    sp.MatPow: _matpow,
    sp.Trace: lambda ev, e: anp.trace(ev(e.arg)),
    MatrixElement: _element,
    ElementwiseApplyFunction: _elementwise,
    Softmax: lambda ev, e: anp.exp(_log_softmax(ev(e.args[0]))),
    LogSoftmax: lambda ev, e: _log_softmax(ev(e.args[0])),
    SoftmaxCrossEntropy: _softmax_ce,
    LeakyReLU: lambda ev, e: _leaky(ev(e.args[0]), ev(e.args[1])),
    LogSumExp: _log_sum_exp,
    sp.Add: _fold(lambda a, b: a + b),
    sp.Mul: _fold(lambda a, b: a * b),
    sp.Pow: _pow,
    sp.Max: _fold(anp.maximum),
    sp.Min: _fold(anp.minimum),
}


def evaluate(expr, env, dims):
    """The value of ``expr``: a float for a scalar, an array for a matrix expression.

    ``env`` maps each Symbol / MatrixSymbol to its value (autograd boxes welcome),
    ``dims`` each dimension symbol to an int. A 1 x 1 matrix result is returned as its
    single entry.
    """
    value = _Evaluator(env, dims)(expr)
    if getattr(expr, "is_Matrix", False) and anp.shape(value) == (1, 1):
        return value[0, 0]
    return value
