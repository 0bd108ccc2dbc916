"""The ``symbp`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .check import REFERENCES, check
from .codegen import compile_module, emit
from .derive import derive
from .errors import SymbpError
from .examples import EXAMPLES
from .loading import load_model

__all__ = ["main"]


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if k == 0 else str(c).rjust(w)
                       for k, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_demo(args) -> int:
    print(f"symbp {__version__}: backpropagation derived by the chain rule, node by node.\n")
    d = derive(EXAMPLES["mlp"]())
    print(f"The backward pass of 'mlp' ({d.model.description}):")
    for step in d.backward:
        print(f"  {step}")
    print("\nEvery built-in example against HIPS autograd (float64, random inputs):")
    rows, failed = [], []
    for name, build in EXAMPLES.items():
        model = build()
        d = derive(model)
        try:
            report = check(model, "autograd", module=compile_module(d))
            error = f"{report.max_error:.1e}"
        except AssertionError as exc:
            failed.append(name)
            error = f"FAILED: {str(exc).splitlines()[0]}"
        rows.append([name, len(model.params), len(d.forward), len(d.backward), error])
    print(_table(rows, ["model", "params", "forward steps", "backward steps",
                        "max rel. error vs autograd"]))
    if failed:
        print(f"\n{len(failed)} model(s) disagree with autograd: {', '.join(failed)}")
        return 1
    print(f"\nAll {len(rows)} models agree with autograd to rtol 1e-6.")
    return 0


def cmd_list(args) -> int:
    for name, build in EXAMPLES.items():
        print(f"{name:20s} {build().description}")
    return 0


def cmd_derive(args) -> int:
    print(derive(load_model(args.model)))
    return 0


def cmd_check(args) -> int:
    model = load_model(args.model)
    module = compile_module(derive(model))
    status = 0
    for reference in args.reference:
        try:
            print(check(model, reference, seed=args.seed, module=module))
        except AssertionError as exc:
            print(exc)
            status = 1
    return status


def cmd_emit(args) -> int:
    d = derive(load_model(args.model))
    command = f"symbp emit {args.model} -o {args.output}" + (" --tests" if args.tests else "")
    path = emit(d, args.output, force=args.force, tests=args.tests, command=command)
    print(f"wrote {path}" + (f" and {path.with_name('test_' + path.name)}" if args.tests else ""))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="symbp", description=__doc__)
    p.add_argument("--version", action="version", version=f"symbp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    model_help = "a built-in example name (see `symbp list`) or path/to/file.py:attr"

    sub.add_parser("demo", help="derive, show and check every built-in example").set_defaults(
        run=cmd_demo)
    sub.add_parser("list", help="list the built-in examples").set_defaults(run=cmd_list)

    s = sub.add_parser("derive", help="print a model's forward and backward steps")
    s.add_argument("model", help=model_help)
    s.set_defaults(run=cmd_derive)

    s = sub.add_parser("check", help="compare the generated gradients with references")
    s.add_argument("model", help=model_help)
    s.add_argument("--reference", nargs="+", default=["autograd"], choices=REFERENCES)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(run=cmd_check)

    s = sub.add_parser("emit", help="write the standalone NumPy module of a model")
    s.add_argument("model", help=model_help)
    s.add_argument("-o", "--output", required=True, help="the .py file to write")
    s.add_argument("--tests", action="store_true", help="also write test_<name>.py for pytest")
    s.add_argument("--force", action="store_true", help="overwrite a file symbp did not write")
    s.set_defaults(run=cmd_emit)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except SymbpError as exc:
        print(f"symbp: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
