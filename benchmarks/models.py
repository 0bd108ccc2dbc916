"""The benchmark workloads: symbp models built with the public API, and their sizes.

A workload is a name, a ``Model`` factory, a batch size and the keyword
arguments of the expert (``benchmarks.expert``) and framework
(``benchmarks.frameworks``) contestants, which compute the same math.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _sympy():
    """SymPy, symbp and the batch size ``n`` (imported late: a fresh-process worker needs neither)."""
    import sympy as sp

    import symbp as sb

    return sp, sb, sp.Symbol("n", integer=True, positive=True)


def mlp(sizes: list[int], act: str = "relu"):
    """Dense layers ``sizes[0]-...-sizes[-1]``, ``act`` on hidden layers, softmax cross-entropy."""
    sp, sb, n = _sympy()
    activation = {"relu": sb.relu, "sigmoid": sb.sigmoid, "tanh": sb.tanh}[act]
    H, params = sp.MatrixSymbol("X", n, sizes[0]), []
    for k, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False), start=1):
        W, b = sp.MatrixSymbol(f"W{k}", fan_in, fan_out), sp.MatrixSymbol(f"b{k}", 1, fan_out)
        params += [W, b]
        Z = sb.dense(H, W, b)
        H = activation(Z) if k < len(sizes) - 1 else Z
    name = f"mlp_{act}_{'_'.join(map(str, sizes))}"
    return sb.Model(sb.softmax_cross_entropy(H, sp.MatrixSymbol("Y", n, sizes[-1])), params=params,
                    name=name)


def rnn(steps: int, inputs: int, hidden: int, classes: int):
    """An Elman RNN (tanh, h_0 = 0) over ``steps`` inputs ``X1..XT``; softmax CE on the last state."""
    sp, sb, n = _sympy()
    Wx, Wh = sp.MatrixSymbol("Wx", inputs, hidden), sp.MatrixSymbol("Wh", hidden, hidden)
    b, V, c = sp.MatrixSymbol("b", 1, hidden), sp.MatrixSymbol("V", hidden, classes), \
        sp.MatrixSymbol("c", 1, classes)
    h = None
    for t in range(1, steps + 1):
        z = sb.dense(sp.MatrixSymbol(f"X{t}", n, inputs), Wx, b)
        h = sb.tanh(z if h is None else sp.MatAdd(z, sp.MatMul(h, Wh)))
    loss = sb.softmax_cross_entropy(sb.dense(h, V, c), sp.MatrixSymbol("Y", n, classes))
    return sb.Model(loss, params=[Wx, Wh, b, V, c], name=f"rnn_{steps}")


def autoencoder(inputs: int, code: int):
    """Tied weights: H = sigmoid(X W + b), X_hat = H W^T + c, mean squared error."""
    sp, sb, n = _sympy()
    X, W = sp.MatrixSymbol("X", n, inputs), sp.MatrixSymbol("W", inputs, code)
    b, c = sp.MatrixSymbol("b", 1, code), sp.MatrixSymbol("c", 1, inputs)
    H = sb.sigmoid(sb.dense(X, W, b))
    X_hat = sp.MatAdd(sp.MatMul(H, sp.Transpose(W)), sp.MatMul(sp.OneMatrix(n, 1), c))
    return sb.Model(sb.mse(X_hat, X), params=[W, b, c], name=f"autoencoder_{inputs}_{code}")


def lenet(channels: int = 1, size: int = 28, classes: int = 10):
    """LeNet-5 (ReLU, max-pooling): conv 5x5 -> 6 (padding 2), pool 2, conv 5x5 -> 16, pool 2,
    flatten, dense 120, 84, ``classes``; softmax cross-entropy. Parameters K1 c1 K2 c2 W1 b1 W2
    b2 W3 b3 (kernels (O, C, 5, 5), conv biases (O,), dense as in ``mlp``)."""
    sp, sb, n = _sympy()
    X = sb.tensor("X", (n, channels, size, size))
    K1, c1 = sb.tensor("K1", (6, channels, 5, 5)), sb.tensor("c1", (6,))
    K2, c2 = sb.tensor("K2", (16, 6, 5, 5)), sb.tensor("c2", (16,))
    H = sb.max_pool2d(sb.relu(sb.conv2d(X, K1, c1, padding=2)), 2)
    H = sb.flatten(sb.max_pool2d(sb.relu(sb.conv2d(H, K2, c2)), 2))
    params = [K1, c1, K2, c2]
    sizes = [16 * ((size // 2 - 4) // 2) ** 2, 120, 84, classes]
    for k, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False), start=1):
        W, b = sp.MatrixSymbol(f"W{k}", fan_in, fan_out), sp.MatrixSymbol(f"b{k}", 1, fan_out)
        params += [W, b]
        H = sb.dense(H, W, b)
        H = sb.relu(H) if k < len(sizes) - 1 else H
    loss = sb.softmax_cross_entropy(H, sp.MatrixSymbol("Y", n, classes))
    return sb.Model(loss, params=params, name=f"lenet_{channels}x{size}x{size}")


def transformer(steps: int = 8, vocab: int = 10, width: int = 32, hidden: int = 64,
                causal: bool = False):
    """One pre-LN transformer block, the ``transformer`` example of symbp (parameters as
    ``benchmarks/expert_transformer.py``): ids (n, T) int64, one-hot targets Y (n, T, V)."""
    from symbp.examples.models import transformer as block

    model = block(steps, vocab, width, hidden, causal)
    model.name = f"transformer_{steps}x{width}{'_causal' if causal else ''}"
    return model


@dataclass(frozen=True)
class Workload:
    name: str
    family: str               # mlp | rnn | autoencoder | cnn | transformer
    batch: int
    spec: dict = field(default_factory=dict)

    def model(self):
        return {"mlp": mlp, "rnn": rnn, "autoencoder": autoencoder,
                "cnn": lenet, "transformer": transformer}[self.family](**self.spec)


DEEP = [64] + [128] * 10 + [10]
WORKLOADS = [
    Workload("MLP relu 784-256-256-10", "mlp", 128, {"sizes": [784, 256, 256, 10]}),
    Workload("MLP relu 784-256-256-10", "mlp", 1024, {"sizes": [784, 256, 256, 10]}),
    Workload("MLP relu 64-32-10", "mlp", 32, {"sizes": [64, 32, 10]}),
    Workload("MLP relu 2-4-3", "mlp", 4, {"sizes": [2, 4, 3]}),
    Workload("MLP sigmoid 784-256-256-10", "mlp", 128, {"sizes": [784, 256, 256, 10], "act": "sigmoid"}),
    Workload("MLP sigmoid 64-32-10", "mlp", 32, {"sizes": [64, 32, 10], "act": "sigmoid"}),
    Workload("tanh 10 hidden x128 (64-...-10)", "mlp", 128, {"sizes": DEEP, "act": "tanh"}),
    Workload("RNN T=10 (16-64-10)", "rnn", 64, {"steps": 10, "inputs": 16, "hidden": 64, "classes": 10}),
    Workload("RNN T=50 (16-64-10)", "rnn", 64, {"steps": 50, "inputs": 16, "hidden": 64, "classes": 10}),
    Workload("tied autoencoder 784-128", "autoencoder", 128, {"inputs": 784, "code": 128}),
    Workload("LeNet-5 conv 1x28x28", "cnn", 64, {"channels": 1, "size": 28, "classes": 10}),
    Workload("transformer block T=32 d=64", "transformer", 64,
             {"steps": 32, "vocab": 10, "width": 64, "hidden": 256, "causal": True}),
]
QUICK = [
    Workload("MLP relu 64-32-10", "mlp", 32, {"sizes": [64, 32, 10]}),
    Workload("MLP sigmoid 2-4-3", "mlp", 4, {"sizes": [2, 4, 3], "act": "sigmoid"}),
    Workload("tanh 4 hidden x8", "mlp", 8, {"sizes": [4, 8, 8, 8, 8, 3], "act": "tanh"}),
    Workload("RNN T=3 (3-5-2)", "rnn", 8, {"steps": 3, "inputs": 3, "hidden": 5, "classes": 2}),
    Workload("tied autoencoder 6-3", "autoencoder", 8, {"inputs": 6, "code": 3}),
    Workload("LeNet-5 conv 1x12x12", "cnn", 4, {"channels": 1, "size": 12, "classes": 3}),
]


def key(w: Workload) -> str:
    return f"{w.name}, batch {w.batch}"


def find(name: str) -> Workload:
    for w in WORKLOADS + QUICK:
        if key(w) == name:
            return w
    raise KeyError(name)


def setup(w: Workload, seed: int = 0, module=None):
    """``(module, params, data)``: the generated module (derived here unless given), its
    parameters and a batch (float64)."""
    if module is None:
        _, sb, _ = _sympy()
        module = sb.compile(sb.derive(w.model()))
    if w.family == "transformer":  # integer ids and one-hot targets of every token
        rng, spec = np.random.default_rng(seed + 1), {"steps": 8, "vocab": 10, **w.spec}
        ids = rng.integers(0, spec["vocab"], size=(w.batch, spec["steps"])).astype(np.int64)
        labels = rng.integers(0, spec["vocab"], size=(w.batch, spec["steps"]))
        return module, module.init_params(rng=seed), {"ids": ids, "Y": np.eye(spec["vocab"])[labels]}
    return module, module.init_params(rng=seed), module.random_data(rng=seed + 1, samples=w.batch)


def emit(w: Workload, folder) -> str:
    """Write the workload's generated module into ``folder`` (as ``symbp emit`` does); its path."""
    from pathlib import Path

    _, sb, _ = _sympy()
    path = Path(folder) / f"{w.model().name}.py"
    sb.emit(sb.derive(w.model()), path, force=True)
    return str(path)


def expert_inputs(w: Workload, data: dict):
    """``(X, Y)`` as the expert takes them: the RNN's inputs as the list ``[X1, ..., XT]``."""
    if w.family == "rnn":
        return [data[f"X{t}"] for t in range(1, w.spec["steps"] + 1)], data["Y"]
    if w.family == "transformer":
        return data["ids"], data["Y"]
    return data["X"], data.get("Y")
