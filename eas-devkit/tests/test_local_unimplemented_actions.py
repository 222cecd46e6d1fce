"""Every operation of the EAS OpenAPI the local control plane does not emulate is refused with 501 NotImplemented.

The real ``alibabacloud_eas20210701`` client calls the local control plane. The SDK's operations are read from
its own source (each ``*_with_options`` method builds ``Params(action=..., pathname=..., method=...)``), so an
SDK upgrade that brings an operation fails here until ``control_plane/operations.py`` lists it (or the control
plane implements it).
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any, Callable, NamedTuple

import pytest
import requests
from alibabacloud_eas20210701 import client as eas_client
from alibabacloud_eas20210701 import models as eas_models
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ClientException, ServerException
from alibabacloud_tea_util.models import RuntimeOptions
from conftest import PROJECT

from eas_devkit.local.control_plane.accounts import AccessKey, Accounts
from eas_devkit.local.control_plane.api import url_map
from eas_devkit.local.control_plane.operations import UNIMPLEMENTED, UNIMPLEMENTED_ACTIONS
from eas_devkit.local.control_plane.plane import ControlPlane
from eas_devkit.local.oss.storage import ObjectStore

REGION = "cn-hangzhou"
SERVICE = "unimplemented_probe"
# What a *_with_options method of the SDK passes to Params; its path parameters are f-string fields.
SDK_PARAMS = re.compile(r"action='(?P<action>\w+)'.*?pathname=f?'(?P<path>[^']*)'.*?method='(?P<method>\w+)'",
                        re.S)
PATH_PARAMETER = re.compile(r"\{OpenApiUtilClient\.get_encode_param\((\w+)\)\}")


class SdkOperation(NamedTuple):
    method_name: str  # of the client, e.g. update_service_auto_scaler_with_options
    action: str
    http_method: str
    pathname: str  # with the SDK's f-string fields, e.g. {OpenApiUtilClient.get_encode_param(cluster_id)}

    def path(self) -> str:
        """The path the SDK requests for the arguments :func:`arguments` gives."""
        return PATH_PARAMETER.sub(lambda match: sample(match[1]), self.pathname)


def sdk_operations() -> list[SdkOperation]:
    operations = []
    for name, method in inspect.getmembers(eas_client.Client, inspect.isfunction):
        if name.endswith("_with_options"):
            found = SDK_PARAMS.search(inspect.getsource(method))
            assert found, f"{name}: no Params(action=..., pathname=..., method=...) in the SDK's source"
            operations.append(SdkOperation(name, found["action"], found["method"], found["path"]))
    return operations


SDK_OPERATIONS = sdk_operations()


def sample(parameter: str) -> str:
    return REGION if parameter == "cluster_id" else SERVICE if parameter == "service_name" else f"x-{parameter}"


def arguments(operation: SdkOperation) -> dict[str, Any]:
    """Keyword arguments for the SDK's method: sample path parameters, an empty request model."""
    values: dict[str, Any] = {"headers": {}, "runtime": RuntimeOptions()}
    for name in inspect.signature(getattr(eas_client.Client, operation.method_name)).parameters:
        if name in ("request", "tmp_req"):
            values[name] = getattr(eas_models, f"{operation.action}Request")()
        elif name not in ("self", "headers", "runtime"):
            values[name] = sample(name)
    return values


def not_implemented_message(action: str, method: str, path: str) -> str:
    return f"{action} ({method} {path}) is not implemented by the local EAS."


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    state_dir = tmp_path_factory.mktemp("unimplemented")
    store = ObjectStore(state_dir / "oss")
    accounts = Accounts.for_project(state_dir / "ram-account.json", PROJECT)
    plane = ControlPlane(state_dir, store, accounts, REGION, run_commands=(), secret="test-run-secret")
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
        store.close()


@pytest.fixture(scope="module")
def developer(plane: ControlPlane) -> AccessKey:
    return plane.accounts.create_access_key("developer")


@pytest.fixture(scope="module")
def client(plane: ControlPlane, developer: AccessKey) -> eas_client.Client:
    return eas_client.Client(open_api_models.Config(**plane.client_config(developer)))


@pytest.mark.parametrize(("call", "action", "method", "path"), [
    (lambda client: client.update_service_auto_scaler(
        REGION, "foo", eas_models.UpdateServiceAutoScalerRequest(min=1, max=3)),
     "UpdateServiceAutoScaler", "PUT", f"/api/v2/services/{REGION}/foo/autoscaler"),
    (lambda client: client.create_service_cron_scaler(
        REGION, "foo", eas_models.CreateServiceCronScalerRequest(
            scale_jobs=[eas_models.CreateServiceCronScalerRequestScaleJobs(schedule="0 18 * * *", target_size=2)])),
     "CreateServiceCronScaler", "POST", f"/api/v2/services/{REGION}/foo/cronscaler"),
    (lambda client: client.update_service_instance(
        REGION, "foo", "foo-5d4b7c-1", eas_models.UpdateServiceInstanceRequest(isolate=True)),
     "UpdateServiceInstance", "PUT", f"/api/v2/services/{REGION}/foo/instances/foo-5d4b7c-1"),
    (lambda client: client.list_resources(eas_models.ListResourcesRequest()),
     "ListResources", "GET", "/api/v2/resources"),
    (lambda client: client.update_service_version(REGION, "foo", eas_models.UpdateServiceVersionRequest(version=2)),
     "UpdateServiceVersion", "PUT", f"/api/v2/services/{REGION}/foo/version"),
], ids=["UpdateServiceAutoScaler", "CreateServiceCronScaler", "UpdateServiceInstance", "ListResources",
        "UpdateServiceVersion"])
def test_an_unimplemented_operation_is_refused_naming_it(client: eas_client.Client,
                                                         call: Callable[[eas_client.Client], Any], action: str,
                                                         method: str, path: str) -> None:
    with pytest.raises(ServerException) as refused:
        call(client)
    assert (refused.value.status_code, refused.value.code) == (501, "NotImplemented")
    assert refused.value.data["Message"] == not_implemented_message(action, method, path)  # the SDK adds ids


def test_every_operation_of_the_sdk_is_implemented_or_refused(client: eas_client.Client) -> None:
    """Each operation of the pinned SDK, called as the SDK calls it: the table's answer 501 naming themselves,
    every other one reaches an implemented route (an answer, or an error of the operation, never 404
    InvalidAction.NotFound)."""
    assert len(SDK_OPERATIONS) > len(UNIMPLEMENTED) > 0
    refused, implemented, unrouted = set(), set(), []
    for operation in SDK_OPERATIONS:
        try:
            getattr(client, operation.method_name)(**arguments(operation))
        except AlibabaCloudException as error:
            if (error.status_code, error.code) == (501, "NotImplemented"):
                assert error.data["Message"] == not_implemented_message(operation.action, operation.http_method,
                                                                operation.path())
                refused.add(operation.action)
                continue
            if error.code == "InvalidAction.NotFound":
                unrouted.append(f"{operation.action} ({operation.http_method} {operation.pathname})")
                continue
        implemented.add(operation.action)
    assert not unrouted, "operations of the SDK neither implemented nor in control_plane/operations.py"
    assert refused == UNIMPLEMENTED_ACTIONS, "the table lists an operation the SDK lacks or the API implements"
    assert implemented >= {"CreateService", "ListServices", "DescribeService", "UpdateService", "DeleteService",
                           "DescribeServiceEvent", "ListServiceInstances", "DescribeServiceLog", "StartService",
                           "StopService"}


def test_the_table_is_the_sdks_operations() -> None:
    """Each entry is one of the SDK's operations, with its method; no route is there twice."""
    sdk = {operation.action: operation for operation in SDK_OPERATIONS}
    routes = url_map().bind("localhost")
    for entry in UNIMPLEMENTED:
        assert entry.action in sdk, entry
        assert entry.method == sdk[entry.action].http_method, entry
        assert routes.match(sdk[entry.action].path(), entry.method)[0] == entry.action, entry  # else NotFound
    twice = [route for route, count in Counter((rule.rule, method) for rule in url_map().iter_rules()
                                               for method in rule.methods or () if method != "HEAD").items()
             if count > 1]
    assert not twice


def test_a_path_of_no_operation_is_not_found(client: eas_client.Client) -> None:
    """No such path, and a path of an operation with another method: 404, as before."""
    for method, path in (("GET", f"/api/v2/services/{REGION}/foo/nothing"), ("GET", "/api/v2/nothing"),
                         ("POST", f"/api/v2/services/{REGION}/foo/events")):
        params = open_api_models.Params(action="Nothing", version="2021-07-01", protocol="HTTPS", pathname=path,
                                        method=method, auth_type="AK", style="ROA", req_body_type="json",
                                        body_type="json")
        with pytest.raises(ClientException) as unknown:
            client.call_api(params, open_api_models.OpenApiRequest(), RuntimeOptions())
        assert (unknown.value.status_code, unknown.value.code) == (404, "InvalidAction.NotFound")
        assert unknown.value.data["Message"] == f"Specified api is not found: {method} {path}"


def test_an_unsigned_call_of_an_unimplemented_operation_is_refused_as_unsigned(plane: ControlPlane) -> None:
    answer = requests.put(f"{plane.endpoints.api_url}/api/v2/services/{REGION}/foo/autoscaler", json={"min": 1},
                          timeout=10)
    assert (answer.status_code, answer.json()["Code"]) == (400, "IncompleteSignature")
