"""Random small convolutional nets (seeded) against PyTorch autograd, loss and every gradient.

Each net: 1-2 conv layers (random kernel, stride, padding, channels, optional bias, ReLU or
tanh, optional max- or average-pooling), flatten, a dense head and softmax cross-entropy over
a batch of 3 (symbolic for even seeds, the integer 3 for odd ones). ``sb.compile``'s module
is fed the same float64 arrays as torch.
"""

import numpy as np
import pytest
import sympy as sp

import symbp as sb

torch = pytest.importorskip("torch")
F = torch.nn.functional

SEEDS = range(30)


def _fits(size, k, stride, padding):
    """The output length, or None where the window does not fit a whole number of times."""
    span = size + 2 * padding - k
    return span // stride + 1 if span >= 0 and span % stride == 0 else None


def _layer(rng, cin, h, w):
    """A random conv layer over (cin, h, w) whose windows fit, with its output (c, h, w); or None."""
    k, stride, padding = int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(0, 3))
    oh, ow = _fits(h, k, stride, padding), _fits(w, k, stride, padding)
    if oh is None or ow is None:
        return None
    layer = {"cin": cin, "cout": int(rng.integers(1, 5)), "k": k, "stride": stride,
             "padding": padding, "bias": bool(rng.integers(2)), "act": ("relu", "tanh")[rng.integers(2)],
             "pool": None}
    if rng.integers(3):
        pk = int(rng.integers(1, 4))
        ps = int(rng.integers(1, pk + 1))
        ph, pw = _fits(oh, pk, ps, 0), _fits(ow, pk, ps, 0)
        if ph is not None and pw is not None:
            layer["pool"], oh, ow = (("max", "avg")[rng.integers(2)], pk, ps), ph, pw
    return layer, (layer["cout"], oh, ow)


def _net(seed):
    """A random net's input shape, conv layers and class count (drawn until every window fits)."""
    rng = np.random.default_rng(seed)
    while True:
        image = (int(rng.integers(1, 4)), int(rng.integers(3, 11)), int(rng.integers(3, 11)))
        layers, shape = [], image
        for _ in range(int(rng.integers(1, 3))):
            found = _layer(rng, *shape)
            if found is None:
                break
            layers.append(found[0])
            shape = found[1]
        else:
            return image, layers, int(np.prod(shape)), int(rng.integers(2, 5))


def _model(image, layers, flat, classes, batch):
    n = sp.Symbol("n", integer=True, positive=True) if batch is None else batch
    H, params = sb.tensor("X", (n, *image)), []
    for i, L in enumerate(layers, start=1):
        K = sb.tensor(f"K{i}", (L["cout"], L["cin"], L["k"], L["k"]))
        b = sb.tensor(f"c{i}", (L["cout"],)) if L["bias"] else None
        params += [K] + ([b] if b is not None else [])
        H = sb.conv2d(H, K, b, stride=L["stride"], padding=L["padding"])
        H = (sb.relu if L["act"] == "relu" else sb.tanh)(H)
        if L["pool"]:
            kind, pk, ps = L["pool"]
            H = (sb.max_pool2d if kind == "max" else sb.avg_pool2d)(H, pk, ps)
    W, b = sp.MatrixSymbol("W", flat, classes), sp.MatrixSymbol("b", 1, classes)
    loss = sb.softmax_cross_entropy(sb.dense(sb.flatten(H), W, b), sp.MatrixSymbol("Y", n, classes))
    return sb.Model(loss, params=[*params, W, b], name="fuzz_cnn")


def _torch_loss(layers, params, X, Y):
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.tensor(X)
    for i, L in enumerate(layers, start=1):
        h = F.conv2d(h, t[f"K{i}"], t.get(f"c{i}"), stride=L["stride"], padding=L["padding"])
        h = torch.relu(h) if L["act"] == "relu" else torch.tanh(h)
        if L["pool"]:
            kind, pk, ps = L["pool"]
            h = (F.max_pool2d if kind == "max" else F.avg_pool2d)(h, pk, ps)
    z = torch.flatten(h, 1) @ t["W"] + t["b"]
    loss = -(torch.tensor(Y) * F.log_softmax(z, 1)).sum() / X.shape[0]
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


def test_the_fuzz_covers_pools_biases_strides_and_two_layer_nets():
    nets = [_net(seed) for seed in SEEDS]
    layers = [L for _, net, _, _ in nets for L in net]
    assert {L["pool"][0] for L in layers if L["pool"]} == {"max", "avg"}
    assert {L["bias"] for L in layers} == {True, False}
    assert {L["act"] for L in layers} == {"relu", "tanh"}
    assert {L["stride"] for L in layers} == {1, 2} and {L["padding"] for L in layers} == {0, 1, 2}
    assert {len(net) for _, net, _, _ in nets} == {1, 2}


@pytest.mark.parametrize("seed", SEEDS)
def test_random_conv_net_matches_torch_autograd(seed):
    image, layers, flat, classes = _net(seed)
    model = _model(image, layers, flat, classes, None if seed % 2 == 0 else 3)
    module = sb.compile(sb.derive(model))
    rng = np.random.default_rng(100 + seed)
    params = module.init_params(rng=seed)
    params = {k: v + 0.1 * rng.normal(size=v.shape) for k, v in params.items()}  # nonzero biases
    X = rng.normal(size=(3, *image))
    Y = np.eye(classes)[rng.integers(0, classes, 3)]
    loss, grads = module.loss_and_grad(params, X=X, Y=Y)
    want_loss, want = _torch_loss(layers, params, X, Y)
    assert abs(float(loss) - want_loss) <= 1e-10 * max(1.0, abs(want_loss)), (layers, loss, want_loss)
    assert sorted(grads) == sorted(want)
    for name, ref in want.items():
        assert grads[name].shape == ref.shape, name
        np.testing.assert_allclose(grads[name], ref, rtol=0, atol=1e-10 * max(1.0, np.abs(ref).max()),
                                   err_msg=f"{name} in {layers}")
