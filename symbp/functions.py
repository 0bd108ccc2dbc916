"""The activation and loss vocabulary: the public helpers that build it.

Every helper takes a scalar SymPy expression, a matrix expression (applied
elementwise through ``ElementwiseApplyFunction``), or, where it makes sense,
a list of scalars. The helpers build their nodes directly, never through
SymPy's ``+``/``*``, which re-run ``doit()`` over the whole tree and make a
deep network quadratic to build.

The classes they build (value, derivative, printing) live in ``symbp.primitives``.

Conventions (the only place they are stated):

* ``relu'(0) = 0`` and ``leaky_relu'(0) = alpha``, as in PyTorch.
* ``softmax``, ``log_softmax`` and ``softmax_cross_entropy`` work row-wise on
  an ``n x k`` matrix: each row is one sample, each column one class.
* ``softmax_cross_entropy(Z, Y)`` is the mean over the ``n`` rows of
  ``-sum_j Y_ij log softmax(Z)_ij``; its gradient ``(softmax(Z) ⊙ (Y 𝟙) 𝟙ᵀ - Y) / n``
  is exact for any labels (for one-hot rows it is ``(softmax(Z) - Y) / n``).
* ``mse(P, Y)`` is the mean over all entries of ``(P - Y)^2``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .errors import SymbpError
from .matalg import elementwise, hashed
from .model import as_expr
from .primitives.elementwise import LeakyReLU, LogSumExp, ReLU, Sigmoid, Softplus
from .primitives.rowwise import LogSoftmax, Softmax, SoftmaxCrossEntropy
from .primitives.tensor import as_rows, from_rows, tensor_shape_or_none

__all__ = [
    "Sigmoid", "ReLU", "LeakyReLU", "Softplus", "LogSumExp",
    "Softmax", "LogSoftmax", "SoftmaxCrossEntropy",
    "sigmoid", "relu", "leaky_relu", "softplus", "tanh", "softmax", "log_softmax",
    "softmax_cross_entropy", "mse", "dense", "is_matrix", "elementwise", "broadcast", "broadcast_shape",
]


def is_matrix(expr) -> bool:
    """True for a SymPy matrix expression or explicit matrix."""
    return bool(getattr(expr, "is_Matrix", False))


def _refuse_function_of_matrix(what: str, *values) -> None:
    """``sp.tanh(M)`` is no matrix to SymPy: say how to apply it elementwise instead."""
    for x in values:
        if isinstance(x, sp.Function) and len(x.args) == 1 and is_matrix(x.args[0]):
            f, m = x.func.__name__, x.args[0]
            ours = f" or sb.{f}({m})" if f == "tanh" else ""
            raise SymbpError(f"{what}: {x} applies the SymPy function {f} to the matrix {m} as a "
                             f"whole; apply it elementwise with {m}.applyfunc(sp.{f}){ours}.")


def _elementwise(cls, x, *extra):
    """Apply a scalar Function class to a scalar, a matrix or a list."""
    if isinstance(x, Sequence) and not isinstance(x, str):
        return [_elementwise(cls, v, *extra) for v in x]
    x = as_expr(f"the argument of {cls.__name__}", x)
    _refuse_function_of_matrix(cls.__name__.lower(), x)
    if is_matrix(x):
        d = sp.Dummy("d", real=True)
        return elementwise(sp.Lambda(d, cls(d, *extra)), x)
    return hashed(cls(x, *extra))


def sigmoid(x):
    """Logistic sigmoid, elementwise on a matrix."""
    return _elementwise(Sigmoid, x)


def relu(x):
    """Rectified linear unit ``max(0, x)``, elementwise on a matrix."""
    return _elementwise(ReLU, x)


def leaky_relu(x, alpha=None):
    """Leaky ReLU with negative slope ``alpha`` (default 1/100)."""
    return _elementwise(LeakyReLU, x, sp.Rational(1, 100) if alpha is None else as_expr("alpha", alpha))


def softplus(x):
    """``log(1 + exp(x))``, elementwise on a matrix."""
    return _elementwise(Softplus, x)


def tanh(x):
    """Hyperbolic tangent, elementwise on a matrix."""
    return _elementwise(sp.tanh, x)


def _logit_list(z, what: str) -> list:
    if isinstance(z, Sequence) and not isinstance(z, str) and len(z) >= 2:
        return [as_expr(f"a logit of {what}", v) for v in z]
    raise SymbpError(
        f"{what} needs an n x k matrix or a list of at least two scalar logits, got {z!r}."
    )


def softmax(z):
    """Row-wise softmax of a matrix (of an (n, T, V) tensor: over its last axis), or the
    softmax of a list of scalars."""
    _refuse_function_of_matrix("softmax", z)
    if is_matrix(z):
        return _over_rows(Softmax, z)
    zs = _logit_list(z, "softmax")
    lse = LogSumExp(*zs)
    return [sp.exp(v - lse) for v in zs]


def log_softmax(z):
    """Row-wise log-softmax of a matrix (of an (n, T, V) tensor: over its last axis), or of
    a list of scalar logits."""
    _refuse_function_of_matrix("log_softmax", z)
    if is_matrix(z):
        return _over_rows(LogSoftmax, z)
    zs = _logit_list(z, "log_softmax")
    lse = LogSumExp(*zs)
    return [v - lse for v in zs]


def _over_rows(kind, z):
    """``kind`` (a row-wise map) of a matrix, or of a tensor's rows (its last axis)."""
    seq = as_rows(z)
    if seq is None:
        return hashed(kind(z))
    return from_rows(hashed(kind(seq[0])), seq[1])


def broadcast(shapes) -> tuple | None:
    """NumPy's broadcast of symbolic shapes (per axis the size other than 1), or None
    where two terms disagree on an axis."""
    out = []
    for dims in zip(*shapes, strict=True):
        sizes = list(dict.fromkeys(d for d in dims if d != 1))
        if len(sizes) > 1:
            return None
        out.append(sizes[0] if sizes else sp.Integer(1))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def broadcast_shape(m) -> tuple:
    """The shape of the matrix expression ``m`` with NumPy-style broadcasting in its sums.

    SymPy reports a sum's shape from its first term, so ``b + X W`` with ``b`` of shape
    (1, k) claims (1, k), and so does every product, map or transpose around it. A size
    other than 1 is never wrong that way, so only the axes of size 1 are looked into.
    Cached: an unrolled recurrence of 1-wide states reads each earlier state from several
    terms, and its expression, walked as a tree, is exponential in the number of steps.
    """
    shape = tuple(m.shape)
    if 1 not in shape:
        return shape
    if isinstance(m, (sp.MatAdd, sp.HadamardProduct)):
        return broadcast([broadcast_shape(a) for a in m.args]) or shape  # a mismatch: the tracer says
    if isinstance(m, sp.MatMul):
        mats = [a for a in m.args if getattr(a, "is_Matrix", False)]
        return broadcast_shape(mats[0])[0], broadcast_shape(mats[-1])[1]
    if isinstance(m, sp.Transpose):
        return broadcast_shape(m.arg)[::-1]
    if isinstance(m, (sp.HadamardPower, sp.MatPow)):  # also Inverse
        return broadcast_shape(m.args[0])
    if isinstance(m, ElementwiseApplyFunction):
        return broadcast_shape(m.expr)
    if isinstance(m, (Softmax, LogSoftmax)):
        return broadcast_shape(m.args[0])
    return shape


def explicit(m):
    """``m`` with its broadcasts written out (``X W - b`` as ``X W - 𝟙 b``), so that SymPy's own
    ``shape`` of it is the broadcast one (it reads a sum's shape from the first term, and
    ``-b`` sorts first): what a function reading ``.shape`` of its argument needs."""
    if isinstance(m, sp.MatAdd):  # also where SymPy reads the right shape now: see _spread_sum
        return _spread_sum(m, *broadcast_shape(m))
    if not getattr(m, "is_Matrix", False) or tuple(m.shape) == broadcast_shape(m):
        return m
    if isinstance(m, sp.HadamardProduct):
        rows, cols = broadcast_shape(m)
        return hashed(type(m)(*(_spread(explicit(a), rows, cols) for a in m.args)))
    if isinstance(m, ElementwiseApplyFunction):
        return hashed(ElementwiseApplyFunction(m.function, explicit(m.expr)))
    if isinstance(m, (sp.MatMul, sp.Transpose, sp.HadamardPower)):
        return hashed(type(m)(*(explicit(a) for a in m.args)))
    return m


def _spread_sum(m, rows, cols):
    """The sum ``m`` with every row or column term spread to ``(rows, cols)``, in nested sums and
    their multiples too: ``(X W + b) + (X W + b)`` reads (n, k) as written, but SymPy flattens it
    to ``2 b + 2 X W`` (a (1, k) shape: its first term's) as soon as anything calls ``doit``."""
    if isinstance(m, sp.MatAdd):
        args = [_spread_sum(a, rows, cols) for a in m.args]
        return m if args == list(m.args) else hashed(sp.MatAdd(*args))
    matrices = [a for a in m.args if getattr(a, "is_Matrix", False)] if isinstance(m, sp.MatMul) else ()
    if len(matrices) == 1 and isinstance(matrices[0], sp.MatAdd):  # 2 (X W + b)
        inner = _spread_sum(matrices[0], rows, cols)
        return m if inner is matrices[0] else \
            hashed(sp.MatMul(*(inner if a is matrices[0] else a for a in m.args)))
    return _spread(explicit(m), rows, cols)


def _spread(term, rows, cols):
    """``term`` broadcast to ``(rows, cols)`` with ones: ``𝟙 b`` for a row, ``c 𝟙ᵀ`` for a column."""
    if term.shape[0] == 1 and rows != 1:
        term = sp.MatMul(sp.OneMatrix(rows, 1), term)
    if term.shape[1] == 1 and cols != 1:
        term = sp.MatMul(term, sp.OneMatrix(1, cols))
    return term


def _check_same_shape(what: str, a, b) -> None:
    if broadcast_shape(a) != broadcast_shape(b):
        raise SymbpError(
            f"{what}: the prediction {a} has shape {broadcast_shape(a)} but the target {b} has "
            f"shape {broadcast_shape(b)}; they must match."
        )
    full = [tensor_shape_or_none(m) or tuple(broadcast_shape(m)) for m in (a, b)]
    if full[0] != full[1]:  # (n, T·d) beside (n, T, d): NumPy would broadcast them, wrongly
        raise SymbpError(f"{what}: the prediction {a} has shape {full[0]} but the target {b} has "
                         f"shape {full[1]}; they must match (flatten the tensor, or reshape the "
                         "matrix with sb.tensor).")


def softmax_cross_entropy(z, y):
    """Cross-entropy of ``softmax(z)`` against labels ``y``, mean over rows."""
    _refuse_function_of_matrix("softmax_cross_entropy", z, y)
    if is_matrix(z) or is_matrix(y):
        if not (is_matrix(z) and is_matrix(y)):
            raise SymbpError("softmax_cross_entropy needs both logits and labels as matrices.")
        _check_same_shape("softmax_cross_entropy", z, y)
        seq, target = as_rows(z), as_rows(y)
        if seq is not None and target is not None:  # (n, T, V): the mean over the n T rows
            return hashed(SoftmaxCrossEntropy(seq[0], target[0]))
        return hashed(SoftmaxCrossEntropy(z, y))
    zs = _logit_list(z, "softmax_cross_entropy")
    ys = [as_expr("a label of softmax_cross_entropy", v) for v in y]
    if len(ys) != len(zs):
        raise SymbpError(
            f"softmax_cross_entropy: {len(zs)} logits but {len(ys)} labels; they must match."
        )
    lse = LogSumExp(*zs)
    return -sp.Add(*[yv * (zv - lse) for zv, yv in zip(zs, ys, strict=True)])


def mse(p, y):
    """Mean squared error over all entries (matrix) or of one scalar pair."""
    _refuse_function_of_matrix("mse", p, y)
    if is_matrix(p) or is_matrix(y):
        if not (is_matrix(p) and is_matrix(y)):
            raise SymbpError("mse needs both prediction and target as matrices.")
        _check_same_shape("mse", p, y)
        err = hashed(sp.MatAdd(p, hashed(sp.MatMul(sp.Integer(-1), y))))
        rows, cols = broadcast_shape(p)
        square = hashed(sp.MatMul(hashed(sp.Transpose(err)), err))
        return hashed(sp.Trace(square)) / (rows * cols)
    if isinstance(p, Sequence) and not isinstance(p, str):
        pairs = list(zip(p, y, strict=True))
        return sp.Add(*[(a - b) ** 2 for a, b in pairs]) / len(pairs)
    return (as_expr("the prediction of mse", p) - as_expr("the target of mse", y)) ** 2


def _dense_scalars(x, w, b):
    """``[sum_i x_i w_ij + b_j for j]`` for lists of scalars (w indexed [i][j])."""
    if len(w) != len(x):
        raise SymbpError(f"dense: {len(x)} inputs but the weight table has {len(w)} rows.")
    width = len(w[0])
    if b is not None and len(b) != width:
        raise SymbpError(f"dense: the weight table has {width} columns but {len(b)} biases.")
    out = []
    for j in range(width):
        terms = [x[i] * w[i][j] for i in range(len(x))]
        if b is not None:
            terms.append(b[j])
        out.append(sp.Add(*terms))
    return out


def dense(x, w, b=None):
    """Affine layer ``X W + 1 b``: the 1 x k bias ``b`` is broadcast over rows.

    >>> import sympy as sp
    >>> n = sp.Symbol("n")
    >>> X, W, b = sp.MatrixSymbol("X", n, 2), sp.MatrixSymbol("W", 2, 3), sp.MatrixSymbol("b", 1, 3)
    >>> dense(X, W, b)
    X*W + 1*b
    """
    if isinstance(x, Sequence) and not isinstance(x, str):
        return _dense_scalars(list(x), w, b)
    _refuse_function_of_matrix("dense", x, w, b)
    seq = as_rows(x) if is_matrix(x) else None
    if seq is not None:  # an (n, T, d) tensor: on its last axis, as torch.nn.Linear
        return from_rows(dense(seq[0], w, b), seq[1])
    if not (is_matrix(x) and is_matrix(w)):
        raise SymbpError("dense needs matrices X and W (or lists of scalars).")
    rows, cols = broadcast_shape(x)
    if cols != w.shape[0]:
        raise SymbpError(
            f"dense: {x} has shape {(rows, cols)} and {w} has shape {w.shape}; the columns of "
            f"{x} ({cols}) must equal the rows of {w} ({w.shape[0]})."
        )
    xw = hashed(sp.MatMul(x, w))
    if b is None:
        return xw
    if not is_matrix(b) or b.shape != (1, w.shape[1]):
        shape = getattr(b, "shape", "a scalar")
        raise SymbpError(
            f"dense: the bias {b} has shape {shape} but must be a row of shape (1, {w.shape[1]})."
        )
    # The bias term first: SymPy takes a sum's shape from its first term, recursively,
    # so this keeps the shape of a deep network O(1) instead of a walk down every layer.
    return hashed(sp.MatAdd(sp.MatMul(sp.OneMatrix(rows, 1), b), xw))
