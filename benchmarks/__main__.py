"""``python -m benchmarks [--quick] [--out docs]``: run every benchmark, print the tables,
write ``<out>/benchmarks.md`` and the plots ``<out>/bench_*.png``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import derivation, gradcost, plots, report, runtime

SECTIONS = ("runtime", "derivation", "gradcost")


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of a few seconds: few repeats, small workloads")
    parser.add_argument("--out", default="docs",
                        help="folder for benchmarks.md and the plots (default: docs)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds allowed to the naive SymPy route per scalar net (default: 120)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="run only these sections")
    return parser.parse_args(argv)


def settings(quick: bool) -> dict:
    if quick:
        return {"repeats": 3, "target_s": 0.01, "mlps": runtime.MLPS[1:], "derive_repeats": 1,
                "naive_repeats": 1, "max_hidden": 8, "plain_depths": [10]}
    return {"repeats": 21, "target_s": 0.05, "mlps": runtime.MLPS, "derive_repeats": 5,
            "naive_repeats": 3, "max_hidden": None, "plain_depths": derivation.PLAIN_DEPTHS}


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    s = settings(args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)])
    start, load_start = time.perf_counter(), _load()
    sections, targets, notes, drawings = [], [], [], []

    if "runtime" in args.only:
        print("Runtime (loss + gradients) ...", flush=True)
        peer_notes = []
        results = runtime.measure(s["repeats"], s["target_s"], s["mlps"], peer_notes)
        sections.append(("1. Runtime", runtime.tables(results, peer_notes), "bench_runtime.png"))
        targets += runtime.targets(results)
        drawings.append(("bench_runtime.png", lambda p, r=results: plots.plot_runtime(r, p)))

    if "derivation" in args.only:
        print("Derivation cost ...", flush=True)
        scalar = derivation.measure_scalar(s["derive_repeats"], s["naive_repeats"], args.budget,
                                           s["max_hidden"])
        deep = derivation.measure_deep(s["derive_repeats"], plain_depths=s["plain_depths"])
        sections.append(("2. Derivation cost",
                         derivation.scalar_tables(scalar) + derivation.deep_tables(deep),
                         "bench_derivation.png"))
        targets += derivation.targets(scalar, deep)
        drawings.append(("bench_derivation.png",
                         lambda p, a=scalar, b=deep: plots.plot_derivation(a, b, p)))

    if "gradcost" in args.only:
        print("Gradient cost ...", flush=True)
        results = gradcost.measure(s["repeats"], s["target_s"], s["mlps"])
        sections.append(("3. Gradient cost", gradcost.tables(results), "bench_gradcost.png"))
        targets += gradcost.targets(results)
        drawings.append(("bench_gradcost.png", lambda p, r=results: plots.plot_gradcost(r, p)))

    drawn = set()
    for name, draw in drawings:
        try:
            draw(out / name)
            drawn.add(name)
        except ImportError:
            if "matplotlib is not installed: no plots." not in notes:
                notes.append("matplotlib is not installed: no plots.")
    sections = [(heading, tables, plot if plot in drawn else None) for heading, tables, plot in sections]

    summary = report.targets_table(targets)
    for _, tables, _ in sections:
        for t in tables:
            print("\n" + t.text())
    print("\n" + summary.text())
    notes.append(f"The whole run took {time.perf_counter() - start:.0f} s.")
    info = report.machine()
    info["settings"] = (f"{s['repeats']} repeats of ~{s['target_s'] * 1e3:g} ms samples per contestant; "
                        f"derivation runs: {s['derive_repeats']}; naive route runs: at most "
                        f"{s['naive_repeats']}, within {args.budget:g} s per net")
    info["load average (1 min)"] = f"{load_start} at the start, {_load()} at the end"
    notes.append("The machine is shared: other processes' load (above) slows multi-threaded contestants "
                 "(PyTorch, JAX, OpenBLAS use every core by default) more than single-threaded ones.")
    path = report.write(out / "benchmarks.md", command, info, sections, summary, notes, args.quick)
    print(f"\nwrote {path}" + "".join(f", {out / name}" for name in sorted(drawn)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
