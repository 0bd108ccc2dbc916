"""Normalisation, attention and embeddings on matrices ``(T, d)``: classes and node records.

Rows are tokens (or samples), the last axis features. Layer norm normalises each row
(``axis=1``), batch norm each column over the rows (``axis=0``, training mode, biased
variance). Both are two nodes and plain algebra::

    R = istd(X)  = 1 / sqrt(var(X) + eps)        (T x 1 for layer norm, 1 x d for batch norm)
    H = norm(X, R) = (X - mean(X)) ⊙ R            x̂, the normalised input
    Y = H ⊙ 𝟙γ + 𝟙β                               gamma and beta by the rule table

``norm``'s rule gives the *total* derivative through ``X`` (also through ``R``) in the
textbook compact form ``R ⊙ (G - mean(G) - H ⊙ mean(G ⊙ H))``, where ``G`` is the adjoint
of ``H`` (so ``G = Y̅ ⊙ 𝟙γ``: gamma folded in by the Hadamard rule); the path through
``R`` is thereby counted, and ``R`` gets a zero contribution, which the sweep drops.

Attention is ``softmax(mask(Q Kᵀ / √d_k)) V`` built from the existing softmax and
matrix product: the rule table derives ``dP = G Vᵀ``, ``dS = P ⊙ (dP - rowsum(dP ⊙ P))``,
``dQ = dS K / √d_k``, ``dK = dSᵀ Q / √d_k``, ``dV = Pᵀ G``. The causal mask (``-inf``
above the diagonal) is one node whose rule passes the adjoint through: the softmax's
adjoint is zero exactly where ``P`` is, on the masked entries.

``embedding(ids, E)`` picks rows of ``E`` by integer ids (a ``T x 1`` data column); its
rule scatter-adds the adjoint rows into a matrix of ``E``'s shape.

Lifting to ``(n, T, d)`` tensors: every axis here is counted from the end (``axis=-1``
features, ``-2`` tokens), so only the shapes, the transposes of attention (``swapaxes``)
and the row count of batch norm (``n T``) change.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr
from sympy.matrices.expressions.special import OneMatrix, ZeroMatrix

from ..errors import SymbpError
from ..matalg import neg
from .base import Primitive, code_paren, np_name, register
from .tensor import explicit_value

__all__ = ["InvStd", "Normalize", "CausalMask", "Embedding", "StatMean", "ScatterRows"]

_AXIS_TEXT = {1: "row", 0: "col"}


def _np(printer, name: str) -> str:
    return np_name(printer, name)


def _axis_code(axis: int) -> str:
    return f"axis={-1 if axis == 1 else -2}, keepdims=True"


def _line(x, axis: int, i, j) -> list:
    """The entries of ``x`` that entry ``(i, j)``'s statistic reads: its row (``axis=1``) or
    its column (``axis=0``)."""
    rows, cols = x.shape
    size = cols if axis == 1 else rows
    if not sp.sympify(size).is_Integer:  # (𝟙ᵀ batch_norm(X) 𝟙)[0, 0] over a symbolic batch n
        raise SymbpError(f"an entry of the {'row' if axis == 1 else 'column'} statistics of {x} "
                         f"reads {size} entries, a size that is not a number; sum the normalised "
                         f"matrix M as a whole, sp.Trace(sp.OneMatrix({cols}, {rows}) * M), not "
                         "entry by entry.")
    if axis == 1:
        return [x[i, k] for k in range(int(cols))]
    return [x[k, j] for k in range(int(rows))]


def _mean(values: list):
    return sp.Add(*values) / len(values)


class _Stat(MatrixExpr):
    """A statistic of ``X`` along ``axis`` (1: each row, 0: each column), kept as a column
    (``T x 1``) or a row (``1 x d``)."""

    @property
    def axis(self) -> int:
        return int(self.args[-1])

    def doit(self, **hints):
        return explicit_value(self, hints)

    @property
    def shape(self):
        rows, cols = self.args[0].shape
        return (rows, sp.Integer(1)) if self.axis == 1 else (sp.Integer(1), cols)


class InvStd(_Stat):
    """``1 / sqrt(var(X) + eps)`` along ``axis`` (biased variance)."""

    def __new__(cls, x, eps, axis):
        return super().__new__(cls, x, sp.sympify(eps), sp.Integer(axis))

    def _latex(self, printer):
        x, eps = (printer._print(a) for a in self.args[:2])
        return (rf"\left(\operatorname{{var}}_{{\text{{{_AXIS_TEXT[self.axis]}}}}}\left({x}\right)"
                rf" + {eps}\right)^{{-1/2}}")

    def _entry(self, i, j, **kwargs):
        line = _line(self.args[0], self.axis, i, j)
        mean = _mean(line)
        return 1 / sp.sqrt(_mean([(v - mean) ** 2 for v in line]) + self.args[1])

    def _sympystr(self, printer):
        x, eps = (printer._print(a) for a in self.args[:2])
        return f"1/√(var_{_AXIS_TEXT[self.axis]}({x}) + {eps})"

    def _numpycode(self, printer, **kwargs):
        x, eps = self.args[:2]
        var = f"{_np(printer, 'var')}({printer._print(x)}, {_axis_code(self.axis)})"
        return f"(1 / {_np(printer, 'sqrt')}({var} + {printer._print(eps)}))"


class StatMean(_Stat):
    """``mean(M)`` along ``axis``, broadcast back over it (shape of ``M``): what the
    compact backward passes of the norms read."""

    def __new__(cls, m, axis):
        return super().__new__(cls, m, sp.Integer(axis))

    @property
    def shape(self):
        return self.args[0].shape

    def _latex(self, printer):
        axis, m = _AXIS_TEXT[self.axis], printer._print(self.args[0])
        return rf"\operatorname{{mean}}_{{\text{{{axis}}}}}\left({m}\right)"

    def _sympystr(self, printer):
        return f"mean_{_AXIS_TEXT[self.axis]}({printer._print(self.args[0])})"

    def _entry(self, i, j, **kwargs):
        return _mean(_line(self.args[0], self.axis, i, j))

    def _numpycode(self, printer, **kwargs):
        return f"{_np(printer, 'mean')}({printer._print(self.args[0])}, {_axis_code(self.axis)})"


class Normalize(MatrixExpr):
    """``x̂ = (X - mean(X)) ⊙ R`` along ``axis``, with ``R = InvStd(X, eps, axis)``."""

    def __new__(cls, x, r, axis):
        return super().__new__(cls, x, r, sp.Integer(axis))

    @property
    def shape(self):
        return self.args[0].shape

    @property
    def axis(self) -> int:
        return int(self.args[2])

    def _entry(self, i, j, **kwargs):
        x, r = self.args[:2]
        scale = r[i, 0] if self.axis == 1 else r[0, j]
        return (x[i, j] - _mean(_line(x, self.axis, i, j))) * scale

    def doit(self, **hints):
        return explicit_value(self, hints)

    def _latex(self, printer):
        x, r = (printer._print(a) for a in self.args[:2])
        return (rf"\left({x} - \operatorname{{mean}}_{{\text{{{_AXIS_TEXT[self.axis]}}}}}"
                rf"\left({x}\right)\right) \odot {r}")

    def _sympystr(self, printer):
        x, r = (printer._print(a) for a in self.args[:2])
        return f"({x} - mean_{_AXIS_TEXT[self.axis]}({x})) ⊙ {r}"

    def _numpycode(self, printer, **kwargs):
        x, r = self.args[:2]
        code = printer._print(x)
        mean = f"{_np(printer, 'mean')}({code}, {_axis_code(self.axis)})"
        return f"(({code} - {mean}) * {code_paren(printer, r)})"


def _normalize_vjp(c):
    """The total derivative through ``X`` (also through ``R``) in compact form."""
    r, axis, h, g = c.a[1], int(c.node.attr), c.out, c.g
    inner = sp.MatAdd(g, neg(StatMean(g, axis)), neg(sp.HadamardProduct(h, StatMean(
        sp.HadamardProduct(g, h), axis))))
    return sp.HadamardProduct(_broadcast(r, h.shape), inner), ZeroMatrix(*r.shape)


def _broadcast(stat, shape):
    """A ``T x 1`` column or ``1 x d`` row spread to ``shape`` with a ones factor."""
    rows, cols = shape
    if stat.shape[1] == 1 and cols != 1:
        return sp.MatMul(stat, OneMatrix(1, cols))
    if stat.shape[0] == 1 and rows != 1:
        return sp.MatMul(OneMatrix(rows, 1), stat)
    return stat


def _istd_vjp(c):
    """Zero: ``norm``'s rule already counts the path through ``R`` (never reached: the
    sweep drops the zero contribution ``norm`` gives ``R``)."""
    return (ZeroMatrix(*c.a[0].shape),)


class CausalMask(MatrixExpr):
    """``S`` with ``-inf`` above the diagonal (token ``i`` sees tokens ``j <= i``); with
    ``batched`` the ``(n, T, T)`` tensor of ``n`` sequences' scores, masked alike."""

    def __new__(cls, s, batched=0):
        return super().__new__(cls, s, sp.Integer(int(batched)))

    @property
    def tensor_shape(self):
        if not self.args[1]:
            raise AttributeError("a matrix mask has no tensor shape")
        t = sp.sqrt(self.shape[1])
        return (self.shape[0], t, t)

    @property
    def shape(self):
        return self.args[0].shape

    def _entry(self, i, j, **kwargs):  # the batched view: row i, column j = T t + s
        row, col = i, j
        if self.args[1]:
            row, col = sp.floor(j / self.tensor_shape[-1]), sp.Mod(j, self.tensor_shape[-1])
        return sp.Piecewise((self.args[0][i, j], sp.Le(col, row)), (-sp.oo, True))

    def doit(self, **hints):
        return explicit_value(self, hints)

    def _latex(self, printer):
        return rf"\operatorname{{mask}}\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer):
        return f"mask({printer._print(self.args[0])})"

    def _numpycode(self, printer, **kwargs):
        s = printer._print(self.args[0])
        rows, cols = (printer._print(k) for k in self.shape[-2:])
        if self.args[1]:
            rows = cols = printer._print(self.tensor_shape[-1])
        keep = f"{_np(printer, 'tri')}({rows}, {cols}, dtype=bool)"
        return f"{_np(printer, 'where')}({keep}, {s}, -{_np(printer, 'inf')})"


class Embedding(MatrixExpr):
    """Rows of ``E`` (``V x d``) picked by the integer ids of a ``T x 1`` column."""

    index_args = {0: 1}  # argument 0 holds row indices of argument 1 (to draw as integers)

    def __new__(cls, ids, table):
        return super().__new__(cls, ids, table)

    @property
    def shape(self):
        return (self.args[0].shape[0], self.args[1].shape[1])

    def _entry(self, i, j, **kwargs):  # onehot(ids) E: the row an id names, zero for no row
        ids, table = self.args
        key = ids[i, 0]
        if key.is_Number and key == int(key) and 0 <= int(key) < table.shape[0]:
            return table[int(key), j]
        return sp.Add(*(sp.KroneckerDelta(key, v) * table[v, j]
                        for v in range(int(table.shape[0]))))

    def doit(self, **hints):
        return explicit_value(self, hints)

    def _latex(self, printer):
        ids, table = (printer._print(a) for a in self.args)
        return rf"{table}\left[{ids}\right]"

    def _sympystr(self, printer):
        ids, table = (printer._print(a) for a in self.args)
        return f"{table}[{ids}]"

    def _numpycode(self, printer, **kwargs):
        ids, table = (printer._print(a) for a in self.args)
        return f"{code_paren(printer, self.args[1])}[{_np(printer, 'asarray')}({ids}[:, 0], dtype=int)]"


class ScatterRows(MatrixExpr):
    """``onehot(ids)ᵀ G``: the rows of ``G`` added into the rows their ids name (``V x d``)."""

    def __new__(cls, ids, g, rows):
        return super().__new__(cls, ids, g, sp.sympify(rows))

    @property
    def shape(self):
        return (self.args[2], self.args[1].shape[1])

    def _entry(self, i, j, **kwargs):  # the rows of G whose id is i, added
        ids, g = self.args[:2]
        return sp.Add(*(sp.KroneckerDelta(ids[t, 0], i) * g[t, j]
                        for t in range(int(ids.shape[0]))))

    def doit(self, **hints):
        return explicit_value(self, hints)

    def _latex(self, printer):
        ids, g = (printer._print(a) for a in self.args[:2])
        return rf"\operatorname{{onehot}}\left({ids}\right)^{{\top}} {g}"

    def _sympystr(self, printer):
        ids, g = (printer._print(a) for a in self.args[:2])
        return f"onehot({ids})ᵀ {g}"

    def _numpycode(self, printer, **kwargs):
        ids, g = self.args[:2]
        on = f"**_on({printer._print(ids)})"  # on the ids' device
        arange = f"{_np(printer, 'arange')}({printer._print(self.args[2])}, {on})"
        grad = code_paren(printer, g)  # a step's name: the one-hot matrix takes its dtype
        onehot = f"{_np(printer, 'astype')}({printer._print(ids)} == {arange}, {grad}.dtype)"
        return f"({onehot}.T @ {grad})"


def _mask_vjp(c):
    """The adjoint passes through: the softmax above it has a zero adjoint exactly on the
    masked entries (where its probabilities are zero)."""
    return (c.g,)


def _embedding_vjp(c):
    ids, table = c.a
    return ZeroMatrix(*ids.shape), ScatterRows(ids, c.g, table.shape[0])


def _stat_operands(e):
    return (e.args[0],), (e.args[1], int(e.args[2]))


def _istd_shape(shapes, attr):
    rows, cols = shapes[0]
    return (rows, sp.Integer(1)) if attr[1] == 1 else (sp.Integer(1), cols)


register(Primitive("istd", InvStd, value=lambda node, a: InvStd(a[0], *node.attr),
                   shape=_istd_shape, vjp=_istd_vjp, prefix="R", traced=True,
                   operands=_stat_operands))
register(Primitive("normalize", Normalize, value=lambda node, a: Normalize(a[0], a[1], node.attr),
                   shape=lambda shapes, attr: shapes[0], vjp=_normalize_vjp, prefix="H",
                   traced=True, operands=lambda e: (e.args[:2], int(e.args[2])),
                   block=lambda attr: "layer norm" if attr == 1 else "batch norm"))
register(Primitive("causal_mask", CausalMask, value=lambda node, a: CausalMask(a[0], node.attr),
                   shape=lambda shapes, attr: shapes[0], vjp=_mask_vjp, prefix="S", traced=True,
                   operands=lambda e: ((e.args[0],), int(e.args[1]))))
register(Primitive("embedding", Embedding, value=lambda node, a: Embedding(*a),
                   shape=lambda shapes, attr: (shapes[0][0], shapes[1][1]), vjp=_embedding_vjp,
                   prefix="E", traced=True))
