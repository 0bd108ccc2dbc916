"""Machine information and the Markdown report (docs/benchmarks.md)."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from .tables import Table, status
from .worker import XLA_ONE_THREAD

INTRO = """\
How fast is the NumPy code symbp generates, and how fast does symbp derive it? Every number
below was measured by the run named under "How measured"; nothing is carried over from
earlier runs.

1. **Loss and gradients**: one call of `loss_and_grad` of the generated module against an
   expert hand-written NumPy version of the same math (`benchmarks/expert.py`, written from
   the math, not from the generator: workspaces allocated once, in-place `out=` updates, the
   fused softmax cross-entropy gradient, `ones @ G` for bias sums of 512 rows or more, the
   RNN's input projections of all steps in one GEMM), PyTorch eager, JAX `jit` and HIPS
   autograd; the peak memory of one call.
2. **First calls in a fresh process**: what a script's first calls cost.
3. **Derivation cost**: `symbp.derive` + `symbp.compile` against per-parameter
   `sympy.diff` + `cse` + `lambdify`, each cold in its own process; deep models.
4. **Digits training**: the generated `fit` against a JAX-jit loop and a PyTorch loop."""

METHOD = f"""\
- Every measurement runs in worker processes (`python -m benchmarks.worker`), one per workload
  and thread mode, started from the same environment.
- **One thread** ("pinned", the headline): `OPENBLAS_NUM_THREADS`, `OMP_NUM_THREADS` and
  `MKL_NUM_THREADS` set to 1 and `threadpoolctl.threadpool_limits(1)` (BLAS and OpenMP, after
  NumPy is imported), `torch.set_num_threads(1)`, and `XLA_FLAGS="{XLA_ONE_THREAD}"` set before
  JAX is imported. Every pinned worker reports its BLAS libraries' threads, and a run not on one
  thread is refused. **As-is**: the libraries' own thread settings, on a machine shared with other jobs.
- Within a process the contestants are timed round-robin (the order rotated every repeat)
  after a warm-up; each sample is the mean of enough calls to last the sample time; the figure
  is the median over repeats, with the interquartile range (IQR) as the noise. A median whose
  IQR exceeds 10% of it is marked † and is not used as a headline: its pinned run is repeated
  and the least noisy run kept, and a target read from a † median is reported n/a (a target
  against PyTorch or JAX: where its ratio is also within 10% of 1).
- Every contestant's loss and gradients are checked against the generated module's first
  (`numpy.allclose`, float64); the experts are checked to 1e-10 in `tests/test_benchmarks.py`.
- Memory: `tracemalloc`'s peak during one call (NumPy reports its array buffers to it), in the
  pinned worker, after the timings.
- All arrays are float64."""


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    """The repository's commit, marked when the sources differ from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        run = lambda *args: subprocess.run(["git", *args], cwd=root, capture_output=True,  # noqa: E731
                                           text=True, timeout=10, check=True).stdout.strip()
        commit = run("rev-parse", "--short", "HEAD")
        dirty = run("status", "--porcelain", "--", "symbp", "templates", "benchmarks")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + (" with uncommitted changes" if dirty else "")


def machine(blas: list[str]) -> dict[str, str]:
    info = {"date (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "CPU": f"{_cpu_model()}, {os.cpu_count()} logical CPUs (shared with other jobs)",
            "OS": f"{platform.system()} {platform.release()}", "Python": platform.python_version(),
            "commit": _commit()}
    for name in ("numpy", "sympy", "threadpoolctl", "torch", "jax", "autograd"):
        info[name] = _version(name)
    info["thread pools in a pinned worker (threadpoolctl)"] = "; ".join(blas) or "not measured"
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        info[var] = os.environ.get(var, "unset")
    return info


def targets_table(targets) -> Table:
    t = Table("Targets", ["target", "measured", "status"])
    for name, measured, ok in targets:
        t.add(name, measured, status(ok))
    return t


def write(path: Path, command: str, info: dict, sections, targets: Table, quick: bool) -> Path:
    """``sections``: (heading, tables)."""
    lines = ["# Benchmarks", "", INTRO, ""]
    if quick:
        lines += ["> **This is a `--quick` smoke run**: tiny workloads and few repeats; the numbers "
                  "are not representative. Run `python -m benchmarks` for the real ones.", ""]
    lines += ["## How measured", "", f"This report: `{command}`.", "", METHOD, "",
              "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in info.items()] + [""]
    lines += ["## Targets", "", targets.markdown(), ""]
    for heading, tables in sections:
        lines += [f"## {heading}", ""]
        for t in tables:
            lines += [f"### {t.title}", "", t.markdown(), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
