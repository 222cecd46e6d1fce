"""Query and body parameters the routes share."""

from __future__ import annotations

import re
from typing import Any

from .errors import APIError

_WHOLE_NUMBER = re.compile(r"^[0-9]{1,9}$")  # ASCII only: str.isdigit() also accepts "²", which int() refuses


def bounded_int(field: str, raw: Any, maximum: int) -> int:
    """``raw`` as a whole number from 1 to ``maximum``, or a 400 naming ``field``."""
    text = raw if isinstance(raw, str) else str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else ""
    if not _WHOLE_NUMBER.match(text) or not 1 <= int(text) <= maximum:
        raise APIError(400, "InvalidArgument", f"{field} must be a whole number from 1 to {maximum}", field=field)
    return int(text)
