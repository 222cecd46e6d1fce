"""The service reaches its backends over HTTPS, as on EAS, where every endpoint is HTTPS (service.json's
ODPS_ENDPOINT is).

The local OSS and MaxCompute speak HTTP, so here each gets a TLS proxy in front of it, with a certificate of a
throw-away CA (trustme), and the service, trusting that CA only (``REQUESTS_CA_BUNDLE``), is pointed at the
proxies. This is what gunicorn's gevent workers get wrong when the master imported ``requests`` before the
worker's monkey-patch: urllib3 keeps the unpatched ``ssl.SSLContext`` and every HTTPS call fails with
RecursionError (gevent#1016), after a ``MonkeyPatchWarning`` at the top of the service's log.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import pytest
import trustme
from conftest import HAS_MAXCOMPUTE, HAS_OSS, RunningEAS, needs_maxcompute, needs_oss, running_local_eas


class TLSProxy:
    """TLS on 127.0.0.1:<port>, passed on as plain TCP to ``upstream`` (set once the local EAS has started)."""

    def __init__(self, ca: trustme.CA) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(self.context)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream: Optional[tuple[str, Optional[int]]] = None
        self.handshakes = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(client, server_side=True)
        except OSError:
            client.close()
            return
        self.handshakes += 1
        assert self.upstream, "a connection before the local EAS started"
        with tls, socket.create_connection(self.upstream) as backend:
            other = {tls: backend, backend: tls}
            while True:
                readable, _, _ = select.select(list(other), [], [], 60)
                for source in readable:
                    data = source.recv(65536)
                    while isinstance(source, ssl.SSLSocket) and source.pending():  # decrypted, not seen by select
                        data += source.recv(source.pending())
                    if not data:
                        return
                    other[source].sendall(data)
                if not readable:
                    return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, TLSProxy, TLSProxy]]:
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    oss, maxcompute = TLSProxy(ca), TLSProxy(ca)
    yield ca_file, oss, maxcompute
    oss.close()
    maxcompute.close()


@pytest.fixture(scope="module")
def eas(proxies: tuple[Path, TLSProxy, TLSProxy], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEAS]:
    ca_file, oss, maxcompute = proxies
    options = ["--quiet", "--env", f"REQUESTS_CA_BUNDLE={ca_file}"]
    if HAS_OSS:
        options += ["--env", f"OSS_ENDPOINT=https://127.0.0.1:{oss.port}"]
    if HAS_MAXCOMPUTE:
        options += ["--env", f"ODPS_ENDPOINT=https://127.0.0.1:{maxcompute.port}/api"]
    with running_local_eas(tmp_path_factory.mktemp("eas"), *options) as running:
        oss.upstream = ("127.0.0.1", urlsplit(running.state["oss_endpoint"]).port)
        if HAS_MAXCOMPUTE:
            maxcompute.upstream = ("127.0.0.1", urlsplit(running.state["odps_endpoint"]).port)
        yield running


@needs_oss
def test_an_object_is_read_over_https(eas, proxies, data_prefix):
    eas.oss_bucket().put_object(f"{data_prefix}tls/hello.txt", b"over TLS")  # straight to the local OSS
    answer = eas.get("/oss/objects/tls/hello.txt")
    assert answer.status_code == 200, f"{answer.text}\n{eas.service_problems()}"
    assert answer.content == b"over TLS"
    assert proxies[1].handshakes >= 1  # it did go through the TLS proxy


@needs_maxcompute
def test_tables_are_listed_over_https(eas, proxies):
    answer = eas.get("/maxcompute/tables")
    assert answer.status_code == 200, f"{answer.text}\n{eas.service_problems()}"
    assert proxies[2].handshakes >= 1


def test_the_workers_patch_ssl_before_anything_binds_it(eas, proxies):
    eas.get("/health")
    log = (Path(eas.state["state_dir"]) / "logs" / "service.log").read_text(encoding="utf-8", errors="replace")
    assert "MonkeyPatchWarning" not in log and "RecursionError" not in log
