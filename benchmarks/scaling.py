"""Section 5 of the report: the backends and scale-out tables, each measured by its own script in
a fresh process (JAX's host devices are fixed when JAX is imported):
``benchmarks.backends`` (the MLP's per-call time in the torch and JAX exports against the NumPy
module), ``benchmarks.scaling_jax`` (1, 2, 4, 8 JAX host devices) and ``benchmarks.scaling_dask``
(1 and 2 Dask worker processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .tables import Table

ROOT = Path(__file__).resolve().parent.parent
FULL = [("benchmarks.backends", ["--repeats", "5"]),
        ("benchmarks.scaling_jax", ["--repeats", "5"]),
        ("benchmarks.scaling_dask", ["--rows", "1000000", "--repeats", "3"])]
QUICK = [("benchmarks.scaling_jax", ["--batch", "64", "--sizes", "8", "16", "3", "--repeats", "1"]),
         ("benchmarks.scaling_dask", ["--rows", "2000", "--chunks", "2", "--repeats", "1"])]


def parse(text: str, fallback: str) -> Table:
    """The first Markdown table a script printed, titled by the line before it."""
    lines = [line for line in text.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    title = next((line for line in lines[:start] if not line.startswith("|")), fallback)
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[start:]
             if line.startswith("|")]
    return Table(title, cells[0], [row for row in cells[2:]])


def measure(quick: bool) -> list[Table]:
    tables = []
    for module, args in QUICK if quick else FULL:
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=1800)
        if done.returncode != 0:
            table = Table(f"{module}: failed", ["stderr (last line)"])
            table.add((done.stderr.strip().splitlines() or ["no output"])[-1])
        else:
            table = parse(done.stdout, module)
            table.notes.append(f"`python -m {module} {' '.join(args)}`")
        tables.append(table)
    return tables
