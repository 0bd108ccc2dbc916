"""The built-in models, each a function returning a ``Model``."""

from __future__ import annotations

import sympy as sp

from ..functions import dense, mse, relu, sigmoid, softmax, softmax_cross_entropy, tanh
from ..model import Model
from ..nn import add, attention, embedding, gelu, layer_norm
from ..primitives.tensor import as_rows
from ..tensors import conv2d, flatten, max_pool2d, tensor

n = sp.Symbol("n", integer=True, positive=True)
"""The batch size: symbolic, bound from the data at run time."""


def _matrices(spec: str, **shapes):
    return [sp.MatrixSymbol(name, *shapes[name]) for name in spec.split()]


def shopping() -> Model:
    """The lesson's bill: a shirt at 400, two pants at 300 each, 30% off (total 700)."""
    shirt, pants, count, discount = sp.symbols("shirt_price pants_price pants_count discount")
    pants_cost = pants * count
    subtotal = shirt + pants_cost
    total = subtotal * discount
    return Model(total, params=[shirt, pants, count, discount], name="shopping",
                 description="Xiao Ming's shopping bill: (shirt + pants price x count) x discount.",
                 values={shirt: 400, pants: 300, count: 2, discount: sp.Rational(7, 10)},
                 names={pants_cost: "pants_cost", subtotal: "subtotal", total: "total"})


def apples() -> Model:
    """Saito's bill: 2 apples at 100, 3 oranges at 150, 10% tax (total 715)."""
    apple, n_apple, orange, n_orange, tax = sp.symbols(
        "apple_price apple_count orange_price orange_count tax")
    apples_cost, oranges_cost = apple * n_apple, orange * n_orange
    subtotal = apples_cost + oranges_cost
    total = subtotal * tax
    return Model(total, params=[apple, n_apple, orange, n_orange, tax], name="apples",
                 description="Apples and oranges with tax (Saito, Deep Learning from Scratch).",
                 values={apple: 100, n_apple: 2, orange: 150, n_orange: 3,
                         tax: sp.Rational(11, 10)},
                 names={apples_cost: "apples_cost", oranges_cost: "oranges_cost",
                        subtotal: "subtotal", total: "total"})


def xor() -> Model:
    """A scalar 2-2-1 sigmoid network with a squared error (one sample per evaluation)."""
    x1, x2, y = sp.symbols("x1 x2 y")
    w = sp.symbols("w11 w12 w21 w22")
    b1, b2, v1, v2, c = sp.symbols("b1 b2 v1 v2 c")
    h = sigmoid(dense([x1, x2], [[w[0], w[1]], [w[2], w[3]]], [b1, b2]))
    out = sigmoid(v1 * h[0] + v2 * h[1] + c)
    return Model(mse(out, y), params=[*w, b1, b2, v1, v2, c], outputs={"y_hat": out},
                 name="xor", description="XOR: a scalar 2-2-1 sigmoid network, squared error.")


def softmax_regression() -> Model:
    """Multinomial logistic regression: 4 features, 3 classes."""
    X, Y, W, b = _matrices("X Y W b", X=(n, 4), Y=(n, 3), W=(4, 3), b=(1, 3))
    Z = dense(X, W, b)
    return Model(softmax_cross_entropy(Z, Y), params=[W, b], outputs={"probs": softmax(Z)},
                 name="softmax_regression", description="Softmax regression, 4 features, 3 classes.")


def mlp() -> Model:
    """The design's 4-8-3 sigmoid MLP with softmax cross-entropy."""
    X, Y, W1, b1, W2, b2 = _matrices("X Y W1 b1 W2 b2", X=(n, 4), Y=(n, 3), W1=(4, 8),
                                     b1=(1, 8), W2=(8, 3), b2=(1, 3))
    Z2 = dense(sigmoid(dense(X, W1, b1)), W2, b2)
    return Model(softmax_cross_entropy(Z2, Y), params=[W1, b1, W2, b2],
                 outputs={"probs": softmax(Z2)}, name="mlp",
                 description="A 4-8-3 sigmoid MLP with softmax cross-entropy.")


def _relu_mlp(sizes: list[int], name: str, description: str) -> Model:
    X = sp.MatrixSymbol("X", n, sizes[0])
    Y = sp.MatrixSymbol("Y", n, sizes[-1])
    params, H = [], X
    for k, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False), start=1):
        W, b = sp.MatrixSymbol(f"W{k}", fan_in, fan_out), sp.MatrixSymbol(f"b{k}", 1, fan_out)
        params += [W, b]
        Z = dense(H, W, b)
        H = relu(Z) if k < len(sizes) - 1 else Z
    return Model(softmax_cross_entropy(H, Y), params=params, outputs={"probs": softmax(H)},
                 name=name, description=description)


def mlp_relu() -> Model:
    """A 4-16-16-3 ReLU MLP with softmax cross-entropy."""
    return _relu_mlp([4, 16, 16, 3], "mlp_relu", "A 4-16-16-3 ReLU MLP, softmax cross-entropy.")


def digits_mlp() -> Model:
    """A 64-64-10 ReLU MLP for the 8x8 handwritten digits."""
    return _relu_mlp([64, 64, 10], "digits_mlp",
                     "A 64-64-10 ReLU MLP for the UCI 8x8 handwritten digits.")


def digits_cnn(channels: int = 32) -> Model:
    """A small CNN for the 8x8 digits: 3x3 convolution (1 -> 32 channels, padding 1), ReLU,
    2x2 max-pooling, flatten, dense to 10 classes, softmax cross-entropy."""
    X, Y = tensor("X", (n, 1, 8, 8)), sp.MatrixSymbol("Y", n, 10)
    K, c = tensor("K", (channels, 1, 3, 3)), tensor("c", (channels,))
    W, b = _matrices("W b", W=(channels * 16, 10), b=(1, 10))
    P = max_pool2d(relu(conv2d(X, K, c, padding=1)), 2)
    Z = dense(flatten(P), W, b)
    return Model(softmax_cross_entropy(Z, Y), params=[K, c, W, b], outputs={"probs": softmax(Z)},
                 name="digits_cnn", description=f"A CNN for the UCI 8x8 digits: conv 3x3 "
                 f"1->{channels} (padding 1), ReLU, max-pool 2, flatten, dense to 10, softmax CE.")


def transformer(steps: int = 6, vocab: int = 10, width: int = 32, hidden: int = 64,
                causal: bool = False) -> Model:
    """One pre-LN transformer block on ``(n, T)`` token ids: token embedding + learned
    positions, layer norm -> attention -> residual, layer norm -> GELU MLP -> residual,
    output projection, softmax cross-entropy of every token (the parameters of
    ``benchmarks/expert_transformer.py``)."""
    shapes = {"E": (vocab, width), "Pos": (steps, width), "g1": (1, width), "b1": (1, width),
              "Wq": (width, width), "Wk": (width, width), "Wv": (width, width),
              "Wo": (width, width), "g2": (1, width), "b2": (1, width), "W1": (width, hidden),
              "c1": (1, hidden), "W2": (hidden, width), "c2": (1, width),
              "Wout": (width, vocab), "cout": (1, vocab)}
    p = {k: sp.MatrixSymbol(k, *v) for k, v in shapes.items()}
    ids, Y = sp.MatrixSymbol("ids", n, steps), tensor("Y", (n, steps, vocab))
    x = add(embedding(ids, p["E"]), p["Pos"])
    a = layer_norm(x, p["g1"], p["b1"])
    q, k, v = (dense(a, p[w]) for w in ("Wq", "Wk", "Wv"))
    x2 = add(x, dense(attention(q, k, v, causal=causal), p["Wo"]))
    u = gelu(dense(layer_norm(x2, p["g2"], p["b2"]), p["W1"], p["c1"]))
    z = dense(add(x2, dense(u, p["W2"], p["c2"])), p["Wout"], p["cout"])
    return Model(softmax_cross_entropy(z, Y), params=list(p.values()), outputs={"logits": as_rows(z)[0]},
                 name="transformer",
                 description=f"One pre-LN transformer block (d={width}, MLP {hidden}, GELU) "
                 f"reversing sequences of {steps} digits: softmax CE per token.")


def autoencoder() -> Model:
    """A tied-weight autoencoder: the decoder reuses the encoder's W transposed."""
    X, W, b, c = _matrices("X W b c", X=(n, 6), W=(6, 3), b=(1, 3), c=(1, 6))
    H = sigmoid(dense(X, W, b))
    X_hat = sp.MatAdd(sp.MatMul(H, sp.Transpose(W)), sp.MatMul(sp.OneMatrix(n, 1), c))
    return Model(mse(X_hat, X), params=[W, b, c], outputs={"codes": H, "reconstruction": X_hat},
                 name="autoencoder", description="A 6-3-6 tied-weight sigmoid autoencoder, MSE.")


def rnn(steps: int = 3) -> Model:
    """An Elman RNN unrolled over ``steps`` inputs, classifying the last state."""
    Wx, Wh, b, V, c, Y = _matrices("Wx Wh b V c Y", Wx=(3, 5), Wh=(5, 5), b=(1, 5),
                                   V=(5, 2), c=(1, 2), Y=(n, 2))
    h = None
    for t in range(1, steps + 1):
        x_t = sp.MatrixSymbol(f"X{t}", n, 3)
        z = dense(x_t, Wx, b)
        if h is not None:
            z = sp.MatAdd(z, sp.MatMul(h, Wh))
        h = tanh(z)
    logits = dense(h, V, c)
    return Model(softmax_cross_entropy(logits, Y), params=[Wx, Wh, b, V, c],
                 outputs={"probs": softmax(logits)}, name="rnn",
                 description=f"An Elman RNN (tanh) unrolled over T = {steps} steps, shared weights.")


def tanh_trace() -> Model:
    """Plain SymPy: a tanh layer with loss Trace(E.T*E)/n (SymPy's diff gets it wrong)."""
    X, Y, W, b = _matrices("X Y W b", X=(n, 4), Y=(n, 2), W=(4, 2), b=(1, 2))
    E = (X * W + sp.OneMatrix(n, 1) * b).applyfunc(sp.tanh) - Y
    return Model(sp.Trace(E.T * E) / n, params=[W, b], name="tanh_trace",
                 description="A tanh layer with the squared error Trace(E.T*E)/n, plain SymPy.")


def scalar_net(inputs: int = 4, hidden: int = 8, name: str | None = None) -> Model:
    """A scalar inputs-hidden-1 tanh network with squared error (every weight a Symbol)."""
    xs = sp.symbols(f"x1:{inputs + 1}")
    y = sp.Symbol("y")
    ws = [[sp.Symbol(f"w{i}_{j}") for j in range(1, hidden + 1)] for i in range(1, inputs + 1)]
    bs = sp.symbols(f"b1:{hidden + 1}")
    vs = sp.symbols(f"v1:{hidden + 1}")
    c = sp.Symbol("c")
    h = tanh(dense(list(xs), ws, list(bs)))
    out = sp.Add(*[v * hj for v, hj in zip(vs, h, strict=True)], c)
    params = [w for row in ws for w in row] + [*bs, *vs, c]
    return Model(mse(out, y), params=params, outputs={"y_hat": out},
                 name=name or f"tanh_{inputs}_{hidden}_1",
                 description=f"A scalar {inputs}-{hidden}-1 tanh network with squared error.")


def tanh_4_8_1() -> Model:
    """The scalar 4-8-1 tanh network ``symbp compare`` measures."""
    return scalar_net(4, 8)
