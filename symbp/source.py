"""Safe Python source text: literals, one-line comments, docstring contents.

Every piece of user text (symbol names, descriptions, commands) that reaches
generated source goes through one of these.
"""

from __future__ import annotations

import json
import re

__all__ = ["literal", "one_line", "docstring_safe"]


def literal(value) -> str:
    """A Python literal for strings, numbers and tuples/lists/dicts of them."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise TypeError(f"no Python literal for {value!r}")


_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every line break replaced by a space (safe in a ``#`` comment)."""
    return _LINE_BREAKS.sub(" ", text)


def docstring_safe(text: str) -> str:
    """``text`` safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
