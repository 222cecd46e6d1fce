"""The HTTP server under every local service (eas_devkit.local.servers): kept-alive connections, a prompt stop,
the request log without query strings, and no header of its own."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import requests
from werkzeug.wrappers import Request

from eas_devkit.local.servers import LoopbackServer


def echo(environ: dict, start_response: Callable) -> list[bytes]:
    """Answers with the body it read and the client's port (one per TCP connection)."""
    body = Request(environ).get_data()  # the length, or the chunked body to its end
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['REMOTE_PORT']} {len(body)}".encode()]


def refuse_unread(environ: dict, start_response: Callable) -> list[bytes]:
    """Refuses a PUT before reading its body, as an emulator refusing a bad signature does."""
    if environ["REQUEST_METHOD"] == "PUT":
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"refused"]
    return echo(environ, start_response)


@pytest.fixture
def serve() -> Iterator[Callable[..., LoopbackServer]]:
    started: list[LoopbackServer] = []

    def start(app: Any) -> LoopbackServer:
        started.append(LoopbackServer(app, name="test").start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def test_requests_of_one_client_share_a_connection_whatever_their_body(serve) -> None:
    server = serve(echo)
    with requests.Session() as session:
        answers = [session.get(server.url + "/a").text,
                   session.put(server.url + "/b", data=b"x" * 1000).text,
                   session.put(server.url + "/c", data=iter([b"y" * 10, b"z" * 20])).text,  # chunked
                   session.get(server.url + "/d").text]

    assert [answer.split()[1] for answer in answers] == ["0", "1000", "30", "0"]
    assert len({answer.split()[0] for answer in answers}) == 1, answers


def test_a_chunked_body_the_app_did_not_read_does_not_reach_the_next_request(serve) -> None:
    server = serve(refuse_unread)
    with requests.Session() as session:
        refused = session.put(server.url + "/upload", data=iter([b"not read " * 1000] * 50))
        after = session.get(server.url + "/next")

    assert (refused.status_code, refused.text) == (403, "refused")
    assert (after.status_code, after.text.split()[1]) == (200, "0")


def test_a_sized_body_the_app_did_not_read_is_not_waited_for(serve) -> None:
    """A GET with ``Content-Length: 9`` and no body (oss2's ``get_object_with_url`` with a signed
    Content-Length) got no answer until the socket timed out: the server waited for the 9 bytes first."""
    server = serve(refuse_unread)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        client.sendall(b"PUT /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9\r\n\r\n")
        answer = client.makefile("rb").read()  # to the end: the server closes the connection after it

    assert answer.startswith(b"HTTP/1.1 403 ") and b"\r\nConnection: close\r\n" in answer, answer
    assert answer.endswith(b"\r\n\r\n7\r\nrefused\r\n0\r\n\r\n"), answer


def test_the_server_adds_no_server_header_of_its_own(serve) -> None:
    def branded(environ: dict, start_response: Callable) -> list[bytes]:
        start_response("200 OK", [("Server", "AliyunOSS"), ("Content-Length", "2")])
        return [b"ok"]

    plain = requests.get(serve(echo).url)
    own = requests.get(serve(branded).url)

    assert "Server" not in plain.headers
    assert own.raw.headers.getlist("Server") == ["AliyunOSS"]


def test_the_request_log_names_the_path_and_never_the_query_string(serve, caplog) -> None:
    server = serve(echo)
    with caplog.at_level(logging.DEBUG, logger="eas_devkit.local"):
        requests.get(server.url + "/bucket/key?Signature=s3cr3t&security-token=t0ken")

    assert "GET /bucket/key 200" in caplog.text
    assert "s3cr3t" not in caplog.text and "t0ken" not in caplog.text


def test_stop_is_prompt_and_closes_a_clients_idle_kept_alive_connection(serve) -> None:
    server = LoopbackServer(echo, name="test").start()
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    client.request("GET", "/")
    answer = client.getresponse()
    assert (answer.status, answer.will_close) == (200, False)
    answer.read()

    started = time.monotonic()
    server.stop()
    stopped = time.monotonic() - started
    closed = client.sock.recv(4096)  # b"" once the server closed the idle connection
    client.close()

    assert stopped < 1, f"stop() took {stopped:.2f} s"
    assert closed == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)


def test_stop_does_not_wait_for_a_request_in_flight_which_still_gets_its_answer(serve) -> None:
    def slow(environ: dict, start_response: Callable) -> list[bytes]:
        time.sleep(2)
        start_response("200 OK", [("Content-Length", "4")])
        return [b"done"]

    server = LoopbackServer(slow, name="test").start()
    answers: list[str] = []
    request = threading.Thread(target=lambda: answers.append(requests.get(server.url, timeout=10).text))
    request.start()
    time.sleep(0.5)

    started = time.monotonic()
    server.stop()
    stopped = time.monotonic() - started
    request.join(timeout=10)

    assert stopped < 1.5, f"stop() took {stopped:.2f} s"
    assert answers == ["done"]
