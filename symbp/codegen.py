"""Derivation -> standalone NumPy module (source text, file, or imported module), or its
PyTorch / JAX export (``target="torch"`` / ``"jax"``, planned by ``export.plan_export``).

The math is printed by ``printing.CodePrinter``; Jinja2 only lays out the
module (``templates/module.py.j2``). ``plan_module`` computes everything the
template shows: which steps each function needs, the statements, the input
checks, the chain-rule comments.
"""

from __future__ import annotations

import linecache
import types
from pathlib import Path

from .errors import SymbpError
from .export import plan_export, template_of
from .files import HEADER, check_writable, content_hash, output_path, write_atomic
from .ir import Derivation
from .planning import plan_module
from .source import one_line
from .templating import template_environment
from .testgen import test_context
from .version import __version__

__all__ = ["generate", "generate_tests", "emit", "compile_module", "template_environment",
           "HEADER"]


def _render(template: str, context: dict, model: str, command: str) -> str:
    """The rendered template behind a "do not edit" header with its content hash."""
    body = template_environment().get_template(template).render(**context)
    digest = content_hash(body)
    header = one_line(f"{HEADER} {__version__} from the model {model!r}. Do not edit: "
                      f"regenerate with `{command}`.") + f"\n# content-hash: sha256:{digest}\n"
    return header + body


def _derivation(d) -> Derivation:
    if not isinstance(d, Derivation):
        raise SymbpError(f"expected a Derivation (from sb.derive(model)), not a "
                         f"{type(d).__name__}.")
    return d


def generate(d: Derivation, command: str = "symbp.generate(derivation)", target: str = "numpy") -> str:
    """The Python source of a standalone NumPy module for ``d`` (``target="numpy"``), or of its
    PyTorch export (a ``torch.autograd.Function`` + ``nn.Module``, ``target="torch"``) or JAX
    export (a ``jax.custom_vjp`` loss, ``target="jax"``), whose backward is the derived one."""
    template = template_of(target)
    d = _derivation(d)
    context = plan_module(d, command) if target == "numpy" else plan_export(d, command, target)
    return _render(template, context, d.model.name, command)


def generate_tests(d: Derivation, module: str, command: str = "symbp.generate_tests") -> str:
    """The source of ``test_<module>.py``: pytest equivalence checks of the module."""
    return _render("test_module.py.j2", test_context(d, module), d.model.name, command)


def emit(d: Derivation, path, force: bool = False, tests: bool = False,
         command: str | None = None, target: str = "numpy") -> Path:
    """Write the module for ``d`` to ``path`` (and ``test_<stem>.py`` with ``tests``);
    ``target`` as in ``generate``.

    The write is atomic; a file symbp did not generate, or one edited since,
    is only overwritten with ``force=True``.
    """
    path = output_path(path, force)
    template_of(target)
    if path.suffix != ".py":
        raise SymbpError(f"the module path {path} must end in .py.")
    if tests and target != "numpy":
        raise SymbpError(f"tests=True writes the NumPy module's tests; target={target!r} has none.")
    shown = "" if target == "numpy" else f", target={target!r}"
    command = command or f"symbp.emit(derivation, {str(path)!r}{shown})"
    module = generate(d, command, target)
    test_path = path.with_name(f"test_{path.stem}.py")
    test = generate_tests(d, path.stem, command) if tests else None
    for target, text in ((path, module), (test_path, test)):
        if text is not None:
            check_writable(target, force)
    write_atomic(path, module)
    if test is not None:
        write_atomic(test_path, test)
    return path


def compile_module(d: Derivation, target: str = "numpy") -> types.ModuleType:
    """The generated module for ``d`` (``target`` as in ``generate``), imported in memory
    (tracebacks show its lines)."""
    source = generate(_derivation(d), target=target)
    digest = content_hash(source)[:12]
    filename = f"<symbp:{d.model.name}:{target}:{digest}>"  # one cache entry per distinct source
    module = types.ModuleType(f"symbp_generated_{d.model.name}")
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102
    return module
