"""Equivalence checks: symbp's generated gradients against an independent reference.

``check(model, reference)`` derives and compiles the model, draws random
float64 parameters and data, and compares the loss and every gradient with
the reference: central finite differences (``"fd"``) of an independent
NumPy evaluation of the loss, or the autodiff of HIPS autograd, PyTorch or
JAX running that evaluation. Labels of a softmax cross-entropy are drawn as
probability rows (the function's domain); a symbol under a log, a
non-integer power, an inverse sine/cosine/tanh/cosh, or declared positive is
drawn inside that domain (``domains``); a symbol that only sizes constants
(``n`` in ``OneMatrix(n, 1)``) gets a small integer (``size_symbols``). The draws
live in ``symbp.inputs`` (re-exported here), which the emitted tests also read.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .codegen import compile_module
from .derive import derive
from .errors import SymbpError
from .inputs import concrete_dims, domains, draw_inputs, size_symbols
from .model import Model
from .reference import reference_function
from .refops import OPS, finite_differences, relative_error

__all__ = ["check", "Report", "draw_inputs", "concrete_dims", "domains", "size_symbols",
           "missing_package", "REFERENCES"]

REFERENCES = ("fd", "autograd", "torch", "jax")
DEFAULT_RTOL = {"fd": 1e-5, "autograd": 1e-6, "torch": 1e-6, "jax": 1e-6}


@dataclass
class Report:
    """The outcome of one check: relative errors per parameter."""

    model: str
    reference: str
    dims: dict
    loss: float
    reference_loss: float
    errors: dict = field(default_factory=dict)  # param name -> relative error
    rtol: float = 1e-6

    @property
    def loss_error(self) -> float:
        return abs(self.loss - self.reference_loss) / max(abs(self.reference_loss), 1e-12)

    @property
    def worst(self) -> tuple[str, float]:
        """The parameter with the largest relative error, and that error."""
        name = max(self.errors, key=self.errors.get)
        return name, self.errors[name]

    @property
    def max_error(self) -> float:
        return max([self.loss_error, *self.errors.values()])

    @property
    def ok(self) -> bool:
        return self.max_error <= self.rtol

    def __str__(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in self.dims.items()) or "-"
        lines = [f"{self.model} vs {self.reference} (dims {dims}, rtol {self.rtol:g}):",
                 f"  loss {self.loss:.10g} vs {self.reference_loss:.10g} "
                 f"(rel. error {self.loss_error:.2e})"]
        lines += [f"  d/d{name}: rel. error {err:.2e}" for name, err in self.errors.items()]
        return "\n".join(lines)


def _loss_of_params(model: Model, sizes: dict, data: dict, ops):
    """``f(list of param arrays) -> loss`` through the reference evaluation."""
    reference = reference_function(model)
    dims = {d.name: v for d, v in sizes.items()}
    data = {k: v if k in dims else ops.array(v) for k, v in data.items()}
    names = [p.name for p in model.params]

    def f(values):
        value = reference(ops, dict(zip(names, values, strict=True)), data, dims)
        return ops.mean(value) if model.is_scalar else value
    return f


def _require_finite(model: Model, value: float) -> None:
    """Refuse inputs where the model's own loss is undefined (no false alarm on NaN)."""
    if np.isfinite(value):
        return
    unresolved = domains(model)[1]
    where = (f"{unresolved[0]} could not be kept inside its domain "
             "by drawing its symbols" if unresolved else "the inputs are outside its domain")
    raise SymbpError(f"the loss of {model.name} is {value} at the checked inputs: {where}; "
                     "pass params= and data= where it is defined.")


_PACKAGE = {"autograd": "autograd", "torch": "torch", "jax": "jax"}


def missing_package(reference: str) -> str | None:
    """The package (its pip name) that ``reference`` needs and lacks; ``None`` when it runs."""
    if reference not in _PACKAGE:
        return None
    try:
        OPS[reference]()
    except ImportError:
        return _PACKAGE[reference]
    return None


def _ops(reference: str):
    name = "numpy" if reference == "fd" else reference
    try:
        return OPS[name]()
    except ImportError as exc:
        package = _PACKAGE.get(name, str(exc.name).split(".")[0])
        raise SymbpError(f"the reference {reference!r} needs the package {package}, which is not "
                         f"installed; install it with pip install {package}.") from exc


def _reference_values(model: Model, reference: str, sizes: dict, data: dict, plist: list):
    """The reference's loss and gradients; refuses inputs where the loss is not finite."""
    ops = _ops(reference)
    numpy_loss = _loss_of_params(model, sizes, data, OPS["numpy"]())
    _require_finite(model, float(np.asarray(numpy_loss([np.asarray(v) for v in plist]))))
    f = _loss_of_params(model, sizes, data, ops)
    if reference == "fd":
        return float(f(plist)), finite_differences(f, plist)
    return ops.value_and_grad(f, plist)


def _given(what: str, given, drawn: dict) -> dict:
    """check's ``params`` or ``data`` (name -> value), refused unless a dict of the model's names."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise SymbpError(f"check's {what} must be a dict name -> value, not a {type(given).__name__}.")
    unknown = sorted(set(given) - set(drawn), key=str)
    if unknown:
        raise SymbpError(f"check's {what} names {', '.join(map(repr, unknown))}, not one of the "
                         f"model's {what}: {', '.join(drawn) or 'none'}.")
    return dict(given)


def check(model: Model, reference: str = "autograd", dims=None, seed: int = 0,
          rtol: float | None = None, params: dict | None = None, data: dict | None = None,
          module=None) -> Report:
    """Compare ``model``'s generated loss and gradients with ``reference``.

    Raises ``AssertionError`` naming the worst parameter when a relative
    error exceeds ``rtol`` (1e-6 for autodiff references, 1e-5 for "fd").
    """
    if not isinstance(model, Model):
        raise SymbpError(f"check needs a symbp.Model, not a {type(model).__name__}.")
    if reference not in REFERENCES:
        raise SymbpError(f"unknown reference {reference!r}; choose one of {', '.join(REFERENCES)}.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise SymbpError(f"check's seed must be a non-negative integer, not {seed!r}.")
    rng = np.random.default_rng(seed)
    sizes = concrete_dims(model, dims, rng)
    drawn_params, drawn_data = draw_inputs(model, sizes, rng)
    params = {**drawn_params, **_given("params", params, drawn_params)}
    data = {**drawn_data, **_given("data", data, drawn_data)}
    module = module or compile_module(derive(model))
    try:  # the generated reader names a value of the wrong shape or type
        module.loss(params, **data)
    except ValueError as exc:
        raise SymbpError(f"check: {str(exc).rstrip('.')}.") from None
    plist = [params[p.name] for p in model.params]
    ref_loss, ref_grads = _reference_values(model, reference, sizes, data, plist)
    loss, grads = module.loss_and_grad(params, **data)
    report = Report(model.name, reference, {d.name: v for d, v in sizes.items()}, float(loss),
                    float(np.asarray(ref_loss)),
                    rtol=rtol if rtol is not None else DEFAULT_RTOL[reference])
    for p, ref in zip(model.params, ref_grads, strict=True):
        report.errors[p.name] = relative_error(grads[p.name], ref)
    if not report.ok:
        name, err = report.worst
        if report.loss_error > report.rtol and report.loss_error >= err:
            raise AssertionError(f"{model.name}: the loss differs from {reference} by a relative "
                                 f"{report.loss_error:.2e} (rtol {report.rtol:g}).\n{report}")
        raise AssertionError(f"{model.name}: the gradient of {name} differs from {reference} by a "
                             f"relative {err:.2e} (rtol {report.rtol:g}).\n{report}")
    return report
