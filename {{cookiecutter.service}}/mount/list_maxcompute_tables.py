"""The MaxCompute example ("Access MaxCompute (PyODPS)") of the guide *Configure the EAS RAM role*, as a one-shot
run command: ``python /mnt/data/list_maxcompute_tables.py``.

The documentation's code, with its placeholders filled from the template's answers; ODPS_PROJECT and
ODPS_ENDPOINT override them (the local EAS sets both). Like the OSS example it keeps the guide's legacy provider.
"""

import os

from alibabacloud_credentials import providers
from odps import ODPS
from odps.accounts import CredentialProviderAccount

if __name__ == '__main__':
    account = CredentialProviderAccount(providers.DefaultCredentialsProvider())
    o = ODPS(
        account=account,
        project=os.environ.get('ODPS_PROJECT', '{{ cookiecutter.odps_project }}'),
        endpoint=os.environ.get('ODPS_ENDPOINT', 'https://service.{{ cookiecutter.region }}-vpc.maxcompute.aliyun-inc.com/api'),
    )

    for t in o.list_tables():
        print(t)
