"""The generated module on every array-API library: the same file takes NumPy, JAX (also under
jax.jit), PyTorch and Dask arrays, returns that library's arrays, and agrees with NumPy."""

import ast
import re
import subprocess
import sys

import numpy as np
import pytest

import symbp as sb
from symbp.examples import example

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
torch = pytest.importorskip("torch")
da = pytest.importorskip("dask.array")
pytest.importorskip("array_api_compat")

MODELS = ["mlp", "mlp_relu", "xor", "rnn", "tanh_trace", "autoencoder", "softmax_regression",
          "shopping", "digits_mlp"]


def _chunked(a):
    a = np.asarray(a)
    return da.from_array(a, chunks=(max(1, len(a) // 3),) + a.shape[1:]) if a.ndim else \
        da.asarray(a)


CONVERT = {  # name -> (array of that library from a NumPy array, its array type)
    "jax": (jnp.asarray, jax.Array),
    "torch": (torch.from_numpy, torch.Tensor),
    "dask": (_chunked, da.Array),
}


@pytest.fixture(scope="module")
def modules():
    return {name: sb.compile(sb.derive(example(name))) for name in MODELS}


def _case(mod, seed=0):
    params = mod.init_params(rng=seed, **{dim: 5 for dim in mod.DIMS})
    data = mod.random_data(rng=seed + 1, samples=9)
    return params, data


def _to(backend, arrays):
    convert = CONVERT[backend][0]
    return {k: convert(np.array(v)) if isinstance(v, np.ndarray) else v for k, v in arrays.items()}


def _numpy(x):
    if isinstance(x, da.Array):
        x = x.compute()
    if isinstance(x, torch.Tensor):
        x = x.numpy()
    return np.asarray(x)


def _assert_same(value, grads, expected_value, expected_grads):
    np.testing.assert_allclose(_numpy(value), expected_value, rtol=1e-12, atol=1e-14)
    assert sorted(grads) == sorted(expected_grads)  # jax.jit returns a dict in sorted order
    for name, g in grads.items():
        np.testing.assert_allclose(_numpy(g), expected_grads[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", sorted(CONVERT))
@pytest.mark.parametrize("name", MODELS)
def test_loss_and_grad_on_each_library_equals_numpy(modules, name, backend):
    mod = modules[name]
    params, data = _case(mod)
    value, grads = mod.loss_and_grad(params, **data)
    got_value, got_grads = mod.loss_and_grad(_to(backend, params), **_to(backend, data))
    kind = CONVERT[backend][1]
    assert all(isinstance(g, kind) for g in got_grads.values()), backend  # the same kind back
    assert list(got_grads) == list(grads)
    _assert_same(got_value, got_grads, value, grads)
    np.testing.assert_allclose(_numpy(mod.loss(_to(backend, params), **_to(backend, data))), value,
                               rtol=1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_loss_and_grad_under_jax_jit_equals_numpy(modules, name):
    mod = modules[name]
    params, data = _case(mod, seed=3)
    value, grads = mod.loss_and_grad(params, **data)
    jitted = jax.jit(mod.loss_and_grad)
    got_value, got_grads = jitted(_to("jax", params), **_to("jax", data))
    _assert_same(got_value, got_grads, value, grads)


def test_jax_grad_of_the_generated_loss_equals_the_derived_gradient(modules):
    mod = modules["mlp"]
    params, data = _case(mod, seed=4)
    _, grads = mod.loss_and_grad(params, **data)
    auto = jax.grad(lambda p: mod.loss(p, **_to("jax", data)))(_to("jax", params))
    for name, g in grads.items():  # jax differentiates the forward code: an independent check
        np.testing.assert_allclose(np.asarray(auto[name]), g, rtol=1e-10, atol=1e-12)


def test_dask_results_stay_lazy_until_computed(modules):
    mod = modules["mlp"]
    params, data = _case(mod)
    value, grads = mod.loss_and_grad(params, **_to("dask", data))
    assert isinstance(value, da.Array) and all(isinstance(g, da.Array) for g in grads.values())


@pytest.mark.parametrize("name", ["mlp", "xor"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_train_steps_on_each_library_follow_numpy(modules, name, optimizer, backend):
    mod = modules[name]
    params, data = _case(mod, seed=5)
    mine, state, their_state = _to(backend, params), {}, {}
    for _ in range(3):
        expected = mod.train_step(params, state, optimizer=optimizer, **data)
        got = mod.train_step(mine, their_state, optimizer=optimizer, **_to(backend, data))
        np.testing.assert_allclose(_numpy(got), expected, rtol=1e-10)
    for key, value in params.items():
        assert isinstance(mine[key], CONVERT[backend][1])
        np.testing.assert_allclose(_numpy(mine[key]), value, rtol=1e-10, atol=1e-12)


def test_a_torch_gradient_is_a_fresh_tensor_not_an_input(modules):
    d = sb.derive(sb.Model(sb.functions.mse(sp_matrix("A"), sp_matrix("B")), params=[sp_matrix("A")],
                           name="fit_b")) if hasattr(sb.functions, "mse") else None
    if d is None:
        pytest.skip("no mse in this version")
    mod = sb.compile(d)
    B = torch.ones(2, 2, dtype=torch.float64)
    _, grads = mod.loss_and_grad({"A": torch.zeros(2, 2, dtype=torch.float64)}, B=B)
    grads["A"].add_(1.0)
    assert torch.equal(B, torch.ones(2, 2, dtype=torch.float64))


def test_torch_arrays_of_two_float_types_get_one_sentence(modules):
    """NumPy promotes a float32-float64 product; PyTorch refuses it with a raw RuntimeError."""
    mod = modules["mlp"]
    params, data = _case(mod)
    p32 = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in params.items()}
    for X in (torch.as_tensor(np.asarray(data["X"])), np.asarray(data["X"])):
        with pytest.raises(ValueError, match="W1 is torch.float32 but X is torch.float64: give every array"):
            mod.loss(p32, X=X, Y=torch.as_tensor(np.asarray(data["Y"], dtype=np.float32)))


def sp_matrix(name):
    import sympy as sp
    return sp.MatrixSymbol(name, 2, 2)


def test_an_unknown_array_type_gets_one_sentence(modules):
    mod = modules["mlp"]
    params, data = _case(mod)

    class Strange:
        ndim, shape = 2, (9, 4)

    with pytest.raises(ValueError, match=r"got a .*Strange, which is not an array NumPy or the "
                                         r"array API standard knows"):
        mod.loss(params, X=Strange(), Y=data["Y"])


def test_without_array_api_compat_jax_still_works_and_torch_names_the_package(modules, monkeypatch):
    mod = modules["mlp"]
    params, data = _case(mod)
    monkeypatch.setitem(sys.modules, "array_api_compat", None)  # import raises ImportError
    value, _ = mod.loss_and_grad(_to("jax", params), **_to("jax", data))
    np.testing.assert_allclose(np.asarray(value), mod.loss(params, **data), rtol=1e-12)
    with pytest.raises(ValueError, match="install array-api-compat"):
        mod.loss(_to("torch", params), **_to("torch", data))


@pytest.mark.parametrize("name", MODELS)
def test_the_module_imports_only_numpy_and_the_standard_library_at_top_level(name):
    tree = ast.parse(sb.generate(sb.derive(example(name))))
    top = [a.name for node in tree.body if isinstance(node, ast.Import) for a in node.names]
    top += [node.module for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert top[-1] == "numpy" and "numpy" not in top[:-1]
    assert [m for m in top[:-1] if m not in sys.stdlib_module_names] == []


@pytest.mark.parametrize("name", MODELS)
def test_generated_math_calls_only_the_namespace(name):
    src = sb.generate(sb.derive(example(name)))
    body = src[src.index("def loss("):src.index("def init_params(")]
    assert "np." not in body  # NumPy-only calls would break on the other libraries
    assert not re.search(r"(?<!\bxp)\.(sum|max|mean|astype|dot)\(", body)  # no array methods


def test_the_emitted_tests_check_every_installed_library_and_name_the_skipped(tmp_path):
    sb.emit(sb.derive(example("mlp")), tmp_path / "net.py", tests=True)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                          "-k", "each_array_library", str(tmp_path / "test_net.py")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 passed" in run.stdout  # numpy, jax, jax.jit, torch, dask
    gpu = torch.cuda.is_available()
    assert gpu or "torch.cuda: not checked, no CUDA GPU here" in run.stdout


@pytest.mark.parametrize("backend", sorted(CONVERT))
def test_a_piecewise_activation_runs_as_nested_where_on_each_library(backend):
    import sympy as sp
    x, n = sp.Symbol("x"), sp.Symbol("n", integer=True, positive=True)
    X, W = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("W", 3, 2)
    elu = sp.Lambda(x, sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True)))
    d = sb.derive(sb.Model(sp.Trace((X * W).applyfunc(elu).T * sp.OneMatrix(n, 2)) / n, [W]))
    assert "xp.where(" in sb.generate(d) and "select" not in sb.generate(d)
    mod = sb.compile(d)
    rng = np.random.default_rng(0)
    params, data = {"W": rng.normal(size=(3, 2))}, {"X": rng.normal(size=(9, 3))}
    value, grads = mod.loss_and_grad(params, **data)
    z = data["X"] @ params["W"]  # by hand: d mean-sum ELU(XW) / dW = Xᵀ ELU'(XW) / n
    np.testing.assert_allclose(grads["W"], data["X"].T @ np.where(z > 0, 1.0, np.exp(z)) / 9)
    got_value, got_grads = mod.loss_and_grad(_to(backend, params), **_to(backend, data))
    _assert_same(got_value, got_grads, value, grads)


def test_a_symbol_named_xp_does_not_shadow_the_namespace():
    import sympy as sp
    xp, W = sp.MatrixSymbol("xp", 3, 2), sp.MatrixSymbol("W", 2, 1)
    mod = sb.compile(sb.derive(sb.Model(sp.Trace((xp * W).T * (xp * W)), params=[W])))
    value, _ = mod.loss_and_grad({"W": np.ones((2, 1))}, xp=np.ones((3, 2)))
    assert float(value) == 12.0


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_fit_on_each_library_follows_numpy(modules, backend):
    mod = modules["mlp"]
    params, data = _case(mod, seed=6)
    theirs = _to(backend, params)
    expected = mod.fit(params, data, epochs=2, batch_size=4, verbose=False)
    got = mod.fit(theirs, _to(backend, data), epochs=2, batch_size=4, verbose=False)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    for key, value in params.items():
        assert isinstance(theirs[key], CONVERT[backend][1])
        np.testing.assert_allclose(_numpy(theirs[key]), value, rtol=1e-9, atol=1e-12)
