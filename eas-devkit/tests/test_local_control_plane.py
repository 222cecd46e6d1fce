"""The local EAS control plane, driven by the real ``alibabacloud_eas20210701`` client as a deploy would.

The project's own ``service.json`` is created after ``mount/`` was uploaded to the local OSS at the code
prefix (what ``make deploy`` does), then called through the gateway, updated, stopped, started and
deleted. The guide's troubleshooting cases (a role that does not exist, a deployer without
``ram:PassRole``, a trust policy without ``eas.pai.aliyuncs.com``) each end Failed with their event.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Optional

import pytest
import requests
from alibabacloud_eas20210701 import client as eas_client
from alibabacloud_eas20210701 import models as eas_models
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils as OpenApiUtils
from conftest import PROJECT

from eas_devkit.local.control_plane.accounts import MAIN_ACCOUNT, AccessKey, Accounts, write_accounts_file
from eas_devkit.local.control_plane.gateway import Gateway
from eas_devkit.local.control_plane.lifecycle import ASSUME_ROLE_FAILED
from eas_devkit.local.control_plane.plane import ControlPlane
from eas_devkit.local.control_plane.registry import new_token
from eas_devkit.local.credentials import CREDENTIALS_PATH, CredentialIssuer, CredentialsEndpoint
from eas_devkit.local.oss.storage import ObjectStore
from eas_devkit.local.servers import LoopbackServer

# The tests build on each other, in file order, on one module-wide deployment: one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("control-plane")

SERVICE_TEXT = (PROJECT / "service.json").read_text(encoding="utf-8")
SERVICE = json.loads(SERVICE_TEXT)
NAME = SERVICE["metadata"]["name"]
REGION = next((item["value"] for item in SERVICE["containers"][0]["env"] if item["name"] == "REGION"), "cn-hangzhou")
CODE_PATH = SERVICE["storage"][0]["oss"]["path"]  # oss://<bucket>/<code prefix>/
BUCKET, CODE_PREFIX = CODE_PATH[len("oss://"):].split("/", 1)
PORT = SERVICE["containers"][0]["port"]
ECHO_SCRIPT = f"gunicorn --chdir /mnt/data --threads 4 --bind 0.0.0.0:{PORT} echo:app"
PEER_SCRIPT = f"python /mnt/data/peer.py 0.0.0.0:{PORT}"
CRASHING_SCRIPT = f"echo 'binding 0.0.0.0:{PORT}'; echo 'ImportError: boom' >&2; exit 3"
# What this control plane may run: the project's run command, and the three test services'.
RUN_COMMANDS = {SERVICE["containers"][0]["script"], ECHO_SCRIPT, PEER_SCRIPT, CRASHING_SCRIPT}
SECRET = "test-run-secret"
SETTLED = ("Running", "Stopped", "Failed")
# The guide's "After" trust policy and its "Before", which lacks the EAS service principal.
TRUST_WITHOUT_EAS = {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
                                    "Principal": {"RAM": ["acs:ram::aaa:root"], "Service": ["xxx.aliyuncs.com"]}}],
                     "Version": "1"}
EAS_TRUST = {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
                            "Principal": {"Service": ["eas.pai.aliyuncs.com"]}}], "Version": "1"}
ECHO_APP = '''
import hashlib, json, time
from urllib.parse import parse_qs

def app(environ, start_response):
    path, query = environ["PATH_INFO"], parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/health":
        body = [b'{"status": "ok"}']
    elif path == "/sleep":
        time.sleep(float(query["s"][0]))
        body = [b"{}"]
    elif path == "/bytes":
        size = int(query["n"][0])
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (b"x" * min(65536, size - offset) for offset in range(0, size, 65536))
    else:
        digest, length = hashlib.sha256(), 0
        for chunk in iter(lambda: environ["wsgi.input"].read(65536), b""):
            digest.update(chunk)
            length += len(chunk)
        headers = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
        body = [json.dumps({"method": environ["REQUEST_METHOD"], "path": environ.get("RAW_URI", path).split("?")[0],
                            "query": environ.get("QUERY_STRING", ""), "headers": headers, "length": length,
                            "sha256": digest.hexdigest()}).encode()]
    start_response("200 OK", [("Content-Type", "application/json")])
    return body
'''
# Answers with the port of the gateway's connection it came on. /close answers with Connection: close; /vanish
# closes a connection that already served a request without answering (the instance closing an idle
# connection just as the gateway reuses it). An idle connection is closed after 2 s (gunicorn's keepalive). It
# prints each connection's end and, on SIGTERM, each connection the gateway had not closed by then (the kernel
# already holds a loopback peer's FIN when close() returns; the thread that would print it may not have run yet).
PEER_APP = '''
import select, signal, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

live = {}  # connection: the gateway's port

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 2
    served = 0

    def handle(self):
        live[self.connection] = self.client_address[1]
        try:
            super().handle()
        finally:
            live.pop(self.connection, None)
            sys.stdout.write(f"closed {self.client_address[1]}\\n")  # one write: lines of two threads never mix
            sys.stdout.flush()

    def do_GET(self):
        if self.path == "/vanish" and self.served:
            self.close_connection = True
            return
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.served += 1
        body = str(self.client_address[1]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass

def still_open(connection):  # unreadable, or readable with data: no FIN came (a timeout socket's recv would wait)
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return not readable or connection.recv(1, socket.MSG_PEEK) != b""
    except OSError:  # its own thread closed it meanwhile
        return False

def stop(*_):
    print("SIGTERM", *(f"open {port}" for c, port in list(live.items()) if still_open(c)), flush=True)
    time.sleep(0.5)  # the connections that close meanwhile are printed
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
host, port = sys.argv[1].rsplit(":", 1)
ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
'''


@dataclass
class LocalCloud:
    plane: ControlPlane
    accounts: Accounts
    store: ObjectStore
    developer: AccessKey  # the RAM user of ram/passrole-policy.json
    root: AccessKey  # the main account

    def client(self, key: Optional[AccessKey] = None, **overrides: Any) -> eas_client.Client:
        config = {**self.plane.client_config(key or self.developer), **overrides}
        return eas_client.Client(open_api_models.Config(**config))

    def edit_accounts(self, change: Callable[[dict[str, Any]], None]) -> None:
        document = json.loads(self.accounts.path.read_text(encoding="utf-8"))
        change(document)
        write_accounts_file(self.accounts.path, document["account_id"], document["roles"], document["users"])


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    state_dir = tmp_path_factory.mktemp("control-plane")
    store = ObjectStore(state_dir / "oss")
    store.create_bucket(BUCKET)
    upload_directory(store, PROJECT / "mount", CODE_PREFIX)  # what `make deploy` uploads
    issuer = CredentialIssuer(credentials_file=state_dir / "etc" / "ram" / "credentials")
    credentials = LoopbackServer(CredentialsEndpoint(issuer, SECRET), name="credentials").start()
    accounts = Accounts.for_project(state_dir / "ram-account.json", PROJECT)
    plane = ControlPlane(state_dir, store, accounts, REGION, run_commands=RUN_COMMANDS, secret=SECRET, issuer=issuer,
                         credentials_uri=credentials.url + CREDENTIALS_PATH, ready_timeout=30, grace=10)
    plane.start()
    try:
        yield LocalCloud(plane, accounts, store, accounts.create_access_key("developer"),
                         accounts.create_access_key(MAIN_ACCOUNT))
    finally:
        plane.stop()
        credentials.stop()
        issuer.stop()
        store.close()


@pytest.fixture(scope="module")
def deployed(cloud: LocalCloud) -> eas_models.Service:
    """The project's service.json, created by the developer and Running."""
    client = cloud.client()
    created = client.create_service(eas_models.CreateServiceRequest(body=SERVICE_TEXT)).body
    assert (created.service_name, created.status, created.region) == (NAME, "Creating", REGION)
    service = wait_until_settled(client, NAME)
    assert service.status == "Running", events_text(client, NAME)
    return service


def upload_directory(store: ObjectStore, directory: Path, prefix: str) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            store.put_bytes(BUCKET, prefix + path.relative_to(directory).as_posix(), path.read_bytes())


def wait_until_settled(client: eas_client.Client, name: str, timeout: float = 45) -> eas_models.Service:
    """Poll DescribeService, as the PAI SDK does, until Running, Stopped or Failed."""
    deadline = time.monotonic() + timeout
    while True:
        service = client.describe_service(REGION, name).body
        if service.status in SETTLED or time.monotonic() > deadline:
            return service
        time.sleep(0.1)


def events(client: eas_client.Client, name: str, **query: str) -> list[Any]:
    """DescribeServiceEvent's events (``Time``, ``Type``, ``Reason``, ``Message``), filtered by ``query``."""
    return client.describe_service_event(REGION, name, eas_models.DescribeServiceEventRequest(**query)).body.events


def events_text(client: eas_client.Client, name: str) -> str:
    return "\n".join(f"{e.type} {e.reason}: {e.message}" for e in events(client, name))


def variant(name: str, **changes: Any) -> dict[str, Any]:
    """The project's service.json under another name, with top-level members replaced."""
    config = copy.deepcopy(SERVICE)
    config["metadata"]["name"] = name
    config.update(changes)
    return config


def create(client: eas_client.Client, config: dict[str, Any]) -> eas_models.Service:
    client.create_service(eas_models.CreateServiceRequest(body=json.dumps(config)))
    return wait_until_settled(client, config["metadata"]["name"])


def role_arn(cloud: LocalCloud, role: str) -> str:
    return f"acs:ram::{cloud.accounts.account_id}:role/{role}"


def call(service: eas_models.Service, path: str, token: Optional[str] = "", **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = token or service.access_token
    return requests.request(kwargs.pop("method", "GET"), service.internet_endpoint + path, headers=headers,
                            timeout=30, **kwargs)


def process_gone(pid: int, timeout: float = 10) -> bool:
    """Whether the instance's whole process group (the run command and its workers) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def instance_pid(cloud: LocalCloud, name: str) -> int:
    """The process of the service's one instance."""
    (instance,) = cloud.plane.registry.get(REGION, name).pool.members()
    assert instance.process is not None and instance.process.pid is not None
    return instance.process.pid


# The deployment of the project's own service.json.


def test_create_describes_the_running_service(cloud: LocalCloud, deployed: eas_models.Service) -> None:
    assert deployed.service_name == NAME and deployed.region == REGION
    assert (deployed.running_instance, deployed.total_instance) == (1, 1)
    assert deployed.reason == "Running" and deployed.message
    assert json.loads(deployed.service_config) == SERVICE
    assert deployed.internet_endpoint == f"{cloud.plane.endpoints.gateway_url}/api/predict/{NAME}"
    assert deployed.intranet_endpoint == deployed.internet_endpoint
    assert len(deployed.access_token) >= 32
    assert deployed.create_time.endswith("Z") and deployed.update_time >= deployed.create_time


def test_gateway_needs_the_token(deployed: eas_models.Service) -> None:
    assert call(deployed, "/health").json() == {"status": "ok"}
    assert call(deployed, "/health", token=None).status_code == 401
    assert call(deployed, "/health", token="not-the-token").status_code == 401
    assert requests.get(deployed.internet_endpoint.replace(NAME, "no_such_service") + "/health",
                        headers={"Authorization": deployed.access_token}, timeout=10).status_code == 404


def test_a_service_token_never_reads_as_a_command_line_option() -> None:
    """``--token "$EAS_TOKEN"`` in the examples failed in CI once a token began with ``-`` (1 in 64 did)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--token")
    for _ in range(2000):
        token = new_token()
        assert parser.parse_args(["--token", token]).token == token


def test_the_instance_gets_role_credentials(deployed: eas_models.Service) -> None:
    answer = call(deployed, "/credentials")
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_key_id"].startswith("STS.****")


def test_events_tell_the_steps(cloud: LocalCloud, deployed: eas_models.Service) -> None:
    client = cloud.client()
    reasons = [event.reason for event in events(client, NAME)]
    assert reasons[0] == "Creating" and "Mounted" in reasons and reasons[-1] == "Running"
    assert "RoleAttached" in reasons
    assert all(event.type == "Normal" for event in events(client, NAME, event_type="Normal"))
    assert all(event.type == "Warning" for event in events(client, NAME, event_type="Warning"))
    assert len(events(client, NAME, page_size="2")) == 2


def test_list_services(cloud: LocalCloud, deployed: eas_models.Service) -> None:
    listed = cloud.client().list_services(eas_models.ListServicesRequest(filter=NAME)).body
    assert [service.service_name for service in listed.services] == [NAME]
    assert listed.services[0].status == "Running" and listed.total_count == 1


def test_a_second_create_with_the_name_is_refused(cloud: LocalCloud, deployed: eas_models.Service) -> None:
    with pytest.raises(ClientException) as refused:
        cloud.client().create_service(eas_models.CreateServiceRequest(body=SERVICE_TEXT))
    assert (refused.value.status_code, refused.value.code) == (400, "InvalidService.AlreadyExists")


def test_update_serves_the_new_code(cloud: LocalCloud, deployed: eas_models.Service) -> None:
    health_key = CODE_PREFIX + "app/routes/health.py"
    original = cloud.store.read_bytes(BUCKET, health_key).decode("utf-8")
    assert '{"status": "ok"}' in original
    cloud.store.put_bytes(BUCKET, health_key, original.replace('{"status": "ok"}',
                                                               '{"status": "ok", "revision": "2"}').encode())
    old_pid = instance_pid(cloud, NAME)
    client = cloud.client()
    patch = {"metadata": {"rpc": {"keepalive": 30000}}}
    client.update_service(REGION, NAME, eas_models.UpdateServiceRequest(body=json.dumps(patch)))
    assert client.describe_service(REGION, NAME).body.status == "Updating"
    service = wait_until_settled(client, NAME)
    assert service.status == "Running", events_text(client, NAME)
    assert json.loads(service.service_config)["metadata"]["rpc"] == {**SERVICE["metadata"]["rpc"], "keepalive": 30000}
    assert json.loads(service.service_config)["containers"] == SERVICE["containers"]  # merged, not replaced
    assert call(service, "/health").json() == {"status": "ok", "revision": "2"}
    assert process_gone(old_pid)


def test_only_the_run_commands_it_was_started_with_run(cloud: LocalCloud, deployed: eas_models.Service,
                                                       tmp_path: Path) -> None:
    """Whoever signs: a CreateService or UpdateService whose script differs is refused, naming the field."""
    marker = tmp_path / "ran"
    container = {**SERVICE["containers"][0], "script": f"touch {marker}; {SERVICE['containers'][0]['script']}"}
    client = cloud.client(cloud.root)
    with pytest.raises(ClientException) as created:
        client.create_service(eas_models.CreateServiceRequest(body=json.dumps(
            variant("foreign_script", containers=[container]))))
    with pytest.raises(ClientException) as updated:
        client.update_service(REGION, NAME, eas_models.UpdateServiceRequest(body=json.dumps(
            {"containers": [container]})))

    for refused in (created.value, updated.value):
        assert (refused.status_code, refused.code) == (400, "InvalidParameter")
        assert ("service config $.containers[0].script: the local EAS runs only the run command of the project it "
                "was started for") in refused.message
    time.sleep(1)
    assert not marker.exists()
    assert client.describe_service(REGION, NAME).body.status == "Running"
    assert client.list_services(eas_models.ListServicesRequest(filter="foreign_script")).body.services == []


def test_stop_and_start(cloud: LocalCloud, deployed: eas_models.Service) -> None:
    client = cloud.client()
    pid = instance_pid(cloud, NAME)
    client.stop_service(REGION, NAME)
    stopped = wait_until_settled(client, NAME)
    assert (stopped.status, stopped.running_instance) == ("Stopped", 0)
    assert process_gone(pid)
    unavailable = call(stopped, "/health")
    assert (unavailable.status_code, unavailable.text) == (503, "no healthy upstream")
    client.start_service(REGION, NAME)
    started = wait_until_settled(client, NAME)
    assert started.status == "Running", events_text(client, NAME)
    assert call(started, "/health").status_code == 200
    with pytest.raises(ClientException) as refused:
        client.start_service(REGION, NAME)
    assert refused.value.status_code == 400


def test_delete_stops_the_instance(cloud: LocalCloud, deployed: eas_models.Service) -> None:
    client = cloud.client()
    pid = instance_pid(cloud, NAME)
    client.delete_service(REGION, NAME)
    deadline = time.monotonic() + 30
    with pytest.raises(ClientException) as gone:
        while time.monotonic() < deadline:
            client.describe_service(REGION, NAME)
            time.sleep(0.1)
    assert (gone.value.status_code, gone.value.code) == (404, "InvalidService.NotFound")
    assert process_gone(pid)
    assert call(deployed, "/health").status_code == 404
    assert client.list_services(eas_models.ListServicesRequest(filter=NAME)).body.services == []


# The gateway, in front of a small echo service.


def one_instance_service(cloud: LocalCloud, name: str, script: str, file: str, source: str,
                         **metadata: Any) -> Iterator[eas_models.Service]:
    """The service ``name``, Running ``script`` on one instance with ``source`` as /mnt/data/``file``."""
    directory = f"tests/{name}/"
    cloud.store.put_bytes(BUCKET, directory + file, source.encode())
    config = {
        "metadata": {"name": name, "instance": 1, **metadata},
        "containers": [{"image": SERVICE["containers"][0]["image"], "port": PORT, "script": script}],
        "storage": [{"mount_path": "/mnt/data/", "oss": {"path": f"oss://{BUCKET}/{directory}", "readOnly": True}}],
    }
    client = cloud.client()
    service = create(client, config)
    assert service.status == "Running", events_text(client, name)
    yield service
    client.delete_service(REGION, name)


@pytest.fixture(scope="module")
def echo(cloud: LocalCloud) -> Iterator[eas_models.Service]:
    yield from one_instance_service(cloud, "gateway_echo", ECHO_SCRIPT, "echo.py", ECHO_APP, rpc={"keepalive": 1000})


def test_gateway_strips_the_prefix_and_forwards_everything(echo: eas_models.Service) -> None:
    answer = call(echo, "/some/sub%20path", method="POST", params={"a": "1 2"}, data=b"hello",
                  headers={"X-Custom": "yes", "Content-Type": "text/plain"}).json()
    assert answer["method"] == "POST" and answer["path"] == "/some/sub%20path" and answer["query"] == "a=1+2"
    assert answer["headers"]["x-custom"] == "yes" and "authorization" not in answer["headers"]
    assert answer["length"] == 5 and answer["sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert call(echo, "").json()["path"] == "/"


def test_gateway_streams_bodies_both_ways(echo: eas_models.Service) -> None:
    chunk = os.urandom(1 << 16)
    answer = call(echo, "/upload", method="PUT", data=(chunk for _ in range(128))).json()  # chunked, 8 MiB
    assert answer["length"] == 128 * len(chunk)
    assert answer["sha256"] == hashlib.sha256(chunk * 128).hexdigest()
    with call(echo, "/bytes", params={"n": str(5_000_001)}, stream=True) as download:
        assert sum(len(part) for part in download.iter_content(1 << 16)) == 5_000_001


def test_gateway_times_out_past_the_keepalive(echo: eas_models.Service) -> None:
    assert call(echo, "/sleep", params={"s": "3"}).status_code == 408


# The gateway keeps its connections to the instance open.


@pytest.fixture(scope="module")
def peer(cloud: LocalCloud) -> Iterator[eas_models.Service]:
    yield from one_instance_service(cloud, "gateway_peer", PEER_SCRIPT, "peer.py", PEER_APP)


def peer_port(service: eas_models.Service, path: str = "/peer", **kwargs: Any) -> str:
    """The port of the gateway's connection the instance answered on."""
    answer = call(service, path, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_sequential_requests_share_one_connection(peer: eas_models.Service) -> None:
    time.sleep(2.2)  # an earlier test's connection, if any, has been closed by the instance
    assert len({peer_port(peer) for _ in range(50)}) == 1


def test_concurrent_requests_use_at_most_one_connection_each(peer: eas_models.Service) -> None:
    def client() -> set[str]:
        return {peer_port(peer) for _ in range(25)}

    with ThreadPoolExecutor(4) as pool:
        ports = set().union(*pool.map(lambda _: client(), range(4)))
    assert len(ports) <= 4


def test_connection_close_gets_a_new_connection(peer: eas_models.Service) -> None:
    closed = peer_port(peer, "/close")
    after = peer_port(peer)
    assert after != closed and peer_port(peer) == after


def test_a_connection_the_instance_closed_is_not_used(peer: eas_models.Service) -> None:
    before = peer_port(peer)
    time.sleep(2.5)  # the instance closes it after 2 s idle
    assert peer_port(peer) != before


def test_a_connection_idle_past_the_timeout_is_closed(cloud: LocalCloud, peer: eas_models.Service) -> None:
    gateway = LoopbackServer(Gateway(cloud.plane.registry, REGION, idle_timeout=0.3), name="short-idle").start()
    try:
        url = peer.internet_endpoint.replace(cloud.plane.endpoints.gateway_url, gateway.url)
        short = SimpleNamespace(internet_endpoint=url, access_token=peer.access_token)
        first = peer_port(short)
        assert peer_port(short) == first
        time.sleep(0.5)  # past the gateway's idle timeout, not the instance's (2 s)
        assert peer_port(short) != first
    finally:
        gateway.stop()


def test_a_reused_connection_closed_at_once_is_retried_without_a_body(peer: eas_models.Service) -> None:
    peer_port(peer)  # leaves an idle connection, which /vanish then closes as the gateway sends on it
    assert call(peer, "/vanish").status_code == 200
    peer_port(peer)
    answer = call(peer, "/vanish", method="POST", data=b"once")  # a body is never sent twice
    assert (answer.status_code, answer.text) == (503, "upstream connect error or disconnect/reset before headers")


def test_an_instance_leaving_the_rotation_has_its_idle_connections_closed(cloud: LocalCloud,
                                                                          peer: eas_models.Service) -> None:
    (instance,) = cloud.plane.registry.get(REGION, "gateway_peer").pool.members()
    port = peer_port(peer)  # now idle in the gateway
    time.sleep(0.3)  # (a connection closed after its response would have been printed by now)
    logged = instance.log_path.read_text(encoding="utf-8")
    client = cloud.client()
    client.stop_service(REGION, "gateway_peer")
    assert wait_until_settled(client, "gateway_peer").status == "Stopped"
    stopping = instance.log_path.read_text(encoding="utf-8")[len(logged):]
    assert f"closed {port}" in stopping and f"open {port}" not in stopping


# Authentication of the control plane.


def test_wrong_secret_is_refused(cloud: LocalCloud) -> None:
    client = cloud.client(access_key_secret="not-the-secret")
    with pytest.raises(ClientException) as refused:
        client.list_services(eas_models.ListServicesRequest())
    assert (refused.value.status_code, refused.value.code) == (400, "SignatureDoesNotMatch")
    assert cloud.developer.access_key_secret not in json.dumps(refused.value.data)


def test_unknown_access_key_is_refused(cloud: LocalCloud) -> None:
    client = cloud.client(access_key_id="LTAI-unknown")
    with pytest.raises(ClientException) as refused:
        client.list_services(eas_models.ListServicesRequest())
    assert (refused.value.status_code, refused.value.code) == (404, "InvalidAccessKeyId.NotFound")


def test_sts_credentials(cloud: LocalCloud) -> None:
    sts = cloud.accounts.create_sts_credentials("developer")
    cloud.client(sts).list_services(eas_models.ListServicesRequest())
    with pytest.raises(ClientException) as mismatch:
        cloud.client(sts, security_token="CAIS-another").list_services(eas_models.ListServicesRequest())
    assert mismatch.value.code == "InvalidSecurityToken.MismatchWithAccessKey"
    expired = cloud.accounts.create_sts_credentials("developer", lifetime=-1)
    with pytest.raises(ClientException) as late:
        cloud.client(expired).list_services(eas_models.ListServicesRequest())
    assert late.value.code == "InvalidSecurityToken.Expired"


def test_replayed_and_stale_requests_are_refused(cloud: LocalCloud) -> None:
    def signed(date: str, nonce: str) -> dict[str, str]:
        request = SimpleNamespace(method="GET", pathname="/api/v2/services", query={})
        request.headers = {"host": cloud.plane.endpoints.api_endpoint, "x-acs-date": date,
                           "x-acs-signature-nonce": nonce, "x-acs-action": "ListServices",
                           "x-acs-version": "2021-07-01", "x-acs-content-sha256": hashlib.sha256(b"").hexdigest()}
        request.headers["Authorization"] = OpenApiUtils.get_authorization(
            request, "ACS3-HMAC-SHA256", request.headers["x-acs-content-sha256"], cloud.developer.access_key_id,
            cloud.developer.access_key_secret)
        return request.headers

    url = cloud.plane.endpoints.api_url + "/api/v2/services"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    headers = signed(now, "nonce-1")
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
    replayed = requests.get(url, headers=headers, timeout=10)
    assert (replayed.status_code, replayed.json()["Code"]) == (400, "SignatureNonceUsed")
    stale = requests.get(url, headers=signed(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1200)),
                                             "nonce-2"), timeout=10)
    assert (stale.status_code, stale.json()["Code"]) == (400, "InvalidTimeStamp.Expired")
    assert set(stale.json()) == {"RequestId", "HostId", "Code", "Message"}


# What the API refuses before anything is deployed.


def test_schema_violations_name_the_path(cloud: LocalCloud) -> None:
    config = variant("reserved_port")
    config["containers"][0]["port"] = 8080
    with pytest.raises(ClientException) as refused:
        cloud.client().create_service(eas_models.CreateServiceRequest(body=json.dumps(config)))
    assert (refused.value.status_code, refused.value.code) == (400, "InvalidParameter")
    assert "$.containers[0].port" in refused.value.message
    with pytest.raises(ClientException) as not_json:
        cloud.client().create_service(eas_models.CreateServiceRequest(body="{not json"))
    assert not_json.value.code == "InvalidParameter"


def test_unknown_service(cloud: LocalCloud) -> None:
    with pytest.raises(ClientException) as unknown:
        cloud.client().describe_service(REGION, "no_such_service")
    assert (unknown.value.status_code, unknown.value.code) == (404, "InvalidService.NotFound")


# The guide's troubleshooting cases, and other deployments that fail.


def test_the_guides_role_not_found(cloud: LocalCloud) -> None:
    client = cloud.client(cloud.root)
    missing = role_arn(cloud, "no-such-role")
    service = create(client, variant("role_missing", options={"enable_ram_role": True}, role_arn=missing))
    assert (service.status, service.reason) == ("Failed", "RoleNotFound")
    (warning,) = events(client, "role_missing", event_type="Warning")
    assert warning.reason == "RoleNotFound" and "no-such-role" in warning.message and "PassRole" in warning.message
    client.delete_service(REGION, "role_missing")


def test_the_guides_deployer_without_pass_role(cloud: LocalCloud) -> None:
    cloud.edit_accounts(lambda document: document["users"].update(intern=[]))
    cloud.edit_accounts(lambda document: document["roles"].update({"passrole-role": EAS_TRUST}))
    intern = cloud.client(cloud.accounts.create_access_key("intern"))
    arn = role_arn(cloud, "passrole-role")
    service = create(intern, variant("no_passrole", options={"enable_ram_role": True}, role_arn=arn))
    assert (service.status, service.reason) == ("Failed", "PassRoleDenied")
    (warning,) = events(intern, "no_passrole", event_type="Warning")
    assert "ram:PassRole" in warning.message and "passrole-role" in warning.message
    intern.delete_service(REGION, "no_passrole")


def test_the_guides_trust_policy_without_eas(cloud: LocalCloud) -> None:
    cloud.edit_accounts(lambda document: document["roles"].update({"trust-role": TRUST_WITHOUT_EAS}))
    client = cloud.client(cloud.root)
    config = variant("untrusted", options={"enable_ram_role": True}, role_arn=role_arn(cloud, "trust-role"))
    service = create(client, config)
    assert service.status == "Failed"
    (warning,) = events(client, "untrusted", event_type="Warning")
    assert warning.message == ASSUME_ROLE_FAILED == ("unable to render, error: failed to assume role for user, "
                                                     "reason: You are not authorized to do this action. You should "
                                                     "be authorized by RAM.")

    def add_eas(document: dict[str, Any]) -> None:  # the guide's fix: eas.pai.aliyuncs.com in the Service array
        document["roles"]["trust-role"]["Statement"][0]["Principal"]["Service"].append("eas.pai.aliyuncs.com")

    cloud.edit_accounts(add_eas)
    client.start_service(REGION, "untrusted")
    assert wait_until_settled(client, "untrusted").status == "Running", events_text(client, "untrusted")
    pid = instance_pid(cloud, "untrusted")
    client.delete_service(REGION, "untrusted")
    assert process_gone(pid)


def test_an_empty_mount_fails(cloud: LocalCloud) -> None:
    storage = [{"mount_path": "/mnt/data/", "oss": {"path": f"oss://{BUCKET}/nothing-here/", "readOnly": True}}]
    client = cloud.client()
    service = create(client, variant("empty_mount", storage=storage))
    assert (service.status, service.reason) == ("Failed", "MountFailed")
    assert "nothing-here" in service.message
    client.delete_service(REGION, "empty_mount")


def test_a_failing_run_command_reports_its_output(cloud: LocalCloud) -> None:
    """EAS's status message names the instance; the Warning event names it too, with its last output."""
    config = variant("crashing_service", options={})
    config.pop("role_arn", None)
    container = config["containers"][0]
    container["script"] = CRASHING_SCRIPT
    container["prepare"] = {"pythonRequirements": ["surely-not-installed-distribution==1.0"]}
    client = cloud.client()
    service = create(client, config)
    (instance,) = client.list_service_instances(REGION, "crashing_service",
                                                eas_models.ListServiceInstancesRequest()).body.instances

    assert (service.status, service.reason) == ("Failed", "InstanceFailed")
    assert service.message == (f"Instance <{instance.instance_name}> not healthy: Instance crashed, please inspect "
                               "instance log.")
    assert (service.running_instance, service.total_instance) == (0, 1)
    assert (instance.status, instance.ready_processes, instance.isolated) == ("Failed", 0, True)
    warnings = events(client, "crashing_service", event_type="Warning")
    assert [event.reason for event in warnings] == ["RequirementNotSatisfied", "InstanceFailed"]
    assert instance.instance_name in warnings[-1].message
    assert "status 3" in warnings[-1].message and "ImportError: boom" in warnings[-1].message
    client.delete_service(REGION, "crashing_service")
