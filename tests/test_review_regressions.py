"""Regressions found by an adversarial review: models a user writes naturally that once gave
silently wrong losses and gradients, wrongly shaped gradients, or evaluated strings.

Every expected value comes from autograd applied to the same function written by hand in
``autograd.numpy`` (independent of symbp's graph, rules and printer).
"""

import re

import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp
from autograd import grad

import symbp as sb
from symbp.examples import EXAMPLES

n = sp.Symbol("n", integer=True, positive=True)
X, Y, W = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("Y", n, 3), sp.MatrixSymbol("W", 3, 3)
V, c = sp.MatrixSymbol("V", 3, 3), sp.MatrixSymbol("c", 1, 3)
RNG = np.random.default_rng(7)
VALUES = {"X": RNG.normal(size=(5, 3)), "Y": RNG.normal(size=(5, 3)), "W": RNG.normal(size=(3, 3)),
          "V": RNG.normal(size=(3, 3)), "c": RNG.normal(size=(1, 3))}


def _matches(loss, params, reference, values=VALUES):
    """The generated module's loss and gradients equal autograd's of ``reference``."""
    model = sb.Model(loss, params=params, name="review")
    mod = sb.compile(sb.derive(model))
    p = {s.name: values[s.name] for s in params}
    value, grads = mod.loss_and_grad(p, **{s.name: values[s.name] for s in model.data})
    names = [s.name for s in params]

    def f(*args):
        return reference({**values, **dict(zip(names, args, strict=True))})
    args = [values[k] for k in names]
    assert np.allclose(value, f(*args), rtol=1e-10, atol=1e-12)
    for k, name in enumerate(names):
        expected = grad(f, k)(*args)
        assert grads[name].shape == np.shape(values[name]), name
        assert np.allclose(grads[name], expected, rtol=1e-9, atol=1e-12), name
    return mod


# sb.mse(P, target) subtracts the whole target: once printed ``P - Y + X`` for ``P - (Y + X)``
TARGETS = {
    "Y + X": (lambda: Y + X, lambda v: v["Y"] + v["X"]),
    "Y - X": (lambda: Y - X, lambda v: v["Y"] - v["X"]),
    "2 Y + X": (lambda: 2 * Y + X, lambda v: 2 * v["Y"] + v["X"]),
    "-(Y + X)": (lambda: -(Y + X), lambda v: -(v["Y"] + v["X"])),
    "tanh(Y) + X": (lambda: Y.applyfunc(sp.tanh) + X, lambda v: anp.tanh(v["Y"]) + v["X"]),
    "dense(X, V, c)": (lambda: sb.dense(X, V, c), lambda v: v["X"] @ v["V"] + v["c"]),
}


@pytest.mark.parametrize("target", list(TARGETS))
def test_mse_against_a_target_that_is_a_sum(target):
    build, ref = TARGETS[target]
    _matches(sb.mse(X * W, build()), [W],
             lambda v: anp.mean((v["X"] @ v["W"] - ref(v)) ** 2))


def test_a_subtracted_sum_keeps_its_brackets_in_the_code():
    src = sb.generate(sb.derive(sb.Model(sb.mse(X * W, Y + X), params=[W])))
    assert "X @ W - (X + Y)" in src


x = sp.Dummy("x", real=True)
CLAMPS = {  # elementwise Max/Min whose kink is not at 0: the mask is of the kink's argument
    "Min(x, 1)": (lambda v: sp.Min(v, 1), lambda z: anp.minimum(z, 1.0)),
    "Max(x, 1)": (lambda v: sp.Max(v, 1), lambda z: anp.maximum(z, 1.0)),
    "Max(x - 1, 0)": (lambda v: sp.Max(v - 1, 0), lambda z: anp.maximum(z - 1.0, 0.0)),
    "Min(x, 0)": (lambda v: sp.Min(v, 0), lambda z: anp.minimum(z, 0.0)),
    "Max(x + 1/2, 0)": (lambda v: sp.Max(v + sp.Rational(1, 2), 0), lambda z: anp.maximum(z + 0.5, 0.0)),
}


@pytest.mark.parametrize("clamp", list(CLAMPS))
def test_clamps_route_the_gradient_by_their_own_threshold(clamp):
    f, ref = CLAMPS[clamp]
    loss = sb.mse((X * W).applyfunc(sp.Lambda(x, f(x))), Y)
    _matches(loss, [W], lambda v: anp.mean((ref(v["X"] @ v["W"]) - v["Y"]) ** 2))


def _log_softmax_last(z):
    shift = z - anp.max(z, axis=-1, keepdims=True)
    return shift - anp.log(anp.sum(anp.exp(shift), axis=-1, keepdims=True))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_of_a_sequence_tensor_is_over_its_last_axis(name):
    A, T = sb.tensor("A", (n, 3, 4)), sb.tensor("T", (n, 3, 2))
    U = sp.MatrixSymbol("U", 4, 2)
    values = {"A": RNG.normal(size=(2, 3, 4)), "T": RNG.normal(size=(2, 3, 2)),
              "U": RNG.normal(size=(4, 2))}
    fn = getattr(sb, name)

    def ref(v):
        logp = _log_softmax_last(anp.einsum("ntk,kj->ntj", v["A"], v["U"]))
        return anp.mean(((anp.exp(logp) if name == "softmax" else logp) - v["T"]) ** 2)
    _matches(sb.mse(fn(sb.einsum("ntk,kj->ntj", A, U)), T), [U], ref, values)


def test_parameters_of_one_axis_get_gradients_of_that_shape_and_train():
    """A (d,) bias, gain or shift (as torch.nn.Linear and LayerNorm have) once got (1, d)
    gradients, and train_step failed on them."""
    T1, TT = sb.tensor("T1", (2, 3, 4)), sb.tensor("TT", (2, 3, 2))
    b, g, be = sb.tensor("b", (4,)), sb.tensor("g", (4,)), sb.tensor("be", (4,))
    U, d = sp.MatrixSymbol("U", 4, 2), sb.tensor("d", (2,))
    values = {"T1": RNG.normal(size=(2, 3, 4)), "TT": RNG.normal(size=(2, 3, 2)),
              "b": RNG.normal(size=4), "g": 1 + RNG.normal(size=4) / 5, "be": RNG.normal(size=4),
              "U": RNG.normal(size=(4, 2)), "d": RNG.normal(size=2)}

    def ref(v):
        h = anp.tanh(v["T1"] + v["b"])
        mu = anp.mean(h, axis=-1, keepdims=True)
        var = anp.mean((h - mu) ** 2, axis=-1, keepdims=True)
        h = (h - mu) / anp.sqrt(var + 1e-5) * v["g"] + v["be"]
        return anp.mean((anp.einsum("ntk,kj->ntj", h, v["U"]) + v["d"] - v["TT"]) ** 2)
    loss = sb.mse(sb.dense(sb.layer_norm(sb.tanh(sb.add(T1, b)), g, be), U, d), TT)
    mod = _matches(loss, [b, g, be, U, d], ref, values)
    params = {k: values[k].copy() for k in ("b", "g", "be", "U", "d")}
    mod.train_step(params, {}, lr=0.1, T1=values["T1"], TT=values["TT"])
    assert {k: v.shape for k, v in params.items()} == {k: values[k].shape for k in params}
    assert not np.allclose(params["b"], values["b"])


PAYLOAD = "__import__('pathlib').Path({!r}).touch()"


@pytest.mark.parametrize("call", ["layer_norm", "batch_norm", "elu"])
def test_number_arguments_given_as_strings_are_refused_not_run(call, tmp_path):
    flag = tmp_path / "ran"
    g, be = sp.MatrixSymbol("g", 1, 3), sp.MatrixSymbol("be", 1, 3)
    build = {"layer_norm": lambda s: sb.layer_norm(X, g, be, eps=s),
             "batch_norm": lambda s: sb.batch_norm(X, g, be, eps=s),
             "elu": lambda s: sb.elu(X, alpha=s)}[call]
    with pytest.raises(sb.SymbpError, match="never evaluates strings"):
        build(PAYLOAD.format(str(flag)))
    assert not flag.exists()


@pytest.mark.parametrize("eps", [0, -1, sp.Symbol("e")])
def test_a_norm_needs_a_positive_number_as_eps(eps):
    g, be = sp.MatrixSymbol("g", 1, 3), sp.MatrixSymbol("be", 1, 3)
    with pytest.raises(sb.SymbpError, match="eps of layer_norm must be a positive number"):
        sb.layer_norm(X, g, be, eps=eps)


BAD_STATES = {
    "a slot of the wrong shape": ({"step": 1, "velocity/b2": np.zeros((4, 3))}, "momentum",
                                  r"state\['velocity/b2'\] has shape \(4, 3\)"),
    "a step that is text": ({"step": "3"}, "adam", r"state\['step'\] is '3'"),
    "a negative step": ({"step": -1}, "adam", r"state\['step'\] is -1"),
    "a slot that is not an array": ({"step": 2, "mean/W1": "x"}, "adam", r"state\['mean/W1'\]"),
}


@pytest.mark.parametrize("case", list(BAD_STATES))
def test_train_step_with_a_bad_state_changes_nothing(case):
    state, optimizer, message = BAD_STATES[case]
    mod = sb.compile(sb.derive(EXAMPLES["mlp"]()))
    params, data = mod.init_params(rng=0), mod.random_data(rng=1, samples=5)
    before, kept = {k: v.copy() for k, v in params.items()}, dict(state)
    with pytest.raises(ValueError, match=message):
        mod.train_step(params, state, optimizer=optimizer, **data)
    assert all(np.array_equal(params[k], before[k]) for k in params)
    assert state.keys() == kept.keys() and all(state[k] is kept[k] for k in state)


def test_check_reads_tensors_as_the_matrices_sympy_multiplies():
    """sb.check's reference once multiplied a (d,) vector and an (n, T, V) tensor as arrays of
    their own shapes (a raw NumPy error); SymPy's product is of the (1, d) row and the rows."""
    A, T, U = sb.tensor("A", (n, 3, 4)), sb.tensor("T", (n, 3, 2)), sp.MatrixSymbol("U", 4, 2)
    T1, TT, b = sb.tensor("T1", (2, 3, 4)), sb.tensor("TT", (2, 3, 4)), sb.tensor("b", (4,))
    for model in (sb.Model(sb.mse(sb.softmax(sb.einsum("ntk,kj->ntj", A, U)), T), params=[U]),
                  sb.Model(sb.mse(sb.tanh(sb.add(T1, b)), TT), params=[b])):
        assert sb.check(model, reference="fd").ok


@pytest.mark.parametrize("bad, says", [(-1, "values from -1"), (10, "to 10"), (2.5, "not whole"),
                                       (np.nan, "not whole")])
def test_ids_that_name_no_row_are_refused_before_anything_changes(bad, says):
    """A negative or fractional id once read a row whose gradient the one-hot missed (silently
    wrong); too large an id gave a raw IndexError, and fit failed after some steps."""
    mod = sb.compile(sb.derive(EXAMPLES["transformer"]()))
    params, data = mod.init_params(rng=0), mod.random_data(rng=1, samples=40)
    before = {k: v.copy() for k, v in params.items()}
    ids = data["ids"].astype(float)
    ids[-1, 0] = bad
    for call in (lambda: mod.loss_and_grad(params, Y=data["Y"], ids=ids),
                 lambda: mod.predict(params, ids=ids),
                 lambda: mod.fit(params, {"Y": data["Y"], "ids": ids}, epochs=1, verbose=False)):
        with pytest.raises(ValueError, match=rf"ids from 0 to 9 \(the rows of E\), got .*{says}"):
            call()
    assert all(np.array_equal(params[k], before[k]) for k in params)
    assert np.isfinite(mod.loss(params, Y=data["Y"], ids=data["ids"].astype(float)))  # whole floats


@pytest.fixture(scope="module")
def mlp():
    return sb.compile(sb.derive(EXAMPLES["mlp"]()))


@pytest.mark.parametrize("params", [None, 5, 3.0, object()])
def test_params_that_are_not_a_dict_get_one_sentence(mlp, params):
    data = mlp.random_data(rng=1, samples=3)
    for call in (lambda: mlp.loss(params, **data), lambda: mlp.loss_and_grad(params, **data),
                 lambda: mlp.train_step(params, {}, **data),
                 lambda: mlp.fit(params, data, epochs=1, verbose=False)):
        with pytest.raises(ValueError, match="params must be a dict name -> array"):
            call()


def test_boolean_and_integer_parameters_compute_as_floats(mlp):
    """NumPy's bool products saturate and its int8 products wrap around; the same values as
    floats are what the formulas mean."""
    params, data = mlp.init_params(rng=0), mlp.random_data(rng=1, samples=5)
    X = np.full((5, 4), 100, np.int8)
    for W1 in (np.ones((4, 8), bool), np.ones((4, 8), np.int8)):
        as_float = mlp.loss({**params, "W1": W1.astype(float)}, X=X.astype(float), Y=data["Y"])
        assert mlp.loss({**params, "W1": W1}, X=X, Y=data["Y"]) == pytest.approx(as_float, rel=1e-12)
        assert mlp.loss({**params, "W1": W1}, X=X > 0, Y=data["Y"]) == pytest.approx(
            mlp.loss({**params, "W1": W1.astype(float)}, X=np.ones((5, 4)), Y=data["Y"]), rel=1e-12)


@pytest.mark.parametrize("call, says", [
    (lambda m: m.init_params(rng="abc"), "rng must be None, a non-negative integer"),
    (lambda m: m.random_data(rng=2.5), "rng must be None, a non-negative integer"),
    (lambda m: m.fit(m.init_params(rng=0), m.random_data(rng=1), seed=-1, verbose=False),
     "seed must be None, a non-negative integer"),
    (lambda m: m.fit(m.init_params(rng=0), {**m.random_data(rng=1), "X": [[1, 2], [3]]},
                     verbose=False), "data entry 'X' is not an array of numbers"),
    (lambda m: m.init_params(dtype=np.float16), "32 bits or more"),
])
def test_bad_seeds_dtypes_and_ragged_data_get_one_sentence(mlp, call, says):
    with pytest.raises(ValueError, match=says):
        call(mlp)


@pytest.mark.parametrize("kwargs, says", [
    ({"params": {"W1": np.zeros((2, 2))}}, r"W1 has shape \(2, 2\) but the model expects \(4, 8\)"),
    ({"data": {"X": "abc"}}, "data entry 'X' is not an array of real numbers"),
    ({"params": {"nosuch": 1.0}}, "params names 'nosuch', not one of the model's params"),
    ({"params": [1.0]}, "params must be a dict"),
    ({"seed": "x"}, "seed must be a non-negative integer"),
])
def test_check_names_a_bad_argument(kwargs, says):
    with pytest.raises(sb.SymbpError, match=says):
        sb.check(EXAMPLES["mlp"](), reference="fd", **kwargs)


def test_lessons_and_explanations_show_tensors_in_their_own_shapes():
    """The lesson's given values, updates and graph edges once showed a tensor's matrix view
    (K (32×9), X (2×64), edges 2×2048), as did explain for an adjoint without a step of its own."""
    cnn = sb.lesson_html(EXAMPLES["digits_cnn"](), values=True)
    for flat in ("32×9", "2×64,", "2×2048", "2×512", "(1×32"):
        assert flat not in cnn, flat
    for full in ("K = (32×1×3×3", "c = (32,", "X = (2×1×8×8", ">2×32×8×8<",
                 "= (32×1×3×3, ‖·‖ = 17.4) − η · (32×1×3×3", "= (32, ‖·‖ = 5.693) − η · (32,"):
        assert full in cnn, full
    block = sb.lesson_html(EXAMPLES["transformer"](), values=True)
    assert "2×192" not in block and "Y = (2×6×10" in block
    text = sb.explain(EXAMPLES["transformer"](), values=True)
    assert re.search(r"∂L/∂(Z\d+) = ∂L/∂(Z\d+) · ∂\2/∂\1 = ∂L/∂\2 = \(2×6×32, ", text)
    assert "2×192" not in text


def test_step_names_do_not_read_as_numbered_copies_of_a_models_symbol():
    """The transformer's embedding table E sat beside steps E1, E2, E3 (its einsums)."""
    d = sb.derive(EXAMPLES["transformer"]())
    assert not [s.name for s in d.steps if re.fullmatch(r"E\d+(_bar)?", s.name)]
    Z, U = sp.MatrixSymbol("Z", 3, 3), sp.MatrixSymbol("U", 3, 3)
    d = sb.derive(sb.Model(sb.mse(sb.tanh(X * Z) * U, Y), params=[Z, U]))
    assert not [s.name for s in d.steps if re.fullmatch(r"Z\d+(_bar)?", s.name)]


def test_the_lesson_says_what_explain_says_about_one_sample_and_broadcasts():
    """The xor lesson left out explain's note that the numbers are one sample's (N = 1); the
    transformer's positions read 𝟙 ⊗ Pos in text but repeat_n(Pos) in LaTeX."""
    xor = EXAMPLES["xor"]()
    note = "the numbers are those of the one sample above: N = 1"
    assert note in sb.explain(xor, values=True) and note in sb.lesson_html(xor, values=True)
    block = sb.derive(EXAMPLES["transformer"]())
    tex = block.latex()
    assert "repeat[n](Pos)" in sb.explain(block) and r"\operatorname{repeat}_{n}" in tex
    assert r"\right)^{\top}" in tex and "^{T}" not in tex


@pytest.mark.parametrize("path, says", [(5, "must be a str or pathlib.Path, not 5"),
                                        (None, "not None"), (b"x.py", "not b'x.py'"),
                                        ("a\x00.py", "contains a NUL character")])
def test_writers_name_a_path_that_is_not_one(path, says, tmp_path, monkeypatch):
    from symbp.lesson import write_lesson

    monkeypatch.chdir(tmp_path)
    d = sb.derive(EXAMPLES["xor"]())
    for write in (lambda: sb.emit(d, path), lambda: sb.render_graph(d, path),
                  lambda: write_lesson(d, path)):
        with pytest.raises(sb.SymbpError, match=says):
            write()
    assert list(tmp_path.iterdir()) == []


def test_force_must_be_a_bool_so_a_hand_written_file_survives_force_no(tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text("# my own code\n")
    with pytest.raises(sb.SymbpError, match="force must be True or False, not 'no'"):
        sb.emit(sb.derive(EXAMPLES["xor"]()), mine, force="no")
    assert mine.read_text() == "# my own code\n"


@pytest.mark.parametrize("budget", ["nan", "-1", "-0.5", "inf", "abc"])
def test_compare_refuses_a_budget_that_is_not_a_positive_time(budget, capsys):
    from symbp.cli import main
    from symbp.compare import compare

    with pytest.raises(SystemExit) as stop:
        main(["compare", "xor", "--budget", budget])
    assert stop.value.code == 2
    assert "argument --budget: " in capsys.readouterr().err
    with pytest.raises(sb.SymbpError, match="budget must be a number of seconds, 0 or more"):
        compare(EXAMPLES["xor"](), budget=float(budget) if budget != "abc" else budget)


def test_control_characters_in_names_and_descriptions_stay_out_of_the_source():
    """A NUL in a parameter's name or the description reached the module's comments and
    docstring, and Python refused to compile it."""
    a, x, w = sp.Symbol("a\x00"), sp.Symbol("x"), sp.Symbol("w")
    for model in (sb.Model(sp.tanh(a * x) ** 2, params=[a]),
                  sb.Model(w ** 2 * x, params=[w], description="bad \x00\x1b text")):
        d = sb.derive(model)
        source = sb.generate(d)
        assert "\x00" not in source and "\x1b" not in source
        mod = sb.compile(d)
        name = model.params[0].name
        value, grads = mod.loss_and_grad({name: np.float64(0.5)}, x=np.array([1.0, 2.0]))
        assert np.isfinite(value) and set(grads) == {name}


def test_an_entry_of_a_broadcast_sum_is_refused_naming_the_bias():
    """(X W + b)[n - 1, 1] with a (1, 2) bias: SymPy reads b[n - 1, 1], a row b lacks, and the
    generated code failed with a raw IndexError."""
    Wk, b = sp.MatrixSymbol("Wk", 3, 2), sp.MatrixSymbol("b", 1, 2)
    with pytest.raises(sb.SymbpError, match=r"b\[n - 1, 1\] reads row n - 1 of b, which has 1 row"):
        sb.Model((X * Wk + b)[n - 1, 1] ** 2, params=[Wk, b])
    model = sb.Model(((X * Wk)[n - 1, 1] + b[0, 1]) ** 2, params=[Wk, b])  # what it says to write
    _matches(model.loss, [Wk, b], lambda v: (v["X"][-1] @ v["Wk"][:, 1] + v["b"][0, 1]) ** 2,
             {**VALUES, "Wk": RNG.normal(size=(3, 2)), "b": RNG.normal(size=(1, 2))})


def test_add_broadcasts_a_row_over_a_matrix_as_plus_does():
    """sb.add(X, b) with X (n, 3) and b (1, 3) said they "do not broadcast" though X + b works."""
    b = sp.MatrixSymbol("b", 1, 3)
    values = {**VALUES, "b": RNG.normal(size=(1, 3))}
    for loss in (sb.mse(sb.tanh(sb.add(X * W, b)), Y), sb.mse(sb.tanh(sb.add(b, X * W)), Y)):
        _matches(loss, [W, b], lambda v: anp.mean((anp.tanh(v["X"] @ v["W"] + v["b"]) - v["Y"]) ** 2),
                 values)
    with pytest.raises(sb.SymbpError, match=r"add: X of shape \(n, 3\) and c of shape \(1, 2\) do not"):
        sb.add(X, sp.MatrixSymbol("c", 1, 2))


def _ln(h, g, be, axis):
    mu = anp.mean(h, axis=axis, keepdims=True)
    return (h - mu) / anp.sqrt(anp.mean((h - mu) ** 2, axis=axis, keepdims=True) + 1e-5) * g + be


@pytest.mark.parametrize("consumer", ["layer_norm", "batch_norm", "add"])
def test_a_matrix_minus_a_row_keeps_its_shape_in_every_consumer(consumer):
    """SymPy reads the shape of X W - b from its first term, -b (1, 3): layer norm, batch norm and
    add took the sum for a row and summed its gradient over the rows (silently wrong)."""
    b, g, be = (sp.MatrixSymbol(s, 1, 3) for s in ("b", "g", "be"))
    values = {**VALUES, **{k: RNG.normal(size=(1, 3)) for k in ("b", "g", "be")}}
    Z = X * W - b
    built = {"layer_norm": lambda: sb.layer_norm(Z, g, be), "batch_norm": lambda: sb.batch_norm(Z, g, be),
             "add": lambda: sb.add(X, Z)}[consumer]()
    params = [W, b] + ([g, be] if consumer != "add" else [])

    def ref(v):
        z = v["X"] @ v["W"] - v["b"]
        h = v["X"] + z if consumer == "add" else _ln(z, v["g"], v["be"], 0 if consumer == "batch_norm" else 1)
        return anp.mean((anp.tanh(h) - v["Y"]) ** 2)
    _matches(sb.mse(sb.tanh(built), Y), params, ref, values)


def test_abs_of_a_relu_has_a_finite_gradient_where_the_relu_is_zero():
    """|relu(X W)| fused into one map once differentiated to re(f) sign(f) / f: NaN at 0."""
    A = sb.relu(X * W).applyfunc(sp.Lambda(x, sp.Abs(x)))
    _matches(sp.Trace(A.T * X) / n, [W],
             lambda v: anp.sum(anp.abs(anp.maximum(v["X"] @ v["W"], 0.0)) * v["X"]) / 5)


def test_a_fused_elu_keeps_float32_and_runs_on_torch():
    """1 - (mask) of an ELU inside a fused map was an integer: float32 became float64, and
    PyTorch refused to subtract a boolean tensor."""
    torch = pytest.importorskip("torch")
    A = sb.elu((X * W).applyfunc(sp.Lambda(x, sp.Min(x ** 2 - 1, x / 2))))
    mod = sb.compile(sb.derive(sb.Model(sp.Trace(A.T * A) / n, params=[W])))
    f32 = {k: VALUES[k].astype(np.float32) for k in ("X", "W")}
    value, grads = mod.loss_and_grad({"W": f32["W"]}, X=f32["X"])
    assert value.dtype == np.float32 and grads["W"].dtype == np.float32
    t = {k: torch.as_tensor(v) for k, v in f32.items()}
    _, tg = mod.loss_and_grad({"W": t["W"]}, X=t["X"])
    assert tg["W"].dtype == torch.float32 and np.allclose(tg["W"].numpy(), grads["W"], atol=1e-5)


def test_a_map_sympy_folds_to_a_constant_keeps_its_shape():
    """Max(Min(x, -1/4), 1/3) is 1/3: printed as a bare number, it broke the shapes after it."""
    b = sp.MatrixSymbol("b", 1, 3)
    A = (X * W).applyfunc(sp.Lambda(x, sp.Max(sp.Min(x, -sp.Rational(1, 4)), sp.Rational(1, 3))))
    values = {**VALUES, "b": RNG.normal(size=(1, 3))}
    _matches(-sp.Trace(sb.log_softmax(sb.add(A, b)) * Y.T) / n, [W, b],
             lambda v: -anp.sum(_log_softmax_last(0 * v["W"][0, 0] + 1 / 3 + v["b"]
                                                  + 0 * v["X"][:, :1]) * v["Y"]) / 5, values)


@pytest.mark.parametrize("activation", ["silu", "gelu"])
def test_silu_and_gelu_inside_a_power_keep_their_product_together(activation):
    """SiLU(Z)**2 printed as Z * σ(Z)**2 (the product unbracketed): wrong loss and gradient."""
    import autograd.scipy.special as asp

    z = sp.Dummy("z", real=True)
    act = getattr(sb, activation)(X * W).applyfunc(sp.Lambda(z, z * sp.log(z ** 2 + 1)))
    loss = sp.Trace(sp.OneMatrix(3, n) * act) / n

    def ref(v):
        a = v["X"] @ v["W"]
        a = a / (1 + anp.exp(-a)) if activation == "silu" else a * (1 + asp.erf(a / anp.sqrt(2.0))) / 2
        return anp.sum(a * anp.log(a ** 2 + 1)) / 5
    _matches(loss, [W], ref)


def test_a_piecewise_of_numbers_keeps_float32():
    """d/dp of Piecewise((x, p < x), (p**2, True)) summed a where() of 0 and 1 as int64, and its
    mean over N was float64 beside float32 parameters."""
    p, xs = sp.Symbol("p"), sp.Symbol("x")
    mod = sb.compile(sb.derive(sb.Model(sp.Piecewise((xs, p < xs), (p ** 2, True)), params=[p])))
    value, grads = mod.loss_and_grad({"p": np.float32(0.3)}, x=np.array([0.1, 0.5, 0.9], np.float32))
    assert value.dtype == np.float32 and grads["p"].dtype == np.float32
    assert grads["p"] == pytest.approx(2 * 0.3 / 3, rel=1e-6)  # one sample of three has p >= x


def test_a_one_wide_gated_recurrence_derives_in_linear_time():
    """A GRU-like recurrence with 1-wide states reads each state from several terms; the
    broadcast shape of its expression used to be recomputed along every path (2^T): T = 6 took
    5 s, T = 8 over two minutes. It now derives and matches autograd; the alarm only stops a
    run that would never end."""
    import signal

    n = sp.Symbol("n", integer=True, positive=True)
    Wz, Uz, Wc, Uc = (sp.MatrixSymbol(k, *s) for k, s in
                      (("Wz", (2, 1)), ("Uz", (1, 1)), ("Wc", (2, 1)), ("Uc", (1, 1))))
    h, steps = None, 10
    for t in range(1, steps + 1):  # sp.MatMul, not *: SymPy's * runs doit() through the state
        x = sp.MatrixSymbol(f"X{t}", n, 2)
        z = sb.sigmoid(x * Wz if h is None else sp.MatAdd(x * Wz, sp.MatMul(h, Uz)))
        c = sb.tanh(x * Wc if h is None else sp.MatAdd(x * Wc, sp.MatMul(sp.HadamardProduct(z, h), Uc)))
        h = sp.HadamardProduct(z, c) if h is None else \
            sp.MatAdd(h, sp.HadamardProduct(z, sp.MatAdd(c, sp.MatMul(-1, h))))
    model = sb.Model(sb.mse(h, sp.MatrixSymbol("Y", n, 1)), params=[Wz, Uz, Wc, Uc])

    def stop(signum, frame):
        raise TimeoutError("derive is still running after 120 s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(120)
    try:
        module = sb.compile(sb.derive(model))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    params, data = module.init_params(rng=0), module.random_data(rng=1, samples=3)

    def loss(p):
        h = None
        for t in range(1, steps + 1):
            x = data[f"X{t}"]
            s = 1 / (1 + anp.exp(-(x @ p[0] if h is None else x @ p[0] + h @ p[1])))
            c = anp.tanh(x @ p[2] if h is None else x @ p[2] + (s * h) @ p[3])
            h = s * c if h is None else h + s * (c - h)
        return anp.mean((h - data["Y"]) ** 2)

    values = [params[k] for k in ("Wz", "Uz", "Wc", "Uc")]
    value, grads = module.loss_and_grad(params, **data)
    np.testing.assert_allclose(value, loss(values), rtol=1e-12)
    for name, want in zip(("Wz", "Uz", "Wc", "Uc"), grad(loss)(values), strict=True):
        np.testing.assert_allclose(grads[name], want, rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("norm", ["batch_norm", "layer_norm"])
def test_a_norm_of_a_sum_of_biased_sums_normalises_every_row(norm):
    """``sb.add(z, z)`` with ``z = X w + c`` (a NumPy-style row c) reads (n, 2), but SymPy
    flattens it to ``2 c + 2 X w``, of c's (1, 2) shape: the norm's output was taken for a row
    and dL/dw came back 0. Checked against autograd."""
    n = sp.Symbol("n", integer=True, positive=True)
    X, w, c, g, be, V, Y = (sp.MatrixSymbol(s, *sh) for s, sh in [
        ("X", (n, 2)), ("w", (2, 2)), ("c", (1, 2)), ("g", (1, 2)), ("be", (1, 2)), ("V", (2, 2)),
        ("Y", (n, 2))])
    z = X * w + c
    normed = getattr(sb, norm)(sb.add(z, z), g, be)
    module = sb.compile(sb.derive(sb.Model(sb.mse(normed * V, Y), params=[w, c, g, be, V])))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    names = ("w", "c", "g", "be", "V")
    params = {k: rng.normal(size=s) for k, s in zip(names, [(2, 2), (1, 2), (1, 2), (1, 2), (2, 2)],
                                                    strict=True)}
    axis = 0 if norm == "batch_norm" else 1

    def loss(p):
        h = 2 * (x @ p[0] + p[1])
        centred = h - anp.mean(h, axis=axis, keepdims=True)
        b = centred / anp.sqrt(anp.mean(centred**2, axis=axis, keepdims=True) + 1e-5) * p[2] + p[3]
        return anp.mean((b @ p[4] - y) ** 2)

    values = [params[k] for k in names]
    value, grads = module.loss_and_grad(params, X=x, Y=y)
    np.testing.assert_allclose(value, loss(values), rtol=1e-12)
    for name, want in zip(names, grad(loss)(values), strict=True):
        np.testing.assert_allclose(grads[name], want, rtol=1e-8, atol=1e-12, err_msg=name)


def test_an_entry_of_a_norm_over_a_symbolic_batch_is_refused_in_one_sentence():
    """(𝟙ᵀ batch_norm(X) 𝟙)[0, 0] with a symbolic n used to raise a raw TypeError from int(n)."""
    n = sp.Symbol("n", integer=True, positive=True)
    X, g, be = sp.MatrixSymbol("X", n, 2), sp.MatrixSymbol("g", 1, 2), sp.MatrixSymbol("be", 1, 2)
    with pytest.raises(sb.SymbpError, match=r"statistics of X reads n entries.*sp\.Trace"):
        (sp.OneMatrix(1, n) * sb.batch_norm(X, g, be) * sp.OneMatrix(2, 1))[0, 0]


def test_a_loss_between_a_tensor_and_a_matrix_of_its_flattened_shape_is_refused():
    """SymPy sees an (n, 1, 2) tensor as the (n, 2) matrix, so mse accepted a matrix prediction
    against it and NumPy broadcast (4, 2) against (4, 1, 2): loss 11.46 instead of 2.46."""
    n = sp.Symbol("n", integer=True, positive=True)
    ids, E, W = sp.MatrixSymbol("ids", n, 1), sp.MatrixSymbol("E", 5, 3), sp.MatrixSymbol("W", 3, 2)
    with pytest.raises(sb.SymbpError, match=r"has shape \(n, 2\) but the target Y has shape \(n, 1, 2\)"):
        sb.mse(sb.dense(sb.embedding(ids, E), W), sb.tensor("Y", (n, 1, 2)))
    X = sp.MatrixSymbol("X", n, 2)
    with pytest.raises(sb.SymbpError, match=r"has shape \(n, 6\) but the target T has shape \(n, 3, 2\)"):
        sb.mse(X * sp.MatrixSymbol("V", 2, 6), sb.tensor("T", (n, 3, 2)))


def test_a_square_matrix_times_a_2d_tensor_is_refused_as_ambiguous():
    """tensor() said a 2-d tensor is a matrix, but * beside a tensor is elementwise: tr(G W) of a
    3 x 3 tensor G computed tr(G ⊙ W) (12 where the matrix product's trace is 36)."""
    G, W = sb.tensor("G", (3, 3)), sp.MatrixSymbol("W", 3, 3)
    for product in (lambda: G * W, lambda: W * G):
        with pytest.raises(sb.SymbpError, match=r"is ambiguous: W is a square matrix.*sb\.einsum"):
            product()
    g, w = np.arange(9.0).reshape(3, 3), np.arange(9.0).reshape(3, 3)[::-1] + 1
    for spelled, want in ((sb.einsum("ij,jk->ik", G, W), np.trace(g @ w)),  # the two spellings
                          (sp.HadamardProduct(G, W), np.trace(g * w))):  # the sentence offers
        module = sb.compile(sb.derive(sb.Model(sp.Trace(spelled), [W])))
        assert module.loss({"W": w}, G=g) == pytest.approx(want, rel=1e-12)
    T = sb.tensor("T", (3, 3))
    assert isinstance(G * T, sp.HadamardProduct)  # two tensors: elementwise, as documented


def test_a_tensor_times_a_matrix_of_another_shape_gets_one_sentence():
    """SymPy raised a raw ShapeError naming neither operand, or (equal matrix views) NumPy a raw
    ValueError at call time."""
    n = sp.Symbol("n", integer=True, positive=True)
    X, V = sb.tensor("X", (n, 3, 4)), sp.MatrixSymbol("V", n, 12)
    with pytest.raises(sb.SymbpError, match=r"X \* V: \* beside a tensor is elementwise, but X has "
                                            r"shape \(n, 3, 4\) and V \(n, 12\)"):
        X * V
    with pytest.raises(sb.SymbpError, match=r"elementwise, but A has shape \(2, 3\) and B \(3, 4\)"):
        sb.tensor("A", (2, 3)) * sp.MatrixSymbol("B", 3, 4)
    for tensor, matrix in (((3,), (1, 3)), ((1,), (1, 1)), ((1, 1), (1, 1)), ((n, 3), (1, 3))):
        assert isinstance(sb.tensor("c", tensor) * sp.MatrixSymbol("r", *matrix), sp.HadamardProduct)
    X, r, Y = sb.tensor("X", (n, 3)), sp.MatrixSymbol("r", 1, 3), sp.MatrixSymbol("Y", n, 3)
    module = sb.compile(sb.derive(sb.Model(sb.mse(X * r, Y), [r])))  # a row gain over n rows
    x, w, y = np.arange(6.0).reshape(2, 3), np.array([[1.0, -2.0, 0.5]]), np.ones((2, 3))
    _, grads = module.loss_and_grad({"r": w}, X=x, Y=y)
    np.testing.assert_allclose(grads["r"], (2 * (x * w - y) * x).sum(axis=0, keepdims=True) / 6)
