"""The one exception type symbp raises for a user's mistake."""


class SymbpError(ValueError):
    """Bad input: the message is one sentence naming the culprit."""
