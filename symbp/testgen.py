"""The emitted pytest file of a generated module: its equivalence checks.

The test embeds ``symbp.refops`` (framework operations) and the model's loss
printed by ``symbp.reference``, so it needs neither symbp nor SymPy: NumPy
and pytest, and autograd or PyTorch when installed.
"""

from __future__ import annotations

import inspect

from . import refops
from .errors import SymbpError
from .inputs import domains, size_symbols
from .ir import Derivation
from .reference import reference_source
from .source import docstring_safe
from .version import __version__

__all__ = ["test_context"]


def _refops_source() -> str:
    """``symbp.refops`` without its module docstring and import line."""
    source = inspect.getsource(refops)
    return source.split("import numpy as np\n", 1)[1].strip()


def test_context(d: Derivation, module: str) -> dict:
    """Everything ``templates/test_module.py.j2`` renders."""
    model = d.model
    try:
        reference = reference_source(model).strip()
    except SymbpError as exc:
        raise SymbpError(f"the tests of {model.name} cannot be generated, so nothing was written: "
                         f"{exc}") from exc
    dims = {dim.name: 4 + k for k, dim in enumerate(model.dims)}
    return {
        "module": module,
        "module_text": docstring_safe(module),
        "version": __version__,
        "dims": dims,
        "sizes": {s.name: dims[s.name] for s in size_symbols(model)},
        "domains": domains(model)[0],
        "scalar": model.is_scalar,
        "refops": _refops_source(),
        "reference": reference,
    }
