"""The graph of the lesson page: laid out by Graphviz's ``dot``, inlined as SVG.

Nodes get the ids ``n0, n1, ...`` and edges ``e0, e1, ...`` (in the order of the model's
symbols and the forward pass, so the same model gives the same ids); each edge label is
tagged with the step at which it appears: ``data-fwd`` on the value (above the edge),
``data-bwd`` on the gradient (below it, in red). The page's script reads only these.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from .errors import SymbpError
from .explain import evaluate_at, format_value
from .paths import edge_gradients
from .text import unicode

if TYPE_CHECKING:
    from .lesson import PageStep, _Lesson

GRADIENT = "#c0392b"


_LEGIBLE = 0.7  # the smallest scale of the graph on the page: 15pt labels stay about 11px
_SCREEN = 1400  # px: a graph wider than this at that scale scrolls


def _short(value, full=None) -> str:
    """An edge label: a number, or the shape of a matrix or tensor (``2×8``, ``2×1×8×8``; a
    tensor's value, a matrix view, is shown in its N-d shape ``full``)."""
    shape = tuple(getattr(value, "shape", ()))
    if int(np.prod(shape)) > 1:
        rest = full[1:] if full and len(full) != 2 else None
        if rest is not None and all(getattr(d, "is_Integer", False) or isinstance(d, int) for d in rest):
            rest = tuple(int(d) for d in rest)
            shape = ((int(np.prod(shape)) // int(np.prod(rest)), *rest) if len(full) > 1
                     else (int(np.prod(shape)),))
        return "×".join(map(str, shape))
    return format_value(np.ravel(np.array(value.tolist(), dtype=object))[0] if shape else value)


def _reveal(steps: list[PageStep]) -> tuple[dict, dict]:
    """(source, user) -> the step at which its value (when its source is computed, or else
    first used), and its gradient (when the source's gradient is), appear."""
    computed = {s.node: k for k, s in enumerate(steps) if s.phase == "forward"}
    values, grads = {}, {}
    for k, s in enumerate(steps):
        for edge in s.edges:
            values.setdefault(edge, computed.get(edge[0], k))
            if s.phase == "backward":
                grads.setdefault(edge, k)
    return values, grads


class LessonGraph:
    """The DOT text of the page's graph, and the SVG ``dot`` lays out from it."""

    def __init__(self, lesson: _Lesson):
        self.lesson, self.d = lesson, lesson.d
        self.nodes: dict[str, str] = {}  # name -> n<k>
        self.edges: dict[tuple, str] = {}  # (source, user) -> e<k>
        self.labels: dict[tuple, tuple[str, str]] = {}  # (source, user) -> (value, gradient)

    def node(self, name: str, shape: str, formula: str | None = None) -> str:
        self.nodes[name] = ident = f"n{len(self.nodes)}"
        head = f"<b>{_esc(name)}</b>"
        body = head if formula is None else f'{head}<br/><font point-size="13">{_esc(formula)}</font>'
        return f'  "{ident}" [id="{ident}", shape={shape}, label=<{body}>];'

    def edge(self, source: str, user: str | None, value: str, gradient: str) -> str:
        key = (source, user)
        self.edges[key] = ident = f"e{len(self.edges)}"
        self.labels[key] = (value, gradient)
        target = self.nodes[user] if user is not None else "end"
        bottom = f'<br/><font color="{GRADIENT}">{_esc(gradient)}</font>' if gradient else ""
        return (f'  "{self.nodes[source]}" -> "{target}" [id="{ident}", '
                f"label=<{_esc(value)}{bottom}>];")

    def dot(self) -> str:
        d, lesson = self.d, self.lesson
        env, flows = lesson.ex.values, edge_gradients(d)
        names = lesson.names()
        used = {x for s in d.forward for x in lesson.sources(s)}
        lines = ["digraph lesson {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=16];',
                 '  edge [fontname="Helvetica", fontsize=15];']
        params = {p.name for p in d.model.params}
        lines += [self.node(s.name, "box" if s.name in params else "plaintext")
                  for s in d.model.symbols if s.name in used]
        symbols = {n: s for s, n in names.items()}
        for s in d.forward:
            lines.append(self.node(s.name, "ellipse", unicode(s.expr)))
            for source in lesson.sources(s):
                flow = flows.get((source, s.name))
                lines.append(self.edge(source, s.name, *self.texts(symbols[source], flow, env)))
        loss = lesson.loss
        lines.append('  "end" [id="end", shape=plaintext, label=""];')
        lines.append(self.edge(loss, None, *self.texts(d.loss, sp.Integer(1), env)))
        return "\n".join(lines + ["}"]) + "\n"

    def texts(self, sym, flow, env) -> tuple[str, str]:
        if env is None:
            partials = self.lesson.ex.partials
            gradient = "" if flow is None else unicode(flow, partials)
            return sym.name, gradient if len(gradient) <= 24 else "∂"
        full = self.lesson.ex.shapes.get(sym)
        gradient = "" if flow is None else _short(evaluate_at(flow, env), full)
        return _short(env[sym], full), gradient

    def svg(self, steps: list[PageStep]) -> str:
        dot = shutil.which("dot")
        if dot is None:
            raise SymbpError("Graphviz's dot was not found; the lesson page needs it to lay out "
                             "the graph (apt install graphviz, brew install graphviz).")
        try:
            result = subprocess.run([dot, "-Tsvg"], input=self.dot().encode(), capture_output=True,
                                    timeout=120)
        except subprocess.TimeoutExpired:
            raise SymbpError(f"dot did not lay out the graph of {self.d.model.name} in 120 s.") from None
        if result.returncode != 0:
            raise SymbpError(f"dot failed on the graph of {self.d.model.name}: "
                             f"{result.stderr.decode(errors='replace').strip()}")
        return self.mark(ET.fromstring(result.stdout), steps)

    def mark(self, root, steps: list[PageStep]) -> str:
        """The SVG without namespaces, fixed sizes or comments; edge labels tagged with the
        step at which they appear (``data-fwd`` values, ``data-bwd`` gradients)."""
        for el in root.iter():
            el.tag = el.tag.split("}")[-1]
            for key in [k for k in el.attrib if "}" in k]:
                el.attrib[key.split("}")[-1]] = el.attrib.pop(key)
        for key in ("width", "height"):
            root.attrib.pop(key, None)
        width = float(root.get("viewBox", "0 0 0 0").split()[2])
        if width * _LEGIBLE > _SCREEN:  # a wide graph scrolls (to the active node) rather than
            # shrinking its labels below reading size
            root.set("style", f"min-width: {round(width * _LEGIBLE)}px; max-height: none")
        root.set("role", "img")
        root.set("aria-label", self.d.model.name)
        values, grads = _reveal(steps)
        by_id = {ident: key for key, ident in self.edges.items()}
        titles = {ident: name for name, ident in self.nodes.items()}
        titles.update({ident: f"{a} → {b}" if b else a for (a, b), ident in self.edges.items()})
        for g in root.iter("g"):
            if g.find("title") is not None and g.get("id") in titles:
                g.find("title").text = titles[g.get("id")]
            key = by_id.get(g.get("id"))
            if key is None:
                continue
            for text in g.iter("text"):
                grad = text.get("fill") == GRADIENT
                text.set("class", "grad" if grad else "val")
                text.set("data-bwd" if grad else "data-fwd",
                         str(grads.get(key, len(steps)) if grad else values.get(key, 0)))
        return ET.tostring(root, encoding="unicode")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
