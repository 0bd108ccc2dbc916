"""Convolution and pooling configurations against PyTorch and autograd (float64, 1e-10).

Each configuration is a conv layer (kernel 1-5, stride 1-3, padding 0-2, channels 1-4,
non-square images, with and without bias), sometimes followed by a ReLU and a max- or
average-pooling layer, flattened into a squared error. The input X is a parameter too, so
the input gradient (the transposed convolution) is checked along with the kernel's and the
bias's. Two independent witnesses: ``sb.check`` (the user's expression printed for torch and
autograd, whose conv is written one output position at a time), and torch autograd called
directly here on the generated module's own inputs.
"""

import numpy as np
import pytest
import sympy as sp

import symbp as sb

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _size(k, stride, padding, at_least):
    """The smallest image side >= at_least over which the window fits a whole number of times."""
    h = max(at_least, k - 2 * padding, 1)
    while (h + 2 * padding - k) % stride:
        h += 1
    return h


def _conv_configs():
    configs = []
    for k in range(1, 6):
        for stride in range(1, 4):
            for padding in range(3):
                i = len(configs)
                cin, cout = 1 + i % 4, 1 + (i * 3 + 1) % 4
                h = _size(k, stride, padding, 3 + i % 3)
                w = h + stride * (1 + i % 2)  # non-square
                configs.append((cin, cout, h, w, k, stride, padding, i % 2 == 0, None))
    return configs


def _pool_configs():
    configs = []
    for i, (pool, pk, ps) in enumerate([("max", 2, 2), ("avg", 2, 2), ("max", 3, 1),
                                        ("avg", 3, 1), ("max", 2, 1), ("avg", 3, 3),
                                        ("max", 3, 2), ("avg", 2, 1), ("max", 3, 3),
                                        ("avg", 3, 2), ("max", 1, 1), ("max", 2, 2)]):
        k, stride, padding = 1 + i % 3, 1 + i % 2, i % 3
        cin, cout = 1 + (i + 1) % 4, 1 + i % 4
        h, w = _size(k, stride, padding, 4 + i % 3), _size(k, stride, padding, 5 + i % 4)
        oh = (h + 2 * padding - k) // stride + 1
        ow = (w + 2 * padding - k) // stride + 1
        h += (-(oh - pk) % ps) * stride
        w += (-(ow - pk) % ps) * stride
        configs.append((cin, cout, h, w, k, stride, padding, i % 2 == 1, (pool, pk, ps)))
    return configs


CONFIGS = _conv_configs() + _pool_configs()


def _model(cin, cout, h, w, k, stride, padding, bias, pool):
    X = sb.tensor("X", (2, cin, h, w))
    K = sb.tensor("K", (cout, cin, k, k))
    params = [X, K]
    b = None
    if bias:
        b = sb.tensor("b", (cout,))
        params.append(b)
    z = sb.conv2d(X, K, b, stride=stride, padding=padding)
    if pool is not None:
        kind, pk, ps = pool
        z = (sb.max_pool2d if kind == "max" else sb.avg_pool2d)(sb.relu(z), pk, ps)
    out = sb.flatten(z)
    Y = sp.MatrixSymbol("Y", *out.shape)
    return sb.Model(sb.mse(out, Y), params=params, name="convnet")


def _torch_loss(cfg, params, data):
    cin, cout, h, w, k, stride, padding, bias, pool = cfg
    t = {key: torch.tensor(v, requires_grad=True) for key, v in params.items()}
    z = F.conv2d(t["X"], t["K"], t.get("b"), stride=stride, padding=padding)
    if pool is not None:
        kind, pk, ps = pool
        z = (F.max_pool2d if kind == "max" else F.avg_pool2d)(torch.relu(z), pk, ps)
    loss = ((z.flatten(1) - torch.tensor(data["Y"])) ** 2).mean()
    loss.backward()
    return loss.item(), {key: v.grad.numpy() for key, v in t.items()}


def test_at_least_fifty_configurations_cover_the_ranges():
    assert len(CONFIGS) >= 50
    assert {c[4] for c in CONFIGS} == {1, 2, 3, 4, 5}  # kernel sizes
    assert {c[5] for c in CONFIGS} == {1, 2, 3}  # strides
    assert {c[6] for c in CONFIGS} == {0, 1, 2}  # paddings
    assert {c[0] for c in CONFIGS} | {c[1] for c in CONFIGS} == {1, 2, 3, 4}  # channels
    assert {c[7] for c in CONFIGS} == {True, False}  # bias
    assert any(c[2] != c[3] for c in CONFIGS)  # non-square
    assert {c[8][0] for c in CONFIGS if c[8]} == {"max", "avg"}


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "c{}o{}_{}x{}_k{}s{}p{}{}{}".format(
    *c[:7], "_b" if c[7] else "", f"_{c[8][0]}{c[8][1]}s{c[8][2]}" if c[8] else ""))
def test_conv_configuration_matches_torch_and_autograd(cfg):
    model = _model(*cfg)
    module = sb.compile(sb.derive(model))
    for reference in ("torch", "autograd"):
        report = sb.check(model, reference=reference, module=module, rtol=1e-10)
        assert report.max_error < 1e-10
    rng = np.random.default_rng(7)
    params = {p.name: rng.normal(size=model.shape_of(p)) for p in model.params}
    data = {"Y": rng.normal(size=tuple(int(d) for d in model.data[0].shape))}
    loss, grads = module.loss_and_grad(params, **data)
    ref_loss, ref_grads = _torch_loss(cfg, params, data)
    assert abs(float(loss) - ref_loss) <= 1e-10 * max(1.0, abs(ref_loss))
    for name, ref in ref_grads.items():
        assert grads[name].shape == ref.shape
        np.testing.assert_allclose(grads[name], ref, rtol=0, atol=1e-10 * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("cfg", CONFIGS[::7], ids=lambda c: f"k{c[4]}s{c[5]}p{c[6]}{c[8][0] if c[8] else ''}")
def test_conv_configuration_matches_jax_lax_conv(cfg):
    pytest.importorskip("jax")
    model = _model(*cfg)
    assert sb.check(model, reference="jax", rtol=1e-10).max_error < 1e-10
