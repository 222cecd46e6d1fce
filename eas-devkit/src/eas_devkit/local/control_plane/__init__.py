"""A local stand-in for the PAI-EAS control plane and gateway that the unmodified ``alibabacloud_eas20210701``
SDK talks to over HTTP on 127.0.0.1.

    store = ObjectStore(state_dir / "oss")                      # where `make deploy` uploads mount/
    accounts = Accounts.for_project(state_dir / "ram-account.json", project_dir)       # .accounts
    plane = ControlPlane(state_dir, store, accounts, region="cn-hangzhou",
                         endpoints={"OSS_ENDPOINT": oss_url}, issuer=issuer, credentials_uri=credentials_uri)
    endpoints = plane.start()                                   # .api_url, .gateway_url, .deployer_credentials_uri
    key = accounts.create_access_key("developer")               # a RAM user of the accounts file, or "root"
    client = Client(open_api_models.Config(**plane.client_config(key)))
    client.create_service(CreateServiceRequest(body=service_json_text))
    ...
    plane.stop()                                                # SIGTERM to every instance

Modules, one job each: :mod:`.signature` (ACS3-HMAC-SHA256 verification), :mod:`.accounts` (RAM facts: roles, RAM
users, PassRole, trust), :mod:`.registry` (services, statuses, events), :mod:`.mount` (the OSS mount and the
requirements check), :mod:`.lifecycle` (what happens after a request, in the background), :mod:`.policy` (what
service.json says about instances: count, rolling strategy, checks, grace period), :mod:`.instances` (a service's
instances, as ListServiceInstances shows them and the gateway leases them), :mod:`.supervisor` (one instance's
process: started, checked, restarted, stopped), :mod:`.probes` (one health check), :mod:`.rollout` (the rolling
update), :mod:`.autoscaler` (horizontal auto scaling), :mod:`.api` (the OpenAPI routes), :mod:`.gateway`
(``/api/predict/<service>``), :mod:`.errors`, :mod:`.deployer` (the deploying developer's credentials as a
credentials URI), :mod:`.cli` (``eas-devkit local ram``), and :mod:`.plane` (the servers wired together). Import
from the modules: the package imports nothing, so that the command line (``ram`` is in :mod:`.cli`) does not pay
for the servers on every command.
"""
