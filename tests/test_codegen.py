"""The generated module: its contract, vectorisation, dtypes, and safe emission."""

import ast
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from conftest import random_params

import symbp as sb
from symbp.examples import EXAMPLES


@pytest.fixture(scope="module")
def modules():
    return {name: sb.compile(sb.derive(build())) for name, build in EXAMPLES.items()}


def test_module_exposes_the_contract(modules):
    mod = modules["mlp"]
    assert mod.PARAMS == ["W1", "b1", "W2", "b2"]
    assert mod.DATA == ["X", "Y"]
    assert mod.SHAPES["X"] == ("n", "4")
    for name in ("loss", "loss_and_grad", "predict"):
        assert callable(getattr(mod, name))


def test_loss_equals_loss_and_grad_value(modules, rng):
    model = EXAMPLES["rnn"]()
    params = random_params(model, rng)
    data = {f"X{t}": rng.normal(size=(6, 3)) for t in (1, 2, 3)}
    data["Y"] = np.eye(2)[rng.integers(0, 2, 6)]
    value, _ = modules["rnn"].loss_and_grad(params, **data)
    assert modules["rnn"].loss(params, **data) == value


def test_scalar_model_returns_mean_loss_and_mean_gradient(modules, rng):
    mod = modules["xor"]
    params = {name: rng.normal() for name in mod.PARAMS}
    data = {"x1": rng.normal(size=5), "x2": rng.normal(size=5), "y": rng.normal(size=5)}
    loss, grads = mod.loss_and_grad(params, **data)
    singles = [mod.loss_and_grad(params, **{k: v[i:i + 1] for k, v in data.items()})
               for i in range(5)]
    assert loss == pytest.approx(np.mean([s[0] for s in singles]))
    for name in mod.PARAMS:
        assert grads[name] == pytest.approx(np.mean([s[1][name] for s in singles]))


def test_scalar_model_takes_plain_floats(modules):
    mod = modules["xor"]
    params = {name: 0.1 for name in mod.PARAMS}
    value = mod.loss(params, x1=1.0, x2=0.0, y=1.0)
    assert np.ndim(value) == 0


def test_float32_stays_float32_and_agrees_with_float64(modules, rng):
    mod = modules["mlp_relu"]
    model = EXAMPLES["mlp_relu"]()
    params = random_params(model, rng)
    data = {"X": rng.normal(size=(8, 4)), "Y": np.eye(3)[rng.integers(0, 3, 8)]}
    loss64, grads64 = mod.loss_and_grad(params, **data)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    d32 = {k: v.astype(np.float32) for k, v in data.items()}
    loss32, grads32 = mod.loss_and_grad(p32, **d32)
    assert np.asarray(loss32).dtype == np.float32
    for name, g in grads32.items():
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, grads64[name], rtol=1e-3, atol=1e-5)


def test_predict_returns_probabilities(modules, rng):
    model = EXAMPLES["mlp"]()
    probs = modules["mlp"].predict(random_params(model, rng), X=rng.normal(size=(5, 4)))
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_predict_with_several_outputs_returns_a_dict(modules, rng):
    model = EXAMPLES["autoencoder"]()
    out = modules["autoencoder"].predict(random_params(model, rng), X=rng.normal(size=(5, 6)))
    assert set(out) == {"codes", "reconstruction"}
    assert out["codes"].shape == (5, 3) and out["reconstruction"].shape == (5, 6)


def test_no_ones_matrix_is_materialised():
    for name in ("mlp", "mlp_relu", "rnn", "autoencoder", "softmax_regression"):
        source = sb.generate(sb.derive(EXAMPLES[name]()))
        assert "xp.ones" not in source and "broadcast_to" not in source, name


def test_backward_steps_reuse_forward_values():
    source = sb.generate(sb.derive(EXAMPLES["mlp"]()))
    body = source.split("def loss_and_grad")[1].split("def predict")[0]
    assert body.count("xp.tanh") == 1  # the sigmoid is computed once, in the forward pass
    assert body.count("@ W1") == 1


def test_softmax_is_computed_stably():
    mod = sb.compile(sb.derive(EXAMPLES["softmax_regression"]()))
    params = {"W": np.zeros((4, 3)), "b": np.array([[1000.0, 0.0, -1000.0]])}
    data = {"X": np.ones((2, 4)), "Y": np.array([[0, 0, 1.0], [1.0, 0, 0]])}
    loss, grads = mod.loss_and_grad(params, **data)
    assert np.isfinite(loss) and loss == pytest.approx(1000.0)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_generated_module_imports_only_numpy():
    for build in EXAMPLES.values():
        tree = ast.parse(sb.generate(sb.derive(build())))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        optional = {"array_api_compat"}  # imported lazily, where installed, for other arrays
        assert "numpy" in imported and imported - {"numpy"} - optional <= sys.stdlib_module_names
        assert not any(isinstance(node, ast.ImportFrom) for node in ast.walk(tree))


def test_emit_writes_a_module_that_imports(tmp_path):
    path = sb.emit(sb.derive(EXAMPLES["xor"]()), tmp_path / "xor_net.py")
    result = subprocess.run([sys.executable, "-c", "import xor_net; print(xor_net.PARAMS)"],
                            cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "w11" in result.stdout
    assert path.read_text().startswith("# Generated by symbp")


def test_emit_refuses_to_overwrite_a_file_it_did_not_write(tmp_path):
    target = tmp_path / "mine.py"
    target.write_text("print('precious')\n")
    with pytest.raises(sb.SymbpError, match="not generated by symbp"):
        sb.emit(sb.derive(EXAMPLES["xor"]()), target)
    assert target.read_text() == "print('precious')\n"
    assert list(tmp_path.iterdir()) == [target]


def test_emit_rewrites_its_own_output_but_not_an_edited_one(tmp_path):
    d = sb.derive(EXAMPLES["xor"]())
    target = sb.emit(d, tmp_path / "net.py")
    sb.emit(d, target)
    target.write_text(target.read_text() + "# my edit\n")
    with pytest.raises(sb.SymbpError, match="edited"):
        sb.emit(d, target)
    sb.emit(d, target, force=True)
    assert "# my edit" not in target.read_text()


def test_generated_source_is_deterministic_within_a_process():
    for name in ("mlp", "xor", "rnn"):
        assert sb.generate(sb.derive(EXAMPLES[name]())) == sb.generate(sb.derive(EXAMPLES[name]()))


@pytest.mark.parametrize("name", ["mlp", "xor", "rnn", "autoencoder"])
def test_generated_source_is_identical_across_hash_seeds(name):
    script = ("import symbp as sb, sys\nfrom symbp.examples import EXAMPLES\n"
              f"d = sb.derive(EXAMPLES[{name!r}]())\n"
              "sys.stdout.write(sb.generate(d) + str(d))")
    outputs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
               for seed in ("1", "2", "3")}
    assert len(outputs) == 1


def test_forward_value_matches_sympys_own_evaluation(modules, rng):
    for name in ("mlp", "softmax_regression", "autoencoder", "tanh_trace", "rnn", "xor"):
        model = EXAMPLES[name]()
        dims = {d: 3 for d in model.dims}
        params = random_params(model, rng, dims)
        data = {}
        for s in model.data:
            shape = tuple(int(sp.sympify(k).subs(dims)) for k in model.shape_of(s)) or (1,)
            data[s.name] = rng.normal(size=shape)
        values = {}
        for s in model.symbols:
            if s in model.dims:
                continue
            raw = params.get(s.name, data.get(s.name))
            values[s.xreplace(dims) if s.is_Matrix else s] = (
                sp.ImmutableMatrix(raw) if s.is_Matrix else sp.Float(float(np.ravel(raw)[0])))
        explicit = model.loss.xreplace(dims).xreplace(values).replace(
            lambda e: isinstance(e, sp.OneMatrix), lambda e: sp.ImmutableMatrix.ones(*e.shape))
        expected = float(explicit.doit().evalf())
        assert modules[name].loss(params, **data) == pytest.approx(expected, rel=1e-10), name


def test_inline_writes_a_gradient_in_the_models_own_symbols():
    model = EXAMPLES["mlp"]()
    d = sb.derive(model)
    steps = {s.symbol for s in d.steps}
    for param in model.params:
        closed = d.inline(d.gradients[param])
        assert not (closed.free_symbols & steps)
        assert closed.free_symbols <= set(model.symbols) | {s for s in model.dims}


def test_emitted_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        path = sb.emit(sb.derive(EXAMPLES["xor"]()), tmp_path / "net.py")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_scalar_model_chain_of_parameter_only_nodes_is_averaged_once():
    # found by hypothesis: a1_bar (a mean over samples) was treated as per-sample
    x1, c1 = sp.symbols("x1 c1")
    model = sb.Model(x1 * sp.sin(sp.sin(c1)), params=[c1])
    mod = sb.compile(sb.derive(model))
    x = np.array([0.5, -1.0, 2.0])
    _, grads = mod.loss_and_grad({"c1": 0.3}, x1=x)
    expected = np.mean(x) * np.cos(np.sin(0.3)) * np.cos(0.3)
    assert grads["c1"] == pytest.approx(expected)


@pytest.mark.parametrize("loss, params, absent", [
    (sp.Trace(sp.MatrixSymbol("A", 3, 3) ** 3), ["A"], "xp.eye"),
    (sp.HadamardPower(sp.MatrixSymbol("B", 2, 2), 3), None, "xp.ones"),
])
def test_identity_and_ones_factors_are_not_printed(loss, params, absent):
    if params is None:  # sum of entries of B^3 through a ones readout
        B = sp.MatrixSymbol("B", 2, 2)
        loss = sp.Trace(sp.OneMatrix(2, 2) * sp.HadamardPower(B, 3))
        params = [B]
    else:
        params = [sp.MatrixSymbol(p, 3, 3) for p in params]
    source = sb.generate(sb.derive(sb.Model(loss, params)))
    body = source.split("def loss_and_grad")[1].split("grads = {")[0]
    assert absent not in body and " 1 * " not in body
