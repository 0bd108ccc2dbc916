"""Training the built-in digits MLP with its generated ``fit``: the demo's real task."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np

from ..check import check, missing_package
from ..codegen import compile_module
from ..derive import derive
from ..errors import SymbpError
from ..files import check_writable, sign, write_atomic
from . import EXAMPLES
from .data import dataset, digits

__all__ = ["train_digits", "accuracy", "plot_history", "check_examples", "demo_reference",
           "training_data", "print_history"]


def accuracy(module, params, data) -> float | None:
    """Share of rows whose most probable class is the label (classifiers), or of samples whose
    single output rounds to its 0/1 label (``y_hat`` against ``y``, as XOR); else ``None``."""
    outputs = getattr(module, "OUTPUTS", [])
    if "logits" in outputs and "Y" in data:  # one row per token: (n T, V) against (n, T, V)
        logits = module.predict(params, **data)
        logits = logits["logits"] if isinstance(logits, dict) else logits
        labels = np.reshape(data["Y"], (len(logits), -1))
        return float(np.mean(np.argmax(logits, axis=1) == np.argmax(labels, axis=1)))
    if "probs" in outputs and "Y" in data:
        probs = module.predict(params, **data)
        probs = probs["probs"] if isinstance(probs, dict) else probs
        return float(np.mean(np.argmax(probs, axis=1) == np.argmax(data["Y"], axis=1)))
    labels = np.asarray(data.get("y", np.nan))
    if outputs == ["y_hat"] and np.isin(labels, (0.0, 1.0)).all():
        out = module.predict(params, **data)
        out = out["y_hat"] if isinstance(out, dict) else out
        return float(np.mean((np.asarray(out) > 0.5) == (labels > 0.5)))
    return None


def train_digits(epochs: int = 30, plot: str | None = "digits_loss.png", verbose: bool = True):
    """Train the digits MLP with its generated ``fit``; returns (history, held-out accuracy)."""
    train, test = digits()
    module = compile_module(derive(EXAMPLES["digits_mlp"]()))
    params = module.init_params(rng=0)
    start = time.perf_counter()
    history = module.fit(params, train, epochs=epochs, batch_size=32, optimizer="adam", lr=0.003,
                         val_data=test, verbose=verbose)
    seconds = time.perf_counter() - start
    share = accuracy(module, params, test)
    if verbose:
        print(f"held-out accuracy {share:.1%} on {len(test['X'])} test images "
              f"after {epochs} epochs in {seconds:.1f} s")
    if plot:
        plot_history(history, plot)
    return history, share


def plot_history(history, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: pip install matplotlib to save the loss curve)")
        return
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(range(1, len(history) + 1), history, marker="o", markersize=3)
    ax.set(xlabel="epoch", ylabel="mean training loss", yscale="log",
           title="digits MLP, generated NumPy code")
    fig.tight_layout()
    target = Path(path)
    try:
        if target.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise SymbpError(f"the loss curve {target} must end in .png, .svg or .pdf.")
        check_writable(target)
        picture = io.BytesIO()
        fig.savefig(picture, dpi=120, format=target.suffix[1:].lower())
        write_atomic(target, sign(picture.getvalue(), target.suffix))
    except SymbpError as exc:  # demo has no --force: keep the reason, drop that advice
        reason = str(exc).split("; pass force=True")[0].rstrip(".")
        print(f"(loss curve not saved: {reason}. Choose another file with --plot.)")
        return
    finally:
        plt.close(fig)
    print(f"loss curve saved to {path}")


def demo_reference() -> tuple[str, str]:
    """autograd when installed, else central finite differences, said so."""
    if missing_package("autograd") is None:
        return "autograd", "HIPS autograd"
    print("\n(autograd is not installed, so the examples are checked against central finite "
          "differences instead; pip install autograd for an autodiff reference.)")
    return "fd", "central finite differences"


def check_examples(reference: str) -> tuple[list, list]:
    """``(table rows, names that disagree)``: every example checked against ``reference``."""
    rows, failed = [], []
    for name, build in EXAMPLES.items():
        model = build()
        d = derive(model)
        try:
            report = check(model, reference, module=compile_module(d))
            error = f"{report.max_error:.1e}"
        except AssertionError as exc:
            failed.append(name)
            error = f"FAILED: {str(exc).splitlines()[0]}"
        rows.append([name, len(model.params), len(d.forward), len(d.backward), error])
    return rows, failed


def training_data(spec: str, module, name: str, seed: int):
    """``(train, validation or None, real)``: the example's dataset, else random data, said so."""
    why = "no real dataset fits this model"
    try:
        data = dataset(spec) if spec in EXAMPLES else None
    except SymbpError as exc:
        why, data = f"{str(exc).rstrip('.')}", None
    if data is not None:
        return *data, True
    print(f"training {name} on random data of its shapes ({why}): the loss only shows that "
          "training runs, so no accuracy is reported")
    return module.random_data(rng=seed), None, False


def print_history(history: list) -> None:
    """About ten epochs of a long run (short runs print every epoch while training)."""
    step = max(1, len(history) // 10)
    for k in [*range(0, len(history) - 1, step), len(history) - 1]:
        print(f"epoch {k + 1:>{len(str(len(history)))}}/{len(history)}  loss {history[k]:.4f}")
