"""SymPy -> array-API source: one ``_print_X`` per node kind.

A subclass of SymPy's ``NumPyPrinter`` whose code calls the array namespace
``xp`` (NumPy itself for NumPy arrays; JAX, PyTorch, CuPy, Dask through the
array API standard): only functions of the standard, no methods, no in-place
updates. Products print as ``@``, Hadamard
products as ``*``; a ones-vector never becomes an array (``1 b`` is the
broadcast ``b``, ``1^T G`` is ``xp.sum(G, axis=0, keepdims=True)``);
``tr(P^T Q)`` is a ``xp.vecdot`` of the flattened operands. Softmax and its cross-entropy are lowered to a few
stable statements (shift by the row maximum, ``exp``, row sums) that are
emitted once per function and shared by every later use.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.special import OneMatrix
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

from .lowering import VocabularyLowering
from .matalg import transpose
from .naming import Namer
from .order import negated, negative_coeff, ordered_terms
from .printbase import COMPACT_FORMS, MatrixNotation, compact_shape, is_ones, matrix_precedence

__all__ = ["CodePrinter"]


NAMESPACE = "xp"
"""The generated code's name for the array namespace of its arguments."""

_STANDARD_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
                   "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
                   "power": "pow", "conjugate": "conj", "mod": "remainder"}
"""NumPy's names of functions the array API standard spells otherwise."""


class CodePrinter(VocabularyLowering, MatrixNotation, NumPyPrinter):
    """Prints derivation expressions as array-API code for one function body (the notation
    of ``printbase.MatrixNotation`` in Python: brackets, sums, ``(x > 0.0)`` masks).

    ``names`` maps model symbols to identifiers (steps print as their name);
    ``namer`` makes the names of lowered temporaries; ``prelude`` collects
    the statements lowering emits, which the caller writes before the line.
    The constants our rules put beside float arrays print as floats (``0.0``, ``1.0``):
    NumPy resolves a float scalar against a float array faster than an int one (by about
    0.2 µs a call, which small models feel).
    """

    _step = ("({x} > 0.0)", "({x} >= 0.0)", None)
    runtime_normal_cdf = True  # Φ is the runtime helper _normal_cdf (templates/erf_ops.py.j2)

    def __init__(self, names: dict, namer: Namer):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False,
                          "order": "none", "strict": False})
        self.names = names
        self.namer = namer
        self.prelude: list[tuple[str, str]] = []
        self._shared: dict[str, str] = {}  # code -> the temporary holding it (``shared``)
        self._bound: dict = {}
        self._broadcast_ok = False
        self.uses_dtype = False  # whether the code reads the variable dtype
        self.batched: set = set()  # per-sample symbols of a scalar model
        self.batch_size: str | None = None  # the identifier bound to N
        self._not_supported: set = set()
        self._number_symbols: set = set()

    def _module_format(self, fqn, register=True):
        """``numpy.tanh`` -> ``xp.tanh``: every NumPy function is looked up in the namespace of
        the arguments (its array-API name where NumPy's differs)."""
        if "." in fqn and not fqn.startswith("numpy."):  # math.erf: not vectorised nor imported
            self._not_supported.add(sp.Symbol(fqn))
        text = super()._module_format(fqn, register)
        if not text.startswith("numpy."):
            return text
        name = text[len("numpy."):]
        return f"{NAMESPACE}.{_STANDARD_NAMES.get(name, name)}"

    def _print(self, expr, **kwargs):
        """Only the forms ``compact_shape`` knows may print smaller than their shape."""
        if not self._broadcast_ok or isinstance(expr, COMPACT_FORMS):
            return super()._print(expr, **kwargs)
        self._broadcast_ok = False
        try:
            return super()._print(expr, **kwargs)
        finally:
            self._broadcast_ok = True

    # -- symbols and constants ---------------------------------------------
    def _print_Symbol(self, expr):
        if expr in self._bound:
            return self._bound[expr]
        return self.names.get(expr, expr.name)

    _print_Dummy = _print_Symbol

    def _print_MatrixSymbol(self, expr):
        return self.names.get(expr, expr.name)

    def _dtype(self) -> str:
        """The floating type of the parameters, bound as ``dtype`` by the caller."""
        self.uses_dtype = True
        return "dtype"

    def _print_OneMatrix(self, expr):
        return "1.0" if self._broadcast_ok else f"xp.ones({self._shape(expr.shape)}, dtype={self._dtype()})"

    def _print_ZeroMatrix(self, expr):
        return f"xp.zeros({self._shape(expr.shape)}, dtype={self._dtype()})"

    def _print_Identity(self, expr):
        return f"xp.eye({self._print(expr.shape[0])}, dtype={self._dtype()})"

    def _shape(self, shape) -> str:
        return "(" + ", ".join(self._print(d) for d in shape) + ")"

    def _print_Pow(self, expr, rational=False):
        if expr.is_number and not expr.is_Rational:  # sqrt(2): a float (xp.sqrt needs an array)
            return repr(float(expr))
        base, exp = expr.as_base_exp()
        if exp.is_Integer and exp < 0:
            power = base if exp == -1 else sp.Pow(base, -exp)
            return f"1 / {self._paren(power, PRECEDENCE['Mul'])}"
        return super()._print_Pow(expr, rational)

    # -- matrix algebra ----------------------------------------------------
    def _print_MatMul(self, expr):
        coeff, mats = expr.as_coeff_matrices()
        if len(mats) == 1:
            return self._scaled(coeff, self._print(mats[0]), matrix_precedence(mats[0]))
        outer, self._broadcast_ok = self._broadcast_ok, False
        try:
            body, prec = self._product(list(mats), outer)
        finally:
            self._broadcast_ok = outer
        return self._scaled(coeff, body, prec)

    def _print_Mul(self, expr):
        if expr.could_extract_minus_sign():
            return "-" + self._paren(-expr, PRECEDENCE["Mul"] - 1)
        num, den = sp.fraction(expr, exact=True)
        factors = sp.Mul.make_args(num)
        text = " * ".join(self._paren(f, PRECEDENCE["Mul"] - 1) for f in factors)
        if den == 1:
            return text
        return f"{text} / {self._paren(den, PRECEDENCE['Mul'])}"

    def _scaled(self, coeff, body: str, prec: int) -> str:
        """``coeff * body``, read by its caller as a product: a sum is bracketed even when the
        coefficient is 1 (``MatMul(1, X + Y)``, what a subtracted sum becomes)."""
        if prec < PRECEDENCE["Mul"]:
            body = f"({body})"
        if coeff == 1:
            return body
        if coeff == -1:
            return f"-{body}"
        num, den = sp.fraction(coeff)
        text = body if num == 1 else f"{self._paren(num, PRECEDENCE['Add'])} * {body}"
        return text if den == 1 else f"{text} / {self._paren(den, PRECEDENCE['Mul'])}"

    def _product(self, mats: list, broadcast_ok: bool) -> tuple[str, int]:
        """``mats`` multiplied, with ones-vectors as broadcasts and sums."""
        if len(mats) == 1:
            return self._print(mats[0]), matrix_precedence(mats[0])
        first, last = mats[0], mats[-1]
        if is_ones(first, cols=1) or is_ones(last, rows=1):
            rest = mats[1:] if is_ones(first, cols=1) else mats[:-1]
            code, prec = self._product(rest, False)
            if broadcast_ok:
                return code, prec
            shape = (first.shape[0], last.shape[1])
            return f"xp.broadcast_to({code}, {self._shape(shape)})", PRECEDENCE["Atom"]
        if is_ones(first, rows=1):
            return self._row_sum(mats[1:], 0), PRECEDENCE["Atom"]
        if is_ones(last, cols=1):
            return self._row_sum(mats[:-1], 1), PRECEDENCE["Atom"]
        if isinstance(first, OneMatrix):
            split = [OneMatrix(first.shape[0], 1), OneMatrix(1, first.shape[1]), *mats[1:]]
            return self._product(split, broadcast_ok)
        if isinstance(last, OneMatrix):
            split = [*mats[:-1], OneMatrix(last.shape[0], 1), OneMatrix(1, last.shape[1])]
            return self._product(split, broadcast_ok)
        codes = [self._paren(m, PRECEDENCE["Mul"] - (k == 0)) for k, m in enumerate(mats)]
        return " @ ".join(codes), PRECEDENCE["Mul"]

    def _row_sum(self, mats: list, axis: int) -> str:
        """The sums of the product of ``mats`` along ``axis``, kept as a row or column."""
        code, _ = self._product(mats, False)
        return f"xp.sum({code}, axis={axis}, keepdims=True)"

    def _elementwise(self, expr, args, join) -> str:
        """An elementwise sum or product: its terms may print smaller (NumPy broadcasts
        them against each other); where no term is full size and the caller does not
        broadcast the result, the result is broadcast to its symbolic shape."""
        outer, self._broadcast_ok = self._broadcast_ok, True
        try:
            code = join(args)
        finally:
            self._broadcast_ok = outer
        if outer or compact_shape(expr) == tuple(expr.shape):
            return code
        return f"xp.broadcast_to({code}, {self._shape(expr.shape)})"

    def _print_MatAdd(self, expr):
        return self._elementwise(expr, ordered_terms(expr), self._signed_sum)

    def in_place_sum(self, expr, params, dims=frozenset()) -> tuple[str, list[str]] | None:
        """``(code, updates)`` for a sum better computed in place: ``code`` its terms of full
        shape, ``updates`` the terms NumPy broadcasts (``["+= b", "-= c"]``), each added to the
        result in place. NumPy reuses a temporary only for an operand of the temporary's own
        shape, so ``X @ W + b`` costs two new arrays of the layer's size; ``Z = X @ W`` then
        ``Z += b`` costs one, as hand-written NumPy does. None unless a term of full shape is a
        product with a parameter (``params``) and the broadcast terms read parameters and
        dimensions (``dims``) only: the value is then a new array (never a view of an argument)
        whose float type is the parameters' or wider, so the updates keep its type (integer data
        broadcast into a float32 product would not: NumPy makes their sum float64)."""
        if not isinstance(expr, sp.MatAdd):
            return None
        terms = ordered_terms(sp.MatAdd(*_terms(expr)))
        full = [t for t in terms if compact_shape(t) == tuple(expr.shape)]
        small = [t for t in terms if t not in full]
        if not small or not any(_multiplies(t, params) for t in full) or \
                not all(t.free_symbols <= params | dims for t in small):
            return None
        code = self._print(full[0] if len(full) == 1 else sp.MatAdd(*full))
        outer, self._broadcast_ok = self._broadcast_ok, True
        try:
            updates = [f"-= {self._print(negated(t))}" if negative_coeff(t) else f"+= {self._print(t)}"
                       for t in small]
        finally:
            self._broadcast_ok = outer
        return code, updates

    def _print_HadamardProduct(self, expr):
        num = [a for a in expr.args if not _is_reciprocal(a)]
        den = [a.base for a in expr.args if _is_reciprocal(a)]

        bare = not all(map(_is_mask, num))  # a mask beside a float factor stays boolean: NumPy and
        # PyTorch keep the float's dtype in the product (A_bar * (A > 0.0)), one cast fewer

        def join(args):
            codes = [self._mask_of(a) if bare and _is_mask(a) else self._paren(a, PRECEDENCE["Mul"])
                     for a in args]
            text = " * ".join(codes[: len(num)]) or "1"
            return text + "".join(f" / {code}" for code in codes[len(num):])
        return self._elementwise(expr, [*num, *den], join)

    def _print_HadamardPower(self, expr):
        base = self._paren(expr.base, PRECEDENCE["Mul"])
        if expr.exp == -1:
            return f"1 / {base}"
        return f"{base}**{self._paren(expr.exp, PRECEDENCE['Pow'])}"

    def _print_Transpose(self, expr):
        reversed_product = _transposed_product(expr.arg)
        if reversed_product is not None:  # (A B)ᵀ as Bᵀ Aᵀ: a contiguous result, no strided add
            return self._print(reversed_product)
        code = self._paren(expr.arg, PRECEDENCE["Pow"])
        if self._broadcast_ok and compact_shape(expr.arg) == (1, 1):
            return code  # a number broadcast (𝟙ᵀ, 2 𝟙) is its own transpose
        return f"{code}.T"

    def _print_Trace(self, expr):
        arg = expr.arg
        if isinstance(arg, sp.MatMul):
            coeff, mats = arg.as_coeff_matrices()
            if len(mats) >= 2:
                p = mats[0] if len(mats) == 2 else sp.MatMul(*mats[:-1])
                return self._scaled(coeff, self._frobenius(p, mats[-1]), PRECEDENCE["Atom"])
        return f"xp.linalg.trace({self._print(arg)})"

    def _frobenius(self, p, q) -> str:
        """``tr(P Q) = sum(P ⊙ Q^T)``, written with as few transposes as possible."""
        if isinstance(p, sp.Transpose):
            a, b = p.arg, q
        elif isinstance(q, sp.Transpose):
            a, b = p, q.arg
        else:
            a, b = p, transpose(q)
        for ones, other in ((a, b), (b, a)):
            if isinstance(ones, sp.OneMatrix):  # tr(H^T 1) is the sum of H's entries
                return f"xp.sum({self._print(other)})"
        if all(isinstance(m, sp.MatrixSymbol) for m in (a, b)):
            flat = (f"xp.reshape({self._print(m)}, (-1,))" for m in (a, b))
            return f"xp.vecdot({', '.join(flat)})"
        return f"xp.sum({self._paren(a)} * {self._paren(b)})"

    def _print_Inverse(self, expr):
        return f"xp.linalg.inv({self._print(expr.arg)})"

    def _print_Piecewise(self, expr):
        """Nested ``xp.where``: the first condition that holds picks its piece (NaN if none)."""
        *pieces, (last, cond) = expr.args
        code = self._print(last)
        if cond != sp.true:
            code = f"xp.where({self._print(cond)}, {code}, xp.nan)"
        for piece, condition in reversed(pieces):
            code = f"xp.where({self._print(condition)}, {self._print(piece)}, {code})"
        if all(piece.is_Number for piece, _ in expr.args):  # numbers only: the parameters' dtype
            code = f"xp.astype({code}, {self._dtype()})"  # (not int64, nor float64 for float32)
        return code

    def _print_MatrixElement(self, expr):
        parent = self._paren(expr.parent, PRECEDENCE["Atom"] - 1)
        return f"{parent}[{self._print(expr.i)}, {self._print(expr.j)}]"

    def _print_UnitMatrix(self, expr):
        """``E_ij``, compared out of index ranges (no array is written into)."""
        i, j, rows, cols = (self._print(a) for a in expr.args)
        mask = f"(xp.reshape(xp.arange({rows}), (-1, 1)) == {i}) & (xp.arange({cols}) == {j})"
        return f"xp.astype({mask}, {self._dtype()})"

    def _print_ElementwiseApplyFunction(self, expr):
        var, body = expr.function.variables[0], expr.function.expr
        if isinstance(body, sp.Heaviside):  # a 0/1 mask in the parameters' dtype (1 - mask, 2 mask)
            return self._mask_of(expr, self._float_mask)
        arg = self._paren(expr.expr, PRECEDENCE["Atom"] - 1)
        if body == var:
            return arg
        if var not in body.free_symbols:  # a map SymPy folded to a constant: Max(Min(x, -1), 1) = 1
            return f"xp.full_like({arg}, {self._print(body)})"
        return self._with_bound(var, arg, body)

    def _mask_of(self, expr, mask=None) -> str:
        """The map ``H(g(x))`` of ``expr`` as a mask (by default boolean where H(0) is 0 or 1):
        ``(Z > 0.0)``, ``(Z - 1 > 0.0)`` of a clamp's derivative."""
        var, body = expr.function.variables[0], expr.function.expr
        arg = self._paren(expr.expr, PRECEDENCE["Atom"] - 1)
        step = body.args[0]
        return (mask or self._mask)(arg if step == var else f"({self._with_bound(var, arg, step)})", body)


    def _with_bound(self, var, text: str, body) -> str:
        """``body`` printed with the map's variable ``var`` standing for ``text``."""
        old = self._bound.get(var)
        self._bound[var] = text
        try:
            return self._print(body)
        finally:
            if old is None:
                del self._bound[var]
            else:
                self._bound[var] = old


def _multiplies(term, params) -> bool:
    """Whether ``term`` is a matrix product (no ones-vector) with a parameter or its transpose."""
    if not isinstance(term, sp.MatMul):
        return False
    _, mats = term.as_coeff_matrices()
    return len(mats) >= 2 and not any(isinstance(m, OneMatrix) for m in mats) and \
        any((m.arg if isinstance(m, sp.Transpose) else m) in params for m in mats)


def _terms(expr) -> list:
    """The terms of a sum, those of the sums among them included (``(A + B) - C``: A, B, -C)."""
    return [t for a in expr.args for t in (_terms(a) if isinstance(a, sp.MatAdd) else [a])]


def _is_mask(m) -> bool:
    return isinstance(m, ElementwiseApplyFunction) and isinstance(m.function.expr, sp.Heaviside)


def _is_reciprocal(m) -> bool:
    return isinstance(m, sp.HadamardPower) and m.exp == -1


def _transposed_product(m):
    """``Bᵀ Aᵀ`` for ``m = c A B`` of two matrices that are symbols or their transposes (else
    None): the same flops as ``(A B)ᵀ``, whose transposed view makes the sum it enters strided."""
    if not isinstance(m, sp.MatMul):
        return None
    coeff, mats = m.as_coeff_matrices()
    plain = lambda a: isinstance(a, sp.MatrixSymbol) or (  # noqa: E731
        isinstance(a, sp.Transpose) and isinstance(a.arg, sp.MatrixSymbol))
    if len(mats) != 2 or not all(map(plain, mats)):
        return None
    a, b = mats
    product = sp.MatMul(transpose(b), transpose(a))
    return product if coeff == 1 else sp.MatMul(coeff, product)
