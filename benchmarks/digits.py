"""Digits training, one trainer per process: the generated ``fit``, a JAX-jit loop and a PyTorch
loop, with the same network (64-64-10 ReLU, softmax CE), initial weights, Adam (lr 0.003,
0.9, 0.999, 1e-8), batch 32 and epochs. Seconds of training (JAX's compilation included)
and held-out accuracy; JAX's compilation of its two batch shapes (full and last) is
timed apart too."""

from __future__ import annotations

import numpy as np

from .timing import now

LR, BATCH, SEED = 0.003, 32, 0


def _batches(rows, epochs):
    rng = np.random.default_rng(SEED)
    for _ in range(epochs):
        order = rng.permutation(rows)
        for start in range(0, rows, BATCH):
            yield order[start:start + BATCH]


def _accuracy(logits, Y) -> float:
    return float(np.mean(np.argmax(np.asarray(logits), 1) == np.argmax(Y, 1)))


def _generated(module, params, train, test, epochs):
    start = now()
    module.fit(params, train, epochs=epochs, batch_size=BATCH, optimizer="adam", lr=LR, seed=SEED,
               verbose=False)
    seconds = now() - start
    probs = module.predict(params, **test)
    return seconds, _accuracy(probs["probs"] if isinstance(probs, dict) else probs, test["Y"])


def _torch(params, train, test, epochs):
    import torch

    p = [torch.tensor(params[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
    X, Y = torch.tensor(train["X"]), torch.tensor(train["Y"])
    opt = torch.optim.Adam(p, lr=LR, betas=(0.9, 0.999), eps=1e-8)
    forward = lambda x: torch.relu(x @ p[0] + p[1]) @ p[2] + p[3]  # noqa: E731
    start = now()
    for idx in _batches(len(X), epochs):
        idx = torch.from_numpy(idx)
        loss = -(Y[idx] * torch.log_softmax(forward(X[idx]), 1)).sum() / len(idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = now() - start
    with torch.no_grad():
        return seconds, _accuracy(forward(torch.tensor(test["X"])).numpy(), test["Y"])


def _jax(params, train, test, epochs):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def forward(p, x):
        return jax.nn.relu(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]

    def loss(p, x, y):
        return -jnp.sum(y * jax.nn.log_softmax(forward(p, x), axis=1)) / x.shape[0]

    @jax.jit
    def step(p, m, v, t, x, y):
        g = jax.grad(loss)(p, x, y)
        m = jax.tree_util.tree_map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
        p = jax.tree_util.tree_map(lambda w, a, b: w - LR * (a / (1 - 0.9 ** t)) /
                                   (jnp.sqrt(b / (1 - 0.999 ** t)) + 1e-8), p, m, v)
        return p, m, v

    p = {k: jnp.asarray(v) for k, v in params.items()}
    m = jax.tree_util.tree_map(jnp.zeros_like, p)
    v = jax.tree_util.tree_map(jnp.zeros_like, p)
    X, Y = train["X"], train["Y"]  # batches are cut in NumPy, then handed to the jitted step
    start = now()
    for rows in sorted({BATCH, len(X) % BATCH} - {0}):  # compile both batch shapes; results dropped
        jax.block_until_ready(step(p, m, v, 1.0, X[:rows], Y[:rows]))
    compiled = now()
    for t, idx in enumerate(_batches(len(X), epochs), start=1):
        p, m, v = step(p, m, v, float(t), X[idx], Y[idx])
    jax.block_until_ready(p)
    seconds = now() - start
    return seconds, _accuracy(forward(p, jnp.asarray(test["X"])), test["Y"]), compiled - start


def train(trainer: str, epochs: str) -> dict:
    import symbp as sb
    from symbp.examples.data import digits
    from symbp.examples.models import digits_mlp

    train_data, test = digits()
    module = sb.compile(sb.derive(digits_mlp()))
    params = module.init_params(rng=0)
    if trainer == "symbp generated":
        return dict(zip(KEYS, _generated(module, params, train_data, test, int(epochs)), strict=False))
    if trainer == "JAX jit":
        return dict(zip(KEYS, _jax(params, train_data, test, int(epochs)), strict=True))
    return dict(zip(KEYS, _torch(params, train_data, test, int(epochs)), strict=False))


KEYS = ("seconds", "accuracy", "first_step")
