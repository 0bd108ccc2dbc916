"""Resolve a MODEL argument: a built-in example name or ``path/to/file.py:attr``."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

from .errors import SymbpError
from .examples import EXAMPLES
from .explain import teaching_values as _drawn_values
from .files import check_regular
from .model import Model

__all__ = ["load_model", "teaching_values"]


def load_model(spec: str) -> Model:
    """The ``Model`` named by ``spec``; ``attr`` may be a Model or a function returning one."""
    if spec in EXAMPLES:
        return EXAMPLES[spec]()
    if ":" not in spec:
        raise SymbpError(f"{spec!r} is neither a built-in example ({', '.join(EXAMPLES)}) nor "
                         "of the form path/to/file.py:attr.")
    path_text, attr = spec.rsplit(":", 1)
    path = Path(path_text)
    _check_file(path)
    module = _import(path)
    if not hasattr(module, attr):
        raise SymbpError(f"{path} has no attribute {attr!r}.")
    value = getattr(module, attr)
    if callable(value) and not isinstance(value, Model):
        value = _call(value, f"{path}:{attr}")
    if not isinstance(value, Model):
        raise SymbpError(f"{path}:{attr} is a {type(value).__name__}, not a symbp.Model (or a "
                         "function returning one).")
    return value


def _check_file(path: Path) -> None:
    """A model file must be a regular file (a FIFO would block the import)."""
    if not check_regular(path):
        raise SymbpError(f"the model file {path} does not exist.")


def _import(path: Path):
    name = f"symbp_user_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise SymbpError(f"{path} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except SymbpError:
        del sys.modules[name]
        raise
    except SystemExit as exc:  # sys.exit() in the user's file must not end symbp silently
        del sys.modules[name]
        raise SymbpError(f"importing {path} called sys.exit({exc.code!r}); a model file must "
                         "define the model, not exit.") from None
    except Exception as exc:  # the user's file failed: say where, not a traceback
        del sys.modules[name]
        raise SymbpError(f"importing {path} failed: {_reason(exc)}") from exc
    return module


def _call(function, where: str) -> Model:
    """Call the user's model function of no arguments, turning its failures into one sentence."""
    try:
        inspect.signature(function).bind()
    except TypeError as exc:
        raise SymbpError(f"{where} must be a Model or a function of no arguments that returns "
                         f"one; calling it without arguments fails: {exc}.") from None
    except ValueError:  # no signature (a builtin): let the call tell
        pass
    try:
        return function()
    except SymbpError:
        raise
    except SystemExit as exc:
        raise SymbpError(f"calling {where}() called sys.exit({exc.code!r}); it must return a "
                         "symbp.Model.") from None
    except Exception as exc:
        raise SymbpError(f"calling {where}() failed: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """``TypeName: message.`` on one line."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if text.endswith(".") else text + "."


def teaching_values(model, force: bool):
    """The model's example values, or (with ``force``) random ones rounded for reading."""
    if model.values:  # checked by Model: finite real numbers
        return model.values
    return _drawn_values(model) if force else None
