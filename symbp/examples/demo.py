"""Training the built-in digits MLP with its generated ``fit``: the demo's real task."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np

from ..codegen import compile_module
from ..derive import derive
from ..errors import SymbpError
from ..files import check_writable, sign, write_atomic
from . import EXAMPLES
from .data import digits

__all__ = ["train_digits", "accuracy", "plot_history"]


def accuracy(module, params, data) -> float | None:
    """Share of rows whose most probable class is the label (classifiers only)."""
    if "probs" not in getattr(module, "OUTPUTS", []) or "Y" not in data:
        return None
    probs = module.predict(params, **data)
    probs = probs["probs"] if isinstance(probs, dict) else probs
    return float(np.mean(np.argmax(probs, axis=1) == np.argmax(data["Y"], axis=1)))


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
    except SymbpError as exc:
        print(f"(loss curve not saved: {exc} Choose another file with --plot.)")
        return
    finally:
        plt.close(fig)
    print(f"loss curve saved to {path}")
