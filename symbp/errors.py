"""The one exception type symbp raises for a user's mistake."""

import re

_PLACEHOLDER = re.compile(r"(?<!')_symbp_(?:s(\d+)|([a-z]+\d*))")


def _readable(match: re.Match) -> str:
    """``_symbp_s0`` -> ``x1`` (argument 1), ``_symbp_u`` -> ``u``; a quoted user name stays."""
    return f"x{int(match.group(1)) + 1}" if match.group(1) is not None else match.group(2)


class SymbpError(ValueError):
    """Bad input: the message is one sentence naming the culprit.

    Internal placeholder symbols (``_symbp_s0``) are never shown; they read as ``x1``, ``u``:

    >>> str(SymbpError("no derivative of floor(_symbp_s0)."))
    'no derivative of floor(x1).'
    """

    def __init__(self, message: str = "", *args):
        if isinstance(message, str):
            message = _PLACEHOLDER.sub(_readable, message)
        super().__init__(message, *args)
