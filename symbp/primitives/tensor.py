"""N-d tensors: the symbol, ``flatten`` and its inverse ``unflatten``.

SymPy's matrix algebra knows two axes only, so a tensor of shape ``(n, C, H, W)``
is, to SymPy, the ``n x (C·H·W)`` matrix of its rows flattened in row-major order
(``torch.flatten(X, 1)``); a ``(C,)`` vector is the ``1 x C`` row. Every elementwise
rule (activations, ``+``, ``-``, Hadamard products, scalings) is the same on either
view, so the matrix rules apply unchanged. The full shape travels with the symbol
(``tensor_shape``) and with every tensor primitive (its ``spec``): generated code
holds real N-d arrays, and only ``flatten``/``unflatten`` reshape them.
"""

from __future__ import annotations

import math

import sympy as sp
from sympy.core.symbol import Str
from sympy.matrices.exceptions import ShapeError
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixExpr

from ..errors import SymbpError
from .base import Primitive, np_name, register

__all__ = ["TensorOps", "TensorSymbol", "Flatten", "Unflatten", "Rows", "Batched", "reshape",
           "BatchBroadcast", "BatchSum", "tensor_shape", "full_shape", "is_tensor",
           "matrix_view", "tensor_shape_or_none", "misaligned", "TensorElementwise",
           "explicit_value", "view_entry"]


def matrix_view(shape: tuple) -> tuple:
    """The ``(rows, cols)`` SymPy sees for a tensor of ``shape``: ``(C,)`` is ``(1, C)``,
    ``(n, C, H, W)`` is ``(n, C·H·W)``."""
    if len(shape) == 1:
        return (sp.Integer(1), sp.sympify(shape[0]))
    return (sp.sympify(shape[0]), sp.Integer(math.prod(int(d) for d in shape[1:])))


def explicit_value(expr, hints: dict):
    """What ``doit`` gives for a class whose value is its entries (``_entry``): the explicit
    matrix when every matrix argument evaluates to one, else ``expr`` rebuilt from its
    evaluated arguments (so an enclosing product or sum can go on exactly)."""
    deep = hints.get("deep", True)
    args = [a.doit(**hints) if deep and getattr(a, "is_Matrix", False) else a for a in expr.args]
    rebuilt = type(expr)(*args)
    rows, cols = (sp.sympify(k) for k in rebuilt.shape)
    mats = [a for a in args if getattr(a, "is_Matrix", False)]
    if not all(isinstance(a, sp.MatrixBase) for a in mats) or not (rows.is_Integer
                                                                   and cols.is_Integer):
        return rebuilt
    return sp.ImmutableMatrix(int(rows), int(cols), lambda i, j: rebuilt._entry(i, j))


def view_entry(x, shape: tuple, index: tuple):
    """Entry ``index`` of the tensor ``x`` of full ``shape``, read off its matrix view."""
    if len(shape) == 1:
        return x[0, index[0]]
    col = 0
    for k, size in zip(index[1:], shape[1:], strict=True):
        col = col * size + k
    return x[index[0], col]


class TensorOps:
    """``A * B`` beside a tensor is elementwise, as NumPy's ``*`` (SymPy would read a matrix
    product): both of one shape (see ``elementwise_product``)."""

    _op_priority = 12.0  # above MatrixExpr's: SymPy hands ``M * T`` to ``T.__rmul__``

    def __mul__(self, other):
        if getattr(other, "is_Matrix", False):
            return elementwise_product(self, other)
        return sp.MatMul(other, self)

    def __rmul__(self, other):
        if getattr(other, "is_Matrix", False):
            return elementwise_product(other, self)
        return sp.MatMul(other, self)


def elementwise_product(a, b):
    """``a * b`` where one is a tensor: their elementwise product (SymPy's ``HadamardProduct``,
    which also broadcasts a row over a symbolic number of rows). One sentence where the two
    full shapes differ but SymPy would see one matrix shape (an N-d tensor beside a matrix of
    its flattened shape: NumPy could not broadcast them), where SymPy refuses the shapes, and
    for a square matrix beside a 2-d tensor of its shape, where ``*`` reads as SymPy's matrix
    product as much as NumPy's elementwise one (``tr(G W)`` of a Gram tensor G computed
    ``tr(G ⊙ W)``)."""
    plain = [x for x in (a, b) if not is_tensor(x)]
    if not plain and tuple(a.shape) == tuple(b.shape):
        return sp.HadamardProduct(a, b)  # two tensors: derive names a misaligned pair
    shapes = [tensor_shape(x) for x in (a, b)]
    name = lambda x: getattr(x, "name", None) or str(x)  # noqa: E731
    mismatch = SymbpError(f"{name(a)} * {name(b)}: * beside a tensor is elementwise, but "
                          f"{name(a)} has shape {shapes[0]} and {name(b)} {shapes[1]}; write "
                          "sb.einsum(...) for a product over an axis.")
    flattened = max(map(len, shapes)) > 2 and shapes[0] != shapes[1]
    if flattened and tuple(a.shape) == tuple(b.shape):
        raise mismatch
    square = [s for x, s in zip((a, b), shapes, strict=True)
              if is_tensor(x) and len(s) == 2 and s[0] == s[1] != 1]  # a 1 x 1 product is both
    if plain and square and shapes[0] == shapes[1]:
        a_, b_ = (x.name if hasattr(x, "name") else "..." for x in (a, b))
        raise SymbpError(f"{name(a)} * {name(b)} is ambiguous: {name(plain[0])} is a square matrix, "
                         "for which * is the matrix product, beside a 2-d tensor, for which it is "
                         f"elementwise; write sb.einsum('ij,jk->ik', {a_}, {b_}) for the matrix "
                         f"product or sp.HadamardProduct({a_}, {b_}) for the elementwise one.")
    try:
        return sp.HadamardProduct(a, b)
    except ShapeError:
        raise mismatch from None


class TensorSymbol(TensorOps, sp.MatrixSymbol):
    """An N-d symbol (``sb.tensor("X", (n, 1, 8, 8))``); the batch size may be a symbol."""

    def __new__(cls, name, shape):
        name = Str(name) if isinstance(name, str) else name
        return sp.Basic.__new__(cls, name, sp.Tuple(*(sp.sympify(d) for d in shape)))

    @property
    def shape(self):
        return matrix_view(self.tensor_shape)

    @property
    def tensor_shape(self) -> tuple:
        return tuple(self.args[1])

    def doit(self, **hints):
        return self

    def _sympystr(self, printer):
        return self.name


def is_tensor(expr) -> bool:
    """Whether ``expr`` is a tensor expression (its full shape has other than two axes, or it
    is built from tensor primitives)."""
    return tensor_shape_or_none(expr) is not None


def tensor_shape_or_none(expr):
    """The full shape of the first tensor found through elementwise operations, or None."""
    stack = [expr]
    while stack:
        e = stack.pop()
        shape = getattr(e, "tensor_shape", None)
        if shape is not None:
            return tuple(shape)
        if isinstance(e, ElementwiseApplyFunction):
            stack.append(e.expr)
        elif isinstance(e, (sp.MatAdd, sp.HadamardProduct, sp.MatMul, sp.HadamardPower,
                            sp.MatPow)):
            mats = [a for a in e.args if getattr(a, "is_Matrix", False)]
            if isinstance(e, sp.MatMul) and not misaligned(mats):
                continue  # a true matrix product: no tensor below is elementwise with it
            stack.extend(reversed(mats))
    return None


def misaligned(mats) -> bool:
    """Whether no matrix product fits: ``(n, 27) (n, 27)``, SymPy's reading of ``A * B`` of
    tensors (a single matrix, ``2 T``, counts as misaligned: it is elementwise too)."""
    if len(mats) == 1:
        return True
    return any(a.shape[1] != b.shape[0] for a, b in zip(mats, mats[1:], strict=False))


class TensorElementwise(TensorOps, ElementwiseApplyFunction):
    """``f`` applied to every entry of a tensor, with ``A * B`` elementwise (see ``TensorOps``).
    (The hook: ``matalg.elementwise`` would build this class when ``is_tensor(x)``.)"""


def tensor_shape(expr) -> tuple:
    """The full shape of a tensor expression, or the matrix shape of any other matrix."""
    found = tensor_shape_or_none(expr)
    return found if found is not None else tuple(expr.shape)


def full_shape(sym) -> tuple:
    """A model symbol's shape as its arrays have it: ``()``, a matrix's or a tensor's."""
    if isinstance(sym, TensorSymbol):
        return sym.tensor_shape
    return tuple(sym.shape) if isinstance(sym, sp.MatrixSymbol) else ()


def _ints(spec) -> tuple[int, ...]:
    return tuple(int(v) for v in spec)


class Flatten(MatrixExpr):
    """``flatten(X)``: the ``(n, C·H·W)`` matrix of a tensor, row-major as ``torch.flatten(X, 1)``;
    ``spec`` is the tensor's shape after the batch axis."""

    def __new__(cls, x, spec):
        return super().__new__(cls, x, sp.Tuple(*spec))

    @property
    def shape(self):
        return self.args[0].shape

    def _latex(self, printer):
        return rf"\operatorname{{flatten}}\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer):
        return f"flatten({printer._print(self.args[0])})"

    def doit(self, **hints):  # the matrix view is the flattened tensor already
        x = self.args[0].doit(**hints)
        return x if isinstance(x, sp.MatrixBase) else Flatten(x, self.args[1])

    def _numpycode(self, printer, **kwargs):
        size = math.prod(_ints(self.args[1]))
        return f"{np_name(printer, 'reshape')}({printer._print(self.args[0])}, (-1, {size}))"


class Unflatten(TensorOps, MatrixExpr):
    """The inverse of ``flatten``: an ``(n, C·H·W)`` matrix as the ``(n, C, H, W)`` tensor."""

    def __new__(cls, g, spec):
        return super().__new__(cls, g, sp.Tuple(*spec))

    @property
    def shape(self):
        return self.args[0].shape

    @property
    def tensor_shape(self):
        return (self.shape[0], *self.args[1])

    def _latex(self, printer):
        dims = r" \times ".join(str(d) for d in self.args[1])
        return rf"\operatorname{{reshape}}_{{{dims}}}\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer):
        dims = "×".join(str(d) for d in self.args[1])
        return f"reshape[{dims}]({printer._print(self.args[0])})"

    def doit(self, **hints):
        g = self.args[0].doit(**hints)
        return g if isinstance(g, sp.MatrixBase) else Unflatten(g, self.args[1])

    def _numpycode(self, printer, **kwargs):
        dims = ", ".join(str(d) for d in _ints(self.args[1]))
        return f"{np_name(printer, 'reshape')}({printer._print(self.args[0])}, (-1, {dims}))"


register(Primitive(
    "flatten", Flatten, value=lambda node, a: Flatten(a[0], node.attr),
    shape=lambda shapes, attr: shapes[0], vjp=lambda c: (Unflatten(c.g, c.node.attr),),
    view=True, traced=True, operands=lambda e: ((e.args[0],), e.args[1])))


class Reshape(MatrixExpr):
    """``x`` read with another full shape (row-major, as ``np.reshape``): args ``(x, target,
    source)``, the full shapes after and before; the first axis may be a symbol (``n``,
    ``n T``), so the code writes it as ``-1``. ``Rows`` is the matrix, ``Batched`` the tensor."""

    view_of = 0  # the argument it is a view of (``Model.labels`` looks through it)

    def __new__(cls, x, target, source):
        return super().__new__(cls, x, sp.Tuple(*target), sp.Tuple(*source))

    @property
    def shape(self):
        return matrix_view(tuple(self.args[1]))

    def _latex(self, printer):
        dims = r" \times ".join(printer._print(d) for d in self.args[1])
        return rf"\operatorname{{reshape}}_{{{dims}}}\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer):
        dims = "×".join(printer._print(d) for d in self.args[1])
        return f"reshape[{dims}]({printer._print(self.args[0])})"

    def _entry(self, i, j, **kwargs):  # both matrix views list the entries in row-major order
        flat, cols = i * self.shape[1] + j, self.args[0].shape[1]
        return self.args[0][sp.floor(flat / cols), sp.Mod(flat, cols)]

    def doit(self, **hints):
        x = self.args[0].doit(**hints)
        if isinstance(x, sp.MatrixBase):
            return x.reshape(*self.shape)
        return type(self)(x, *self.args[1:])

    def _numpycode(self, printer, **kwargs):
        dims = ", ".join(["-1", *(str(int(d)) for d in self.args[1][1:])])
        return f"{np_name(printer, 'reshape')}({printer._print(self.args[0])}, ({dims}))"


class Rows(Reshape):
    """A tensor ``(n, T, d)`` as the matrix ``(n T, d)`` of its last axis (or ids ``(n, T)``
    as the column ``(n T, 1)``)."""

    @property
    def shape(self):
        return tuple(self.args[1])


class Batched(TensorOps, Reshape):
    """A matrix ``(n T, d)`` as the tensor ``(n, T, d)`` (the inverse of ``Rows``)."""

    @property
    def tensor_shape(self):
        return tuple(self.args[1])


def reshape(x, target, source):
    """``x`` of full shape ``source`` read as ``target`` (a reshape of a reshape is one)."""
    target, source = tuple(target), tuple(source)
    if isinstance(x, Reshape):
        x, source = x.args[0], tuple(x.args[2])
    if target == source:
        return x
    return (Rows if len(target) == 2 else Batched)(x, target, source)


class BatchBroadcast(TensorOps, MatrixExpr):
    """A ``(T, d)`` matrix repeated over a batch of ``n``: the ``(n, T, d)`` tensor."""

    def __new__(cls, p, n):
        return super().__new__(cls, p, sp.sympify(n))

    @property
    def tensor_shape(self):
        return (self.args[1], *self.args[0].shape)

    @property
    def shape(self):
        return matrix_view(self.tensor_shape)

    def _latex(self, printer):
        n, p = printer._print(self.args[1]), printer._print(self.args[0])
        return rf"\operatorname{{repeat}}_{{{n}}}\left({p}\right)"

    def _entry(self, i, j, **kwargs):  # row i of the (n, T·d) view: the flattened P
        cols = self.args[0].shape[1]
        return self.args[0][sp.floor(j / cols), sp.Mod(j, cols)]

    def _sympystr(self, printer):  # as the LaTeX's repeat_n(P)
        return f"repeat[{printer._print(self.args[1])}]({printer._print(self.args[0])})"

    def doit(self, **hints):
        return explicit_value(self, hints)

    def _numpycode(self, printer, **kwargs):
        n, (t, d) = printer._print(self.args[1]), self.args[0].shape
        return (f"{np_name(printer, 'broadcast_to')}({printer._print(self.args[0])}, "
                f"({n}, {int(t)}, {int(d)}))")


class BatchSum(MatrixExpr):
    """The sum over the batch axis of an ``(n, T, d)`` tensor: the ``(T, d)`` matrix."""

    def __new__(cls, g, rows, cols):
        return super().__new__(cls, g, sp.sympify(rows), sp.sympify(cols))

    @property
    def shape(self):
        return tuple(self.args[1:])

    def _latex(self, printer):
        return rf"\sum_{{\text{{batch}}}} {printer._print(self.args[0])}"

    def _sympystr(self, printer):
        return f"Σ_batch {printer._print(self.args[0])}"

    def _entry(self, i, j, **kwargs):  # entry (i, j) of every sequence: row b of the view
        g, cols = self.args[0], self.args[2]
        return sp.Add(*(g[b, i * cols + j] for b in range(int(g.shape[0]))))

    def doit(self, **hints):
        return explicit_value(self, hints)

    def _numpycode(self, printer, **kwargs):
        return f"{np_name(printer, 'sum')}({printer._print(self.args[0])}, axis=0)"


def _reshape_vjp(c):
    target, source = c.node.attr
    return (reshape(c.g, source, target),)


for _cls, _name in ((Rows, "rows"), (Batched, "batched")):
    register(Primitive(
        _name, _cls, value=lambda node, a, cls=_cls: cls(a[0], *node.attr),
        shape=lambda shapes, attr: matrix_view(tuple(attr[0])), vjp=_reshape_vjp, view=True,
        traced=True, operands=lambda e: ((e.args[0],), (e.args[1], e.args[2]))))

register(Primitive(
    "batch_broadcast", BatchBroadcast, value=lambda node, a: BatchBroadcast(a[0], node.attr),
    shape=lambda shapes, attr: matrix_view((attr, *shapes[0])),
    vjp=lambda c: (BatchSum(c.g, *c.a[0].shape),), traced=True,
    operands=lambda e: ((e.args[0],), e.args[1])))
register(Primitive(
    "batch_sum", BatchSum, value=lambda node, a: BatchSum(a[0], *node.attr),
    shape=lambda shapes, attr: tuple(attr),
    vjp=lambda c: (BatchBroadcast(c.g, c.a[0].tensor_shape[0]),), traced=True,
    operands=lambda e: ((e.args[0],), tuple(e.args[1:]))))


def as_rows(x):
    """``(the (n T, d) matrix of x, x's full shape)`` for a tensor of three or more axes
    (what acts on the last axis acts on these rows), else None."""
    dims = tensor_shape_or_none(x)
    if dims is None or len(dims) < 3:
        return None
    return reshape(x, (sp.Mul(*dims[:-1]), dims[-1]), dims), dims


def from_rows(m, dims):
    """The ``(n T, k)`` matrix ``m`` as the tensor of ``dims`` with last axis ``k``."""
    return reshape(m, (*dims[:-1], m.shape[1]), tuple(m.shape))
