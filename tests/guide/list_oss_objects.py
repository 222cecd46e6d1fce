import oss2
from alibabacloud_credentials.client import Client
from alibabacloud_credentials import providers
from itertools import islice

if __name__ == '__main__':
    auth = oss2.ProviderAuth(providers.DefaultCredentialsProvider())
    bucket = oss2.Bucket(
        auth,
        '<oss_endpoint>',   # Internal endpoint, e.g. oss-cn-hangzhou-internal.aliyuncs.com
        '<oss_bucket>'      # Must be the default OSS bucket for the current workspace
    )

    for b in islice(oss2.ObjectIterator(bucket), 10):
        print(b.key)
