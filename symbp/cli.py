"""The ``symbp`` command: derive backpropagation for SymPy networks, explain it, and
generate and check standalone NumPy training code."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from .check import REFERENCES
from .commands import (
    cmd_check,
    cmd_compare,
    cmd_demo,
    cmd_derive,
    cmd_emit,
    cmd_explain,
    cmd_graph,
    cmd_latex,
    cmd_lesson,
    cmd_list,
    cmd_regenerate,
    cmd_train,
)
from .errors import SymbpError
from .version import __version__

__all__ = ["main", "parser"]


_MODEL_HELP = "a built-in example name (see: symbp list) or path/to/file.py:attr"



def _seconds(text: str) -> float:
    """A finite number of seconds, 0 or more (argparse names the option when this refuses)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds, 0 or more")
    return value

def _command(sub, name: str, run, help: str, model: bool = True):
    s = sub.add_parser(name, help=help)
    if model:
        s.add_argument("model", help=_MODEL_HELP)
    s.set_defaults(run=run)
    return s


def _output(s, help: str) -> None:
    s.add_argument("-o", "--output", required=True, help=help)
    s.add_argument("--force", action="store_true", help="overwrite a file symbp did not write")


def _code_commands(sub) -> None:
    s = _command(sub, "demo", cmd_demo, "derive, show and check every example; train on digits",
                 model=False)
    s.add_argument("--plot", default="digits_loss.png", help="where to save the loss curve PNG")
    _command(sub, "list", cmd_list, "list the built-in examples", model=False)
    _command(sub, "derive", cmd_derive, "print a model's forward and backward steps")
    s = _command(sub, "check", cmd_check, "compare the generated gradients with references")
    s.add_argument("--reference", nargs="+", default=["autograd"], choices=REFERENCES,
                   help="the independent references: central finite differences (fd) or an "
                        "autodiff (default: autograd; a missing package is skipped with a note)")
    s.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    s = _command(sub, "emit", cmd_emit, "write the standalone NumPy module of a model")
    _output(s, "the .py file to write")
    s.add_argument("--tests", action="store_true", help="also write test_<name>.py for pytest")
    s = _command(sub, "train", cmd_train, "train a model with its generated fit")
    s.add_argument("--epochs", type=int, default=None,
                   help="passes over the data (default: the example's, else 20)")
    s.add_argument("--batch-size", type=int, default=None,
                   help="rows per step (default: the example's, else 32)")
    s.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default="adam",
                   help="the update rule (default adam)")
    s.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: the example's, else the optimizer's)")
    s.add_argument("--seed", type=int, default=0,
                   help="seed of the initial weights, the shuffling and random data (default 0)")
    s = _command(sub, "regenerate", cmd_regenerate, "rewrite generated/ for every built-in example",
                 model=False)
    s.add_argument("--directory", default="generated",
                   help="where the modules and their tests go (default generated)")
    s.add_argument("--check", action="store_true", help="only list stale files (exit 1 if any)")


def _teaching_commands(sub) -> None:
    s = _command(sub, "explain", cmd_explain, "the chain rule step by step")
    s.add_argument("--lang", choices=["en", "zh"], default="en",
                   help="the language of the explanation: English (en) or Chinese (zh)")
    s.add_argument("--values", action="store_true",
                   help="show the number of every step (the model's example values, else random)")
    s = _command(sub, "latex", cmd_latex, "a LaTeX document of the derivation")
    _output(s, "the .tex file to write")
    s.add_argument("--pdf", action="store_true", help="also compile it with pdflatex")
    s.add_argument("--title", default=None, help="the document's title (default: the model's)")
    s = _command(sub, "graph", cmd_graph, "a picture of the computational graph (Graphviz)")
    _output(s, "graph.svg, .png, .pdf or .dot")
    s.add_argument("--values", action="store_true",
                   help="forward values and gradients on the edges")
    s = _command(sub, "compare", cmd_compare, "operation counts: symbp vs per-parameter sympy.diff")
    s.add_argument("--budget", type=_seconds, default=30.0, help="seconds for sympy.diff")
    s = _command(sub, "lesson", cmd_lesson, "one HTML page stepping through forward and backward")
    _output(s, "the .html file to write")
    s.add_argument("--lang", choices=["en", "zh"], default="en",
                   help="the language of the page: English (en) or Chinese (zh)")
    s.add_argument("--values", action="store_true",
                   help="numbers on every step (the model's example values, else random)")


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symbp`` command."""
    p = argparse.ArgumentParser(prog="symbp", description=__doc__.replace("``", ""))
    p.add_argument("--version", action="version", version=f"symbp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _code_commands(sub)
    _teaching_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except SymbpError as exc:
        print(f"symbp: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused (permissions, space): say so, no traceback
        where = f" {exc.filename}" if exc.filename else ""
        print(f"symbp: error: cannot access{where}: {exc.strerror or exc}.", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
