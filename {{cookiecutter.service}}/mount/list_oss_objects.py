"""The OSS example ("Access OSS data") of the guide *Configure the EAS RAM role*, as a one-shot run command:
``python /mnt/data/list_oss_objects.py``.

The documentation's code, with its placeholders filled from the template's answers; OSS_ENDPOINT and
OSS_BUCKET override them (the local EAS sets both). It uses the guide's legacy provider on purpose, to show
the documented code works as written; the service itself uses the current, caching one (see app/credentials.py).
"""

import os
from itertools import islice

import oss2
from alibabacloud_credentials import providers

if __name__ == '__main__':
    auth = oss2.ProviderAuth(providers.DefaultCredentialsProvider())
    bucket = oss2.Bucket(
        auth,
        os.environ.get('OSS_ENDPOINT', 'oss-{{ cookiecutter.region }}-internal.aliyuncs.com'),
        os.environ.get('OSS_BUCKET', '{{ cookiecutter.oss_bucket }}'),
    )

    for b in islice(oss2.ObjectIterator(bucket), 10):
        print(b.key)
