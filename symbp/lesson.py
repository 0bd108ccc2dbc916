"""The lesson page: one self-contained HTML file that steps through backpropagation.

The page shows the computational graph (laid out by Graphviz's ``dot`` and inlined
as SVG, one id per node ``n0, n1, ...`` and per edge ``e0, e1, ...``), then steps
through the forward pass node by node (each value appears on its edges, above),
the backward pass (each gradient appears under its edge, in red), the parameter
gradients and the update. Beside the graph: the step's chain-rule line, word for
word the one ``explain`` prints (``explain`` is the single source of the text and
the numbers), partial derivatives typeset as MathML fractions, and its number;
matrices as small heat-map tables, large ones summarised.

No network is needed: no script, font or style comes from elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np
import sympy as sp
from markupsafe import Markup

from .derive import as_derivation
from .errors import SymbpError
from .explain import TEXT, Adjoint, _Explainer, evaluate_at, format_full, gradient_paths
from .explain import teaching_values as _drawn_values
from .files import check_writable, output_path, sign, write_atomic
from .ir import Derivation
from .lesson_graph import LessonGraph
from .model import Model
from .templating import template_dir

__all__ = ["lesson_html", "write_lesson"]

UI = {
    "en": {"next": "Next", "back": "Back", "step": "Step", "of": "of", "given": "Given values",
           "hint": "Keys: → next, ← back, Home / End.", "graph": "The computational graph",
           "formula": "This step", "update_note": "Each parameter moves against its gradient.",
           "lang": "en"},
    "zh": {"next": "下一步", "back": "上一步", "step": "第", "of": "步，共", "given": "给定的数值",
           "hint": "按键：→ 下一步，← 上一步，Home / End。", "graph": "计算图",
           "formula": "这一步", "update_note": "每个参数沿梯度的反方向移动。", "lang": "zh-Hans"},
}
_TABLE = 8  # matrices up to 8 x 8 are shown in full as heat-map tables
_PARTIAL = re.compile(r"∂([^\s/∂·⊙()ᵀ,=\[\]]+)/∂([^\s/∂·⊙()ᵀ,=\[\]]+)")


@dataclass
class PageStep:
    """One screen of the lesson."""

    phase: str  # start | forward | backward | update
    heading: str
    lines: list  # each a list of pieces: {"t": text} or {"of": ..., "wrt": ...}
    node: str | None = None  # name of the highlighted node
    edges: list = field(default_factory=list)  # (source, user) pairs highlighted
    number: str | None = None  # the number explain prints for this step
    table: list | None = None  # rows of (text, colour) cells for a small matrix
    notes: list = field(default_factory=list)


def pieces(text: str) -> list[dict]:
    """``text`` split into plain runs and partial derivatives ``∂a/∂b`` (typeset as fractions)."""
    out, pos = [], 0
    for match in _PARTIAL.finditer(text):
        if match.start() > pos:
            out.append({"t": text[pos:match.start()]})
        out.append({"of": match.group(1), "wrt": match.group(2)})
        pos = match.end()
    if pos < len(text):
        out.append({"t": text[pos:]})
    return out


def _table(value) -> list | None:
    """Rows of (text, background colour) for a matrix of at most 8 x 8, else None."""
    if not isinstance(value, sp.MatrixBase) or value.rows > _TABLE or value.cols > _TABLE:
        return None
    array = np.array(value.evalf(), dtype=float)
    scale = float(np.max(np.abs(array))) or 1.0
    rows = []
    for row in array:
        cells = []
        for x in row:
            alpha = round(abs(x) / scale * 0.55, 2)
            colour = f"rgba(192,57,43,{alpha})" if x > 0 else f"rgba(41,128,185,{alpha})"
            cells.append((f"{x:.4g}", colour))
        rows.append(cells)
    return rows


class _Lesson:
    """The steps of the page, read off ``explain``'s own lines and numbers."""

    def __init__(self, d: Derivation, lang: str, values: Mapping | None):
        self.ex = _Explainer(d, lang, values)
        self.d, self.t, self.loss = d, TEXT[lang], self.ex.loss

    def raw(self, sym, expr=None):
        env = self.ex.values
        if env is None:
            return None
        return env[sym] if sym in env else evaluate_at(expr, env)

    def numbered(self, step: PageStep, sym, expr=None, of: str = "") -> PageStep:
        number = self.ex.number(sym, expr, of)
        if number:
            step.number = number[len(" = "):]
            step.table = _table(self.raw(sym, expr))
        return step

    def forward(self, s) -> PageStep:
        heading = self.t["loss" if s.role == "loss" else "forward"].rstrip(":：")
        return self.numbered(PageStep("forward", heading, [pieces(f"{s.name} = {self.ex.show(s.expr)}")],
                                      s.name, [(src, s.name) for src in self.sources(s)]), s.symbol)

    def sources(self, s) -> list[str]:
        names, dims = self.names(), set(self.d.model.dims)
        return sorted({names[x] for x in s.expr.free_symbols if x in names and x not in dims})

    def names(self) -> dict:
        names = {s: s.name for s in self.d.model.symbols}
        names.update({s.symbol: s.name for s in self.d.forward})
        return names

    def backward(self, e: Adjoint, heading: str) -> PageStep:
        text = self.ex.chain(e)
        number = self.ex.number(e.symbol, e.expr, e.of)
        first, *rest = text.split("\n")
        equation = " ".join([first.strip()] + [r.strip() for r in rest if r.strip().startswith("= ")])
        notes = [r.strip() for r in rest if not r.strip().startswith("= ")]
        if number and equation.endswith(number):
            equation = equation[: -len(number)]
        lhs, *segments = equation.split(" = ")
        lines = [pieces(lhs)] + [pieces("= " + seg) for seg in segments]
        users = list(dict.fromkeys(p.user for p in e.paths))
        page = PageStep("backward", heading, lines, e.of, [(e.of, u) for u in users],
                        notes=[pieces(n) for n in notes])
        return self.numbered(page, e.symbol, e.expr, e.of)

    def steps(self) -> list[PageStep]:
        d, t, loss = self.d, self.t, self.loss
        start = PageStep("start", t["graph"].format(nodes=len(d.forward)), [])
        if self.ex.values is not None:
            start.lines = [pieces(f"{s.name} = {format_full(self.ex.values[s], self.ex.shapes.get(s))}")
                           for s in d.model.symbols if s in self.ex.values and s not in d.model.dims]
        steps = [start] + [self.forward(s) for s in d.forward if s.role != "loss"]
        steps += [self.forward(s) for s in d.forward if s.role == "loss"]
        seed = PageStep("backward", t["backward"].split("（")[0].split(" (")[0],
                        [pieces(f"{self.ex.partial(loss)} = 1")], loss, [(loss, None)])
        seed.number = "1" if self.ex.values is not None else None
        steps.append(seed)
        entries = gradient_paths(d)
        steps += [self.backward(e, seed.heading) for e in entries if e.role != "gradient"]
        mean = d.model.is_scalar and bool(d.model.data)
        grads = t["grads_mean" if mean else "grads"].rstrip(":：")
        pages = [self.backward(e, grads) for e in entries if e.role == "gradient"]
        if pages and mean and self.ex.values is not None:  # as explain says it, once
            pages[0].notes.append(pieces(t["one_sample"].strip()))
        steps += pages
        return steps + [self.update(steps)]

    def update(self, steps: list[PageStep]) -> PageStep:
        """``p ← p − η · ∂L/∂p``, with the numbers: ``= 400 − η · 0.7``."""
        gradients = {s.node: s.number for s in steps if s.phase == "backward"}
        lines = []
        for p in self.d.model.params:
            line = f"{p.name} ← {p.name} − η · {self.ex.partial(p.name)}"
            if gradients.get(p.name) is not None:
                gradient = gradients[p.name]
                gradient = f"({gradient})" if gradient.startswith("-") else gradient
                line += f" = {format_full(self.ex.values[p], self.ex.shapes.get(p))} − η · {gradient}"
            lines.append(pieces(line))
        return PageStep("update", self.t["update"].rstrip(":："), lines)



def lesson_html(d: Derivation | Model, lang: str = "en", values: Mapping | bool | None = None) -> str:
    """The lesson page of ``d`` (a Derivation, or a Model to derive) as one HTML document.

    ``values`` (symbol -> number) puts every step's number on the page; ``True`` takes the
    model's example values or, if it has none, random ones (as ``explain``).
    """
    d = as_derivation(d)
    if lang not in UI:
        raise SymbpError(f"no lesson page in {lang!r}; choose one of {', '.join(UI)}.")
    if values is True:
        values = _drawn_values(d.model)
    lesson = _Lesson(d, lang, None if values is False else values)
    steps = lesson.steps()
    graph = LessonGraph(lesson)
    svg = graph.svg(steps)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir())),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    shown = [{"phase": s.phase, "heading": s.heading, "lines": s.lines, "number": s.number,
              "table": s.table, "notes": s.notes, "of": s.node or "", "node": graph.nodes.get(s.node, ""),
              "edges": " ".join(graph.edges[e] for e in s.edges if e in graph.edges)}
             for s in steps]
    return env.get_template("lesson.html.j2").render(
        ui=UI[lang], title=lesson.t["title"].format(name=d.model.name),
        description=d.model.description or "", steps=shown, svg=Markup(svg))


def write_lesson(d: Derivation | Model, path, lang: str = "en", values: Mapping | bool | None = None,
                 force: bool = False) -> Path:
    """Write the lesson page to ``path`` (.html); like ``emit``, it replaces only a page symbp
    wrote (unedited), unless ``force``. The signature is an HTML comment on the last line."""
    path = output_path(path, force)
    if path.suffix.lower() not in (".html", ".htm"):
        raise SymbpError(f"the lesson page {path} must end in .html.")
    check_writable(path, force)
    page = lesson_html(d, lang, values)
    write_atomic(path, sign(page, ".html"))
    return path
