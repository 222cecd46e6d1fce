"""``GET /openapi.json``: the OpenAPI 3.0 description of the routes this service has.

The paths come from the app's URL map, so a blueprint that is not registered is not described; each
route's operation (parameters, bodies, every status it can answer) is written here, next to the others,
and ``tests/test_openapi.py`` fails for a route that has none. Limits are the ones the routes enforce,
read from the same constants and settings.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from flask import Blueprint, Flask, current_app

from .config import Config

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.0.3"
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@bp.get("/openapi.json")
def openapi() -> dict[str, Any]:
    return describe(current_app)


def describe(app: Flask) -> dict[str, Any]:
    """The document for ``app``: one operation per (rule, method), HEAD and OPTIONS left to HTTP."""
    described = operations(app.config["SERVICE"], has_credentials="credentials" in app.extensions)
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        operation = described.get(rule.endpoint)
        if operation is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(openapi_path(rule.rule), {})[method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": {{ cookiecutter.project_name | tojson }},
            "description": {{ cookiecutter.description | tojson }},
            "version": "1",
        },
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    }


def openapi_path(rule: str) -> str:
    """``/oss/objects/<object_key:key>`` → ``/oss/objects/{key}``."""
    return _CONVERTER.sub(r"{\1}", rule)


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _response(description: str, content: Optional[dict[str, Any]] = None,
              headers: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "headers": {"X-Request-Id": _ref("headers", "RequestId"), **(headers or {})}}
    if content is not None:
        response["content"] = content
    return response


def _error(description: str, headers: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    return _response(description, _json(_ref("schemas", "Error")), headers)


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _ref("responses", ERROR_RESPONSES[status]) for status in statuses}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _whole_number(default: int, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}


ERROR_RESPONSES = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "PayloadTooLarge",
    416: "RangeNotSatisfiable",
    502: "BadGateway",
    503: "CredentialsUnavailable",
    504: "GatewayTimeout",
}
# What every call to OSS or MaxCompute can answer besides its own errors.
CLOUD_ERRORS = (403, 502, 503, 504)

COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Error": {
            "type": "object",
            "description": "Every error the service answers, whatever the route.",
            "required": ["error", "code", "request_id"],
            "properties": {
                "error": {"type": "string", "description": "What went wrong, for a person."},
                "code": {"type": "string", "description": "Stable code: InvalidKey, NoSuchKey, EntityTooLarge..."},
                "request_id": {"type": "string", "nullable": True, "description": "Also in X-Request-Id."},
                "field": {"type": "string", "description": "The parameter at fault, for a 400."},
                "oss_request_id": {"type": "string", "nullable": True},
                "odps_request_id": {"type": "string", "nullable": True},
            },
        },
    },
    "headers": {
        "RequestId": {
            "description": "The caller's X-Request-Id when it is 1-64 of A-Z a-z 0-9 . _ -, else a new one.",
            "required": True,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
        },
        "RetryAfter": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        },
    },
    "responses": {
        "BadRequest": _error("A parameter or the body is invalid; `field` names it."),
        "Forbidden": _error("The service's RAM role may not do this (AccessDenied, NoPermission)."),
        "NotFound": _error("No such object, bucket, table or partition."),
        "Conflict": _error("OSS refused to overwrite the object (ObjectAlreadyExists)."),
        "PreconditionFailed": _error("A condition (If-Match, If-Unmodified-Since, If-None-Match: * on a PUT) does "
                                     "not hold; `field` names it."),
        "PayloadTooLarge": _error("The body is over MAX_UPLOAD_BYTES (EntityTooLarge)."),
        "RangeNotSatisfiable": _error("The Range starts past the end of the object, or is bytes=-0 (InvalidRange)."),
        "BadGateway": _error("OSS or MaxCompute could not be reached or failed."),
        "CredentialsUnavailable": _error("The RAM role's credentials cannot be had right now.",
                                         {"Retry-After": _ref("headers", "RetryAfter")}),
        "GatewayTimeout": _error("OSS or MaxCompute did not answer in time."),
    },
}


def operations(config: Config, has_credentials: bool) -> dict[str, dict[str, Any]]:
    """The operation of each endpoint (blueprint.function) that a bake can have."""
    described: dict[str, dict[str, Any]] = {
        "openapi.openapi": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {"200": _response("The OpenAPI description.", _json({
                "type": "object", "required": ["openapi", "info", "paths"]}))},
        },
        "health.health": {
            "operationId": "health",
            "summary": "Liveness: answers without touching any cloud service.",
            "responses": {"200": _response("Alive.", _json({
                "type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}},
            }))},
        },
        "health.ready": _ready(has_credentials),
    }
{%- if cookiecutter.role != 'none' %}
    described["credentials.describe_credentials"] = {
        "operationId": "describeCredentials",
        "summary": "Where the credentials come from, the masked AccessKeyId and the expiry (never a secret).",
        "responses": {
            "200": _response("The credentials in use.", _json({
                "type": "object",
                "required": ["source", "access_key_id", "expiration"],
                "properties": {
                    "source": {"type": "string"},
                    "access_key_id": {"type": "string", "pattern": r"^(STS\.)?\*{4}[^*]{0,4}$"},
                    "expiration": {"type": "string", "format": "date-time", "nullable": True},
                },
            })),
            **_errors(503),
        },
    }
{%- endif %}
{%- if cookiecutter.oss %}
    described.update(_oss_operations(config))
{%- endif %}
{%- if cookiecutter.maxcompute %}
    described.update(_maxcompute_operations())
{%- endif %}
    return described


def _ready(has_credentials: bool) -> dict[str, Any]:
    dependencies = {"type": "object", "additionalProperties": {"type": "string", "enum": ["ok", "unavailable"]}}
    responses = {"200": _response("Every dependency is ok.", _json({
        "type": "object", "required": ["status", "dependencies"],
        "properties": {"status": {"type": "string", "enum": ["ready"]}, "dependencies": dependencies},
    }))}
    if has_credentials:
        responses["503"] = _response("A dependency is unavailable.", _json({
            "type": "object", "required": ["status", "dependencies"],
            "properties": {"status": {"type": "string", "enum": ["degraded"]}, "dependencies": dependencies},
        }), {"Retry-After": _ref("headers", "RetryAfter")})
    return {"operationId": "ready", "summary": "Readiness: whether each dependency can be used now.",
            "responses": responses}
{%- if cookiecutter.oss %}


def key_pattern() -> str:
    """routes/oss.py's key rules as a regular expression: no control characters, no leading ``/``, no ``.``
    or ``..`` segment. The byte limit is in the description only: JSON Schema's maxLength counts characters,
    OSS counts the bytes of UTF-8 (1 to 4 a character), so no maxLength is right for every key."""
    char = r"[^/\x00-\x1f\x7f]"
    not_dot = r"[^/.\x00-\x1f\x7f]"
    # A segment other than "." and "..": not starting with ".", or ".x...", or "..x..."; an empty one is optional.
    segment = rf"(?:{not_dot}{char}*|\.{not_dot}{char}*|\.\.{char}+)"
    return rf"{segment}(?:/(?:{segment})?)*"  # unanchored: each use ends in one "$" (see below)


def _oss_operations(config: Config) -> dict[str, dict[str, Any]]:
    from .routes.oss import DEFAULT_MAX_KEYS, ENTITY_TAGS_PATTERN, MAX_KEY_BYTES, MAX_KEYS_CAP

    max_bytes = MAX_KEY_BYTES - len(config.oss_data_prefix.encode("utf-8"))
    key_rules = (f"An object key relative to the data prefix: at most {max_bytes} bytes of UTF-8 (bytes, not "
                 "characters: é is 2, ＞ is 3), no control characters, no leading /, no . or .. segment.")
    # A single "$", last: hypothesis-jsonschema reads a JSON Schema "$" as the end of the text only there; a
    # "$" elsewhere is Python's, which also matches before a final newline (and the service refuses one).
    key_schema = {"type": "string", "minLength": 1, "pattern": f"^{key_pattern()}$"}

    def key(example: str) -> dict[str, Any]:
        return {"name": "key", "in": "path", "required": True, "description": key_rules, "schema": key_schema,
                "example": example}

    optional_key = {"type": "string", "pattern": f"^(?:{key_pattern()})?$"}
    object_entry = {
        "type": "object",
        "required": ["key", "size", "last_modified", "etag"],
        "properties": {
            "key": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "last_modified": {"type": "string", "format": "date-time"},
            "etag": {"type": "string"},
        },
    }
    content_range = {"description": "bytes first-last/size", "required": True,
                     "schema": {"type": "string", "pattern": r"^bytes \d+-\d+/\d+$"}}
    body = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    validators = {"ETag": {"description": "The object's entity tag.", "schema": {"type": "string"}},
                  "Last-Modified": {"description": "When the object was last written.", "schema": {"type": "string"}}}

    def header(name: str, description: str, schema: dict[str, Any], example: str) -> dict[str, Any]:
        return {"name": name, "in": "header", "required": False, "description": description, "schema": schema,
                "example": example}

    entity_tags = {"type": "string", "pattern": f"^ *(?:{ENTITY_TAGS_PATTERN}) *$"}
    http_date = {"type": "string", "description": "An HTTP date, e.g. Fri, 13 Nov 2015 14:47:53 GMT."}
    etag_example = '"5EB63BBBE01EEED093CB22BB8F5ACDC3"'
    date_example = "Fri, 13 Nov 2015 14:47:53 GMT"
    return {
        "oss.list_objects": {
            "operationId": "listObjects",
            "summary": "A page of the objects under the data prefix, in key order.",
            "parameters": [
                _query("prefix", "Only keys starting with this.", optional_key),
                _query("marker", "Only keys after this one (the previous page's next_marker).", optional_key),
                _query("max_keys", "How many keys at most.", _whole_number(DEFAULT_MAX_KEYS, MAX_KEYS_CAP)),
            ],
            "responses": {
                "200": _response("A page of objects.", _json({
                    "type": "object",
                    "required": ["objects", "is_truncated", "next_marker"],
                    "properties": {
                        "objects": {"type": "array", "items": object_entry},
                        "is_truncated": {"type": "boolean"},
                        "next_marker": {"type": "string", "nullable": True},
                    },
                })),
                **_errors(400, 404, *CLOUD_ERRORS),
            },
        },
        "oss.get_object": {
            "operationId": "getObject",
            "summary": "The object's bytes, streamed; one byte range with Range.",
            "parameters": [
                key("hello.txt"),
                {"name": "Range", "in": "header", "required": False, "example": "bytes=0-4",
                 "description": "One range of bytes (bytes=first-last, bytes=first-, bytes=-suffix); several "
                                "ranges, other units or a malformed header get the whole object; a range past "
                                "the end, or bytes=-0, is a 416.",
                 "schema": {"type": "string", "pattern": r"^[\x20-\x7e]*$"}},  # the HTTP server refuses the rest
                header("If-Match", "Only if the object's ETag is one of these (or * : it exists); else 412. "
                       "Entity tags quoted, or bare as the listing gives them.", entity_tags, etag_example),
                header("If-None-Match", "Only if the object's ETag is none of these; else 304 without a body.",
                       entity_tags, etag_example),
                header("If-Modified-Since", "Only if the object changed after this date; else 304.", http_date,
                       date_example),
                header("If-Unmodified-Since", "Only if the object did not change after this date; else 412.",
                       http_date, date_example),
                header("If-Range", "With Range: the whole object is sent (200), whatever the validator, so a "
                       "client never joins parts of two versions.",
                       {"type": "string", "pattern": r"^[\x20-\x7e]*$"}, etag_example),
            ],
            "responses": {
                "200": _response("The whole object, with its own Content-Type.", body),
                "206": _response("The range asked for.", body, {"Content-Range": content_range}),
                "304": _response("Not modified (If-None-Match or If-Modified-Since): the client's copy is current.",
                                 headers=validators),
                **_errors(400, 404, 412, 416, *CLOUD_ERRORS),
            },
        },
        "oss.put_object": {
            "operationId": "putObject",
            "summary": "Store the body as the object (streamed, with a Content-Length or chunked).",
            "description": "If-Match, If-Modified-Since and If-Unmodified-Since are refused (400): OSS cannot "
                           "check them on a write. A body shorter than its Content-Length, or malformed chunked "
                           "encoding, is a 400 naming body, and nothing is stored.",
            "parameters": [
                key("fuzz/example.txt"),
                header("If-None-Match", "Only *: create the object, never overwrite it (OSS's "
                       "x-oss-forbid-overwrite); 412 when it exists.",
                       {"type": "string", "pattern": r"^ *\* *$"}, "*"),
            ],
            "requestBody": {
                "required": False,
                "content": {"application/octet-stream": {"schema": {}}},  # any bytes: nothing to refuse
                "description": f"At most {config.max_upload_bytes} bytes (MAX_UPLOAD_BYTES), of any Content-Type: "
                               "it is stored as the object's.",
            },
            "responses": {
                "201": _response("Stored.", _json({
                    "type": "object",
                    "required": ["key", "etag", "crc64", "size"],
                    "properties": {
                        "key": {"type": "string"},
                        "etag": {"type": "string"},
                        "crc64": {"type": "string", "nullable": True, "pattern": "^[0-9]+$"},
                        "size": {"type": "integer", "minimum": 0, "maximum": config.max_upload_bytes},
                    },
                })),
                **_errors(400, 404, 409, 412, 413, *CLOUD_ERRORS),
            },
        },
        "oss.delete_object": {
            "operationId": "deleteObject",
            "summary": "Delete the object (a missing key is not an error).",
            "description": "Unconditional: OSS deletes without conditions, so If-Match, If-None-Match, "
                           "If-Modified-Since and If-Unmodified-Since are refused (400), never ignored.",
            "parameters": [key("fuzz/example.txt")],
            "responses": {"204": _response("Deleted, or there was nothing to delete."),
                          **_errors(400, 404, *CLOUD_ERRORS)},
        },
    }
{%- endif %}
{%- if cookiecutter.maxcompute %}


def _maxcompute_operations() -> dict[str, dict[str, Any]]:
    from .routes.maxcompute import DEFAULT_ROWS, DEFAULT_TABLES, MAX_ROWS, MAX_TABLES, NDJSON

    identifier = "[A-Za-z_][A-Za-z0-9_]{0,127}"  # routes/maxcompute.py's _IDENTIFIER
    name = {"name": "name", "in": "path", "required": True, "example": "iris",
            "description": "A table name: a letter or _, then letters, digits or _; at most 128.",
            "schema": {"type": "string", "pattern": f"^{identifier}$"}}
    column = {
        "type": "object",
        "required": ["name", "type", "comment"],
        "properties": {"name": {"type": "string"}, "type": {"type": "string"}, "comment": {"type": "string"}},
    }
    name_part = {"type": "string", "pattern": "^[A-Za-z0-9_]{0,128}$"}
    partition_value = "[A-Za-z0-9_.:-]{1,128}"
    pair = rf" *{identifier} *= *{partition_value} *"
    rows = {
        "type": "object",
        "required": ["columns", "rows"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "object"}},
        },
    }
    rows_content = {**_json(rows), NDJSON: {"schema": {"type": "string"}}}
    operations: dict[str, dict[str, Any]] = {
        "maxcompute.list_tables": {
            "operationId": "listTables",
            "summary": "A page of the project's table names, in name order.",
            "parameters": [
                _query("prefix", "Only names starting with this.", name_part),
                _query("marker", "Only names after this one (the previous page's next_marker).", name_part),
                _query("limit", "How many names at most.", _whole_number(DEFAULT_TABLES, MAX_TABLES)),
            ],
            "responses": {
                "200": _response("A page of table names.", _json({
                    "type": "object",
                    "required": ["tables", "next_marker"],
                    "properties": {"tables": {"type": "array", "items": {"type": "string"}},
                                   "next_marker": {"type": "string", "nullable": True}},
                })),
                **_errors(400, 404, *CLOUD_ERRORS),
            },
        },
        "maxcompute.describe_table": {
            "operationId": "describeTable",
            "summary": "The table's columns, types, comments and partition keys.",
            "parameters": [name],
            "responses": {
                "200": _response("The table's schema.", _json({
                    "type": "object",
                    "required": ["name", "comment", "columns", "partition_keys"],
                    "properties": {"name": {"type": "string"}, "comment": {"type": "string"},
                                   "columns": {"type": "array", "items": column},
                                   "partition_keys": {"type": "array", "items": column}},
                })),
                **_errors(400, 404, *CLOUD_ERRORS),
            },
        },
        "maxcompute.read_rows": {
            "operationId": "readRows",
            "summary": "The table's first rows: a JSON document, or JSON Lines with Accept: application/x-ndjson.",
            "parameters": [
                name,
                _query("columns", "Only these columns, comma-separated, each named once.",
                       {"type": "string", "pattern": rf"^ *{identifier} *(?:, *{identifier} *)*$"}),
                _query("limit", "How many rows at most.", _whole_number(DEFAULT_ROWS, MAX_ROWS)),
                _query("partition", "The partition of a partitioned table: key=value[,key=value], each key "
                       "once. A partition that does not exist is a 404 NoSuchPartition naming partition.",
                       {"type": "string", "pattern": rf"^{pair}(?:,{pair})*$"}),
            ],
            "responses": {
                "200": _response("The rows (dates ISO 8601, decimals as strings, bytes base64).", rows_content),
                **_errors(400, 404, *CLOUD_ERRORS),
            },
        },
    }
{%- if cookiecutter.maxcompute_sql %}
    operations["maxcompute_sql.run_sql"] = {
        "operationId": "runSql",
        "summary": "One read-only SELECT; anything else is refused with 400 before it reaches MaxCompute.",
        "requestBody": {"required": True, "content": _json({
            "type": "object",
            "required": ["sql"],
            "properties": {"sql": {"type": "string", "example": "SELECT species FROM iris"},
                           "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "default": DEFAULT_ROWS}},
        })},
        "responses": {
            "200": _response("The result's rows.", rows_content),
            **_errors(400, 404, 413, *CLOUD_ERRORS),
        },
    }
{%- endif %}
    return operations
{%- endif %}
