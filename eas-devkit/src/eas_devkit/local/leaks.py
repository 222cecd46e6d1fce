"""The leak check: does a piece of text hold any secret the local EAS handed out?

Tests post what they captured (responses, log files) to ``POST /admin/leak-check`` and get counts back,
never a secret: the values to look for stay inside the process that issued them.
"""

from __future__ import annotations

from collections.abc import Iterable

SecretPair = tuple[str, str]  # (AccessKeySecret, SecurityToken); the token is "" for a permanent AccessKey


def count_leaks(text: str, issued: Iterable[SecretPair]) -> dict[str, int]:
    """How many issued credentials were searched for, and how many of their secrets and tokens ``text`` holds."""
    pairs = list(issued)
    return {
        "credentials_searched": len(pairs),
        "secret_hits": sum(1 for secret, _ in pairs if secret and secret in text),
        "token_hits": sum(1 for _, token in pairs if token and token in text),
    }
