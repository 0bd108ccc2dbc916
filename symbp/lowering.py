"""What the array-API printer lends the vocabulary: row statements, masks, folds.

The primitives print themselves (``_numpycode`` in ``symbp.primitives``); this
mixin holds what they share: softmax, log-softmax and their cross-entropy are
lowered to statements, ``shift = Z - xp.max(Z, axis=1)``, ``exp(shift)`` and its
row sums, emitted once per function (``prelude``) by ``_row_parts`` and shared
by every later use (``softmax = exp / sum``, ``log_softmax = shift - log(sum)``,
``CE = -sum(Y * (shift - log(sum))) / n``); the step function as a 0/1 mask;
``Max``/``Min`` folded. (The scalar model's mean over samples prints itself:
``primitives/mean.py``.)
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

__all__ = ["VocabularyLowering"]


class VocabularyLowering:
    """A mixin of ``printing.CodePrinter``, which provides ``_print``, ``_paren``,
    ``_dtype``, ``prelude``, ``namer`` and ``_shared``."""

    def _row_parts(self, z) -> tuple[str, str, str]:
        """``shift = Z - rowmax``, ``exp(shift)`` and its row sums, each emitted once (``shared``)."""
        code = self._print(z)
        base = code if code.isidentifier() else "Z"
        shift = self.shared(f"{self._paren(z)} - xp.max({code}, axis=1, keepdims=True)",
                            f"{base}_shift")
        exps = self.shared(f"xp.exp({shift})", f"{base}_exp")
        return shift, exps, self.shared(f"xp.sum({exps}, axis=1, keepdims=True)", f"{base}_sum")

    def shared(self, code: str, base: str) -> str:
        """A temporary ``base`` holding ``code``, emitted once per function (``prelude``) and
        read by every later use (a softmax's row parts; the ``Φ`` of a GELU's forward and backward)."""
        if code not in self._shared:
            name = self._shared[code] = self.namer.claim(base)
            self.prelude.append((name, code))
        return self._shared[code]

    def _arg(self, expr) -> str:
        return self._print(expr.args[0])

    def _print_Heaviside(self, expr):
        """The step function, as a number of the parameters' dtype."""
        return self._float_mask(self._paren(expr.args[0], PRECEDENCE["Add"]), expr)

    def _float_mask(self, x: str, step) -> str:
        """``_mask`` in the parameters' dtype: a boolean mask cast (``1 - mask`` of a boolean
        would be an integer, which promotes float32 to float64, and PyTorch refuses it)."""
        mask = self._mask(x, step)
        return f"xp.astype({mask}, {self._dtype()})" if _boolean(step) else mask

    def _mask(self, x: str, step) -> str:
        """``(x > 0)`` for ``Heaviside(x, 0)``, ``(x >= 0)`` for ``Heaviside(x, 1)`` (the
        printer's ``_step_text``); else ``[x > 0] + h0 [x = 0]`` in the parameters' dtype."""
        if _boolean(step):
            return self._step_text(x, step)
        h0 = step.args[1] if len(step.args) > 1 else sp.Rational(1, 2)
        dtype = self._dtype()
        return f"(xp.astype({x} > 0, {dtype}) + {self._paren(h0)} * xp.astype({x} == 0, {dtype}))"

    def _print_Abs(self, expr):
        return f"xp.abs({self._arg(expr)})"

    def _print_Max(self, expr):
        return self._fold("xp.maximum", expr.args)

    def _print_Min(self, expr):
        return self._fold("xp.minimum", expr.args)

    def _fold(self, fn: str, args) -> str:
        code = self._print(args[0])
        for a in args[1:]:
            code = f"{fn}({code}, {self._print(a)})"
        return code


def _boolean(step) -> bool:
    """Whether ``_mask`` prints the step function ``step`` as a comparison (H(0) is 0 or 1)."""
    return (step.args[1] if len(step.args) > 1 else sp.Rational(1, 2)) in (0, 1)
