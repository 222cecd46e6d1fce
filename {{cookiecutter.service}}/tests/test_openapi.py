"""``GET /openapi.json`` describes every route of this bake, and the service answers as it says.

schemathesis generates requests from the description (valid ones and invalid ones) and sends them to the
service under gunicorn on a local EAS of this module's own, where the fuzzer may write and delete: every
answer must be documented (status, content type, headers, body schema), and none may be a 5xx.
How many requests comes from ``reliability.FUZZ_EXAMPLES``: hundreds for `make test`, thousands for
`make reliability`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from conftest import local_eas_fixture, needs_oss
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from app.openapi import describe, openapi_path
from eas_devkit.reliability import FUZZ_EXAMPLES

pytestmark = pytest.mark.reliability

# With the coverage phase's own cases, ~a dozen operations make about 4 requests per FUZZ_EXAMPLES:
# ~550 for `make test`, ~5,000 for `make reliability`.
EXAMPLES_PER_OPERATION = max(1, FUZZ_EXAMPLES // 3)
UPLOAD_LIMIT = 64 * 1024  # small, so that the fuzzer's bodies can go over it
fuzzed_eas = local_eas_fixture("--env", f"MAX_UPLOAD_BYTES={UPLOAD_LIMIT}")
# Operations where input valid by the description may still be refused for what only the data can tell.
STATE_DEPENDENT = {
    "readRows": "a partition spec names the table's own partition keys",
    "runSql": "a string is SQL only when MaxCompute parses it as a single SELECT",
}
# Whether a condition holds (304, 412) depends on the object's ETag and date, and a date header is a string.
CONDITIONS = {"if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"}


def routes(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every rule the app answers, HEAD and OPTIONS aside (Flask adds them)."""
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def described(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, operations in document["paths"].items() for method in operations}


def unprintable_header(case: schemathesis.Case) -> bool:
    return any(not (value.isascii() and value.isprintable()) for value in server_header_values(case))


def server_header_values(case: schemathesis.Case) -> list[str]:
    """The header values as the service gets them: gunicorn strips spaces and tabs around each (RFC 9110's OWS)."""
    return [str(value).strip(" \t") for value in (case.headers or {}).values()]


def stripped_by_the_server(case: schemathesis.Case) -> bool:
    return server_header_values(case) != [str(value) for value in (case.headers or {}).values()]


def test_every_route_of_this_bake_is_described_and_nothing_else(app):
    assert described(describe(app)) == routes(app)


def test_a_route_without_a_description_is_caught(app):
    app.add_url_rule("/undocumented", "undocumented", lambda: "")
    assert routes(app) - described(describe(app)) == {("/undocumented", "get")}


def test_every_operation_documents_its_errors_with_the_one_error_schema(app):
    document = describe(app)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/ready":
                    name = response["$ref"].rsplit("/", 1)[1]
                    schema = document["components"]["responses"][name]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


@needs_oss
@settings(max_examples=FUZZ_EXAMPLES * 4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(alphabet="a./\x00\n\x7f\u00e9", max_size=10))
def test_the_described_key_pattern_is_the_services_key_rule(app, key):
    from app.errors import APIError
    from app.routes.oss import validate_key

    parameter = describe(app)["paths"]["/oss/objects/{key}"]["get"]["parameters"][0]
    # fullmatch: a JSON Schema "$" is the end of the text; Python's search would also stop before a final "\n".
    described_valid = bool(key) and re.fullmatch(parameter["schema"]["pattern"], key) is not None
    with app.test_request_context():
        try:
            validate_key(key)
            valid = True
        except APIError:
            valid = False
    assert described_valid == valid


@needs_oss
def test_the_described_key_length_is_the_services_byte_rule(app):
    """OSS counts a key's bytes; JSON Schema's maxLength counts characters, so it would be wrong for one kind of
    key or the other: the limit is in the description, in bytes, and it is the service's."""
    from app.errors import APIError
    from app.routes.oss import validate_key

    key = describe(app)["paths"]["/oss/objects/{key}"]["get"]["parameters"][0]
    for parameter in (key, describe(app)["paths"]["/oss/objects"]["get"]["parameters"][0]):
        assert "maxLength" not in parameter["schema"], parameter
    limit = int(re.search(r"at most (\d+) bytes of UTF-8", key["description"]).group(1))
    with app.test_request_context():
        for character in ("k", "\u00e9", "\uff1e", "\U0001f600"):
            size = len(character.encode("utf-8"))
            validate_key(character * (limit // size))
            with pytest.raises(APIError):
                validate_key(character * (limit // size) + "k" * (limit % size + 1))


@pytest.fixture(scope="module")
def live_schema(fuzzed_eas):
    return schemathesis.openapi.from_url(fuzzed_eas.url + "/openapi.json", timeout=30)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_the_live_description_is_this_bakes(fuzzed_eas, app):
    response = fuzzed_eas.get("/openapi.json")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert described(response.json()) == routes(app)


schema = schemathesis.pytest.from_fixture("live_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers_and_no_5xx(case, session, reliability):
    response = case.call(session=session, timeout=60)
    server_error = int(response.status_code >= 500)
    reliability.record("Generated requests (OpenAPI)", requests=1, server_errors=server_error, lost=server_error)
    if unprintable_header(case):
        # gunicorn refuses a header with control characters itself (400, HTML): the app never sees it.
        assert response.status_code == 400
        return
    # The probes and /openapi.json take nothing and ignore a query string, as probes do; the routes that take
    # parameters refuse an unknown one by name, and that is checked. A header the HTTP server strips ("*\t")
    # is invalid to the description but valid to the service, which gets it without the tab.
    excluded = []
    takes_nothing = not (case.operation.query or case.operation.path_parameters or case.operation.body)
    if takes_nothing or stripped_by_the_server(case):
        excluded.append(negative_data_rejection)
    if case.operation.definition.raw["operationId"] in STATE_DEPENDENT or CONDITIONS & {
            name.lower() for name in case.headers or {}}:
        excluded.append(positive_data_acceptance)
    case.validate_response(response, excluded_checks=excluded)
