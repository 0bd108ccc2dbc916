"""Training data for the built-in examples that have a real task.

``dataset(name)`` returns ``(train, validation)`` dicts of arrays keyed by
the model's data names, or ``None`` when an example has no dataset (its
generated module's ``random_data`` is used instead). ``TRAINING`` holds the
settings (epochs, learning rate, batch size) under which ``symbp train`` fits
an example's dataset.
"""

from __future__ import annotations

import numpy as np

from ..errors import SymbpError

__all__ = ["dataset", "digits", "digits_images", "iris", "reversal", "TRAINING"]


def xor():
    """The four XOR cases (scalar model: one array per input)."""
    x1 = np.array([0.0, 0.0, 1.0, 1.0])
    x2 = np.array([0.0, 1.0, 0.0, 1.0])
    data = {"x1": x1, "x2": x2, "y": np.logical_xor(x1, x2).astype(float)}
    return data, data


def _sklearn(what: str):
    try:
        import sklearn.datasets
        import sklearn.model_selection
    except ImportError as exc:
        raise SymbpError(f"{what} need scikit-learn: pip install 'symbp[digits]' "
                         "(or pip install scikit-learn).") from exc
    return sklearn.datasets, sklearn.model_selection.train_test_split


def iris(test_size: float = 0.2, seed: int = 0):
    """Fisher's iris flowers from scikit-learn: 4 standardised features, 3 one-hot classes."""
    datasets, split = _sklearn("the iris flowers")
    features, labels = datasets.load_iris(return_X_y=True)
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    x_train, x_test, y_train, y_test = split(
        features, labels, test_size=test_size, random_state=seed, stratify=labels)
    one_hot = np.eye(3)
    return ({"X": x_train, "Y": one_hot[y_train]}, {"X": x_test, "Y": one_hot[y_test]})


def digits(test_size: float = 0.2, seed: int = 0):
    """The UCI 8x8 handwritten digits from scikit-learn, scaled to [0, 1], one-hot labels."""
    datasets, split = _sklearn("the digits")
    images, labels = datasets.load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = split(
        images / 16.0, labels, test_size=test_size, random_state=seed, stratify=labels)
    one_hot = np.eye(10)
    return ({"X": x_train, "Y": one_hot[y_train]}, {"X": x_test, "Y": one_hot[y_test]})


def digits_images(test_size: float = 0.25, seed: int = 0):
    """The 8x8 digits as (n, 1, 8, 8) images in [0, 1] (NCHW), one-hot labels; a 75/25 split."""
    train, test = digits(test_size, seed)
    return tuple({"X": np.reshape(part["X"], (-1, 1, 8, 8)), "Y": part["Y"]}
                 for part in (train, test))


def reversal(train: int = 4000, test: int = 1000, steps: int = 6, vocab: int = 10,
             seed: int = 0):
    """Sequences of ``steps`` random digits (int64 ids, ``(n, steps)``) and, as one-hot
    ``(n, steps, vocab)`` targets, the same digits reversed."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(train + test, steps)).astype(np.int64)
    targets = np.eye(vocab)[ids[:, ::-1]]
    return ({"ids": ids[:train], "Y": targets[:train]}, {"ids": ids[train:], "Y": targets[train:]})


_DATASETS = {"transformer": reversal, "xor": xor, "digits_mlp": digits, "digits_cnn": digits_images,
             "mlp": iris, "mlp_relu": iris,
             "softmax_regression": iris}
TRAINING = {"xor": {"epochs": 300, "lr": 0.1, "batch_size": 4},
            "mlp": {"epochs": 100, "lr": 0.01}, "mlp_relu": {"epochs": 100, "lr": 0.01},
            "softmax_regression": {"epochs": 100, "lr": 0.05},
            "digits_cnn": {"epochs": 30, "lr": 0.0015, "batch_size": 16},
            "transformer": {"epochs": 3, "lr": 0.01, "batch_size": 64}}


def dataset(name: str):
    """``(train, validation)`` for the example ``name``, or ``None``."""
    build = _DATASETS.get(name)
    return None if build is None else build()
