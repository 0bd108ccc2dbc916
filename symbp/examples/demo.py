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
    """Share of rows whose most probable class is the label (classifiers), or of samples whose
    single output rounds to its 0/1 label (``y_hat`` against ``y``, as XOR); else ``None``."""
    outputs = getattr(module, "OUTPUTS", [])
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
