"""OSS error responses, byte for byte the shape oss2 parses.

Every failure inside the local OSS is an :class:`OssError`; the WSGI app turns it into the XML body real OSS
sends. A HEAD response has no body, so, like real OSS, the same XML travels base64-encoded in the
``x-oss-err`` header (oss2's ``make_exception`` reads it from there, which is how ``object_exists`` tells
``NoSuchKey`` from ``NoSuchBucket``).
"""

from __future__ import annotations

import base64
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Optional

from werkzeug.wrappers import Response

SERVER_NAME = "AliyunOSS"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
XML_CONTENT_TYPE = "application/xml"


def new_request_id() -> str:
    """24 upper-case hex characters, the form of real OSS request ids."""
    return secrets.token_hex(12).upper()


def common_headers(request_id: str) -> dict[str, str]:
    """Headers every response carries, success or error."""
    return {"x-oss-request-id": request_id, "Server": SERVER_NAME}


class OssError(Exception):
    """An OSS error: HTTP status, OSS error code, message and optional extra XML elements.

    ``extra`` elements follow ``HostId`` in the order given (``Key``, ``BucketName``, ``StringToSign``...).
    None of them may carry a secret: the body reaches the client, and oss2 logs it. ``ec`` is OSS's detailed
    error code (``EC`` element and ``x-oss-ec`` header), where the local OSS knows the one OSS sends;
    ``headers`` are extra response headers (``x-oss-next-append-position``...).
    """

    def __init__(self, status: int, code: str, message: str, *, ec: Optional[str] = None,
                 headers: Optional[Mapping[str, str]] = None, **extra: object) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.ec = ec
        self.headers = dict(headers or {})
        # A mapping becomes an element of its own (AccessDeniedDetail), each item a child.
        self.extra = {name: ({key: str(item) for key, item in value.items()} if isinstance(value, Mapping)
                             else str(value)) for name, value in extra.items() if value is not None}

    def to_xml(self, request_id: str, host_id: str) -> bytes:
        root = ET.Element("Error")
        fields = [("Code", self.code), ("Message", self.message), ("RequestId", request_id), ("HostId", host_id)]
        if self.ec is not None:
            self.extra["EC"] = self.ec
        for name, value in [*fields, *self.extra.items()]:
            element = ET.SubElement(root, name)
            if isinstance(value, Mapping):
                for key, item in value.items():
                    ET.SubElement(element, key).text = item
            else:
                element.text = value
        return (XML_DECLARATION + ET.tostring(root, encoding="unicode")).encode("utf-8")

    def to_response(self, request_id: str, host_id: str, method: str) -> Response:
        body = self.to_xml(request_id, host_id)
        headers = {**common_headers(request_id), **self.headers}
        if self.ec is not None:
            headers["x-oss-ec"] = self.ec
        if method == "HEAD":
            headers["x-oss-err"] = base64.b64encode(body).decode("ascii")
            return Response(b"", status=self.status, headers=headers, content_type=XML_CONTENT_TYPE)
        return Response(body, status=self.status, headers=headers, content_type=XML_CONTENT_TYPE)


# The errors raised from more than one place, with the messages real OSS uses.


def access_denied(message: str = "You have no right to access this object because of bucket acl.", *,
                  ec: Optional[str] = None, **extra: object) -> OssError:
    return OssError(403, "AccessDenied", message, ec=ec, **extra)


def ram_denied(action: str, access_key_id: str, account_id: str, explicit: bool) -> OssError:
    """A request the caller's RAM policy does not allow, as OSS answers it: EC 0003-00000201 and OSS's
    wording for a matching Deny statement, 0003-00000001 and the bucket-ACL wording when no Allow matched, and
    the ``AccessDeniedDetail`` that says which (OSS's ``EncodedDiagnosticMessage``, which only RAM's
    DecodeDiagnosticMessage reads, is not emulated)."""
    detail = {"PolicyType": "AccountLevelIdentityBasedPolicy",
              **({"AuthPrincipalOwnerId": account_id} if account_id != "*" else {}),
              "AuthPrincipalType": "AssumedRoleUser" if access_key_id.startswith("STS.") else "SubUser",
              "NoPermissionType": "ExplicitDeny" if explicit else "ImplicitDeny",
              "AuthAction": action}
    if explicit:
        return OssError(403, "AccessDenied", "Access denied by bucket policy.", ec="0003-00000201",
                        AccessDeniedDetail=detail)
    return access_denied(ec="0003-00000001", AccessDeniedDetail=detail)


def no_such_bucket(bucket: str) -> OssError:
    return OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)


def no_such_key(key: str) -> OssError:
    return OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key, ec="0026-00000001")


def no_such_upload(upload_id: str) -> OssError:
    return OssError(404, "NoSuchUpload",
                    "The specified upload does not exist. The upload ID may be invalid, "
                    "or the upload may have been aborted or completed.", UploadId=upload_id)


def invalid_argument(name: str, value: Optional[str], message: str) -> OssError:
    return OssError(400, "InvalidArgument", message, ArgumentName=name, ArgumentValue=value)


def invalid_digest(message: str) -> OssError:
    return OssError(400, "InvalidDigest", message)


def malformed_xml() -> OssError:
    return OssError(400, "MalformedXML",
                    "The XML you provided was not well-formed or did not validate against our published schema.")


def not_implemented(what: str) -> OssError:
    return OssError(501, "NotImplemented", f"{what} is not implemented by the local OSS.")


def unsupported_header(name: str) -> OssError:
    """A request header the local OSS does not implement: refused rather than ignored."""
    return OssError(501, "NotImplemented", f"The {name} header is not implemented by the local OSS.",
                    Header=name)


def internal_error() -> OssError:
    return OssError(500, "InternalError", "We encountered an internal error. Please try again.")
