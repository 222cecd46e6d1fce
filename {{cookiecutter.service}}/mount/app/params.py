"""Query and body parameters the routes share."""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, TypeVar
from urllib.parse import unquote_to_bytes

from flask import request

from .errors import APIError

View = TypeVar("View", bound=Callable[..., Any])
# ASCII only: str.isdigit() also accepts "²", which int() refuses. Used with fullmatch, as every pattern of
# the routes: a final "$" also matches before a trailing newline.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def bounded_int(field: str, raw: Any, maximum: int) -> int:
    """``raw`` as a whole number from 1 to ``maximum``, or a 400 naming ``field``."""
    text = raw if isinstance(raw, str) else str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else ""
    if not _WHOLE_NUMBER.fullmatch(text) or not 1 <= int(text) <= maximum:
        raise APIError(400, "InvalidArgument", f"{field} must be a whole number from 1 to {maximum}", field=field)
    return int(text)


def query_parameters(*names: str) -> Callable[[View], View]:
    """The query parameters a view takes: any other (a typo such as ``max-keys``), or one given twice, is a
    400 naming it rather than silently ignored."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            for name in request.args:
                if name not in names:
                    expected = ", ".join(names) if names else "none"
                    raise APIError(400, "InvalidArgument", f"unknown query parameter {name[:64]!r} "
                                   f"(this route takes: {expected})", field=name[:64])
                if len(request.args.getlist(name)) > 1:
                    raise APIError(400, "InvalidArgument", f"{name} is given more than once", field=name)
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


def reject_undecodable_url() -> None:
    """A ``before_request`` of the blueprints that take keys and names from the URL: percent-encoded bytes
    that are not UTF-8 are a 400 naming the parameter.

    werkzeug decodes them to U+FFFD, so without this ``a%FF`` would be taken as the valid key ``a\ufffd``.
    """
    if not _is_utf8(request.environ.get("PATH_INFO", "").encode("latin-1", "replace")):
        arguments = request.view_args or {}
        field = next((name for name, value in arguments.items() if "\ufffd" in str(value)), "path")
        raise _undecodable(field)
    for pair in request.query_string.split(b"&"):
        name, _, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in pair.partition(b"="))
        if not _is_utf8(name):
            raise _undecodable("query")
        if not _is_utf8(value):
            raise _undecodable(name.decode("utf-8"))


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _undecodable(field: str) -> APIError:
    return APIError(400, "InvalidEncoding", f"{field} must be valid UTF-8 (percent-encoded bytes included)",
                    field=field)

