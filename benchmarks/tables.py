"""A small table type printed as text and written as Markdown, and number formats."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells):
        self.rows.append([str(c) for c in cells])

    def text(self) -> str:
        widths = [max(len(row[i]) for row in [self.columns, *self.rows]) for i in range(len(self.columns))]
        line = lambda row: "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))  # noqa: E731
        out = [self.title, "=" * len(self.title), line(self.columns), line(["-" * w for w in widths])]
        out += [line(row) for row in self.rows]
        out += [f"  * {note}" for note in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        out = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {note}" for note in self.notes]
        return "\n".join(out)


def seconds(value: float | None) -> str:
    """``value`` seconds in a readable unit: '812 µs', '1.24 ms', '3.1 s'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale or unit == "µs":
            shown = value / scale
            return f"{shown:.3g} {unit}" if shown < 100 else f"{shown:.0f} {unit}"
    raise AssertionError


def ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.2f}x" if value < 100 else f"{value:.0f}x"


def status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"
