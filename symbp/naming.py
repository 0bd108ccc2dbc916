"""The only place names are made.

* Python identifiers for user symbols (any name a SymPy symbol can have is
  mapped to a safe, unique identifier, so no name can inject code); every
  identifier is NFKC-normal and names are compared after NFKC, as Python
  compares them, so ``x`` and ``𝐱`` never become one variable;
* step names by node kind: ``Z1`` (affine), ``A1`` (activation), ``P1``
  (softmax), ``L`` (loss), lower case in scalar models;
* adjoints ``Z1_bar``, written ``\\overline{Z}_{1}`` in LaTeX.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata
from collections.abc import Iterable

import sympy as sp
from sympy.printing.latex import greek_letters_set

from .primitives import node_kinds

__all__ = ["Namer", "identifier", "adjoint_name", "latex_name", "RESERVED"]

RESERVED = frozenset(
    set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | {
        "np", "numpy", "xp", "math", "time", "sys", "os", "params", "data", "state", "lr", "rng",
        "dims", "dtype", "optimizer", "epochs", "batch_size", "seed", "verbose", "val_data",
        "PARAMS", "DATA", "DIMS", "SHAPES", "OUTPUTS", "loss", "loss_and_grad", "predict",
        "init_params", "train_step", "fit", "grads", "value", "history", "random_data",
        "BATCHED", "OPTIMIZERS", "DEFAULT_LR", "need_params", "need_data",
    }
)

_PREFIX = {record.name: record.prefix for record in node_kinds() if record.prefix}


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def identifier(name: str) -> str:
    """A Python identifier close to ``name``, NFKC-normal as Python reads identifiers.

    ``x); import os`` -> ``x_import_os``; ``𝐱`` -> ``x`` and ``ｉｆ`` -> ``if_`` (Python
    would read them so), which :class:`Namer` then tells apart from a plain ``x``.
    """
    text = "".join(ch if ("a" + ch).isidentifier() else " " for ch in _nfkc(name))
    text = re.sub(r"[\s_]*\s[\s_]*", "_", text).strip("_") or "v"
    if not text[0].isidentifier():
        text = "v" + text
    if _nfkc(text) != text or not text.isidentifier():  # a stray combining mark: ASCII only
        text = "v" + re.sub(r"\W", "", text.encode("ascii", "ignore").decode())
    if text in RESERVED:
        text += "_"
    return text


def adjoint_name(name: str) -> str:
    """``Z1`` -> ``Z1_bar``."""
    return f"{name}_bar"


class Namer:
    """Hands out unique identifiers, never one in ``taken`` or ``RESERVED``."""

    def __init__(self, taken: Iterable[str] = ()):
        self.taken = {_nfkc(t) for t in taken if isinstance(t, str)} | RESERVED
        self.counters: dict[str, int] = {}

    def claim(self, base: str) -> str:
        """``base`` made safe, with a numeric suffix if it is taken."""
        name = identifier(base)
        if name in self.taken:
            k = 2
            while f"{name}{k}" in self.taken:
                k += 1
            name = f"{name}{k}"
        self.taken.add(name)
        return name

    def numbered(self, prefix: str) -> str:
        """The next free ``prefix1``, ``prefix2``, ..."""
        k = self.counters.get(prefix, 0)
        while True:
            k += 1
            name = f"{prefix}{k}"
            if name not in self.taken:
                break
        self.counters[prefix] = k
        self.taken.add(name)
        return name

    def step(self, kind: str, template, scalar: bool) -> str:
        """A name for a forward step of node ``kind``."""
        prefix = _PREFIX.get(kind, "Z")
        if kind == "scalar" and not (template.is_Add or template.is_Mul or template.is_Pow):
            prefix = "A"
        prefix = prefix.lower() if scalar else prefix
        # a symbol of the model called E: its einsums are Z1, Z2, ... not E1, E2 (read as E's)
        prefix = next((p for p in (prefix, "z" if scalar else "Z", "T", "V") if p not in self.taken),
                      prefix)
        return self.numbered(prefix)


_INDEXED = re.compile(r"^([A-Za-z]+?)_?(\d+(?:_\d+)*)$")
_ACCENTS = {"\u0300": "`", "\u0301": "'", "\u0302": "^", "\u0303": "~", "\u0304": "=",
            "\u0306": "u", "\u0308": '"', "\u030a": "r", "\u030c": "v", "\u0327": "c"}
_MATH_SPECIAL = {"\\": r"\backslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "$": r"\$",
                 "%": r"\%", "#": r"\#", "&": r"\&", "^": r"\text{\textasciicircum}",
                 "~": r"\text{\textasciitilde}", " ": r"\ ", "'": r"\text{'}", "-": r"\text{-}"}
_TEXT_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "$": r"\$",
                 "%": r"\%", "#": r"\#", "&": r"\&", "^": r"\^{}", "~": r"\~{}",
                 "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


def latex_char(char: str, math: bool = True) -> str:
    """One character as ASCII LaTeX that compiles with plain pdflatex, shown literally.

    Specials are escaped; Greek letters become ``\\alpha``; Latin letters with an
    accent (``é``) the accent command; anything else (CJK, U+2028, control
    characters) its code point ``[U+4E2D]``.
    """
    special = _MATH_SPECIAL if math else _TEXT_SPECIAL
    if char in special:
        return special[char]
    if " " < char < "\x7f":
        return char
    base, *marks = unicodedata.normalize("NFD", char)
    if base.isascii() and base.isalpha() and len(marks) == 1 and marks[0] in _ACCENTS:
        accented = rf"\{_ACCENTS[marks[0]]}{{{base}}}"
        return rf"\text{{{accented}}}" if math else accented
    words = unicodedata.name(char, "").split()
    if math and words[:1] == ["GREEK"] and words[-2:-1] == ["LETTER"]:
        letter = words[-1].lower() if "SMALL" in words else words[-1].title()
        tex = sp.latex(sp.Symbol(letter)) if letter.lower() in greek_letters_set else ""
        if tex.startswith("\\") and not tex.startswith(r"\mathrm"):
            return tex + "{}"
    return f"[U{{+}}{ord(char):04X}]"


def latex_name(name: str, bar: bool = False) -> str:
    """LaTeX for a symbol name: ``W1`` -> ``W_{1}``, ``W1_bar`` -> ``\\overline{W}_{1}``.

    One letter is italic, a Greek name its letter, any other name an upright word
    (``pants_cost`` -> ``\\mathrm{pants\\_cost}``) with every character escaped, so
    no name can inject LaTeX; only trailing indices become subscripts (``w1_2`` ->
    ``w_{1,2}``).
    """
    if name.endswith("_bar") and len(name) > len("_bar"):
        return latex_name(name[: -len("_bar")], bar=True)
    match = _INDEXED.match(name)
    head, index = match.groups() if match else (name, "")
    if len(head) == 1 and head.isascii() and head.isalpha():
        body = head
    elif head.isascii() and head.isalpha() and head.lower() in greek_letters_set:
        body = sp.latex(sp.Symbol(head))
    else:
        body = r"\mathrm{" + "".join(latex_char(c) for c in head) + "}"
    if bar:
        body = rf"\overline{{{body}}}"
    return body + (f"_{{{index.replace('_', ',')}}}" if index else "")
