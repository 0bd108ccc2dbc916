"""Fuzz: 1,000+ random shape-typed matrix losses, symbp's loss and gradients against autograd.

Each case (``fuzz_cases.make_case``) is derived, compiled and run by symbp; an independent
evaluator (``fuzz_reference``) gives autograd's value and gradients of the same SymPy
expression. Every case must come out OK: no MISMATCH (loss, gradient shape or values), no
CRASH (an exception other than SymbpError), no REFUSAL (a SymbpError on a valid expression).
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from dataclasses import dataclass

import autograd
import numpy as np
import sympy as sp
from fuzz_cases import Case, N, make_case
from fuzz_reference import evaluate

import symbp as sb

CASES = 1000
SECONDS_PER_CASE = 30
RTOL = 1e-7


@dataclass
class Outcome:
    kind: str  # OK, MISMATCH, CRASH, REFUSAL, REFERENCE (a failure of this test's own evaluator)
    stage: str = ""
    detail: str = ""

    @property
    def signature(self) -> str:
        """The failure with names and numbers blanked, to group alike failures."""
        text = re.sub(r"\b[A-Z]\d+\b", "M", self.detail.splitlines()[0] if self.detail else "")
        text = re.sub(r"the prediction .*? has shape", "the prediction P has shape", text)
        text = re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "#", text)
        return f"{self.kind} at {self.stage}: {text[:160]}"


def inputs(case: Case, seed: int = 0):
    """Random params and data for ``case``: moderate values, label rows summing to one.

    The data include ``n`` where the loss has it but no matrix of the loss is sized by it
    (``n`` only sizes ``OneMatrix`` factors): the generated functions take it as an argument.
    """
    rng = np.random.default_rng(seed)
    dims = {N: case.n}
    sized = any(isinstance(s, sp.MatrixSymbol) and N in s.shape for s in case.loss.free_symbols)
    params, data = {}, {} if sized or N not in case.loss.free_symbols else {"n": case.n}
    for sym in sorted(case.loss.free_symbols, key=str):
        if sym == N:
            continue
        if isinstance(sym, sp.MatrixSymbol):
            shape = tuple(int(sp.sympify(d).subs(dims)) for d in sym.shape)
            if sym in case.labels:
                value = (np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
                         if rng.random() < 0.5 else rng.dirichlet(np.ones(shape[1]), shape[0]))
            else:
                value = 0.7 * rng.normal(size=shape)
        else:
            value = float(rng.uniform(0.5, 1.5))
        (params if sym in case.params else data)[sym.name] = value
    return params, data


def reference(case: Case, params, data):
    """autograd's loss and gradients of the case's SymPy expression."""
    syms = {s.name: s for s in case.loss.free_symbols}
    fixed = {syms[k]: v for k, v in data.items() if k in syms and syms[k] != N}
    names = [p.name for p in case.params]

    def loss(values):
        return evaluate(case.loss, {**fixed, **{syms[k]: v for k, v in zip(names, values, strict=True)}},
                        {N: case.n})

    value, grads = autograd.value_and_grad(loss)([params[k] for k in names])
    return float(value), dict(zip(names, grads, strict=True))


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"no answer within {SECONDS_PER_CASE} s")


class _Failure(Exception):
    """symbp failed: ``outcome`` says where and how."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.detail)
        self.outcome = outcome


def _symbp(case: Case, params, data):
    """symbp's forward loss, then its loss and gradients; raises _Failure naming the stage.

    A timeout (``_Timeout`` from the alarm) is caught here too and counts as a CRASH.
    """
    stage = "Model"
    try:
        model = sb.Model(case.loss, params=list(case.params), name="fuzz")
        stage = "derive"
        derivation = sb.derive(model)
        stage = "compile"
        module = sb.compile(derivation)
        stage = "call"
        forward = module.loss(dict(params), **data)
        value, grads = module.loss_and_grad(dict(params), **data)
    except sb.SymbpError as exc:
        raise _Failure(Outcome("REFUSAL", stage, str(exc))) from exc
    except Exception as exc:  # noqa: BLE001 - a crash of any kind is what we count
        raise _Failure(Outcome("CRASH", stage, f"{type(exc).__name__}: {exc}")) from exc
    return forward, value, grads


def _close(got, want) -> bool:
    want = np.asarray(want, dtype=float)
    scale = 1.0 + (np.max(np.abs(want)) if want.size else 0.0)
    return bool(np.allclose(got, want, rtol=RTOL, atol=1e-9 * scale))


def compare(forward, value, grads, ref_value, ref_grads) -> Outcome:
    """OK, or the first MISMATCH of symbp's results against the reference's."""
    if not _close(forward, ref_value):
        return Outcome("MISMATCH", "loss", f"loss() = {float(forward)!r}, expected {ref_value!r}")
    if not _close(value, ref_value):
        return Outcome("MISMATCH", "loss_and_grad",
                       f"loss_and_grad value {float(value)!r}, expected {ref_value!r}")
    if sorted(grads) != sorted(ref_grads):
        return Outcome("MISMATCH", "gradient names", f"got {sorted(grads)}, expected {sorted(ref_grads)}")
    for name in sorted(ref_grads):
        got, want = np.asarray(grads[name]), np.asarray(ref_grads[name])
        if got.shape != want.shape:
            return Outcome("MISMATCH", "gradient shape",
                           f"d/d{name} has shape {got.shape}, expected {want.shape}")
        if not _close(got, want):
            err = float(np.max(np.abs(got - want)))
            return Outcome("MISMATCH", "gradient values",
                           f"d/d{name} differs by up to {err:.3g}\ngot {got.tolist()}\n"
                           f"expected {want.tolist()}")
    return Outcome("OK")


def run_case(case: Case) -> Outcome:
    """The outcome of one case (OK or the first thing that went wrong)."""
    if case.refused:
        return Outcome("REFUSAL", "build", case.refused)
    params, data = inputs(case)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_CASE)
    try:
        try:
            ref_value, ref_grads = reference(case, params, data)
        except _Timeout:
            raise
        except Exception as exc:  # noqa: BLE001
            return Outcome("REFERENCE", "evaluate", f"{type(exc).__name__}: {exc}")
        if not (np.isfinite(ref_value) and all(np.all(np.isfinite(g)) for g in ref_grads.values())):
            return Outcome("REFERENCE", "evaluate", "the reference loss or a gradient is not finite")
        try:
            forward, value, grads = _symbp(case, params, data)
        except _Failure as failure:
            return failure.outcome
        return compare(forward, value, grads, ref_value, ref_grads)
    except _Timeout as exc:
        return Outcome("CRASH", "timeout", str(exc))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def describe(case: Case) -> str:
    """The case in one readable line: seed, n, params, the loss and its symbols' shapes."""
    if case.loss is None:
        return f"seed {case.seed}: refused while building: {case.refused}"
    params = ", ".join(p.name for p in case.params)
    shapes = ", ".join(f"{s.name} {tuple(s.shape)}" for s in sorted(case.loss.free_symbols, key=str)
                       if isinstance(s, sp.MatrixSymbol))
    return f"seed {case.seed} (n={case.n}, params [{params}]): {case.loss}  where {shapes}"


def run_all(count: int = CASES, first: int = 0):
    """(outcomes by seed, construct counts, seconds) of the seeds ``first .. first + count - 1``."""
    began = time.perf_counter()
    outcomes, tags = {}, Counter()
    for seed in range(first, first + count):
        case = make_case(seed)
        tags.update(case.tags)
        outcomes[seed] = (case, run_case(case))
    return outcomes, tags, time.perf_counter() - began


COVERED = ("numpy_bias", "broadcast_only_sum", "row_bcast", "col_bcast", "ones_left", "ones_right",
           "ones_both_sides", "scaled_ones", "transposed_broadcast", "hadamard_with_broadcast",
           "hadamard_power_of_broadcast", "softmax", "inverse", "matpow", "trace", "hadamard",
           "hadamard_power", "transpose", "element_of_expr", "coef_rational", "coef_data_scalar",
           "scalar_params", "loss_softmax_ce", "loss_sum_all", "loss_element", "shape_1x1",
           "shape_kxk_square", "shape_nxn", "shape_nxk", "inverse_nxn", "identity_plus",
           "hadamard_power_data_exponent")
"""Constructs each run must generate at least 10 times."""


def test_random_matrix_losses_match_autograd_with_no_crash_or_refusal():
    outcomes, tags, _ = run_all()
    kinds = Counter(outcome.kind for _, outcome in outcomes.values())
    bad = [(case, o) for case, o in outcomes.values() if o.kind != "OK"]
    for construct in COVERED:
        assert tags[construct] >= 10, f"the generator made only {tags[construct]} {construct}"
    lines = [f"{o.kind} at {o.stage}: {o.detail.splitlines()[0][:300]}\n    {describe(case)[:800]}"
             for case, o in bad[:10]]
    assert not bad, f"{dict(kinds)} over {len(outcomes)} cases; the first:\n" + "\n".join(lines)


def _grad(expr, wrt, env, dims):
    return autograd.grad(lambda v: evaluate(expr, {**env, wrt: v}, dims))(env[wrt])


def test_reference_sums_a_row_broadcast_bias_over_the_rows():
    rng = np.random.default_rng(0)
    X, W, b, R = (sp.MatrixSymbol(k, *s) for k, s in
                  (("X", (N, 2)), ("W", (2, 3)), ("b", (1, 3)), ("R", (N, 3))))
    env = {X: rng.normal(size=(4, 2)), W: rng.normal(size=(2, 3)), b: rng.normal(size=(1, 3)),
           R: rng.normal(size=(4, 3))}
    loss = sp.Trace(R.T * (X * W + b))
    assert np.isclose(evaluate(loss, env, {N: 4}), np.sum(env[R] * (env[X] @ env[W] + env[b])))
    assert np.allclose(_grad(loss, b, env, {N: 4}), env[R].sum(axis=0, keepdims=True))
    ones = sp.Trace(sp.OneMatrix(1, N) * sp.HadamardPower(sp.OneMatrix(N, 1) * b, 2) * sp.OneMatrix(3, 1))
    assert np.allclose(_grad(ones, b, env, {N: 4}), 2 * 4 * env[b])


def test_reference_gradient_of_an_inverse_is_minus_a_inverse_transposed_sandwich():
    rng = np.random.default_rng(1)
    A, R = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("R", 3, 3)
    env = {A: np.eye(3) + 0.2 * rng.normal(size=(3, 3)), R: rng.normal(size=(3, 3))}
    inv_t = np.linalg.inv(env[A]).T
    assert np.allclose(_grad(sp.Trace(R.T * sp.Inverse(A)), A, env, {}), -inv_t @ env[R] @ inv_t)


def test_reference_softmax_cross_entropy_gradient_is_probs_minus_labels_over_n():
    rng = np.random.default_rng(2)
    Z, Y = sp.MatrixSymbol("Z", N, 3), sp.MatrixSymbol("Y", N, 3)
    env = {Z: rng.normal(size=(5, 3)), Y: np.eye(3)[[0, 2, 1, 1, 0]]}
    probs = np.exp(env[Z]) / np.exp(env[Z]).sum(axis=1, keepdims=True)
    loss = sb.softmax_cross_entropy(Z, Y)
    assert np.isclose(evaluate(loss, env, {N: 5}), -np.sum(env[Y] * np.log(probs)) / 5)
    assert np.allclose(_grad(loss, Z, env, {N: 5}), (probs - env[Y]) / 5)


def test_reference_reads_elements_traces_and_elementwise_maps():
    rng = np.random.default_rng(3)
    A = sp.MatrixSymbol("A", 2, 2)
    a = rng.normal(size=(2, 2))
    loss = sb.sigmoid(A)[0, 1] + sp.Trace(sb.relu(A) * A) + sp.HadamardPower(A, 3)[1, 0] / 2
    expected = 1 / (1 + np.exp(-a[0, 1])) + np.trace(np.maximum(a, 0) @ a) + a[1, 0] ** 3 / 2
    assert np.isclose(evaluate(loss, {A: a}, {}), expected)


def test_generator_is_deterministic_per_seed():
    first = [(str(make_case(s).loss), make_case(s).params) for s in range(20)]
    assert first == [(str(make_case(s).loss), make_case(s).params) for s in range(20)]
