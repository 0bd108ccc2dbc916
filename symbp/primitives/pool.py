"""2-D max- and average-pooling over NCHW tensors: classes, backward classes and node records.

Pooling (kernel k, stride s, no padding) routes Ḡ back through each window: max-pooling to the
first maximum of the window in row-major order (as PyTorch), average-pooling to every entry,
divided by k². The helpers (spec fields, printing, exact evaluation) are ``conv.py``'s.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from .base import Primitive, register
from .conv import _at, _call, _evaluated, _explicit, _latex_op, _operands, _Spec, conv_out, runtime
from .tensor import TensorOps, matrix_view

__all__ = ["MaxPool2d", "AvgPool2d", "MaxPool2dGrad", "AvgPool2dGrad"]


class _Pool(TensorOps, _Spec, MatrixExpr):
    fields = ("C", "H", "W", "k", "stride")
    _name = ""

    def __new__(cls, *args):
        *tensors, spec = args
        return MatrixExpr.__new__(cls, *tensors, sp.Tuple(*spec))

    @property
    def out_hw(self) -> tuple[int, int]:
        s = self.spec
        return (conv_out(s["H"], s["k"], s["stride"], 0), conv_out(s["W"], s["k"], s["stride"], 0))

    @property
    def tensor_shape(self):
        return (self.args[0].shape[0], self.spec["C"], *self.out_hw)

    @property
    def shape(self):
        return matrix_view(self.tensor_shape)

    def _latex(self, printer):
        k = self.spec["k"]
        return _latex_op(printer, self._name.replace("_", ""), self.args[:1], rf"_{{{k} \times {k}}}")

    def _sympystr(self, printer):
        k = self.spec["k"]
        return f"{self._name}{k}×{k}({printer._print(self.args[0])})"

    def _numpycode(self, printer, **kwargs):
        s = self.spec
        return _call(printer, f"_{self._name}2d", self.args[:1], s["k"], s["stride"])

    def doit(self, **hints):
        s = self.spec
        return _evaluated(self, hints, lambda rows, x: runtime()[f"_{self._name}2d"](
            _explicit(x, (rows, s["C"], s["H"], s["W"])), s["k"], s["stride"]))


class MaxPool2d(_Pool):
    """``max_pool2d(X, k, stride)``: args ``(X, spec)``."""

    _name = "max_pool"


class AvgPool2d(_Pool):
    """``avg_pool2d(X, k, stride)``: args ``(X, spec)``."""

    _name = "avg_pool"


class _PoolGrad(_Pool):
    @property
    def tensor_shape(self):
        s = self.spec
        return (self.args[0].shape[0], s["C"], s["H"], s["W"])

    def _numpycode(self, printer, **kwargs):
        s = self.spec
        size = f"({s['H']}, {s['W']})"
        return _call(printer, f"_{self._name}2d_backward", self.args[:-1], size, s["k"],
                     s["stride"])

    def doit(self, **hints):
        s = self.spec
        out, full = (s["C"], *self.out_hw), (s["C"], s["H"], s["W"])
        shapes = [out, full, out]  # G, then max-pooling's X and its output M

        def compute(rows, *arrays):
            tensors = [_explicit(a, (rows, *shape)) for a, shape in zip(arrays, shapes, strict=False)]
            return runtime()[f"_{self._name}2d_backward"](*tensors, (s["H"], s["W"]), s["k"],
                                                          s["stride"])
        return _evaluated(self, hints, compute)


class MaxPool2dGrad(_PoolGrad):
    """``X̄``: ``Ḡ`` routed to the first maximum of each window; args ``(G, X, M, spec)`` where
    ``M`` is the forward output (the windows' maxima, reused rather than recomputed)."""

    _name = "max_pool"

    def _latex(self, printer):
        """Each window's gradient to its first maximum (row-major): ``[Σ_{y,x} Ḡ[n,c,y,x]
        [(h, w) = argmax of the window (y, x) of X]]``."""
        g, x = self.args[:2]
        stride = self.spec["stride"]
        at = "y, x" if stride == 1 else f"{stride} y, {stride} x"
        entry = _at(printer, x, "n", "c", r"\cdot", r"\cdot")
        window = rf"\operatorname{{argmax}}_{{({at}) + (i, j)}} {entry}"
        return (rf"\Big[\sum_{{y, x}} {_at(printer, g, 'n', 'c', 'y', 'x')} \, "
                rf"\big[(h, w) = {window}\big]\Big]_{{n c h w}}")

    def _sympystr(self, printer):
        g, x = (printer._print(a) for a in self.args[:2])
        return f"route_argmax({g}, {x})"


class AvgPool2dGrad(_PoolGrad):
    """``X̄``: ``Ḡ / k²`` spread over each window; args ``(G, spec)``."""

    _name = "avg_pool"

    def _latex(self, printer):
        """Each window's gradient shared by its k² entries."""
        s = self.spec
        at = "y" if s["stride"] == 1 else f"{s['stride']} y"
        at_x = "x" if s["stride"] == 1 else f"{s['stride']} x"
        return (rf"\Big[\frac{{1}}{{{s['k'] ** 2}}} \sum_{{y, x,\ 0 \le h - {at} < {s['k']},\ "
                rf"0 \le w - {at_x} < {s['k']}}} {_at(printer, self.args[0], 'n', 'c', 'y', 'x')}"
                rf"\Big]_{{n c h w}}")

    def _sympystr(self, printer):
        return f"spread({printer._print(self.args[0])}) / {self.spec['k'] ** 2}"


# -- records -------------------------------------------------------------------
def _pool_shape(cls):
    return lambda shapes, attr: cls(sp.MatrixSymbol("_symbp_x", shapes[0][0], 1), attr).shape


register(Primitive(
    "max_pool2d", MaxPool2d, value=lambda node, a: MaxPool2d(a[0], node.attr),
    shape=_pool_shape(MaxPool2d), vjp=lambda c: (MaxPool2dGrad(c.g, c.a[0], c.out, c.node.attr),),
    prefix="M", traced=True, operands=_operands))
register(Primitive(
    "avg_pool2d", AvgPool2d, value=lambda node, a: AvgPool2d(a[0], node.attr),
    shape=_pool_shape(AvgPool2d), vjp=lambda c: (AvgPool2dGrad(c.g, c.node.attr),),
    prefix="M", traced=True, operands=_operands))
