"""The neural-network vocabulary of issue 12: smooth activations, normalisation, attention
and embeddings, on matrices ``(T, d)`` (rows are tokens or samples, the last axis features)
and on tensors ``(n, T, d)`` of ``n`` sequences: what acts on the last axis acts on the
``(n T, d)`` matrix of the tensor's rows (``as_rows``), attention per sequence with
``einsum``; ``add`` broadcasts a row or a ``(T, d)`` matrix over such a tensor.

The classes they build (value, derivative, printing) live in ``symbp.primitives``
(``elementwise`` for GELU, SiLU and ELU, ``norm`` for the rest).
"""

from __future__ import annotations

import sympy as sp

from .errors import SymbpError
from .functions import _elementwise, _spread, broadcast_shape, explicit, softmax
from .matalg import hashed
from .model import as_expr
from .primitives.elementwise import ELU, SiLU
from .primitives.gaussian import GELU
from .primitives.norm import CausalMask, Embedding, InvStd, Normalize
from .primitives.tensor import BatchBroadcast, as_rows, from_rows, reshape, tensor_shape_or_none
from .tensors import einsum

__all__ = ["gelu", "silu", "elu", "layer_norm", "batch_norm", "attention", "embedding", "add"]


def gelu(x):
    """The exact GELU ``x Φ(x)`` (``Φ`` the normal CDF, with ``erf``), elementwise."""
    return _elementwise(GELU, x)


def silu(x):
    """SiLU (swish) ``x σ(x)``, elementwise."""
    return _elementwise(SiLU, x)


def elu(x, alpha=1):
    """ELU: ``x`` for ``x > 0``, else ``alpha (exp(x) - 1)``, elementwise (alpha > 0)."""
    return _elementwise(ELU, x, as_expr("the alpha of elu", alpha))


def _row(name: str, v, cols) -> None:
    if not (getattr(v, "is_Matrix", False) and tuple(v.shape) == (1, cols)):
        raise SymbpError(f"{name} must be a 1 x {cols} row matrix (one entry per feature), "
                         f"got {getattr(v, 'shape', v)}.")


def _norm(what: str, x, gamma, beta, eps, axis: int):
    x = explicit(as_expr(f"the input of {what}", x))
    eps = as_expr(f"the eps of {what}", eps)
    if not (eps.is_number and eps.is_positive):
        raise SymbpError(f"the eps of {what} must be a positive number, got {eps}.")
    seq = as_rows(x)
    if seq is not None:  # (n, T, d): the statistics of each of the n T rows, or over them
        return from_rows(_norm(what, seq[0], gamma, beta, eps, axis), seq[1])
    if not getattr(x, "is_Matrix", False):
        raise SymbpError(f"{what} needs a (T, d) matrix input, got the scalar {x}.")
    rows, cols = broadcast_shape(x)
    _row(f"the gamma of {what}", gamma, cols)
    _row(f"the beta of {what}", beta, cols)
    r = hashed(InvStd(x, eps, axis))
    h = hashed(Normalize(x, r, axis))
    ones = sp.OneMatrix(rows, 1)
    return hashed(sp.MatAdd(sp.MatMul(ones, beta), sp.HadamardProduct(h, sp.MatMul(ones, gamma))))


def layer_norm(x, gamma, beta, eps=1e-5):
    """Layer norm over each row (the last axis): ``x̂ ⊙ 𝟙γ + 𝟙β``, ``x̂`` the row standardised
    with its biased variance plus ``eps``; ``gamma`` and ``beta`` are ``1 x d`` rows."""
    return _norm("layer_norm", x, gamma, beta, eps, 1)


def batch_norm(x, gamma, beta, eps=1e-5):
    """Batch norm in training mode: each column standardised over the rows (batch mean and
    biased variance plus ``eps``), then ``⊙ 𝟙γ + 𝟙β``."""
    return _norm("batch_norm", x, gamma, beta, eps, 0)


def attention(q, k, v, causal=False):
    """``softmax(Q Kᵀ / √d_k) V`` for one sequence (``T x d_k``, ``T x d_k``, ``T x d_v``);
    ``causal=True`` masks the scores above the diagonal with ``-inf``."""
    q, k, v = (explicit(as_expr(f"the {n} of attention", m))
               for n, m in (("queries", q), ("keys", k), ("values", v)))
    if not all(getattr(m, "is_Matrix", False) for m in (q, k, v)):
        raise SymbpError("attention needs matrices Q, K and V (T x d_k, T x d_k, T x d_v).")
    shapes = [tensor_shape_or_none(m) for m in (q, k, v)]
    if any(s is not None and len(s) == 3 for s in shapes):
        return _batched_attention(q, k, v, shapes, causal)
    if q.shape[1] != k.shape[1] or k.shape[0] != v.shape[0]:
        raise SymbpError(f"attention: Q {q.shape} and K {k.shape} must share d_k, and K and V "
                         f"{v.shape} the number of keys.")
    scores = hashed(sp.MatMul(1 / sp.sqrt(q.shape[1]), q, hashed(sp.Transpose(k))))
    if causal:
        scores = hashed(CausalMask(scores))
    return hashed(sp.MatMul(softmax(scores), v))


def _batched_attention(q, k, v, shapes, causal):
    """Attention per sequence of ``(n, T, d)`` tensors: scores ``(n, T, T)`` by ``einsum``,
    the softmax over the last axis on their ``(n T, T)`` rows."""
    if not all(s is not None and len(s) == 3 for s in shapes):
        raise SymbpError(f"attention: Q, K and V must all be (n, T, d) tensors or all matrices, "
                         f"got the shapes {[s or m.shape for s, m in zip(shapes, (q, k, v), strict=True)]}.")
    (n, tq, dk), (nk, tk, dk2), (nv, tv, _) = shapes
    if dk != dk2 or tk != tv or not n == nk == nv:
        raise SymbpError(f"attention: Q {shapes[0]} and K {shapes[1]} must share n and d_k, and "
                         f"K and V {shapes[2]} n and the number of keys.")
    scores = hashed(sp.MatMul(1 / sp.sqrt(dk), einsum("ntd,nsd->nts", q, k)))
    if causal:
        scores = hashed(CausalMask(scores, 1))
    rows, dims = as_rows(scores)
    return einsum("nts,nsd->ntd", from_rows(softmax(rows), dims), v)


def add(x, y):
    """``x + y`` with NumPy's broadcasting of a ``(1, d)`` row, a ``(d,)`` tensor or a ``(T, d)``
    matrix over an ``(n, T, d)`` tensor ``x`` (where SymPy refuses the sum); else ``x + y``."""
    x, y = explicit(as_expr("the first term of add", x)), explicit(as_expr("the second term of add", y))
    if getattr(x, "is_Matrix", False) and as_rows(x) is None and as_rows(y) is not None:
        x, y = y, x  # the tensor first: the row or matrix broadcasts over it
    seq = as_rows(x) if getattr(y, "is_Matrix", False) else None
    if seq is None or tensor_shape_or_none(y) == seq[1]:
        if getattr(x, "is_Matrix", False) and getattr(y, "is_Matrix", False) and x.shape != y.shape:
            return _row_broadcast(x, y)
        # kept as one sum of two terms (``x + y`` would flatten a residual ``(a + b) + c``, and the
        # graph would compute ``a + b`` again instead of reusing it)
        return hashed(sp.MatAdd(x, y)) if getattr(x, "is_Matrix", False) else x + y
    rows, dims = seq
    if tuple(y.shape) == (1, dims[-1]):
        return from_rows(hashed(sp.MatAdd(rows, sp.MatMul(sp.OneMatrix(rows.shape[0], 1), y))),
                         dims)
    if len(dims) == 3 and tuple(y.shape) == tuple(dims[1:]):
        return hashed(sp.MatAdd(x, BatchBroadcast(y, dims[0])))
    raise SymbpError(f"add: {y} of shape {tuple(y.shape)} does not broadcast over {x} of shape "
                     f"{dims}; give a (1, {dims[-1]}) row or a {tuple(dims[1:])} matrix.")


def _row_broadcast(x, y):
    """``x + 𝟙 y`` (or ``𝟙 x + y``) for a ``(1, d)`` row beside an ``(n, d)`` matrix, as NumPy
    broadcasts it; else one sentence."""
    for big, row in ((x, y), (y, x)):
        if tuple(row.shape) == (1, big.shape[1]):
            ones = _spread(row, *big.shape)
            return hashed(sp.MatAdd(big, ones) if big is x else sp.MatAdd(ones, big))
    raise SymbpError(f"add: {x} of shape {tuple(x.shape)} and {y} of shape {tuple(y.shape)} do not "
                     f"broadcast; give two matrices of one shape, or a (1, d) row beside an (n, d) "
                     f"matrix.")


def embedding(ids, table):
    """The rows of ``table`` (``V x d``) named by the integer ids of the ``T x 1`` data
    column ``ids`` (or of the ``n x T`` data matrix ``ids``: an ``(n, T, d)`` tensor); pass
    the ids as an int64 array."""
    if getattr(ids, "is_Matrix", False) and ids.shape[1] != 1 and getattr(table, "is_Matrix", False):
        n, t = ids.shape
        col = reshape(ids, (n * t, 1), (n, t))
        return from_rows(hashed(Embedding(col, table)), (n, t, table.shape[1]))
    if not (getattr(ids, "is_Matrix", False) and ids.shape[1] == 1):
        raise SymbpError(f"embedding needs the ids as a T x 1 matrix (one id per row), got "
                         f"{getattr(ids, 'shape', ids)}.")
    if not getattr(table, "is_Matrix", False):
        raise SymbpError(f"embedding needs a V x d matrix table, got {table}.")
    return hashed(Embedding(ids, table))
