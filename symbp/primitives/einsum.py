"""``einsum(spec, *operands)``: Einstein summation over tensors and matrices, and its VJP.

``einsum("nij,jk->nik", A, B)[n, i, k] = Σ_j A[n, i, j] B[j, k]``. The gradient of operand
``t`` is again an einsum: the upstream gradient (indices of the output) times every other
operand, summed to the indices of ``t``,

    Ā[n, i, j] = Σ_k Ḡ[n, i, k] B[j, k]   ("nik,jk->nij").

So every index of an operand must appear in the output or in another operand (else its
gradient would be a broadcast, not a product), and no operand may repeat an index (a
diagonal). The output has at least one index; a scalar is ``einsum(...)`` summed by a loss.
Like every tensor class, its SymPy shape is the output's matrix view (``tensor.py``).
"""

from __future__ import annotations

import itertools

import sympy as sp
from sympy.core.symbol import Str
from sympy.matrices.expressions.matexpr import MatrixExpr

from .base import Primitive, np_name, register
from .tensor import TensorOps, explicit_value, matrix_view, view_entry

__all__ = ["Einsum", "parse"]


def parse(spec: str) -> tuple[list[str], str]:
    """``"nij,jk->nik"`` as ``(["nij", "jk"], "nik")``."""
    inputs, output = spec.replace(" ", "").split("->")
    return inputs.split(","), output


class Einsum(TensorOps, MatrixExpr):
    """args ``(*operands, Tuple(Str(spec), Tuple(full shape of each operand)...))``."""

    def __new__(cls, *args):
        *operands, spec = args
        return MatrixExpr.__new__(cls, *operands, spec)

    @property
    def spec(self) -> str:
        return self.args[-1][0].name

    @property
    def sizes(self) -> dict:
        """index letter -> its size, read off the operands' full shapes."""
        inputs, _ = parse(self.spec)
        return {c: d for idx, shape in zip(inputs, self.args[-1][1:], strict=True)
                for c, d in zip(idx, shape, strict=True)}

    @property
    def tensor_shape(self) -> tuple:
        sizes = self.sizes
        return tuple(sizes[c] for c in parse(self.spec)[1])

    @property
    def shape(self):
        dims = self.tensor_shape
        return dims if len(dims) == 2 else matrix_view(dims)

    def _entry(self, i, j, **kwargs):
        """``Σ`` over the summed indices of the operands' product, at the output index that
        entry ``(i, j)`` of the matrix view holds (row-major)."""
        inputs, output = parse(self.spec)
        sizes, flat = self.sizes, i * self.shape[1] + j
        at = {}
        for c in reversed(output[1:]):
            flat, at[c] = sp.floor(flat / sizes[c]), sp.Mod(flat, sizes[c])
        at[output[0]] = flat
        summed = [c for c in dict.fromkeys("".join(inputs)) if c not in at]
        operands = list(zip(self.args[:-1], inputs, self.args[-1][1:], strict=True))
        terms = []
        for values in itertools.product(*(range(int(sizes[c])) for c in summed)):
            at.update(zip(summed, values, strict=True))
            terms.append(sp.Mul(*(view_entry(x, tuple(shape), tuple(at[c] for c in idx))
                                  for x, idx, shape in operands)))
        return sp.Add(*terms)

    def doit(self, **hints):
        return explicit_value(self, hints)

    def _latex(self, printer):
        inputs, output = parse(self.spec)
        summed = sorted(set("".join(inputs)) - set(output))
        factors = r" \, ".join(f"{printer._print(a)}[{', '.join(idx)}]"
                               for a, idx in zip(self.args[:-1], inputs, strict=True))
        total = rf"\sum_{{{', '.join(summed)}}} " if summed else ""
        return rf"\Big[{total}{factors}\Big]_{{{' '.join(output)}}}"

    def _sympystr(self, printer):
        args = ", ".join(printer._print(a) for a in self.args[:-1])
        return f"einsum({self.spec}, {args})"

    def _numpycode(self, printer, **kwargs):
        args = ", ".join(printer._print(a) for a in self.args[:-1])
        return f"{np_name(printer, 'einsum')}({self.spec!r}, {args})"


def spec_of(spec: str, shapes) -> sp.Tuple:
    """The ``spec`` argument of ``Einsum``: the spec string and each operand's full shape."""
    return sp.Tuple(Str(spec), *(sp.Tuple(*s) for s in shapes))


def _einsum_vjp(c):
    """Operand t's gradient: ``einsum("<out>,<others>-><t>", Ḡ, *others)``."""
    e = c.out if isinstance(c.out, Einsum) else Einsum(*c.a, c.node.attr)
    inputs, output = parse(e.spec)
    shapes = list(c.node.attr[1:])
    out_shape = e.tensor_shape
    grads = []
    for t in range(len(c.a)):
        others = [k for k in range(len(c.a)) if k != t]
        spec = ",".join([output, *(inputs[k] for k in others)]) + "->" + inputs[t]
        operands = [c.g, *(c.a[k] for k in others)]
        grads.append(Einsum(*operands, spec_of(spec, [out_shape, *(shapes[k] for k in others)])))
    return tuple(grads)


register(Primitive(
    "einsum", Einsum, value=lambda node, a: Einsum(*a, node.attr),
    shape=lambda shapes, attr: Einsum(*(sp.MatrixSymbol(f"_symbp_e{k}", 1, 1) for k in
                                         range(len(attr) - 1)), attr).shape,
    vjp=_einsum_vjp, prefix="E", traced=True, operands=lambda e: (e.args[:-1], e.args[-1])))
