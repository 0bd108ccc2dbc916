"""Machine information and the Markdown report (docs/benchmarks.md)."""

from __future__ import annotations

import datetime
import importlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from .tables import Table, status

INTRO = """\
How fast is what symbp generates, and how fast does symbp derive it? Three sections:

1. **Runtime**: loss and all gradients of ReLU MLPs (softmax cross-entropy), the generated
   NumPy module against the same math written by hand in NumPy, PyTorch eager, JAX `jit` and
   HIPS autograd.
2. **Derivation cost**: `symbp.derive` + `symbp.compile` against the naive SymPy route
   (per-parameter `sympy.diff`, `sympy.cse`, `sympy.lambdify`), and against depth.
3. **Gradient cost**: (loss + gradient time) / (loss time) of the generated modules.

Method: everything runs in one process; the contestants of a workload are timed alternately
(round-robin, the order rotated every repeat) after a warm-up, and every figure is a median
over repeats, so the ratios compare runs made at the same time on the same (shared, noisy)
machine. Derivations start from an empty SymPy cache, as a user's first call would."""


def _version(module: str) -> str | None:
    try:
        return getattr(importlib.import_module(module), "__version__", None) or \
            importlib.metadata.version(module)
    except Exception:  # a missing or broken optional package is reported, never fatal
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> str:
    try:
        import numpy as np

        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown"


def _commit() -> str:
    """The repository's commit, marked when symbp's sources differ from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        run = lambda *args: subprocess.run(["git", *args], cwd=root, capture_output=True,  # noqa: E731
                                           text=True, timeout=10, check=True).stdout.strip()
        commit = run("rev-parse", "--short", "HEAD")
        dirty = run("status", "--porcelain", "--", "symbp", "templates")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + (" with uncommitted changes to symbp" if dirty else "")


def machine() -> dict[str, str]:
    info = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "CPU": f"{_cpu_model()}, {os.cpu_count()} logical CPUs",
            "OS": f"{platform.system()} {platform.release()}",
            "Python": platform.python_version()}
    for name in ("symbp", "numpy", "sympy", "torch", "jax", "autograd", "matplotlib"):
        info[name] = _version(name) or "not installed"
    info["symbp"] += f" (commit {_commit()})"
    info["NumPy BLAS"] = _blas()
    try:
        import torch

        info["torch threads"] = str(torch.get_num_threads())
    except ImportError:
        pass
    return info


def targets_table(targets) -> Table:
    t = Table("Targets", ["target", "measured", "status"])
    for name, measured, ok in targets:
        t.add(name, measured, status(ok))
    return t


def write(path: Path, command: str, info: dict, sections: list[tuple[str, list[Table], str | None]],
          targets: Table, notes: list[str], quick: bool) -> Path:
    """``sections``: (heading, tables, plot file name or None)."""
    lines = ["# Benchmarks", "", INTRO, ""]
    if quick:
        lines += ["> **This is a `--quick` smoke run**: few repeats and the smaller workloads only; "
                  "the numbers are not representative. Run `python -m benchmarks` for the real ones.", ""]
    shown = "" if command == "python -m benchmarks" else f" (this report: `{command}`)"
    lines += [f"Reproduce: `python -m benchmarks`{shown}.", ""]
    lines += ["| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in info.items()] + [""]
    lines += ["## Targets", "", targets.markdown(), ""]
    for heading, tables, plot in sections:
        lines += [f"## {heading}", ""]
        for t in tables:
            lines += [f"### {t.title}", "", t.markdown(), ""]
        if plot:
            lines += [f"![{heading}]({plot})", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
