"""Random shape-typed SymPy matrix expressions, for the fuzz test (``fuzz_cases``).

``Builder(rng).matrix(shape, depth)`` draws an expression of ``shape`` whose dimensions are the
symbolic batch size ``n`` or 1, 2, 3: products, sums, broadcast-only terms (``𝟙 b``, ``c 𝟙``,
``W 𝟙``, ``𝟙 M``, ``𝟙 M 𝟙``, their transposes and sums of nothing but broadcasts), NumPy-style
biases (``X W + b``), transposes, Hadamard products and powers, elementwise maps, softmax,
inverses of well-conditioned matrices, matrix powers, traces, elements and scalar
coefficients. ``Builder.tags`` counts the constructs it used.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import sympy as sp

import symbp as sb

N = sp.Symbol("n", integer=True, positive=True)
SIZES = (N, 1, 2, 3)
ONE = sp.OneMatrix

MAPS = {
    "tanh": lambda m: m.applyfunc(sp.tanh),
    "sigmoid": sb.sigmoid,
    "softplus": sb.softplus,
    "sin": lambda m: m.applyfunc(sp.sin),
    "relu": sb.relu,
    "sb_tanh": sb.tanh,
    "exp_small": lambda m: m.applyfunc(sp.Lambda(_d := sp.Dummy("u"), sp.exp(sp.tanh(_d) / 2))),
    "rational": lambda m: m.applyfunc(sp.Lambda(_e := sp.Dummy("v"), _e / (1 + _e**2))),
}


def _lambda_map(body):
    """A map written in plain SymPy, ``M.applyfunc(Lambda(x, body(x)))``."""
    return lambda m: m.applyfunc(sp.Lambda(x := sp.Dummy("x", real=True), body(x)))


MAPS.update({
    "leaky_relu": sb.leaky_relu,
    "max0": _lambda_map(lambda x: sp.Max(0, x)),
    "user_sigmoid": _lambda_map(lambda x: 1 / (1 + sp.exp(-x))),
    "user_softplus": _lambda_map(lambda x: sp.log(1 + sp.exp(x))),
    "sqrt1p": _lambda_map(lambda x: sp.sqrt(1 + x**2)),
})


class Builder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.by_shape: dict[tuple, list] = {}
        self.count = 0
        self.scalars: list = []
        self.tags: Counter = Counter()
        self.labels: list = []
        self.no_bias = 0

    def leaf(self, shape):
        pool = self.by_shape.setdefault(shape, [])
        if pool and self.rng.random() < 0.5:
            return self.rng.choice(pool)
        sym = sp.MatrixSymbol(f"A{self.count}", *shape)
        self.count += 1
        pool.append(sym)
        return sym

    def coefficient(self, depth=0):
        r = self.rng.random()
        if r < 0.45:
            self.tags["coef_rational"] += 1
            return sp.Rational(self.rng.choice([-3, -2, -1, 1, 2, 3]), self.rng.choice([1, 2, 3, 5]))
        if r < 0.65:
            self.tags["coef_data_scalar"] += 1
            return self.data_scalar()
        if r < 0.72:
            self.tags["coef_1/n"] += 1
            return 1 / N
        return self.scalar(depth)

    def data_scalar(self):
        """A scalar symbol (data, or sometimes a parameter); its values lie in [0.5, 1.5]."""
        if not self.scalars or self.rng.random() < 0.3:
            self.scalars.append(sp.Symbol(f"s{len(self.scalars)}", real=True))
        return self.rng.choice(self.scalars)

    def scalar(self, depth):
        """A scalar built from matrices: a trace, an element, or a map of one."""
        r = self.rng.random()
        if r < 0.45:
            k = self.rng.choice(SIZES)
            self.tags["trace"] += 1
            # No NumPy-style bias in a trace built inside a larger expression: SymPy's doit
            # distributes Trace(X + b) into Trace(X) + Trace(b), the trace of a 1 x k row.
            self.no_bias += 1
            value = sp.Trace(self.matrix((k, k), max(depth - 1, 0)))
            self.no_bias -= 1
        else:
            value = self.element(max(depth - 1, 0))
        if self.rng.random() < 0.3:
            self.tags["scalar_tanh"] += 1
            value = sp.tanh(value)
        return value

    def element(self, depth):
        shape = (self.rng.choice(SIZES), self.rng.choice(SIZES))
        i = self.index(shape[0])
        j = self.index(shape[1])
        if depth > 0 and self.rng.random() < 0.6:
            biases = self.tags["numpy_bias"]
            inner = self.matrix(shape, min(depth, 1), cheap=True)
            value = inner[i, j]
            # SymPy reads (X W + b)[i, j] as ... + b[i, j]: right for the broadcast only at i = j = 0
            broadcast_inside = self.tags["numpy_bias"] != biases and (i, j) != (0, 0)
            if not broadcast_inside and not any(isinstance(e, sp.Sum)
                                                for e in sp.preorder_traversal(value)):
                self.tags["element_of_expr"] += 1
                return value
        self.tags["element_of_symbol"] += 1
        return self.leaf(shape)[i, j]

    def index(self, size):
        if size == N:
            return self.rng.choice([0, 0, 0, N - 1])
        return self.rng.randrange(size)

    def matrix(self, shape, depth, cheap=False):
        """A random matrix expression of ``shape`` (``cheap``: no inverse, softmax, power)."""
        rows, cols = ("n" if d == N else "k" if d != 1 else "1" for d in shape)
        self.tags[f"shape_{rows}x{cols}" if (rows, cols) != ("k", "k") or shape[0] != shape[1]
                  else "shape_kxk_square"] += 1
        if depth <= 0 or self.rng.random() < 0.15:
            if self.rng.random() < 0.12:
                return self.broadcast(shape, 0)
            return self.leaf(shape)
        options = [c for c in CONSTRUCTS if c.applies(shape) and not (cheap and c.costly)
                   and not (self.no_bias and c.name == "numpy_bias")]
        construct = self.rng.choices(options, weights=[c.weight for c in options])[0]
        self.tags[construct.name] += 1
        return construct.build(self, shape, depth - 1)

    def broadcast(self, shape, depth):
        """A term that is nothing but a broadcast of something smaller (or of a scalar)."""
        rows, cols = shape
        kinds = ["scaled_ones", "ones_both_sides"]
        if rows != 1:
            kinds += ["row_bcast", "ones_left"]
        if cols != 1:
            kinds += ["col_bcast", "ones_right"]
        kind = self.rng.choice(kinds)
        self.tags[kind] += 1
        if kind == "scaled_ones":
            return self.coefficient(depth) * ONE(rows, cols)
        if kind == "ones_both_sides":
            left, right = self.rng.choice(SIZES), self.rng.choice(SIZES)
            return ONE(rows, left) * self.matrix((left, right), depth) * ONE(right, cols)
        if kind == "row_bcast":
            return ONE(rows, 1) * self.matrix((1, cols), depth)
        if kind == "col_bcast":
            return self.matrix((rows, 1), depth) * ONE(1, cols)
        k = self.rng.choice([s for s in SIZES if s != 1])
        if kind == "ones_left":
            return ONE(rows, k) * self.matrix((k, cols), depth)
        return self.matrix((rows, k), depth) * ONE(k, cols)


@dataclass
class _Construct:
    name: str
    weight: float
    build: object
    applies: object = lambda shape: True
    costly: bool = False


def _product(b, shape, d):
    k = b.rng.choice(SIZES)
    return b.matrix((shape[0], k), d) * b.matrix((k, shape[1]), d)


def _sum(b, shape, d):
    return sp.MatAdd(*[b.matrix(shape, d) for _ in range(b.rng.choice([2, 2, 3]))]).doit()


def _broadcast_sum(b, shape, d):
    return sp.MatAdd(*[b.broadcast(shape, d) for _ in range(b.rng.choice([2, 3]))]).doit()


def _bias(b, shape, d):
    """NumPy-style ``X W + b``: a (1, m) term added to an (n, m) one."""
    return b.matrix(shape, d) + b.matrix((1, shape[1]), d)


def _hadamard(b, shape, d):
    factors = [b.matrix(shape, d) for _ in range(b.rng.choice([2, 2, 3]))]
    if b.rng.random() < 0.4:
        b.tags["hadamard_with_broadcast"] += 1
        factors[0] = b.broadcast(shape, d)
    return sp.HadamardProduct(*factors).doit()


def _positive(b, shape, d):
    """An elementwise-positive matrix: 1 + E∘E or exp(tanh(E)/2)."""
    inner = b.matrix(shape, d)
    if b.rng.random() < 0.5:
        return ONE(*shape) + sp.HadamardPower(inner, 2)
    return MAPS["exp_small"](inner)


def _hadamard_power(b, shape, d):
    if b.rng.random() < 0.3:
        b.tags["hadamard_power_of_broadcast"] += 1
        return sp.HadamardPower(b.broadcast(shape, d), b.rng.choice([2, 3]))
    if b.rng.random() < 0.6:
        return sp.HadamardPower(b.matrix(shape, d), b.rng.choice([2, 3]))
    exponent = b.rng.choice([-1, sp.Rational(1, 2), sp.Rational(-1, 2), None])
    if exponent is None:
        b.tags["hadamard_power_data_exponent"] += 1
        exponent = b.data_scalar()
    return sp.HadamardPower(_positive(b, shape, d), exponent)


def _map(b, shape, d):
    name = b.rng.choice(sorted(MAPS))
    b.tags["map_" + name] += 1
    return MAPS[name](b.matrix(shape, d))


def _log_of_softmax(z):
    """``log(softmax(Z))`` written by hand."""
    return sb.softmax(z).applyfunc(sp.log)


def _softmax(b, shape, d):
    fn = b.rng.choice([sb.softmax, sb.log_softmax, _log_of_softmax])
    b.tags[fn.__name__] += 1
    return fn(b.matrix(shape, d))


def _inverse(b, shape, d):
    """The inverse of a well-conditioned k x k or n x n matrix (I + small, or P Pᵀ + I)."""
    k = shape[0]
    if k == N:
        b.tags["inverse_nxn"] += 1
    if b.rng.random() < 0.5:
        small = MAPS["tanh"](b.matrix(shape, d))
        inner = sp.Identity(k) + small / (5 * k)
    else:
        p = MAPS["sb_tanh"](b.matrix((k, b.rng.choice(SIZES)), d))
        inner = p * p.T + sp.Identity(k)
    return sp.Inverse(inner) if b.rng.random() < 0.7 else inner**-1


def _transpose(b, shape, d):
    if b.rng.random() < 0.3:
        b.tags["transposed_broadcast"] += 1
        return b.broadcast((shape[1], shape[0]), d).T
    return b.matrix((shape[1], shape[0]), d).T


def _square_concrete(shape):
    return shape[0] == shape[1] and shape[0] != N


def _identity_plus(b, shape, d):
    return b.matrix(shape, d) + b.coefficient(d) * sp.Identity(shape[0])


CONSTRUCTS = [
    _Construct("matmul", 3, _product),
    _Construct("add", 2, _sum),
    _Construct("broadcast", 3, lambda b, s, d: b.broadcast(s, d)),
    _Construct("broadcast_only_sum", 1.5, _broadcast_sum),
    _Construct("numpy_bias", 4, _bias, lambda s: s[0] == N),
    _Construct("transpose", 1.5, _transpose),
    _Construct("hadamard", 1.5, _hadamard),
    _Construct("hadamard_power", 1, _hadamard_power),
    _Construct("map", 2.5, _map),
    _Construct("softmax", 1, _softmax, lambda s: s[1] != 1, costly=True),
    _Construct("inverse", 3, _inverse, lambda s: s[0] == s[1], costly=True),
    _Construct("identity_plus", 1, _identity_plus, lambda s: s[0] == s[1]),
    _Construct("matpow", 1, lambda b, s, d: b.matrix(s, d) ** 2, _square_concrete, costly=True),
    _Construct("scaled", 1.5, lambda b, s, d: b.coefficient(d) * b.matrix(s, d)),
]
