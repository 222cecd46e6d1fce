"""The service reaches its backends over HTTPS, as on EAS, where every endpoint is HTTPS (service.json's
ODPS_ENDPOINT is): ``local up --tls`` serves the local OSS and MaxCompute to it over HTTPS, with a CA of the run's
that the service trusts through ``REQUESTS_CA_BUNDLE``.

This is what gunicorn's gevent workers get wrong when the master imported ``requests`` before the worker's
monkey-patch: urllib3 keeps the unpatched ``ssl.SSLContext`` and every HTTPS call fails with RecursionError
(gevent#1016), after a ``MonkeyPatchWarning`` at the top of the service's log.
"""

from __future__ import annotations

from pathlib import Path

from conftest import local_eas_fixture, needs_maxcompute, needs_oss

eas = local_eas_fixture("--tls")


@needs_oss
def test_an_object_is_read_over_https(eas, data_prefix):
    assert eas.state["env"]["OSS_ENDPOINT"].startswith("https://127.0.0.1:")
    eas.oss_bucket().put_object(f"{data_prefix}tls/hello.txt", b"over TLS")
    answer = eas.get("/oss/objects/tls/hello.txt")
    assert answer.status_code == 200, f"{answer.text}\n{eas.service_problems()}"
    assert answer.content == b"over TLS"


@needs_maxcompute
def test_tables_are_listed_and_read_through_the_tunnel_over_https(eas):
    assert eas.state["env"]["ODPS_ENDPOINT"].startswith("https://127.0.0.1:")
    listed = eas.get("/maxcompute/tables")
    assert listed.status_code == 200, f"{listed.text}\n{eas.service_problems()}"
    assert "iris" in listed.json()["tables"]
    rows = eas.get("/maxcompute/tables/iris/rows")
    assert rows.status_code == 200, f"{rows.text}\n{eas.service_problems()}"
    assert rows.json()["rows"]


def test_the_workers_patch_ssl_before_anything_binds_it(eas):
    eas.get("/health")
    log = (Path(eas.state["state_dir"]) / "logs" / "service.log").read_text(encoding="utf-8", errors="replace")
    assert "MonkeyPatchWarning" not in log and "RecursionError" not in log
