"""sb.emit / sb.generate with target="torch" and target="jax": the derived backward inside the
frameworks' own machinery, checked against finite differences and the frameworks' autodiff."""

import importlib.util

import numpy as np
import pytest

import symbp as sb
from symbp.examples import example

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

MODELS = ["mlp", "mlp_relu", "softmax_regression", "autoencoder", "rnn", "tanh_trace",
          "xor", "tanh_4_8_1", "shopping", "apples"]  # the last four: scalar models


@pytest.fixture(scope="module", params=MODELS)
def case(request):
    d = sb.derive(example(request.param))
    numpy_module = sb.compile(d)
    params = numpy_module.init_params(rng=0)
    params = {k: v + 0.1 * np.random.default_rng(2).normal(size=v.shape) for k, v in params.items()}
    data = numpy_module.random_data(rng=1, samples=5)
    return d, numpy_module, params, data


def _import(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_export_passes_gradcheck_in_float64(case):
    d, _, params, data = case
    module = sb.compile(d, target="torch")
    args = [torch.tensor(params[k], requires_grad=True) for k in module.PARAMS]
    args += [torch.tensor(data[k]) for k in module.DATA]
    assert torch.autograd.gradcheck(module.LossFunction.apply, tuple(args), eps=1e-6, atol=1e-7)


def test_torch_backward_equals_torch_autodiff_of_the_forward_and_the_numpy_module(case):
    d, numpy_module, params, data = case
    module = sb.compile(d, target="torch")
    derived = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tdata = {k: torch.tensor(v) for k, v in data.items()}
    value = module.loss(derived, **tdata)
    value.backward()
    # reference: torch's own autograd through the forward statements (no derived backward)
    plain = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    inputs = module._arrays(module._read(plain, tdata))
    module._tensor(module._forward(module.xp, *inputs)[0]).backward()
    want_loss, want = numpy_module.loss_and_grad(params, **data)
    assert value.item() == pytest.approx(want_loss, abs=1e-12)
    for name in params:
        assert np.allclose(derived[name].grad.numpy(), plain[name].grad.numpy(), atol=1e-10, rtol=0)
        assert np.allclose(derived[name].grad.numpy(), want[name], atol=1e-10, rtol=0)


def test_jax_grad_of_custom_vjp_equals_jax_autodiff_and_the_numpy_module_under_jit(case):
    d, numpy_module, params, data = case
    module = sb.compile(d, target="jax")
    jparams = {k: jnp.asarray(v) for k, v in params.items()}
    jdata = {k: jnp.asarray(v) for k, v in data.items()}
    derived = jax.jit(jax.grad(module.loss))(jparams, **jdata)
    # reference: JAX's own autodiff through the forward statements (no custom VJP)
    plain = jax.grad(lambda p: module._forward(jnp, *module._read(p, jdata))[0])(jparams)
    want_loss, want = numpy_module.loss_and_grad(params, **data)
    value, direct = jax.jit(module.loss_and_grad)(jparams, **jdata)
    assert float(value) == pytest.approx(want_loss, abs=1e-12)
    for name in params:
        assert np.allclose(derived[name], plain[name], atol=1e-10, rtol=0)
        assert np.allclose(derived[name], want[name], atol=1e-10, rtol=0)
        assert np.allclose(direct[name], want[name], atol=1e-10, rtol=0)


def test_torch_net_holds_parameters_initialised_as_the_numpy_module():
    d = sb.derive(example("mlp"))
    module, numpy_module = sb.compile(d, target="torch"), sb.compile(d)
    net = module.Net(rng=7)
    want = numpy_module.init_params(rng=7)
    got = dict(net.params.items())
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert isinstance(got[name], torch.nn.Parameter) and got[name].dtype == torch.float64
        assert np.array_equal(got[name].detach().numpy(), value)


def test_torch_net_trains_with_a_torch_optimiser_like_the_numpy_train_step():
    d = sb.derive(example("mlp"))
    module, numpy_module = sb.compile(d, target="torch"), sb.compile(d)
    net, params = module.Net(rng=0), numpy_module.init_params(rng=0)
    data = numpy_module.random_data(rng=3, samples=16)
    optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(5):
        optimiser.zero_grad()
        net(**{k: torch.tensor(v) for k, v in data.items()}).backward()
        optimiser.step()
        numpy_module.train_step(params, {}, lr=0.1, **data)
    for name, value in params.items():
        assert np.allclose(net.params[name].detach().numpy(), value, atol=1e-12, rtol=0)


def test_emit_writes_a_signed_torch_module_and_refuses_a_hand_written_file(tmp_path):
    d = sb.derive(example("softmax_regression"))
    path = sb.emit(d, tmp_path / "softmax_torch.py", target="torch")
    text = path.read_text()
    assert text.startswith("# Generated by symbp") and "target='torch'" in text
    assert "class LossFunction(torch.autograd.Function)" in text
    sb.emit(d, path, target="torch")  # its own, unedited file: overwritten
    mine = tmp_path / "mine.py"
    mine.write_text("x = 1\n")
    with pytest.raises(sb.SymbpError, match="not generated by symbp"):
        sb.emit(d, mine, target="jax")
    assert mine.read_text() == "x = 1\n"
    module = _import(path)
    assert module.PARAMS == [p.name for p in d.model.params]


def test_emitted_jax_module_imports_and_is_a_custom_vjp(tmp_path):
    d = sb.derive(example("mlp"))
    module = _import(sb.emit(d, tmp_path / "mlp_jax.py", target="jax"))
    assert isinstance(module._loss, jax.custom_vjp)


def test_unknown_target_is_one_sentence_naming_it_and_the_valid_ones(tmp_path):
    d = sb.derive(example("mlp"))
    message = r"unknown target 'tensorflow': expected one of 'numpy', 'torch', 'jax'\.$"
    with pytest.raises(sb.SymbpError, match=message):
        sb.generate(d, target="tensorflow")
    with pytest.raises(sb.SymbpError, match=message):
        sb.emit(d, tmp_path / "m.py", target="tensorflow")
    assert not (tmp_path / "m.py").exists()


def test_default_target_is_the_unchanged_numpy_module():
    d = sb.derive(example("mlp"))
    assert sb.generate(d) == sb.generate(d, target="numpy")


def test_emit_with_tests_for_torch_is_refused_before_writing(tmp_path):
    d = sb.derive(example("mlp"))
    with pytest.raises(sb.SymbpError, match="tests=True"):
        sb.emit(d, tmp_path / "m.py", target="torch", tests=True)
    assert list(tmp_path.iterdir()) == []


def test_torch_loss_refuses_data_that_requires_grad_and_names_missing_data():
    module = sb.compile(sb.derive(example("mlp")), target="torch")
    params = {k: torch.tensor(v) for k, v in module.init_params(rng=0).items()}
    X, Y = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True), torch.eye(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="data 'X' requires grad"):
        module.loss(params, X=X, Y=Y)
    with pytest.raises(ValueError, match="missing data 'Y'"):
        module.loss(params, X=X.detach())
    with pytest.raises(ValueError, match=r"Y has shape \(3, 2\)"):
        module.loss(params, X=X.detach(), Y=Y[:, :2])


def test_generated_exports_are_deterministic():
    d = sb.derive(example("rnn"))
    for target in ("torch", "jax"):
        assert sb.generate(d, target=target) == sb.generate(sb.derive(example("rnn")), target=target)


def test_backward_scales_the_derived_gradients_by_the_incoming_cotangent():
    d = sb.derive(example("mlp"))
    numpy_module = sb.compile(d)
    params, data = numpy_module.init_params(rng=0), numpy_module.random_data(rng=1, samples=4)
    _, want = numpy_module.loss_and_grad(params, **data)
    tm, jm = sb.compile(d, target="torch"), sb.compile(d, target="jax")
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    (-3.0 * tm.loss(tparams, **{k: torch.tensor(v) for k, v in data.items()})).backward()
    jgrads = jax.grad(lambda p: -3.0 * jm.loss(p, **data))({k: jnp.asarray(v) for k, v in params.items()})
    for name in params:
        assert np.allclose(tparams[name].grad.numpy(), -3.0 * want[name], atol=1e-12, rtol=0)
        assert np.allclose(jgrads[name], -3.0 * want[name], atol=1e-12, rtol=0)


def test_an_edited_export_is_not_overwritten_without_force(tmp_path):
    d = sb.derive(example("mlp"))
    path = sb.emit(d, tmp_path / "mlp_jax.py", target="jax")
    edited = path.read_text().replace("def sgd_step", "def my_step")
    path.write_text(edited)
    with pytest.raises(sb.SymbpError, match="edited since symbp wrote it"):
        sb.emit(d, path, target="jax")
    assert path.read_text() == edited
    sb.emit(d, path, target="jax", force=True)
    assert "def sgd_step" in path.read_text()


def test_jax_gradient_with_respect_to_data_is_nan_not_a_silent_zero():
    d = sb.derive(example("mlp"))
    numpy_module, module = sb.compile(d), sb.compile(d, target="jax")
    params, data = numpy_module.init_params(rng=0), numpy_module.random_data(rng=1, samples=3)
    grad_x = jax.grad(lambda X: module.loss(params, X=X, Y=data["Y"]))(jnp.asarray(data["X"]))
    assert grad_x.shape == data["X"].shape and bool(jnp.all(jnp.isnan(grad_x)))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    d = sb.derive(example("mlp"))
    sb.emit(d, folder / "mlp_torch.py", target="torch")
    sb.emit(d, folder / "mlp_jax.py", target="jax")
    numpy_module = sb.compile(d)
    return (_import(folder / "mlp_torch.py"), _import(folder / "mlp_jax.py"),
            numpy_module.init_params(rng=0), numpy_module.random_data(rng=1, samples=5))


def test_the_exports_name_an_argument_of_the_wrong_type(exports):
    """They once checked shapes only: raw TypeError, AttributeError and torch RuntimeErrors, and
    JAX returned a complex loss for a complex X."""
    torch_module, jax_module, params, data = exports
    tensors = {k: torch.as_tensor(v) for k, v in params.items()}
    torch_data = {k: torch.as_tensor(v) for k, v in data.items()}
    cases = [(torch_module, tensors, torch_data), (jax_module, params, data)]
    for module, p, dt in cases:
        for fn, args, kwargs, says in [
                (module.loss, (None,), dt, "params must be a dict"),
                (module.loss, (p,), {**dt, "X": "abc"}, "data entry 'X' is not an array of numbers"),
                (module.loss, (p,), {**dt, "X": dt["X"] * 1j}, "data entry 'X' has dtype .*complex"),
                (module.init_params, (), {"dtype": int}, "dtype must be a floating-point type"),
                (module.init_params, (), {"rng": "abc"}, "rng must be None, a non-negative integer")]:
            with pytest.raises(ValueError, match=says):
                fn(*args, **kwargs)
    with pytest.raises(ValueError, match="W1 is torch.float32 but b1 is torch.float64"):
        torch_module.loss({**tensors, "W1": tensors["W1"].float()}, **torch_data)
    with pytest.raises(ValueError, match="params entry 'W1' has dtype torch.int64, not a floating"):
        torch_module.loss({**tensors, "W1": tensors["W1"].long()}, **torch_data)
    with pytest.raises(ValueError, match="floating-point torch dtype"):
        torch_module.Net(dtype=torch.int64)
