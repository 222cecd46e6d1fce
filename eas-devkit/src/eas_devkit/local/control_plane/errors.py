"""Control-plane error responses, in the shape the Tea OpenAPI SDK parses.

The OpenAPI gateway answers every failure with a JSON body ``{"RequestId", "HostId", "Code", "Message"}``
and a 4xx/5xx status. ``alibabacloud_tea_openapi`` reads ``Code``, ``Message`` and ``RequestId`` from it
(case-insensitively for the first letter) and raises ``ClientException`` for 4xx, ``ServerException`` for 5xx,
with ``status_code`` and ``code`` set. A message may name a header, a JSON path or a masked AccessKeyId,
never a secret: the SDK puts it into the exception's text, which ends up in logs.

Codes marked [inferred] are not documented anywhere we found; they are kept here, in one place.
"""

from __future__ import annotations

import json
import uuid

from werkzeug.wrappers import Request, Response

JSON_CONTENT_TYPE = "application/json;charset=utf-8"


def new_request_id() -> str:
    """An upper-case UUID, the form of OpenAPI request ids."""
    return str(uuid.uuid4()).upper()


class ApiError(Exception):
    """One OpenAPI error: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_response(self, request_id: str, host_id: str) -> Response:
        body = {"RequestId": request_id, "HostId": host_id, "Code": self.code, "Message": self.message}
        return json_response(body, self.status, request_id)


def json_response(body: dict, status: int, request_id: str) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type=JSON_CONTENT_TYPE,
                    headers={"x-acs-request-id": request_id})


# Authentication, as the OpenAPI gateway reports it.


def incomplete_signature(why: str) -> ApiError:
    return ApiError(400, "IncompleteSignature", f"The request signature does not conform to Aliyun standards. {why}")


def access_key_not_found() -> ApiError:
    return ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")


def signature_does_not_match(string_to_sign: str) -> ApiError:
    # The gateway echoes its string to sign; for ACS3 it is the algorithm and a hash, nothing secret.
    return ApiError(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. "
                    f"server string to sign is:{string_to_sign}")


def timestamp_expired(value: str) -> ApiError:
    return ApiError(400, "InvalidTimeStamp.Expired",
                    f"Specified time stamp or date value is expired. x-acs-date: {value}")


def nonce_used() -> ApiError:
    return ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")


def security_token_missing() -> ApiError:
    return ApiError(400, "MissingSecurityToken", "SecurityToken is mandatory for this AccessKeyId (STS.*).")


def security_token_mismatch() -> ApiError:
    return ApiError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                    "Specified SecurityToken mismatch with the AccessKey.")


def security_token_expired() -> ApiError:
    return ApiError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")


# EAS.


def service_not_found(region: str, name: str) -> ApiError:
    return ApiError(404, "InvalidService.NotFound", f"Service [{name}] does not exist in region [{region}].")


def service_exists(name: str) -> ApiError:  # [inferred] code
    return ApiError(400, "InvalidService.AlreadyExists", f"Service [{name}] already exists.")


def invalid_parameter(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def invalid_status(name: str, status: str, operation: str) -> ApiError:  # [inferred] code
    return ApiError(400, "InvalidOperation.ServiceStatus",
                    f"Service [{name}] is {status}: {operation} is not allowed in this status.")


def foreign_run_command(path: str) -> ApiError:
    return ApiError(400, "InvalidParameter", f"service config {path}: the local EAS runs only the run command of the "
                    "project it was started for (containers[0].script of its service.json), or "
                    "`python /mnt/data/<path>.py` for a script in that project's mount/ (no other words, no shell "
                    "characters); this one is neither. Deploy that project's service.json, or restart `make dev` "
                    "after changing its run command.")


def openapi_host_refusal(request: Request, message: str) -> Response:
    """A request for a host that is not this machine (:mod:`eas_devkit.local.servers`), as the OpenAPI refuses."""
    return invalid_parameter(message).to_response(new_request_id(), "127.0.0.1")


def not_found(method: str, path: str) -> ApiError:
    return ApiError(404, "InvalidAction.NotFound", f"Specified api is not found: {method} {path}")


def internal_error() -> ApiError:
    return ApiError(500, "InternalError", "The request processing has failed due to some unknown error.")


def not_implemented(what: str) -> ApiError:  # [inferred] the code, as the local OSS and MaxCompute answer
    return ApiError(501, "NotImplemented", f"{what} is not implemented by the local EAS.")
