"""MaxCompute error responses and SQL task failures, in the shapes pyodps parses.

Two kinds of failure exist in MaxCompute, and pyodps treats them differently:

* :class:`OdpsError` is an HTTP error. The body is ``<Error><Code/><Message/><RequestId/><HostId/></Error>``
  and pyodps raises the class of ``odps.errors`` named by ``Code`` (``NoSuchObject``, ``NoPermission``,
  ``AuthenticationRequestExpired``...), or a plain ``ODPSError`` for a code it has no class for.
* :class:`SqlError` is a failed SQL task: the instance is created (201) and terminates, its task status is
  ``Failed`` and its result is the error text (``ODPS-0130161:[1,8] Parse exception - ...``). pyodps maps
  the ``ODPS-xxxxxxx`` number of that text to a class (``ParseError``, ``NoSuchTable``, ``NoPermission``).

No message may carry a secret: the body reaches the client, and pyodps puts it in its exceptions.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from typing import Optional

from werkzeug.wrappers import Response

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
XML_CONTENT_TYPE = "application/xml"
REQUEST_ID_HEADER = "x-odps-request-id"


def new_request_id() -> str:
    """24 upper-case hex characters, like the request ids of the real service."""
    return secrets.token_hex(12).upper()


class OdpsError(Exception):
    """An HTTP error of the MaxCompute REST or tunnel API: status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_xml(self, request_id: str, host_id: str) -> bytes:
        root = ET.Element("Error")
        for name, value in (("Code", self.code), ("Message", self.message), ("RequestId", request_id),
                            ("HostId", host_id)):
            ET.SubElement(root, name).text = value
        return (XML_DECLARATION + ET.tostring(root, encoding="unicode")).encode("utf-8")

    def to_response(self, request_id: str, host_id: str) -> Response:
        return Response(self.to_xml(request_id, host_id), status=self.status,
                        headers={REQUEST_ID_HEADER: request_id}, content_type=XML_CONTENT_TYPE)


# HTTP errors raised from more than one place, with the codes pyodps turns into its exception classes.


def no_such_project(project: str) -> OdpsError:
    return OdpsError(404, "NoSuchProject", f"ODPS-0420111: Project not found - '{project}'.")


def no_such_table(project: str, table: str) -> OdpsError:
    # pyodps's exist_table() catches NoSuchObject (NoSuchTable is a subclass, NoSuchObject is what it gets).
    return OdpsError(404, "NoSuchObject", f"ODPS-0130131:Table not found - '{project}.{table}'.")


def no_such_instance(project: str, instance_id: str) -> OdpsError:
    return OdpsError(404, "NoSuchObject", f"Instance not found - '{project}/{instance_id}'.")


def no_permission(action: str, resource: str) -> OdpsError:
    """What MaxCompute answers when RAM or ACL denies an action: pyodps raises ``odps.errors.NoPermission``."""
    return access_denied(no_privilege(action, resource))


def access_denied(detail: str) -> OdpsError:
    """403 ``NoPermission`` with ``ODPS-0420095: Access Denied - <detail>``, ``detail`` being one of the
    ``Authorization Failed [...]`` texts below."""
    return OdpsError(403, "NoPermission", f"ODPS-0420095: Access Denied - {detail}")


def invalid_argument(message: str) -> OdpsError:
    """400 ``InvalidArgument``; from the instance tunnel it makes pyodps fall back to the CSV result."""
    return OdpsError(400, "InvalidArgument", message)


def not_implemented(what: str) -> OdpsError:
    return OdpsError(501, "NotImplemented", f"{what} is not implemented by the local MaxCompute.")


def no_such_partition(project: str, table: str, spec: str) -> OdpsError:
    """pyodps raises ``odps.errors.NoSuchPartition`` (a ``NoSuchObject``: ``exist_partition()`` is then False)."""
    return OdpsError(404, "NoSuchPartition", f"The specified partition does not exist - '{project}.{table}' "
                                             f"partition ({spec}).")


def tunnel_unsupported(what: str) -> OdpsError:
    """400, not 501: pyodps retries every 5xx of the tunnel for minutes before giving up."""
    return OdpsError(400, "InvalidArgument", f"{what} is not supported by the local MaxCompute tunnel.")


def method_not_allowed(method: str, path: str) -> OdpsError:
    return OdpsError(405, "MethodNotAllowed", f"The method {method} is not allowed on {path}.")


def internal_error() -> OdpsError:
    return OdpsError(500, "InternalServerError",
                     "ODPS-0010000:System internal error - the local MaxCompute failed; see its log.")


class SqlError(Exception):
    """A SQL task failure: ``text`` is the task result pyodps parses (``ODPS-0130161:[1,8] Parse ...``)."""

    def __init__(self, code: str, description: str, detail: str, line: Optional[int] = None,
                 column: Optional[int] = None) -> None:
        position = f"[{line},{column}] " if line is not None and column is not None else ""
        self.code = code
        self.text = f"{code}:{position}{description} - {detail}"
        super().__init__(self.text)


def parse_error(detail: str, line: int = 1, column: int = 1) -> SqlError:
    """``odps.errors.ParseError`` in the client."""
    return SqlError("ODPS-0130161", "Parse exception", detail, line, column)


def semantic_error(detail: str, line: int = 1, column: int = 1) -> SqlError:
    """A statement that parses but cannot run (unknown column, unsupported construct): ``ODPSError``."""
    return SqlError("ODPS-0130071", "Semantic analysis exception", detail, line, column)


def already_exists(detail: str, line: int = 1, column: int = 1) -> SqlError:
    """What ADD PARTITION without IF NOT EXISTS fails with when the partition is there: ``ODPSError``."""
    return SqlError("ODPS-0130111", "Subject already exists", detail, line, column)


def table_not_found(project: str, table: str, line: int = 1, column: int = 1) -> SqlError:
    """``odps.errors.NoSuchTable`` in the client."""
    return SqlError("ODPS-0130131", "Table not found", f"table {project}.{table} cannot be resolved", line, column)


def sql_no_permission(action: str, resource: str) -> SqlError:
    """``odps.errors.NoPermission`` in the client, as for a SELECT on a table the caller may not read."""
    return sql_access_denied(no_privilege(action, resource))


def sql_access_denied(detail: str) -> SqlError:
    """A SQL task refused by the authorization: ``ODPS-0130013:Authorization exception - <detail>``."""
    return SqlError("ODPS-0130013", "Authorization exception", detail)


# The ``Authorization Failed [...]`` texts, as MaxCompute's error pages and its client's FAQ quote them; the
# REST API prefixes them with ``ODPS-0420095: Access Denied - ``, a SQL task with ``ODPS-0130013``.


def no_privilege(action: str, resource: str) -> str:
    """MaxCompute's words for a denied action; it writes the resource in braces: ``{acs:odps:*:projects/p}``."""
    braced = "{" + resource + "}"
    return f"Authorization Failed [4019], You have NO privilege '{action}' on {braced}."


def not_a_member(project: str) -> str:
    """A RAM identity that was not added to the project (``add user``), whatever RAM allows it."""
    return f"Authorization Failed [4002], You don't exist in project {project}."


def denied_by_policy(action: str, resource: str) -> str:
    """A policy grant with ``"allow" = "false"`` (or ``"deny" = "true"``) matches the action."""
    braced = "{" + resource + "}"
    return f"Authorization Failed [4011], You have NO privilege '{action}' on {braced}. Explicitly denied by policy."
