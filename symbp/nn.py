"""The neural-network vocabulary of issue 12: smooth activations, normalisation, attention
and embeddings, on matrices ``(T, d)`` (rows are tokens or samples, the last axis features).

The classes they build (value, derivative, printing) live in ``symbp.primitives``
(``elementwise`` for GELU, SiLU and ELU, ``norm`` for the rest).
"""

from __future__ import annotations

import sympy as sp

from .errors import SymbpError
from .functions import _elementwise, broadcast_shape, softmax
from .matalg import hashed
from .model import as_expr
from .primitives.elementwise import ELU, SiLU
from .primitives.gaussian import GELU
from .primitives.norm import CausalMask, Embedding, InvStd, Normalize

__all__ = ["gelu", "silu", "elu", "layer_norm", "batch_norm", "attention", "embedding"]


def gelu(x):
    """The exact GELU ``x Φ(x)`` (``Φ`` the normal CDF, with ``erf``), elementwise."""
    return _elementwise(GELU, x)


def silu(x):
    """SiLU (swish) ``x σ(x)``, elementwise."""
    return _elementwise(SiLU, x)


def elu(x, alpha=1):
    """ELU: ``x`` for ``x > 0``, else ``alpha (exp(x) - 1)``, elementwise (alpha > 0)."""
    return _elementwise(ELU, x, as_expr("alpha", sp.sympify(alpha)))


def _row(name: str, v, cols) -> None:
    if not (getattr(v, "is_Matrix", False) and tuple(v.shape) == (1, cols)):
        raise SymbpError(f"{name} must be a 1 x {cols} row matrix (one entry per feature), "
                         f"got {getattr(v, 'shape', v)}.")


def _norm(what: str, x, gamma, beta, eps, axis: int):
    x = as_expr(f"the input of {what}", x)
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
    q, k, v = (as_expr(f"the {n} of attention", m) for n, m in (("queries", q), ("keys", k),
                                                                  ("values", v)))
    if not all(getattr(m, "is_Matrix", False) for m in (q, k, v)):
        raise SymbpError("attention needs matrices Q, K and V (T x d_k, T x d_k, T x d_v).")
    if q.shape[1] != k.shape[1] or k.shape[0] != v.shape[0]:
        raise SymbpError(f"attention: Q {q.shape} and K {k.shape} must share d_k, and K and V "
                         f"{v.shape} the number of keys.")
    scores = hashed(sp.MatMul(1 / sp.sqrt(q.shape[1]), q, hashed(sp.Transpose(k))))
    if causal:
        scores = hashed(CausalMask(scores))
    return hashed(sp.MatMul(softmax(scores), v))


def embedding(ids, table):
    """The rows of ``table`` (``V x d``) named by the integer ids of the ``T x 1`` data
    column ``ids``; pass the ids as an int64 array."""
    if not (getattr(ids, "is_Matrix", False) and ids.shape[1] == 1):
        raise SymbpError(f"embedding needs the ids as a T x 1 matrix (one id per row), got "
                         f"{getattr(ids, 'shape', ids)}.")
    if not getattr(table, "is_Matrix", False):
        raise SymbpError(f"embedding needs a V x d matrix table, got {table}.")
    return hashed(Embedding(ids, table))
