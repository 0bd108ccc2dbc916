"""What each ``symbp`` subcommand does (``cmd_<name>(args) -> exit status``); the
command line itself (arguments, help, errors as exit code 2) is ``symbp.cli``."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from .check import DEFAULT_RTOL, check, missing_package
from .codegen import compile_module, emit
from .compare import compare
from .derive import derive
from .dot import graph_dot, render_graph
from .errors import SymbpError
from .examples import EXAMPLES, regenerate
from .examples.data import TRAINING, dataset
from .examples.demo import (
    accuracy,
    check_examples,
    demo_reference,
    print_history,
    train_digits,
    training_data,
)
from .files import check_regular, check_writable, read_regular, sign, write_atomic
from .latex import compile_pdf, latex_document
from .lesson import write_lesson
from .loading import load_model, teaching_values
from .version import __version__

__all__ = ["cmd_demo", "cmd_list", "cmd_derive", "cmd_check", "cmd_emit", "cmd_train",
           "cmd_regenerate", "cmd_explain", "cmd_latex", "cmd_graph", "cmd_compare",
           "cmd_lesson"]


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
    print("\nTraining the 64-64-10 ReLU MLP on the UCI handwritten digits with its generated "
          "fit (Adam):")
    try:
        train_digits(plot=args.plot)
    except SymbpError as exc:
        print(f"(skipped: {exc})")
    try:
        _train_digits_cnn()
    except SymbpError as exc:
        print(f"(skipped: {exc})")
    reference, title = demo_reference()
    print(f"\nEvery built-in example against {title} (float64, random inputs):")
    rows, failed = check_examples(reference)
    print(_table(rows, ["model", "params", "forward steps", "backward steps",
                        f"max rel. error vs {reference}"]))
    if failed:
        print(f"\n{len(failed)} model(s) disagree with {reference}: {', '.join(failed)}")
        return 1
    rtol = str(DEFAULT_RTOL[reference]).replace("e-0", "e-")
    print(f"All {len(rows)} models agree with {reference} to rtol {rtol}.")
    return 0


def _train_digits_cnn() -> None:
    """The demo's second task: the digits CNN trained with its generated fit (Adam)."""
    model = EXAMPLES["digits_cnn"]()
    print(f"\nTraining the digits CNN ({model.description.split(': ', 1)[-1].rstrip('.')}) "
          "with its generated fit (Adam):")
    module = compile_module(derive(model))
    train, test = dataset("digits_cnn")
    params = module.init_params(rng=0)
    settings = TRAINING["digits_cnn"]
    start = time.perf_counter()
    history = module.fit(params, train, optimizer="adam", seed=0, val_data=test, verbose=False,
                         **settings)
    seconds = time.perf_counter() - start
    print(f"loss {history[0]:.4f} -> {history[-1]:.4f}; held-out accuracy "
          f"{accuracy(module, params, test):.1%} on {len(test['X'])} test images after "
          f"{settings['epochs']} epochs in {seconds:.1f} s")


def _check_training(args) -> None:
    """Refuse training options that cannot train, before any work."""
    for option, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise SymbpError(f"{option} must be a positive integer, not {value}.")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise SymbpError(f"--lr must be a positive finite number, not {args.lr}.")
    if args.seed < 0:
        raise SymbpError(f"--seed must be a non-negative integer, not {args.seed}.")


def cmd_train(args) -> int:
    _check_training(args)
    model = load_model(args.model)
    module = compile_module(derive(model))
    train, val, real = training_data(args.model, module, model.name, args.seed)
    settings = {"epochs": 20, "batch_size": 32, "lr": None,
                **(TRAINING.get(args.model, {}) if real else {})}
    settings.update({k: v for k in settings if (v := getattr(args, k)) is not None})
    params = module.init_params(rng=args.seed, **{dim: 64 for dim in module.DIMS})
    history = module.fit(params, train, optimizer=args.optimizer, seed=args.seed, val_data=val,
                         verbose=settings["epochs"] <= 30, **settings)
    bad = next((k for k, value in enumerate(history) if not math.isfinite(value)), None)
    if bad is not None:
        raise SymbpError(f"training diverged: the loss became {history[bad]} at epoch {bad + 1}; "
                         "lower --lr.")
    if settings["epochs"] > 30:
        print_history(history)
    print(f"loss {history[0]:.4f} -> {history[-1]:.4f}")
    share = accuracy(module, params, val if val is not None else train) if real else None
    if share is not None:
        print(f"accuracy {share:.1%}" + (" (held out)" if val is not train else ""))
    return 0


def cmd_regenerate(args) -> int:
    directory = Path(args.directory)
    for name in EXAMPLES:  # regenerate reads its targets: refuse FIFOs and devices first
        for path in (directory / f"{name}.py", directory / f"test_{name}.py"):
            check_regular(path)
    stale = regenerate(directory, check=True)
    if args.check:
        for path in stale:
            print(f"stale: {path}")
        return 1 if stale else 0
    for path in stale:  # all checked before any is written
        try:
            check_writable(path)
        except SymbpError:
            raise SymbpError(f"{path} was not written by symbp or was edited since, so regenerate "
                             "wrote nothing; move that file away and run symbp regenerate "
                             "again.") from None
    changed = regenerate(directory)
    print(f"wrote {len(changed)} file(s) in {directory}" if changed else "already current")
    return 0


def cmd_explain(args) -> int:
    model = load_model(args.model)
    print(derive(model).explain(lang=args.lang, values=teaching_values(model, args.values)), end="")
    return 0


def cmd_latex(args) -> int:
    d = derive(load_model(args.model))
    path = Path(args.output)
    if path.suffix != ".tex":
        raise SymbpError(f"the LaTeX file {path} must end in .tex.")
    check_writable(path, args.force)
    pdf = path.with_suffix(".pdf") if args.pdf else None
    if pdf is not None:
        check_writable(pdf, args.force)
    tex = sign(latex_document(d, title=args.title), ".tex")
    if pdf is not None:  # compiled aside first: a pdflatex failure writes nothing
        with tempfile.TemporaryDirectory() as scratch:
            draft = Path(scratch) / path.name
            draft.write_bytes(tex)
            pdf_bytes = sign(read_regular(compile_pdf(draft)), ".pdf")
    write_atomic(path, tex)
    print(f"wrote {path}")
    if pdf is not None:
        write_atomic(pdf, pdf_bytes)
        print(f"wrote {pdf}")
    return 0


def cmd_graph(args) -> int:
    model = load_model(args.model)
    d = derive(model)
    path = Path(args.output)
    if path.suffix.lower() not in (".dot", ".svg", ".png", ".pdf"):
        raise SymbpError(f"the picture {path} must end in .svg, .png, .pdf or .dot.")
    check_writable(path, args.force)
    values = teaching_values(model, args.values) if args.values else None
    if path.suffix.lower() == ".dot":
        write_atomic(path, sign(graph_dot(d, values), ".dot"))
    else:
        render_graph(d, path, values, force=args.force)
    print(f"wrote {path}")
    return 0


def cmd_lesson(args) -> int:
    model = load_model(args.model)
    values = teaching_values(model, args.values) if args.values else None
    print(f"wrote {write_lesson(derive(model), args.output, args.lang, values, args.force)}")
    return 0


def cmd_compare(args) -> int:
    print(compare(load_model(args.model), budget=args.budget))
    return 0


def cmd_list(args) -> int:
    for name, build in EXAMPLES.items():
        print(f"{name:20s} {build().description}")
    return 0


def cmd_derive(args) -> int:
    print(derive(load_model(args.model)))
    return 0


def _usable(references: list) -> list:
    """The requested references whose package is installed, a note for each other; central
    finite differences when none is."""
    usable = []
    for reference in dict.fromkeys(references):
        package = missing_package(reference)
        if package is None:
            usable.append(reference)
        else:
            print(f"skipping the {reference} reference: the package {package} is not installed "
                  f"(pip install {package}).")
    if not usable:
        print("checking against central finite differences (fd) instead.")
    return usable or ["fd"]


def cmd_check(args) -> int:
    model = load_model(args.model)
    module = compile_module(derive(model))
    status = 0
    for reference in _usable(args.reference):
        try:
            report = check(model, reference, seed=args.seed, module=module)
        except AssertionError as exc:
            print(exc)
            status = 1
            continue
        print(report)
        print(f"OK: the loss and every gradient of {model.name} agree with {reference} "
              f"(largest rel. error {report.max_error:.1e}, rtol {report.rtol:g}).")
    return status


def cmd_emit(args) -> int:
    d = derive(load_model(args.model))
    command = f"symbp emit {args.model} -o {args.output}" + (" --tests" if args.tests else "")
    path = emit(d, args.output, force=args.force, tests=args.tests, command=command)
    print(f"wrote {path}" + (f" and {path.with_name('test_' + path.name)}" if args.tests else ""))
    return 0
