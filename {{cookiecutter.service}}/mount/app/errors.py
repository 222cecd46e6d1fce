"""Every error is a JSON body ``{"error", "code", "request_id", ...}``; never a traceback, never an HTML page."""

from __future__ import annotations

import logging
from typing import Any, Optional

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error the client should see, with its HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str, headers: Optional[dict[str, str]] = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details


def error_body(code: str, message: str, request_id: Optional[str], **details: Any) -> dict[str, Any]:
    """The one shape of every error, the service's and gunicorn's (app.server)."""
    return {"error": message, "code": code, "request_id": request_id, **details}


def error_response(status: int, code: str, message: str, headers: Optional[dict[str, str]] = None,
                   **details: Any) -> Response:
    response = jsonify(error_body(code, message, g.get("request_id"), **details))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def api_error(error: APIError) -> Response:
        return error_response(error.status, error.code, error.message, error.headers, **error.details)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        response = error_response(error.code or 500, type(error).__name__, error.description or error.name)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # The request id the 500 body gives the client is the one to search the logs for.
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        return error_response(500, "InternalError", "internal error; the request id identifies it in the logs")


class CredentialsUnavailable(APIError):
    """The role's credentials cannot be had right now (endpoint or file down, or expired)."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self) -> None:
        super().__init__(503, "CredentialsUnavailable", "credentials unavailable",
                         headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)})
