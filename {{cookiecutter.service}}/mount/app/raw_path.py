"""The request path as the client sent it, decoded once: WSGI middleware around the Flask app."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Callable
from urllib.parse import unquote_to_bytes, urlsplit


class RawPathInfo:
    """WSGI middleware: ``PATH_INFO`` decoded once from the raw request target when that has raw (not
    percent-encoded) bytes outside ASCII.

    gunicorn reads the request line as Latin-1 and then percent-decodes it with ``unquote_to_bytes``, which
    encodes each of those characters as UTF-8 again: raw UTF-8 in a path came out decoded twice (``＞`` as
    ``ï¼\x9e``), and raw bytes that are not UTF-8 passed as valid text.
    """

    def __init__(self, app: Callable[[dict, Callable], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("RAW_URI", "").split("?", 1)[0]
        if "://" in path:  # absolute-form request target
            path = urlsplit(path).path
        if path and not path.isascii() and not environ.get("SCRIPT_NAME"):
            with contextlib.suppress(UnicodeEncodeError):  # not a Latin-1 reading of bytes: left as it is
                environ["PATH_INFO"] = unquote_to_bytes(path.encode("latin-1")).decode("latin-1")
        return self.app(environ, start_response)
