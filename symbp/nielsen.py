"""Nielsen's four equations of backpropagation, read off a derivation's steps.

In a multilayer perceptron, a chain of affine layers ``Z_l = A_{l-1} W_l + 1 b_l``
(``A_0`` the data) each followed by an elementwise activation ``A_l = f(Z_l)``,
the adjoint of ``Z_l`` IS Nielsen's error ``delta_l = dL/dZ_l``. ``nielsen_layers``
finds those layers in the forward steps and reads, from the backward steps:

* BP1 / BP2: ``delta_l`` as the derivation computes it, with the adjoints between
  ``delta_{l+1}`` and ``delta_l`` substituted (the activation's adjoint
  ``A_l_bar = delta_{l+1} W_{l+1}^T``), so ``delta_l = (delta_{l+1} W_{l+1}^T) ⊙ f'(Z_l)``;
  for the last layer the output error (``(P - Y)/n`` after a fused softmax
  cross-entropy, ``A_bar ⊙ f'(Z_L)`` otherwise);
* BP3: ``dL/db_l = 1^T delta_l`` (the gradient step of ``b_l``);
* BP4: ``dL/dW_l = A_{l-1}^T delta_l`` (the gradient step of ``W_l``).

The samples are rows (Nielsen's are columns), hence the transposes move.
Nothing is hard-coded per example: a model that is not such a chain (shared
weights as in an RNN, tied weights, one layer only) gives ``[]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .ir import Derivation
from .latexprint import MathPrinter, align, symbol_latex
from .naming import latex_name

__all__ = ["NielsenLayer", "nielsen_layers", "nielsen_latex"]


@dataclass(frozen=True)
class NielsenLayer:
    """One affine layer ``Z_l = A_{l-1} W_l + 1 b_l`` and its backprop equations."""

    index: int  # l, from 1 (input side) to L (output side)
    z: sp.Basic  # the step symbol Z_l
    input: sp.Basic  # A_{l-1}: the data for l = 1, else the activation of Z_{l-1}
    weight: sp.Basic  # W_l (a parameter)
    bias: sp.Basic  # b_l (a parameter)
    delta: sp.Basic  # the adjoint symbol of Z_l (Z_l_bar): Nielsen's delta_l
    delta_expr: sp.Basic  # delta_l over delta_{l+1} and forward values (BP1 for l = L, else BP2)
    bias_grad: sp.Basic  # BP3: the expression of b_l's gradient step (over delta_l)
    weight_grad: sp.Basic  # BP4: the expression of W_l's gradient step (over delta_l)


def _affine(expr, params: set) -> tuple | None:
    """``(input, W, b)`` when ``expr`` is ``input W + 1 b`` with W, b parameters."""
    if not isinstance(expr, sp.MatAdd) or len(expr.args) != 2:
        return None
    product, bias = sorted(expr.args, key=lambda a: isinstance(a.args[0], sp.OneMatrix))
    if not (isinstance(product, sp.MatMul) and isinstance(bias, sp.MatMul)
            and len(product.args) == 2 and len(bias.args) == 2
            and isinstance(bias.args[0], sp.OneMatrix)):
        return None
    (x, w), b = product.args, bias.args[1]
    return (x, w, b) if w in params and b in params and w != b else None


def _chain(d: Derivation) -> list[tuple]:
    """``(Z, input, W, b)`` of each layer of the MLP chain, input side first; [] if none."""
    params, data = set(d.model.params), set(d.model.data)
    activation_of = {s.symbol: s.expr.expr for s in d.forward
                     if isinstance(s.expr, sp.matrices.expressions.applyfunc.ElementwiseApplyFunction)}
    chain = []
    for step in d.forward:
        found = _affine(step.expr, params)
        if found is None:
            continue
        x, w, b = found
        previous = chain[-1][0] if chain else None
        if (x not in data) if previous is None else (activation_of.get(x) != previous):
            return []
        chain.append((step.symbol, x, w, b))
    used = [p for _, _, w, b in chain for p in (w, b)]
    return chain if len(chain) >= 2 and len(set(used)) == len(used) else []


def nielsen_layers(d: Derivation) -> list[NielsenLayer]:
    """The layers of an MLP with their four equations, input side first; [] for other models."""
    chain = _chain(d)
    adjoint = {s.of: s for s in d.backward if s.role == "adjoint"}
    gradient = {s.of: s for s in d.backward if s.role == "gradient"}
    if not chain or any(z.name not in adjoint for z, *_ in chain):
        return []
    deltas = {adjoint[z.name].symbol for z, *_ in chain}
    between = {s.symbol: s.expr for s in d.backward
               if s.role == "adjoint" and s.symbol not in deltas}
    layers = []
    for index, (z, x, w, b) in enumerate(chain, start=1):
        delta = adjoint[z.name].symbol
        expr = adjoint[z.name].expr
        for _ in range(len(between) + 1):
            expr, previous = expr.xreplace(between), expr
            if expr == previous:
                break
        grads = [gradient.get(p.name) for p in (b, w)]
        if any(g is None or not g.expr.has(delta) or len(g.expr.atoms(sp.MatrixSymbol) & deltas) > 1
               for g in grads):
            return []
        layers.append(NielsenLayer(index, z, x, w, b, delta, expr, grads[0].expr, grads[1].expr))
    return layers


def nielsen_latex(d: Derivation, printer=None) -> str:
    r"""Nielsen's four equations of an MLP (``\delta_l = \overline{Z}_l``): a paragraph and an
    ``align*`` block read off ``nielsen_layers(d)``; "" for other models. ``printer``: the
    ``latex.MathPrinter`` of the document (its names are kept)."""
    layers = nielsen_layers(d)
    if not layers:
        return ""
    names = printer.names if printer is not None else symbol_latex(d)
    printer = MathPrinter({**names, **{la.delta: rf"\delta_{{{la.index}}}" for la in layers}})
    rows = [rf"\delta_{{{la.index}}} = {names[la.delta]} &= {printer.doprint(la.delta_expr)} "
            rf"&& \text{{({'BP1' if la is layers[-1] else 'BP2'})}}" for la in reversed(layers)]
    for la in reversed(layers):
        for param, expr, tag in ((la.bias, la.bias_grad, 3), (la.weight, la.weight_grad, 4)):
            rows.append(rf"{latex_name(param.name, bar=True)} &= {printer.doprint(expr)} "
                        rf"&& \text{{(BP{tag})}}")
    return _NIELSEN + "\n" + align(rows)


_NIELSEN = (r"The errors $\delta_l = \overline{Z}_l$ of the affine layers "
            r"$Z_l = A_{l-1} W_l + \mathbf{1} b_l$ (with $A_0$ the input) give the four "
            r"equations of backpropagation of Nielsen's Neural Networks and Deep Learning "
            r"(chapter 2), read off the steps above. The samples are rows here (columns there), so "
            r"$(W^{l+1})^{\top}\delta^{l+1}$ becomes $\delta_{l+1} W_{l+1}^{\top}$, "
            r"$\partial C/\partial b^l = \delta^l$ becomes the sum over the rows "
            r"$\mathbf{1}^{\top}\delta_l$, and $a^{l-1}\delta^l$ becomes "
            r"$A_{l-1}^{\top}\delta_l$; $\sigma'(Z_l)$ is written through $A_l$ where that is "
            r"cheaper. BP1 is the output error.")
