"""Resolve a MODEL argument: a built-in example name or ``path/to/file.py:attr``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from .errors import SymbpError
from .examples import EXAMPLES
from .model import Model

__all__ = ["load_model"]


def load_model(spec: str) -> Model:
    """The ``Model`` named by ``spec``; ``attr`` may be a Model or a function returning one."""
    if spec in EXAMPLES:
        return EXAMPLES[spec]()
    if ":" not in spec:
        raise SymbpError(f"{spec!r} is neither a built-in example ({', '.join(EXAMPLES)}) nor "
                         "of the form path/to/file.py:attr.")
    path_text, attr = spec.rsplit(":", 1)
    path = Path(path_text)
    if not path.is_file():
        raise SymbpError(f"the model file {path} does not exist.")
    name = f"symbp_user_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise SymbpError(f"{path} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except SymbpError:
        raise
    except Exception as exc:  # the user's file failed: say where, not a traceback
        raise SymbpError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    if not hasattr(module, attr):
        raise SymbpError(f"{path} has no attribute {attr!r}.")
    value = getattr(module, attr)
    if callable(value) and not isinstance(value, Model):
        value = value()
    if not isinstance(value, Model):
        raise SymbpError(f"{path}:{attr} is a {type(value).__name__}, not a symbp.Model (or a "
                         "function returning one).")
    return value
