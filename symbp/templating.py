"""The Jinja2 templates of generated files: where they are, and the one environment over them."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from .errors import SymbpError
from .source import literal

__all__ = ["template_dir", "template_environment"]


def template_dir() -> Path:
    """``symbp/templates`` in an installed wheel, ``templates/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "module.py.j2").is_file():
            return candidate
    raise SymbpError(f"symbp's templates are missing next to {here}; reinstall symbp.")


@functools.cache
def template_environment() -> jinja2.Environment:
    """The Jinja2 environment over ``templates/`` (package data once installed)."""
    root = template_dir()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["py"] = literal
    return env
