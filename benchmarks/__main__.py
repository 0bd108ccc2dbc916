"""``python -m benchmarks [--quick] [--out docs]``: measure the generated code against expert
NumPy, PyTorch, JAX and autograd, and write ``<out>/benchmarks.md`` (measured numbers only)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import derivation, report, runner, scaling, summary
from .models import QUICK, WORKLOADS

SECTIONS = ("runtime", "fresh", "derivation", "digits", "scaling")
FULL = {"workloads": WORKLOADS, "modes": ("pinned", "asis"), "repeats": 31, "target_s": 0.02,
        "retries": 4, "fresh_rounds": 9, "nets": [(2, 2), (4, 8), (8, 16), (16, 32)],
        "derive_rounds": 2, "deep_repeats": 3, "depths": derivation.DEPTHS,
        "plain_depths": derivation.PLAIN_DEPTHS, "epochs": 30, "digit_rounds": 2}
QUICK_SETTINGS = {"workloads": [QUICK[0], QUICK[3], QUICK[4], QUICK[5]], "modes": ("pinned",), "repeats": 3,
                  "target_s": 0.005, "retries": 0, "fresh_rounds": 1, "nets": [(2, 2)],
                  "derive_rounds": 1, "deep_repeats": 1, "depths": [], "plain_depths": [], "epochs": 1,
                  "digit_rounds": 1}


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run under a minute: tiny sizes")
    parser.add_argument("--out", default="docs", help="folder for benchmarks.md (default: docs)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds allowed to one naive SymPy derivation (default: 120)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="run only these sections")
    return parser.parse_args(argv)


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def measure(s, args):
    """``(sections, targets, blas)`` of the chosen sections."""
    sections, blas, ws = [], [], s["workloads"]
    runs, fresh, digits = None, {}, {}
    if "runtime" in args.only:
        print("Loss + gradients (pinned and as-is) ...", flush=True)
        runs = runner.steady(ws, s["repeats"], s["target_s"], s["retries"], s["modes"])
        blas = runs["pinned"][next(iter(runs["pinned"]))]["blas"]
        sections.append(("1. Loss and gradients", [summary.steady_table(ws, runs, mode) for mode in runs]
                         + [summary.memory_table(ws, runs)]))
    if "fresh" in args.only:
        print("Fresh processes ...", flush=True)
        fresh = runner.fresh(ws if not args.quick else ws[:1], s["fresh_rounds"])
        sections.append(("2. First calls in a fresh process", [summary.fresh_table(
            [w for w in ws if summary.key(w) in fresh], fresh)]))
    if "derivation" in args.only:
        print("Derivation ...", flush=True)
        cold = runner.derive(s["nets"], s["derive_rounds"], args.budget)
        tables = [summary.derive_table(cold)]
        if s["depths"]:
            deep = derivation.measure_deep(s["deep_repeats"], s["depths"], s["plain_depths"])
            tables += derivation.deep_tables(deep)
        sections.append(("3. Derivation cost", tables))
    if "digits" in args.only:
        print("Digits training ...", flush=True)
        digits = runner.digits(s["epochs"], s["digit_rounds"])
        sections.append(("4. Digits training", [summary.digits_table(digits)]))
    if "scaling" in args.only:
        print("Backends and scale-out ...", flush=True)
        sections.append(("5. Backends and scale-out", scaling.measure(args.quick)))
    targets = summary.targets(ws, runs, fresh, digits) if runs else []
    return sections, targets, blas


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    s = QUICK_SETTINGS if args.quick else FULL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start, load_start = time.perf_counter(), _load()
    sections, targets, blas = measure(s, args)
    table = report.targets_table(targets)
    for _, tables in sections:
        for t in tables:
            print("\n" + t.text())
    print("\n" + table.text())
    info = report.machine(blas)
    info["settings"] = (f"{s['repeats']} round-robin repeats of ~{s['target_s'] * 1e3:g} ms samples per "
                        f"contestant; {s['fresh_rounds']} fresh processes per contestant")
    info["load average (1 min)"] = f"{load_start} at the start, {_load()} at the end"
    info["whole run"] = f"{time.perf_counter() - start:.0f} s"
    path = report.write(out / "benchmarks.md", " ".join(["python -m benchmarks", *argv]), info,
                        sections, table, args.quick)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
