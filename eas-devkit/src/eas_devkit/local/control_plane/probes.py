"""One health check of an instance on 127.0.0.1, as Kubernetes (and so EAS) makes it.

``http_get`` succeeds on a status from 200 to 399 within the timeout; ``tcp_socket``, and EAS's default check
when service.json declares none, when a connection to the port is accepted within the timeout.
"""

from __future__ import annotations

import http.client
import socket
from typing import Optional

from .policy import Probe


def port_accepts(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def passes(probe: Optional[Probe], port: int, default_timeout: float = 1.0) -> bool:
    """Whether ``probe`` (None: EAS's default TCP check) succeeds once against the instance on ``port``."""
    if probe is None or probe.path is None:
        return port_accepts(port, probe.timeout if probe is not None else default_timeout)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=probe.timeout)
    try:
        connection.request("GET", probe.path, headers={"User-Agent": "kube-probe/local-eas"})
        status = connection.getresponse().status
        return 200 <= status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
