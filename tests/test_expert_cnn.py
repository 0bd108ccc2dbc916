"""The expert im2col CNN of the benchmarks equals PyTorch's autograd (loss and every gradient),
also where pooling windows hold tied maxima (the gradient goes to the first, row-major). That it
equals the generated LeNet's gradients is checked with the other experts (test_benchmarks.py)."""

import numpy as np
import pytest

from benchmarks.expert_cnn import CNN

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _params(rng, net, image, convs, integer):
    draw = (lambda *s: rng.integers(-1, 3, s).astype(float)) if integer else (lambda *s: rng.normal(size=s))
    params, C = {}, image[0]
    for i, (Co, k, _) in enumerate(convs, start=1):
        params[f"K{i}"], params[f"c{i}"] = draw(Co, C, k, k), draw(Co)
        C = Co
    for m, (a, b) in enumerate(zip(net.widths, net.widths[1:], strict=False), start=1):
        params[f"W{m}"], params[f"b{m}"] = rng.normal(size=(a, b)) * 0.3, rng.normal(size=(1, b))
    return params


def _torch_loss(params, X, Y, convs, layers):
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    h = torch.tensor(X)
    for i, (_, _, p) in enumerate(convs, start=1):
        h = F.max_pool2d(F.relu(F.conv2d(h, t[f"K{i}"], t[f"c{i}"], padding=p)), 2)
    h = torch.flatten(h, 1)
    for m in range(1, layers + 1):
        h = h @ t[f"W{m}"] + t[f"b{m}"]
        h = F.relu(h) if m < layers else h
    loss = -(torch.tensor(Y) * F.log_softmax(h, 1)).sum() / X.shape[0]
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


@pytest.mark.parametrize("image, convs, dense, integer", [
    ((1, 8, 8), [(4, 3, 1)], [10], False),
    ((1, 28, 28), [(6, 5, 2), (16, 5, 0)], [120, 84, 10], False),
    ((3, 9, 7), [(2, 3, 0), (3, 2, 1)], [5, 4], False),      # odd sizes: pooling drops a row
    ((2, 8, 6), [(3, 3, 1), (2, 1, 0)], [4], True),          # integer data: tied maxima
])
def test_expert_cnn_equals_torch(image, convs, dense, integer):
    rng = np.random.default_rng(7)
    net = CNN(image, convs, dense)
    params = _params(rng, net, image, convs, integer)
    X = rng.integers(0, 3, (5, *image)).astype(float) if integer else rng.normal(size=(5, *image))
    Y = np.eye(dense[-1])[rng.integers(0, dense[-1], 5)]
    want_loss, want = _torch_loss(params, X, Y, convs, len(dense))
    for _ in range(2):  # the second call reuses the workspace
        loss, got = net.loss_and_grad(params, X, Y)
        assert abs(loss - want_loss) <= 1e-10
        for name in params:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-10, err_msg=name)
