"""The operations of the EAS OpenAPI the local control plane does not emulate, as werkzeug rules.

Every ROA operation of the pinned ``alibabacloud_eas20210701`` (7.0.0) that :mod:`.api` does not implement, by
the SDK's action name, HTTP method and path (``<region>`` is the SDK's ``ClusterId``). :mod:`.api` routes each
of them to a 501 ``NotImplemented`` naming it: the cloud has the operation, the local EAS does not, and a 404
would say the opposite. A path that is no operation of the API stays a 404 ``InvalidAction.NotFound``.
"""

from __future__ import annotations

from typing import NamedTuple

SERVICES = "/api/v2/services"
SERVICE = SERVICES + "/<region>/<name>"
SERVICE_INSTANCE = SERVICE + "/instances/<instance>"
GATEWAYS = "/api/v2/gateways"
GATEWAY = GATEWAYS + "/<region>/<gateway>"
RESOURCES = "/api/v2/resources"
RESOURCE = RESOURCES + "/<region>/<resource>"
VIRTUAL_RESOURCES = "/api/v2/virtualresources"
VIRTUAL_RESOURCE = VIRTUAL_RESOURCES + "/<region>/<virtual_resource>"
BENCHMARK_TASKS = "/api/v2/benchmark-tasks"
BENCHMARK_TASK = BENCHMARK_TASKS + "/<region>/<task>"
GROUPS = "/api/v2/groups"
GROUP = GROUPS + "/<region>/<group>"
APP_SERVICES = "/api/v2/app_services"
TENANT_ADDONS = "/api/v2/tenantaddons"


class Operation(NamedTuple):
    action: str  # as the SDK names it, e.g. UpdateServiceAutoScaler
    method: str
    path: str  # a werkzeug rule


UNIMPLEMENTED: tuple[Operation, ...] = (
    # Services.
    Operation("CloneService", "POST", SERVICE + "/clone"),
    Operation("CommitService", "PUT", SERVICE + "/commit"),
    Operation("DevelopService", "PUT", SERVICE + "/develop"),
    Operation("ReleaseService", "PUT", SERVICE + "/release"),
    Operation("RestartService", "PUT", SERVICE + "/restart"),
    Operation("UpdateServiceVersion", "PUT", SERVICE + "/version"),
    Operation("ListServiceVersions", "GET", SERVICE + "/versions"),
    Operation("UpdateServiceSafetyLock", "PUT", SERVICE + "/lock"),
    Operation("UpdateServiceLabel", "PUT", SERVICE + "/label"),
    Operation("DeleteServiceLabel", "DELETE", SERVICE + "/label"),
    Operation("DescribeServiceDiagnosis", "GET", SERVICE + "/diagnosis"),
    Operation("DescribeServiceEndpoints", "GET", SERVICE + "/endpoints"),
    Operation("DescribeServiceSignedUrl", "GET", SERVICE + "/signed_url"),
    Operation("DeleteServiceInstances", "DELETE", SERVICE + "/instances"),
    Operation("UpdateServiceInstance", "PUT", SERVICE_INSTANCE),
    Operation("ListServiceContainers", "GET", SERVICE_INSTANCE + "/containers"),
    Operation("DescribeServiceInstanceDiagnosis", "GET", SERVICE_INSTANCE + "/diagnosis"),
    # Scaling and traffic mirroring of a service.
    Operation("CreateServiceAutoScaler", "POST", SERVICE + "/autoscaler"),
    Operation("UpdateServiceAutoScaler", "PUT", SERVICE + "/autoscaler"),
    Operation("DeleteServiceAutoScaler", "DELETE", SERVICE + "/autoscaler"),
    Operation("CreateServiceCronScaler", "POST", SERVICE + "/cronscaler"),
    Operation("DescribeServiceCronScaler", "GET", SERVICE + "/cronscaler"),
    Operation("UpdateServiceCronScaler", "PUT", SERVICE + "/cronscaler"),
    Operation("DeleteServiceCronScaler", "DELETE", SERVICE + "/cronscaler"),
    Operation("CreateServiceMirror", "POST", SERVICE + "/mirror"),
    Operation("DescribeServiceMirror", "GET", SERVICE + "/mirror"),
    Operation("UpdateServiceMirror", "PUT", SERVICE + "/mirror"),
    Operation("DeleteServiceMirror", "DELETE", SERVICE + "/mirror"),
    # App services and service groups.
    Operation("CreateAppService", "POST", APP_SERVICES),
    Operation("UpdateAppService", "PUT", APP_SERVICES + "/<region>/<name>"),
    Operation("ListGroups", "GET", GROUPS),
    Operation("DescribeGroup", "GET", GROUP),
    Operation("DescribeGroupEndpoints", "GET", GROUP + "/endpoints"),
    # Dedicated gateways.
    Operation("CreateGateway", "POST", GATEWAYS),
    Operation("ListGateway", "GET", GATEWAYS),
    Operation("DescribeGateway", "GET", GATEWAY),
    Operation("UpdateGateway", "PUT", GATEWAY),
    Operation("DeleteGateway", "DELETE", GATEWAY),
    Operation("AttachGatewayDomain", "PUT", GATEWAY + "/domain/attach"),
    Operation("DetachGatewayDomain", "PUT", GATEWAY + "/domain/detach"),
    Operation("ListGatewayDomains", "GET", GATEWAY + "/domains"),
    Operation("CreateAclPolicy", "POST", GATEWAY + "/acl_policy"),
    Operation("ListAclPolicy", "GET", GATEWAY + "/acl_policy"),
    Operation("DeleteAclPolicy", "DELETE", GATEWAY + "/acl_policy"),
    Operation("CreateGatewayIntranetLinkedVpc", "POST", GATEWAY + "/intranet_endpoint_linked_vpc"),
    Operation("ListGatewayIntranetLinkedVpc", "GET", GATEWAY + "/intranet_endpoint_linked_vpc"),
    Operation("DeleteGatewayIntranetLinkedVpc", "DELETE", GATEWAY + "/intranet_endpoint_linked_vpc"),
    Operation("CreateGatewayIntranetLinkedVpcPeer", "POST", GATEWAY + "/intranet_endpoint_linked_vpc_peer"),
    Operation("ListGatewayIntranetLinkedVpcPeer", "GET", GATEWAY + "/intranet_endpoint_linked_vpc_peer"),
    Operation("DeleteGatewayIntranetLinkedVpcPeer", "DELETE", GATEWAY + "/intranet_endpoint_linked_vpc_peer"),
    Operation("ListGatewayIntranetSupportedZone", "GET", GATEWAY + "/intranet_supported_zone"),
    # Dedicated resource groups.
    Operation("CreateResource", "POST", RESOURCES),
    Operation("ListResources", "GET", RESOURCES),
    Operation("DescribeResource", "GET", RESOURCE),
    Operation("UpdateResource", "PUT", RESOURCE),
    Operation("DeleteResource", "DELETE", RESOURCE),
    Operation("CreateResourceInstances", "POST", RESOURCE + "/instances"),
    Operation("ListResourceInstances", "GET", RESOURCE + "/instances"),
    Operation("DeleteResourceInstances", "DELETE", RESOURCE + "/instances"),
    Operation("UpdateResourceInstance", "PUT", RESOURCE + "/instances/<instance>"),
    Operation("ListResourceInstanceWorker", "GET", RESOURCE + "/instance/<instance>/workers"),
    Operation("UpdateResourceInstanceLabel", "PUT", RESOURCE + "/label"),
    Operation("DeleteResourceInstanceLabel", "DELETE", RESOURCE + "/label"),
    Operation("ListResourceServices", "GET", RESOURCE + "/services"),
    Operation("CreateResourceLog", "POST", RESOURCE + "/log"),
    Operation("DescribeResourceLog", "GET", RESOURCE + "/log"),
    Operation("DeleteResourceLog", "DELETE", RESOURCE + "/log"),
    Operation("DescribeResourceDLink", "GET", RESOURCE + "/dlink"),
    Operation("UpdateResourceDLink", "PUT", RESOURCE + "/dlink"),
    Operation("DeleteResourceDLink", "DELETE", RESOURCE + "/dlink"),
    Operation("CreateVirtualResource", "POST", VIRTUAL_RESOURCES),
    Operation("ListVirtualResource", "GET", VIRTUAL_RESOURCES),
    Operation("DescribeVirtualResource", "GET", VIRTUAL_RESOURCE),
    Operation("UpdateVirtualResource", "PUT", VIRTUAL_RESOURCE),
    Operation("DeleteVirtualResource", "DELETE", VIRTUAL_RESOURCE),
    # Stress-testing tasks.
    Operation("CreateBenchmarkTask", "POST", BENCHMARK_TASKS),
    Operation("ListBenchmarkTask", "GET", BENCHMARK_TASKS),
    Operation("DescribeBenchmarkTask", "GET", BENCHMARK_TASK),
    Operation("UpdateBenchmarkTask", "PUT", BENCHMARK_TASK),
    Operation("DeleteBenchmarkTask", "DELETE", BENCHMARK_TASK),
    Operation("DescribeBenchmarkTaskReport", "GET", BENCHMARK_TASK + "/report"),
    Operation("StartBenchmarkTask", "PUT", BENCHMARK_TASK + "/start"),
    Operation("StopBenchmarkTask", "PUT", BENCHMARK_TASK + "/stop"),
    # The account's region, machine types, spot prices and add-ons.
    Operation("DescribeRegions", "GET", "/api/v2/regions"),
    Operation("DescribeMachineSpec", "GET", "/api/v2/public/instance_types"),
    Operation("DescribeSpotDiscountHistory", "GET", "/api/v2/public/spot_discount"),
    Operation("ListTenantAddons", "GET", TENANT_ADDONS),
    Operation("ReinstallTenantAddon", "PUT", TENANT_ADDONS + "/<region>/<addon>/reinstall"),
)

UNIMPLEMENTED_ACTIONS = frozenset(operation.action for operation in UNIMPLEMENTED)
