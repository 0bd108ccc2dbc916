"""Built-in models: the lesson's shopping bill, XOR, MLPs, softmax regression,
a tied-weight autoencoder, an unrolled RNN, a small CNN for the digits and a one-block
transformer reversing digit sequences.

``EXAMPLES`` maps each name to a function returning a fresh ``Model``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..codegen import check_writable, generate, generate_tests, write_atomic
from ..derive import derive
from ..errors import SymbpError
from ..model import Model
from .models import (
    apples,
    autoencoder,
    digits_cnn,
    digits_mlp,
    mlp,
    mlp_relu,
    rnn,
    shopping,
    softmax_regression,
    tanh_4_8_1,
    tanh_trace,
    transformer,
    xor,
)

__all__ = ["EXAMPLES", "example", "regenerate"]

EXAMPLES: dict[str, Callable[[], Model]] = {
    "shopping": shopping,
    "apples": apples,
    "xor": xor,
    "tanh_4_8_1": tanh_4_8_1,
    "softmax_regression": softmax_regression,
    "mlp": mlp,
    "mlp_relu": mlp_relu,
    "digits_mlp": digits_mlp,
    "digits_cnn": digits_cnn,
    "autoencoder": autoencoder,
    "rnn": rnn,
    "tanh_trace": tanh_trace,
    "transformer": transformer,
}


def example(name: str) -> Model:
    """The built-in model called ``name``."""
    if name not in EXAMPLES:
        raise SymbpError(f"no built-in example {name!r}; choose one of {', '.join(EXAMPLES)}.")
    return EXAMPLES[name]()


def regenerate(directory="generated", check: bool = False) -> list[Path]:
    """Write ``<name>.py`` and ``test_<name>.py`` for every example into ``directory``.

    With ``check``, write nothing and return the files that are missing or stale.
    """

    directory = Path(directory)
    command = "symbp regenerate"
    changed = []
    for name, build in EXAMPLES.items():
        d = derive(build())
        for path, text in ((directory / f"{name}.py", generate(d, command)),
                           (directory / f"test_{name}.py", generate_tests(d, name, command))):
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current == text:
                continue
            changed.append(path)
            if not check:
                check_writable(path, force=False)
                write_atomic(path, text)
    return changed
