"""Built-in models: the lesson's shopping bill, XOR, MLPs, softmax regression,
a tied-weight autoencoder and an unrolled RNN.

``EXAMPLES`` maps each name to a function returning a fresh ``Model``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import Model
from .models import (
    apples,
    autoencoder,
    digits_mlp,
    mlp,
    mlp_relu,
    rnn,
    shopping,
    softmax_regression,
    tanh_trace,
    xor,
)

__all__ = ["EXAMPLES", "example"]

EXAMPLES: dict[str, Callable[[], Model]] = {
    "shopping": shopping,
    "apples": apples,
    "xor": xor,
    "softmax_regression": softmax_regression,
    "mlp": mlp,
    "mlp_relu": mlp_relu,
    "digits_mlp": digits_mlp,
    "autoencoder": autoencoder,
    "rnn": rnn,
    "tanh_trace": tanh_trace,
}


def example(name: str) -> Model:
    """The built-in model called ``name``."""
    from ..errors import SymbpError

    if name not in EXAMPLES:
        raise SymbpError(f"no built-in example {name!r}; choose one of {', '.join(EXAMPLES)}.")
    return EXAMPLES[name]()
