"""The credential methods of the guide *Configure the EAS RAM role*, as the service uses them (method 3, the file,
tested directly)."""

from __future__ import annotations

import json
import os
import time

import pytest
from alibabacloud_credentials.exceptions import CredentialException

from app.credentials import CredentialsFileProvider, ServiceCredentials, create_credentials, mask_key_id
from app.errors import CredentialsUnavailable
from app.logs import REDACTOR


def write_credentials(path, key_id="STS.NEWKEY0001", secret="file-secret-0001", token="file-token-0001",
                      expires_in=3600):
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + expires_in))
    path.write_text(json.dumps({"Code": "Success", "AccessKeyId": key_id, "AccessKeySecret": secret,
                                "SecurityToken": token, "Expiration": expiration}))
    return expiration


def test_the_file_is_read_as_the_guide_describes_it(tmp_path):
    path = tmp_path / "credentials"
    expiration = write_credentials(path)
    credentials = CredentialsFileProvider(str(path)).get_credentials()
    assert credentials.get_access_key_id() == "STS.NEWKEY0001"
    assert credentials.get_access_key_secret() == "file-secret-0001"
    assert credentials.get_security_token() == "file-token-0001"
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(credentials.get_expiration())) == expiration
    assert credentials.get_provider_name() == "credentials_file"


def test_a_rewritten_file_is_picked_up(tmp_path):
    path = tmp_path / "credentials"
    write_credentials(path, key_id="STS.FIRST00001")
    provider = CredentialsFileProvider(str(path))
    assert provider.get_credentials().get_access_key_id() == "STS.FIRST00001"
    write_credentials(path, key_id="STS.SECOND0002")
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # mtime granularity of some filesystems
    assert provider.get_credentials().get_access_key_id() == "STS.SECOND0002"


def test_expired_credentials_in_the_file_are_refused(tmp_path):
    path = tmp_path / "credentials"
    write_credentials(path, expires_in=-10)
    with pytest.raises(CredentialException, match="expired"):
        CredentialsFileProvider(str(path)).get_credentials()


def test_a_broken_file_is_described_without_its_content(tmp_path):
    path = tmp_path / "credentials"
    path.write_text('{"Code": "Success", "AccessKeySecret": "do-not-print-me"}')
    with pytest.raises(CredentialException) as raised:
        CredentialsFileProvider(str(path)).get_credentials()
    assert "not a credentials file" in str(raised.value)
    assert "do-not-print-me" not in str(raised.value)


def test_a_missing_file_is_credentials_unavailable_for_the_client(tmp_path):
    credentials = ServiceCredentials(CredentialsFileProvider(str(tmp_path / "nothing")))
    with pytest.raises(CredentialsUnavailable) as raised:
        credentials.get_credentials()
    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"]


def test_the_file_is_used_only_when_no_uri_is_injected(tmp_path):
    path = tmp_path / "credentials"
    write_credentials(path)
    assert isinstance(create_credentials(str(path), environ={}).provider, CredentialsFileProvider)
    with_uri = create_credentials(str(path), environ={"ALIBABA_CLOUD_CREDENTIALS_URI": "http://127.0.0.1:9/x"})
    assert type(with_uri.provider).__name__ == "DefaultCredentialsProvider"
    assert type(create_credentials(str(tmp_path / "absent"), environ={}).provider).__name__ == \
        "DefaultCredentialsProvider"


def test_describe_masks_the_key_and_never_shows_secrets(tmp_path):
    path = tmp_path / "credentials"
    expiration = write_credentials(path, key_id="STS.ABCDEFGH1234", secret="describe-secret-1",
                                   token="describe-token-1")
    described = ServiceCredentials(CredentialsFileProvider(str(path))).describe()
    assert described == {"source": "credentials_file", "access_key_id": "STS.****1234", "expiration": expiration}
    assert REDACTOR.redact("secret describe-secret-1 token describe-token-1") == "secret **** token ****"


def test_mask_key_id():
    assert mask_key_id("STS.NUgYrLnoC37mZZCNnAbez2pF7") == "STS.****2pF7"
    assert mask_key_id("LTAI5tAbCdEf") == "****CdEf"
