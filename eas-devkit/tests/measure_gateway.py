"""What keeping its connections to the instances open saves the local EAS gateway: the figures of the kit's
README and of the gateway's docstring.

    cd eas-devkit && python tests/measure_gateway.py [ROUNDS]     # default 5 rounds

It runs the default bake's service (``eas-devkit local up``), puts it behind two gateways in this process,
one keeping its connections (``Gateway``'s default) and one closing each after its response, as the gateway did
before (an idle timeout of 0), and sends 1000 sequential ``GET /health`` through each in turn, ROUNDS times,
over one keep-alive client connection per gateway. It prints the median latency of each round and how many
connections each gateway opened to the instance (not a test: it asserts nothing).
"""

from __future__ import annotations

import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

from conftest import PROJECT
from project_copies import copy_of

from eas_devkit.local.control_plane.gateway import Gateway
from eas_devkit.local.control_plane.instances import RUNNING, ServiceInstance
from eas_devkit.local.control_plane.registry import Registry, ServiceRecord
from eas_devkit.local.servers import LoopbackServer
from eas_devkit.testing import start_local_eas, stop_local_eas

REQUESTS = 1000
TOKEN = "measure-token"
OPENED = [0]  # upstream connections opened so far, by either gateway (they run one at a time)


def count_connections() -> None:
    connect = http.client.HTTPConnection.connect

    def counted(self: http.client.HTTPConnection) -> None:
        OPENED[0] += 1
        connect(self)

    http.client.HTTPConnection.connect = counted  # type: ignore[method-assign]


def latency_ms(url: str) -> tuple[float, int]:
    """The median of REQUESTS sequential GETs of ``url`` (one client connection, kept open), and how many
    connections the gateway opened to the instance meanwhile."""
    host, port = url[len("http://"):].split("/", 1)[0].split(":")
    client = http.client.HTTPConnection(host, int(port), timeout=10)
    client.connect()
    opened = OPENED[0]
    path = "/" + url[len("http://"):].split("/", 1)[1]
    seconds = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.request("GET", path, headers={"Authorization": TOKEN})
        answer = client.getresponse()
        answer.read()
        seconds.append(time.perf_counter() - started)
        assert answer.status == 200, answer.status
    client.close()
    return statistics.median(seconds) * 1000, OPENED[0] - opened


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory(prefix="measure-gateway-") as work:
        project = copy_of(PROJECT, Path(work)).path
        running = start_local_eas(Path(work) / "eas", "--quiet", project=project)
        try:
            registry = Registry()
            record = registry.add(ServiceRecord("cn-hangzhou", "measured", "eas-m-1", {}, TOKEN, "measure"))
            port = int(running.url.rsplit(":", 1)[1])
            record.pool.add(ServiceInstance("measured-0-a", "0", port, Path(work) / "instance.log", status=RUNNING,
                                            ready=True, started=time.time()))
            servers: dict[str, LoopbackServer] = {
                "a new connection per request (before)": LoopbackServer(Gateway(registry, "cn-hangzhou", 0.0),
                                                                        name="closing"),
                "connections kept (now)": LoopbackServer(Gateway(registry, "cn-hangzhou"), name="keeping"),
            }
            for server in servers.values():
                server.start()
            count_connections()
            figures: dict[str, list[tuple[float, int]]] = {label: [] for label in servers}
            for _ in range(rounds):  # interleaved: the machine's load falls on both alike
                for label, server in servers.items():
                    figures[label].append(latency_ms(f"{server.url}/api/predict/measured/health"))
            for label, values in figures.items():
                print(f"{label}: median per round (ms) {' '.join(f'{ms:.3f}' for ms, _ in values)}; "
                      f"median {statistics.median(ms for ms, _ in values):.3f} ms; connections opened per round "
                      f"{' '.join(str(opened) for _, opened in values)}")
            for server in servers.values():
                server.stop()
        finally:
            stop_local_eas(running.process)


if __name__ == "__main__":
    main()
