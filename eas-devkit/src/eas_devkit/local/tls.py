"""HTTPS for the local OSS and MaxCompute (``local up --tls``), because every endpoint is HTTPS on EAS.

A run makes a certificate authority of its own with trustme, which exists for exactly this: a throw-away CA
and a certificate for ``127.0.0.1`` signed by it, written to ``<state_dir>/tls/`` (the key readable by its owner
only). The service's instances trust that CA through ``REQUESTS_CA_BUNDLE`` (requests, hence oss2 and pyodps)
and ``SSL_CERT_FILE`` (Python's own ``ssl``), and nothing else does: a client that does not name the CA gets a
certificate error, as it would against a server it has no reason to trust.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TLSFiles:
    ca_bundle: Path  # the CA's certificate: what a client trusts
    certificate: Path  # the servers' certificate chain
    private_key: Path

    @property
    def environment(self) -> dict[str, str]:
        """What a process needs to trust the local services, and only them."""
        return {"REQUESTS_CA_BUNDLE": str(self.ca_bundle), "SSL_CERT_FILE": str(self.ca_bundle)}


def issue(directory: Path) -> TLSFiles:
    """A new CA and a server certificate for :data:`HOSTS`, written to ``directory``."""
    import trustme  # with cryptography, 0.1 s to import: only a run with --tls pays it

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="eas-devkit local EAS")
    server = authority.issue_cert(*HOSTS)
    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    for path in (files.ca_bundle, files.certificate, files.private_key):  # a previous run's
        path.unlink(missing_ok=True)
    authority.cert_pem.write_to_path(str(files.ca_bundle))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(files.certificate), append=True)
    files.private_key.touch(mode=0o600)  # before the key is in it
    server.private_key_pem.write_to_path(str(files.private_key))
    return files
