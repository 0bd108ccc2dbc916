"""Training data for the built-in examples that have a real task.

``dataset(name)`` returns ``(train, validation)`` dicts of arrays keyed by
the model's data names, or ``None`` when an example has no dataset (its
generated module's ``random_data`` is used instead).
"""

from __future__ import annotations

import numpy as np

from ..errors import SymbpError

__all__ = ["dataset", "digits"]


def xor():
    """The four XOR cases (scalar model: one array per input)."""
    x1 = np.array([0.0, 0.0, 1.0, 1.0])
    x2 = np.array([0.0, 1.0, 0.0, 1.0])
    data = {"x1": x1, "x2": x2, "y": np.logical_xor(x1, x2).astype(float)}
    return data, data


def digits(test_size: float = 0.2, seed: int = 0):
    """The UCI 8x8 handwritten digits from scikit-learn, scaled to [0, 1], one-hot labels."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise SymbpError("the digits need scikit-learn: pip install 'symbp[digits]' "
                         "(or pip install scikit-learn).") from exc
    images, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images / 16.0, labels, test_size=test_size, random_state=seed, stratify=labels)
    one_hot = np.eye(10)
    return ({"X": x_train, "Y": one_hot[y_train]}, {"X": x_test, "Y": one_hot[y_test]})


_DATASETS = {"xor": xor, "digits_mlp": digits}


def dataset(name: str):
    """``(train, validation)`` for the example ``name``, or ``None``."""
    build = _DATASETS.get(name)
    return None if build is None else build()
